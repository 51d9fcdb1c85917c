package flight

import (
	"encoding/json"
	"fmt"
)

// MetadataVersion is the version of AppMetadata the sink writes.
const MetadataVersion = 1

// AppMetadata is the app_metadata of every record batch message the sink
// sends, encoded as JSON so that a server in any language can read it. It lets
// a server make the sink's at-least-once delivery exactly-once (flightserve
// does):
//
//   - Put identifies one DoPut of the sink. When a put fails and the sink sends
//     it again, the new DoPut carries the same Put and the same batches, so a
//     server that already committed that Put (its acknowledgement was lost)
//     answers OK without storing it twice.
//   - Pipeline, Stream, Unit and Position identify a batch across runs: Position
//     is the source's position after the batch's rows. Once a server has
//     committed a batch with a given (descriptor, pipeline, stream, unit,
//     position), every row of that unit and stream up to the position is stored,
//     so a batch it receives again with the same key (a run that crashed after
//     the acknowledgement but before saving its positions reads them again) can
//     be skipped. This relies on core's source contract: a position is where
//     the unit resumes, so two batches of a unit never end at the same one.
//     Batches without a position (rows a transform released early) cannot be
//     recognised this way.
//   - A batch too large for one message is sent as Parts messages, numbered by
//     Part from 0, each with the batch's Position.
type AppMetadata struct {
	// Version is MetadataVersion.
	Version int `json:"v"`
	// Put identifies the DoPut (the same when it is sent again).
	Put string `json:"put"`
	// Seq numbers the record batch messages of the put from 0.
	Seq int64 `json:"seq"`
	// Pipeline, Stream and Unit are the batch's pipeline name, stream and unit.
	Pipeline string `json:"pipeline"`
	Stream   string `json:"stream"`
	Unit     string `json:"unit"`
	// Position is the source's position after the batch (base64 in JSON);
	// absent when the batch has none.
	Position []byte `json:"position,omitempty"`
	// Part is this message's index among the Parts messages of one batch.
	Part  int `json:"part"`
	Parts int `json:"parts"`
}

// ParseAppMetadata decodes the app_metadata of a record batch message the
// sink sent.
func ParseAppMetadata(b []byte) (AppMetadata, error) {
	var m AppMetadata
	if err := json.Unmarshal(b, &m); err != nil {
		return AppMetadata{}, fmt.Errorf("flight: app metadata: %w", err)
	}
	if m.Version != MetadataVersion {
		return AppMetadata{}, fmt.Errorf("flight: app metadata version %d, want %d", m.Version, MetadataVersion)
	}
	if m.Put == "" || m.Parts < 1 || m.Part < 0 || m.Part >= m.Parts {
		return AppMetadata{}, fmt.Errorf("flight: app metadata: incomplete (put %q, part %d of %d)", m.Put, m.Part, m.Parts)
	}
	return m, nil
}

func (m AppMetadata) encode() []byte {
	b, err := json.Marshal(m)
	if err != nil {
		// Strings and byte slices always encode.
		panic(fmt.Sprintf("flight: encode app metadata: %v", err))
	}
	return b
}
