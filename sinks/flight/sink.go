package flight

import (
	"context"
	"crypto/rand"
	"encoding/hex"
	"errors"
	"fmt"
	"io"
	"log/slog"
	"os"
	"slices"
	"strconv"
	"strings"
	"sync/atomic"

	"github.com/apache/arrow-go/v18/arrow"
	aflight "github.com/apache/arrow-go/v18/arrow/flight"
	"github.com/apache/arrow-go/v18/arrow/ipc"
	"github.com/apache/arrow-go/v18/arrow/memory"
	"github.com/apache/arrow-go/v18/arrow/util"
	"google.golang.org/grpc/codes"
	"google.golang.org/grpc/status"

	"github.com/etl-toolkit/etl/core"
)

func init() {
	core.RegisterSink("flight", core.Factory[core.Sink]{
		Doc:     "sends batches to an Arrow Flight service by DoPut (TLS, tokens, retries); a commit waits for the server's acknowledgement",
		Options: Config{},
		New:     New,
	})
}

// New is the `flight` sink's factory: it decodes env.Config on top of
// DefaultConfig, reports every invalid option at once as core.ConfigErrors
// pointing at the pipeline file, and returns a Sink. It does no I/O: the
// connection is made by the first Write (or Check).
func New(_ context.Context, env core.Env) (core.Sink, error) {
	cfg := DefaultConfig()
	if err := env.Config.Decode(&cfg); err != nil {
		return nil, err
	}
	var errs core.ConfigErrors
	for _, p := range cfg.Problems(nil) {
		errs = append(errs, env.Config.Errorf(p.Option, "%s", p.Msg))
	}
	if err := errs.Err(); err != nil {
		return nil, err
	}
	return NewSink(cfg, Options{Pipeline: env.Pipeline, Mem: env.Mem, Logger: env.Logger})
}

// Options are what a Sink needs besides its Config.
type Options struct {
	// Pipeline is the pipeline's name, for {pipeline} in the descriptor and
	// for AppMetadata.
	Pipeline string
	// Mem allocates what the sink encodes (compressed buffers, copies made
	// when slicing); nil: memory.DefaultAllocator.
	Mem memory.Allocator
	// Logger receives retries and acknowledgements; nil: slog.Default().
	Logger *slog.Logger
	// LookupEnv finds token_env and password_env; nil: os.LookupEnv.
	LookupEnv func(string) (string, bool)
}

// Sink sends batches to an Arrow Flight service. It implements core.Sink,
// core.CommitRequester, core.SinkStats, core.Locator and core.Checker.
//
// # Puts and commits
//
// Batches go to one DoPut stream per descriptor (see Config.Path): the first
// batch for a descriptor opens its stream, carrying the descriptor and the
// schema, and later batches follow on it, each in one record batch message or,
// when larger than max_message_bytes (or batch_rows), in several. A batch
// whose schema differs from its stream's finishes that stream (as Prepare
// does) and opens a new one: an IPC stream has one schema.
//
// Write sends at once, so the server receives while the pipeline runs; it
// also keeps (Retains) every batch until the server has acknowledged it.
// Prepare closes the sending side of every stream and waits until the server
// ends each one with OK: that is the acknowledgement (any PutResult messages
// before it are logged, not required). Only then does it return, with a nil
// transaction since there is nothing left to make visible: the runner then
// saves the positions. A put that fails with Unavailable (a server
// restarting, a dropped connection) or times out is sent again whole, with
// its batches, on a new DoPut after a backoff; any other status stops the
// pipeline with the server's message. A server that stores only what arrives
// on a stream that ends cleanly (flightserve does) therefore ends up with
// every row exactly once.
//
// One gap remains, common to every remote sink without transactions: if the
// process dies after a put was acknowledged but before the runner saved the
// positions, the next run reads those rows again and sends them again. That is
// at-least-once at that single point, unless the server deduplicates with the
// AppMetadata every message carries (flightserve does, so with it the output
// is exactly-once).
//
// Memory: the batches kept for resending are bounded by buffer_bytes, past
// which CommitWanted asks the runner to commit. Like every core.Sink, a Sink
// is not safe for concurrent use, except Committed.
type Sink struct {
	cfg       Config
	path      []string // descriptor path templates; nil with a command
	pipeline  string
	mem       memory.Allocator
	log       *slog.Logger
	lookupEnv func(string) (string, bool)
	ipcOpts   []ipc.Option // compression
	token     string       // random per Sink, so put ids never collide

	conn     *conn
	puts     map[string]*put
	order    []*put // open puts, oldest first
	nextPut  int64
	buffered int64 // bytes of the batches kept for resending
	err      error // sticky: after a failure the sink only closes
	closed   bool

	committed atomic.Int64
}

