package plugins

import (
	"context"
	"errors"
	"fmt"
	"io"
	"sync"
	"sync/atomic"
	"time"

	"github.com/etl-toolkit/etl/core"
	"github.com/etl-toolkit/etl/plugins/internal/wire"
	pb "github.com/etl-toolkit/etl/plugins/proto"
)

// closeTimeout bounds how long Close waits for a plugin to finish.
const closeTimeout = time.Minute

// sink is a core.Sink served by a plugin process.
//
// Write does not wait for the plugin: it sends the batch on the sink's one
// Write stream and returns once the batch is encoded and handed to gRPC, so
// that the plugin writes one batch while the runner prepares the next. The
// bytes sent and not yet answered are bounded by maxInFlight (Write blocks
// until the plugin has caught up), which bounds memory however slow the
// plugin is. A failed write is reported by the next Write or Prepare; Prepare
// waits until every batch has been answered.
type sink struct {
	p           *process
	c           pb.SinkClient
	spec        *pb.SpecResponse
	where       string
	query       string
	maxInFlight int

	stream    pb.Sink_WriteClient
	stop      context.CancelFunc // cancels the stream
	recvDone  chan struct{}      // closed when the reply reader ends
	answered  chan struct{}      // signalled (capacity 1) on every reply
	commitReq atomic.Bool
	committed atomic.Int64

	mu       sync.Mutex
	inFlight []sentBatch // sent, not yet answered, oldest first
	bytes    int         // their IPC bytes
	failed   error       // sticky
	closed   bool
}

type sentBatch struct {
	stream, unit string
	bytes        int
}

var (
	_ core.Sink            = (*sink)(nil)
	_ core.CommitRequester = (*sink)(nil)
	_ core.SinkStats       = (*sink)(nil)
	_ core.Locator         = (*sink)(nil)
	_ core.Checker         = (*sink)(nil)
)

func newSink(p *process, c pb.SinkClient, spec *pb.SpecResponse, resp *pb.ConfigureResponse, _ core.Env, maxInFlight int) *sink {
	return &sink{p: p, c: c, spec: spec, where: resp.Location, query: resp.Query, maxInFlight: maxInFlight, answered: make(chan struct{}, 1)}
}

// Write implements core.Sink. It encodes b before it returns, so the record
// is only borrowed.
func (s *sink) Write(ctx context.Context, b core.Batch) error {
	if err := ctx.Err(); err != nil {
		return err
	}
	if err := s.err(); err != nil {
		return err
	}
	if err := s.open(); err != nil {
		return err
	}
	data, err := wire.EncodeBatch(b)
	if err != nil {
		return fmt.Errorf("plugins: %s: %w", s.p.name, err)
	}
	if err := s.waitFor(ctx, func() bool { return s.bytes == 0 || s.bytes+data.Size <= s.maxInFlight }); err != nil {
		data.Free()
		return err
	}
	s.mu.Lock()
	s.inFlight = append(s.inFlight, sentBatch{stream: b.Stream, unit: b.Unit, bytes: data.Size})
	s.bytes += data.Size
	s.mu.Unlock()
	if err := data.Send(func(c *wire.Chunk) error { return s.stream.SendMsg(c) }); err != nil {
		if errors.Is(err, io.EOF) {
			// The stream ended; its error comes from the reply reader.
			<-s.recvDone
			if err := s.err(); err != nil {
				return err
			}
		}
		return s.setFailed(s.p.fail(nil, "write", err))
	}
	return nil
}

// open starts the Write stream and its reply reader on the first Write.
func (s *sink) open() error {
	if s.stream != nil {
		return nil
	}
	ctx, cancel := context.WithCancel(context.Background())
	stream, err := s.c.Write(ctx)
	if err != nil {
		cancel()
		return s.setFailed(s.p.fail(nil, "write", err))
	}
	s.stream, s.stop, s.recvDone = stream, cancel, make(chan struct{})
	go s.readReplies()
	return nil
}

