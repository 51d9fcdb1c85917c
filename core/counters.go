package core

import (
	"maps"
	"sync"
)

// Counters counts named events of a plan's components over the plan's life:
// live-stream gaps, late or duplicate rows, reconnects. Components get them as
// Env.Counters and add to them; the run summary and the metrics show them. Names
// are dotted and stable, e.g. "asi.gaps" or "reorder.late". Safe for concurrent
// use; a nil *Counters ignores everything.
type Counters struct {
	mu sync.Mutex
	m  map[string]int64
}

// Add adds n to the counter name.
func (c *Counters) Add(name string, n int64) {
	if c == nil {
		return
	}
	c.mu.Lock()
	if c.m == nil {
		c.m = map[string]int64{}
	}
	c.m[name] += n
	c.mu.Unlock()
}

// Snapshot returns a copy of every counter.
func (c *Counters) Snapshot() map[string]int64 {
	if c == nil {
		return map[string]int64{}
	}
	c.mu.Lock()
	defer c.mu.Unlock()
	return maps.Clone(c.m)
}
