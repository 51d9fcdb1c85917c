package azumio

import (
	"bufio"
	"bytes"
	"context"
	"errors"
	"fmt"
	"io"
	"os"
	"path/filepath"
	"slices"
	"strconv"
	"strings"
	"sync"
	"time"

	"github.com/goccy/go-json"
	"github.com/klauspost/compress/gzip"
	"github.com/klauspost/compress/zstd"
)

// The raw archive keeps every answer the source fetched, one zstd file of JSON
// lines per user and read (or gzip with `archive_compression: gzip`, plain
// with none):
//
//	DIR/user=10001/20260101T020304.123456789Z.jsonl.zst   (or .jsonl.gz, .jsonl)
//
// Each line is one answer: {"time": "...", "user": "10001", "request": "GET
// /api2/checkins?limit=100&since=0&type=steps", "status": 200, "body": {...}}, with
// the body last and as it came (compacted if it spanned lines). The request has
// no credentials. Each line is flushed when written, so a crash loses at most the
// line being written; the reader stops at a cut line.
//
// A replay reads a user's files in name order (oldest first) and answers each
// request with the bodies archived for it in the order they were archived (the
// last one again once they are used up), so that replaying the archive of several
// runs reads what each run read: after the last page of one run (hasMore false)
// the source goes on with the next run's request when the archive holds an
// unused answer to it. A replay reads all three kinds, whatever the option says.
//
// zstd is the default because decompression bounds how fast a replay runs:
// measured on the benchmarks' archive (1 M steps check-ins, 487 MB of JSON
// lines), klauspost's zstd decompresses it in 0.31-0.39 CPU-s and its gzip
// (itself faster than compress/gzip) in 1.0 CPU-s, for files of the same size
// (92 MB zstd at its fastest level, 103 MB gzip level 1). BenchmarkReadArchive
// reads a zstd archive at 0.42-0.44 ms a page of 1,000 check-ins. Files the
// zstd CLI wrote at levels 1 to 9 decode within 15% of the same time, and
// reading lines into chunks instead of copying them out of bufio
// (ReadBytes) saved 2-3%: neither was worth a change.

type archiveWriter struct {
	dir         string
	compression string // zstd, gzip or none
	mu          sync.Mutex
	files       map[string]*archiveFile
}

type archiveFile struct {
	mu   sync.Mutex
	f    *os.File
	z    compressor
	w    *bufio.Writer
	line []byte
}

// compressor is a gzip or zstd writer, or plainFile.
type compressor interface {
	io.WriteCloser
	Flush() error
}

// plainFile is the compressor of an uncompressed archive: the file's own
// writes, closed by archiveFile.close.
type plainFile struct{ io.Writer }

func (plainFile) Flush() error { return nil }
func (plainFile) Close() error { return nil }

// archiveExt is the file name extension of each archive_compression.
var archiveExt = map[string]string{"zstd": ".jsonl.zst", "gzip": ".jsonl.gz", "none": ".jsonl"}

func newArchiveWriter(dir, compression string) *archiveWriter {
	return &archiveWriter{dir: dir, compression: compression, files: map[string]*archiveFile{}}
}

func userDir(dir, user string) string { return filepath.Join(dir, "user="+user) }

