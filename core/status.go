package core

import "context"

type statusKey struct{}

// ReportStatus tells whoever watches the run (progress bars, logs) what the unit
// whose ctx this is doing right now, e.g. "waiting: rate limited" or "" when it is
// simply reading. Sources call it from Read; it costs nothing when nobody listens.
func ReportStatus(ctx context.Context, status string) {
	if f, ok := ctx.Value(statusKey{}).(func(string)); ok {
		f(status)
	}
}

// WithStatus returns a context whose ReportStatus calls go to f. The runner sets
// it for each unit it reads; an external plugin's SDK sets it to forward statuses
// to the host.
func WithStatus(ctx context.Context, f func(string)) context.Context {
	return context.WithValue(ctx, statusKey{}, f)
}
