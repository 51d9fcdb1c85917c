package serve

import (
	"bytes"
	stdcsv "encoding/csv"
	"encoding/json"
	"io/fs"
	"net/http"
	"os"
	"path/filepath"
	"slices"
	"strconv"
	"strings"
	"testing"
	"time"

	"github.com/etl-toolkit/etl/sources/asi/asitest"
)

// asiAPI calls the emulator's API as manager1 (the owner of activity 1).
func asiAPI(t *testing.T, emu *asitest.Server, method, path string, body any) map[string]any {
	t.Helper()
	tok, ok := emu.IssueToken("manager1")
	if !ok {
		t.Fatal("no manager1 at the emulator")
	}
	var data []byte
	if body != nil {
		data, _ = json.Marshal(body)
	}
	req, err := http.NewRequest(method, emu.URL()+path, bytes.NewReader(data))
	if err != nil {
		t.Fatal(err)
	}
	req.Header.Set("Authorization", "Bearer "+tok.AccessToken)
	req.Header.Set("Content-Type", "application/json")
	resp, err := http.DefaultClient.Do(req)
	if err != nil {
		t.Fatal(err)
	}
	defer resp.Body.Close()
	if resp.StatusCode >= 300 {
		t.Fatalf("%s %s: status %d", method, path, resp.StatusCode)
	}
	var out map[string]any
	json.NewDecoder(resp.Body).Decode(&out)
	return out
}

// computedRows returns timeframe_id/version of every committed asi.computed
// CSV row under root, sorted.
func computedRows(t *testing.T, root string) []string {
	t.Helper()
	var out []string
	filepath.WalkDir(root, func(path string, d fs.DirEntry, err error) error {
		if err != nil || d.IsDir() || strings.HasPrefix(d.Name(), ".") || !strings.Contains(path, "stream=asi.computed") {
			return nil
		}
		f, err := os.Open(path)
		if err != nil {
			t.Fatal(err)
		}
		defer f.Close()
		recs, err := stdcsv.NewReader(f).ReadAll()
		if err != nil {
			t.Fatal(err)
		}
		col := map[string]int{}
		for i, name := range recs[0] {
			col[name] = i
		}
		for _, r := range recs[1:] {
			out = append(out, r[col["timeframe_id"]]+"/"+r[col["version"]])
		}
		return nil
	})
	slices.Sort(out)
	return out
}

