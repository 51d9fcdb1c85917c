package cluster

import (
	"context"

	"github.com/etl-toolkit/etl/core"
)

// OpenStore opens the state store of pipeline p: the KV bucket on the NATS
// servers at url when url is set (the --cluster flag), else on p.State when it
// is a URL (core.IsStateURL), else the local bbolt file p.StatePath().
func OpenStore(ctx context.Context, p *core.Pipeline, url string) (core.Store, error) {
	if url == "" && core.IsStateURL(p.State) {
		url = p.State
	}
	if url == "" {
		return core.OpenBoltStore(p.StatePath())
	}
	return Dial(ctx, url, KVOptions{})
}
