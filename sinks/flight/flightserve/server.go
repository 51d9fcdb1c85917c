package flightserve

import (
	"context"
	"crypto/rand"
	"crypto/subtle"
	"crypto/tls"
	"encoding/hex"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"log/slog"
	"net"
	"os"
	"path/filepath"
	"strings"
	"sync"
	"sync/atomic"
	"unicode/utf8"

	aflight "github.com/apache/arrow-go/v18/arrow/flight"
	"github.com/apache/arrow-go/v18/arrow/ipc"
	"github.com/apache/arrow-go/v18/arrow/memory"
	"google.golang.org/grpc"
	"google.golang.org/grpc/codes"
	"google.golang.org/grpc/credentials"
	"google.golang.org/grpc/status"

	"github.com/etl-toolkit/etl/core"
	"github.com/etl-toolkit/etl/sinks/files"
	"github.com/etl-toolkit/etl/sinks/flight"
	"github.com/etl-toolkit/etl/sinks/parquet"
)

// Options configure a Server.
type Options struct {
	// Dir is where the Parquet files go (required); it is created if missing.
	Dir string
	// Compression is the Parquet page compression (see parquet.Compressions);
	// "" is the parquet sink's default (zstd).
	Compression string
	// TLS, if set, serves gRPC over TLS; set its ClientAuth and ClientCAs for
	// mutual TLS.
	TLS *tls.Config
	// Tokens are the bearer tokens accepted. With Tokens or Users set, every
	// call must authenticate; with neither, none does.
	Tokens []string
	// Users are user names and passwords accepted by Flight's basic-auth
	// handshake, which answers with a bearer token for the later calls.
	Users map[string]string
	// MaxMessageBytes is the largest message the server receives (default 4 MiB,
	// gRPC's default) and the size DoGet cuts its record batches to.
	MaxMessageBytes int
	// Mem allocates the records received and read back; nil: the default allocator.
	Mem memory.Allocator
	// Logger receives a line per put; nil: slog.Default().
	Logger *slog.Logger
	// GRPCOptions are added to the gRPC server's own options (keepalive
	// parameters, interceptors, which run inside the authentication).
	GRPCOptions []grpc.ServerOption
}

// DefaultMaxMessageBytes is the default of Options.MaxMessageBytes.
const DefaultMaxMessageBytes = 4 << 20

// Stats counts what a Server did since it started.
type Stats struct {
	// Puts is the number of puts committed.
	Puts int64
	// Rows is the number of rows written to Parquet.
	Rows int64
	// SkippedRows is the number of rows received again and not written:
	// batches whose position was already committed.
	SkippedRows int64
	// DuplicatePuts is the number of puts received again after they were
	// committed, and not written.
	DuplicatePuts int64
}

// Server is a Flight service that stores what it receives as Parquet, see the
// package documentation. Create it with New, run it with Serve, end it with
// Close.
type Server struct {
	aflight.BaseFlightServer

	opts  Options
	dir   string
	mem   memory.Allocator
	log   *slog.Logger
	store *store
	grpc  *grpc.Server

	mu       sync.Mutex
	inflight map[string]bool // put ids being received
	issued   map[string]string

	puts, rows, skipped, duplicates atomic.Int64
	closeOnce                       sync.Once
	closeErr                        error
}

