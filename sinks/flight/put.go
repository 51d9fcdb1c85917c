package flight

import (
	"context"
	"errors"
	"fmt"
	"io"
	"sync/atomic"
	"time"

	aflight "github.com/apache/arrow-go/v18/arrow/flight"
	"github.com/apache/arrow-go/v18/arrow/ipc"
	"github.com/cenkalti/backoff/v5"
	"google.golang.org/protobuf/proto"

	"github.com/etl-toolkit/etl/core"
	"github.com/etl-toolkit/etl/sinks/flight/internal/chunk"
)

// attempt is one DoPut stream carrying a put. When it fails, it is abandoned
// and a new attempt sends the put's batches again from the first.
type attempt struct {
	stream aflight.FlightService_DoPutClient
	w      *aflight.Writer
	cancel context.CancelFunc // cancels the stream
	sent   int                // items sent
	seq    int64              // number of the next record batch message

	halfClosed   atomic.Bool // CloseSend was called
	writerClosed bool

	done    chan struct{} // closed when the server has ended the stream
	err     error         // how it ended (nil: OK after our CloseSend); read after done
	results [][]byte      // app metadata of the PutResults; read after done
}

// errEarlyClose is a server ending a put with OK before the sink finished it:
// it cannot have stored what it did not read.
var errEarlyClose = errors.New("the server ended the put with OK before the sink had sent all of it")

// retry runs op, which works on p's current attempt, until it succeeds, fails
// with an error that is not retryable, or retry.max_elapsed has passed. After
// each failure the attempt is abandoned, so that the next one sends the put
// again from its first batch, with the same put id.
func (s *Sink) retry(ctx context.Context, p *put, op func() error) error {
	bo := backoff.NewExponentialBackOff()
	bo.InitialInterval, bo.MaxInterval = s.cfg.Retry.Initial, s.cfg.Retry.Max
	opts := []backoff.RetryOption{backoff.WithBackOff(bo), backoff.WithNotify(func(err error, d time.Duration) {
		s.log.Warn("flight: put failed, retrying", "descriptor", p.name, "location", s.cfg.Location, "in", d.Round(time.Millisecond), "err", err)
	})}
	if s.cfg.Retry.MaxElapsed > 0 {
		opts = append(opts, backoff.WithMaxElapsedTime(s.cfg.Retry.MaxElapsed))
	} else {
		opts = append(opts, backoff.WithMaxTries(1))
	}
	refreshed := false
	_, err := backoff.Retry(ctx, func() (struct{}, error) {
		err := op()
		if err == nil {
			return struct{}{}, nil
		}
		if p.att != nil {
			p.att.abort()
			p.att = nil
		}
		if s.refreshToken(err, &refreshed) {
			return struct{}{}, err
		}
		if ctx.Err() != nil || !retryable(err) {
			return struct{}{}, backoff.Permanent(err)
		}
		return struct{}{}, err
	}, opts...)
	if err == nil {
		return nil
	}
	err = fmt.Errorf("flight: put %s to %s: %w", p.name, s.cfg.Location, err)
	if retryable(err) {
		return core.Transient(fmt.Errorf("%w (still failing after retry.max_elapsed %s)", err, s.cfg.Retry.MaxElapsed), 0)
	}
	return err
}

// sendPending sends p's batches not yet sent on its current attempt, opening
// one if needed.
func (s *Sink) sendPending(ctx context.Context, p *put) error {
	if p.att == nil {
		a, err := s.open(ctx, p)
		if err != nil {
			return err
		}
		p.att = a
	}
	a := p.att
	for a.sent < len(p.items) {
		if err := s.sendItem(ctx, p, a, p.items[a.sent]); err != nil {
			return err
		}
		a.sent++
	}
	return nil
}

// open starts a DoPut for p.
func (s *Sink) open(ctx context.Context, p *put) (*attempt, error) {
	c, err := s.connect(ctx)
	if err != nil {
		return nil, err
	}
	// The stream outlives this call (it spans Writes until Prepare), so its
	// context is not ctx; guard ties each blocking step to ctx instead.
	sctx, cancel := context.WithCancel(c.withMD(context.Background()))
	a := &attempt{cancel: cancel, done: make(chan struct{})}
	var stream aflight.FlightService_DoPutClient
	err = s.guard(ctx, a, "opening a DoPut", func() (err error) {
		stream, err = c.client.DoPut(sctx)
		return err
	})
	if err != nil {
		cancel()
		return nil, err
	}
	a.stream = stream
	opts := append([]ipc.Option{ipc.WithSchema(p.schema), ipc.WithAllocator(s.mem)}, s.ipcOpts...)
	a.w = aflight.NewRecordWriter(sender{stream: stream, max: int(s.cfg.MaxMessageBytes)}, opts...)
	a.w.SetFlightDescriptor(p.desc)
	go a.receive()
	return a, nil
}

