package core

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"strings"
)

// UnitEntry is one unit's saved state, for `etl state show`.
type UnitEntry struct {
	Unit  string
	State UnitState
}

// UnitStates returns the saved state of every unit of a pipeline, sorted by unit.
func UnitStates(ctx context.Context, store Store, pipeline string) ([]UnitEntry, error) {
	entries, err := store.List(ctx, unitPrefix(pipeline))
	if err != nil {
		return nil, err
	}
	out := make([]UnitEntry, 0, len(entries))
	for _, e := range entries {
		var st UnitState
		if err := json.Unmarshal(e.Value, &st); err != nil {
			return nil, fmt.Errorf("core: state %s: %w", e.Key, err)
		}
		out = append(out, UnitEntry{Unit: strings.TrimPrefix(e.Key, unitPrefix(pipeline)), State: st})
	}
	return out, nil
}

// LastRun returns the record of the pipeline's last run, nil if it never ran.
// Runs with RunOptions.Scope (scale-out workers, one unit each) keep records of
// their own: the one that started last among all of them is returned.
func LastRun(ctx context.Context, store Store, pipeline string) (*RunRecord, error) {
	var last *RunRecord
	keep := func(key string, raw []byte) error {
		var rec RunRecord
		if err := json.Unmarshal(raw, &rec); err != nil {
			return fmt.Errorf("core: state %s: %w", key, err)
		}
		if last == nil || rec.Started.After(last.Started) {
			last = &rec
		}
		return nil
	}
	raw, _, err := store.Get(ctx, runKey(pipeline))
	if err != nil {
		return nil, err
	}
	if raw != nil {
		if err := keep(runKey(pipeline), raw); err != nil {
			return nil, err
		}
	}
	scoped, err := store.List(ctx, runKey(pipeline)+"/")
	if err != nil {
		return nil, err
	}
	for _, e := range scoped {
		if err := keep(e.Key, e.Value); err != nil {
			return nil, err
		}
	}
	return last, nil
}

// pendingCommits returns the pipeline's unfinished commit records: the
// unscoped one and those of scoped runs.
func pendingCommits(ctx context.Context, store Store, pipeline string) ([]Entry, error) {
	out, err := store.List(ctx, pendingKey(pipeline)+"/")
	if err != nil {
		return nil, err
	}
	raw, rev, err := store.Get(ctx, pendingKey(pipeline))
	if err != nil {
		return nil, err
	}
	if raw != nil {
		out = append(out, Entry{Key: pendingKey(pipeline), Value: raw, Rev: rev})
	}
	return out, nil
}

// HasPendingCommit reports whether a crashed run (or scale-out worker) left a
// commit for the next run (of its unit) to finish.
func HasPendingCommit(ctx context.Context, store Store, pipeline string) (bool, error) {
	pending, err := pendingCommits(ctx, store, pipeline)
	return len(pending) > 0, err
}

// ResetState forgets the saved positions of the given units (all units when
// units is empty), so the next run reads them from the beginning. It returns how
// many units were reset. Resetting some units while a crashed run's commit is
// still unfinished is refused (run the pipeline once to finish it); resetting all
// units drops that commit too, since every row will be read again.
func ResetState(ctx context.Context, store Store, pipeline string, units []string) (int, error) {
	entries, err := store.List(ctx, unitPrefix(pipeline))
	if err != nil {
		return 0, err
	}
	pending, err := pendingCommits(ctx, store, pipeline)
	if err != nil {
		return 0, err
	}
	var writes []Write
	if len(units) == 0 {
		for _, e := range entries {
			writes = append(writes, Write{Key: e.Key, Rev: e.Rev})
		}
		for _, e := range pending {
			writes = append(writes, Write{Key: e.Key, Rev: e.Rev})
		}
	} else {
		if len(pending) > 0 {
			return 0, errors.New("core: a crashed run left an unfinished commit; run the pipeline once to finish it, then reset units")
		}
		revs := map[string]uint64{}
		for _, e := range entries {
			revs[strings.TrimPrefix(e.Key, unitPrefix(pipeline))] = e.Rev
		}
		for _, u := range units {
			rev, ok := revs[u]
			if !ok {
				return 0, fmt.Errorf("core: unit %q has no saved state in pipeline %s", u, pipeline)
			}
			writes = append(writes, Write{Key: unitKey(pipeline, u), Rev: rev})
		}
	}
	if len(writes) == 0 {
		return 0, nil
	}
	if _, err := store.Update(ctx, writes...); err != nil {
		return 0, err
	}
	n := len(writes)
	if len(units) == 0 {
		n -= len(pending)
	}
	return n, nil
}
