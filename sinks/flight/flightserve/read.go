package flightserve

import (
	"context"
	"crypto/sha256"
	"encoding/hex"
	"encoding/json"
	"fmt"
	"os"
	"path/filepath"
	"sort"
	"strings"

	"github.com/apache/arrow-go/v18/arrow"
	aflight "github.com/apache/arrow-go/v18/arrow/flight"
	"github.com/apache/arrow-go/v18/arrow/ipc"
	"github.com/apache/arrow-go/v18/parquet/file"
	"github.com/apache/arrow-go/v18/parquet/pqarrow"
	"google.golang.org/grpc/codes"
	"google.golang.org/grpc/status"

	"github.com/etl-toolkit/etl/sinks/flight/internal/chunk"
)

// readBatchRows is how many rows DoGet reads from Parquet at a time, before
// cutting them to the message limit.
const readBatchRows = 64 << 10

// Ticket is what a FlightInfo's endpoint ticket holds, as JSON: the
// descriptor's directory and the fingerprint of the schema of the files it
// serves (a descriptor whose schema changed has one FlightInfo per schema).
type Ticket struct {
	Dir    string `json:"dir"`
	Schema string `json:"schema"`
}

// flightGroup is the committed files of one directory with one schema.
type flightGroup struct {
	dir    string
	desc   *aflight.FlightDescriptor
	schema *arrow.Schema
	fp     string
	files  []string // absolute, in name (that is, time) order
	rows   int64
	bytes  int64
}

// ListFlights lists one FlightInfo per descriptor received and schema stored,
// by directory. The criteria are ignored.
func (s *Server) ListFlights(_ *aflight.Criteria, stream aflight.FlightService_ListFlightsServer) error {
	groups, err := s.groups("")
	if err != nil {
		return status.Error(codes.Internal, err.Error())
	}
	for _, g := range groups {
		if err := stream.Send(s.info(g)); err != nil {
			return err
		}
	}
	return nil
}

// GetFlightInfo describes what is stored for a descriptor: the files of its
// latest schema.
func (s *Server) GetFlightInfo(_ context.Context, d *aflight.FlightDescriptor) (*aflight.FlightInfo, error) {
	dir, err := DescriptorDir(d)
	if err != nil {
		return nil, status.Error(codes.InvalidArgument, err.Error())
	}
	groups, err := s.groups(dir)
	if err != nil {
		return nil, status.Error(codes.Internal, err.Error())
	}
	if len(groups) == 0 {
		return nil, status.Errorf(codes.NotFound, "nothing stored for %s", dir)
	}
	latest := groups[0]
	for _, g := range groups[1:] {
		if g.files[len(g.files)-1] > latest.files[len(latest.files)-1] {
			latest = g
		}
	}
	return s.info(latest), nil
}

func (s *Server) info(g *flightGroup) *aflight.FlightInfo {
	ticket, _ := json.Marshal(Ticket{Dir: g.dir, Schema: g.fp})
	return &aflight.FlightInfo{
		Schema:           aflight.SerializeSchema(g.schema, s.mem),
		FlightDescriptor: g.desc,
		Endpoint:         []*aflight.FlightEndpoint{{Ticket: &aflight.Ticket{Ticket: ticket}}},
		TotalRecords:     g.rows,
		TotalBytes:       g.bytes,
		Ordered:          true,
	}
}

// DoGet streams back the rows of a ticket's files, in the order they were
// stored, cut to the message limit.
func (s *Server) DoGet(t *aflight.Ticket, stream aflight.FlightService_DoGetServer) error {
	var tk Ticket
	if err := json.Unmarshal(t.GetTicket(), &tk); err != nil || tk.Dir == "" {
		return status.Error(codes.InvalidArgument, "malformed ticket (want one from ListFlights or GetFlightInfo)")
	}
	groups, err := s.groups(tk.Dir)
	if err != nil {
		return status.Error(codes.Internal, err.Error())
	}
	var g *flightGroup
	for _, x := range groups {
		if x.fp == tk.Schema {
			g = x
		}
	}
	if g == nil {
		return status.Errorf(codes.NotFound, "no files of schema %s in %s", tk.Schema, tk.Dir)
	}
	w := aflight.NewRecordWriter(stream, ipc.WithSchema(g.schema), ipc.WithAllocator(s.mem))
	defer w.Close()
	for _, path := range g.files {
		if err := s.sendFile(stream.Context(), w, path); err != nil {
			return err
		}
	}
	return nil
}

