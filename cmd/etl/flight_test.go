package main

import (
	"bufio"
	"context"
	"crypto/ecdsa"
	"crypto/elliptic"
	"crypto/rand"
	"crypto/x509"
	"crypto/x509/pkix"
	"encoding/pem"
	"io"
	"math/big"
	"net"
	"os"
	"path/filepath"
	"regexp"
	"sort"
	"strconv"
	"strings"
	"sync"
	"syscall"
	"testing"
	"time"

	"github.com/etl-toolkit/etl/internal/duckdbtest"
	// The flight sink and the azumio source, in this test binary (which also
	// runs as etl) whether or not builtins.go links them yet.
	_ "github.com/etl-toolkit/etl/sinks/flight"
	_ "github.com/etl-toolkit/etl/sources/azumio"
)

// startFlightServe runs `etl flight-serve args...` in this process until the test
// ends, and returns the location it listens on and a function returning what
// it printed so far.
func startFlightServe(t *testing.T, args ...string) (location string, output func() string) {
	t.Helper()
	cmd := newFlightServeCmd()
	r, w := io.Pipe()
	cmd.SetOut(w)
	cmd.SetErr(io.Discard)
	cmd.SetArgs(args)
	ctx, cancel := context.WithCancel(context.Background())
	done := make(chan error, 1)
	go func() {
		done <- cmd.ExecuteContext(ctx)
		w.Close()
	}()
	var mu sync.Mutex
	var out strings.Builder
	first := make(chan string, 1)
	go func() {
		sc := bufio.NewScanner(r)
		for sc.Scan() {
			mu.Lock()
			if out.Len() == 0 {
				first <- sc.Text()
			}
			out.WriteString(sc.Text() + "\n")
			mu.Unlock()
		}
		close(first)
	}()
	t.Cleanup(func() {
		cancel()
		if err := <-done; err != nil {
			t.Errorf("flight-serve: %v", err)
		}
	})
	line, ok := <-first
	if !ok {
		t.Fatalf("flight-serve printed nothing: %v", <-done)
	}
	m := regexp.MustCompile(`listening on (grpc(\+tls)?://[0-9.:]+),`).FindStringSubmatch(line)
	if m == nil {
		t.Fatalf("flight-serve: got %q, want the location it listens on", line)
	}
	return m[1], func() string { mu.Lock(); defer mu.Unlock(); return out.String() }
}

func TestFlightServeFlagErrors(t *testing.T) {
	dir := t.TempDir()
	empty := writeFile(t, dir, "empty", "")
	tests := []struct {
		args []string
		want []string
	}{
		{nil, []string{"--out: required"}},
		{[]string{"--out", dir, "--tls-cert", "c.pem"}, []string{"--tls-cert and --tls-key go together"}},
		{[]string{"--out", dir, "--tls-client-ca", "ca.pem"}, []string{"--tls-client-ca needs --tls-cert and --tls-key"}},
		{[]string{"--out", dir, "--token-env", "TEST_FLIGHT_UNSET_VAR", "--token-file", empty}, []string{
			"--token-env: environment variable TEST_FLIGHT_UNSET_VAR is not set", "--token-file: " + empty + " is empty"}},
		{[]string{"--out", dir, "--user", "u"}, []string{"--user needs one of --password-env or --password-file"}},
		{[]string{"--out", dir, "--max-message-bytes", "1KiB"}, []string{"--max-message-bytes: 1KiB out of range"}},
		{[]string{"--out", dir, "--compression", "brotli"}, []string{`unknown value "brotli"`}},
	}
	for _, tt := range tests {
		cmd := newFlightServeCmd()
		cmd.SetArgs(tt.args)
		cmd.SetOut(io.Discard)
		cmd.SetErr(io.Discard)
		err := cmd.Execute()
		var ee *exitError
		if err == nil || !asExit(err, &ee) || (ee.code != exitInvalid && ee.code != exitFailed) {
			t.Errorf("%v: got %v, want an exit error", tt.args, err)
			continue
		}
		for _, w := range tt.want {
			if !strings.Contains(err.Error(), w) {
				t.Errorf("%v: got %q, want it to say %q", tt.args, err, w)
			}
		}
	}
}

