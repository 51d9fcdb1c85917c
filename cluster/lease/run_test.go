package lease_test

import (
	"context"
	"errors"
	"fmt"
	"net"
	"slices"
	"sync"
	"testing"
	"time"

	"github.com/etl-toolkit/etl/cluster/lease"
	"github.com/etl-toolkit/etl/cluster/natstest"
	"github.com/nats-io/nats.go/jetstream"
)

// record keeps when each run of each unit started and when its context ended.
type record struct {
	mu   sync.Mutex
	runs map[string][]*span
}

type span struct {
	worker     string
	start, end time.Time // end zero while running
	cause      error     // why the run's context ended
}

func newRecord() *record { return &record{runs: make(map[string][]*span)} }

// run returns a run function for worker that holds its unit until its
// context ends.
func (r *record) run(worker string) func(context.Context, string) error {
	return func(ctx context.Context, unit string) error {
		s := &span{worker: worker, start: time.Now()}
		r.mu.Lock()
		r.runs[unit] = append(r.runs[unit], s)
		r.mu.Unlock()
		<-ctx.Done()
		r.mu.Lock()
		s.end = time.Now()
		s.cause = context.Cause(ctx)
		r.mu.Unlock()
		return nil
	}
}

// causes counts why worker's ended runs ended: ErrLost, ErrRebalanced, or the
// cause itself.
func (r *record) causes(worker string) map[error]int {
	r.mu.Lock()
	defer r.mu.Unlock()
	n := make(map[error]int)
	for _, spans := range r.runs {
		for _, s := range spans {
			if s.worker != worker || s.end.IsZero() {
				continue
			}
			switch {
			case errors.Is(s.cause, lease.ErrLost):
				n[lease.ErrLost]++
			case errors.Is(s.cause, lease.ErrRebalanced):
				n[lease.ErrRebalanced]++
			default:
				n[s.cause]++
			}
		}
	}
	return n
}

// running returns how many units each worker is running now.
func (r *record) running() map[string]int {
	r.mu.Lock()
	defer r.mu.Unlock()
	n := make(map[string]int)
	for _, spans := range r.runs {
		for _, s := range spans {
			if s.end.IsZero() {
				n[s.worker]++
			}
		}
	}
	return n
}

// checkNoOverlap fails t if any unit ever ran twice at once: every run of a
// unit must start after the previous one's context ended.
func (r *record) checkNoOverlap(t *testing.T) {
	t.Helper()
	r.mu.Lock()
	defer r.mu.Unlock()
	least := time.Duration(-1)
	for unit, spans := range r.runs {
		spans = slices.Clone(spans)
		slices.SortFunc(spans, func(a, b *span) int { return a.start.Compare(b.start) })
		for i := 1; i < len(spans); i++ {
			prev, next := spans[i-1], spans[i]
			if prev.end.IsZero() || !prev.end.Before(next.start) {
				t.Errorf("unit %s: run on %s started at %s while the run on %s (from %s) had not ended (end %s)",
					unit, next.worker, next.start.Format("15:04:05.000"), prev.worker,
					prev.start.Format("15:04:05.000"), prev.end.Format("15:04:05.000"))
			} else if gap := next.start.Sub(prev.end); least < 0 || gap < least {
				least = gap
			}
		}
	}
	if least >= 0 {
		t.Logf("the closest handover: %v from one run's end to the next's start", least)
	}
}

// waitFor polls cond until it holds or within passes, and returns how long it took.
func waitFor(t *testing.T, within time.Duration, what string, cond func() bool) time.Duration {
	t.Helper()
	start := time.Now()
	for !cond() {
		if time.Since(start) > within {
			t.Fatalf("%s: not within %v", what, within)
		}
		time.Sleep(10 * time.Millisecond)
	}
	return time.Since(start)
}

func unitNames(n int) []string {
	units := make([]string, n)
	for i := range units {
		units[i] = fmt.Sprintf("asi/device:%02d", i)
	}
	return units
}

