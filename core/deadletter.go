package core

import "context"

// DeadLetter is one rejected row: where it came from, why, and its original value.
type DeadLetter struct {
	Stream    string `json:"stream"`
	Unit      string `json:"unit"`
	Component string `json:"component"`
	Reason    string `json:"reason"`
	// Value is the original row (or message) as JSON.
	Value []byte `json:"-"`
}

// DeadLetters receives rejected rows. Reject must not block for long; it is safe
// for concurrent use.
type DeadLetters interface {
	Reject(ctx context.Context, d DeadLetter) error
}