func (s *Server) sendFile(ctx context.Context, w *aflight.Writer, path string) error {
	pf, err := file.OpenParquetFile(path, false)
	if err != nil {
		return status.Errorf(codes.Internal, "open %s: %v", path, err)
	}
	defer pf.Close()
	fr, err := pqarrow.NewFileReader(pf, pqarrow.ArrowReadProperties{BatchSize: readBatchRows}, s.mem)
	if err != nil {
		return status.Errorf(codes.Internal, "read %s: %v", path, err)
	}
	rr, err := fr.GetRecordReader(ctx, nil, nil)
	if err != nil {
		return status.Errorf(codes.Internal, "read %s: %v", path, err)
	}
	defer rr.Release()
	lim := chunk.Limits{Bytes: int64(s.opts.MaxMessageBytes) - 512, Mem: s.mem}
	for rr.Next() {
		parts, err := chunk.Split(rr.RecordBatch(), lim)
		if err != nil {
			return status.Errorf(codes.ResourceExhausted, "%s: %v", path, err)
		}
		for i, p := range parts {
			if err == nil {
				err = w.Write(p)
			}
			parts[i].Release()
		}
		if err != nil {
			return err
		}
	}
	if err := rr.Err(); err != nil {
		return status.Errorf(codes.Internal, "read %s: %v", path, err)
	}
	return nil
}

// groups returns the committed files of every descriptor directory (or of
// dir alone), grouped by schema, sorted by directory then first file.
func (s *Server) groups(only string) ([]*flightGroup, error) {
	descs, err := s.store.flights()
	if err != nil {
		return nil, err
	}
	dirs := make([]string, 0, len(descs))
	for d := range descs {
		if only == "" || d == only {
			dirs = append(dirs, d)
		}
	}
	sort.Strings(dirs)
	var out []*flightGroup
	for _, dir := range dirs {
		entries, err := os.ReadDir(filepath.Join(s.dir, dir))
		if err != nil {
			if os.IsNotExist(err) {
				continue
			}
			return nil, fmt.Errorf("flightserve: %w", err)
		}
		byFP := map[string]*flightGroup{}
		for _, e := range entries {
			name := e.Name()
			if e.IsDir() || strings.HasPrefix(name, ".") || !strings.HasSuffix(name, ".parquet") {
				continue
			}
			path := filepath.Join(s.dir, dir, name)
			schema, rows, size, err := s.footer(path)
			if err != nil {
				return nil, err
			}
			fp := fingerprint(schema, s)
			g := byFP[fp]
			if g == nil {
				g = &flightGroup{dir: dir, desc: descs[dir], schema: schema, fp: fp}
				byFP[fp] = g
				out = append(out, g)
			}
			g.files = append(g.files, path)
			g.rows += rows
			g.bytes += size
		}
	}
	return out, nil
}

// footer reads a Parquet file's Arrow schema, row count and size.
func (s *Server) footer(path string) (*arrow.Schema, int64, int64, error) {
	pf, err := file.OpenParquetFile(path, false)
	if err != nil {
		return nil, 0, 0, fmt.Errorf("flightserve: open %s: %w", path, err)
	}
	defer pf.Close()
	schema, err := pqarrow.FromParquet(pf.MetaData().Schema, &pqarrow.ArrowReadProperties{}, pf.MetaData().KeyValueMetadata())
	if err != nil {
		return nil, 0, 0, fmt.Errorf("flightserve: schema of %s: %w", path, err)
	}
	fi, err := os.Stat(path)
	if err != nil {
		return nil, 0, 0, fmt.Errorf("flightserve: %w", err)
	}
	return schema, pf.NumRows(), fi.Size(), nil
}

func fingerprint(schema *arrow.Schema, s *Server) string {
	sum := sha256.Sum256(aflight.SerializeSchema(schema, s.mem))
	return hex.EncodeToString(sum[:8])
}
