package plugins_test

import (
	"context"
	"errors"
	"os"
	"path/filepath"
	"strings"
	"testing"

	"github.com/apache/arrow-go/v18/arrow/memory"

	"github.com/etl-toolkit/etl/core"
	"github.com/etl-toolkit/etl/plugins"
)

// copyFile copies an executable.
func copyFile(t *testing.T, from, to string) {
	t.Helper()
	data, err := os.ReadFile(from)
	if err != nil {
		t.Fatal(err)
	}
	if err := os.WriteFile(to, data, 0o755); err != nil {
		t.Fatal(err)
	}
}

// A plugin named by name comes from the plugins directory's manifest, and
// starts only if its executable still has the SHA-256 recorded there; so does
// a plugin named by path when a manifest beside it records it.
func TestChecksums(t *testing.T) {
	dir := t.TempDir()
	bin := filepath.Join(dir, "etl-sink-jsonl")
	copyFile(t, jsonlBin, bin)
	if _, err := plugins.Add(dir, "jsonl", bin); err != nil {
		t.Fatal(err)
	}
	o := &plugins.Opener{Dir: dir}
	open := func(ref string) error {
		s, err := o.OpenSink(context.Background(), ref, env(t, "sinks[0].config", "path: "+t.TempDir(), memory.DefaultAllocator, nil))
		if err == nil {
			s.Close()
		}
		return err
	}
	if err := open("jsonl"); err != nil {
		t.Fatalf("by name, recorded: %v", err)
	}
	if err := open(bin); err != nil {
		t.Fatalf("by path, recorded: %v", err)
	}

	copyFile(t, faultyBin, bin) // a different program under the recorded name
	for _, ref := range []string{"jsonl", bin} {
		err := open(ref)
		var ce *plugins.ChecksumError
		if !errors.As(err, &ce) {
			t.Fatalf("%s changed: got error %v, want a ChecksumError", ref, err)
		}
		want, _ := plugins.Checksum(bin)
		if ce.Got != want || ce.Manifest != filepath.Join(dir, plugins.ManifestFile) || ce.Plugin != "jsonl" {
			t.Errorf("%s changed: got %+v, want Got %s and the manifest", ref, ce, want)
		}
		if !strings.Contains(err.Error(), "refusing to start") || !strings.Contains(err.Error(), "etl plugin add jsonl") {
			t.Errorf("%s changed: got %q, want it to say it refuses and how to fix it", ref, err)
		}
	}
}

func TestResolveErrors(t *testing.T) {
	dir := t.TempDir()
	if _, err := plugins.Add(dir, "jsonl", jsonlBin); err != nil {
		t.Fatal(err)
	}
	notExec := filepath.Join(dir, "data.txt")
	if err := os.WriteFile(notExec, []byte("x"), 0o644); err != nil {
		t.Fatal(err)
	}
	cases := []struct {
		ref, want string
	}{
		{"nope", `plugin "nope" is not in ` + filepath.Join(dir, plugins.ManifestFile) + " (it lists: jsonl)"},
		{"./no/such/plugin", "no such file"},
		{notExec, "is not executable"},
		{dir, "is a directory"},
		{"builtin:", "names no built-in"},
		{"builtin:nope", `no built-in source, transform or sink is registered as "nope"`},
	}
	o := &plugins.Opener{Dir: dir}
	for _, c := range cases {
		t.Run(c.ref, func(t *testing.T) {
			_, err := o.OpenSink(context.Background(), c.ref, env(t, "sinks[0].config", "", memory.DefaultAllocator, nil))
			if err == nil || !strings.Contains(err.Error(), c.want) {
				t.Errorf("got %v, want an error containing %q", err, c.want)
			}
		})
	}
	t.Run("no-manifest", func(t *testing.T) {
		o := &plugins.Opener{Dir: t.TempDir()}
		_, err := o.OpenSink(context.Background(), "jsonl", env(t, "sinks[0].config", "", memory.DefaultAllocator, nil))
		if err == nil || !strings.Contains(err.Error(), "no manifest") || !strings.Contains(err.Error(), "etl plugin add jsonl PATH") {
			t.Errorf("got %v, want it to say there is no manifest and how to make one", err)
		}
	})
}

// A plugin opened as a kind of component it does not serve says what it
// serves.
func TestWrongKind(t *testing.T) {
	_, err := plugins.Default.OpenSource(context.Background(), jsonlBin, env(t, "source.config", "", memory.DefaultAllocator, nil))
	if err == nil || !strings.Contains(err.Error(), "jsonl is not a source plugin: it serves a sink") {
		t.Errorf("got %v, want it to say the plugin serves a sink", err)
	}
}

func TestManifest(t *testing.T) {
	dir := t.TempDir()
	e, err := plugins.Add(dir, "faulty", faultyBin)
	if err != nil {
		t.Fatal(err)
	}
	if want, _ := plugins.Checksum(faultyBin); e.SHA256 != want || e.Path != faultyBin {
		t.Errorf("got %+v, want path %s and sha256 %s", e, faultyBin, want)
	}
	copyFile(t, jsonlBin, filepath.Join(dir, "inside"))
	if e, err := plugins.Add(dir, "inside", filepath.Join(dir, "inside")); err != nil || e.Path != "inside" {
		t.Errorf("got %+v, %v; want a path relative to the directory", e, err)
	}
	m, err := plugins.ReadManifest(dir)
	if err != nil {
		t.Fatal(err)
	}
	if len(m.Plugins) != 2 || m.Plugins["faulty"] != e && m.Plugins["faulty"].Path != faultyBin {
		t.Errorf("got %+v, want both plugins", m)
	}

	bad := "plugins:\n  jsonl:\n    path: x\n    sha256: nothex\n  \"bad name\":\n    sha256: " + strings.Repeat("a", 64) + "\n  other: { path: y, sha256: " + strings.Repeat("b", 64) + ", extra: 1 }\n"
	if err := os.WriteFile(filepath.Join(dir, plugins.ManifestFile), []byte(bad), 0o644); err != nil {
		t.Fatal(err)
	}
	_, err = plugins.ReadManifest(dir)
	var ces core.ConfigErrors
	if !errors.As(err, &ces) {
		t.Fatalf("got %v, want ConfigErrors", err)
	}
	file := filepath.Join(dir, plugins.ManifestFile)
	want := []string{
		file + ":4:13: plugins.jsonl.sha256: want the executable's SHA-256 as 64 hex digits",
		file + ":6:5: plugins.bad name: invalid plugin name",
		file + ":6:5: plugins.bad name.path: missing",
		file + ":7:95: plugins.other.extra: unknown key",
	}
	got := strings.Split(err.Error(), "\n")
	if len(got) != len(want) {
		t.Fatalf("got\n%v\nwant %d problems", err, len(want))
	}
	for i := range want {
		if !strings.HasPrefix(got[i], want[i]) {
			t.Errorf("problem %d: got %q, want %q...", i, got[i], want[i])
		}
	}
}