var (
	_ core.Sink            = (*Sink)(nil)
	_ core.CommitRequester = (*Sink)(nil)
	_ core.SinkStats       = (*Sink)(nil)
	_ core.Locator         = (*Sink)(nil)
	_ core.Checker         = (*Sink)(nil)
)

// put is one descriptor's DoPut since the last commit: the batches sent on it
// and the current attempt to deliver them.
type put struct {
	key    string
	name   string // the descriptor as text, for messages
	desc   *aflight.FlightDescriptor
	schema *arrow.Schema
	id     string
	items  []item
	bytes  int64
	att    *attempt // nil until opened, and after a failed attempt
}

// item is one batch written to a put, retained until the put is acknowledged.
type item struct {
	rec      arrow.RecordBatch
	stream   string
	unit     string
	position core.Position
}

// NewSink returns a Sink for cfg. It fails with every invalid option (see
// Config.Problems). It does no I/O.
func NewSink(cfg Config, opts Options) (*Sink, error) {
	if ps := cfg.Problems(opts.LookupEnv); len(ps) > 0 {
		errs := make([]error, len(ps))
		for i, p := range ps {
			errs[i] = fmt.Errorf("flight: %s: %s", p.Option, p.Msg)
		}
		return nil, errors.Join(errs...)
	}
	s := &Sink{
		cfg: cfg, pipeline: opts.Pipeline, mem: opts.Mem, log: opts.Logger, lookupEnv: opts.LookupEnv,
		puts: map[string]*put{},
	}
	if s.mem == nil {
		s.mem = memory.DefaultAllocator
	}
	if s.log == nil {
		s.log = slog.Default()
	}
	if s.lookupEnv == nil {
		s.lookupEnv = os.LookupEnv
	}
	if cfg.Command == "" {
		s.path = cfg.Path
		if s.path == nil {
			s.path = DefaultPath
		}
	}
	switch cfg.Compression {
	case "lz4":
		s.ipcOpts = []ipc.Option{ipc.WithLZ4()}
	case "zstd":
		s.ipcOpts = []ipc.Option{ipc.WithZstd()}
	}
	var b [6]byte
	if _, err := rand.Read(b[:]); err != nil {
		return nil, fmt.Errorf("flight: random put id: %w", err)
	}
	s.token = hex.EncodeToString(b[:])
	return s, nil
}

// Write sends b's rows to the put of b's descriptor, opening it if needed, and
// keeps the record (Retain) until the put is acknowledged. A failure to send
// that is worth retrying is retried here; Write returns an error only when the
// put cannot be delivered, and the sink is then unusable.
func (s *Sink) Write(ctx context.Context, b core.Batch) error {
	if err := s.usable(); err != nil {
		return err
	}
	if err := ctx.Err(); err != nil {
		return err
	}
	if b.Rows() == 0 {
		return nil
	}
	key, desc, name, err := s.descriptor(b)
	if err != nil {
		return s.fail(err)
	}
	p := s.puts[key]
	if p != nil && !p.schema.Equal(b.Record.Schema()) {
		s.log.Debug("flight: schema changed: finishing the put before a new one", "descriptor", p.name)
		if err := s.finish(ctx, p); err != nil {
			return s.fail(err)
		}
		p = nil
	}
	if p == nil {
		p = &put{key: key, name: name, desc: desc, schema: b.Record.Schema(),
			id: s.token + "-" + strconv.FormatInt(s.nextPut, 10)}
		s.nextPut++
		s.puts[key] = p
		s.order = append(s.order, p)
	}
	b.Record.Retain()
	p.items = append(p.items, item{rec: b.Record, stream: b.Stream, unit: b.Unit, position: slices.Clone(b.Position)})
	size := util.TotalRecordSize(b.Record)
	p.bytes += size
	s.buffered += size
	if err := s.retry(ctx, p, func() error { return s.sendPending(ctx, p) }); err != nil {
		return s.fail(err)
	}
	return nil
}

// Prepare ends every open put and waits until the server has acknowledged each
// one (see Sink), resending puts that failed in a retryable way. It returns a
// nil transaction: acknowledged rows are already where the server keeps them.
func (s *Sink) Prepare(ctx context.Context) ([]byte, error) {
	if err := s.usable(); err != nil {
		return nil, err
	}
	if err := ctx.Err(); err != nil {
		return nil, err
	}
	// Half-close every complete put first, so the server finishes them all at
	// once; then wait for each.
	for _, p := range s.order {
		if a := p.att; a != nil && a.sent == len(p.items) {
			_ = a.halfClose() // on failure, finish sends the put again
		}
	}
	for len(s.order) > 0 {
		if err := s.finish(ctx, s.order[0]); err != nil {
			return nil, s.fail(err)
		}
	}
	return nil, nil
}