// New opens (or creates) the output directory and its store, finishes any
// put a previous server committed but did not complete (a crash), and
// returns a Server ready to Serve.
func New(opts Options) (*Server, error) {
	if opts.Dir == "" {
		return nil, errors.New("flightserve: no output directory")
	}
	if opts.MaxMessageBytes <= 0 {
		opts.MaxMessageBytes = DefaultMaxMessageBytes
	}
	if opts.Compression != "" {
		cfg := parquet.DefaultConfig()
		cfg.Compression = opts.Compression
		if ps := cfg.Problems(); len(ps) > 0 {
			return nil, fmt.Errorf("flightserve: compression: %s", ps[0].Msg)
		}
	}
	dir, err := filepath.Abs(opts.Dir)
	if err != nil {
		return nil, fmt.Errorf("flightserve: %w", err)
	}
	if err := os.MkdirAll(dir, 0o755); err != nil {
		return nil, fmt.Errorf("flightserve: %w", err)
	}
	st, err := openStore(filepath.Join(dir, StoreFile))
	if err != nil {
		return nil, err
	}
	s := &Server{opts: opts, dir: dir, mem: opts.Mem, log: opts.Logger, store: st,
		inflight: map[string]bool{}, issued: map[string]string{}}
	if s.mem == nil {
		s.mem = memory.DefaultAllocator
	}
	if s.log == nil {
		s.log = slog.Default()
	}
	if err := s.recover(context.Background(), ""); err != nil {
		st.close()
		return nil, err
	}
	sopts := []grpc.ServerOption{grpc.MaxRecvMsgSize(opts.MaxMessageBytes)}
	if opts.TLS != nil {
		sopts = append(sopts, grpc.Creds(credentials.NewTLS(opts.TLS)))
	}
	if len(opts.Tokens) > 0 || len(opts.Users) > 0 {
		// arrow-go's middleware does the protocol: "Basic" on Handshake,
		// answered with a bearer token; "Bearer" on every other call.
		m := aflight.CreateServerBasicAuthMiddleware(validator{s})
		sopts = append(sopts, grpc.ChainUnaryInterceptor(m.Unary), grpc.ChainStreamInterceptor(m.Stream))
	}
	s.grpc = grpc.NewServer(append(sopts, opts.GRPCOptions...)...)
	aflight.RegisterFlightServiceServer(s.grpc, s)
	return s, nil
}

// Serve accepts connections on lis until Stop, GracefulStop or Close. It
// returns nil after those, and otherwise the listener's error.
func (s *Server) Serve(lis net.Listener) error {
	err := s.grpc.Serve(lis)
	if errors.Is(err, grpc.ErrServerStopped) {
		return nil
	}
	return err
}

// Stop stops at once: open streams fail, and puts not yet committed are not
// stored (their senders send them again).
func (s *Server) Stop() { s.grpc.Stop() }

// GracefulStop stops accepting calls and waits for the running ones.
func (s *Server) GracefulStop() { s.grpc.GracefulStop() }

// Close stops the server (as Stop) and closes its store. A new Server may
// then open the same directory.
func (s *Server) Close() error {
	s.closeOnce.Do(func() {
		s.grpc.Stop()
		s.closeErr = s.store.close()
	})
	return s.closeErr
}

// Dir returns the absolute output directory.
func (s *Server) Dir() string { return s.dir }

// Stats returns what the server did so far.
func (s *Server) Stats() Stats {
	return Stats{Puts: s.puts.Load(), Rows: s.rows.Load(), SkippedRows: s.skipped.Load(), DuplicatePuts: s.duplicates.Load()}
}

// Receipt is the app metadata of the PutResult that ends a stored put, as JSON.
type Receipt struct {
	Put string `json:"put,omitempty"`
	// Rows were written; SkippedRows were already stored (same position).
	Rows        int64 `json:"rows"`
	SkippedRows int64 `json:"skipped_rows"`
	// Duplicate is true when the whole put was already stored.
	Duplicate bool `json:"duplicate,omitempty"`
}