// runner starts lease.Run for worker and returns a function that stops it and
// waits for it to return.
func runner(t *testing.T, ctx context.Context, addr, worker string, units []string, rec *record, opts lease.Options) (stop func()) {
	t.Helper()
	kv, _ := connect(t, addr)
	ctx, cancel := context.WithCancel(ctx)
	done := make(chan error, 1)
	go func() { done <- lease.Run(ctx, kv, worker, units, rec.run(worker), opts) }()
	var once sync.Once
	stop = func() {
		once.Do(func() {
			cancel()
			if err := <-done; err != nil {
				t.Errorf("Run of %s: %v", worker, err)
			}
		})
	}
	t.Cleanup(stop)
	return stop
}

const scan = 500 * time.Millisecond

func TestRunMovesUnitsOfDeadWorker(t *testing.T) {
	addr := natstest.Start(t)
	units := unitNames(10)
	rec := newRecord()
	ctx := context.Background()

	kvA, ncA := connect(t, addr)
	ctxA, cancelA := context.WithCancel(ctx)
	doneA := make(chan error, 1)
	go func() { doneA <- lease.Run(ctxA, kvA, "A", units, rec.run("A"), lease.Options{Scan: scan}) }()
	waitFor(t, 5*time.Second, "A runs all 10 units", func() bool { return rec.running()["A"] == 10 })
	runner(t, ctx, addr, "B", units, rec, lease.Options{Scan: scan})
	time.Sleep(ttl) // A renews through a whole TTL while B looks on
	if n := rec.running(); n["A"] != 10 || n["B"] != 0 {
		t.Fatalf("after a TTL with both running: %v, want A holding all 10", n)
	}

	ncA.Close() // A is cut off: its leases are not renewed
	took := waitFor(t, ttl+scan, "B runs all 10 units after A died", func() bool { return rec.running()["B"] == 10 })
	t.Logf("B ran all 10 units %v after A's connection closed (TTL %v, scan %v)", took, ttl, scan)
	if n := rec.running()["A"]; n != 0 {
		t.Errorf("A still runs %d units after losing them", n)
	}
	if got := rec.causes("A"); got[lease.ErrLost] != 10 || len(got) != 1 {
		t.Errorf("A's runs ended for %v, want all 10 for ErrLost", got)
	}
	cancelA()
	if err := <-doneA; err != nil {
		t.Errorf("Run of A: %v", err)
	}
	rec.checkNoOverlap(t)
}

func TestRunReleasesOnStop(t *testing.T) {
	addr := natstest.Start(t)
	units := unitNames(10)
	rec := newRecord()
	ctx := context.Background()
	var mu sync.Mutex
	var events []lease.Event
	stopA := runner(t, ctx, addr, "A", units, rec, lease.Options{Report: func(e lease.Event) {
		mu.Lock()
		events = append(events, e)
		mu.Unlock()
	}})
	waitFor(t, 5*time.Second, "A runs all 10 units", func() bool { return rec.running()["A"] == 10 })
	// B scans only every 10 s: it takes A's units because it sees them released.
	runner(t, ctx, addr, "B", units, rec, lease.Options{Scan: 10 * time.Second})
	time.Sleep(100 * time.Millisecond)
	stopA()
	took := waitFor(t, ttl/2, "B runs all 10 units after A stopped", func() bool { return rec.running()["B"] == 10 })
	if got := rec.causes("A"); got[context.Canceled] != 10 || len(got) != 1 {
		t.Errorf("A's runs ended for %v, want all 10 for context.Canceled", got)
	}
	t.Logf("B ran all 10 units %v after A stopped", took)
	rec.checkNoOverlap(t)
	mu.Lock()
	defer mu.Unlock()
	count := make(map[lease.EventKind]int)
	for _, e := range events {
		count[e.Kind]++
	}
	if count[lease.Acquired] != 10 || count[lease.Ended] != 10 || count[lease.Released] != 10 || count[lease.Lost] != 0 {
		t.Errorf("A's events %v, want 10 acquired, ended and released, none lost", count)
	}
}

