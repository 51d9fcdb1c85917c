package files

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"os"
	"path/filepath"
	"reflect"
	"regexp"
	"strings"
	"testing"
	"time"

	"github.com/apache/arrow-go/v18/arrow"
	"github.com/apache/arrow-go/v18/arrow/memory"

	"github.com/etl-toolkit/etl/core"
	"github.com/etl-toolkit/etl/core/coretest"
)

func newSink(t *testing.T, opts Options, f Format) *Sink {
	t.Helper()
	if opts.Path == "" {
		opts.Path = t.TempDir()
	}
	s, err := New(opts, f)
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { s.Close() })
	return s
}

var (
	finalName = regexp.MustCompile(`^part-\d{8}T\d{6}\.\d{6}Z-[0-9a-f]{8}-\d{6}\.txt$`)
	tempName_ = regexp.MustCompile(`^\.part-\d{8}T\d{6}\.\d{6}Z-[0-9a-f]{8}-\d{6}\.txt\.tmp$`)
)

func TestWritePrepareCommit(t *testing.T) {
	mem := memory.NewCheckedAllocator(memory.NewGoAllocator())
	defer mem.AssertSize(t, 0)
	s := newSink(t, Options{PartitionBy: []string{"stream", "date"}, Mem: mem}, lines{})
	write(t, s, "steps", "u1", record(t, mem, testSchema, testRows))
	write(t, s, "steps", "u2", record(t, mem, testSchema,
		`[{"id": 5, "ts": "2026-11-21T12:00:00Z", "day": "2026-11-21", "user": "z", "n": 9, "x": 0}]`))

	ctx := context.Background()
	txn, err := s.Prepare(ctx)
	if err != nil {
		t.Fatal(err)
	}
	if got := visible(t, s.Root()); len(got) != 0 {
		t.Fatalf("before Commit: got visible files %v, want none", got)
	}
	all := tree(t, s.Root())
	if len(all) != 3 {
		t.Fatalf("before Commit: got files %v, want 3 temp files", all)
	}
	for _, p := range all {
		if !tempName_.MatchString(filepath.Base(p)) {
			t.Errorf("temp file %s: name does not match %s", p, tempName_)
		}
	}
	if err := s.Commit(ctx, txn); err != nil {
		t.Fatal(err)
	}
	got := tree(t, s.Root())
	for _, p := range got {
		if !finalName.MatchString(filepath.Base(p)) {
			t.Errorf("file %s: name does not match %s", p, finalName)
		}
	}
	want := map[string]string{
		"stream=steps/date=2026-11-21": "id|ts|day|user|n|x\n" +
			"0|2026-11-21T23:59:59.999Z|2026-11-21|a|1|1.5\n" +
			"2|2026-11-21T10:00:00Z|2026-11-21|(null)|2|1.5\n" +
			"5|2026-11-21T12:00:00Z|2026-11-21|z|9|0\n" +
			"end\n",
		"stream=steps/date=2026-11-22": "id|ts|day|user|n|x\n" +
			"1|2026-11-22T00:00:00Z|2026-11-21|b/c=d|1|(null)\n" +
			"3|2026-11-22T10:00:00Z|2026-11-21|a|(null)|-0.25\n" +
			"end\n",
		"stream=steps/date=1969-12-31": "id|ts|day|user|n|x\n" +
			"4|1969-12-31T23:00:00Z|2026-11-21||2|1.5\n" +
			"end\n",
	}
	if got := contents(t, s.Root()); !reflect.DeepEqual(got, want) {
		t.Errorf("got %q, want %q", got, want)
	}
	if got := s.Committed(); got != 3 {
		t.Errorf("Committed: got %d, want 3", got)
	}
	// Nothing written since: nothing to commit.
	if txn, err := s.Prepare(ctx); txn != nil || err != nil {
		t.Errorf("second Prepare: got %s, %v, want nil, nil", txn, err)
	}
}

