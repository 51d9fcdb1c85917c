package server

import (
	"context"
	"errors"
	"io"
	"sync"

	"github.com/apache/arrow-go/v18/arrow/memory"
	"github.com/hashicorp/go-plugin"
	"google.golang.org/grpc"

	"github.com/etl-toolkit/etl/core"
	"github.com/etl-toolkit/etl/plugins/internal/wire"
	pb "github.com/etl-toolkit/etl/plugins/proto"
)

// transformServer serves one core.Transform, one call at a time.
type transformServer struct {
	pb.UnimplementedTransformServer
	component
	factory core.Factory[core.Transform]
	broker  *plugin.GRPCBroker

	mu  sync.Mutex
	tr  core.Transform
	mem memory.Allocator
}

func (s *transformServer) Spec(context.Context, *pb.SpecRequest) (*pb.SpecResponse, error) {
	return s.spec(), nil
}

func (s *transformServer) Configure(ctx context.Context, req *pb.ConfigureRequest) (*pb.ConfigureResponse, error) {
	s.mu.Lock()
	defer s.mu.Unlock()
	tr, env, err := configure(ctx, &s.component, s.broker, req, s.factory, s.tr != nil)
	if err != nil {
		return nil, err
	}
	s.tr, s.mem = tr, env.Mem
	return &pb.ConfigureResponse{}, nil
}

func (s *transformServer) Check(ctx context.Context, _ *pb.CheckRequest) (*pb.CheckResponse, error) {
	s.mu.Lock()
	defer s.mu.Unlock()
	if s.tr == nil {
		return nil, wire.ToStatus(errNotConfigured)
	}
	var err error
	if c, ok := s.tr.(core.Checker); ok {
		err = c.Check(ctx)
	}
	return &pb.CheckResponse{}, wire.ToStatus(err)
}

// emitter returns an emit that streams batches back to the host. It fails
// once the host has cancelled the call (its own emit failed).
func emitter(ctx context.Context, stream grpc.ServerStream) core.Emit {
	send := func(c *wire.Chunk) error { return stream.SendMsg(c) }
	return func(ectx context.Context, b core.Batch) error {
		defer b.Release()
		if err := ctx.Err(); err != nil {
			return err
		}
		if err := ectx.Err(); err != nil {
			return err
		}
		if _, err := wire.SendBatch(b, send); err != nil {
			if ctx.Err() != nil {
				return ctx.Err()
			}
			return err
		}
		return nil
	}
}

// Apply receives one batch and applies the transform to it.
func (s *transformServer) Apply(stream pb.Transform_ApplyServer) error {
	var asm wire.Assembler
	defer asm.Reset()
	for {
		c := new(wire.Chunk)
		err := stream.RecvMsg(c)
		if errors.Is(err, io.EOF) {
			return wire.ToStatus(errors.New("sdk: apply: the host sent no complete batch"))
		}
		if err != nil {
			return err
		}
		complete, err := asm.Add(c)
		if err != nil {
			return wire.ToStatus(err)
		}
		if complete {
			break
		}
	}
	s.mu.Lock()
	defer s.mu.Unlock()
	if s.tr == nil {
		return wire.ToStatus(errNotConfigured)
	}
	b, err := asm.Batch(s.mem)
	if err != nil {
		return wire.ToStatus(err)
	}
	ctx := stream.Context()
	return wire.ToStatus(s.tr.Apply(ctx, b, emitter(ctx, stream)))
}

func (s *transformServer) Flush(req *pb.FlushRequest, stream pb.Transform_FlushServer) error {
	s.mu.Lock()
	defer s.mu.Unlock()
	if s.tr == nil {
		return wire.ToStatus(errNotConfigured)
	}
	ctx := stream.Context()
	return wire.ToStatus(s.tr.Flush(ctx, req.Unit, emitter(ctx, stream)))
}

func (s *transformServer) Close(context.Context, *pb.CloseRequest) (*pb.CloseResponse, error) {
	s.mu.Lock()
	defer s.mu.Unlock()
	defer s.closeConn()
	if s.tr == nil {
		return &pb.CloseResponse{}, nil
	}
	err := s.tr.Close()
	s.tr = nil
	return &pb.CloseResponse{}, wire.ToStatus(err)
}
