package core

import (
	"context"
	"slices"
	"testing"
)

func TestRegistry(t *testing.T) {
	nop := Factory[Sink]{New: func(ctx context.Context, env Env) (Sink, error) { return nil, nil }}
	RegisterSink("zz-test-b", nop)
	RegisterSink("zz-test-a", nop)
	got := Sinks()
	if !slices.IsSorted(got) {
		t.Errorf("Sinks() not sorted: %v", got)
	}
	if !slices.Contains(got, "zz-test-a") || !slices.Contains(got, "zz-test-b") {
		t.Errorf("Sinks() = %v, want the registered test sinks in it", got)
	}
	if _, ok := LookupSink("zz-test-a"); !ok {
		t.Error("LookupSink(zz-test-a): not found")
	}
	if _, ok := LookupSink("zz-test-missing"); ok {
		t.Error("LookupSink(zz-test-missing): found")
	}
	for _, tt := range []struct {
		name string
		reg  func()
		want string
	}{
		{"empty name", func() { RegisterSink("", nop) }, "core: RegisterSink with an empty name"},
		{"duplicate", func() { RegisterSink("zz-test-a", nop) }, `core: RegisterSink called twice for "zz-test-a"`},
		{"no New", func() { RegisterSource("zz-test-nonew", Factory[Source]{}) }, `core: RegisterSource "zz-test-nonew" without New`},
	} {
		t.Run(tt.name, func(t *testing.T) {
			defer func() {
				if got := recover(); got != tt.want {
					t.Errorf("got panic %v, want %q", got, tt.want)
				}
			}()
			tt.reg()
		})
	}
}