func TestTransaction(t *testing.T) {
	mem := memory.NewCheckedAllocator(memory.NewGoAllocator())
	defer mem.AssertSize(t, 0)
	root := filepath.Join(t.TempDir(), "new", "root")
	s := newSink(t, Options{Path: root, PartitionBy: []string{"unit"}}, lines{})
	write(t, s, "steps", "a", record(t, mem, testSchema, testRows))
	raw, err := s.Prepare(context.Background())
	if err != nil {
		t.Fatal(err)
	}
	var got txn
	if err := json.Unmarshal(raw, &got); err != nil {
		t.Fatal(err)
	}
	dir := filepath.Join(root, "unit=a")
	// The partition, and the parent of every directory created for it.
	dirs := []string{filepath.Dir(filepath.Dir(root)), filepath.Dir(root), root, dir}
	if got.Version != 1 || len(got.Files) != 1 || !reflect.DeepEqual(got.Dirs, dirs) {
		t.Fatalf("got txn %s, want version 1, one file, dirs %v", raw, dirs)
	}
	f := got.Files[0]
	if filepath.Dir(f.Final) != dir || filepath.Join(dir, "."+filepath.Base(f.Final)+".tmp") != f.Temp {
		t.Errorf("got file %+v, want a final file in %s and its hidden .tmp twin", f, dir)
	}
}

func TestCommitIsIdempotentAcrossProcesses(t *testing.T) {
	mem := memory.NewCheckedAllocator(memory.NewGoAllocator())
	defer mem.AssertSize(t, 0)
	ctx := context.Background()
	root := t.TempDir()
	opts := Options{Path: root, PartitionBy: []string{"stream"}}

	// Process 1 prepares, and "crashes" (Close without Commit).
	s1 := newSink(t, opts, lines{})
	write(t, s1, "steps", "u", record(t, mem, testSchema, testRows))
	data, err := s1.Prepare(ctx)
	if err != nil {
		t.Fatal(err)
	}
	// Rows written after the last Prepare never become visible.
	write(t, s1, "steps", "u", record(t, mem, testSchema, testRows))
	if err := s1.Close(); err != nil {
		t.Fatal(err)
	}
	if got := visible(t, root); len(got) != 0 {
		t.Fatalf("after crash: got visible %v, want none", got)
	}
	if got := tree(t, root); len(got) != 1 {
		t.Fatalf("after crash: got files %v, want only the prepared temp file", got)
	}

	// Process 2 finishes the commit, twice; process 1's sink too.
	s2 := newSink(t, opts, lines{})
	for i, s := range []*Sink{s2, s2, s1} {
		if err := s.Commit(ctx, data); err != nil {
			t.Fatalf("Commit #%d: %v", i+1, err)
		}
	}
	if got := visible(t, root); len(got) != 1 || len(tree(t, root)) != 1 {
		t.Fatalf("after Commit: got %v, want one visible file and nothing else", tree(t, root))
	}
	if got := s2.Committed(); got != 1 {
		t.Errorf("Committed: got %d, want 1", got)
	}
	if got := strings.Count(contents(t, root)["stream=steps"], "\n"); got != 7 {
		t.Errorf("got %d lines, want 7 (header, 5 rows, footer)", got)
	}

	// Partly committed: one file renamed, the other not yet.
	write(t, s2, "a", "u", record(t, mem, testSchema, testRows))
	write(t, s2, "b", "u", record(t, mem, testSchema, testRows))
	data, err = s2.Prepare(ctx)
	if err != nil {
		t.Fatal(err)
	}
	var tx txn
	if err := json.Unmarshal(data, &tx); err != nil {
		t.Fatal(err)
	}
	if err := os.Rename(tx.Files[0].Temp, tx.Files[0].Final); err != nil {
		t.Fatal(err)
	}
	s3 := newSink(t, opts, lines{})
	if err := s3.Commit(ctx, data); err != nil {
		t.Fatal(err)
	}
	if got := len(visible(t, root)); got != 3 {
		t.Errorf("got %d visible files, want 3", got)
	}
}

