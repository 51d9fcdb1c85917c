package files

import (
	"bufio"
	"context"
	"crypto/rand"
	"encoding/hex"
	"errors"
	"fmt"
	"io"
	"io/fs"
	"os"
	"path/filepath"
	"sort"
	"sync/atomic"
	"time"

	"github.com/apache/arrow-go/v18/arrow"
	"github.com/apache/arrow-go/v18/arrow/memory"

	"github.com/etl-toolkit/etl/core"
)

// Options configures a Sink.
type Options struct {
	// Path is the root directory; it is created on first write if missing.
	Path string
	// PartitionBy lists the partition keys, outermost first; each becomes one
	// directory level KEY=VALUE. See the package documentation for the keys.
	PartitionBy []string
	// Roll says when to close a file and ask for a commit.
	Roll Roll
	// Prefix starts every file name; default "part".
	Prefix string
	// Mem allocates the copies made when a batch's rows interleave several
	// partitions; default memory.DefaultAllocator.
	Mem memory.Allocator
}

// Problem is one invalid option, named as in a pipeline file ("partition_by[1]",
// "roll.rows"), so that a sink's factory can report it with core.Config.Errorf.
type Problem struct {
	Option string
	Msg    string
}

// Problems checks the options without touching the file system and returns
// every problem found.
func (o Options) Problems() []Problem {
	var out []Problem
	if o.Path == "" {
		out = append(out, Problem{"path", "required"})
	}
	seen := map[string]int{}
	for i, s := range o.PartitionBy {
		opt := fmt.Sprintf("partition_by[%d]", i)
		k, err := parseKey(s)
		if err != nil {
			out = append(out, Problem{opt, err.Error()})
			continue
		}
		if j, dup := seen[k.name]; dup {
			out = append(out, Problem{opt, fmt.Sprintf("partition key %q repeats the directory key %q of partition_by[%d]", s, k.name, j)})
			continue
		}
		seen[k.name] = i
	}
	if o.Roll.Rows < 0 {
		out = append(out, Problem{"roll.rows", fmt.Sprintf("must not be negative, got %d", o.Roll.Rows)})
	}
	if o.Roll.Bytes < 0 {
		out = append(out, Problem{"roll.bytes", fmt.Sprintf("must not be negative, got %d", o.Roll.Bytes)})
	}
	if o.Roll.Interval < 0 {
		out = append(out, Problem{"roll.interval", fmt.Sprintf("must not be negative, got %s", o.Roll.Interval)})
	}
	if o.Prefix != "" && (o.Prefix != filepath.Base(o.Prefix) || o.Prefix[0] == '.' || Escape(o.Prefix) != o.Prefix) {
		out = append(out, Problem{"prefix", fmt.Sprintf("%q is not a plain file name prefix", o.Prefix)})
	}
	return out
}

// Sink writes batches as files of one Format under a Hive-partitioned tree and
// makes them visible by two-phase commit. It implements core.Sink,
// core.CommitRequester, core.SinkStats and core.Checker.
//
// Like every core.Sink it is not safe for concurrent use, except Committed,
// which may be called from any goroutine.
type Sink struct {
	root   string
	keys   []partKey
	roll   Roll
	prefix string
	format Format
	mem    memory.Allocator
	token  string           // random per Sink, so that two writers never collide
	now    func() time.Time // the clock; tests replace it

	seq     int
	open    map[fileKey]*file
	pending []*file         // closed, fsynced, not yet prepared
	dirs    map[string]bool // directories known to exist
	created map[string]bool // parents of directories created since the last Prepare
	rolled  bool            // a file was closed by Roll since the last Prepare
	err     error           // sticky: a failed write leaves the sink unusable
	closed  bool

	committed atomic.Int64
}

var (
	_ core.Sink            = (*Sink)(nil)
	_ core.CommitRequester = (*Sink)(nil)
	_ core.SinkStats       = (*Sink)(nil)
	_ core.Locator         = (*Sink)(nil)
	_ core.Checker         = (*Sink)(nil)
)