// write appends one answer to user's file of this read.
func (a *archiveWriter) write(user, request string, body []byte) error {
	a.mu.Lock()
	af, ok := a.files[user]
	if !ok {
		d := userDir(a.dir, user)
		if err := os.MkdirAll(d, 0o755); err != nil {
			a.mu.Unlock()
			return fmt.Errorf("azumio: archive: %w", err)
		}
		name := time.Now().UTC().Format("20060102T150405.000000000Z") + archiveExt[a.compression]
		f, err := os.OpenFile(filepath.Join(d, name), os.O_CREATE|os.O_EXCL|os.O_WRONLY, 0o644)
		if err != nil {
			a.mu.Unlock()
			return fmt.Errorf("azumio: archive: %w", err)
		}
		var z compressor
		switch a.compression {
		case "zstd":
			z, _ = zstd.NewWriter(f, zstd.WithEncoderLevel(zstd.SpeedFastest), zstd.WithEncoderConcurrency(1))
		case "gzip":
			z, _ = gzip.NewWriterLevel(f, gzip.BestSpeed)
		default:
			z = plainFile{f}
		}
		af = &archiveFile{f: f, z: z, w: bufio.NewWriterSize(z, 256<<10)}
		a.files[user] = af
	}
	a.mu.Unlock()

	af.mu.Lock()
	defer af.mu.Unlock()
	b := append(af.line[:0], `{"time":"`...)
	b = time.Now().UTC().AppendFormat(b, time.RFC3339Nano)
	b = append(b, `","user":`...)
	b = strconv.AppendQuote(b, user)
	b = append(b, `,"request":`...)
	b = strconv.AppendQuote(b, request)
	b = append(b, `,"status":200,"body":`...)
	if bytes.ContainsAny(body, "\r\n") {
		var c bytes.Buffer
		if err := json.Compact(&c, body); err != nil {
			return fmt.Errorf("azumio: archive: %w", err)
		}
		body = c.Bytes()
	}
	b = append(b, body...)
	b = append(b, "}\n"...)
	af.line = b
	if _, err := af.w.Write(b); err != nil {
		return fmt.Errorf("azumio: archive %s: %w", af.f.Name(), err)
	}
	if err := af.w.Flush(); err != nil {
		return fmt.Errorf("azumio: archive %s: %w", af.f.Name(), err)
	}
	if err := af.z.Flush(); err != nil {
		return fmt.Errorf("azumio: archive %s: %w", af.f.Name(), err)
	}
	return nil
}

// closeUser finishes user's file of this read.
func (a *archiveWriter) closeUser(user string) error {
	a.mu.Lock()
	af, ok := a.files[user]
	delete(a.files, user)
	a.mu.Unlock()
	if !ok {
		return nil
	}
	return af.close()
}

func (af *archiveFile) close() error {
	af.mu.Lock()
	defer af.mu.Unlock()
	err := af.w.Flush()
	if cerr := af.z.Close(); err == nil {
		err = cerr
	}
	if serr := af.f.Sync(); err == nil {
		err = serr
	}
	if cerr := af.f.Close(); err == nil {
		err = cerr
	}
	if err != nil {
		return fmt.Errorf("azumio: archive %s: %w", af.f.Name(), err)
	}
	return nil
}

// Close finishes every open file.
func (a *archiveWriter) Close() error {
	a.mu.Lock()
	files := a.files
	a.files = map[string]*archiveFile{}
	a.mu.Unlock()
	var errs []error
	for _, af := range files {
		errs = append(errs, af.close())
	}
	return errors.Join(errs...)
}

// errReplay marks a request the archive cannot answer.
var errReplay = errors.New("not in the archive")

type replayReader struct {
	dir   string
	mu    sync.Mutex
	users map[string]*replayUser
}

// maxReadAhead bounds the answers a replay holds that were read ahead of their
// request (a resumed read skips the pages before its position): past it they are
// dropped, and a request for one of them reads the archive again.
const maxReadAhead = 64 << 20

// replayUser streams the answers of one user: a goroutine decompresses and
// splits the archive's lines ahead of the reader, so that decompression runs
// beside decoding, and lookups take the answers in archive order.
type replayUser struct {
	dir   string
	mu    sync.Mutex
	lines <-chan archiveLine // nil before the first lookup and after the end
	stop  context.CancelFunc
	ahead map[string][][]byte // answers read before their request
	bytes int                 // their size
	// dropped tells that answers read ahead were dropped (see maxReadAhead).
	dropped bool
	used    map[string]int // answers used per request
	seen    map[string]int // answers read per request
	// The last answer used, for a repeat of its request. Only the last one
	// is kept, so that a replay holds a page or two per user, not every page
	// it read: a repeat of an older request reads the archive again.
	lastReq  string
	lastBody []byte
}

type archiveLine struct {
	req  string
	body []byte
	err  error
}

func newReplayReader(dir string) *replayReader {
	return &replayReader{dir: dir, users: map[string]*replayUser{}}
}

