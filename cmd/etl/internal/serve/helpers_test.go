package serve

import (
	"context"
	stdcsv "encoding/csv"
	"errors"
	"io"
	"io/fs"
	"log/slog"
	"net"
	"net/http"
	"net/url"
	"os"
	"path/filepath"
	"sort"
	"strconv"
	"strings"
	"sync"
	"testing"
	"time"

	_ "time/tzdata"

	_ "github.com/etl-toolkit/etl/sinks/csv"
	_ "github.com/etl-toolkit/etl/sources/asi"
	_ "github.com/etl-toolkit/etl/sources/azumio"
	"github.com/etl-toolkit/etl/sources/azumio/azumiotest"
)

// fakeClock is a Clock that tests move with Advance.
type fakeClock struct {
	mu      sync.Mutex
	now     time.Time
	waiters []fakeWaiter
}

type fakeWaiter struct {
	at time.Time
	ch chan time.Time
}

func newFakeClock(now time.Time) *fakeClock { return &fakeClock{now: now} }

func (c *fakeClock) Now() time.Time {
	c.mu.Lock()
	defer c.mu.Unlock()
	return c.now
}

func (c *fakeClock) After(d time.Duration) <-chan time.Time {
	c.mu.Lock()
	defer c.mu.Unlock()
	ch := make(chan time.Time, 1)
	c.waiters = append(c.waiters, fakeWaiter{c.now.Add(d), ch})
	return ch
}

// Advance moves the clock and fires the waiters that are due.
func (c *fakeClock) Advance(d time.Duration) {
	c.mu.Lock()
	defer c.mu.Unlock()
	c.now = c.now.Add(d)
	kept := c.waiters[:0]
	for _, w := range c.waiters {
		if !w.at.After(c.now) {
			w.ch <- c.now
			continue
		}
		kept = append(kept, w)
	}
	c.waiters = kept
}

func (c *fakeClock) Waiting() int {
	c.mu.Lock()
	defer c.mu.Unlock()
	return len(c.waiters)
}

// running is a Server serving on a loopback port.
type running struct {
	*Server
	URL  string
	stop func() error
}

// start serves cfg on 127.0.0.1 until the test ends (or stop is called).
func start(t *testing.T, cfg *Config, clock Clock) *running {
	t.Helper()
	return startWith(t, cfg, Options{Clock: clock})
}

// startWith is start with more options (the logger is always quiet).
func startWith(t *testing.T, cfg *Config, opts Options) *running {
	t.Helper()
	ctx, cancel := context.WithCancel(context.Background())
	opts.Logger = slog.New(slog.DiscardHandler)
	srv, err := New(ctx, cfg, opts)
	if err != nil {
		cancel()
		t.Fatal(err)
	}
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		cancel()
		t.Fatal(err)
	}
	done := make(chan error, 1)
	go func() { done <- srv.Serve(ctx, ln) }()
	var once sync.Once
	var serveErr error
	stop := func() error {
		once.Do(func() {
			// Idle client connections would hold the server's shutdown up.
			http.DefaultClient.CloseIdleConnections()
			cancel()
			select {
			case serveErr = <-done:
			case <-time.After(20 * time.Second):
				serveErr = errors.New("serve did not return 20s after cancel")
			}
		})
		return serveErr
	}
	t.Cleanup(func() {
		if err := stop(); err != nil {
			t.Error(err)
		}
	})
	r := &running{Server: srv, URL: "http://" + ln.Addr().String(), stop: stop}
	waitFor(t, "readyz", func() bool { return get(t, r.URL+"/readyz") == 200 })
	return r
}

func get(t *testing.T, u string) int {
	t.Helper()
	resp, err := http.Get(u)
	if err != nil {
		return 0
	}
	resp.Body.Close()
	return resp.StatusCode
}

func body(t *testing.T, u string) string {
	t.Helper()
	resp, err := http.Get(u)
	if err != nil {
		t.Fatal(err)
	}
	defer resp.Body.Close()
	b, err := io.ReadAll(resp.Body)
	if err != nil {
		t.Fatal(err)
	}
	return string(b)
}

