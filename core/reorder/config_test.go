package reorder

import (
	"context"
	"strings"
	"testing"

	"github.com/etl-toolkit/etl/core"
)

func TestConfigErrors(t *testing.T) {
	tests := []struct {
		name string
		yaml string
		want []string // substrings of the error, one per problem
	}{
		{"neither mode", "time: t", []string{"pipe.yaml:1:1: max_delay: set max_delay (e.g. 3s) or buffer_size (e.g. 3)"}},
		{"both modes", "max_delay: 3s\nbuffer_size: 3", []string{"max_delay: set max_delay or buffer_size, not both"}},
		{"bad values, all reported", "max_delay: 3s\ntime_unit: min\nlate: keep\nflush_timeout: -1s\nstreams: ['[']", []string{
			`time_unit: unknown value "min" (want one of: s, ms, us, ns)`,
			`late: unknown value "keep" (want one of: dead_letter, drop, pass)`,
			"flush_timeout: got -1s, want 0 (off) or more",
			`streams[0]: bad pattern "["`,
		}},
		{"unknown key", "max_delay: 3s\nmax_dealy: 4s", []string{"max_dealy"}},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			cfg, err := core.NewConfig("pipe.yaml", "", []byte(tt.yaml))
			if err != nil {
				t.Fatal(err)
			}
			f, _ := core.LookupTransform("reorder")
			_, err = f.New(context.Background(), core.Env{Config: cfg, DeadLetters: &deadLetters{}})
			if err == nil {
				t.Fatalf("New: got no error, want %q", tt.want)
			}
			for _, w := range tt.want {
				if !strings.Contains(err.Error(), w) {
					t.Errorf("New: got error %q, want it to contain %q", err, w)
				}
			}
		})
	}
}

func TestConfigValid(t *testing.T) {
	cfg, err := core.NewConfig("pipe.yaml", "", []byte("time: ts\nkey: [timeframe]\nmax_delay: 3s\nflush_timeout: 20s\nlate: drop\nstreams: ['asi.*']"))
	if err != nil {
		t.Fatal(err)
	}
	f, ok := core.LookupTransform("reorder")
	if !ok {
		t.Fatal("reorder: not registered")
	}
	if _, ok := f.Options.(Config); !ok {
		t.Errorf("Options: got %T, want reorder.Config", f.Options)
	}
	tr, err := f.New(context.Background(), core.Env{Config: cfg, DeadLetters: &deadLetters{}})
	if err != nil {
		t.Fatal(err)
	}
	tr.Close()
}

func TestNewNeedsDeadLetters(t *testing.T) {
	cfg := DefaultConfig()
	cfg.MaxDelay = 1
	if _, err := New(cfg, nil, nil, nil); err == nil || !strings.Contains(err.Error(), "reorder: late: dead_letter needs a dead-letter output") {
		t.Errorf("New without dead letters: got %v, want an error", err)
	}
}