// Users lists the users the archive has answers for, sorted.
func (r *replayReader) Users() ([]string, error) {
	ents, err := os.ReadDir(r.dir)
	if err != nil {
		return nil, fmt.Errorf("azumio: replay: %w", err)
	}
	var out []string
	for _, e := range ents {
		if u, ok := strings.CutPrefix(e.Name(), "user="); ok && e.IsDir() {
			out = append(out, u)
		}
	}
	slices.Sort(out)
	return out, nil
}

func (r *replayReader) user(user string) *replayUser {
	r.mu.Lock()
	defer r.mu.Unlock()
	ru, ok := r.users[user]
	if !ok {
		ru = &replayUser{dir: userDir(r.dir, user), ahead: map[string][][]byte{},
			used: map[string]int{}, seen: map[string]int{}}
		r.users[user] = ru
	}
	return ru
}

// lookup returns the next archived answer to request of user (the last one
// again once they are used up).
func (r *replayReader) lookup(user, request string) ([]byte, error) {
	ru := r.user(user)
	ru.mu.Lock()
	defer ru.mu.Unlock()
	body, err := ru.next(request)
	if err != nil {
		return nil, fmt.Errorf("azumio: replay: user %s: %s: %w", user, request, err)
	}
	if body == nil && ru.used[request] > 0 {
		if request == ru.lastReq {
			return ru.lastBody, nil
		}
		if body, err = lastArchived(ru.dir, request); err != nil {
			return nil, fmt.Errorf("azumio: replay: user %s: %s: %w", user, request, err)
		}
	}
	if body == nil {
		return nil, fmt.Errorf("azumio: replay: user %s: %s: %w (%d requests archived for the user in %s)",
			user, request, errReplay, len(ru.seen), ru.dir)
	}
	ru.used[request]++
	ru.lastReq, ru.lastBody = request, body
	return body, nil
}

// lastArchived returns the last answer to request in a user's archive
// directory, or nil.
func lastArchived(dir, request string) ([]byte, error) {
	var last []byte
	err := readArchive(dir, context.Background(), func(l archiveLine) bool {
		if l.req == request {
			last = l.body
		}
		return true
	})
	return last, err
}

// unused reports whether the archive holds an answer to request of user that
// the replay has not used yet.
func (r *replayReader) unused(user, request string) bool {
	ru := r.user(user)
	ru.mu.Lock()
	defer ru.mu.Unlock()
	body, err := ru.next(request)
	if err != nil || body == nil {
		return false
	}
	ru.ahead[request] = append([][]byte{body}, ru.ahead[request]...) // put it back
	ru.bytes += len(body)
	return true
}

// next returns the next unused answer to request, or nil at the end of the
// archive; the caller holds ru.mu.
func (ru *replayUser) next(request string) ([]byte, error) {
	if q := ru.ahead[request]; len(q) > 0 {
		ru.ahead[request] = q[1:]
		ru.bytes -= len(q[0])
		return q[0], nil
	}
	if ru.lines == nil && ru.stop == nil {
		ru.start()
	}
	for ru.lines != nil {
		l, ok := <-ru.lines
		if !ok {
			ru.lines = nil
			break
		}
		if l.err != nil {
			return nil, l.err
		}
		ru.seen[l.req]++
		if l.req == request {
			return l.body, nil
		}
		if ru.bytes+len(l.body) > maxReadAhead {
			clear(ru.ahead)
			ru.bytes = 0
			ru.dropped = true
		}
		ru.ahead[l.req] = append(ru.ahead[l.req], l.body)
		ru.bytes += len(l.body)
	}
	if !ru.dropped {
		return nil, nil
	}
	// Some answers were dropped: look for this one from the start, skipping
	// the answers to it already used.
	skip := ru.used[request]
	var found []byte
	err := readArchive(ru.dir, context.Background(), func(l archiveLine) bool {
		if l.req != request {
			return true
		}
		if skip > 0 {
			skip--
			return true
		}
		found = l.body
		return false
	})
	return found, err
}

// start starts the goroutine reading ahead.
func (ru *replayUser) start() {
	ctx, cancel := context.WithCancel(context.Background())
	ch := make(chan archiveLine, 4)
	ru.lines, ru.stop = ch, cancel
	go func() {
		defer close(ch)
		err := readArchive(ru.dir, ctx, func(l archiveLine) bool {
			select {
			case ch <- l:
				return true
			case <-ctx.Done():
				return false
			}
		})
		if err != nil {
			select {
			case ch <- archiveLine{err: err}:
			case <-ctx.Done():
			}
		}
	}()
}

