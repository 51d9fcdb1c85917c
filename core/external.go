package core

import (
	"context"
	"sync"
)

// External opens components that run as separate programs, named in a pipeline
// file as `plugin: external:PATH` (or by name from a plugins directory). The
// plugins package provides it and installs it with SetExternal; the components it
// returns satisfy the same interfaces as built-ins, so the runner cannot tell
// them apart.
type External interface {
	OpenSource(ctx context.Context, ref string, env Env) (Source, error)
	OpenTransform(ctx context.Context, ref string, env Env) (Transform, error)
	OpenSink(ctx context.Context, ref string, env Env) (Sink, error)
}

var external struct {
	sync.RWMutex
	e External
}

// SetExternal installs the opener of external plugins (nil removes it).
func SetExternal(e External) {
	external.Lock()
	external.e = e
	external.Unlock()
}

func getExternal() External {
	external.RLock()
	defer external.RUnlock()
	return external.e
}