func asExit(err error, ee **exitError) bool {
	e, ok := err.(*exitError)
	*ee = e
	return ok
}

// TestAzumioToFlightPipeline runs pipelines/azumio-to-flight.yaml as shipped
// (the Azumio emulator in-process) against `etl flight-serve`: every check-in
// version arrives once, as Parquet that DuckDB reads, and a second run sends
// nothing.
func TestAzumioToFlightPipeline(t *testing.T) {
	dir := t.TempDir()
	pipeline := copyPipeline(t, dir)
	loc, output := startFlightServe(t, "--addr", "127.0.0.1:0", "--out", filepath.Join(dir, "flight"))
	t.Setenv("FLIGHT_LOCATION", loc)

	stdout, stderr, code := etl(t, dir, "run", "--progress", "none", pipeline)
	if code != 0 {
		t.Fatalf("exit %d\n%s\n%s", code, stdout, stderr)
	}
	for _, want := range []string{"azumio-to-flight finished", "azumio.checkins.steps", "output: " + loc} {
		if !strings.Contains(stdout, want) {
			t.Errorf("summary lacks %q:\n%s", want, stdout)
		}
	}
	total := summaryRows(t, stdout)
	versions := checkinVersions(t, dir)
	if len(versions) == 0 {
		t.Fatal("got no check-ins in the Flight server's Parquet files")
	}
	assertOnce(t, versions)
	if got := storedRows(t, dir); got != total {
		t.Errorf("the server stored %d rows, the run sent %d", got, total)
	}

	stdout, stderr, code = etl(t, dir, "run", "--progress", "none", pipeline)
	if code != 0 || summaryRows(t, stdout) != 0 {
		t.Fatalf("second run: exit %d, want 0 rows\n%s\n%s", code, stdout, stderr)
	}
	if got := checkinVersions(t, dir); len(got) != len(versions) {
		t.Errorf("after the second run: got %d check-in versions, want %d", len(got), len(versions))
	}
	if !strings.Contains(output(), "listening on "+loc) {
		t.Errorf("flight-serve output:\n%s", output())
	}
}

// TestAzumioToFlightKilled kills `etl run` with SIGKILL three times, each
// time once the server has stored more puts, and runs it to the end: the
// server ends up with exactly the check-ins of an uninterrupted run, each
// once, wherever the kills fell (before the runner saved the positions of
// what the server had stored, or after). The runs commit every 10,000 rows,
// so that kills land between commits too.
func TestAzumioToFlightKilled(t *testing.T) {
	ref := t.TempDir()
	refPipeline := copyPipeline(t, ref)
	refLoc, _ := startFlightServe(t, "--addr", "127.0.0.1:0", "--out", filepath.Join(ref, "flight"))
	t.Setenv("FLIGHT_LOCATION", refLoc)
	if stdout, stderr, code := etl(t, ref, "run", "--progress", "none", refPipeline); code != 0 {
		t.Fatalf("reference run: exit %d\n%s\n%s", code, stdout, stderr)
	}
	want := checkinVersions(t, ref)

	dir := t.TempDir()
	pipeline := copyPipeline(t, dir)
	src, err := os.ReadFile(filepath.Join(dir, pipeline))
	if err != nil {
		t.Fatal(err)
	}
	writeFile(t, dir, pipeline, strings.Replace(string(src), "\nconcurrency: 4\n", "\nconcurrency: 4\ncommit: { rows: 10000 }\n", 1))
	loc, _ := startFlightServe(t, "--addr", "127.0.0.1:0", "--out", filepath.Join(dir, "flight"))
	t.Setenv("FLIGHT_LOCATION", loc)
	for kill := range 3 {
		before := len(parquetFiles(t, dir))
		cmd := etlCmd(t, dir, "run", "--progress", "none", pipeline)
		if err := cmd.Start(); err != nil {
			t.Fatal(err)
		}
		exited := make(chan struct{})
		go func() { cmd.Wait(); close(exited) }()
		wait := 1 + kill*2 // more puts stored before each kill
		for len(parquetFiles(t, dir)) < before+wait {
			select {
			case <-exited:
			case <-time.After(time.Millisecond):
				continue
			}
			break
		}
		cmd.Process.Signal(syscall.SIGKILL)
		<-exited
		killed := false
		if ws, ok := cmd.ProcessState.Sys().(syscall.WaitStatus); ok && ws.Signaled() {
			killed = true
		}
		t.Logf("kill %d: killed=%v after %d new files", kill, killed, len(parquetFiles(t, dir))-before)
	}
	stdout, stderr, code := etl(t, dir, "run", "--progress", "none", pipeline)
	if code != 0 {
		t.Fatalf("run after the kills: exit %d\n%s\n%s", code, stdout, stderr)
	}
	t.Logf("the last run sent %d rows", summaryRows(t, stdout))
	got := checkinVersions(t, dir)
	assertOnce(t, got)
	if strings.Join(dedup(got), "\n") != strings.Join(want, "\n") {
		t.Errorf("got %d check-in versions, want the reference run's %d", len(got), len(want))
	}
}