type fileKey struct{ dir, stream string }

// file is one open (or closed, not yet prepared) temp file.
type file struct {
	dir, temp, final string // absolute paths
	f                *os.File
	buf              *bufio.Writer
	count            *countingWriter
	enc              Encoder
	schema           *arrow.Schema
	rows             int64
	opened           time.Time
}

type countingWriter struct {
	w io.Writer
	n int64
}

// bareWriter drops the path from the file's write errors ("write PATH: no space
// left on device"): the error that reaches Write names the path once, itself.
type bareWriter struct{ f *os.File }

func (w bareWriter) Write(p []byte) (int, error) {
	n, err := w.f.Write(p)
	var pe *fs.PathError
	if errors.As(err, &pe) {
		err = pe.Err
	}
	return n, err
}

func (c *countingWriter) Write(p []byte) (int, error) {
	n, err := c.w.Write(p)
	c.n += int64(n)
	return n, err
}

// New returns a Sink writing f files under opts.Path. It checks the options
// (see Options.Problems) but does no I/O.
func New(opts Options, f Format) (*Sink, error) {
	if f == nil {
		return nil, errors.New("files: no format")
	}
	if ps := opts.Problems(); len(ps) > 0 {
		errs := make([]error, len(ps))
		for i, p := range ps {
			errs[i] = fmt.Errorf("files: %s: %s", p.Option, p.Msg)
		}
		return nil, errors.Join(errs...)
	}
	root, err := filepath.Abs(opts.Path)
	if err != nil {
		return nil, fmt.Errorf("files: path %s: %w", opts.Path, err)
	}
	keys := make([]partKey, len(opts.PartitionBy))
	for i, s := range opts.PartitionBy {
		keys[i], _ = parseKey(s) // checked by Problems
	}
	var token [4]byte
	if _, err := rand.Read(token[:]); err != nil {
		return nil, fmt.Errorf("files: random file name token: %w", err)
	}
	s := &Sink{
		root:    root,
		keys:    keys,
		roll:    opts.Roll,
		prefix:  opts.Prefix,
		format:  f,
		mem:     opts.Mem,
		token:   hex.EncodeToString(token[:]),
		now:     time.Now,
		open:    map[fileKey]*file{},
		dirs:    map[string]bool{},
		created: map[string]bool{},
	}
	if s.prefix == "" {
		s.prefix = "part"
	}
	if s.mem == nil {
		s.mem = memory.DefaultAllocator
	}
	return s, nil
}

// Root returns the absolute root directory.
func (s *Sink) Root() string { return s.root }

// Write encodes b's rows into the open file of each partition they belong to,
// opening files (and directories) as needed, then closes files that reached a
// Roll limit. A batch whose schema differs from the open file's of its stream
// and partition closes that file first. Write borrows b and keeps nothing of it.
//
// An error while writing leaves files in an unknown state, so it is sticky:
// every later Write and Prepare returns it, and Close removes the temp files.
// A ctx already cancelled returns its error without writing.
func (s *Sink) Write(ctx context.Context, b core.Batch) error {
	if err := s.usable(ctx); err != nil {
		return err
	}
	if b.Rows() == 0 {
		return nil
	}
	dirs, codes, err := partitions(s.keys, b.Stream, b.Unit, b.Record)
	if err != nil {
		// Nothing was written: the batch is bad, not the sink.
		return err
	}
	if len(dirs) == 1 {
		return s.encode(ctx, dirs[0], b.Stream, b.Record)
	}
	pieces, err := split(ctx, s.mem, b.Record, dirs, codes)
	if err != nil {
		return fmt.Errorf("files: split batch of stream %q by partition: %w", b.Stream, err)
	}
	defer func() {
		for _, p := range pieces {
			p.rec.Release()
		}
	}()
	for _, p := range pieces {
		if err := s.encode(ctx, p.dir, b.Stream, p.rec); err != nil {
			return err
		}
	}
	return nil
}

