package flight_test

import (
	"context"
	"encoding/binary"
	"errors"
	"net"
	"slices"
	"strings"
	"sync/atomic"
	"testing"
	"time"

	"github.com/apache/arrow-go/v18/arrow"
	aflight "github.com/apache/arrow-go/v18/arrow/flight"
	"github.com/apache/arrow-go/v18/arrow/memory"
	"google.golang.org/grpc"
	"google.golang.org/grpc/codes"
	"google.golang.org/grpc/status"

	"github.com/etl-toolkit/etl/core"
	"github.com/etl-toolkit/etl/core/coretest"
	"github.com/etl-toolkit/etl/sinks/flight"
	"github.com/etl-toolkit/etl/sinks/flight/flightserve"
)

// sample returns n sample batches of rows rows for unit, and their records
// (retained once more) to compare with; the caller releases both.
func sample(mem memory.Allocator, unit string, n, rows int) []core.Batch {
	return coretest.SampleBatches(mem, unit, n, rows)
}

func records(bs []core.Batch) []arrow.RecordBatch {
	out := make([]arrow.RecordBatch, len(bs))
	for i, b := range bs {
		out[i] = b.Record
	}
	return out
}

func releaseBatches(bs []core.Batch) {
	for _, b := range bs {
		b.Release()
	}
}

func write(t testing.TB, s core.Sink, bs ...core.Batch) {
	t.Helper()
	for i, b := range bs {
		if err := s.Write(context.Background(), b); err != nil {
			t.Fatalf("Write(batch %d): %v", i, err)
		}
	}
}

func prepare(t testing.TB, s core.Sink) {
	t.Helper()
	txn, err := s.Prepare(context.Background())
	if err != nil {
		t.Fatalf("Prepare: %v", err)
	}
	if txn != nil {
		t.Fatalf("Prepare: got transaction %q, want nil", txn)
	}
}

// TestServerRestart stops the server hard while a put is open, between
// writes, and starts a new one on the same address and directory: the sink
// retries, sends the put again, and the server ends up with every row once.
// With basic auth, the new server has forgotten the token the handshake gave,
// and the sink does the handshake again.
func TestServerRestart(t *testing.T) {
	t.Setenv("TEST_FLIGHT_PASSWORD", "pw")
	for _, tt := range []struct {
		name  string
		users map[string]string
		auth  flight.AuthConfig
	}{
		{"no auth", nil, flight.AuthConfig{}},
		{"basic auth", map[string]string{"ingest": "pw"}, flight.AuthConfig{Username: "ingest", PasswordEnv: "TEST_FLIGHT_PASSWORD"}},
	} {
		t.Run(tt.name, func(t *testing.T) {
			mem := memory.NewCheckedAllocator(memory.NewGoAllocator())
			defer mem.AssertSize(t, 0)
			dir := t.TempDir()
			lis, err := net.Listen("tcp", "127.0.0.1:0")
			if err != nil {
				t.Fatal(err)
			}
			addr := lis.Addr().String()
			opts := flightserve.Options{Dir: dir, Users: tt.users}
			first := serveOn(t, lis, opts)
			s := newSink(t, addr, mem, func(c *flight.Config) { c.Auth = tt.auth })
			defer s.Close()

			batches := sample(mem, "unit-a", 6, 500)
			defer releaseBatches(batches)
			write(t, s, batches[:2]...)
			prepare(t, s) // batches 0-1 acknowledged
			write(t, s, batches[2:4]...)

			// The server goes away with batches 2-3 on an open put, and comes
			// back 300ms later; meanwhile the sink's writes fail and are retried.
			if err := first.Close(); err != nil {
				t.Fatal(err)
			}
			restarted := make(chan *flightserve.Server, 1)
			go func() {
				time.Sleep(300 * time.Millisecond)
				lis, err := net.Listen("tcp", addr)
				if err != nil {
					t.Error(err)
					restarted <- nil
					return
				}
				restarted <- serveOn(t, lis, opts)
			}()
			write(t, s, batches[4:]...)
			prepare(t, s)
			second := <-restarted
			if second == nil {
				t.FailNow()
			}
			if got := second.Stats(); got.Rows != 2000 || got.SkippedRows != 0 {
				t.Errorf("restarted server: got %+v, want 2000 rows (batches 2-5) and none skipped", got)
			}
			if n := s.Committed(); n != 2 {
				t.Errorf("got %d puts committed, want 2", n)
			}
			if tt.users != nil {
				return // readBack has no credentials
			}
			got := readBack(t, addr, mem, "test", coretest.SampleStream)
			defer release(got)
			sameRowsParquet(t, mem, got, records(batches))
		})
	}
}

