package main

import (
	"bytes"
	"context"
	"fmt"
	"net"
	"os"
	"os/exec"
	"path/filepath"
	"regexp"
	"strings"
	"sync"
	"syscall"
	"testing"
	"time"

	"github.com/nats-io/nats.go/jetstream"

	"github.com/etl-toolkit/etl/cluster"
	"github.com/etl-toolkit/etl/core"
)

// natsServerBinary returns a real nats-server executable: $NATS_SERVER_BIN, else
// nats-server on $PATH (.ci/run installs v2.15.2), else one built from the
// module go.mod requires (the same server the in-process tests embed).
func natsServerBinary(t *testing.T) string {
	t.Helper()
	if bin := os.Getenv("NATS_SERVER_BIN"); bin != "" {
		return bin
	}
	if bin, err := exec.LookPath("nats-server"); err == nil {
		return bin
	}
	bin := filepath.Join(os.TempDir(), "etl-test-nats-server-v2.15.2")
	if _, err := os.Stat(bin); err == nil {
		return bin
	}
	tmp := bin + fmt.Sprint(".", os.Getpid())
	build := exec.Command("go", "build", "-o", tmp, "github.com/nats-io/nats-server/v2")
	if out, err := build.CombinedOutput(); err != nil {
		t.Fatalf("building nats-server: %v\n%s", err, out)
	}
	if err := os.Rename(tmp, bin); err != nil {
		t.Fatal(err)
	}
	return bin
}

// startNATSServer runs a nats-server process with JetStream on a free loopback
// port and returns its URL; the process is killed when the test ends.
func startNATSServer(t *testing.T) string {
	t.Helper()
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	port := ln.Addr().(*net.TCPAddr).Port
	ln.Close()
	var logs bytes.Buffer
	srv := exec.Command(natsServerBinary(t), "-js", "-a", "127.0.0.1", "-p", fmt.Sprint(port), "-sd", t.TempDir())
	srv.Stdout, srv.Stderr = &logs, &logs
	if err := srv.Start(); err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { srv.Process.Kill(); srv.Wait() })
	url := fmt.Sprintf("nats://127.0.0.1:%d", port)
	deadline := time.Now().Add(15 * time.Second)
	for {
		st, err := cluster.Dial(context.Background(), url, cluster.KVOptions{})
		if err == nil {
			st.Close()
			return url
		}
		if time.Now().After(deadline) {
			t.Fatalf("nats-server did not start: %v\n%s", err, logs.String())
		}
		time.Sleep(50 * time.Millisecond)
	}
}

// clusterPipeline exports 6 generated units of 12,000 rows to Parquet, paced at
// 12,000 rows/s (${RATE}) so that each unit takes a second and a worker can be
// killed in the middle of one.
const clusterPipeline = `version: 1
name: scale
state: ${STATE}
commit: { interval: 1s }
source:
  plugin: generate
  config:
    seed: 11
    units: 6
    rows: 12000
    batch_size: 500
    rate: ${RATE}
sinks:
  - plugin: parquet
    config: { path: ./${LAKE}, partition_by: [stream, unit] }
`

// background is an etl process running in the background.
type background struct {
	cmd    *exec.Cmd
	stderr *syncBuffer
	done   chan error
}

type syncBuffer struct {
	mu sync.Mutex
	b  bytes.Buffer
}

func (s *syncBuffer) Write(p []byte) (int, error) {
	s.mu.Lock()
	defer s.mu.Unlock()
	return s.b.Write(p)
}

func (s *syncBuffer) String() string {
	s.mu.Lock()
	defer s.mu.Unlock()
	return s.b.String()
}

func startEtl(t *testing.T, dir string, env []string, args ...string) *background {
	t.Helper()
	cmd := etlCmd(t, dir, args...)
	cmd.Env = append(cmd.Env, env...)
	b := &background{cmd: cmd, stderr: &syncBuffer{}, done: make(chan error, 1)}
	cmd.Stderr = b.stderr
	if err := cmd.Start(); err != nil {
		t.Fatal(err)
	}
	go func() { b.done <- cmd.Wait() }()
	t.Cleanup(func() {
		if cmd.ProcessState == nil {
			cmd.Process.Kill()
			<-b.done
		}
	})
	return b
}