func (s *Sink) usable(ctx context.Context) error {
	switch {
	case s.closed:
		return errors.New("files: sink is closed")
	case s.err != nil:
		return s.err
	}
	if err := ctx.Err(); err != nil {
		return fmt.Errorf("files: %w", err)
	}
	return nil
}

// fail makes err sticky and returns it.
func (s *Sink) fail(err error) error {
	s.err = err
	return err
}

// encode writes rec into the open file of (dir, stream), then rolls it if full.
func (s *Sink) encode(ctx context.Context, dir, stream string, rec arrow.RecordBatch) error {
	key := fileKey{dir, stream}
	f := s.open[key]
	if f != nil && !f.schema.Equal(rec.Schema()) {
		if err := s.closeFile(key, f); err != nil {
			return s.fail(err)
		}
		f = nil
	}
	if f == nil {
		var err error
		if f, err = s.openFile(dir, rec.Schema()); err != nil {
			return s.fail(err)
		}
		s.open[key] = f
	}
	if err := f.enc.Encode(ctx, rec); err != nil {
		return s.fail(fmt.Errorf("files: write %s: %w", f.temp, err))
	}
	f.rows += rec.NumRows()
	if s.full(f, s.now()) {
		if err := s.closeFile(key, f); err != nil {
			return s.fail(err)
		}
		s.rolled = true
	}
	return nil
}

func (s *Sink) full(f *file, now time.Time) bool {
	r := s.roll
	return (r.Rows > 0 && f.rows >= r.Rows) ||
		(r.Bytes > 0 && f.count.n >= int64(r.Bytes)) ||
		(r.Interval > 0 && now.Sub(f.opened) >= r.Interval)
}

// fileNameTime is the UTC time in file names: sortable, no characters that
// need escaping.
const fileNameTime = "20060102T150405.000000Z"

func (s *Sink) openFile(dir string, schema *arrow.Schema) (*file, error) {
	abs := filepath.Join(s.root, filepath.FromSlash(dir))
	if err := s.mkdirs(abs); err != nil {
		return nil, err
	}
	now := s.now()
	s.seq++
	name := fmt.Sprintf("%s-%s-%s-%06d%s", s.prefix, now.UTC().Format(fileNameTime), s.token, s.seq, s.format.Ext())
	f := &file{
		dir:    abs,
		final:  filepath.Join(abs, name),
		temp:   filepath.Join(abs, tempName(name)),
		schema: schema,
		opened: now,
	}
	var err error
	f.f, err = os.OpenFile(f.temp, os.O_WRONLY|os.O_CREATE|os.O_EXCL, 0o644)
	if err != nil {
		return nil, pathError("create", f.temp, err)
	}
	f.buf = bufio.NewWriterSize(bareWriter{f.f}, 64<<10)
	f.count = &countingWriter{w: f.buf}
	f.enc, err = s.format.NewEncoder(f.count, schema)
	if err != nil {
		f.f.Close()
		os.Remove(f.temp)
		return nil, fmt.Errorf("files: start %s: %w", f.temp, err)
	}
	return f, nil
}

// tempName is the hidden name a file is written under before it is committed.
func tempName(final string) string { return "." + final + ".tmp" }

// mkdirs creates dir and its missing parents, remembering the parent of each
// directory it creates: its entry must be fsynced before the commit.
func (s *Sink) mkdirs(dir string) error {
	if s.dirs[dir] {
		return nil
	}
	fi, err := os.Stat(dir)
	switch {
	case err == nil && fi.IsDir():
		s.dirs[dir] = true
		return nil
	case err == nil:
		return fmt.Errorf("files: create %s: not a directory", dir)
	case !errors.Is(err, fs.ErrNotExist):
		return pathError("create", dir, err)
	}
	parent := filepath.Dir(dir)
	if parent != dir {
		if err := s.mkdirs(parent); err != nil {
			return err
		}
	}
	if err := os.Mkdir(dir, 0o755); err != nil && !errors.Is(err, fs.ErrExist) {
		return pathError("create", dir, err)
	}
	s.dirs[dir] = true
	s.created[parent] = true
	return nil
}