// sendItem sends one batch, split into as many messages as max_message_bytes
// and batch_rows ask for, each with its AppMetadata.
func (s *Sink) sendItem(ctx context.Context, p *put, a *attempt, it item) error {
	meta := AppMetadata{Version: MetadataVersion, Put: p.id, Seq: a.seq, Pipeline: s.pipeline,
		Stream: it.stream, Unit: it.unit, Position: it.position, Parts: 1}
	// Room for the app metadata (with longer numbers than now) and the
	// FlightData framing around the IPC message.
	overhead := int64(len(meta.encode())) + 64 + 64
	parts, err := chunk.Split(it.rec, chunk.Limits{
		Rows:       s.cfg.BatchRows,
		Bytes:      int64(s.cfg.MaxMessageBytes) - overhead,
		Compressed: s.cfg.Compression != "none",
		Mem:        s.mem,
	})
	if err != nil {
		return permanent(fmt.Errorf("stream %s, unit %s: %w; raise max_message_bytes (and the server's limit)", it.stream, it.unit, err))
	}
	defer func() {
		for _, r := range parts {
			r.Release()
		}
	}()
	for i, part := range parts {
		meta.Seq, meta.Part, meta.Parts = a.seq, i, len(parts)
		md := meta.encode()
		if err := s.guard(ctx, a, "sending a batch", func() error { return a.w.WriteWithAppMetadata(part, md) }); err != nil {
			return err
		}
		a.seq++
	}
	return nil
}

// guard runs fn, a blocking step of attempt a, so that it ends when ctx is
// done or the sink's timeout passes: either cancels the stream. It turns the
// errors of the stream into the server's status.
func (s *Sink) guard(ctx context.Context, a *attempt, what string, fn func() error) error {
	if err := ctx.Err(); err != nil {
		return err
	}
	tctx, cancel := context.WithTimeout(ctx, s.cfg.Timeout)
	defer cancel()
	stop := context.AfterFunc(tctx, a.cancel)
	err := fn()
	if !stop() {
		if ctx.Err() != nil {
			return ctx.Err()
		}
		return timeoutError(what, s.cfg.Timeout)
	}
	if err == nil {
		return nil
	}
	if errors.Is(err, io.EOF) && a.stream != nil {
		// The server ended the stream; its status says why.
		if err := s.wait(ctx, a, s.cfg.Timeout, "reading why the server ended the put"); err != nil {
			return err
		}
		return errEarlyClose
	}
	return serverError(err)
}

// closeAndWait ends the sending side of a and waits for the server to end
// the stream: OK is the acknowledgement of everything sent on it.
func (s *Sink) closeAndWait(ctx context.Context, a *attempt) error {
	if err := a.halfClose(); err != nil {
		return err
	}
	return s.wait(ctx, a, s.cfg.AckTimeout, "waiting for the server's acknowledgement")
}

// wait waits for the server to end a's stream, at most d, and returns its
// status as an error (nil for OK).
func (s *Sink) wait(ctx context.Context, a *attempt, d time.Duration, what string) error {
	t := time.NewTimer(d)
	defer t.Stop()
	select {
	case <-a.done:
		return serverError(a.err)
	case <-ctx.Done():
		return ctx.Err()
	case <-t.C:
		return timeoutError(what, d)
	}
}

// receive reads what the server sends on a's stream until it ends.
func (a *attempt) receive() {
	defer close(a.done)
	for {
		r, err := a.stream.Recv()
		if err == io.EOF {
			if !a.halfClosed.Load() {
				a.err = errEarlyClose
			}
			return
		}
		if err != nil {
			a.err = err
			return
		}
		a.results = append(a.results, r.GetAppMetadata())
	}
}

// halfClose closes the IPC writer (which releases the dictionaries it keeps)
// and the sending side of the stream.
func (a *attempt) halfClose() error {
	if a.halfClosed.Load() {
		return nil
	}
	a.halfClosed.Store(true)
	a.closeWriter()
	return serverError(a.stream.CloseSend())
}

func (a *attempt) closeWriter() {
	if a.w != nil && !a.writerClosed {
		a.writerClosed = true
		_ = a.w.Close() // sends nothing once started; its error is the stream's
	}
}

// abort cancels a's stream, so the server sees it fail and keeps nothing of
// it, and waits for the receiving goroutine to end.
func (a *attempt) abort() {
	a.cancel()
	a.closeWriter()
	if a.stream != nil {
		<-a.done
	}
}

// sender is the DataStreamWriter under the IPC writer: it checks each message
// against max_message_bytes before it goes out. chunk.Split makes record
// batches fit, so a message that does not is a dictionary or schema too large
// to split; sending it would only make the server refuse it.
type sender struct {
	stream aflight.FlightService_DoPutClient
	max    int
}

func (w sender) Send(fd *aflight.FlightData) error {
	if n := proto.Size(fd); n > w.max {
		return permanent(fmt.Errorf("a message of %d bytes (a dictionary or schema, which cannot be split) exceeds max_message_bytes %d", n, w.max))
	}
	return w.stream.Send(fd)
}
