package cluster

import (
	"context"
	"path/filepath"
	"strings"
	"testing"

	"github.com/etl-toolkit/etl/cluster/natstest"
	"github.com/etl-toolkit/etl/core"
)

const statePipeline = `version: 1
name: st
state: ${STATE}
source:
  plugin: generate
sinks:
  - plugin: discard
`

// TestOpenStoreFollowsTheStateSetting: a directory opens the bbolt file, a
// nats:// state or the --cluster URL the KV bucket; another URL scheme is a
// positioned config error; dead letters stay local when the state is a URL.
func TestOpenStoreFollowsTheStateSetting(t *testing.T) {
	ctx := context.Background()
	dir := t.TempDir()
	url := natstest.Start(t)

	local := parsePipeline(t, statePipeline, map[string]string{"DIR": dir, "STATE": filepath.Join(dir, "state")})
	st, err := OpenStore(ctx, local, "")
	if err != nil {
		t.Fatal(err)
	}
	if _, ok := st.(*core.BoltStore); !ok {
		t.Errorf("state directory: got %T, want *core.BoltStore", st)
	}
	st.Close()
	st, err = OpenStore(ctx, local, url)
	if err != nil {
		t.Fatal(err)
	}
	if _, ok := st.(*KVStore); !ok {
		t.Errorf("--cluster: got %T, want *KVStore", st)
	}
	st.Close()

	remote := parsePipeline(t, statePipeline, map[string]string{"DIR": dir, "STATE": url})
	if got, want := remote.DeadLetterPath(), filepath.Join(core.DefaultState, "st.deadletter.jsonl"); got != want {
		t.Errorf("dead letters with a URL state: got %s, want %s", got, want)
	}
	st, err = OpenStore(ctx, remote, "")
	if err != nil {
		t.Fatal(err)
	}
	if _, ok := st.(*KVStore); !ok {
		t.Errorf("state: nats://…: got %T, want *KVStore", st)
	}
	st.Close()

	yaml := strings.Replace(statePipeline, "${STATE}", "http://example.com/state", 1)
	_, err = core.ParsePipeline(filepath.Join(dir, "p.yaml"), []byte(yaml), func(string) (string, bool) { return "", false })
	if err == nil || !strings.Contains(err.Error(), `p.yaml:3:8: state: unsupported state URL scheme "http"`) {
		t.Errorf("http state: got %v, want a positioned error naming the scheme", err)
	}
}
