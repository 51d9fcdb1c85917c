package azumio_test

import (
	"context"
	stdcsv "encoding/csv"
	"encoding/json"
	"errors"
	"io"
	"io/fs"
	"log/slog"
	"os"
	"path/filepath"
	"sort"
	"strings"
	"sync/atomic"
	"testing"
	"time"

	"github.com/etl-toolkit/etl/core"
	_ "github.com/etl-toolkit/etl/sinks/csv"
	_ "github.com/etl-toolkit/etl/sinks/parquet"
	"github.com/etl-toolkit/etl/sources/azumio/azumiotest"
)

// e2ePipeline exports the emulator at ${BASE} to CSV under ${DIR}/out.
const e2ePipeline = `version: 1
name: azumio-e2e
state: ${DIR}/state
concurrency: 3
commit: { interval: 1s }
source:
  plugin: azumio
  config:
    base_url: ${BASE}
    client_id: ${CLIENT}
    client_secret: ${SECRET}
    tokens: ${DIR}/tokens.json
    types: TYPES
    requests_per_second: 0
    timeout: ${TIMEOUT:-5s}
    retry: { tries: 4, initial: 5ms, max: 50ms }
    api:
      page_size: ${PAGE:-25}
sinks:
  - plugin: csv
    config: { path: "${DIR}/out", partition_by: [stream] }
`

// pipelineEnv returns the variables of e2ePipeline for srv and dir, with the
// tokens file written.
func pipelineEnv(t *testing.T, srv *azumiotest.Server, dir string) map[string]string {
	t.Helper()
	if err := srv.WriteTokens(filepath.Join(dir, "tokens.json")); err != nil {
		t.Fatal(err)
	}
	return map[string]string{"DIR": dir, "BASE": srv.URL(), "CLIENT": srv.ClientID(), "SECRET": srv.ClientSecret()}
}

// runPipeline runs a pipeline file's text with env as its environment.
func runPipeline(t *testing.T, yaml string, env map[string]string) (*core.Summary, error) {
	t.Helper()
	lookup := func(k string) (string, bool) { v, ok := env[k]; return v, ok }
	types := env["TYPES"]
	if types == "" {
		types = "[steps, workout_log, heartrate, sleeptime, drink, weight]"
	}
	yaml = strings.Replace(yaml, "types: TYPES", "types: "+types, 1)
	p, err := core.ParsePipeline(filepath.Join(env["DIR"], "p.yaml"), []byte(yaml), lookup)
	if err != nil {
		t.Fatalf("pipeline: %v", err)
	}
	ctx, cancel := context.WithTimeout(context.Background(), 60*time.Second)
	defer cancel()
	plan, err := core.Build(ctx, p, slog.New(slog.DiscardHandler))
	if err != nil {
		t.Fatalf("build: %v", err)
	}
	defer plan.Close()
	store, err := core.OpenBoltStore(p.StatePath())
	if err != nil {
		t.Fatal(err)
	}
	defer store.Close()
	return plan.Run(ctx, core.RunOptions{Store: store})
}

// csvRows reads every committed CSV file under root/stream=<prefix>* (files
// starting with a dot are uncommitted and skipped, as readers skip them) and
// returns the rows as maps, each with its stream under "_stream".
func csvRows(t *testing.T, root, prefix string) []map[string]string {
	t.Helper()
	var rows []map[string]string
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
		stream := ""
		for _, part := range strings.Split(filepath.ToSlash(path), "/") {
			if s, ok := strings.CutPrefix(part, "stream="); ok {
				stream = s
			}
		}
		if !strings.HasPrefix(stream, prefix) {
			return nil
		}
		f, err := os.Open(path)
		if err != nil {
			return err
		}
		defer f.Close()
		r := stdcsv.NewReader(f)
		header, err := r.Read()
		if err != nil {
			return err
		}
		for {
			rec, err := r.Read()
			if err == io.EOF {
				return nil
			}
			if err != nil {
				return err
			}
			row := map[string]string{"_stream": stream}
			for i, h := range header {
				row[h] = rec[i]
			}
			rows = append(rows, row)
		}
	})
	if err != nil {
		t.Fatal(err)
	}
	return rows
}