// TestWorkersOnARealNATSServer runs a nats-server process and two `etl worker`
// processes; one is killed with SIGKILL in the middle of a unit. Its unit is
// redelivered to the other worker, which finishes the killed one's recorded
// commit if there is one and completes the unit. The lake then holds exactly the
// rows of a single-machine run, and SIGTERM stops the survivor with exit 0.
func TestWorkersOnARealNATSServer(t *testing.T) {
	dir := t.TempDir()
	url := startNATSServer(t)
	writeFile(t, dir, "ref.yaml", strings.NewReplacer("${STATE}", "./ref-state", "${RATE}", "0", "${LAKE}", "ref-lake").Replace(clusterPipeline))
	if _, stderr, code := etl(t, dir, "run", "--progress", "none", "ref.yaml"); code != 0 {
		t.Fatalf("reference run: exit %d\n%s", code, stderr)
	}
	want := parquetRows(t, filepath.Join(dir, "ref-lake"))
	if len(want) != 6*12000 {
		t.Fatalf("reference run: %d rows, want %d", len(want), 6*12000)
	}

	writeFile(t, dir, "p.yaml", strings.NewReplacer("${STATE}", url, "${RATE}", "12000", "${LAKE}", "lake").Replace(clusterPipeline))
	stdout, stderr, code := etl(t, dir, "dispatch", "p.yaml")
	if code != 0 || !strings.Contains(stdout, "scale: 6 units queued") {
		t.Fatalf("dispatch: exit %d\n%s%s", code, stdout, stderr)
	}
	ctx := context.Background()
	st, err := cluster.Dial(ctx, url, cluster.KVOptions{})
	if err != nil {
		t.Fatal(err)
	}
	defer st.Close()
	a := startEtl(t, dir, nil, "worker", "--id", "a", "--ack-wait", "2s", "p.yaml")
	b := startEtl(t, dir, nil, "worker", "--id", "b", "--ack-wait", "2s", "p.yaml")
	// Kill a 300 ms into a unit it runs (its claim names it).
	killed := ""
	deadline := time.Now().Add(20 * time.Second)
	for killed == "" {
		claims, err := st.List(ctx, "scale/claim/")
		if err != nil {
			t.Fatal(err)
		}
		for _, c := range claims {
			if strings.Contains(string(c.Value), `"worker":"a"`) {
				killed = strings.TrimPrefix(c.Key, "scale/claim/")
			}
		}
		if time.Now().After(deadline) {
			t.Fatalf("worker a never claimed a unit\n%s", a.stderr)
		}
		time.Sleep(20 * time.Millisecond)
	}
	time.Sleep(300 * time.Millisecond)
	if err := a.cmd.Process.Signal(syscall.SIGKILL); err != nil {
		t.Fatal(err)
	}
	<-a.done
	js, err := jetstream.New(st.Conn())
	if err != nil {
		t.Fatal(err)
	}
	deadline = time.Now().Add(30 * time.Second)
	for {
		info, err := js.Stream(ctx, "ETL_UNITS")
		if err != nil {
			t.Fatal(err)
		}
		if info.CachedInfo().State.Msgs == 0 {
			break
		}
		if time.Now().After(deadline) {
			t.Fatalf("units still queued after 30s\nworker a:\n%s\nworker b:\n%s", a.stderr, b.stderr)
		}
		time.Sleep(100 * time.Millisecond)
	}
	if err := b.cmd.Process.Signal(syscall.SIGTERM); err != nil {
		t.Fatal(err)
	}
	select {
	case err := <-b.done:
		if err != nil {
			t.Errorf("worker b after SIGTERM: %v\n%s", err, b.stderr)
		}
	case <-time.After(15 * time.Second):
		t.Fatalf("worker b did not stop after SIGTERM\n%s", b.stderr)
	}
	if !strings.Contains(b.stderr.String(), "etl worker: stopped") {
		t.Errorf("worker b's stderr lacks its stop line:\n%s", b.stderr)
	}
	// Every unit was acknowledged once, the one a was killed in by b.
	doneA := strings.Count(a.stderr.String(), "cluster: worker: unit done")
	doneB := strings.Count(b.stderr.String(), "cluster: worker: unit done")
	if doneA+doneB != 6 || !strings.Contains(b.stderr.String(), "unit="+killed+" ") {
		t.Errorf("units done: a %d, b %d; want 6 in all, %s among b's\nworker a:\n%s\nworker b:\n%s", doneA, doneB, killed, a.stderr, b.stderr)
	}
	t.Logf("units done: a %d (killed in %s), b %d", doneA, killed, doneB)
	got := parquetRows(t, filepath.Join(dir, "lake"))
	if len(got) != len(want) || strings.Join(got, "\n") != strings.Join(want, "\n") {
		t.Errorf("lake: got %d rows, want the single-machine run's %d exactly once\nworker a:\n%s\nworker b:\n%s", len(got), len(want), a.stderr, b.stderr)
	}

	// etl run on the same state (state: nats://…) finds every unit done.
	if _, stderr, code := etl(t, dir, "run", "--progress", "none", "p.yaml"); code != 0 {
		t.Fatalf("etl run on the cluster's state: exit %d\n%s", code, stderr)
	}
	if n := len(parquetRows(t, filepath.Join(dir, "lake"))); n != len(want) {
		t.Errorf("etl run after the workers: %d rows in the lake, want still %d", n, len(want))
	}

	stdout, stderr, code = etl(t, dir, "state", "show", "p.yaml")
	if code != 0 {
		t.Fatalf("state show: exit %d\n%s", code, stderr)
	}
	if !strings.Contains(stdout, "state bucket etl on "+url) || len(regexp.MustCompile(`(?m)^unit-000[1-6]\s+12000\s`).FindAllString(stdout, -1)) != 6 {
		t.Errorf("state show: want the bucket and 6 units of 12000 rows, got\n%s", stdout)
	}
}