// readReplies takes the plugin's answers, in order, until the stream ends.
func (s *sink) readReplies() {
	defer close(s.recvDone)
	defer s.signal()
	for {
		r, err := s.stream.Recv()
		if err != nil {
			s.mu.Lock()
			closing := s.closed
			s.mu.Unlock()
			if !errors.Is(err, io.EOF) || len(s.pending()) > 0 {
				if !closing {
					s.setFailed(s.p.fail(nil, "write", err))
				}
			}
			return
		}
		s.mu.Lock()
		var b sentBatch
		if len(s.inFlight) > 0 {
			b = s.inFlight[0]
			s.inFlight = s.inFlight[1:]
			s.bytes -= b.bytes
		}
		if r.Error != nil && s.failed == nil {
			s.failed = fmt.Errorf("plugins: %s: write (stream %s, unit %s): %w", s.p.name, b.stream, b.unit, wire.FromProto(r.Error))
		}
		s.mu.Unlock()
		if r.CommitWanted {
			s.commitReq.Store(true)
		}
		s.signal()
	}
}

func (s *sink) pending() []sentBatch {
	s.mu.Lock()
	defer s.mu.Unlock()
	return s.inFlight
}

func (s *sink) signal() {
	select {
	case s.answered <- struct{}{}:
	default:
	}
}

// waitFor waits until ok (called with s.mu held) holds, the sink has failed,
// or ctx is done.
func (s *sink) waitFor(ctx context.Context, ok func() bool) error {
	for {
		s.mu.Lock()
		done, failed := ok(), s.failed
		s.mu.Unlock()
		if failed != nil {
			return failed
		}
		if done {
			return nil
		}
		select {
		case <-s.answered:
		case <-s.recvDone:
			if err := s.err(); err != nil {
				return err
			}
			s.mu.Lock()
			done = ok()
			s.mu.Unlock()
			if !done {
				return s.setFailed(fmt.Errorf("plugins: %s: write: the plugin ended the stream with batches unanswered", s.p.name))
			}
			return nil
		case <-ctx.Done():
			return ctx.Err()
		}
	}
}

func (s *sink) err() error {
	s.mu.Lock()
	defer s.mu.Unlock()
	return s.failed
}

func (s *sink) setFailed(err error) error {
	s.mu.Lock()
	defer s.mu.Unlock()
	if s.failed == nil {
		s.failed = err
	}
	return s.failed
}

// Prepare implements core.Sink: it waits until the plugin has written every
// batch sent, then asks it to prepare.
func (s *sink) Prepare(ctx context.Context) ([]byte, error) {
	if s.stream != nil {
		if err := s.waitFor(ctx, func() bool { return len(s.inFlight) == 0 }); err != nil {
			return nil, err
		}
	} else if err := s.err(); err != nil {
		return nil, err
	}
	r, err := s.c.Prepare(ctx, &pb.PrepareRequest{})
	if err != nil {
		return nil, s.p.fail(ctx, "prepare", err)
	}
	s.commitReq.Store(false)
	if !r.HasTxn {
		return nil, nil
	}
	if r.Txn == nil {
		return []byte{}, nil
	}
	return r.Txn, nil
}

// Commit implements core.Sink.
func (s *sink) Commit(ctx context.Context, txn []byte) error {
	r, err := s.c.Commit(ctx, &pb.CommitRequest{Txn: txn})
	if err != nil {
		return s.p.fail(ctx, "commit", err)
	}
	s.committed.Store(r.Committed)
	return nil
}

// CommitWanted implements core.CommitRequester with the plugin's answer to the
// latest batch it wrote.
func (s *sink) CommitWanted() bool { return s.commitReq.Load() }

// Committed implements core.SinkStats with the plugin's count after the last
// Commit.
func (s *sink) Committed() int64 { return s.committed.Load() }

// Location implements core.Locator with what the plugin said when configured.
func (s *sink) Location() (where, query string) { return s.where, s.query }

// Check implements core.Checker.
func (s *sink) Check(ctx context.Context) error {
	_, err := s.c.Check(ctx, &pb.CheckRequest{})
	return s.p.fail(ctx, "check", err)
}

// Close implements core.Sink: it ends the Write stream, closes the plugin's
// sink (which discards rows not prepared) and stops the process.
func (s *sink) Close() error {
	s.mu.Lock()
	if s.closed {
		s.mu.Unlock()
		return nil
	}
	s.closed = true
	s.mu.Unlock()
	defer s.p.kill()
	if s.stream != nil {
		s.stream.CloseSend()
		select {
		case <-s.recvDone:
		case <-time.After(closeTimeout):
		}
		s.stop()
	}
	ctx, cancel := context.WithTimeout(context.Background(), closeTimeout)
	defer cancel()
	_, err := s.c.Close(ctx, &pb.CloseRequest{})
	return s.p.fail(ctx, "close", err)
}