// A unit whose run fails is released and run again after RetryAfter.
func TestRunRetriesAFailedUnit(t *testing.T) {
	addr := natstest.Start(t)
	kv, _ := connect(t, addr)
	ctx, cancel := context.WithCancel(context.Background())
	defer cancel()
	var mu sync.Mutex
	var starts []time.Time
	run := func(ctx context.Context, unit string) error {
		mu.Lock()
		starts = append(starts, time.Now())
		n := len(starts)
		mu.Unlock()
		if n == 1 {
			return errors.New("device went away")
		}
		<-ctx.Done()
		return nil
	}
	var ended []error
	done := make(chan error, 1)
	go func() {
		done <- lease.Run(ctx, kv, "A", []string{unit}, run, lease.Options{Scan: 100 * time.Millisecond, RetryAfter: 300 * time.Millisecond,
			Report: func(e lease.Event) {
				if e.Kind == lease.Ended {
					ended = append(ended, e.Err)
				}
			}})
	}()
	waitFor(t, 5*time.Second, "the unit runs again", func() bool {
		mu.Lock()
		defer mu.Unlock()
		return len(starts) == 2
	})
	cancel()
	if err := <-done; err != nil {
		t.Fatal(err)
	}
	if gap := starts[1].Sub(starts[0]); gap < 300*time.Millisecond {
		t.Errorf("failed unit run again after %v, want at least RetryAfter (300ms)", gap)
	}
	if len(ended) != 2 || ended[0] == nil || ended[0].Error() != "device went away" || ended[1] != nil {
		t.Errorf("Ended events %v, want the run's error then nil", ended)
	}
}

func TestRunRefusesBadUnits(t *testing.T) {
	addr := natstest.Start(t)
	kv, _ := connect(t, addr)
	run := func(context.Context, string) error { return nil }
	for _, tc := range []struct {
		units []string
		want  string
	}{
		{[]string{"a", ""}, `lease: units[1]: empty unit name`},
		{[]string{"a", "b", "a"}, `lease: units[2]: unit "a" listed twice`},
	} {
		err := lease.Run(context.Background(), kv, "A", tc.units, run, lease.Options{})
		if err == nil || err.Error() != tc.want {
			t.Errorf("Run(%q): got %v, want %s", tc.units, err, tc.want)
		}
	}
}

// Two runners race for 20 units; then one's traffic to NATS is frozen (its
// renewals hang): its runs are cancelled at their deadlines, before a third
// runner starts any of its units.
func TestRunNeverTwoHolders(t *testing.T) {
	addr := natstest.Start(t)
	units := unitNames(20)
	rec := newRecord()
	ctx := context.Background()
	p := startProxy(t, hostPort(t, addr))
	opts := lease.Options{Capacity: 10, Scan: scan}
	runner(t, ctx, "nats://"+p.addr(), "A", units, rec, opts)
	runner(t, ctx, addr, "B", units, rec, opts)
	waitFor(t, 5*time.Second, "A and B run 10 units each", func() bool {
		n := rec.running()
		return n["A"] == 10 && n["B"] == 10
	})

	p.freeze()
	runner(t, ctx, addr, "C", units, rec, lease.Options{Scan: scan})
	took := waitFor(t, ttl+scan, "C runs A's 10 units after A was cut off", func() bool { return rec.running()["C"] == 10 })
	t.Logf("C ran A's 10 units %v after A was cut off", took)
	if got := rec.causes("A"); got[lease.ErrLost] != 10 || len(got) != 1 {
		t.Errorf("A's runs ended for %v, want all 10 for ErrLost", got)
	}
	if n := rec.running(); n["A"] != 0 || n["B"] != 10 {
		t.Errorf("running %v, want A none and B its 10", n)
	}
	p.thaw() // A's late renewals are refused; it finds every unit held
	time.Sleep(ttl)
	if n := rec.running(); n["A"] != 0 || n["B"] != 10 || n["C"] != 10 {
		t.Errorf("after A came back: running %v, want A none, B and C 10 each", n)
	}
	rec.checkNoOverlap(t)
}

// proxy forwards TCP connections to a target and can hold all traffic
// (freeze) without closing them, as a network partition does.
type proxy struct {
	ln     net.Listener
	target string
	mu     sync.Mutex
	cond   *sync.Cond
	frozen bool
	conns  []net.Conn
}

func startProxy(t *testing.T, target string) *proxy {
	t.Helper()
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	p := &proxy{ln: ln, target: target}
	p.cond = sync.NewCond(&p.mu)
	go p.accept()
	t.Cleanup(func() {
		p.thaw()
		ln.Close()
		p.mu.Lock()
		for _, c := range p.conns {
			c.Close()
		}
		p.mu.Unlock()
	})
	return p
}

func (p *proxy) addr() string { return p.ln.Addr().String() }