// TestFlightServeTLSAndToken serves with --tls-cert, --tls-key,
// --tls-client-ca and --token-env, and runs a pipeline whose flight sink uses
// mutual TLS and the token; the same pipeline with a wrong token is refused
// with Unauthenticated and exit code 1, the token appearing nowhere.
func TestFlightServeTLSAndToken(t *testing.T) {
	dir := t.TempDir()
	cert, key := selfSigned(t, dir)
	t.Setenv("TEST_SERVE_TOKEN", "serve-secret-1")
	loc, _ := startFlightServe(t, "--addr", "127.0.0.1:0", "--out", filepath.Join(dir, "flight"),
		"--tls-cert", cert, "--tls-key", key, "--tls-client-ca", cert, "--token-env", "TEST_SERVE_TOKEN")
	if !strings.HasPrefix(loc, "grpc+tls://") {
		t.Fatalf("got location %s, want grpc+tls://", loc)
	}
	pipeline := func(tokenEnv string) string {
		return `version: 1
name: tls
state: ./state
source:
  plugin: generate
  config: { seed: 3, units: 2, rows: 1000, batch_size: 300 }
sinks:
  - plugin: flight
    config:
      location: ` + loc + `
      tls: { ca_file: ` + cert + `, cert_file: ` + cert + `, key_file: ` + key + ` }
      auth: { token_env: ` + tokenEnv + ` }
      retry: { max_elapsed: 1s }
`
	}
	writeFile(t, dir, "good.yaml", pipeline("TEST_SERVE_TOKEN"))
	stdout, stderr, code := etl(t, dir, "run", "--progress", "none", "good.yaml")
	if code != 0 || summaryRows(t, stdout) != 2000 {
		t.Fatalf("exit %d, want 0 and 2000 rows\n%s\n%s", code, stdout, stderr)
	}
	t.Setenv("TEST_WRONG_TOKEN", "wrong-secret-2")
	writeFile(t, dir, "bad.yaml", strings.Replace(pipeline("TEST_WRONG_TOKEN"), "name: tls", "name: tls-bad", 1))
	stdout, stderr, code = etl(t, dir, "run", "--progress", "none", "bad.yaml")
	if code != exitFailed || !strings.Contains(stderr, "Unauthenticated: invalid bearer token") {
		t.Fatalf("wrong token: exit %d, want %d and Unauthenticated\n%s\n%s", code, exitFailed, stdout, stderr)
	}
	t.Logf("wrong token:\n%s", stderr)
	if strings.Contains(stdout+stderr, "wrong-secret-2") || strings.Contains(stdout+stderr, "serve-secret-1") {
		t.Errorf("a token appears in the output:\n%s\n%s", stdout, stderr)
	}
}