// csvVersions returns "user/id/version" of every committed check-in row under
// dir/out, sorted.
func csvVersions(t *testing.T, dir string) []string {
	t.Helper()
	return csvVersionsIn(t, filepath.Join(dir, "out"))
}

func csvVersionsIn(t *testing.T, root string) []string {
	t.Helper()
	var out []string
	for _, row := range csvRows(t, root, "azumio.checkins.") {
		out = append(out, row["user_id"]+"/"+row["id"]+"/"+row["version"])
	}
	sort.Strings(out)
	return out
}

func checkVersions(t *testing.T, what string, got, want []string) {
	t.Helper()
	if diff(got, want) != diff(want, want) {
		t.Errorf("%s: got %s", what, diff(got, want))
	}
}

func TestPipelineFaults(t *testing.T) {
	tests := []struct {
		name  string
		opts  azumiotest.Options
		env   map[string]string
		set   func(s *azumiotest.Server)
		check func(t *testing.T, srv *azumiotest.Server, dir string)
	}{
		{name: "429 with Retry-After", set: func(s *azumiotest.Server) { s.Fail429.Store(1); s.RetryAfter.Store(1) },
			check: func(t *testing.T, srv *azumiotest.Server, dir string) {}},
		{name: "500", set: func(s *azumiotest.Server) { s.Fail500.Store(3) }},
		{name: "503 beyond the client's tries (the runner retries the unit)", opts: azumiotest.Options{Users: 1},
			set: func(s *azumiotest.Server) { s.Fail503.Store(6) },
			check: func(t *testing.T, srv *azumiotest.Server, dir string) {
				// 4 tries per request: the 503s outlast the first read of the
				// unit, so the runner had to read it again.
				if n := srv.Requests("profile"); n < 2+1 {
					t.Errorf("got %d profile requests, want the unit read twice", n)
				}
			}},
		{name: "dropped connections", set: func(s *azumiotest.Server) { s.Drop.Store(3) }},
		{name: "truncated bodies", set: func(s *azumiotest.Server) { s.Truncate.Store(3) }},
		{name: "slow answers past the timeout", env: map[string]string{"TIMEOUT": "100ms"},
			set: func(s *azumiotest.Server) { s.Slow.Store(2); s.SlowDelay.Store(int64(400 * time.Millisecond)) }},
		{name: "401 refreshes the token and writes it back", set: func(s *azumiotest.Server) { s.Fail401.Store(1) },
			check: func(t *testing.T, srv *azumiotest.Server, dir string) {
				checkTokensFile(t, srv, filepath.Join(dir, "tokens.json"))
			}},
		{name: "unknown fields", set: func(s *azumiotest.Server) { s.UnknownFields.Store(true) },
			check: func(t *testing.T, srv *azumiotest.Server, dir string) {
				rows := csvRows(t, filepath.Join(dir, "out"), "azumio.checkins.")
				for _, row := range rows {
					var extra map[string]any
					if row["deleted"] == "true" {
						continue
					}
					if err := json.Unmarshal([]byte(row["_extra"]), &extra); err != nil || extra["heartbeatVariability"] != 41.5 || extra["device"] == nil {
						t.Fatalf("_extra: got %q, want the unknown members with their values", row["_extra"])
					}
				}
				for _, row := range csvRows(t, filepath.Join(dir, "out"), "azumio.profile") {
					if !strings.Contains(row["_extra"], `"locale":"en_US"`) {
						t.Errorf("profile _extra: got %q, want the unknown locale", row["_extra"])
					}
				}
			}},
		{name: "unknown type", opts: azumiotest.Options{UnknownType: "meditation"}, env: map[string]string{"TYPES": "[steps, meditation]"},
			check: func(t *testing.T, srv *azumiotest.Server, dir string) {
				rows := csvRows(t, filepath.Join(dir, "out"), "azumio.checkins.meditation")
				if len(rows) == 0 {
					t.Fatalf("got no rows in azumio.checkins.meditation")
				}
				if _, typed := rows[0]["steps"]; typed || rows[0]["type"] != "meditation" {
					t.Errorf("meditation row: got %v, want the generic schema", rows[0])
				}
			}},
		{name: "every type (types: [])", opts: azumiotest.Options{UnknownType: "meditation"}, env: map[string]string{"TYPES": "[]"}},
		{name: "a full page sharing one modified", opts: azumiotest.Options{SameModified: 60}, env: map[string]string{"PAGE": "20"},
			check: func(t *testing.T, srv *azumiotest.Server, dir string) {
				widened := false
				for _, l := range srv.RequestLog() {
					widened = widened || strings.Contains(l, "limit=80")
				}
				if !widened {
					t.Errorf("requests: want a page widened to limit=80, got none")
				}
			}},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			opts := tt.opts
			opts.Seed, opts.Checkins = 21, 70
			if opts.Users == 0 {
				opts.Users = 3
			}
			srv := azumiotest.NewServer(t, opts)
			dir := t.TempDir()
			env := pipelineEnv(t, srv, dir)
			for k, v := range tt.env {
				env[k] = v
			}
			if tt.set != nil {
				tt.set(srv)
			}
			start := time.Now()
			sum, err := runPipeline(t, e2ePipeline, env)
			if err != nil {
				t.Fatalf("run: %v (failed units: %v)", err, sum.Failed)
			}
			refs := allRefs(srv)
			if tt.env["TYPES"] == "[steps, meditation]" {
				var keep []azumiotest.Ref
				for _, r := range refs {
					if r.Type == "steps" || r.Type == "meditation" {
						keep = append(keep, r)
					}
				}
				refs = keep
			}
			checkVersions(t, "committed rows", csvVersions(t, dir), refVersions(refs))
			if tt.name == "429 with Retry-After" && time.Since(start) < time.Second {
				t.Errorf("429: the run took %s, want at least the 1s Retry-After", time.Since(start))
			}
			for name, knob := range map[string]*atomic.Int64{"Slow": &srv.Slow, "Drop": &srv.Drop, "Fail401": &srv.Fail401,
				"Fail429": &srv.Fail429, "Fail500": &srv.Fail500, "Fail503": &srv.Fail503, "Truncate": &srv.Truncate} {
				if n := knob.Load(); n != 0 {
					t.Errorf("%s: %d faults left unused, want every one served", name, n)
				}
			}
			if tt.check != nil {
				tt.check(t, srv, dir)
			}
		})
	}
}

