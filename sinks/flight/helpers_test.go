package flight_test

import (
	"context"
	"errors"
	"io"
	"log/slog"
	"net"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/apache/arrow-go/v18/arrow"
	"github.com/apache/arrow-go/v18/arrow/array"
	aflight "github.com/apache/arrow-go/v18/arrow/flight"
	"github.com/apache/arrow-go/v18/arrow/ipc"
	"github.com/apache/arrow-go/v18/arrow/memory"
	"google.golang.org/grpc"
	"google.golang.org/grpc/codes"
	"google.golang.org/grpc/credentials/insecure"
	"google.golang.org/grpc/metadata"
	"google.golang.org/grpc/status"
	"google.golang.org/protobuf/proto"

	"github.com/etl-toolkit/etl/sinks/flight"
	"github.com/etl-toolkit/etl/sinks/flight/flightserve"
)

// quiet is a logger that drops everything, for servers and sinks in tests.
var quiet = slog.New(slog.DiscardHandler)

// serve runs a flightserve.Server on a fresh 127.0.0.1 port until the test ends.
func serve(t testing.TB, opts flightserve.Options) (*flightserve.Server, string) {
	t.Helper()
	lis, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	return serveOn(t, lis, opts), lis.Addr().String()
}

// serveOn runs a flightserve.Server on lis until the test ends (or it is closed).
func serveOn(t testing.TB, lis net.Listener, opts flightserve.Options) *flightserve.Server {
	t.Helper()
	if opts.Dir == "" {
		opts.Dir = t.TempDir()
	}
	if opts.Logger == nil {
		opts.Logger = quiet
	}
	srv, err := flightserve.New(opts)
	if err != nil {
		t.Fatal(err)
	}
	done := make(chan error, 1)
	go func() { done <- srv.Serve(lis) }()
	t.Cleanup(func() {
		srv.Close()
		if err := <-done; err != nil {
			t.Errorf("Serve: %v", err)
		}
	})
	return srv
}

// newSink returns a sink for cfg (on top of DefaultConfig) sending to addr,
// closed when the test ends.
func newSink(t testing.TB, addr string, mem memory.Allocator, edit func(*flight.Config)) *flight.Sink {
	t.Helper()
	cfg := flight.DefaultConfig()
	cfg.Location = "grpc://" + addr
	cfg.Retry.Initial, cfg.Retry.Max, cfg.Retry.MaxElapsed = 20*time.Millisecond, 200*time.Millisecond, 10*time.Second
	if edit != nil {
		edit(&cfg)
	}
	s, err := flight.NewSink(cfg, flight.Options{Pipeline: "test", Mem: mem, Logger: quiet})
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { s.Close() })
	return s
}

// readBack lists what the server at addr stores and reads every flight whose
// descriptor path is path back with DoGet, in order; the caller releases the
// records.
func readBack(t testing.TB, addr string, mem memory.Allocator, path ...string) []arrow.RecordBatch {
	t.Helper()
	client, err := aflight.NewClientWithMiddleware(addr, nil, nil, grpc.WithTransportCredentials(insecure.NewCredentials()))
	if err != nil {
		t.Fatal(err)
	}
	defer client.Close()
	ctx := context.Background()
	list, err := client.ListFlights(ctx, &aflight.Criteria{})
	if err != nil {
		t.Fatal(err)
	}
	var out []arrow.RecordBatch
	for {
		info, err := list.Recv()
		if err == io.EOF {
			break
		}
		if err != nil {
			t.Fatalf("ListFlights: %v", err)
		}
		if !equalPath(info.FlightDescriptor.GetPath(), path) {
			continue
		}
		for _, ep := range info.Endpoint {
			out = append(out, doGet(t, client, ep.Ticket, mem)...)
		}
	}
	return out
}

