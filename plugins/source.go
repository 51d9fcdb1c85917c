package plugins

import (
	"context"
	"errors"
	"fmt"
	"io"
	"sync"

	"github.com/apache/arrow-go/v18/arrow/memory"
	"google.golang.org/grpc"

	"github.com/etl-toolkit/etl/core"
	"github.com/etl-toolkit/etl/plugins/internal/wire"
	pb "github.com/etl-toolkit/etl/plugins/proto"
)

// source is a core.Source served by a plugin process. Each Read is a
// server stream: the plugin sends batches as fast as this side takes them,
// and gRPC's flow control makes the plugin's emit block while the pipeline
// here is full.
type source struct {
	p    *process
	c    pb.SourceClient
	spec *pb.SpecResponse
	mem  memory.Allocator

	once     sync.Once
	closeErr error
}

var (
	_ core.Source  = (*source)(nil)
	_ core.Checker = (*source)(nil)
)

func newSource(p *process, c pb.SourceClient, spec *pb.SpecResponse, env core.Env) *source {
	mem := env.Mem
	if mem == nil {
		mem = memory.DefaultAllocator
	}
	return &source{p: p, c: c, spec: spec, mem: mem}
}

// Units implements core.Source.
func (s *source) Units(ctx context.Context) ([]string, error) {
	r, err := s.c.Units(ctx, &pb.UnitsRequest{})
	if err != nil {
		return nil, s.p.fail(ctx, "units", err)
	}
	return r.Units, nil
}

// Read implements core.Source. Records are decoded into memory from the
// Env's allocator; each one's ownership passes to emit.
func (s *source) Read(ctx context.Context, unit string, from core.Position, emit core.Emit) error {
	rctx, cancel := context.WithCancel(ctx)
	defer cancel() // stops the plugin's Read when emit fails
	stream, err := s.c.Read(rctx, &pb.ReadRequest{Unit: unit, From: from, HasFrom: from != nil})
	if err != nil {
		return s.p.fail(ctx, "read "+unit, err)
	}
	return receive(ctx, s.p, "read "+unit, s.mem, stream, emit)
}

// receive emits the batches of a stream of chunks until it ends, and passes
// the statuses it carries on to core.ReportStatus. An error from emit is
// returned as it is; a cancelled ctx gives an error wrapping ctx.Err().
func receive(ctx context.Context, p *process, op string, mem memory.Allocator, stream grpc.ClientStream, emit core.Emit) error {
	var asm wire.Assembler
	defer asm.Reset()
	for {
		c := new(wire.Chunk)
		err := stream.RecvMsg(c)
		if errors.Is(err, io.EOF) {
			if asm.Pending() {
				return fmt.Errorf("plugins: %s: %s: the stream ended inside a batch", p.name, op)
			}
			return nil
		}
		if err != nil {
			return p.fail(ctx, op, err)
		}
		if c.Head.Status != nil { // protocol 2: what the source reports
			c.Free()
			core.ReportStatus(ctx, *c.Head.Status)
			continue
		}
		complete, err := asm.Add(c)
		if err != nil {
			return fmt.Errorf("plugins: %s: %s: %w", p.name, op, err)
		}
		if !complete {
			continue
		}
		b, err := asm.Batch(mem)
		if err != nil {
			return fmt.Errorf("plugins: %s: %s: %w", p.name, op, err)
		}
		if err := emit(ctx, b); err != nil {
			return err
		}
	}
}

// Ack implements core.Source.
func (s *source) Ack(ctx context.Context, unit string, pos core.Position) error {
	_, err := s.c.Ack(ctx, &pb.AckRequest{Unit: unit, Position: pos})
	return s.p.fail(ctx, "ack "+unit, err)
}

// Check implements core.Checker.
func (s *source) Check(ctx context.Context) error {
	_, err := s.c.Check(ctx, &pb.CheckRequest{})
	return s.p.fail(ctx, "check", err)
}

// Close implements core.Source: it closes the plugin's source and stops the
// process.
func (s *source) Close() error {
	s.once.Do(func() {
		defer s.p.kill()
		ctx, cancel := context.WithTimeout(context.Background(), closeTimeout)
		defer cancel()
		_, err := s.c.Close(ctx, &pb.CloseRequest{})
		s.closeErr = s.p.fail(ctx, "close", err)
	})
	return s.closeErr
}
