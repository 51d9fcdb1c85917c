package serve

import (
	"slices"
	"testing"
	"time"
)

func TestQueueCoalesces(t *testing.T) {
	t0 := time.Date(2026, 1, 1, 0, 0, 0, 0, time.UTC)
	tests := []struct {
		name      string
		add       []string // "" asks for a full run
		max       int
		wantFull  bool
		wantUnits []string
		wantOver  int
	}{
		{"one unit many times", []string{"user/1", "user/1", "user/1"}, 10, false, []string{"user/1"}, 0},
		{"several units", []string{"user/2", "user/1", "user/2"}, 10, false, []string{"user/1", "user/2"}, 0},
		{"overflow turns into a full run", []string{"user/1", "user/2", "user/3", "user/4"}, 2, true, nil, 1},
		{"a full run absorbs units", []string{"user/1", "", "user/2"}, 10, true, nil, 0},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			q := newQueue(tt.max)
			over := 0
			for i, u := range tt.add {
				at := t0.Add(time.Duration(i) * time.Second)
				if u == "" {
					q.addFull(at)
				} else if q.addUnit(u, at) {
					over++
				}
			}
			w, ok := q.take()
			if !ok {
				t.Fatal("got an empty queue")
			}
			if w.full != tt.wantFull || !slices.Equal(w.unitList(), tt.wantUnits) || over != tt.wantOver {
				t.Errorf("got full %v units %v overflows %d, want %v %v %d", w.full, w.unitList(), over, tt.wantFull, tt.wantUnits, tt.wantOver)
			}
			if w.full && !w.since.Equal(t0) {
				t.Errorf("got a full run asked at %s, want the first request's %s", w.since, t0)
			}
			if _, ok := q.take(); ok {
				t.Error("got work after take, want an empty queue")
			}
		})
	}
}
