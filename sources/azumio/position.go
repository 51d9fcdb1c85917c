package azumio

import (
	"fmt"
	"slices"
	"strconv"

	"github.com/goccy/go-json"

	"github.com/etl-toolkit/etl/core"
)

// position is a user's cursor (see the package documentation, "Positions").
type position struct {
	// Since is the next request's inclusive lower bound on modified (UNIX ms).
	Since int64 `json:"since"`
	// Seen lists the check-ins with modified >= Since already exported, with
	// the version exported: the next page repeats them and they are skipped
	// unless a greater version comes.
	Seen []seenEntry `json:"seen,omitempty"`
	// Pending lists the fragments of exported check-ins not yet exported.
	Pending []pendingFragment `json:"pending,omitempty"`
	// Profile is a hash of the profile last exported ("" before the first).
	Profile string `json:"profile,omitempty"`
}

// seenEntry is [id, version].
type seenEntry struct {
	ID      string
	Version int64
}

// pendingFragment is [check-in id, check-in version, fragment name, fragment id].
type pendingFragment struct {
	ID      string
	Version int64
	Name    string
	FragID  string
}

func (e seenEntry) MarshalJSON() ([]byte, error) {
	b := append([]byte{'['}, strconv.Quote(e.ID)...)
	b = append(b, ',')
	b = strconv.AppendInt(b, e.Version, 10)
	return append(b, ']'), nil
}

func (e *seenEntry) UnmarshalJSON(b []byte) error {
	var a []any
	if err := json.Unmarshal(b, &a); err != nil {
		return err
	}
	if len(a) != 2 {
		return fmt.Errorf("want [id, version], got %s", b)
	}
	id, ok1 := a[0].(string)
	v, ok2 := a[1].(float64)
	if !ok1 || !ok2 {
		return fmt.Errorf("want [id, version], got %s", b)
	}
	e.ID, e.Version = id, int64(v)
	return nil
}

func (p pendingFragment) MarshalJSON() ([]byte, error) {
	b := append([]byte{'['}, strconv.Quote(p.ID)...)
	b = append(b, ',')
	b = strconv.AppendInt(b, p.Version, 10)
	b = append(b, ',')
	b = strconv.AppendQuote(b, p.Name)
	b = append(b, ',')
	b = strconv.AppendQuote(b, p.FragID)
	return append(b, ']'), nil
}

func (p *pendingFragment) UnmarshalJSON(b []byte) error {
	var a []any
	if err := json.Unmarshal(b, &a); err != nil {
		return err
	}
	if len(a) != 4 {
		return fmt.Errorf("want [id, version, name, fragment id], got %s", b)
	}
	id, ok1 := a[0].(string)
	v, ok2 := a[1].(float64)
	name, ok3 := a[2].(string)
	frag, ok4 := a[3].(string)
	if !ok1 || !ok2 || !ok3 || !ok4 {
		return fmt.Errorf("want [id, version, name, fragment id], got %s", b)
	}
	*p = pendingFragment{ID: id, Version: int64(v), Name: name, FragID: frag}
	return nil
}

// decodePosition parses a saved position; nil is the start.
func decodePosition(p core.Position) (position, error) {
	var pos position
	if len(p) == 0 {
		return pos, nil
	}
	if err := json.Unmarshal(p, &pos); err != nil {
		return pos, fmt.Errorf("bad position %q: %w (want {\"since\": <ms>, \"seen\": [[id, version]...]})", p, err)
	}
	return pos, nil
}

// encode returns the position as JSON. Seen is sorted so that equal positions
// encode equally.
func (p position) encode() core.Position {
	slices.SortFunc(p.Seen, func(a, b seenEntry) int {
		if a.ID < b.ID {
			return -1
		}
		if a.ID > b.ID {
			return 1
		}
		return 0
	})
	raw, err := json.Marshal(p)
	if err != nil {
		panic("azumio: encode position: " + err.Error()) // only strings and numbers
	}
	return raw
}