func (p *proxy) accept() {
	for {
		c, err := p.ln.Accept()
		if err != nil {
			return
		}
		u, err := net.Dial("tcp", p.target)
		if err != nil {
			c.Close()
			continue
		}
		p.mu.Lock()
		p.conns = append(p.conns, c, u)
		p.mu.Unlock()
		go p.pipe(c, u)
		go p.pipe(u, c)
	}
}

// pipe copies src to dst, holding each chunk while the proxy is frozen.
func (p *proxy) pipe(src, dst net.Conn) {
	defer src.Close()
	defer dst.Close()
	buf := make([]byte, 32<<10)
	for {
		n, err := src.Read(buf)
		if n > 0 {
			p.mu.Lock()
			for p.frozen {
				p.cond.Wait()
			}
			p.mu.Unlock()
			if _, werr := dst.Write(buf[:n]); werr != nil {
				return
			}
		}
		if err != nil { // io.EOF or closed: close both ends
			return
		}
	}
}

func (p *proxy) freeze() {
	p.mu.Lock()
	p.frozen = true
	p.mu.Unlock()
}

func (p *proxy) thaw() {
	p.mu.Lock()
	p.frozen = false
	p.cond.Broadcast()
	p.mu.Unlock()
}

// With Balance, workers joining take their share from the ones running, and a
// dead worker's share is spread over the survivors.
func TestRunBalances(t *testing.T) {
	addr := natstest.Start(t)
	units := unitNames(12)
	rec := newRecord()
	ctx := context.Background()
	opts := lease.Options{Balance: true, Scan: 300 * time.Millisecond}
	share := func(want map[string]int) func() bool {
		return func() bool {
			n := rec.running()
			for w, c := range want {
				if n[w] != c {
					return false
				}
			}
			return true
		}
	}
	// D balances another pipeline's units on the same bucket: it is not one of
	// the workers sharing the 12 units.
	other := opts
	other.Group = "another pipeline"
	runner(t, ctx, addr, "D", []string{"x:1", "x:2", "x:3"}, rec, other)
	runner(t, ctx, addr, "A", units, rec, opts)
	waitFor(t, 5*time.Second, "A alone runs all 12 units", share(map[string]int{"A": 12, "D": 3}))
	runner(t, ctx, addr, "B", units, rec, opts)
	took := waitFor(t, 5*time.Second, "A and B run 6 each", share(map[string]int{"A": 6, "B": 6}))
	t.Logf("B joined: 6 units each after %v", took)
	if got := rec.causes("A"); got[lease.ErrRebalanced] != 6 || len(got) != 1 {
		t.Errorf("A's runs ended for %v, want 6 for ErrRebalanced", got)
	}

	kvC, ncC := connect(t, addr)
	ctxC, cancelC := context.WithCancel(ctx)
	doneC := make(chan error, 1)
	go func() { doneC <- lease.Run(ctxC, kvC, "C", units, rec.run("C"), opts) }()
	took = waitFor(t, 5*time.Second, "A, B and C run 4 each", share(map[string]int{"A": 4, "B": 4, "C": 4}))
	t.Logf("C joined: 4 units each after %v", took)

	ncC.Close() // C dies: its units and its presence expire
	took = waitFor(t, ttl+4*opts.Scan, "A and B run 6 each again", share(map[string]int{"A": 6, "B": 6, "C": 0, "D": 3}))
	t.Logf("C died: A and B ran 6 each after %v", took)
	cancelC()
	if err := <-doneC; err != nil {
		t.Errorf("Run of C: %v", err)
	}
	rec.checkNoOverlap(t)
}

func TestRunNeedsABucketWithTTL(t *testing.T) {
	_, nc := connect(t, natstest.Start(t))
	js, err := jetstream.New(nc)
	if err != nil {
		t.Fatal(err)
	}
	kv, err := js.CreateKeyValue(context.Background(), jetstream.KeyValueConfig{Bucket: "plain"})
	if err != nil {
		t.Fatal(err)
	}
	err = lease.Run(context.Background(), kv, "A", []string{"a"}, func(context.Context, string) error { return nil }, lease.Options{})
	if want := "lease: bucket plain has no TTL, want one (make it with lease.CreateBucket)"; err == nil || err.Error() != want {
		t.Fatalf("Run on a bucket without TTL: got %v, want %s", err, want)
	}
}
