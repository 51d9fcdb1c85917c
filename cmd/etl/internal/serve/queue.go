package serve

import (
	"sort"
	"sync"
	"time"
)

// queue coalesces the triggers of one pipeline while its worker runs a pull.
// It holds a set of units (a unit asked for many times is held once, with the
// time it was first asked for) or, after a schedule or an overflow, a mark that
// the next pull is a full run. Wake is signalled after every add.
type queue struct {
	max  int
	wake chan struct{}

	mu    sync.Mutex
	units map[string]time.Time
	full  bool
	since time.Time // when the full run was first asked for
}

func newQueue(max int) *queue {
	return &queue{max: max, wake: make(chan struct{}, 1), units: map[string]time.Time{}}
}

// addUnit asks for a pull of unit. It reports overflow when the queue held max
// units already: the pending units are then replaced by one full run.
func (q *queue) addUnit(unit string, now time.Time) (overflow bool) {
	q.mu.Lock()
	switch _, held := q.units[unit]; {
	case q.full, held:
	case len(q.units) >= q.max:
		overflow = true
		q.setFullLocked(now)
	default:
		q.units[unit] = now
	}
	q.mu.Unlock()
	q.signal()
	return overflow
}

// addFull asks for a full run of the pipeline (every unit).
func (q *queue) addFull(now time.Time) {
	q.mu.Lock()
	q.setFullLocked(now)
	q.mu.Unlock()
	q.signal()
}

func (q *queue) setFullLocked(now time.Time) {
	if !q.full {
		q.full, q.since = true, now
		for _, t := range q.units {
			if t.Before(q.since) {
				q.since = t
			}
		}
	}
	clear(q.units)
}

func (q *queue) signal() {
	select {
	case q.wake <- struct{}{}:
	default:
	}
}

// work is what a pull must do: every unit (full) or the listed ones, and when
// each was first asked for.
type work struct {
	full  bool
	since time.Time
	units map[string]time.Time
}

// unitList returns the units sorted, nil for a full run.
func (w work) unitList() []string {
	if w.full {
		return nil
	}
	out := make([]string, 0, len(w.units))
	for u := range w.units {
		out = append(out, u)
	}
	sort.Strings(out)
	return out
}

// take empties the queue and returns its work; ok is false if it was empty.
func (q *queue) take() (w work, ok bool) {
	q.mu.Lock()
	defer q.mu.Unlock()
	if !q.full && len(q.units) == 0 {
		return work{}, false
	}
	w = work{full: q.full, since: q.since, units: q.units}
	q.full, q.since, q.units = false, time.Time{}, map[string]time.Time{}
	return w, true
}

// pending returns how many units wait (-1 when a full run waits).
func (q *queue) pending() int {
	q.mu.Lock()
	defer q.mu.Unlock()
	if q.full {
		return -1
	}
	return len(q.units)
}
