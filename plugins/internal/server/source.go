package server

import (
	"context"
	"sync"

	"github.com/hashicorp/go-plugin"

	"github.com/etl-toolkit/etl/core"
	"github.com/etl-toolkit/etl/plugins/internal/wire"
	pb "github.com/etl-toolkit/etl/plugins/proto"
)

// sourceServer serves one core.Source; its calls may come concurrently, as
// core.Source allows.
type sourceServer struct {
	pb.UnimplementedSourceServer
	component
	factory core.Factory[core.Source]
	broker  *plugin.GRPCBroker

	// statuses: the host speaks a protocol in which Read forwards what the
	// source reports with core.ReportStatus.
	statuses bool

	mu  sync.RWMutex // guards src; held shared by calls, exclusively by Configure and Close
	src core.Source
}

func (s *sourceServer) Spec(context.Context, *pb.SpecRequest) (*pb.SpecResponse, error) {
	return s.spec(), nil
}

func (s *sourceServer) Configure(ctx context.Context, req *pb.ConfigureRequest) (*pb.ConfigureResponse, error) {
	s.mu.Lock()
	defer s.mu.Unlock()
	src, _, err := configure(ctx, &s.component, s.broker, req, s.factory, s.src != nil)
	if err != nil {
		return nil, err
	}
	s.src = src
	return &pb.ConfigureResponse{}, nil
}

// source returns the configured source with s.mu held shared; call the
// returned release when done.
func (s *sourceServer) source() (core.Source, func(), error) {
	s.mu.RLock()
	if s.src == nil {
		s.mu.RUnlock()
		return nil, nil, errNotConfigured
	}
	return s.src, s.mu.RUnlock, nil
}

func (s *sourceServer) Check(ctx context.Context, _ *pb.CheckRequest) (*pb.CheckResponse, error) {
	src, release, err := s.source()
	if err != nil {
		return nil, wire.ToStatus(err)
	}
	defer release()
	if c, ok := src.(core.Checker); ok {
		err = c.Check(ctx)
	}
	return &pb.CheckResponse{}, wire.ToStatus(err)
}

func (s *sourceServer) Units(ctx context.Context, _ *pb.UnitsRequest) (*pb.UnitsResponse, error) {
	src, release, err := s.source()
	if err != nil {
		return nil, wire.ToStatus(err)
	}
	defer release()
	units, err := src.Units(ctx)
	if err != nil {
		return nil, wire.ToStatus(err)
	}
	return &pb.UnitsResponse{Units: units}, nil
}

// Read streams what the source emits and, if the host wants them, the
// statuses it reports (each once, when it changes). emit blocks while gRPC's
// flow control window is full (the host is not receiving), and fails once the
// host has cancelled the call.
func (s *sourceServer) Read(req *pb.ReadRequest, stream pb.Source_ReadServer) error {
	src, release, err := s.source()
	if err != nil {
		return wire.ToStatus(err)
	}
	defer release()
	var from core.Position
	if req.HasFrom {
		from = core.Position(req.From)
		if from == nil {
			from = core.Position{}
		}
	}
	ctx := stream.Context()
	var (
		mu   sync.Mutex // one message at a time: a batch's chunks, or a status
		done bool       // Read has returned: nothing may be sent any more
	)
	rctx := ctx
	if s.statuses {
		var last *string
		rctx = core.WithStatus(ctx, func(status string) {
			mu.Lock()
			defer mu.Unlock()
			if done || (last != nil && *last == status) {
				return
			}
			last = &status
			// A failed send ends the call: the next emit says so.
			stream.SendMsg(&wire.Chunk{Head: &pb.BatchChunk{Status: &status}})
		})
	}
	emit := func(ectx context.Context, b core.Batch) error {
		defer b.Release()
		if err := ctx.Err(); err != nil {
			return err
		}
		if err := ectx.Err(); err != nil {
			return err
		}
		mu.Lock()
		defer mu.Unlock()
		if _, err := wire.SendBatch(b, func(c *wire.Chunk) error { return stream.SendMsg(c) }); err != nil {
			if ctx.Err() != nil {
				return ctx.Err()
			}
			return err
		}
		return nil
	}
	err = src.Read(rctx, req.Unit, from, emit)
	mu.Lock()
	done = true
	mu.Unlock()
	return wire.ToStatus(err)
}

func (s *sourceServer) Ack(ctx context.Context, req *pb.AckRequest) (*pb.AckResponse, error) {
	src, release, err := s.source()
	if err != nil {
		return nil, wire.ToStatus(err)
	}
	defer release()
	pos := core.Position(req.Position)
	if pos == nil {
		pos = core.Position{}
	}
	return &pb.AckResponse{}, wire.ToStatus(src.Ack(ctx, req.Unit, pos))
}

func (s *sourceServer) Close(context.Context, *pb.CloseRequest) (*pb.CloseResponse, error) {
	s.mu.Lock()
	defer s.mu.Unlock()
	defer s.closeConn()
	if s.src == nil {
		return &pb.CloseResponse{}, nil
	}
	err := s.src.Close()
	s.src = nil
	return &pb.CloseResponse{}, wire.ToStatus(err)
}
