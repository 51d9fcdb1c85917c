package flightserve

import (
	"context"
	"io"
	"log/slog"
	"net"
	"os"
	"path/filepath"
	"strconv"
	"strings"
	"testing"

	"github.com/apache/arrow-go/v18/arrow"
	"github.com/apache/arrow-go/v18/arrow/array"
	aflight "github.com/apache/arrow-go/v18/arrow/flight"
	"github.com/apache/arrow-go/v18/arrow/ipc"
	"github.com/apache/arrow-go/v18/arrow/memory"
	"google.golang.org/grpc"
	"google.golang.org/grpc/codes"
	"google.golang.org/grpc/credentials/insecure"
	"google.golang.org/grpc/status"

	"github.com/etl-toolkit/etl/core"
	"github.com/etl-toolkit/etl/sinks/flight"
	"github.com/etl-toolkit/etl/sinks/parquet"
)

var quiet = slog.New(slog.DiscardHandler)

func start(t *testing.T, opts Options) (*Server, aflight.Client) {
	t.Helper()
	if opts.Dir == "" {
		opts.Dir = t.TempDir()
	}
	opts.Logger = quiet
	s, err := New(opts)
	if err != nil {
		t.Fatal(err)
	}
	lis, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	done := make(chan error, 1)
	go func() { done <- s.Serve(lis) }()
	client, err := aflight.NewClientWithMiddleware(lis.Addr().String(), nil, nil, grpc.WithTransportCredentials(insecure.NewCredentials()))
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() {
		client.Close()
		s.Close()
		if err := <-done; err != nil {
			t.Errorf("Serve: %v", err)
		}
	})
	return s, client
}

var (
	schemaA = arrow.NewSchema([]arrow.Field{{Name: "id", Type: arrow.PrimitiveTypes.Int64}, {Name: "name", Type: arrow.BinaryTypes.String, Nullable: true}}, nil)
	schemaB = arrow.NewSchema([]arrow.Field{{Name: "id", Type: arrow.PrimitiveTypes.Int64}}, nil)
)

func rows(mem memory.Allocator, schema *arrow.Schema, first, n int) arrow.RecordBatch {
	b := array.NewRecordBuilder(mem, schema)
	defer b.Release()
	for i := first; i < first+n; i++ {
		b.Field(0).(*array.Int64Builder).Append(int64(i))
		if schema.NumFields() > 1 {
			b.Field(1).(*array.StringBuilder).Append(strings.Repeat("x", i%50))
		}
	}
	return b.NewRecordBatch()
}

// put sends recs on one DoPut with the given app metadata per record (nil:
// none, as a client other than the flight sink), and returns the status.
func put(t *testing.T, client aflight.Client, desc *aflight.FlightDescriptor, recs []arrow.RecordBatch, metas [][]byte) error {
	t.Helper()
	stream, err := client.DoPut(context.Background())
	if err != nil {
		t.Fatal(err)
	}
	w := aflight.NewRecordWriter(stream, ipc.WithSchema(recs[0].Schema()))
	w.SetFlightDescriptor(desc)
	for i, r := range recs {
		var err error
		if metas != nil {
			err = w.WriteWithAppMetadata(r, metas[i])
		} else {
			err = w.Write(r)
		}
		if err != nil {
			break
		}
	}
	w.Close()
	stream.CloseSend()
	for {
		if _, err := stream.Recv(); err != nil {
			if err == io.EOF {
				return nil
			}
			return err
		}
	}
}

func path(p ...string) *aflight.FlightDescriptor {
	return &aflight.FlightDescriptor{Type: aflight.DescriptorPATH, Path: p}
}

// get reads a ticket back and returns the ids, in order.
func get(t *testing.T, client aflight.Client, ticket *aflight.Ticket) []int64 {
	t.Helper()
	stream, err := client.DoGet(context.Background(), ticket)
	if err != nil {
		t.Fatal(err)
	}
	rdr, err := aflight.NewRecordReader(stream)
	if err != nil {
		t.Fatal(err)
	}
	defer rdr.Release()
	var ids []int64
	for rdr.Next() {
		ids = append(ids, rdr.RecordBatch().Column(0).(*array.Int64).Int64Values()...)
	}
	if err := rdr.Err(); err != nil {
		t.Fatal(err)
	}
	return ids
}