// DoPut stores one stream: its record batches go to a Parquet sink whose
// files are committed only when the client has closed its side cleanly. A
// stream that breaks stores nothing.
func (s *Server) DoPut(stream aflight.FlightService_DoPutServer) (err error) {
	ctx := stream.Context()
	rdr, err := aflight.NewRecordReader(stream, ipc.WithAllocator(s.mem))
	if err != nil {
		return streamError("read the schema", err)
	}
	defer rdr.Release()
	desc := rdr.LatestFlightDescriptor()
	dir, err := DescriptorDir(desc)
	if err != nil {
		return status.Error(codes.InvalidArgument, err.Error())
	}
	cfg := parquet.DefaultConfig()
	cfg.Path, cfg.PartitionBy = filepath.Join(s.dir, dir), nil
	if s.opts.Compression != "" {
		cfg.Compression = s.opts.Compression
	}
	sink, err := parquet.NewSink(cfg, s.mem)
	if err != nil {
		return status.Errorf(codes.Internal, "parquet sink: %v", err)
	}
	defer sink.Close() // removes the temp files of a put that did not commit

	var (
		put           string
		committed     []committedPosition
		rows, skipped int64
	)
	defer func() {
		if put != "" {
			s.release(put)
		}
	}()
	for rdr.Next() {
		rec := rdr.RecordBatch()
		var meta flight.AppMetadata
		if raw := rdr.LatestAppMetadata(); len(raw) > 0 {
			if meta, err = flight.ParseAppMetadata(raw); err != nil {
				return status.Error(codes.InvalidArgument, err.Error())
			}
		}
		if put == "" && meta.Put != "" {
			if err := s.claim(meta.Put); err != nil {
				return err
			}
			put = meta.Put
			dup, err := s.store.putCommitted(put)
			if err != nil {
				return status.Error(codes.Internal, err.Error())
			}
			if dup {
				return s.duplicate(ctx, stream, rdr, put, dir)
			}
		}
		if meta.Put != "" && meta.Put != put {
			return status.Errorf(codes.InvalidArgument, "put %q changed to %q within one stream", put, meta.Put)
		}
		if len(meta.Position) > 0 {
			k := posKey{Dir: dir, Pipeline: meta.Pipeline, Stream: meta.Stream, Unit: meta.Unit}
			seen, err := s.store.positionCommitted(k, meta.Position)
			if err != nil {
				return status.Error(codes.Internal, err.Error())
			}
			if seen {
				skipped += rec.NumRows()
				continue
			}
			if meta.Part == meta.Parts-1 {
				committed = append(committed, committedPosition{key: k, pos: meta.Position})
			}
		}
		if err := sink.Write(ctx, core.Batch{Stream: meta.Stream, Unit: meta.Unit, Record: rec}); err != nil {
			return status.Errorf(codes.Internal, "write %s: %v", dir, err)
		}
		rows += rec.NumRows()
	}
	if err := rdr.Err(); err != nil {
		return streamError("read the put", err)
	}

	// The client closed its side: commit. From here the client going away
	// changes nothing; the put is stored whole or not at all.
	cctx := context.WithoutCancel(ctx)
	txn, err := sink.Prepare(cctx)
	if err != nil {
		return status.Errorf(codes.Internal, "prepare %s: %v", dir, err)
	}
	if err := s.store.record(put, dir, desc, committed, txn); err != nil {
		return status.Errorf(codes.Internal, "record put: %v", err)
	}
	if txn != nil {
		if err := sink.Commit(cctx, txn); err != nil {
			return status.Errorf(codes.Internal, "commit %s: %v", dir, err)
		}
		if err := s.store.done(pendingID(put, txn)); err != nil {
			return status.Errorf(codes.Internal, "record put: %v", err)
		}
	}
	s.puts.Add(1)
	s.rows.Add(rows)
	s.skipped.Add(skipped)
	s.log.Info("flightserve: put stored", "dir", dir, "put", put, "rows", rows, "skipped_rows", skipped)
	return sendReceipt(stream, Receipt{Put: put, Rows: rows, SkippedRows: skipped})
}

// duplicate answers a put that was already stored: it reads the rest of the
// stream (the client is waiting to close it) and acknowledges it again. A
// recorded transaction is completed first, in case the earlier commit failed
// half-way.
func (s *Server) duplicate(ctx context.Context, stream aflight.FlightService_DoPutServer, rdr *aflight.Reader, put, dir string) error {
	for rdr.Next() {
	}
	if err := rdr.Err(); err != nil {
		return streamError("read the put", err)
	}
	if err := s.recover(context.WithoutCancel(ctx), put); err != nil {
		return status.Error(codes.Internal, err.Error())
	}
	s.duplicates.Add(1)
	s.log.Info("flightserve: put already stored, acknowledged again", "dir", dir, "put", put)
	return sendReceipt(stream, Receipt{Put: put, Duplicate: true})
}

func sendReceipt(stream aflight.FlightService_DoPutServer, r Receipt) error {
	raw, err := json.Marshal(r)
	if err != nil {
		return status.Error(codes.Internal, err.Error())
	}
	return stream.Send(&aflight.PutResult{AppMetadata: raw})
}

// claim marks a put id as being received; a second stream with the same id
// (a client resending while the first is still being committed) is told to
// retry, and by then sees the put stored.
func (s *Server) claim(put string) error {
	s.mu.Lock()
	defer s.mu.Unlock()
	if s.inflight[put] {
		return status.Errorf(codes.Unavailable, "put %q is being received on another stream; retry", put)
	}
	s.inflight[put] = true
	return nil
}

func (s *Server) release(put string) {
	s.mu.Lock()
	defer s.mu.Unlock()
	delete(s.inflight, put)
}

