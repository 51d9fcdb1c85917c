package core

import (
	"context"
	"errors"
	"sync"
	"testing"
	"time"
)

func TestLocalLimiterPacesAndReportsWaiting(t *testing.T) {
	l := LocalLimiters("api/client", 10, 1)
	var mu sync.Mutex
	var statuses []string
	ctx := WithStatus(context.Background(), func(s string) {
		mu.Lock()
		statuses = append(statuses, s)
		mu.Unlock()
	})
	start := time.Now()
	for range 3 {
		if err := l.Wait(ctx); err != nil {
			t.Fatal(err)
		}
	}
	// One token at once, then one every 100 ms: at least 200 ms for three.
	if el := time.Since(start); el < 190*time.Millisecond {
		t.Errorf("3 requests at 10/s with burst 1 took %v, want >= 200ms", el)
	}
	mu.Lock()
	defer mu.Unlock()
	if len(statuses) == 0 || statuses[0] != "waiting: request rate limit" || statuses[len(statuses)-1] != "" {
		t.Errorf("statuses: got %q, want the waiting status then a clear", statuses)
	}
}

func TestLocalLimiterStopsWithContext(t *testing.T) {
	l := LocalLimiters("api/client", 0.5, 1)
	if err := l.Wait(context.Background()); err != nil {
		t.Fatal(err)
	}
	ctx, cancel := context.WithTimeout(context.Background(), 20*time.Millisecond)
	defer cancel()
	if err := l.Wait(ctx); !errors.Is(err, context.DeadlineExceeded) {
		t.Fatalf("wait past the deadline: got %v, want DeadlineExceeded", err)
	}
}

func TestLocalLimiterUnlimited(t *testing.T) {
	l := LocalLimiters("api/client", 0, 0)
	ctx, cancel := context.WithCancel(context.Background())
	cancel()
	for range 1000 {
		if err := l.Wait(ctx); err != nil {
			t.Fatalf("unlimited limiter waited: %v", err)
		}
	}
}

func TestCounters(t *testing.T) {
	var nilc *Counters
	nilc.Add("x", 1)
	if n := len(nilc.Snapshot()); n != 0 {
		t.Fatalf("nil counters: got %d entries", n)
	}
	c := &Counters{}
	var wg sync.WaitGroup
	for range 8 {
		wg.Go(func() {
			for range 1000 {
				c.Add("reorder.late", 1)
			}
		})
	}
	wg.Wait()
	c.Add("asi.gaps", 2)
	snap := c.Snapshot()
	if snap["reorder.late"] != 8000 || snap["asi.gaps"] != 2 || len(snap) != 2 {
		t.Fatalf("snapshot: got %v", snap)
	}
	snap["asi.gaps"] = 99
	if c.Snapshot()["asi.gaps"] != 2 {
		t.Fatal("Snapshot must return a copy")
	}
}