// checkTokensFile checks that the tokens file holds srv's current tokens with
// mode 0600.
func checkTokensFile(t *testing.T, srv *azumiotest.Server, path string) {
	t.Helper()
	st, err := os.Stat(path)
	if err != nil {
		t.Fatal(err)
	}
	if st.Mode().Perm() != 0o600 {
		t.Errorf("tokens file mode: got %v, want 0600", st.Mode().Perm())
	}
	raw, _ := os.ReadFile(path)
	var f struct {
		Users map[string]struct {
			AccessToken  string `json:"access_token"`
			RefreshToken string `json:"refresh_token"`
		} `json:"users"`
	}
	if err := json.Unmarshal(raw, &f); err != nil {
		t.Fatal(err)
	}
	refreshed := 0
	for user, tok := range srv.Tokens() {
		if f.Users[user].AccessToken == tok.AccessToken && f.Users[user].RefreshToken == tok.RefreshToken {
			refreshed++
		}
	}
	if refreshed != len(srv.Users()) {
		t.Errorf("tokens file: %d of %d users hold the emulator's newest tokens", refreshed, len(srv.Users()))
	}
}

func TestPipelineTwoRunsWithTheClockAdvanced(t *testing.T) {
	srv := azumiotest.NewServer(t, azumiotest.Options{Seed: 31, Users: 3, Checkins: 50})
	dir := t.TempDir()
	env := pipelineEnv(t, srv, dir)
	if _, err := runPipeline(t, e2ePipeline, env); err != nil {
		t.Fatal(err)
	}
	first := allRefs(srv)
	checkVersions(t, "first run", csvVersions(t, dir), refVersions(first))

	changes := srv.Advance(2*time.Hour, azumiotest.Changes{New: 4, Edited: 3, Deleted: 2})
	sum, err := runPipeline(t, e2ePipeline, env)
	if err != nil {
		t.Fatal(err)
	}
	var rows int64
	for _, s := range sum.Streams {
		if strings.HasPrefix(s.Stream, "azumio.checkins.") {
			rows += s.Rows
		}
	}
	if rows != int64(len(changes)) {
		t.Errorf("second run: got %d check-in rows, want %d (only the new versions)", rows, len(changes))
	}
	// The files hold every version seen by either run, each once.
	checkVersions(t, "after the second run", csvVersions(t, dir), refVersions(first, changes))
	deleted := 0
	for _, row := range csvRows(t, filepath.Join(dir, "out"), "azumio.checkins.") {
		if row["deleted"] == "true" {
			deleted++
		}
	}
	if deleted != 3*2 {
		t.Errorf("got %d deletion rows, want 6", deleted)
	}
}