func TestSlotFileTagsBeforeTheExtension(t *testing.T) {
	for _, c := range []struct{ path, want string }{
		{".etl-state/p.deadletter.jsonl", ".etl-state/p.deadletter.w-1.jsonl"},
		{"/var/rejects", "/var/rejects.w-1"},
		{"a.b/rejects.json", "a.b/rejects.w-1.json"},
	} {
		if got := slotFile(c.path, "w-1"); got != c.want {
			t.Errorf("slotFile(%q): got %q, want %q", c.path, got, c.want)
		}
	}
}

// TestClusterURLErrorsHidePasswords: a wrong --cluster or mismatched state URLs
// are refused with messages that never show a URL's password.
func TestClusterURLErrorsHidePasswords(t *testing.T) {
	a := &core.Pipeline{File: "a.yaml", State: "nats://etl:s3cret@n1:4222"}
	b := &core.Pipeline{File: "b.yaml", State: "nats://etl:0ther@n2:4222"}
	for _, tt := range []struct {
		name  string
		flags clusterFlags
		pipes []*core.Pipeline
		want  string
	}{
		{"bad flag", clusterFlags{url: "http://etl:s3cret@n1:4222"}, nil, `--cluster: want nats://HOST:PORT (or tls://), got "http://***@n1:4222"`},
		{"states differ", clusterFlags{}, []*core.Pipeline{a, b}, "b.yaml: state nats://***@n2:4222 differs from the other pipelines' nats://***@n1:4222: give --cluster"},
	} {
		t.Run(tt.name, func(t *testing.T) {
			_, err := tt.flags.resolve(tt.pipes)
			if err == nil || err.Error() != tt.want {
				t.Fatalf("got %v, want %s", err, tt.want)
			}
		})
	}
}