func listFlights(t *testing.T, client aflight.Client) []*aflight.FlightInfo {
	t.Helper()
	list, err := client.ListFlights(context.Background(), &aflight.Criteria{})
	if err != nil {
		t.Fatal(err)
	}
	var out []*aflight.FlightInfo
	for {
		info, err := list.Recv()
		if err == io.EOF {
			return out
		}
		if err != nil {
			t.Fatal(err)
		}
		out = append(out, info)
	}
}

func TestDescriptorDir(t *testing.T) {
	tests := []struct {
		desc    *aflight.FlightDescriptor
		want    string
		wantErr bool
	}{
		{path("azumio-nightly", "azumio.checkins.steps"), "azumio-nightly/azumio.checkins.steps", false},
		{path("p", "user/123"), "p/user%2F123", false},
		{path("a=b", "c:d"), "a%3Db/c%3Ad", false},
		{&aflight.FlightDescriptor{Type: aflight.DescriptorCMD, Cmd: []byte("INSERT INTO t")}, "command=INSERT INTO t", false},
		{path(".."), "", true},
		{path("ok", ".hidden"), "", true},
		{path("a", ""), "", true},
		{path(), "", true},
		{path(strings.Repeat("x", 201)), "", true},
		{&aflight.FlightDescriptor{Type: aflight.DescriptorCMD}, "", true},
		{nil, "", true},
	}
	for _, tt := range tests {
		got, err := DescriptorDir(tt.desc)
		if got != tt.want || (err != nil) != tt.wantErr {
			t.Errorf("DescriptorDir(%v): got %q, %v; want %q, error %v", tt.desc, got, err, tt.want, tt.wantErr)
		}
	}
}

// TestListAndGet stores puts of two descriptors, one of which changes
// schema, from a client that sends no app metadata, lists them and reads
// them back cut to a small message limit.
func TestListAndGet(t *testing.T) {
	mem := memory.NewCheckedAllocator(memory.NewGoAllocator())
	defer mem.AssertSize(t, 0)
	_, client := start(t, Options{Mem: mem, MaxMessageBytes: 64 << 10})
	var recs []arrow.RecordBatch
	defer func() {
		for _, r := range recs {
			r.Release()
		}
	}()
	send := func(desc *aflight.FlightDescriptor, schema *arrow.Schema, first, n int) {
		var batch []arrow.RecordBatch
		for lo := first; lo < first+n; lo += 1000 { // messages of at most 1000 rows, about 30 KB
			r := rows(mem, schema, lo, min(1000, first+n-lo))
			recs = append(recs, r)
			batch = append(batch, r)
		}
		if err := put(t, client, desc, batch, nil); err != nil {
			t.Fatal(err)
		}
	}
	send(path("p", "a"), schemaA, 0, 10000) // one file of about 300 KB: several messages back
	send(path("p", "a"), schemaA, 10000, 5)
	send(path("p", "b"), schemaB, 0, 3)
	send(path("p", "a"), schemaB, 0, 7) // a's schema changed

	infos := listFlights(t, client)
	var got []string
	for _, fi := range infos {
		got = append(got, strings.Join(fi.FlightDescriptor.Path, "/")+":"+strconv.FormatInt(fi.TotalRecords, 10))
	}
	if want := "p/a:10005 p/a:7 p/b:3"; strings.Join(got, " ") != want {
		t.Fatalf("ListFlights: got %v, want %s", got, want)
	}
	ids := get(t, client, infos[0].Endpoint[0].Ticket)
	if len(ids) != 10005 || ids[0] != 0 || ids[10004] != 10004 {
		t.Errorf("DoGet p/a: got %d ids, want 0..10004", len(ids))
	}
	for i, id := range ids {
		if id != int64(i) {
			t.Fatalf("DoGet p/a: got id %d at %d, want rows in the order stored", id, i)
		}
	}
	latest, err := client.GetFlightInfo(context.Background(), path("p", "a"))
	if err != nil {
		t.Fatal(err)
	}
	if latest.TotalRecords != 7 {
		t.Errorf("GetFlightInfo p/a: got %d records, want the latest schema's 7", latest.TotalRecords)
	}
	if _, err := client.GetFlightInfo(context.Background(), path("nope")); status.Code(err) != codes.NotFound {
		t.Errorf("GetFlightInfo of nothing: got %v, want NotFound", err)
	}
}