// closeFile finishes f (encoder footer, flush, fsync, close) and moves it to
// the files the next Prepare hands over.
func (s *Sink) closeFile(key fileKey, f *file) error {
	delete(s.open, key)
	s.pending = append(s.pending, f)
	if err := f.enc.Close(); err != nil {
		return fmt.Errorf("files: finish %s: %w", f.temp, err)
	}
	if err := f.buf.Flush(); err != nil {
		return pathError("write", f.temp, err)
	}
	if err := f.f.Sync(); err != nil {
		return pathError("fsync", f.temp, err)
	}
	err := f.f.Close()
	f.f = nil
	if err != nil {
		return pathError("close", f.temp, err)
	}
	return nil
}

// CommitWanted reports whether a file reached a Roll limit since the last
// Prepare, or an open file has been open for Roll.Interval.
func (s *Sink) CommitWanted() bool {
	if s.rolled {
		return true
	}
	if s.roll.Interval > 0 {
		now := s.now()
		for _, f := range s.open {
			if now.Sub(f.opened) >= s.roll.Interval {
				return true
			}
		}
	}
	return false
}

// Committed returns the number of files this Sink has renamed into place.
func (s *Sink) Committed() int64 { return s.committed.Load() }

// Prepare closes every open file, fsyncs the temp files and the directories
// holding them (and the parents of directories it created), and returns the
// transaction that Commit takes: JSON listing each temp file and its final
// name. It returns a nil txn when nothing was written since the last Prepare.
// A failure is sticky, as for Write.
func (s *Sink) Prepare(ctx context.Context) ([]byte, error) {
	if err := s.usable(ctx); err != nil {
		return nil, err
	}
	keys := make([]fileKey, 0, len(s.open))
	for k := range s.open {
		keys = append(keys, k)
	}
	sort.Slice(keys, func(i, j int) bool {
		if keys[i].dir != keys[j].dir {
			return keys[i].dir < keys[j].dir
		}
		return keys[i].stream < keys[j].stream
	})
	for _, k := range keys {
		if err := s.closeFile(k, s.open[k]); err != nil {
			return nil, s.fail(err)
		}
	}
	if len(s.pending) == 0 {
		return nil, nil
	}
	t := txn{Version: txnVersion}
	sync := map[string]bool{}
	for d := range s.created {
		sync[d] = true
	}
	dirs := map[string]bool{} // synced again by Commit: finals' and created ones' parents
	for d := range s.created {
		dirs[d] = true
	}
	for _, f := range s.pending {
		t.Files = append(t.Files, txnFile{Temp: f.temp, Final: f.final})
		sync[f.dir] = true
		dirs[f.dir] = true
	}
	for _, d := range sortedKeys(sync) {
		if err := syncDir(d); err != nil {
			return nil, s.fail(err)
		}
	}
	t.Dirs = sortedKeys(dirs)
	data, err := t.marshal()
	if err != nil {
		return nil, s.fail(err)
	}
	s.pending = nil
	s.created = map[string]bool{}
	s.rolled = false
	return data, nil
}

// Commit renames each temp file of txn into place, then fsyncs the directories
// holding them and the parents of directories created for them.
// A temp file that is gone while its final file exists was committed before,
// by this Sink or another one, so Commit is idempotent and may be called on a
// fresh Sink after a crash. A nil txn is a no-op.
func (s *Sink) Commit(ctx context.Context, data []byte) error {
	if len(data) == 0 {
		return nil
	}
	t, err := unmarshalTxn(data)
	if err != nil {
		return err
	}
	for _, f := range t.Files {
		if err := ctx.Err(); err != nil {
			return fmt.Errorf("files: commit: %w", err)
		}
		err := os.Rename(f.Temp, f.Final)
		if err == nil {
			s.committed.Add(1)
			continue
		}
		if !errors.Is(err, fs.ErrNotExist) {
			return fmt.Errorf("files: commit %s: %w", f.Final, unwrapLink(err))
		}
		if _, serr := os.Lstat(f.Final); serr != nil {
			return fmt.Errorf("files: commit %s: temp file %s and final file are both missing: %w", f.Final, f.Temp, err)
		}
	}
	for _, d := range t.Dirs {
		if err := syncDir(d); err != nil {
			return err
		}
	}
	return nil
}

