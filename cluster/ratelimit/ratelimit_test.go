package ratelimit_test

import (
	"context"
	"errors"
	"fmt"
	"slices"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/etl-toolkit/etl/cluster/natstest"
	"github.com/etl-toolkit/etl/cluster/ratelimit"
	"github.com/etl-toolkit/etl/core"
	"github.com/nats-io/nats.go"
	"github.com/nats-io/nats.go/jetstream"
)

// budget is a key with the characters real budget keys have (spaces, ':', '.').
const budget = "api.azumio.com:443 client 1f2e"

// worker connects to url as a worker of its own and returns its budget bucket
// and connection.
func worker(t *testing.T, url string) (jetstream.KeyValue, *nats.Conn) {
	t.Helper()
	nc, js := natstest.Connect(t, url)
	ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
	defer cancel()
	kv, err := ratelimit.CreateBucket(ctx, js, ratelimit.BucketConfig{})
	if err != nil {
		t.Fatal(err)
	}
	return kv, nc
}

// hammer calls Wait in a loop on each limiter until ctx ends and returns how
// many calls passed on each.
func hammer(ctx context.Context, t *testing.T, ls ...core.Limiter) []int {
	counts, _ := hammerTimes(ctx, t, ls...)
	return counts
}

// hammerTimes is hammer also returning when each call passed.
func hammerTimes(ctx context.Context, t *testing.T, ls ...core.Limiter) ([]int, []time.Time) {
	t.Helper()
	counts := make([]int, len(ls))
	var mu sync.Mutex
	var times []time.Time
	var wg sync.WaitGroup
	for i, l := range ls {
		wg.Go(func() {
			for {
				err := l.Wait(ctx)
				if err != nil {
					if ctx.Err() == nil {
						t.Errorf("limiter %d: %v", i, err)
					}
					return
				}
				counts[i]++
				mu.Lock()
				times = append(times, time.Now())
				mu.Unlock()
			}
		})
	}
	wg.Wait()
	slices.SortFunc(times, time.Time.Compare)
	return counts, times
}

// mostIn returns the largest number of times (sorted) within any interval of
// length d.
func mostIn(times []time.Time, d time.Duration) int {
	most, j := 0, 0
	for i := range times {
		for times[i].Sub(times[j]) > d {
			j++
		}
		most = max(most, i-j+1)
	}
	return most
}

func TestThreeWorkersShareOneBudget(t *testing.T) {
	url := natstest.Start(t)
	const rate, burst, secs = 50.0, 10, 3.0
	var ls []core.Limiter
	for range 3 {
		kv, _ := worker(t, url)
		ls = append(ls, ratelimit.New(kv, ratelimit.Options{})(budget, rate, burst))
	}
	ctx, cancel := context.WithTimeout(context.Background(), time.Duration(secs*float64(time.Second)))
	defer cancel()
	counts, times := hammerTimes(ctx, t, ls...)
	total := counts[0] + counts[1] + counts[2]
	want := rate * secs
	t.Logf("requests per worker %v, total %d in %.0fs at %.0f/s burst %d", counts, total, secs, rate, burst)
	if hi := 1.1*want + burst; float64(total) > hi {
		t.Errorf("total %d requests, want at most %.0f (R·t + 10%% + burst)", total, hi)
	}
	if lo := 0.9 * want; float64(total) < lo {
		t.Errorf("total %d requests, want at least %.0f (R·t − 10%%)", total, lo)
	}
	// The bound of the package doc, on every window of one second: B + R·(1s + Hold).
	if got, hi := mostIn(times, time.Second), burst+int(rate*1.1); got > hi {
		t.Errorf("%d requests within one second, want at most %d (burst + R·(1s + Hold))", got, hi)
	}
	for i, c := range counts {
		if c < int(want/3/4) {
			t.Errorf("worker %d got %d requests, starved (want at least a quarter of its share %.0f)", i, c, want/3)
		}
	}
}

func TestOneWorkerAloneGetsTheRate(t *testing.T) {
	url := natstest.Start(t)
	kv, _ := worker(t, url)
	const rate, burst, secs = 50.0, 1, 2.0
	l := ratelimit.New(kv, ratelimit.Options{})(budget, rate, burst)
	ctx, cancel := context.WithTimeout(context.Background(), time.Duration(secs*float64(time.Second)))
	defer cancel()
	got := hammer(ctx, t, l)[0]
	if lo := 0.9 * rate * secs; float64(got) < lo {
		t.Errorf("one worker alone: %d requests in %.0fs, want at least %.0f (90%% of the rate)", got, secs, lo)
	}
	if hi := 1.1*rate*secs + burst; float64(got) > hi {
		t.Errorf("one worker alone: %d requests in %.0fs, want at most %.0f", got, secs, hi)
	}
}

func TestWaitCancelled(t *testing.T) {
	url := natstest.Start(t)
	kv, _ := worker(t, url)
	l := ratelimit.New(kv, ratelimit.Options{})(budget, 0.5, 1) // one request per 2 s
	if err := l.Wait(context.Background()); err != nil {
		t.Fatalf("first request within the burst: %v", err)
	}
	ctx, cancel := context.WithTimeout(context.Background(), 100*time.Millisecond)
	defer cancel()
	start := time.Now()
	err := l.Wait(ctx)
	if !errors.Is(err, context.DeadlineExceeded) {
		t.Fatalf("Wait past its context's deadline: got %v, want context.DeadlineExceeded", err)
	}
	if d := time.Since(start); d > time.Second {
		t.Errorf("cancelled Wait returned after %v, want about 100ms", d)
	}
	// The token the cancelled Wait was waiting for is still there: the next
	// request waits for it (due 2 s after the first), not for a new chunk.
	ctx2, cancel2 := context.WithTimeout(context.Background(), 5*time.Second)
	defer cancel2()
	if err := l.Wait(ctx2); err != nil {
		t.Fatalf("Wait after a cancelled one: %v", err)
	}
	if d := time.Since(start); d > 2500*time.Millisecond {
		t.Errorf("Wait after a cancelled one took %v since, want the returned token (due within 2 s)", d)
	}
}

