package cluster

import (
	"context"
	"crypto/hmac"
	"crypto/sha256"
	"encoding/hex"
	"encoding/json"
	"fmt"
	"slices"
	"time"

	"github.com/nats-io/nats-server/v2/server"
	"github.com/nats-io/nats.go"
	"github.com/nats-io/nats.go/jetstream"
	"golang.org/x/crypto/bcrypt"
)

// A member that left (`transportd cluster leave`, then stopped) deletes
// its entry from the members bucket (forgetIfLeaving). Its embedded NATS
// server is still a JetStream peer for the others: of the meta group and
// of every replicated stream, where it counts towards the quorum and
// holds a replica no joining member takes over. The meta leader removes
// it the NATS way, with $JS.API.SERVER.REMOVE (what `nats server raft
// peer-remove` sends) over a connection in the system account, once the
// left member's server is offline. NATS then gives its stream replicas
// to another member (or to the next one that joins).

const (
	// systemUser is the embedded server's user in the system account.
	systemUser = "system"
	// removeRetry is how long the meta leader waits before it asks again
	// for the removal of a member that is still a peer.
	removeRetry = 10 * time.Second
)

// systemUser returns the system account and its user for the embedded
// server. The password is derived from the cluster key (never stored);
// the server keeps only its bcrypt hash.
func (n *Node) systemUser() (*server.Account, *server.User, error) {
	hash, err := bcrypt.GenerateFromPassword([]byte(n.systemPassword()), bcrypt.DefaultCost)
	if err != nil {
		return nil, nil, err
	}
	// NATS's default system account name, the one every member ran with
	// before it had a user: members of mixed versions share it.
	acc := server.NewAccount(server.DEFAULT_SYSTEM_ACCOUNT)
	return acc, &server.User{Username: systemUser, Password: string(hash), Account: acc}, nil
}

// systemPassword is the system user's password: HMAC-SHA256 of a fixed
// label under the cluster key.
func (n *Node) systemPassword() string {
	m := hmac.New(sha256.New, n.bundle.Key)
	m.Write([]byte("transportd NATS system user"))
	return hex.EncodeToString(m.Sum(nil))
}

// noteLeftLocked records, from a members bucket update, which members
// left: a deleted entry is a member that left (only forgetIfLeaving
// deletes one; the marker stays in the bucket, so a member that starts
// later knows it too), a new heartbeat one that is back. n.mu is held.
func (n *Node) noteLeftLocked(e jetstream.KeyValueEntry) {
	name := e.Key()
	if e.Operation() == jetstream.KeyValuePut {
		delete(n.left, name)
		return
	}
	if name == n.opts.Member {
		return
	}
	n.left[name] = e.Created()
	if n.ns == nil && time.Since(e.Created()) < time.Minute {
		n.log.Info("a member left the cluster; with an external NATS (Cluster.ExternalUrl) the JetStream peers are the NATS servers, which its operator runs: a NATS server that is retired is removed by that operator (nats server raft peer-remove SERVER)",
			"member", name)
	}
}

// removeLeft removes the members that left from JetStream until ctx
// ends, looking every Heartbeat.
func (n *Node) removeLeft(ctx context.Context) {
	tried := map[string]time.Time{}
	t := time.NewTicker(Heartbeat)
	defer t.Stop()
	for {
		select {
		case <-ctx.Done():
			return
		case <-t.C:
		}
		n.removeLeftPeers(ctx, tried)
	}
}

// removeLeftPeers looks at the JetStream meta group once: a member that
// left and is no longer a peer is forgotten; on the meta leader, one that
// is still a peer but offline is removed (tried says when it was last
// asked for).
func (n *Node) removeLeftPeers(ctx context.Context, tried map[string]time.Time) {
	n.mu.Lock()
	var left []string
	for name := range n.left {
		if _, back := n.members[name]; !back {
			left = append(left, name)
		}
	}
	n.mu.Unlock()
	if len(left) == 0 {
		return
	}
	jsz, err := n.ns.Jsz(&server.JSzOptions{})
	if err != nil || jsz.Meta == nil || jsz.Meta.Leader == "" {
		return // no meta group to ask now
	}
	meta := jsz.Meta
	for _, name := range left {
		i := slices.IndexFunc(meta.Replicas, func(p *server.PeerInfo) bool { return p.Name == name })
		if i < 0 && meta.Leader != name {
			n.mu.Lock()
			delete(n.left, name)
			n.mu.Unlock()
			delete(tried, name)
			continue
		}
		if i < 0 || !meta.Replicas[i].Offline || meta.Leader != n.opts.Member {
			continue // still stopping, or the meta leader's job
		}
		if time.Since(tried[name]) < removeRetry {
			continue
		}
		tried[name] = time.Now()
		if err := n.removePeer(ctx, name); err != nil {
			n.log.Warn("a member that left is still a JetStream peer; removing it failed, trying again", "member", name, "err", err)
			continue
		}
		n.log.Info("a member that left was removed from JetStream: the meta group and the streams' replicas no longer count it", "member", name)
	}
}

// removePeer asks the meta leader (this server) to remove server name
// from JetStream: $JS.API.SERVER.REMOVE in the system account.
func (n *Node) removePeer(ctx context.Context, name string) error {
	nc, err := nats.Connect(n.sysURL, nats.Secure(n.sysDial), nats.UserInfo(systemUser, n.systemPassword()),
		nats.Name("transportd "+n.opts.Member+" peer remove"), nats.Timeout(10*time.Second), nats.NoReconnect())
	if err != nil {
		return fmt.Errorf("connecting as the NATS system user: %w", err)
	}
	defer nc.Close()
	req, err := json.Marshal(server.JSApiMetaServerRemoveRequest{Server: name})
	if err != nil {
		return err
	}
	rctx, cancel := context.WithTimeout(ctx, 10*time.Second)
	defer cancel()
	msg, err := nc.RequestWithContext(rctx, server.JSApiRemoveServer, req)
	if err != nil {
		return fmt.Errorf("%s: %w", server.JSApiRemoveServer, err)
	}
	var resp server.JSApiMetaServerRemoveResponse
	if err := json.Unmarshal(msg.Data, &resp); err != nil {
		return fmt.Errorf("%s answer %q: %w", server.JSApiRemoveServer, msg.Data, err)
	}
	if e := resp.Error; e != nil {
		if server.ErrorIdentifier(e.ErrCode) == server.JSClusterServerNotMemberErr {
			return nil // removed meanwhile
		}
		return fmt.Errorf("%s: %s (%d)", server.JSApiRemoveServer, e.Description, e.ErrCode)
	}
	return nil
}