func TestCommitErrors(t *testing.T) {
	ctx := context.Background()
	s := newSink(t, Options{}, lines{})
	dir := t.TempDir()
	final := filepath.Join(dir, "part-x.txt")
	tests := []struct {
		name, txn, want string
	}{
		{"not json", `{`, "files: commit: malformed transaction: unexpected end of JSON input"},
		{"version", `{"version": 2}`, "files: commit: transaction version 2, want 1"},
		{"foreign temp", fmt.Sprintf(`{"version": 1, "files": [{"temp": "/etc/passwd", "final": %q}]}`, final),
			fmt.Sprintf("files: commit: malformed transaction: temp \"/etc/passwd\" does not belong to final %q", final)},
		{"relative dir", `{"version": 1, "dirs": ["x"]}`, `files: commit: malformed transaction: directory "x" is not absolute`},
		{"both missing", fmt.Sprintf(`{"version": 1, "files": [{"temp": %q, "final": %q}]}`, filepath.Join(dir, ".part-x.txt.tmp"), final),
			fmt.Sprintf("files: commit %s: temp file %s and final file are both missing: rename %s %s: no such file or directory",
				final, filepath.Join(dir, ".part-x.txt.tmp"), filepath.Join(dir, ".part-x.txt.tmp"), final)},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			err := s.Commit(ctx, []byte(tt.txn))
			if err == nil || err.Error() != tt.want {
				t.Errorf("got %v, want %s", err, tt.want)
			}
		})
	}
	if err := s.Commit(ctx, nil); err != nil {
		t.Errorf("Commit(nil): got %v, want nil", err)
	}
}

func TestSchemaChangeStartsNewFile(t *testing.T) {
	mem := memory.NewCheckedAllocator(memory.NewGoAllocator())
	defer mem.AssertSize(t, 0)
	s := newSink(t, Options{PartitionBy: []string{"stream"}}, lines{})
	small := arrow.NewSchema(testSchema.Fields()[:2], nil)
	write(t, s, "steps", "u", record(t, mem, small, `[{"id": 1, "ts": "2026-11-21T00:00:00Z"}]`))
	write(t, s, "steps", "u", record(t, mem, small, `[{"id": 2, "ts": "2026-11-21T00:00:00Z"}]`))
	write(t, s, "steps", "u", record(t, mem, testSchema, `[{"id": 3, "ts": "2026-11-21T00:00:00Z", "day": "2026-11-21"}]`))
	if s.CommitWanted() {
		t.Error("CommitWanted after a schema change: got true, want false (no Roll limit)")
	}
	commit(t, s)
	files := visible(t, s.Root())
	if len(files) != 2 {
		t.Fatalf("got files %v, want 2", files)
	}
	var got []string
	for _, f := range files {
		b, _ := os.ReadFile(filepath.Join(s.Root(), f))
		got = append(got, string(b))
	}
	want := []string{
		"id|ts\n1|2026-11-21T00:00:00Z\n2|2026-11-21T00:00:00Z\nend\n",
		"id|ts|day|user|n|x\n3|2026-11-21T00:00:00Z|2026-11-21|(null)|(null)|(null)\nend\n",
	}
	if !reflect.DeepEqual(got, want) {
		t.Errorf("got %q, want %q", got, want)
	}
}

func TestRoll(t *testing.T) {
	const row = `[{"id": 1, "ts": "2026-11-21T00:00:00Z", "day": "2026-11-21", "user": "abcdefghij"}]`
	tests := []struct {
		name      string
		roll      Roll
		step      time.Duration // clock advance before each write
		wantFiles int           // after 10 writes with a commit whenever wanted
	}{
		{"none", Roll{}, time.Second, 1},
		{"rows", Roll{Rows: 3}, 0, 4},
		{"bytes", Roll{Bytes: 100}, 0, 5},                                 // header and 2 rows reach 100 bytes
		{"interval", Roll{Interval: 5 * time.Second}, 2 * time.Second, 3}, // 4 rows reach 6s of age
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			mem := memory.NewCheckedAllocator(memory.NewGoAllocator())
			defer mem.AssertSize(t, 0)
			s := newSink(t, Options{Roll: tt.roll}, lines{})
			c := &clock{time.Date(2026, 11, 21, 10, 0, 0, 0, time.UTC)}
			s.now = c.now
			commits := 0
			for range 10 {
				c.t = c.t.Add(tt.step)
				write(t, s, "steps", "u", record(t, mem, testSchema, row))
				if s.CommitWanted() {
					commit(t, s)
					commits++
				}
			}
			commit(t, s)
			if got := len(visible(t, s.Root())); got != tt.wantFiles {
				t.Errorf("got %d files, want %d", got, tt.wantFiles)
			}
			if got := strings.Count(contents(t, s.Root())["."], "\n1|"); got != 10 {
				t.Errorf("got %d rows, want 10", got)
			}
		})
	}
}