func equalPath(a, b []string) bool {
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

func doGet(t testing.TB, client aflight.Client, ticket *aflight.Ticket, mem memory.Allocator) []arrow.RecordBatch {
	t.Helper()
	stream, err := client.DoGet(context.Background(), ticket)
	if err != nil {
		t.Fatal(err)
	}
	rdr, err := aflight.NewRecordReader(stream, ipc.WithAllocator(mem))
	if err != nil {
		t.Fatalf("DoGet: %v", err)
	}
	defer rdr.Release()
	var out []arrow.RecordBatch
	for rdr.Next() {
		rec := rdr.RecordBatch()
		rec.Retain()
		out = append(out, rec)
	}
	if err := rdr.Err(); err != nil {
		t.Fatalf("DoGet: %v", err)
	}
	return out
}

// concat joins records of one schema into one, on mem; nil for none.
func concat(t testing.TB, mem memory.Allocator, recs []arrow.RecordBatch) arrow.RecordBatch {
	t.Helper()
	if len(recs) == 0 {
		return nil
	}
	schema := recs[0].Schema()
	cols := make([]arrow.Array, schema.NumFields())
	var rows int64
	for _, r := range recs {
		rows += r.NumRows()
	}
	for i := range cols {
		parts := make([]arrow.Array, len(recs))
		for j, r := range recs {
			parts[j] = r.Column(i)
		}
		c, err := array.Concatenate(parts, mem)
		if err != nil {
			t.Fatal(err)
		}
		cols[i] = c
	}
	rec := array.NewRecordBatch(schema, cols, rows)
	for _, c := range cols {
		c.Release()
	}
	return rec
}

// sameRows fails t unless got holds exactly the rows of want, in order,
// whatever the batch boundaries, with the same schema (field metadata too).
func sameRows(t testing.TB, mem memory.Allocator, got, want []arrow.RecordBatch) {
	t.Helper()
	g, w := joinRows(t, mem, got, want)
	if g == nil {
		return
	}
	defer g.Release()
	defer w.Release()
	if !g.Schema().Equal(w.Schema()) {
		t.Fatalf("got schema\n%s\nwant\n%s", g.Schema(), w.Schema())
	}
	for i := range w.NumCols() {
		if !array.Equal(g.Column(int(i)), w.Column(int(i))) {
			t.Errorf("column %q differs:\ngot  %s\nwant %s", w.Schema().Field(int(i)).Name, g.Column(int(i)), w.Column(int(i)))
		}
	}
}

// sameRowsParquet is sameRows for records that went through Parquet and
// pqarrow, which adds PARQUET:field_id metadata and names list elements
// "element": it compares field names, nullability, the other field metadata
// and the values as JSON.
func sameRowsParquet(t testing.TB, mem memory.Allocator, got, want []arrow.RecordBatch) {
	t.Helper()
	g, w := joinRows(t, mem, got, want)
	if g == nil {
		return
	}
	defer g.Release()
	defer w.Release()
	gf, wf := g.Schema().Fields(), w.Schema().Fields()
	if len(gf) != len(wf) {
		t.Fatalf("got %d fields, want %d:\n%s", len(gf), len(wf), g.Schema())
	}
	for i := range wf {
		var md []string
		for j, k := range gf[i].Metadata.Keys() {
			if !strings.HasPrefix(k, "PARQUET:") {
				md = append(md, k+"="+gf[i].Metadata.Values()[j])
			}
		}
		var wantMD []string
		for j, k := range wf[i].Metadata.Keys() {
			wantMD = append(wantMD, k+"="+wf[i].Metadata.Values()[j])
		}
		if gf[i].Name != wf[i].Name || gf[i].Nullable != wf[i].Nullable || strings.Join(md, ",") != strings.Join(wantMD, ",") {
			t.Errorf("field %d: got %s %v nullable=%v, want %s %v nullable=%v", i, gf[i].Name, md, gf[i].Nullable, wf[i].Name, wantMD, wf[i].Nullable)
		}
	}
	gj, err := g.MarshalJSON()
	if err != nil {
		t.Fatal(err)
	}
	wj, err := w.MarshalJSON()
	if err != nil {
		t.Fatal(err)
	}
	if string(gj) != string(wj) {
		t.Errorf("rows differ:\ngot  %.2000s\nwant %.2000s", gj, wj)
	}
}

// joinRows checks the row counts and concatenates each side (nil, nil when
// both are empty).
func joinRows(t testing.TB, mem memory.Allocator, got, want []arrow.RecordBatch) (arrow.RecordBatch, arrow.RecordBatch) {
	t.Helper()
	var gotRows, wantRows int64
	for _, r := range got {
		gotRows += r.NumRows()
	}
	for _, r := range want {
		wantRows += r.NumRows()
	}
	if gotRows != wantRows {
		t.Fatalf("got %d rows, want %d", gotRows, wantRows)
	}
	if gotRows == 0 {
		return nil, nil
	}
	return concat(t, mem, got), concat(t, mem, want)
}

func release(recs []arrow.RecordBatch) {
	for _, r := range recs {
		r.Release()
	}
}

// captureServer is a Flight server for tests that keeps, in memory, the
// records of every put that ends cleanly, and can be told to fail.
type captureServer struct {
	aflight.BaseFlightServer
	mem memory.Allocator

	mu       sync.Mutex
	puts     []capturedPut
	attempts int
	maxMsg   int // the largest message received
	headers  metadata.MD
	wire     int64 // bytes received
	// fail, if set, is called at the start of each DoPut with its attempt
	// number (from 0); a non-nil error ends the put with it.
	fail func(attempt int) error
	// discard drops the records instead of keeping them (benchmarks).
	discard bool
}

type capturedPut struct {
	desc  *aflight.FlightDescriptor
	recs  []arrow.RecordBatch
	metas []flight.AppMetadata
}

func (c *captureServer) DoPut(stream aflight.FlightService_DoPutServer) error {
	c.mu.Lock()
	attempt := c.attempts
	c.attempts++
	c.headers, _ = metadata.FromIncomingContext(stream.Context())
	fail := c.fail
	c.mu.Unlock()
	if fail != nil {
		if err := fail(attempt); err != nil {
			return err
		}
	}
	rdr, err := aflight.NewRecordReader(measured{stream, c}, ipc.WithAllocator(c.mem))
	if err != nil {
		return err
	}
	defer rdr.Release()
	p := capturedPut{desc: rdr.LatestFlightDescriptor()}
	for rdr.Next() {
		if c.discard {
			continue
		}
		rec := rdr.RecordBatch()
		rec.Retain()
		p.recs = append(p.recs, rec)
		m, err := flight.ParseAppMetadata(rdr.LatestAppMetadata())
		if err != nil {
			release(p.recs)
			return status.Error(codes.InvalidArgument, err.Error())
		}
		p.metas = append(p.metas, m)
	}
	if err := rdr.Err(); err != nil {
		release(p.recs)
		return err
	}
	c.mu.Lock()
	c.puts = append(c.puts, p)
	c.mu.Unlock()
	return stream.Send(&aflight.PutResult{AppMetadata: []byte(`{"ok":true}`)})
}

// measured counts the messages a captureServer receives.
type measured struct {
	aflight.FlightService_DoPutServer
	c *captureServer
}

func (m measured) Recv() (*aflight.FlightData, error) {
	fd, err := m.FlightService_DoPutServer.Recv()
	if err == nil {
		n := proto.Size(fd)
		m.c.mu.Lock()
		m.c.maxMsg = max(m.c.maxMsg, n)
		m.c.wire += int64(n)
		m.c.mu.Unlock()
	}
	return fd, err
}

// records returns every record received in puts that ended cleanly, in order.
func (c *captureServer) records() []arrow.RecordBatch {
	c.mu.Lock()
	defer c.mu.Unlock()
	var out []arrow.RecordBatch
	for _, p := range c.puts {
		out = append(out, p.recs...)
	}
	return out
}

func (c *captureServer) close() {
	c.mu.Lock()
	defer c.mu.Unlock()
	for _, p := range c.puts {
		release(p.recs)
	}
	c.puts = nil
}

// serveCapture runs a captureServer on 127.0.0.1 with the given gRPC options
// until the test ends.
func serveCapture(t testing.TB, mem memory.Allocator, opts ...grpc.ServerOption) (*captureServer, string) {
	t.Helper()
	c := &captureServer{mem: mem}
	lis, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	srv := grpc.NewServer(opts...)
	aflight.RegisterFlightServiceServer(srv, c)
	done := make(chan error, 1)
	go func() { done <- srv.Serve(lis) }()
	t.Cleanup(func() {
		srv.Stop()
		if err := <-done; err != nil && !errors.Is(err, grpc.ErrServerStopped) {
			t.Errorf("Serve: %v", err)
		}
		c.close()
	})
	return c, lis.Addr().String()
}
