package azumio_test

import (
	"context"
	"fmt"
	"path/filepath"
	"slices"
	"sort"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/apache/arrow-go/v18/arrow"
	"github.com/apache/arrow-go/v18/arrow/array"
	"github.com/apache/arrow-go/v18/arrow/memory"

	"github.com/etl-toolkit/etl/core"
	"github.com/etl-toolkit/etl/sources/azumio"
	"github.com/etl-toolkit/etl/sources/azumio/azumiotest"
)

// testConfig returns a config for the emulator srv with a tokens file in dir and
// fast retries.
func testConfig(t *testing.T, srv *azumiotest.Server) azumio.Config {
	t.Helper()
	dir := t.TempDir()
	tokens := filepath.Join(dir, "tokens.json")
	if err := srv.WriteTokens(tokens); err != nil {
		t.Fatal(err)
	}
	cfg := azumio.DefaultConfig()
	cfg.BaseURL = srv.URL()
	cfg.ClientID = srv.ClientID()
	cfg.ClientSecret = srv.ClientSecret()
	cfg.Tokens = tokens
	cfg.RequestsPerSecond = 0
	cfg.Retry = azumio.RetryConfig{Tries: 4, Initial: 5 * time.Millisecond, Max: 50 * time.Millisecond}
	cfg.Timeout = 5 * time.Second
	return cfg
}

// deadLetters collects rejected records.
type deadLetters struct {
	mu   sync.Mutex
	list []core.DeadLetter
}

func (d *deadLetters) Reject(_ context.Context, dl core.DeadLetter) error {
	d.mu.Lock()
	defer d.mu.Unlock()
	d.list = append(d.list, dl)
	return nil
}

func (d *deadLetters) all() []core.DeadLetter {
	d.mu.Lock()
	defer d.mu.Unlock()
	return slices.Clone(d.list)
}

// newSource builds a source on a checked allocator that must be back at zero
// when the test ends (after the source is closed).
func newSource(t *testing.T, cfg azumio.Config, opts ...azumio.Option) *azumio.Source {
	t.Helper()
	mem := memory.NewCheckedAllocator(memory.NewGoAllocator())
	src, err := azumio.NewSource(cfg, append([]azumio.Option{azumio.WithAllocator(mem)}, opts...)...)
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() {
		if err := src.Close(); err != nil {
			t.Errorf("Close: %v", err)
		}
		mem.AssertSize(t, 0)
	})
	return src
}

// result is what one or more Reads emitted, rows by stream.
type result struct {
	batches []core.Batch
	last    map[string]core.Position // unit -> last position
}

func (r *result) release() {
	for _, b := range r.batches {
		b.Release()
	}
	r.batches = nil
}

// readUnits reads every unit of src (from the positions in from) and returns
// what they emitted and the errors by unit. The records are released at the end
// of the test.
func readUnits(t *testing.T, src core.Source, from map[string]core.Position) (*result, map[string]error) {
	t.Helper()
	ctx, cancel := context.WithTimeout(context.Background(), 30*time.Second)
	defer cancel()
	units, err := src.Units(ctx)
	if err != nil {
		t.Fatalf("Units: %v", err)
	}
	res := &result{last: map[string]core.Position{}}
	t.Cleanup(res.release)
	errs := map[string]error{}
	var mu sync.Mutex
	for _, u := range units {
		pos := from[u]
		res.last[u] = pos
		emit := func(_ context.Context, b core.Batch) error {
			mu.Lock()
			defer mu.Unlock()
			if b.Unit != u {
				t.Errorf("batch of unit %q from Read(%s)", b.Unit, u)
			}
			if b.Position == nil {
				t.Errorf("Read(%s): batch of %s without a position", u, b.Stream)
			}
			res.batches = append(res.batches, b)
			res.last[u] = b.Position
			return nil
		}
		if err := src.Read(ctx, u, pos, emit); err != nil {
			errs[u] = err
		}
	}
	return res, errs
}

// rows returns the rows of stream (or of every stream with the prefix when
// stream ends with '.') as maps from column name to a printable value.
func (r *result) rows(stream string) []map[string]string {
	var out []map[string]string
	for _, b := range r.batches {
		if b.Stream != stream && !(strings.HasSuffix(stream, ".") && strings.HasPrefix(b.Stream, stream)) {
			continue
		}
		rec := b.Record
		for i := range int(rec.NumRows()) {
			row := map[string]string{"_stream": b.Stream}
			for c, f := range rec.Schema().Fields() {
				row[f.Name] = valueString(rec.Column(c), i)
			}
			out = append(out, row)
		}
	}
	return out
}

// valueString prints one value: "null", or the value as Arrow prints it, with
// timestamps as UNIX milliseconds.
func valueString(col arrow.Array, i int) string {
	if col.IsNull(i) {
		return "null"
	}
	switch c := col.(type) {
	case *array.Timestamp:
		return fmt.Sprint(int64(c.Value(i)))
	case *array.String:
		return c.Value(i)
	}
	return col.ValueStr(i)
}

// versions returns "user/id/version" of the rows of every check-in stream, sorted.
func (r *result) versions() []string {
	var out []string
	for _, row := range r.rows("azumio.checkins.") {
		out = append(out, row["user_id"]+"/"+row["id"]+"/"+row["version"])
	}
	sort.Strings(out)
	return out
}

// refVersions returns "user/id/version" of refs, sorted.
func refVersions(refs ...[]azumiotest.Ref) []string {
	var out []string
	for _, rs := range refs {
		for _, r := range rs {
			out = append(out, fmt.Sprintf("%s/%s/%d", r.User, r.ID, r.Version))
		}
	}
	sort.Strings(out)
	return out
}

// allRefs returns the current check-ins of every user of srv.
func allRefs(srv *azumiotest.Server) []azumiotest.Ref {
	var out []azumiotest.Ref
	for _, u := range srv.Users() {
		out = append(out, srv.Checkins(u)...)
	}
	return out
}

func diff(got, want []string) string {
	g, w := map[string]bool{}, map[string]bool{}
	for _, s := range got {
		g[s] = true
	}
	for _, s := range want {
		w[s] = true
	}
	var extra, missing []string
	for _, s := range got {
		if !w[s] {
			extra = append(extra, s)
		}
	}
	for _, s := range want {
		if !g[s] {
			missing = append(missing, s)
		}
	}
	dups := len(got) - len(g)
	return fmt.Sprintf("%d rows, want %d; %d duplicates; %d unexpected %q; %d missing %q",
		len(got), len(want), dups, len(extra), extra[:min(len(extra), 5)], len(missing), missing[:min(len(missing), 5)])
}