func TestRollIntervalWithoutWrite(t *testing.T) {
	mem := memory.NewCheckedAllocator(memory.NewGoAllocator())
	defer mem.AssertSize(t, 0)
	s := newSink(t, Options{Roll: Roll{Interval: time.Minute}}, lines{})
	c := &clock{time.Date(2026, 11, 21, 10, 0, 0, 0, time.UTC)}
	s.now = c.now
	write(t, s, "steps", "u", record(t, mem, testSchema, testRows))
	if s.CommitWanted() {
		t.Fatal("CommitWanted at once: got true, want false")
	}
	c.t = c.t.Add(time.Minute)
	if !s.CommitWanted() {
		t.Fatal("CommitWanted after the interval: got false, want true")
	}
	commit(t, s)
	if s.CommitWanted() {
		t.Fatal("CommitWanted after the commit: got true, want false")
	}
}

func TestCloseDiscardsUnprepared(t *testing.T) {
	mem := memory.NewCheckedAllocator(memory.NewGoAllocator())
	defer mem.AssertSize(t, 0)
	s := newSink(t, Options{PartitionBy: []string{"date"}, Roll: Roll{Rows: 1}}, lines{})
	write(t, s, "steps", "u", record(t, mem, testSchema, testRows)) // rolled: closed, not prepared
	write(t, s, "other", "u", record(t, mem, testSchema, testRows[:strings.Index(testRows, "},")+1]+"]"))
	if err := s.Close(); err != nil {
		t.Fatal(err)
	}
	if got := tree(t, s.Root()); len(got) != 0 {
		t.Errorf("after Close: got files %v, want none", got)
	}
	if err := s.Write(context.Background(), core.Batch{}); err == nil || err.Error() != "files: sink is closed" {
		t.Errorf("Write after Close: got %v, want files: sink is closed", err)
	}
}

func TestWriteFailureIsStickyAndKeepsCommittedFiles(t *testing.T) {
	tests := []struct {
		name    string
		format  *failing
		failIn  string // "write" or "prepare"
		wantErr string // with %s for the temp file
	}{
		{"encode", &failing{failAt: 3}, "write", "files: write %s: no space left on device"},
		{"close", &failing{failClose: false}, "prepare", "files: finish %s: no space left on device"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			mem := memory.NewCheckedAllocator(memory.NewGoAllocator())
			defer mem.AssertSize(t, 0)
			ctx := context.Background()
			s := newSink(t, Options{}, tt.format)
			write(t, s, "steps", "u", record(t, mem, testSchema, testRows))
			commit(t, s)
			committed := contents(t, s.Root())

			write(t, s, "steps", "u", record(t, mem, testSchema, testRows))
			tt.format.failClose = tt.name == "close"
			rec := record(t, mem, testSchema, testRows)
			err := s.Write(ctx, core.Batch{Stream: "steps", Record: rec})
			rec.Release()
			if tt.failIn == "prepare" {
				if err != nil {
					t.Fatalf("Write: %v", err)
				}
				_, err = s.Prepare(ctx)
			}
			temps := tree(t, s.Root())
			temp := filepath.Join(s.Root(), temps[0])
			if strings.HasPrefix(filepath.Base(temps[0]), "part-") {
				temp = filepath.Join(s.Root(), temps[1])
			}
			if want := fmt.Sprintf(tt.wantErr, temp); err == nil || err.Error() != want {
				t.Fatalf("got %v, want %s", err, want)
			}
			if !errors.Is(err, errDiskFull) {
				t.Errorf("errors.Is(err, cause): got false, want true")
			}
			// Sticky.
			if _, err2 := s.Prepare(ctx); err2 != err {
				t.Errorf("Prepare after failure: got %v, want %v", err2, err)
			}
			if err2 := s.Write(ctx, core.Batch{}); err2 != err {
				t.Errorf("Write after failure: got %v, want %v", err2, err)
			}
			if err := s.Close(); err != nil {
				t.Fatal(err)
			}
			if got := contents(t, s.Root()); !reflect.DeepEqual(got, committed) {
				t.Errorf("committed files changed: got %q, want %q", got, committed)
			}
			if got := len(tree(t, s.Root())); got != 1 {
				t.Errorf("after Close: got %d files, want 1 (the committed one)", got)
			}
		})
	}
}

