package core

import (
	"errors"
	"fmt"
	"time"
)

// ErrTransient marks an error worth retrying: a 429, a 5xx, a dropped connection.
// Check with errors.Is(err, ErrTransient); errors that do not match are permanent.
var ErrTransient = errors.New("transient error")

// ErrBackoff is a transient error that may say how long to wait before retrying
// (from a Retry-After header, say). Wait 0 leaves the delay to the retry policy.
type ErrBackoff struct {
	Wait time.Duration
	Err  error
}

func (e *ErrBackoff) Error() string {
	if e.Wait > 0 {
		return fmt.Sprintf("%v (retry after %s)", e.Err, e.Wait)
	}
	return e.Err.Error()
}

func (e *ErrBackoff) Unwrap() error { return e.Err }

// Is reports every ErrBackoff as ErrTransient.
func (e *ErrBackoff) Is(target error) bool { return target == ErrTransient }

// Transient wraps err as a transient error with an optional wait.
func Transient(err error, wait time.Duration) error {
	if err == nil {
		return nil
	}
	return &ErrBackoff{Wait: wait, Err: err}
}

// RetryAfter reports whether err is transient and the wait it asks for (0: none given).
func RetryAfter(err error) (wait time.Duration, transient bool) {
	var b *ErrBackoff
	if errors.As(err, &b) {
		return b.Wait, true
	}
	return 0, errors.Is(err, ErrTransient)
}