// A worker that dies after taking a chunk costs the budget that chunk only: a
// survivor then gets the full rate.
func TestDeadWorkerDoesNotLeakTheBudget(t *testing.T) {
	url := natstest.Start(t)
	const rate, burst = 50.0, 5
	kvDead, ncDead := worker(t, url)
	dead := ratelimit.New(kvDead, ratelimit.Options{Chunk: time.Second})(budget, rate, burst) // takes whole bursts
	for range burst {
		if err := dead.Wait(context.Background()); err != nil {
			t.Fatal(err)
		}
	}
	// One more Wait takes a second chunk (due over the next 100 ms) and the worker dies.
	ctx, cancel := context.WithTimeout(context.Background(), 10*time.Millisecond)
	_ = dead.Wait(ctx)
	cancel()
	ncDead.Close()
	time.Sleep(300 * time.Millisecond) // its tokens in hand are dropped after Hold
	if err := dead.Wait(context.Background()); err == nil {
		t.Fatal("Wait on a closed connection passed, want an error (no request without a token)")
	}

	kv, _ := worker(t, url)
	l := ratelimit.New(kv, ratelimit.Options{})(budget, rate, burst)
	const secs = 2.0
	ctx, cancel = context.WithTimeout(context.Background(), time.Duration(secs*float64(time.Second)))
	defer cancel()
	got := hammer(ctx, t, l)[0]
	// The dead worker's debt is one chunk (burst tokens): a tenth of a second.
	if lo := 0.9*rate*secs - burst; float64(got) < lo {
		t.Errorf("survivor got %d requests in %.0fs, want at least %.0f", got, secs, lo)
	}
}

func TestNoLimit(t *testing.T) {
	url := natstest.Start(t)
	kv, _ := worker(t, url)
	l := ratelimit.New(kv, ratelimit.Options{})(budget, 0, 0)
	var n atomic.Int64
	ctx, cancel := context.WithTimeout(context.Background(), 50*time.Millisecond)
	defer cancel()
	for ctx.Err() == nil && n.Load() < 10000 {
		if err := l.Wait(ctx); err != nil {
			break
		}
		n.Add(1)
	}
	if n.Load() < 10000 {
		t.Errorf("no limit: %d requests in 50ms, want 10000 without waiting", n.Load())
	}
	if _, err := kv.Get(context.Background(), ratelimit.KVKey(budget)); !errors.Is(err, jetstream.ErrKeyNotFound) {
		t.Errorf("no limit: budget key read: %v, want not found (no KV traffic)", err)
	}
}

// BenchmarkWait measures the cost of one request's Wait with chunks of 1, 5
// and 50 tokens per KV update (the chunk is capped at the burst), on a rate far
// above the request rate so that nothing sleeps: the KV round trips amortised.
// kv-updates/op says how many revision-checked updates each request cost.
func BenchmarkWait(b *testing.B) {
	for _, burst := range []int{1, 5, 50} {
		b.Run(fmt.Sprintf("tokens-per-update=%d", burst), func(b *testing.B) {
			url := natstest.Start(b)
			nc, err := nats.Connect(url)
			if err != nil {
				b.Fatal(err)
			}
			defer nc.Close()
			js, err := jetstream.New(nc)
			if err != nil {
				b.Fatal(err)
			}
			ctx := context.Background()
			kv, err := ratelimit.CreateBucket(ctx, js, ratelimit.BucketConfig{})
			if err != nil {
				b.Fatal(err)
			}
			l := ratelimit.New(kv, ratelimit.Options{})(budget, 1e9, burst)
			for b.Loop() {
				if err := l.Wait(ctx); err != nil {
					b.Fatal(err)
				}
			}
			e, err := kv.Get(ctx, ratelimit.KVKey(budget))
			if err != nil {
				b.Fatal(err)
			}
			// The bucket's stream holds only the budget key: its revision is the
			// number of updates made.
			b.ReportMetric(float64(e.Revision())/float64(b.N), "kv-updates/op")
		})
	}
}

// Budgets whose keys differ only in characters a KV key cannot hold are kept
// apart: each has its own burst.
func TestBudgetsApart(t *testing.T) {
	url := natstest.Start(t)
	kv, _ := worker(t, url)
	limiters := ratelimit.New(kv, ratelimit.Options{})
	keys := []string{"api.example.com client a b", "api.example.com client a_b", "api.example.com client a.b", "api.example.com:client a:b"}
	start := time.Now()
	for _, k := range keys {
		if err := limiters(k, 0.5, 1).Wait(context.Background()); err != nil { // one request per 2 s
			t.Fatal(err)
		}
	}
	if d := time.Since(start); d > time.Second {
		t.Errorf("first requests of %d budgets took %v, want each within its own burst (no wait)", len(keys), d)
	}
	seen := make(map[string]string)
	for _, k := range keys {
		kk := ratelimit.KVKey(k)
		if other, ok := seen[kk]; ok {
			t.Errorf("budgets %q and %q share the KV key %s", k, other, kk)
		}
		seen[kk] = k
		if _, err := kv.Get(context.Background(), kk); err != nil {
			t.Errorf("budget %q: key %s: %v", k, kk, err)
		}
	}
}