// TestRefused checks puts the server refuses, and that they store nothing.
func TestRefused(t *testing.T) {
	mem := memory.NewCheckedAllocator(memory.NewGoAllocator())
	defer mem.AssertSize(t, 0)
	s, client := start(t, Options{Mem: mem})
	r := rows(mem, schemaB, 0, 3)
	defer r.Release()
	meta := func(put string) []byte {
		return []byte(`{"v":1,"put":"` + put + `","seq":0,"pipeline":"p","stream":"s","unit":"u","part":0,"parts":1}`)
	}
	if err := put(t, client, path("..", "x"), []arrow.RecordBatch{r}, nil); status.Code(err) != codes.InvalidArgument {
		t.Errorf("path ..: got %v, want InvalidArgument", err)
	}
	if err := put(t, client, path("p"), []arrow.RecordBatch{r}, [][]byte{[]byte("not json")}); status.Code(err) != codes.InvalidArgument {
		t.Errorf("bad app metadata: got %v, want InvalidArgument", err)
	}
	// A put id being received on another stream is refused as Unavailable,
	// which the sink retries.
	if err := s.claim("busy"); err != nil {
		t.Fatal(err)
	}
	if err := put(t, client, path("p"), []arrow.RecordBatch{r}, [][]byte{meta("busy")}); status.Code(err) != codes.Unavailable {
		t.Errorf("put in flight elsewhere: got %v, want Unavailable", err)
	}
	s.release("busy")
	if got := s.Stats(); got.Puts != 0 {
		t.Errorf("got %+v, want nothing stored", got)
	}
	if err := put(t, client, path("p"), []arrow.RecordBatch{r}, [][]byte{meta("busy")}); err != nil {
		t.Errorf("the same put once free: got %v, want success", err)
	}
}

// TestBrokenPutStoresNothing cancels a put half-way: no file appears, and no
// temp file is left behind.
func TestBrokenPutStoresNothing(t *testing.T) {
	mem := memory.NewCheckedAllocator(memory.NewGoAllocator())
	defer mem.AssertSize(t, 0)
	s, client := start(t, Options{Mem: mem})
	r := rows(mem, schemaA, 0, 100)
	defer r.Release()
	ctx, cancel := context.WithCancel(context.Background())
	stream, err := client.DoPut(ctx)
	if err != nil {
		t.Fatal(err)
	}
	w := aflight.NewRecordWriter(stream, ipc.WithSchema(schemaA))
	w.SetFlightDescriptor(path("p", "broken"))
	for range 3 {
		if err := w.Write(r); err != nil {
			t.Fatal(err)
		}
	}
	w.Close()
	cancel()
	for {
		if _, err := stream.Recv(); err != nil {
			break
		}
	}
	s.GracefulStop() // waits for the DoPut handler to return
	var found []string
	filepath.WalkDir(s.Dir(), func(p string, d os.DirEntry, err error) error {
		if err == nil && !d.IsDir() && filepath.Base(p) != StoreFile {
			found = append(found, p)
		}
		return nil
	})
	if len(found) > 0 || s.Stats().Puts != 0 {
		t.Errorf("got files %v and %+v, want nothing stored", found, s.Stats())
	}
}