func TestPipelineRejectedTokenFailsOnlyThatUser(t *testing.T) {
	srv := azumiotest.NewServer(t, azumiotest.Options{Seed: 8, Users: 3, Checkins: 30})
	dir := t.TempDir()
	env := pipelineEnv(t, srv, dir)
	srv.Revoke("10002")
	sum, err := runPipeline(t, e2ePipeline, env)
	if !errors.Is(err, core.ErrUnitsFailed) {
		t.Fatalf("run: got %v, want ErrUnitsFailed", err)
	}
	uerr := sum.Failed["user/10002"]
	if len(sum.Failed) != 1 || uerr == nil {
		t.Fatalf("failed units: got %v, want only user/10002", sum.Failed)
	}
	msg := uerr.Error()
	for _, want := range []string{"user 10002", "/api2/", "401", "etl auth azumio"} {
		if !strings.Contains(msg, want) {
			t.Errorf("error %q: want it to mention %q", msg, want)
		}
	}
	if tok := srv.Tokens()["10001"].AccessToken; strings.Contains(msg, "at-10002") || strings.Contains(msg, tok) {
		t.Errorf("error %q shows a token", msg)
	}
	var want []azumiotest.Ref
	for _, u := range []string{"10001", "10003"} {
		want = append(want, srv.Checkins(u)...)
	}
	checkVersions(t, "the other users", csvVersions(t, dir), refVersions(want))
}

func TestPipelineTokenExpiry(t *testing.T) {
	srv := azumiotest.NewServer(t, azumiotest.Options{Seed: 4, Users: 2, Checkins: 30, TokenTTL: time.Hour})
	dir := t.TempDir()
	env := pipelineEnv(t, srv, dir)
	srv.ExpireTokens()
	if _, err := runPipeline(t, e2ePipeline, env); err != nil {
		t.Fatalf("run with expired tokens: %v", err)
	}
	checkTokensFile(t, srv, filepath.Join(dir, "tokens.json"))
	// The rotated tokens were saved: after another expiry, the next run
	// refreshes with them (the first refresh tokens are dead).
	srv.ExpireTokens()
	changes := srv.Advance(time.Minute, azumiotest.Changes{New: 1})
	if _, err := runPipeline(t, e2ePipeline, env); err != nil {
		t.Fatalf("second run: %v", err)
	}
	var want []azumiotest.Ref
	for _, u := range srv.Users() {
		for _, r := range srv.Checkins(u) {
			want = append(want, r)
		}
	}
	checkVersions(t, "both runs", csvVersions(t, dir), refVersions(want))
	if len(changes) != 2 {
		t.Errorf("Advance: got %d changes, want 2", len(changes))
	}
}