// TestASIWebhooks: the emulator's webhook with a wrong secret is refused 401
// and runs nothing; with the right one, an updated time frame is pulled and
// exported again as a new version; a deleted one is recorded, not pulled.
func TestASIWebhooks(t *testing.T) {
	emu := asitest.NewServer(t, asitest.DefaultOptions())
	dir := t.TempDir()
	t.Setenv("ETL_TEST_ASI_SECRET", "right-s3cret")
	file := writeFile(t, filepath.Join(dir, "asi.yaml"), `version: 1
name: asi-serve
state: `+dir+`/state
source:
  plugin: asi
  config:
    base_url: `+emu.URL()+`
    client_id: `+asitest.ClientID+`
    client_secret: `+asitest.ClientSecret+`
    username: manager1
    password: `+asitest.Password+`
    tokens: `+dir+`/tokens.json
    rate: 2000
    burst: 100
    streams: [computed]
sinks:
  - plugin: csv
    config: { path: "`+dir+`/out", partition_by: [stream] }
`)
	cfg := &Config{Queue: 100, ShutdownGrace: 10 * time.Second, Pipelines: []PipelineConfig{{File: file, ASI: &ASIHook{SecretEnv: "ETL_TEST_ASI_SECRET"}}}}
	srv := start(t, cfg, nil)
	hook := asiAPI(t, emu, "POST", "/api/v1/activities/1/webhooks/", map[string]any{
		"webhook_url": srv.URL + "/hooks/asi/asi-serve", "secret_token": "wrong", "activity_events": false, "timeframes_events": true,
	})
	hookID := strconv.FormatFloat(hook["id"].(float64), 'f', -1, 64)
	delivered := func(n int) []asitest.Delivery {
		t.Helper()
		waitFor(t, "deliveries", func() bool { return len(emu.Deliveries()) >= n })
		return emu.Deliveries()
	}

	asiAPI(t, emu, "PATCH", "/api/v1/timeframes/2/", map[string]any{"params": map[string]any{"thresholds": []int{4}}})
	if d := delivered(1); d[0].Status != http.StatusUnauthorized {
		t.Fatalf("wrong secret: got status %d, want 401", d[0].Status)
	}
	time.Sleep(50 * time.Millisecond)
	if n := srv.Runs("asi-serve"); n != 0 {
		t.Fatalf("wrong secret: got %d runs, want none", n)
	}

	asiAPI(t, emu, "PATCH", "/api/v1/activities/1/webhooks/"+hookID+"/", map[string]any{"secret_token": "right-s3cret"})
	asiAPI(t, emu, "PATCH", "/api/v1/timeframes/2/", map[string]any{"params": map[string]any{"thresholds": []int{5}}})
	if d := delivered(2); d[1].Status != http.StatusAccepted {
		t.Fatalf("right secret: got status %d, want 202", d[1].Status)
	}
	waitFor(t, "the pull of time frame 2", func() bool { return srv.Runs("asi-serve") == 1 })
	first := computedRows(t, filepath.Join(dir, "out"))
	if len(first) != 1 || !strings.HasPrefix(first[0], "2/") {
		t.Fatalf("after the first update: got %v, want one row of time frame 2", first)
	}

	asiAPI(t, emu, "PATCH", "/api/v1/timeframes/2/", map[string]any{"params": map[string]any{"thresholds": []int{6}}})
	delivered(3)
	waitFor(t, "the second pull", func() bool { return srv.Runs("asi-serve") == 2 })
	got := computedRows(t, filepath.Join(dir, "out"))
	if len(got) != 2 || got[0] == got[1] || !strings.HasPrefix(got[1], "2/") {
		t.Fatalf("after the second update: got %v, want two versions of time frame 2", got)
	}

	asiAPI(t, emu, "DELETE", "/api/v1/timeframes/3/", nil)
	if d := delivered(4); d[3].Status != http.StatusAccepted {
		t.Errorf("deleted time frame: got status %d, want 202", d[3].Status)
	}
	time.Sleep(50 * time.Millisecond)
	if n := srv.Runs("asi-serve"); n != 2 {
		t.Errorf("after a deletion: got %d runs, want still 2", n)
	}
	m := body(t, srv.URL+"/metrics")
	for _, want := range []string{
		`etl_webhook_events_total{pipeline="asi-serve",receiver="asi",result="unauthorized"} 1`,
		`etl_webhook_events_total{pipeline="asi-serve",receiver="asi",result="accepted"} 2`,
		`etl_webhook_events_total{pipeline="asi-serve",receiver="asi",result="timeframe_deleted"} 1`,
		`etl_unit_lag_seconds{pipeline="asi-serve",unit="timeframe/2"} `,
		`etl_rows_total{pipeline="asi-serve",stream="asi.computed"} 2`,
	} {
		if !strings.Contains(m, want) {
			t.Errorf("/metrics lacks %q", want)
		}
	}

	// An activity event names no time frame: the pipeline's time frames are
	// found by listing, in one full run.
	asiAPI(t, emu, "PATCH", "/api/v1/activities/1/webhooks/"+hookID+"/", map[string]any{"activity_events": true})
	asiAPI(t, emu, "PATCH", "/api/v1/activities/1/", map[string]any{"name": "Renamed"})
	if d := delivered(5); d[4].Status != http.StatusAccepted || d[4].Event != "activity-updated" {
		t.Errorf("activity event: got %+v, want activity-updated answered 202", d[4])
	}
	waitFor(t, "the full run", func() bool { return srv.Runs("asi-serve") == 3 })
	if got := computedRows(t, filepath.Join(dir, "out")); len(got) <= 2 {
		t.Errorf("after the full run: got %v, want the other time frames too", got)
	}

	// A call without the header at all is refused too.
	if code := post(t, srv.URL+"/hooks/asi/asi-serve", nil, `{"event":"timeframe-updated","data":{"activity_id":1,"timeframe_id":2}}`); code != http.StatusUnauthorized {
		t.Errorf("no header: got status %d, want 401", code)
	}
	if code := post(t, srv.URL+"/hooks/asi/nope", nil, ""); code != http.StatusNotFound {
		t.Errorf("unknown pipeline: got status %d, want 404", code)
	}
}