// TestRecover simulates a crash after a put was recorded but before its
// files were renamed into place: the next server completes it, and knows
// the put.
func TestRecover(t *testing.T) {
	mem := memory.NewCheckedAllocator(memory.NewGoAllocator())
	defer mem.AssertSize(t, 0)
	dir := t.TempDir()
	s, err := New(Options{Dir: dir, Mem: mem, Logger: quiet})
	if err != nil {
		t.Fatal(err)
	}
	cfg := parquet.DefaultConfig()
	cfg.Path, cfg.PartitionBy = filepath.Join(dir, "p", "s"), nil
	sink, err := parquet.NewSink(cfg, mem)
	if err != nil {
		t.Fatal(err)
	}
	r := rows(mem, schemaB, 0, 42)
	defer r.Release()
	if err := sink.Write(context.Background(), core.Batch{Stream: "s", Record: r}); err != nil {
		t.Fatal(err)
	}
	txn, err := sink.Prepare(context.Background())
	if err != nil {
		t.Fatal(err)
	}
	if err := s.store.record("put-1", "p/s", path("p", "s"), nil, txn); err != nil {
		t.Fatal(err)
	}
	sink.Close()
	s.Close() // the crash: files prepared, recorded, not renamed

	s2, client := start(t, Options{Dir: dir, Mem: mem})
	infos := listFlights(t, client)
	if len(infos) != 1 || infos[0].TotalRecords != 42 {
		t.Fatalf("after recovery: got %v, want one flight of 42 rows", infos)
	}
	if dup, err := s2.store.putCommitted("put-1"); err != nil || !dup {
		t.Errorf("putCommitted(put-1): got %v, %v; want true", dup, err)
	}
	if p, err := s2.store.pending(); err != nil || len(p) != 0 {
		t.Errorf("pending after recovery: got %v, %v; want none", p, err)
	}
}

// TestPositionsKept checks that the store keeps the last MaxPositions
// positions of a key, so dedup works for recent batches and memory stays
// bounded.
func TestPositionsKept(t *testing.T) {
	st, err := openStore(filepath.Join(t.TempDir(), StoreFile))
	if err != nil {
		t.Fatal(err)
	}
	defer st.close()
	k := posKey{Dir: "p/s", Pipeline: "p", Stream: "s", Unit: "u"}
	var pos []committedPosition
	for i := range MaxPositions + 10 {
		pos = append(pos, committedPosition{key: k, pos: []byte(strconv.Itoa(i))})
	}
	if err := st.record("x", "p/s", path("p", "s"), pos, nil); err != nil {
		t.Fatal(err)
	}
	for _, tt := range []struct {
		pos  string
		want bool
	}{{"0", false}, {"9", false}, {"10", true}, {strconv.Itoa(MaxPositions + 9), true}, {"nope", false}} {
		got, err := st.positionCommitted(k, []byte(tt.pos))
		if err != nil || got != tt.want {
			t.Errorf("positionCommitted(%s): got %v, %v; want %v", tt.pos, got, err, tt.want)
		}
	}
	other := k
	other.Unit = "v"
	if got, _ := st.positionCommitted(other, []byte("10")); got {
		t.Errorf("another unit: got committed, want not")
	}
}

// TestSinkMetadataRoundTrip checks that app metadata made by the flight sink's
// type parses here, the wire contract between the two packages.
func TestSinkMetadataRoundTrip(t *testing.T) {
	m, err := flight.ParseAppMetadata([]byte(`{"v":1,"put":"a-1","seq":3,"pipeline":"p","stream":"s","unit":"u","position":"AAE=","part":1,"parts":2}`))
	if err != nil {
		t.Fatal(err)
	}
	if m.Put != "a-1" || m.Seq != 3 || string(m.Position) != "\x00\x01" || m.Part != 1 || m.Parts != 2 {
		t.Errorf("got %+v", m)
	}
	for _, bad := range []string{`{"v":2,"put":"a","parts":1}`, `{"v":1,"parts":1}`, `{"v":1,"put":"a","part":1,"parts":1}`} {
		if _, err := flight.ParseAppMetadata([]byte(bad)); err == nil {
			t.Errorf("ParseAppMetadata(%s): got no error", bad)
		}
	}
}
