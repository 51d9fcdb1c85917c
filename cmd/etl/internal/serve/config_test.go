package serve

import (
	"path/filepath"
	"strings"
	"testing"
	"time"
)

// TestExampleServeFile loads the shipped example: defaults applied, pipeline
// paths made relative to the serve file, schedules valid.
func TestExampleServeFile(t *testing.T) {
	t.Setenv("ASI_WEBHOOK_SECRET", "s3cret")
	file := "../../../../pipelines/serve/serve.yaml"
	c, err := LoadConfig(file)
	if err != nil {
		t.Fatal(err)
	}
	if got, want := len(c.Pipelines), 2; got != want {
		t.Fatalf("got %d pipelines, want %d", got, want)
	}
	if got, want := c.Pipelines[0].File, filepath.Join(filepath.Dir(file), "../azumio-nightly.yaml"); got != want {
		t.Errorf("got file %q, want %q", got, want)
	}
	if got, want := c.ShutdownGrace, 30*time.Second; got != want {
		t.Errorf("got shutdown_grace %s, want %s", got, want)
	}
	if !c.Pipelines[0].Azumio || c.Pipelines[1].ASI == nil {
		t.Errorf("got triggers %+v, want azumio on the first and asi on the second", c.Pipelines)
	}
}

func TestLoadConfigErrors(t *testing.T) {
	tests := []struct {
		name, text string
		want       []string
	}{
		{"empty", "listen: 127.0.0.1:1\n", []string{"pipelines: none given"}},
		{"unknown key", "pipelines:\n  - file: a.yaml\n    schedul: x\n", []string{"schedul"}},
		{"every problem at once", "pipelines:\n  - schedule: \"99 * * * *\"\n  - file: b.yaml\n    asi: {}\n",
			[]string{"pipelines[0].file: missing", "pipelines[0].schedule: bad cron spec", "pipelines[1].asi.secret_env: missing"}},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			file := writeFile(t, filepath.Join(t.TempDir(), "serve.yaml"), tt.text)
			_, err := LoadConfig(file)
			if err == nil {
				t.Fatal("got no error")
			}
			for _, w := range tt.want {
				if !strings.Contains(err.Error(), w) {
					t.Errorf("got %v, want it to name %q", err, w)
				}
			}
		})
	}
}

func TestParseSchedule(t *testing.T) {
	from := time.Date(2026, 3, 28, 12, 0, 0, 0, time.UTC)
	tests := []struct {
		spec string
		want time.Time
	}{
		{"0 2 * * *", time.Date(2026, 3, 29, 2, 0, 0, 0, time.UTC)},
		{"CRON_TZ=Europe/Zurich 0 3 * * *", time.Date(2026, 3, 29, 1, 0, 0, 0, time.UTC)},
		// 02:00 in Zurich does not exist on 29 March 2026 (clocks jump to
		// 03:00): robfig/cron skips that night, which docs/serve.md warns of.
		{"CRON_TZ=Europe/Zurich 0 2 * * *", time.Date(2026, 3, 30, 0, 0, 0, 0, time.UTC)},
		{"@every 90m", from.Add(90 * time.Minute)},
	}
	for _, tt := range tests {
		s, err := ParseSchedule(tt.spec)
		if err != nil {
			t.Fatalf("%s: %v", tt.spec, err)
		}
		if got := s.Next(from).UTC(); !got.Equal(tt.want) {
			t.Errorf("%s: got next %s, want %s", tt.spec, got, tt.want)
		}
	}
}

func TestConfigFromDir(t *testing.T) {
	dir := t.TempDir()
	pipeline := func(name, plugin, config string) {
		writeFile(t, filepath.Join(dir, name+".yaml"), "version: 1\nname: "+name+"\nstate: "+dir+"/state\nsource:\n  plugin: "+plugin+"\n  config: "+config+"\nsinks:\n  - plugin: csv\n    config: { path: "+dir+"/out }\n")
	}
	pipeline("a", "azumio", "{ base_url: http://127.0.0.1:9, client_id: x, tokens: t.json }")
	pipeline("b", "asi", "{ base_url: emulator }")
	t.Setenv(DirSecretEnv, "s")
	c, err := ConfigFromDir(dir)
	if err != nil {
		t.Fatal(err)
	}
	if len(c.Pipelines) != 2 || !c.Pipelines[0].Azumio || c.Pipelines[1].ASI == nil || c.Pipelines[1].ASI.SecretEnv != DirSecretEnv {
		t.Errorf("got %+v, want a with the azumio receiver and b with the asi one", c.Pipelines)
	}
	t.Setenv(DirSecretEnv, "")
	if _, err := ConfigFromDir(dir); err == nil || !strings.Contains(err.Error(), "b.yaml: an asi pipeline needs $"+DirSecretEnv) {
		t.Errorf("without the secret: got %v, want an error naming b.yaml and the variable", err)
	}
	if _, err := ConfigFromDir(t.TempDir()); err == nil || !strings.Contains(err.Error(), "no pipeline files") {
		t.Errorf("empty dir: got %v", err)
	}
}
