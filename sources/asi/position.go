package asi

import (
	"bytes"
	"crypto/sha256"
	"encoding/hex"
	"fmt"

	json "github.com/goccy/go-json"

	"github.com/etl-toolkit/etl/core"
)

// Positions are JSON, so that `etl state show` prints something a person can
// read. See the package documentation for what each field means.

// timeframePos is a time frame unit's position: the fingerprint of the
// version last exported and how many versions were exported.
type timeframePos struct {
	Fingerprint string `json:"fingerprint"`
	Version     int64  `json:"version"`
}

// devicePos is a device unit's position. Every sample before Done is
// exported. When WindowEnd is set, the window [Done, WindowEnd) is being
// read: its pages before Page are exported, and of page Page the groups up to
// Group (in name order); Limit is the page size the window is read with.
type devicePos struct {
	Done      int64  `json:"done"`
	WindowEnd int64  `json:"window_end,omitempty"`
	Page      int    `json:"page,omitempty"`
	Group     string `json:"group,omitempty"`
	Limit     int    `json:"limit,omitempty"`
}

// metadataPos is the metadata unit's position: per stream, the fingerprint of
// every object exported, by id. An object whose fingerprint changes is
// exported again.
type metadataPos struct {
	Streams map[string]map[string]string `json:"streams"`
}

func encodePos(v any) core.Position {
	b, err := json.Marshal(v)
	if err != nil {
		panic(fmt.Sprintf("asi: encoding a position: %v", err)) // plain structs always encode
	}
	return b
}

func decodePos(p core.Position, v any) error {
	if len(p) == 0 {
		return nil
	}
	dec := json.NewDecoder(bytes.NewReader(p))
	dec.DisallowUnknownFields()
	if err := dec.Decode(v); err != nil {
		return fmt.Errorf("bad position %q: %w", p, err)
	}
	return nil
}

// fingerprint hashes JSON values in a canonical form (keys sorted, no
// spaces, numbers as written), so that the same content always gives the
// same fingerprint whatever the key order or whitespace of the answer.
func fingerprint(parts ...[]byte) (string, error) {
	h := sha256.New()
	for _, p := range parts {
		c, err := canonical(p)
		if err != nil {
			return "", err
		}
		h.Write(c)
		h.Write([]byte{0})
	}
	return hex.EncodeToString(h.Sum(nil)[:12]), nil
}

func canonical(raw []byte) ([]byte, error) {
	dec := json.NewDecoder(bytes.NewReader(raw))
	dec.UseNumber()
	var v any
	if err := dec.Decode(&v); err != nil {
		return nil, err
	}
	return json.Marshal(v)
}