// TestLostAcknowledgement makes the server answer Unavailable after it has
// stored a put, as when the connection drops just before the OK arrives:
// the sink sends the put again and the server, knowing its id, stores nothing
// twice.
func TestLostAcknowledgement(t *testing.T) {
	mem := memory.NewCheckedAllocator(memory.NewGoAllocator())
	defer mem.AssertSize(t, 0)
	var lost atomic.Bool
	dropFirstAck := func(srv any, ss grpc.ServerStream, info *grpc.StreamServerInfo, handler grpc.StreamHandler) error {
		err := handler(srv, ss)
		if err == nil && strings.HasSuffix(info.FullMethod, "/DoPut") && lost.CompareAndSwap(false, true) {
			return status.Error(codes.Unavailable, "connection lost (test)")
		}
		return err
	}
	srv, addr := serve(t, flightserve.Options{GRPCOptions: []grpc.ServerOption{grpc.ChainStreamInterceptor(dropFirstAck)}})
	s := newSink(t, addr, mem, nil)
	defer s.Close()
	batches := sample(mem, "unit-a", 3, 200)
	defer releaseBatches(batches)
	write(t, s, batches...)
	prepare(t, s)
	if got := srv.Stats(); got.Puts != 1 || got.DuplicatePuts != 1 || got.Rows != 600 {
		t.Errorf("got %+v, want 1 put of 600 rows stored and 1 duplicate", got)
	}
	got := readBack(t, addr, mem, "test", coretest.SampleStream)
	defer release(got)
	sameRowsParquet(t, mem, got, records(batches))
}

// TestRerunAfterCrash sends batches that an earlier run already delivered
// (a crash after the acknowledgement, before the runner saved its
// positions, makes the next run read them again): the server recognises
// them by position and skips them.
func TestRerunAfterCrash(t *testing.T) {
	mem := memory.NewCheckedAllocator(memory.NewGoAllocator())
	defer mem.AssertSize(t, 0)
	srv, addr := serve(t, flightserve.Options{})
	batches := sample(mem, "unit-a", 5, 100)
	defer releaseBatches(batches)

	run1 := newSink(t, addr, mem, nil)
	write(t, run1, batches[:3]...)
	prepare(t, run1)
	run1.Close() // the process dies before saving the positions after batch 2

	run2 := newSink(t, addr, mem, nil) // resumes after batch 0, the last saved position
	defer run2.Close()
	write(t, run2, batches[1:]...)
	prepare(t, run2)
	if got := srv.Stats(); got.Rows != 500 || got.SkippedRows != 200 {
		t.Errorf("got %+v, want 500 rows stored and batches 1-2 (200 rows) skipped", got)
	}
	got := readBack(t, addr, mem, "test", coretest.SampleStream)
	defer release(got)
	sameRowsParquet(t, mem, got, records(batches))
}