// Close closes open files and removes every temp file not yet prepared. Files
// already prepared are left for Commit.
func (s *Sink) Close() error {
	if s.closed {
		return nil
	}
	s.closed = true
	var errs []error
	for k, f := range s.open {
		delete(s.open, k)
		f.enc.Close() // its rows are discarded: the error does not matter
		s.pending = append(s.pending, f)
	}
	for _, f := range s.pending {
		if f.f != nil {
			f.f.Close()
		}
		if err := os.Remove(f.temp); err != nil && !errors.Is(err, fs.ErrNotExist) {
			errs = append(errs, pathError("remove", f.temp, err))
		}
	}
	s.pending = nil
	return errors.Join(errs...)
}

// Check checks, without writing, that the root directory exists and is
// writable, or can be created in the nearest existing parent.
func (s *Sink) Check(ctx context.Context) error {
	dir := s.root
	for {
		fi, err := os.Stat(dir)
		if err == nil {
			if !fi.IsDir() {
				return fmt.Errorf("files: check %s: not a directory", dir)
			}
			if err := writable(dir); err != nil {
				return pathError("check", dir, err)
			}
			return nil
		}
		if !errors.Is(err, fs.ErrNotExist) {
			return pathError("check", dir, err)
		}
		parent := filepath.Dir(dir)
		if parent == dir {
			return pathError("check", dir, err)
		}
		dir = parent
	}
}

func syncDir(dir string) error {
	d, err := os.Open(dir)
	if err != nil {
		return pathError("fsync", dir, err)
	}
	err = d.Sync()
	if cerr := d.Close(); err == nil {
		err = cerr
	}
	if err != nil {
		return pathError("fsync", dir, err)
	}
	return nil
}

// pathError says "files: OP PATH: REASON", keeping REASON for errors.Is but
// dropping the os package's own "open PATH:" so the path is not said twice.
func pathError(op, path string, err error) error {
	var pe *fs.PathError
	if errors.As(err, &pe) {
		err = pe.Err
	}
	return fmt.Errorf("files: %s %s: %w", op, path, err)
}

func unwrapLink(err error) error {
	var le *os.LinkError
	if errors.As(err, &le) {
		return fmt.Errorf("rename from %s: %w", le.Old, le.Err)
	}
	return err
}

func sortedKeys(m map[string]bool) []string {
	out := make([]string, 0, len(m))
	for k := range m {
		out = append(out, k)
	}
	sort.Strings(out)
	return out
}

// Querier is implemented by formats that DuckDB reads: Query returns a query over
// the files matching glob, for the end-of-run summary.
type Querier interface {
	Query(glob string) string
}

// Location implements core.Locator: the root directory, and a DuckDB query over
// every committed file of the tree if the format has one.
func (s *Sink) Location() (where, query string) {
	if q, ok := s.format.(Querier); ok {
		query = q.Query(filepath.Join(s.root, "**", "*"+s.format.Ext()))
	}
	return s.root, query
}

// ConfigErrors turns problems found in a sink's decoded options into
// core.ConfigErrors at their place in the pipeline file (nil if there are none),
// for the factories of the sinks built on this package.
func ConfigErrors(c core.Config, problems []Problem) error {
	var errs core.ConfigErrors
	for _, p := range problems {
		errs = append(errs, c.Errorf(p.Option, "%s", p.Msg))
	}
	return errs.Err()
}
