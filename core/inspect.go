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
func LastRun(ctx context.Context, store Store, pipeline string) (*RunRecord, error) {
	raw, _, err := store.Get(ctx, runKey(pipeline))
	if err != nil || raw == nil {
		return nil, err
	}
	var rec RunRecord
	if err := json.Unmarshal(raw, &rec); err != nil {
		return nil, fmt.Errorf("core: state %s: %w", runKey(pipeline), err)
	}
	return &rec, nil
}

// HasPendingCommit reports whether a crashed run left a commit for the next run
// to finish.
func HasPendingCommit(ctx context.Context, store Store, pipeline string) (bool, error) {
	raw, _, err := store.Get(ctx, pendingKey(pipeline))
	return raw != nil, err
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
	_, pendingRev, err := store.Get(ctx, pendingKey(pipeline))
	if err != nil {
		return 0, err
	}
	var writes []Write
	if len(units) == 0 {
		for _, e := range entries {
			writes = append(writes, Write{Key: e.Key, Rev: e.Rev})
		}
		if pendingRev != 0 {
			writes = append(writes, Write{Key: pendingKey(pipeline), Rev: pendingRev})
		}
	} else {
		if pendingRev != 0 {
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
	if len(units) == 0 && pendingRev != 0 {
		n--
	}
	return n, nil
}