// TestRetries checks which server errors are retried and how the sink stops
// on the others.
func TestRetries(t *testing.T) {
	tests := []struct {
		name         string
		fail         func(attempt int) error
		maxElapsed   time.Duration
		wantErr      string // "" for success
		wantAttempts int
		transient    bool // the error wraps core.ErrTransient
	}{
		{"unavailable twice", func(a int) error {
			if a < 2 {
				return status.Error(codes.Unavailable, "restarting")
			}
			return nil
		}, 5 * time.Second, "", 3, false},
		{"permission denied", func(int) error {
			return status.Error(codes.PermissionDenied, "descriptor test/coretest.sample is read-only")
		}, 5 * time.Second, "PermissionDenied: descriptor test/coretest.sample is read-only", 1, false},
		{"invalid argument", func(int) error {
			return status.Error(codes.InvalidArgument, "bad schema")
		}, 5 * time.Second, "InvalidArgument: bad schema", 1, false},
		{"unavailable for good", func(int) error {
			return status.Error(codes.Unavailable, "down for maintenance")
		}, 300 * time.Millisecond, "Unavailable: down for maintenance (still failing after retry.max_elapsed 300ms)", -1, true},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			mem := memory.NewCheckedAllocator(memory.NewGoAllocator())
			defer mem.AssertSize(t, 0)
			srv, addr := serveCapture(t, mem)
			srv.fail = tt.fail
			s := newSink(t, addr, mem, func(c *flight.Config) { c.Retry.MaxElapsed = tt.maxElapsed })
			defer s.Close()
			batches := sample(mem, "unit-a", 3, 100)
			defer releaseBatches(batches)
			err := putAll(s, batches)
			switch {
			case tt.wantErr == "" && err != nil:
				t.Fatalf("got %v, want success", err)
			case tt.wantErr != "" && (err == nil || !strings.Contains(err.Error(), tt.wantErr)):
				t.Fatalf("got %v, want an error with %q", err, tt.wantErr)
			}
			if got := errors.Is(err, core.ErrTransient); got != tt.transient {
				t.Errorf("errors.Is(err, core.ErrTransient): got %v, want %v", got, tt.transient)
			}
			if tt.wantAttempts > 0 && srv.attempts != tt.wantAttempts {
				t.Errorf("got %d DoPut attempts, want %d", srv.attempts, tt.wantAttempts)
			}
			if tt.wantErr == "" {
				sameRows(t, mem, srv.records(), records(batches))
				return
			}
			// The sink is unusable after a failure.
			if err2 := s.Write(context.Background(), batches[0]); err2 == nil {
				t.Errorf("Write after a failure: got nil, want the failure")
			}
		})
	}
}

// putAll writes bs and prepares, returning the first error.
func putAll(s core.Sink, bs []core.Batch) error {
	for _, b := range bs {
		if err := s.Write(context.Background(), b); err != nil {
			return err
		}
	}
	_, err := s.Prepare(context.Background())
	return err
}

// TestDescriptors checks the descriptor templates and that a schema change
// starts a new put.
func TestDescriptors(t *testing.T) {
	mem := memory.NewCheckedAllocator(memory.NewGoAllocator())
	defer mem.AssertSize(t, 0)
	tests := []struct {
		name string
		edit func(*flight.Config)
		want []string // each put's descriptor, sorted
	}{
		{"default path", nil, []string{"path [test coretest.sample]"}},
		{"path with unit", func(c *flight.Config) { c.Path = []string{"exports", "{pipeline}", "{stream}", "{unit}"} },
			[]string{"path [exports test coretest.sample unit-a]", "path [exports test coretest.sample unit-b]"}},
		{"command", func(c *flight.Config) { c.Command = "INSERT INTO {stream} -- {unit}" },
			[]string{"cmd INSERT INTO coretest.sample -- unit-a", "cmd INSERT INTO coretest.sample -- unit-b"}},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			srv, addr := serveCapture(t, mem)
			s := newSink(t, addr, mem, tt.edit)
			a, b := sample(mem, "unit-a", 2, 10), sample(mem, "unit-b", 1, 10)
			defer releaseBatches(a)
			defer releaseBatches(b)
			write(t, s, a[0], b[0], a[1])
			prepare(t, s)
			s.Close()
			var got []string
			for _, p := range srv.puts {
				if p.desc.GetType() == aflight.DescriptorCMD {
					got = append(got, "cmd "+string(p.desc.GetCmd()))
				} else {
					got = append(got, "path ["+strings.Join(p.desc.GetPath(), " ")+"]")
				}
			}
			slices.Sort(got) // the server finishes puts in any order
			if strings.Join(got, "\n") != strings.Join(tt.want, "\n") {
				t.Errorf("got puts\n%s\nwant\n%s", strings.Join(got, "\n"), strings.Join(tt.want, "\n"))
			}
			srv.close()
		})
	}

	t.Run("schema change", func(t *testing.T) {
		srv, addr := serveCapture(t, mem)
		s := newSink(t, addr, mem, nil)
		defer s.Close()
		old := sample(mem, "unit-a", 1, 10)
		defer releaseBatches(old)
		newer := typedBatch(mem, 0, 10)
		defer newer.Release()
		write(t, s, old[0], core.Batch{Stream: coretest.SampleStream, Unit: "unit-a", Record: newer})
		if len(srv.puts) != 1 {
			t.Fatalf("after the schema changed: got %d puts finished, want 1 (the old schema's)", len(srv.puts))
		}
		prepare(t, s)
		if len(srv.puts) != 2 || !srv.puts[1].recs[0].Schema().Equal(allTypes) {
			t.Fatalf("got %d puts, want 2, the second with the new schema", len(srv.puts))
		}
	})
}

