package cluster

import (
	"context"
	"fmt"
	"slices"
	"time"

	"github.com/nats-io/nats-server/v2/server"
)

// Peer is one replica of the meta group or of a stream.
type Peer struct {
	Name    string        `json:"name"`
	Leader  bool          `json:"leader,omitempty"`
	Current bool          `json:"current"`
	Offline bool          `json:"offline,omitempty"`
	Lag     uint64        `json:"lag"`
	Active  time.Duration `json:"active"`
}

// StreamStatus is one stream with its replicas.
type StreamStatus struct {
	Name     string `json:"name"`
	Replicas int    `json:"replicas"`
	Leader   string `json:"leader"`
	Messages uint64 `json:"messages"`
	Bytes    uint64 `json:"bytes"`
	Peers    []Peer `json:"peers"`
}

// Status is what `transportd cluster status` shows.
type Status struct {
	Cluster    string         `json:"cluster"`
	Member     string         `json:"member"`
	External   string         `json:"external,omitempty"`
	MetaLeader string         `json:"meta_leader"`
	MetaPeers  []Peer         `json:"meta_peers"`
	Replicas   int            `json:"replicas"`
	Members    []Member       `json:"members"`
	Streams    []StreamStatus `json:"streams"`

	// Sync says when the embedded NATS fsyncs JetStream's writes
	// (Cluster.SyncAlways): "always, before the ack" or "every 2m0s";
	// with an external NATS, its servers' setting.
	Sync string `json:"sync,omitempty"`
}

// Status reports the JetStream meta leader (embedded server's Jsz), the
// members and every stream with its replicas and their lag.
func (n *Node) Status(ctx context.Context) (Status, error) {
	st := Status{Cluster: n.opts.Cluster.Name, Member: n.opts.Member, External: n.opts.Cluster.ExternalUrl,
		Replicas: n.Replicas(), Members: n.Members(), Sync: n.syncDescription()}
	if n.ns != nil {
		jsz, err := n.ns.Jsz(&server.JSzOptions{})
		if err != nil {
			return st, fmt.Errorf("JetStream status: %w", err)
		}
		if m := jsz.Meta; m != nil {
			st.MetaLeader = m.Leader
			if m.Leader != "" {
				st.MetaPeers = append(st.MetaPeers, Peer{Name: m.Leader, Leader: true, Current: true})
			}
			for _, p := range m.Replicas {
				if p.Name == m.Leader {
					continue
				}
				st.MetaPeers = append(st.MetaPeers, Peer{Name: p.Name, Current: p.Current, Offline: p.Offline, Lag: p.Lag, Active: p.Active})
			}
			// NATS lists a follower's peers without the follower itself.
			if m.Leader != "" && !slices.ContainsFunc(st.MetaPeers, func(p Peer) bool { return p.Name == n.opts.Member }) {
				st.MetaPeers = append(st.MetaPeers, Peer{Name: n.opts.Member, Current: n.ns.JetStreamIsCurrent()})
			}
		}
	}
	if n.ns != nil && st.MetaLeader == "" {
		// No meta leader (a first member alone, or most members down):
		// JetStream would not answer the listing; the status says why.
		return st, nil
	}
	cctx, cancel := context.WithTimeout(ctx, 5*time.Second)
	defer cancel()
	l := n.js.ListStreams(cctx)
	for si := range l.Info() {
		ss := StreamStatus{Name: si.Config.Name, Replicas: si.Config.Replicas, Messages: si.State.Msgs, Bytes: si.State.Bytes}
		if c := si.Cluster; c != nil {
			ss.Leader = c.Leader
			if c.Leader != "" {
				ss.Peers = append(ss.Peers, Peer{Name: c.Leader, Leader: true, Current: true})
			}
			for _, p := range c.Replicas {
				if p.Name == c.Leader {
					continue
				}
				ss.Peers = append(ss.Peers, Peer{Name: p.Name, Current: p.Current, Offline: p.Offline, Lag: p.Lag, Active: p.Active})
			}
		}
		st.Streams = append(st.Streams, ss)
	}
	if err := l.Err(); err != nil {
		return st, fmt.Errorf("listing streams (is JetStream up? a meta leader needs most members): %w", err)
	}
	return st, nil
}
