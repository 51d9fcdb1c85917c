package core

import (
	"sort"
	"strings"
	"sync"
)

// Progress holds live counters of a run for progress displays: rows and bytes
// per stream, units done, and what each active unit is doing. It is safe for
// concurrent use; the runner updates it once per batch, never per row.
type Progress struct {
	mu          sync.Mutex
	streams     map[string]*StreamCount
	order       []string
	units, done int
	failed      int
	status      map[string]string
	waits       int64
	rateWaits   int64
}

// StreamCount is the rows, bytes (Arrow buffer sizes) and batches of one stream.
type StreamCount struct {
	Stream  string
	Rows    int64
	Bytes   int64
	Batches int64
}

// NewProgress returns empty counters.
func NewProgress() *Progress {
	return &Progress{streams: map[string]*StreamCount{}, status: map[string]string{}}
}

func (p *Progress) add(stream string, rows, bytes int64) {
	p.mu.Lock()
	c, ok := p.streams[stream]
	if !ok {
		c = &StreamCount{Stream: stream}
		p.streams[stream] = c
		p.order = append(p.order, stream)
	}
	c.Rows += rows
	c.Bytes += bytes
	c.Batches++
	p.mu.Unlock()
}

func (p *Progress) setUnits(n int) {
	p.mu.Lock()
	p.units = n
	p.mu.Unlock()
}

func (p *Progress) setStatus(unit, s string) {
	p.mu.Lock()
	p.status[unit] = s
	if strings.HasPrefix(s, "waiting") {
		if strings.Contains(s, "rate limit") {
			p.rateWaits++
		} else {
			p.waits++
		}
	}
	p.mu.Unlock()
}

func (p *Progress) unitDone(unit string, failed bool) {
	p.mu.Lock()
	delete(p.status, unit)
	p.done++
	if failed {
		p.failed++
	}
	p.mu.Unlock()
}

// Streams returns the per-stream counters in the order streams first appeared.
func (p *Progress) Streams() []StreamCount {
	p.mu.Lock()
	defer p.mu.Unlock()
	out := make([]StreamCount, 0, len(p.order))
	for _, s := range p.order {
		out = append(out, *p.streams[s])
	}
	return out
}

// Units returns the number of units in the run, how many have ended, and how
// many of those failed.
func (p *Progress) Units() (total, done, failed int) {
	p.mu.Lock()
	defer p.mu.Unlock()
	return p.units, p.done, p.failed
}

// Active returns what each unit being read is doing ("reading", "waiting 2s:
// ..."), sorted by unit.
func (p *Progress) Active() [][2]string {
	p.mu.Lock()
	defer p.mu.Unlock()
	out := make([][2]string, 0, len(p.status))
	for u, s := range p.status {
		out = append(out, [2]string{u, s})
	}
	sort.Slice(out, func(i, j int) bool { return out[i][0] < out[j][0] })
	return out
}

// Waits returns how many times a unit reported waiting ("waiting ..." statuses,
// from the runner's retries and the sources' own backoff): rateLimited counts
// those naming a rate limit, retries the others (transient errors retried after
// a backoff). The counts are for metrics; they never decrease.
func (p *Progress) Waits() (retries, rateLimited int64) {
	p.mu.Lock()
	defer p.mu.Unlock()
	return p.waits, p.rateWaits
}
