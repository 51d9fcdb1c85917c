package server

import (
	"context"
	"errors"
	"io"
	"sync"

	"github.com/hashicorp/go-plugin"

	"github.com/etl-toolkit/etl/core"
	"github.com/etl-toolkit/etl/plugins/internal/wire"
	pb "github.com/etl-toolkit/etl/plugins/proto"
)

// sinkServer serves one core.Sink. The host never calls it concurrently,
// except that the Write stream stays open across the other calls; mu keeps
// the sink's own calls one at a time all the same.
type sinkServer struct {
	pb.UnimplementedSinkServer
	component
	factory core.Factory[core.Sink]
	broker  *plugin.GRPCBroker

	mu   sync.Mutex
	sink core.Sink
}

func (s *sinkServer) Spec(context.Context, *pb.SpecRequest) (*pb.SpecResponse, error) {
	return s.spec(), nil
}

func (s *sinkServer) Configure(ctx context.Context, req *pb.ConfigureRequest) (*pb.ConfigureResponse, error) {
	s.mu.Lock()
	defer s.mu.Unlock()
	sink, _, err := configure(ctx, &s.component, s.broker, req, s.factory, s.sink != nil)
	if err != nil {
		return nil, err
	}
	s.sink = sink
	resp := &pb.ConfigureResponse{}
	if l, ok := sink.(core.Locator); ok {
		resp.Location, resp.Query = l.Location()
	}
	return resp, nil
}

func (s *sinkServer) configured() (core.Sink, error) {
	if s.sink == nil {
		return nil, errNotConfigured
	}
	return s.sink, nil
}

func (s *sinkServer) Check(ctx context.Context, _ *pb.CheckRequest) (*pb.CheckResponse, error) {
	s.mu.Lock()
	defer s.mu.Unlock()
	sink, err := s.configured()
	if err == nil {
		if c, ok := sink.(core.Checker); ok {
			err = c.Check(ctx)
		}
	}
	return &pb.CheckResponse{}, wire.ToStatus(err)
}

// Write reads batches until the host closes its side, writes each one to the
// sink and answers it. One goroutine receives and decodes the next batch while
// another writes the current one (one batch ahead at most, which bounds
// memory), since decoding is a good part of a plugin's work. After a failed
// Write it answers every later batch with the same error without writing it.
func (s *sinkServer) Write(stream pb.Sink_WriteServer) error {
	ctx := stream.Context()
	type decoded struct {
		b   core.Batch
		err error
	}
	next := make(chan decoded, 1)
	recvErr := make(chan error, 1)
	go func() {
		defer close(next)
		var asm wire.Assembler
		defer asm.Reset()
		for {
			c := new(wire.Chunk)
			err := stream.RecvMsg(c)
			if errors.Is(err, io.EOF) {
				recvErr <- nil
				return
			}
			if err != nil {
				recvErr <- err
				return
			}
			complete, err := asm.Add(c)
			if err != nil {
				recvErr <- wire.ToStatus(err)
				return
			}
			if !complete {
				continue
			}
			var d decoded
			d.b, d.err = asm.Batch(wire.RecordPool)
			select {
			case next <- d:
			case <-ctx.Done():
				d.b.Release()
				recvErr <- ctx.Err()
				return
			}
		}
	}()
	var failed *pb.Error
	for d := range next {
		reply := &pb.WriteReply{Error: failed}
		switch {
		case failed != nil:
			d.b.Release()
		case d.err != nil:
			reply.Error = wire.ErrorProto(d.err)
		default:
			reply = s.write(ctx, d.b)
		}
		failed = reply.Error
		if err := stream.Send(reply); err != nil {
			go func() { // the receiver stops once the call is over
				for d := range next {
					d.b.Release()
				}
			}()
			return err
		}
	}
	return <-recvErr
}

// write writes one batch, which it releases, and says how it went.
func (s *sinkServer) write(ctx context.Context, b core.Batch) *pb.WriteReply {
	s.mu.Lock()
	defer s.mu.Unlock()
	sink, err := s.configured()
	if err != nil {
		b.Release()
		return &pb.WriteReply{Error: wire.ErrorProto(err)}
	}
	err = sink.Write(ctx, b)
	b.Release() // the sink only borrowed it
	reply := &pb.WriteReply{Error: wire.ErrorProto(err)}
	if cr, ok := sink.(core.CommitRequester); ok && err == nil {
		reply.CommitWanted = cr.CommitWanted()
	}
	return reply
}

func (s *sinkServer) Prepare(ctx context.Context, _ *pb.PrepareRequest) (*pb.PrepareResponse, error) {
	s.mu.Lock()
	defer s.mu.Unlock()
	sink, err := s.configured()
	if err != nil {
		return nil, wire.ToStatus(err)
	}
	txn, err := sink.Prepare(ctx)
	if err != nil {
		return nil, wire.ToStatus(err)
	}
	return &pb.PrepareResponse{Txn: txn, HasTxn: txn != nil}, nil
}

func (s *sinkServer) Commit(ctx context.Context, req *pb.CommitRequest) (*pb.CommitResponse, error) {
	s.mu.Lock()
	defer s.mu.Unlock()
	sink, err := s.configured()
	if err != nil {
		return nil, wire.ToStatus(err)
	}
	if err := sink.Commit(ctx, req.Txn); err != nil {
		return nil, wire.ToStatus(err)
	}
	resp := &pb.CommitResponse{}
	if st, ok := sink.(core.SinkStats); ok {
		resp.Committed = st.Committed()
	}
	return resp, nil
}

func (s *sinkServer) Close(context.Context, *pb.CloseRequest) (*pb.CloseResponse, error) {
	s.mu.Lock()
	defer s.mu.Unlock()
	defer s.closeConn()
	if s.sink == nil {
		return &pb.CloseResponse{}, nil
	}
	err := s.sink.Close()
	s.sink = nil
	return &pb.CloseResponse{}, wire.ToStatus(err)
}
