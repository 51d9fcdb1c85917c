package plugins

import (
	"context"
	"sync"

	"github.com/apache/arrow-go/v18/arrow/memory"

	"github.com/etl-toolkit/etl/core"
	"github.com/etl-toolkit/etl/plugins/internal/wire"
	pb "github.com/etl-toolkit/etl/plugins/proto"
)

// transform is a core.Transform served by a plugin process. Each Apply and
// Flush is one gRPC stream that brings back the batches the plugin emits;
// when emit fails here the stream is cancelled, which makes the plugin's emit
// fail too.
type transform struct {
	p    *process
	c    pb.TransformClient
	spec *pb.SpecResponse
	mem  memory.Allocator

	once     sync.Once
	closeErr error
}

var (
	_ core.Transform = (*transform)(nil)
	_ core.Checker   = (*transform)(nil)
)

func newTransform(p *process, c pb.TransformClient, spec *pb.SpecResponse, env core.Env) *transform {
	mem := env.Mem
	if mem == nil {
		mem = memory.DefaultAllocator
	}
	return &transform{p: p, c: c, spec: spec, mem: mem}
}

// Apply implements core.Transform. It sends in to the plugin and releases it.
func (t *transform) Apply(ctx context.Context, in core.Batch, emit core.Emit) error {
	sent := false
	defer func() {
		if !sent {
			in.Release()
		}
	}()
	sctx, cancel := context.WithCancel(ctx)
	defer cancel()
	stream, err := t.c.Apply(sctx)
	if err != nil {
		return t.p.fail(ctx, "apply", err)
	}
	_, err = wire.SendBatch(in, func(c *wire.Chunk) error { return stream.SendMsg(c) })
	in.Release()
	sent = true
	if err == nil {
		err = stream.CloseSend()
	}
	if err != nil {
		// The plugin ended the call early: its status says why.
		if _, rerr := stream.Recv(); rerr != nil {
			return t.p.fail(ctx, "apply", rerr)
		}
		return t.p.fail(ctx, "apply", err)
	}
	return receive(ctx, t.p, "apply", t.mem, stream, emit)
}

// Flush implements core.Transform.
func (t *transform) Flush(ctx context.Context, unit string, emit core.Emit) error {
	sctx, cancel := context.WithCancel(ctx)
	defer cancel()
	stream, err := t.c.Flush(sctx, &pb.FlushRequest{Unit: unit})
	if err != nil {
		return t.p.fail(ctx, "flush "+unit, err)
	}
	return receive(ctx, t.p, "flush "+unit, t.mem, stream, emit)
}

// Check implements core.Checker.
func (t *transform) Check(ctx context.Context) error {
	_, err := t.c.Check(ctx, &pb.CheckRequest{})
	return t.p.fail(ctx, "check", err)
}

// Close implements core.Transform: it closes the plugin's transform (which
// discards rows it still holds) and stops the process.
func (t *transform) Close() error {
	t.once.Do(func() {
		defer t.p.kill()
		ctx, cancel := context.WithTimeout(context.Background(), closeTimeout)
		defer cancel()
		_, err := t.c.Close(ctx, &pb.CloseRequest{})
		t.closeErr = t.p.fail(ctx, "close", err)
	})
	return t.closeErr
}