// TestMetadata checks the app metadata of each message: put id, sequence,
// provenance, and the position on every part of a split batch.
func TestMetadata(t *testing.T) {
	mem := memory.NewCheckedAllocator(memory.NewGoAllocator())
	defer mem.AssertSize(t, 0)
	srv, addr := serveCapture(t, mem)
	s := newSink(t, addr, mem, func(c *flight.Config) { c.BatchRows = 40 })
	defer s.Close()
	bs := sample(mem, "unit-a", 2, 100) // 100 rows: 3 parts of at most 40
	defer releaseBatches(bs)
	write(t, s, bs...)
	prepare(t, s)
	metas := srv.puts[0].metas
	if len(metas) != 6 {
		t.Fatalf("got %d messages, want 6", len(metas))
	}
	for i, m := range metas {
		batch := i / 3
		want := flight.AppMetadata{Version: 1, Put: metas[0].Put, Seq: int64(i), Pipeline: "test", Stream: coretest.SampleStream,
			Unit: "unit-a", Position: binary.BigEndian.AppendUint64(nil, uint64((batch+1)*100)), Part: i % 3, Parts: 3}
		if m.Put == "" || m.Put != want.Put || m.Seq != want.Seq || m.Pipeline != want.Pipeline || m.Stream != want.Stream ||
			m.Unit != want.Unit || string(m.Position) != string(want.Position) || m.Part != want.Part || m.Parts != want.Parts {
			t.Errorf("message %d: got %+v, want %+v", i, m, want)
		}
	}
}

// TestCommitWanted checks that the batches kept for resending ask for a
// commit once they reach buffer_bytes, and no longer after it.
func TestCommitWanted(t *testing.T) {
	mem := memory.NewCheckedAllocator(memory.NewGoAllocator())
	defer mem.AssertSize(t, 0)
	_, addr := serveCapture(t, mem)
	s := newSink(t, addr, mem, func(c *flight.Config) { c.BufferBytes = 20 << 10 })
	defer s.Close()
	bs := sample(mem, "unit-a", 4, 200)
	defer releaseBatches(bs)
	var got []bool
	for _, b := range bs {
		write(t, s, b)
		got = append(got, s.CommitWanted())
	}
	prepare(t, s)
	got = append(got, s.CommitWanted())
	if want := []bool{false, true, true, true, false}; !equalBools(got, want) {
		t.Errorf("CommitWanted after each write, then after Prepare: got %v, want %v", got, want)
	}
}

func equalBools(a, b []bool) bool {
	if len(a) != len(b) {
		return false
	}
	for i := range a {
		if a[i] != b[i] {
			return false
		}
	}
	return true
}
