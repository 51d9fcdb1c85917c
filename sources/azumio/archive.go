package azumio

import (
	"bufio"
	"bytes"
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
)

// The raw archive keeps every answer the source fetched, one gzip file of JSON
// lines per user and read:
//
//	DIR/user=10001/20260101T020304.123456789Z.jsonl.gz
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
// unused answer to it. Klauspost's gzip is used instead of compress/gzip for its speed:
// decompression bounds how fast a replay runs.

type archiveWriter struct {
	dir   string
	mu    sync.Mutex
	files map[string]*archiveFile
}

type archiveFile struct {
	mu   sync.Mutex
	f    *os.File
	gz   *gzip.Writer
	w    *bufio.Writer
	line []byte
}

func newArchiveWriter(dir string) *archiveWriter {
	return &archiveWriter{dir: dir, files: map[string]*archiveFile{}}
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
		name := time.Now().UTC().Format("20060102T150405.000000000Z") + ".jsonl.gz"
		f, err := os.OpenFile(filepath.Join(d, name), os.O_CREATE|os.O_EXCL|os.O_WRONLY, 0o644)
		if err != nil {
			a.mu.Unlock()
			return fmt.Errorf("azumio: archive: %w", err)
		}
		gz, _ := gzip.NewWriterLevel(f, gzip.BestSpeed)
		af = &archiveFile{f: f, gz: gz, w: bufio.NewWriterSize(gz, 256<<10)}
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
	if err := af.gz.Flush(); err != nil {
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
	if cerr := af.gz.Close(); err == nil {
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

// replayUser holds the answers of one user, read on first use.
type replayUser struct {
	once   sync.Once
	mu     sync.Mutex
	bodies map[string][][]byte // by request, in archive order
	used   map[string]int      // answers used per request
	err    error
}

func (r *replayReader) load(user string) (*replayUser, error) {
	ru := r.user(user)
	ru.once.Do(func() {
		ru.bodies, ru.err = readArchive(userDir(r.dir, user))
		ru.used = map[string]int{}
	})
	return ru, ru.err
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
		ru = &replayUser{}
		r.users[user] = ru
	}
	return ru
}

// lookup returns the next archived body for request of user.
func (r *replayReader) lookup(user, request string) ([]byte, error) {
	ru, err := r.load(user)
	if err != nil {
		return nil, err
	}
	ru.mu.Lock()
	defer ru.mu.Unlock()
	list := ru.bodies[request]
	if len(list) == 0 {
		return nil, fmt.Errorf("azumio: replay: user %s: %s: %w (%d requests archived for the user in %s)",
			user, request, errReplay, len(ru.bodies), userDir(r.dir, user))
	}
	i := min(ru.used[request], len(list)-1)
	ru.used[request] = i + 1
	return list[i], nil
}

// unused reports whether the archive holds an answer to request of user that
// the replay has not used yet.
func (r *replayReader) unused(user, request string) bool {
	ru, err := r.load(user)
	if err != nil {
		return false
	}
	ru.mu.Lock()
	defer ru.mu.Unlock()
	return ru.used[request] < len(ru.bodies[request])
}

// release drops what was read for user.
func (r *replayReader) release(user string) {
	r.mu.Lock()
	delete(r.users, user)
	r.mu.Unlock()
}

// readArchive reads every file of a user's archive directory.
func readArchive(dir string) (map[string][][]byte, error) {
	names, err := filepath.Glob(filepath.Join(dir, "*.jsonl.gz"))
	if err != nil {
		return nil, fmt.Errorf("azumio: replay: %w", err)
	}
	slices.Sort(names)
	bodies := map[string][][]byte{}
	for _, name := range names {
		if err := readArchiveFile(name, bodies); err != nil {
			return nil, err
		}
	}
	return bodies, nil
}

func readArchiveFile(name string, bodies map[string][][]byte) error {
	f, err := os.Open(name)
	if err != nil {
		return fmt.Errorf("azumio: replay: %w", err)
	}
	defer f.Close()
	gz, err := gzip.NewReader(bufio.NewReaderSize(f, 1<<20))
	if err != nil {
		if errors.Is(err, io.EOF) {
			return nil // empty: a crash before the first line
		}
		return fmt.Errorf("azumio: replay %s: %w", name, err)
	}
	br := bufio.NewReaderSize(gz, 1<<20)
	for n := 1; ; n++ {
		line, err := br.ReadBytes('\n')
		if err != nil {
			// A last line without its newline was cut by a crash; gzip
			// reports a cut stream as io.ErrUnexpectedEOF. Both end the file.
			if errors.Is(err, io.EOF) || errors.Is(err, io.ErrUnexpectedEOF) {
				return nil
			}
			return fmt.Errorf("azumio: replay %s: line %d: %w", name, n, err)
		}
		req, body, err := parseArchiveLine(line)
		if err != nil {
			return fmt.Errorf("azumio: replay %s: line %d: %w", name, n, err)
		}
		bodies[req] = append(bodies[req], body)
	}
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