func TestUnwritableDirectory(t *testing.T) {
	mem := memory.NewCheckedAllocator(memory.NewGoAllocator())
	defer mem.AssertSize(t, 0)
	// A regular file where a directory should be: fails for root too, unlike
	// permission bits.
	blocker := filepath.Join(t.TempDir(), "blocker")
	if err := os.WriteFile(blocker, nil, 0o644); err != nil {
		t.Fatal(err)
	}
	s := newSink(t, Options{Path: filepath.Join(blocker, "lake")}, lines{})
	want := fmt.Sprintf("files: check %s: not a directory", filepath.Join(blocker, "lake"))
	if err := s.Check(context.Background()); err == nil || err.Error() != want {
		t.Errorf("Check: got %v, want %s", err, want)
	}
	rec := record(t, mem, testSchema, testRows)
	defer rec.Release()
	err := s.Write(context.Background(), core.Batch{Stream: "s", Record: rec})
	want = fmt.Sprintf("files: create %s: not a directory", filepath.Join(blocker, "lake"))
	if err == nil || err.Error() != want {
		t.Errorf("Write: got %v, want %s", err, want)
	}

	ok := newSink(t, Options{Path: filepath.Join(t.TempDir(), "missing", "lake")}, lines{})
	if err := ok.Check(context.Background()); err != nil {
		t.Errorf("Check of a creatable path: got %v, want nil", err)
	}
}

func TestCancelledContext(t *testing.T) {
	mem := memory.NewCheckedAllocator(memory.NewGoAllocator())
	defer mem.AssertSize(t, 0)
	s := newSink(t, Options{}, lines{})
	ctx, cancel := context.WithCancel(context.Background())
	cancel()
	rec := record(t, mem, testSchema, testRows)
	defer rec.Release()
	if err := s.Write(ctx, core.Batch{Record: rec}); !errors.Is(err, context.Canceled) {
		t.Errorf("Write: got %v, want context.Canceled", err)
	}
	if _, err := s.Prepare(ctx); !errors.Is(err, context.Canceled) {
		t.Errorf("Prepare: got %v, want context.Canceled", err)
	}
	// Not sticky: nothing was written.
	write(t, s, "s", "u", rec.NewSlice(0, 1))
	commit(t, s)
	if got := len(visible(t, s.Root())); got != 1 {
		t.Errorf("got %d files, want 1", got)
	}
}

func TestRollYAML(t *testing.T) {
	tests := []struct {
		in      string
		want    Roll
		wantErr string
	}{
		{"rows: 10\nbytes: 128MiB\ninterval: 5m", Roll{Rows: 10, Bytes: 128 << 20, Interval: 5 * time.Minute}, ""},
		{"bytes: 1GB", Roll{Bytes: 1e9}, ""},
		{"bytes: 4096", Roll{Bytes: 4096}, ""},
		{"bytes: 1.5", Roll{}, `invalid size "1.5"`},
		{"bytes: 12 parsecs", Roll{}, `invalid size "12 parsecs"`},
		{"rowz: 1", Roll{}, `rowz: unknown key`},
		{"interval: soon", Roll{}, `roll.yaml:1:11: roll.interval: invalid duration "soon"`},
	}
	for _, tt := range tests {
		t.Run(tt.in, func(t *testing.T) {
			var got Roll
			if tt.want.Rows == 0 && tt.wantErr == "" {
				got.Rows = 7 // a default that an absent key keeps
				tt.want.Rows = 7
			}
			cfg, err := core.NewConfig("roll.yaml", "roll", []byte(tt.in))
			if err != nil {
				t.Fatal(err)
			}
			err = cfg.Decode(&got)
			switch {
			case tt.wantErr != "":
				if err == nil || !strings.Contains(err.Error(), tt.wantErr) {
					t.Errorf("got error %v, want one containing %s", err, tt.wantErr)
				}
			case err != nil:
				t.Errorf("got error %v", err)
			case got != tt.want:
				t.Errorf("got %+v, want %+v", got, tt.want)
			}
		})
	}
}

func TestConformance(t *testing.T) {
	coretest.Sink(t, func(t *testing.T, mem memory.Allocator) core.Sink {
		return newSink(t, Options{PartitionBy: []string{"stream", "unit", "date"}, Mem: mem}, lines{})
	}, coretest.SinkOptions{})
}