func post(t *testing.T, u string, header http.Header, data string) int {
	t.Helper()
	req, err := http.NewRequest(http.MethodPost, u, strings.NewReader(data))
	if err != nil {
		t.Fatal(err)
	}
	for k, v := range header {
		req.Header[k] = v
	}
	resp, err := http.DefaultClient.Do(req)
	if err != nil {
		t.Fatal(err)
	}
	resp.Body.Close()
	return resp.StatusCode
}

// waitFor polls cond for up to 20s.
func waitFor(t *testing.T, what string, cond func() bool) {
	t.Helper()
	deadline := time.Now().Add(20 * time.Second)
	for !cond() {
		if time.Now().After(deadline) {
			t.Fatalf("timed out waiting for %s", what)
		}
		time.Sleep(5 * time.Millisecond)
	}
}

func writeFile(t *testing.T, path, content string) string {
	t.Helper()
	if err := os.MkdirAll(filepath.Dir(path), 0o755); err != nil {
		t.Fatal(err)
	}
	if err := os.WriteFile(path, []byte(content), 0o644); err != nil {
		t.Fatal(err)
	}
	return path
}

// azumioPipeline writes a pipeline file exporting emu's steps check-ins to CSV
// under dir/out and returns its path.
func azumioPipeline(t *testing.T, emu *azumiotest.Server, dir string, page int) string {
	t.Helper()
	if err := emu.WriteTokens(filepath.Join(dir, "tokens.json")); err != nil {
		t.Fatal(err)
	}
	return writeFile(t, filepath.Join(dir, "azumio.yaml"), `version: 1
name: azumio-serve
state: `+dir+`/state
concurrency: 2
commit: { interval: 1m }
source:
  plugin: azumio
  config:
    base_url: `+emu.URL()+`
    client_id: `+emu.ClientID()+`
    client_secret: `+emu.ClientSecret()+`
    tokens: `+dir+`/tokens.json
    types: [steps]
    requests_per_second: 0
    timeout: 5s
    retry: { tries: 4, initial: 5ms, max: 50ms }
    fragments: false
    profile: false
    api: { page_size: `+strconv.Itoa(page)+` }
sinks:
  - plugin: csv
    config: { path: "`+dir+`/out", partition_by: [stream] }
`)
}

// subscribe registers callback for user's check-ins at the emulator, as
// `etl azumio subscriptions add` does.
func subscribe(t *testing.T, emu *azumiotest.Server, user, callback string) {
	t.Helper()
	tok := emu.Tokens()[user].AccessToken
	h := http.Header{"Authorization": {"OAuth " + tok}, "X-Client-Id": {emu.ClientID()}}
	if code := post(t, emu.URL()+"/api2/subscriptions?url="+url.QueryEscape(callback), h, ""); code != 200 {
		t.Fatalf("subscribe %s: status %d", user, code)
	}
}

// csvRows returns user/id/version of every committed CSV row under root
// (dot files are uncommitted and skipped), sorted, repeats included.
func csvRows(t *testing.T, root string) []string {
	t.Helper()
	var out []string
	err := filepath.WalkDir(root, func(path string, d fs.DirEntry, err error) error {
		if err != nil {
			if errors.Is(err, fs.ErrNotExist) && path == root {
				return filepath.SkipDir
			}
			return err
		}
		if d.IsDir() || strings.HasPrefix(d.Name(), ".") || !strings.HasSuffix(d.Name(), ".csv") {
			return nil
		}
		f, err := os.Open(path)
		if err != nil {
			return err
		}
		defer f.Close()
		recs, err := stdcsv.NewReader(f).ReadAll()
		if err != nil || len(recs) == 0 {
			return err
		}
		col := map[string]int{}
		for i, name := range recs[0] {
			col[name] = i
		}
		for _, r := range recs[1:] {
			out = append(out, r[col["user_id"]]+"/"+r[col["id"]]+"/"+r[col["version"]])
		}
		return nil
	})
	if err != nil {
		t.Fatal(err)
	}
	sort.Strings(out)
	return out
}
