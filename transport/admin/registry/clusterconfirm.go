package registry

import (
	"context"
	"errors"
	"fmt"
	"net"
	"path/filepath"
	"strings"
	"time"

	"github.com/transportd/transportd/transport/admin/cluster"
	"github.com/transportd/transportd/transport/admin/control"
)

// confirmWait is how long a command that changed the organization's
// configuration on a cluster member waits for the running daemon to say
// what became of it.
const confirmWait = 30 * time.Second

// orgChange is the organization's configuration before a command ran on
// a cluster member whose daemon runs (issue 14).
type orgChange struct {
	hash, dir string
	since     time.Time
}

// beforeOrgChange notes the organization's configuration before c runs,
// when c may change it on a cluster member whose daemon runs; nil
// otherwise (a single server, a get, no daemon: nothing to confirm).
func (c *Command) beforeOrgChange(env *Env) *orgChange {
	if env.Manager == nil || strings.EqualFold(c.Verb, "get") {
		return nil
	}
	cfg, err := env.Manager.Load()
	if err != nil || !cfg.Clustered() || !cluster.SyncRunning(cfg.ClusterDir()) {
		return nil
	}
	conn, err := net.DialTimeout("unix", filepath.Join(cfg.DataDir(), control.SocketName), time.Second)
	if err != nil {
		return nil // published by the daemon when it starts
	}
	conn.Close()
	doc, err := cfg.OrgDoc()
	if err != nil {
		return nil
	}
	return &orgChange{hash: doc.Hash(), dir: cfg.ClusterDir(), since: time.Now()}
}

// confirm waits until the daemon has put the change in the cluster's
// configuration: an error when another member changed the same object at
// the same moment and its change won (the member's configuration is then
// the cluster's, and the admin runs the command again).
func (oc *orgChange) confirm(env *Env) error {
	cfg, err := env.Manager.Load()
	if err != nil {
		return nil
	}
	doc, err := cfg.OrgDoc()
	if err != nil || doc.Hash() == oc.hash {
		return nil
	}
	ctx, cancel := context.WithTimeout(env.ctx(), confirmWait)
	defer cancel()
	o, err := cluster.WaitOutcome(ctx, oc.dir, doc.Hash(), oc.since)
	if errors.Is(err, cluster.ErrNoOutcome) {
		env.warn("the change is saved on this member, but the running transportd has not confirmed within %v that the cluster has it: transportd cluster status shows whether JetStream answers, and transportd's log says why", confirmWait)
		return nil
	}
	if o.Result == cluster.OutcomePending {
		env.warn("the change is saved and in force on this member, but not on the others yet: %s", o.Message)
	}
	return o.Err()
}

// notServedElsewhere refuses, on a cluster member, to remove a certificate
// that another member's receive connector serves: the certificate store
// is the organization's, so the removal would reach that member too. The
// running daemon knows what each member serves from its heartbeats.
func notServedElsewhere(env *Env, thumbprints []string) error {
	cfg, err := env.Manager.Load()
	if err != nil || !cfg.Clustered() {
		return nil
	}
	var st cluster.Status
	if err := env.callDaemon(control.OpClusterStatus, control.Selector{}, &st); err != nil {
		return fmt.Errorf("on a cluster member a certificate is removed from every member, and only the running transportd knows which certificates the other members serve: start transportd, then remove it (%w)", err)
	}
	for _, t := range thumbprints {
		if m := cluster.ServedElsewhere(st.Members, cfg.Server.Name, t); m != "" {
			return cluster.ErrServedElsewhere(t, m)
		}
	}
	return nil
}
