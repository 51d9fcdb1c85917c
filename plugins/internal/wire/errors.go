package wire

import (
	"context"
	"errors"
	"fmt"
	"strings"
	"time"

	"google.golang.org/grpc/codes"
	"google.golang.org/grpc/status"

	"github.com/etl-toolkit/etl/core"
	pb "github.com/etl-toolkit/etl/plugins/proto"
)

// ErrorProto describes err for the other side: its message and its kind. A
// transient error's message loses the " (retry after WAIT)" that
// core.ErrBackoff adds, since the receiving side adds it again.
func ErrorProto(err error) *pb.Error {
	if err == nil {
		return nil
	}
	e := &pb.Error{Message: err.Error()}
	var ces core.ConfigErrors
	var ce *core.ConfigError
	switch {
	case errors.As(err, &ces):
		e.Kind = pb.Error_CONFIG
		for _, c := range ces {
			e.Problems = append(e.Problems, &pb.ConfigProblem{Path: c.Path, Message: c.Msg})
		}
	case errors.As(err, &ce) && ce != nil:
		e.Kind = pb.Error_CONFIG
		e.Problems = []*pb.ConfigProblem{{Path: ce.Path, Message: ce.Msg}}
	default:
		if wait, transient := core.RetryAfter(err); transient {
			e.Kind = pb.Error_TRANSIENT
			e.RetryAfterMs = wait.Milliseconds()
			if wait > 0 {
				e.Message = strings.TrimSuffix(e.Message, fmt.Sprintf(" (retry after %s)", wait))
			}
		} else if errors.Is(err, context.Canceled) {
			e.Kind = pb.Error_CANCELED
		} else if errors.Is(err, context.DeadlineExceeded) {
			e.Kind = pb.Error_DEADLINE_EXCEEDED
		}
	}
	return e
}

// ToStatus returns err as a gRPC status error carrying ErrorProto(err) in its
// details, for a handler to return; nil stays nil.
func ToStatus(err error) error {
	if err == nil {
		return nil
	}
	e := ErrorProto(err)
	code := codes.Unknown
	switch e.Kind {
	case pb.Error_TRANSIENT:
		code = codes.Unavailable
	case pb.Error_CANCELED:
		code = codes.Canceled
	case pb.Error_DEADLINE_EXCEEDED:
		code = codes.DeadlineExceeded
	case pb.Error_CONFIG:
		code = codes.InvalidArgument
	}
	st, derr := status.New(code, e.Message).WithDetails(e)
	if derr != nil {
		return status.Error(code, e.Message)
	}
	return st.Err()
}

// RemoteError is an error that the other side returned: its message, and the
// standard error it wrapped there (context.Canceled, context.DeadlineExceeded),
// if any, so that errors.Is works on this side too.
type RemoteError struct {
	Msg  string
	Kind error
}

func (e *RemoteError) Error() string { return e.Msg }
func (e *RemoteError) Unwrap() error { return e.Kind }

// ConfigProblems is a config error from the other side: the problems of a
// config section, each with its field path, which the host maps back to the
// pipeline file.
type ConfigProblems []*pb.ConfigProblem

func (p ConfigProblems) Error() string {
	lines := make([]string, len(p))
	for i, c := range p {
		lines[i] = c.Path + ": " + c.Message
		if c.Path == "" {
			lines[i] = c.Message
		}
	}
	return strings.Join(lines, "\n")
}

// FromProto turns an Error from the other side back into an error of the same
// kind: transient errors are core.ErrBackoff (so core.RetryAfter gives their
// wait), cancellations wrap context.Canceled, config errors are ConfigProblems.
func FromProto(e *pb.Error) error {
	if e == nil {
		return nil
	}
	switch e.Kind {
	case pb.Error_TRANSIENT:
		return core.Transient(&RemoteError{Msg: e.Message}, time.Duration(e.RetryAfterMs)*time.Millisecond)
	case pb.Error_CANCELED:
		return &RemoteError{Msg: e.Message, Kind: context.Canceled}
	case pb.Error_DEADLINE_EXCEEDED:
		return &RemoteError{Msg: e.Message, Kind: context.DeadlineExceeded}
	case pb.Error_CONFIG:
		if len(e.Problems) > 0 {
			return ConfigProblems(e.Problems)
		}
	}
	return &RemoteError{Msg: e.Message}
}

// FromStatus returns the error that the other side's handler returned, if err
// is a gRPC status carrying an Error; ok is false for statuses that gRPC itself
// made (a broken connection, a cancelled call).
func FromStatus(err error) (remote error, ok bool) {
	st, isStatus := status.FromError(err)
	if !isStatus || st == nil {
		return nil, false
	}
	for _, d := range st.Details() {
		if e, isErr := d.(*pb.Error); isErr {
			return FromProto(e), true
		}
	}
	return nil, false
}
