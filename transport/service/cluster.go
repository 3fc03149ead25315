package service

import (
	"context"
	"errors"
	"fmt"
	"log/slog"
	"reflect"
	"slices"
	"time"

	"github.com/transportd/transportd/transport/admin/cluster"
	"github.com/transportd/transportd/transport/admin/config"
	"github.com/transportd/transportd/transport/admin/control"
)

// startCluster starts this member's embedded NATS (or connects to the
// external one) when the configuration has a Cluster section; a single
// server runs without NATS at all and gets nil.
func startCluster(ctx context.Context, cfg *config.Config, log *slog.Logger) (*cluster.Node, error) {
	if !cfg.Clustered() {
		return nil, nil
	}
	n, err := cluster.Start(ctx, cluster.Options{
		Cluster: cfg.Cluster, Member: cfg.Server.Name, Fqdn: cfg.Server.Fqdn,
		Advertise: cfg.ClusterAdvertised(), Dir: cfg.ClusterDir(), Logger: log,
	})
	if err != nil {
		return nil, fmt.Errorf("cluster %s: %w", cfg.Cluster.Name, err)
	}
	return n, nil
}

// Cluster is this member's place in its cluster (issue 14): the NATS
// connection, JetStream, the members and the replica count for streams.
// It is nil on a single server, which runs without NATS.
func (s *Service) Cluster() *cluster.Node { return s.clusterNode }

// clusterRestart says why the Cluster section of next cannot replace
// prev's in a running daemon ("" when it can): the embedded NATS, its
// ports, routes and store are set up at start. MaildirShared is only a
// declaration and applies at once.
func clusterRestart(prev, next *config.Config) string {
	a, b := prev.Cluster, next.Cluster
	a.MaildirShared, b.MaildirShared = false, false
	if reflect.DeepEqual(a, b) {
		return ""
	}
	switch {
	case !prev.Clustered():
		return "Cluster: this server becomes a cluster member at the next restart of transportd (systemctl restart transportd), which starts its NATS and joins"
	case !next.Clustered():
		return "Cluster: this server runs alone from the next restart of transportd (systemctl restart transportd)"
	}
	return "Cluster: the cluster settings changed; they take effect at the next restart of transportd (systemctl restart transportd)"
}

// keepRunningCluster keeps, in next, the Cluster section the daemon runs
// with when the file's differs in what only a restart applies (the
// embedded NATS, its ports, routes and store are set up at start): the
// rest of next is applied as any change, and the Cluster change waits for
// the restart, said once in the log per pending change.
func (s *Service) keepRunningCluster(prev, next *config.Config) {
	why := clusterRestart(prev, next)
	if why == "" {
		return
	}
	pending := fmt.Sprintf("%+v", next.Cluster)
	s.cfgMu.Lock()
	say := s.clusterPending != pending
	s.clusterPending = pending
	s.cfgMu.Unlock()
	if say {
		s.log.Warn(why + "; the rest of the configuration is applied meanwhile")
	}
	shared := next.Cluster.MaildirShared
	next.Cluster = prev.Cluster
	next.Cluster.MaildirShared = shared
}

// clusterControl answers the cluster operations of the control socket.
func (s *Service) clusterControl(ctx context.Context, op string) (any, error) {
	n := s.clusterNode
	if n == nil {
		return nil, errors.New("this server is not a cluster member (transportd cluster new makes one, cluster join joins one)")
	}
	switch op {
	case control.OpClusterStatus:
		return n.Status(ctx)
	case control.OpClusterRotateJoin:
		if s.configSync == nil {
			return nil, errors.New("the cluster's configuration is not running yet: try again in a few seconds")
		}
		e, err := s.configSync.RotateJoin(ctx)
		return control.JoinEpoch{Epoch: e}, err
	case control.OpClusterLeave:
		n.SetLeaving()
		// Stop taking mail, with SMTP replies rather than closed ports
		// (a client cannot tell those from a dead host): new connections
		// get 421 4.3.2, sessions under way 451 4.3.2 at their next MAIL
		// FROM; a message already past MAIL FROM completes. Queued mail
		// is still delivered until it is handed over.
		s.smtp.SetDraining(true)
		if s.late != nil {
			if own, n := s.late.queuesOnJournal(); own {
				// Never on the shared queue (the cluster never had three
				// members): nothing to hand over; its journal stays with
				// it and it goes on delivering it.
				s.log.Warn("this member left its cluster; it queued on its own journal (the cluster never had three members), so its messages stay here and it goes on delivering them; until transportd restarts it answers every connection with 421 4.3.2; restart it to run alone (systemctl restart transportd)",
					"cluster", s.clusterNode.ClusterName(), "messages", n)
				return control.Changed{Count: 1, Kept: n, OwnQueue: true}, nil
			}
		}
		if s.OnLeave != nil {
			if err := s.OnLeave(ctx); err != nil {
				return nil, fmt.Errorf("draining before leaving: %w", err)
			}
		}
		if err := s.handOverQueue(ctx); err != nil {
			return nil, err
		}
		s.log.Warn("this member left its cluster: its queue is with the other members, and until transportd restarts it answers every connection with 421 4.3.2 and delivers nothing; stop it (systemctl stop transportd) or restart it to run alone (systemctl restart transportd)",
			"cluster", n.ClusterName(), "member", n.Name())
		return control.Changed{Count: 1}, nil
	}
	return nil, fmt.Errorf("unknown operation %q", op)
}

// leaveWaitsForQueue bounds how long cluster leave waits for the shared
// queue of a member that is still opening it.
const leaveWaitsForQueue = 30 * time.Second

// handOverQueue drains this leaving member's share of the shared queue:
// the deliveries under way end, then every message it holds goes to the
// other members (jsstore.Store.Leave). A member whose shared queue is not
// open yet cannot hand anything over: it may still own messages there,
// and its local journal moves in once the queue opens. The leave waits up
// to leaveWaitsForQueue for it, then is refused (the member keeps refusing
// new mail meanwhile).
func (s *Service) handOverQueue(ctx context.Context) error {
	if s.late == nil {
		return nil
	}
	// A member that just started may be opening its shared queue.
	select {
	case <-s.late.whenOpen():
	case <-ctx.Done():
	case <-time.After(leaveWaitsForQueue):
	}
	st := s.late.st.Load()
	if st == nil {
		return errors.New("this member's shared queue is not open yet (JetStream does not answer; transportd cluster status says why), so it cannot hand its messages over; " +
			"it refuses new mail (421 4.3.2) meanwhile. Run transportd cluster leave again once the queue is open, or stop transportd and run transportd cluster leave: " +
			"the other members then take its shared messages over when its lease expires, and its local queue stays with it")
	}
	n, err := st.Leave(ctx, s.queue.WaitDeliveries)
	if err != nil {
		return fmt.Errorf("handing this member's queue over to the other members: %w; run the leave again to finish", err)
	}
	s.log.Warn("this member's queue was handed over to the other members", "messages", n)
	return nil
}

// servedCertificates lists the thumbprints of the certificates this
// member's receive connectors serve now, for its cluster heartbeat: the
// other members refuse to remove them from the shared store.
func (s *Service) servedCertificates() []string {
	served := s.Config().ServedCertificates(s.certs, time.Now())
	out := make([]string, 0, len(served))
	for t := range served {
		out = append(out, t)
	}
	slices.Sort(out)
	return out
}