// recover completes the transactions recorded but not known to be committed:
// every one when only is "", else only put only's.
func (s *Server) recover(ctx context.Context, only string) error {
	pending, err := s.store.pending()
	if err != nil {
		return err
	}
	for key, p := range pending {
		if only != "" && key != only {
			continue
		}
		cfg := parquet.DefaultConfig()
		cfg.Path, cfg.PartitionBy = filepath.Join(s.dir, p.Dir), nil
		sink, err := parquet.NewSink(cfg, s.mem)
		if err != nil {
			return fmt.Errorf("flightserve: recover %s: %w", p.Dir, err)
		}
		err = sink.Commit(ctx, p.Txn)
		sink.Close()
		if err != nil {
			return fmt.Errorf("flightserve: recover %s: %w", p.Dir, err)
		}
		if err := s.store.done(key); err != nil {
			return err
		}
		s.log.Info("flightserve: completed a put an earlier server recorded", "dir", p.Dir)
	}
	return nil
}

// streamError passes a gRPC status on (a client cancelling, a connection
// dropping) and turns anything else (a malformed message) into InvalidArgument.
func streamError(what string, err error) error {
	if _, ok := status.FromError(err); ok {
		return err
	}
	if errors.Is(err, io.ErrUnexpectedEOF) || errors.Is(err, context.Canceled) {
		return status.Errorf(codes.Canceled, "%s: %v", what, err)
	}
	return status.Errorf(codes.InvalidArgument, "%s: %v", what, err)
}

// maxElement bounds one directory name made from a descriptor.
const maxElement = 200

// DescriptorDir returns the directory, relative to the output directory, of
// a descriptor: a path's elements one directory each, escaped as Hive
// partition values (files.Escape), or for a command one directory
// command=<escaped command>. Elements that are empty, start with a dot or
// are too long are refused, so no descriptor names a hidden file or leaves
// the output directory.
func DescriptorDir(d *aflight.FlightDescriptor) (string, error) {
	if d == nil {
		return "", errors.New("the put has no flight descriptor")
	}
	switch d.Type {
	case aflight.DescriptorPATH:
		if len(d.Path) == 0 {
			return "", errors.New("the descriptor's path is empty")
		}
		parts := make([]string, len(d.Path))
		for i, e := range d.Path {
			if e == "" || strings.HasPrefix(e, ".") || len(e) > maxElement || !utf8.ValidString(e) {
				return "", fmt.Errorf("descriptor path element %d (%q) must be non-empty UTF-8 of at most %d bytes not starting with a dot", i, e, maxElement)
			}
			parts[i] = files.Escape(e)
		}
		return filepath.Join(parts...), nil
	case aflight.DescriptorCMD:
		if len(d.Cmd) == 0 || len(d.Cmd) > maxElement || !utf8.Valid(d.Cmd) {
			return "", fmt.Errorf("descriptor command must be non-empty UTF-8 of at most %d bytes", maxElement)
		}
		return "command=" + files.Escape(string(d.Cmd)), nil
	}
	return "", fmt.Errorf("unknown descriptor type %v", d.Type)
}

// validator checks credentials for arrow-go's basic-auth middleware. Its
// errors never contain a credential.
type validator struct{ s *Server }

// Validate checks a user's password from the handshake and issues a token.
func (v validator) Validate(user, password string) (string, error) {
	want, ok := v.s.opts.Users[user]
	if !ok || subtle.ConstantTimeCompare([]byte(want), []byte(password)) != 1 {
		return "", status.Error(codes.Unauthenticated, "invalid user name or password")
	}
	var b [24]byte
	if _, err := rand.Read(b[:]); err != nil {
		return "", status.Error(codes.Internal, "cannot issue a token")
	}
	token := hex.EncodeToString(b[:])
	v.s.mu.Lock()
	v.s.issued[token] = user
	v.s.mu.Unlock()
	return token, nil
}

// IsValid checks a bearer token: one of Options.Tokens, or one the handshake
// issued.
func (v validator) IsValid(token string) (any, error) {
	for _, t := range v.s.opts.Tokens {
		if subtle.ConstantTimeCompare([]byte(t), []byte(token)) == 1 {
			return "token", nil
		}
	}
	v.s.mu.Lock()
	user, ok := v.s.issued[token]
	v.s.mu.Unlock()
	if ok {
		return user, nil
	}
	return nil, status.Error(codes.Unauthenticated, "invalid bearer token")
}