// selfSigned writes a self-signed certificate for 127.0.0.1, usable as the
// server's certificate, the CA that checks it, and a client certificate.
func selfSigned(t *testing.T, dir string) (certFile, keyFile string) {
	t.Helper()
	key, err := ecdsa.GenerateKey(elliptic.P256(), rand.Reader)
	if err != nil {
		t.Fatal(err)
	}
	tmpl := &x509.Certificate{
		SerialNumber: big.NewInt(1), Subject: pkix.Name{CommonName: "127.0.0.1"},
		NotBefore: time.Now().Add(-time.Hour), NotAfter: time.Now().Add(time.Hour),
		IsCA: true, BasicConstraintsValid: true,
		KeyUsage:    x509.KeyUsageDigitalSignature | x509.KeyUsageCertSign,
		ExtKeyUsage: []x509.ExtKeyUsage{x509.ExtKeyUsageServerAuth, x509.ExtKeyUsageClientAuth},
		IPAddresses: []net.IP{net.IPv4(127, 0, 0, 1)},
	}
	der, err := x509.CreateCertificate(rand.Reader, tmpl, tmpl, &key.PublicKey, key)
	if err != nil {
		t.Fatal(err)
	}
	keyDER, err := x509.MarshalECPrivateKey(key)
	if err != nil {
		t.Fatal(err)
	}
	certFile = writeFile(t, dir, "cert.pem", string(pem.EncodeToMemory(&pem.Block{Type: "CERTIFICATE", Bytes: der})))
	keyFile = writeFile(t, dir, "key.pem", string(pem.EncodeToMemory(&pem.Block{Type: "EC PRIVATE KEY", Bytes: keyDER})))
	return certFile, keyFile
}

func copyPipeline(t *testing.T, dir string) string {
	t.Helper()
	src, err := os.ReadFile("../../pipelines/azumio-to-flight.yaml")
	if err != nil {
		t.Fatal(err)
	}
	writeFile(t, dir, "pipelines/azumio-to-flight.yaml", string(src))
	return "pipelines/azumio-to-flight.yaml"
}

func parquetFiles(t *testing.T, dir string) []string {
	t.Helper()
	files, err := filepath.Glob(filepath.Join(dir, "flight", "azumio-to-flight", "*", "*.parquet"))
	if err != nil {
		t.Fatal(err)
	}
	return files
}

// checkinVersions returns user/id/version of every check-in row the server
// stored, sorted, repeats included.
func checkinVersions(t *testing.T, dir string) []string {
	t.Helper()
	glob := duckdbtest.Literal(filepath.Join(dir, "flight", "azumio-to-flight", "azumio.checkins.*", "*.parquet"))
	var out []string
	for _, r := range duckdbtest.Query(t, "SELECT user_id || '/' || id || '/' || version AS v FROM read_parquet("+glob+", union_by_name = true)") {
		out = append(out, r["v"].(string))
	}
	sort.Strings(out)
	return out
}

// storedRows counts every row of every stream the server stored.
func storedRows(t *testing.T, dir string) int64 {
	t.Helper()
	var n int64
	streams, _ := filepath.Glob(filepath.Join(dir, "flight", "azumio-to-flight", "*"))
	for _, s := range streams {
		glob := duckdbtest.Literal(filepath.Join(s, "*.parquet"))
		r := duckdbtest.Query(t, "SELECT count(*) AS n FROM read_parquet("+glob+")")
		n += r[0]["n"].(int64)
	}
	return n
}

func assertOnce(t *testing.T, versions []string) {
	t.Helper()
	for i := 1; i < len(versions); i++ {
		if versions[i] == versions[i-1] {
			t.Errorf("check-in %s stored more than once", versions[i])
		}
	}
}

func dedup(sorted []string) []string {
	var out []string
	for i, v := range sorted {
		if i == 0 || v != sorted[i-1] {
			out = append(out, v)
		}
	}
	return out
}

var summaryRowsRE = regexp.MustCompile(`(?m)^\S+ (?:finished|stopped) in \S+: (\d+) rows`)

// summaryRows returns the row count of a run's summary line.
func summaryRows(t *testing.T, stdout string) int64 {
	t.Helper()
	m := summaryRowsRE.FindStringSubmatch(stdout)
	if m == nil {
		t.Fatalf("no summary line in:\n%s", stdout)
	}
	n, _ := strconv.ParseInt(m[1], 10, 64)
	return n
}