// release stops reading user's archive and drops what was read.
func (r *replayReader) release(user string) {
	r.mu.Lock()
	ru, ok := r.users[user]
	delete(r.users, user)
	r.mu.Unlock()
	if !ok {
		return
	}
	ru.mu.Lock()
	defer ru.mu.Unlock()
	if ru.stop != nil {
		ru.stop()
	}
	if ru.lines != nil {
		for range ru.lines { // until the goroutine has closed it
		}
		ru.lines = nil
	}
}

// readArchive calls line for every line of a user's archive directory, files
// in name order, until it returns false or ctx is done.
func readArchive(dir string, ctx context.Context, line func(archiveLine) bool) error {
	names, err := filepath.Glob(filepath.Join(dir, "*.jsonl*"))
	if err != nil {
		return fmt.Errorf("azumio: replay: %w", err)
	}
	names = slices.DeleteFunc(names, func(n string) bool {
		for _, ext := range archiveExt {
			if strings.HasSuffix(n, ext) {
				return false
			}
		}
		return true
	})
	slices.Sort(names)
	for _, name := range names {
		more, err := readArchiveFile(ctx, name, line)
		if err != nil || !more {
			return err
		}
	}
	return nil
}

func readArchiveFile(ctx context.Context, name string, line func(archiveLine) bool) (bool, error) {
	f, err := os.Open(name)
	if err != nil {
		return false, fmt.Errorf("azumio: replay: %w", err)
	}
	defer f.Close()
	var z io.Reader = f
	switch {
	case strings.HasSuffix(name, ".zst"):
		zr, err := zstd.NewReader(bufio.NewReaderSize(f, 256<<10), zstd.WithDecoderConcurrency(1))
		if err != nil {
			return false, fmt.Errorf("azumio: replay %s: %w", name, err)
		}
		defer zr.Close()
		z = zr
	case strings.HasSuffix(name, ".gz"):
		gz, err := gzip.NewReader(bufio.NewReaderSize(f, 256<<10))
		if err != nil {
			if errors.Is(err, io.EOF) {
				return true, nil // empty: a crash before the first line
			}
			return false, fmt.Errorf("azumio: replay %s: %w", name, err)
		}
		z = gz
	}
	br := bufio.NewReaderSize(z, 1<<20)
	for n := 1; ctx.Err() == nil; n++ {
		raw, err := br.ReadBytes('\n')
		if err != nil {
			// A last line without its newline was cut by a crash; a cut
			// stream is io.ErrUnexpectedEOF (gzip, zstd). Both end the file.
			if errors.Is(err, io.EOF) || errors.Is(err, io.ErrUnexpectedEOF) {
				return true, nil
			}
			return false, fmt.Errorf("azumio: replay %s: line %d: %w", name, n, err)
		}
		req, body, err := parseArchiveLine(raw)
		if err != nil {
			return false, fmt.Errorf("azumio: replay %s: line %d: %w", name, n, err)
		}
		if !line(archiveLine{req: req, body: body}) {
			return false, nil
		}
	}
	return false, nil
}

// parseArchiveLine returns the request and body of one archive line. The body
// must be the line's last member, as the writer puts it: it is taken as the rest
// of the line without scanning it (a replay would otherwise read every page
// twice); the page decoder checks it.
func parseArchiveLine(line []byte) (string, []byte, error) {
	line = bytes.TrimRight(line, " \t\r\n")
	s := scanner{b: line}
	var req string
	var body []byte
	err := s.object(func(key []byte) error {
		if string(key) == "body" {
			s.ws()
			if len(line) < s.i+2 || line[len(line)-1] != '}' {
				return errCut
			}
			body = line[s.i : len(line)-1]
			s.i = len(line) - 1
			return nil
		}
		v, err := s.value()
		if err == nil && string(key) == "request" {
			req = jsonText(v)
		}
		return err
	})
	if err != nil {
		return "", nil, err
	}
	if req == "" || body == nil {
		return "", nil, errors.New(`want an object with "request" and, last, "body"`)
	}
	return req, body, nil
}
