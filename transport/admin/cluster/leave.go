package cluster

import (
	"context"
	"time"

	"github.com/nats-io/nats.go/jetstream"
)

// forgetIfLeaving removes this member from the members bucket when it
// stops after `transportd cluster leave` (SetLeaving): the others list it
// as Leaving while it still runs (its NATS server still routes and holds
// stream replicas), and no longer at all once it has stopped, rather than
// as a member that is Down. It runs as run ends, before Close closes the
// connection.
func (n *Node) forgetIfLeaving(kv jetstream.KeyValue) {
	n.mu.Lock()
	leaving := n.leaving
	n.mu.Unlock()
	if !leaving {
		return
	}
	ctx, cancel := context.WithTimeout(context.Background(), 5*time.Second)
	defer cancel()
	if err := kv.Delete(ctx, n.opts.Member); err != nil {
		n.log.Warn("this member left its cluster but could not remove itself from the members list; the others show it Down", "err", err)
		return
	}
	n.log.Info("this member removed itself from the cluster's members list")
}