// Commit implements core.Sink. Prepare never returns a transaction, so there
// is nothing to do; a transaction from elsewhere is an error.
func (s *Sink) Commit(ctx context.Context, txn []byte) error {
	if txn != nil {
		return fmt.Errorf("flight: commit: unexpected transaction %q (this sink's Prepare returns none)", txn)
	}
	return nil
}

// CommitWanted reports whether the batches kept for resending have reached
// buffer_bytes, so that the runner commits and the sink can let them go.
func (s *Sink) CommitWanted() bool {
	return s.cfg.BufferBytes > 0 && s.buffered >= int64(s.cfg.BufferBytes)
}

// Committed returns the number of puts the server has acknowledged. It is
// safe to call from any goroutine.
func (s *Sink) Committed() int64 { return s.committed.Load() }

// Location returns the Flight service's location; there is no query to print.
func (s *Sink) Location() (where, query string) { return s.cfg.Location, "" }

// Check connects (reading TLS files and credentials, doing the handshake if
// any) and lists the server's actions, which proves the server answers and
// accepts the credentials; a server that does not implement ListActions
// passes too.
func (s *Sink) Check(ctx context.Context) error {
	if err := s.usable(); err != nil {
		return err
	}
	c, err := s.connect(ctx)
	if err != nil {
		return fmt.Errorf("flight: check %s: %w", s.cfg.Location, err)
	}
	cctx, cancel := context.WithTimeout(c.withMD(ctx), s.cfg.Timeout)
	defer cancel()
	stream, err := c.client.ListActions(cctx, &aflight.Empty{})
	for err == nil {
		_, err = stream.Recv()
	}
	if err == io.EOF || status.Code(err) == codes.Unimplemented {
		return nil
	}
	return fmt.Errorf("flight: check %s: %w", s.cfg.Location, serverError(err))
}

// Close abandons the puts not yet acknowledged (the server sees them cancelled
// and, if it follows the rule above, stores nothing of them), releases every
// batch kept and closes the connection.
func (s *Sink) Close() error {
	if s.closed {
		return nil
	}
	s.closed = true
	for _, p := range s.order {
		if p.att != nil {
			p.att.abort()
			p.att = nil
		}
		p.release()
	}
	s.puts, s.order, s.buffered = nil, nil, 0
	if err := s.closeConn(); err != nil {
		return fmt.Errorf("flight: close: %w", err)
	}
	return nil
}

func (s *Sink) usable() error {
	if s.closed {
		return errors.New("flight: sink is closed")
	}
	return s.err
}

func (s *Sink) fail(err error) error {
	if s.err == nil {
		s.err = err
	}
	return err
}

// descriptor returns the key, descriptor and printable name of b's put.
func (s *Sink) descriptor(b core.Batch) (key string, desc *aflight.FlightDescriptor, name string, err error) {
	r := strings.NewReplacer("{pipeline}", s.pipeline, "{stream}", b.Stream, "{unit}", b.Unit)
	if s.path == nil {
		cmd := r.Replace(s.cfg.Command)
		return "c\x00" + cmd, &aflight.FlightDescriptor{Type: aflight.DescriptorCMD, Cmd: []byte(cmd)}, "command " + strconv.Quote(cmd), nil
	}
	path := make([]string, len(s.path))
	quoted := make([]string, len(s.path))
	for i, t := range s.path {
		path[i] = r.Replace(t)
		quoted[i] = strconv.Quote(path[i])
		if path[i] == "" {
			return "", nil, "", fmt.Errorf("flight: descriptor path element %d (%q) is empty for stream %q, unit %q", i, t, b.Stream, b.Unit)
		}
	}
	return "p\x00" + strings.Join(path, "\x00"), &aflight.FlightDescriptor{Type: aflight.DescriptorPATH, Path: path},
		"[" + strings.Join(quoted, ", ") + "]", nil
}

// finish delivers p completely and waits for its acknowledgement, retrying
// as Write does, then lets its batches go.
func (s *Sink) finish(ctx context.Context, p *put) error {
	err := s.retry(ctx, p, func() error {
		if err := s.sendPending(ctx, p); err != nil {
			return err
		}
		return s.closeAndWait(ctx, p.att)
	})
	if err != nil {
		return err
	}
	if res := p.att.results; len(res) > 0 {
		s.log.Debug("flight: put acknowledged", "descriptor", p.name, "put", p.id, "batches", len(p.items), "result", string(res[len(res)-1]))
	} else {
		s.log.Debug("flight: put acknowledged", "descriptor", p.name, "put", p.id, "batches", len(p.items))
	}
	p.att = nil
	s.committed.Add(1)
	s.buffered -= p.bytes
	p.release()
	delete(s.puts, p.key)
	s.order = slices.DeleteFunc(s.order, func(q *put) bool { return q == p })
	return nil
}

func (p *put) release() {
	for _, it := range p.items {
		it.rec.Release()
	}
	p.items, p.bytes = nil, 0
}
