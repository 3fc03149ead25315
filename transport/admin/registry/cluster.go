package registry

import (
	"fmt"
	"strings"
	"time"

	"github.com/transportd/transportd/policies/value"
	"github.com/transportd/transportd/transport/admin/cluster"
	"github.com/transportd/transportd/transport/admin/control"
	"github.com/transportd/transportd/transport/admin/manage"
)

// Issue 14: forming a cluster. Exchange has no such cmdlets (Active
// Directory is its shared configuration); these use PowerShell's approved
// verbs on the noun TransportCluster.

func clusterSettingParams() []Param {
	return []Param{
		val("Address", "the IP address this member's NATS listens on (default: every address)"),
		val("AdvertiseAddress", "the host or IP the other members reach this member at (default: -Address, else the server's Fqdn)"),
		val("ClientPort", "the NATS client port (default 4222): the daemon, and members joining with a token"),
		val("RoutePort", "the NATS route port (default 6222): TLS between members, certificates of the cluster's CA"),
		val("MaildirShared", "$true: the Maildir root is one shared file system on every member; otherwise mailboxes need LMTP (Transport.MailboxDeliveryLmtpServer)"),
		val("ExternalUrl", "an external NATS cluster to use instead of the embedded one, e.g. nats://nats1.contoso.com:4222"),
		val("CredentialsFile", "the .creds file for -ExternalUrl"),
		val("SyncAlways", "$true (default): the embedded NATS fsyncs every JetStream write before acknowledging it, so 250 means on the disk of a quorum of members; $false: NATS's fsync every 2 minutes (faster; at 250 a message is in two members' memory). Not with -ExternalUrl, where it is the NATS servers' setting (jetstream { sync: always })"),
	}
}

func clusterKind() *Kind {
	return &Kind{Noun: "cluster", Aliases: []string{"transportcluster"}, TypeName: "TransportCluster",
		What: "several servers as one: shared configuration over NATS JetStream (New/Join/Get/Exit-TransportCluster)",
		Commands: []*Command{
			{Verb: "new", Cmdlet: "New-TransportCluster",
				Synopsis:   "Makes this server the first member of a new cluster: its CA and keys in the data folder, and the join token the others join with.",
				Params:     params(val("Name", "the cluster's name, the same on every member (default transportd)"), clusterSettingParams()),
				Positional: []string{"Name"},
				Run: func(env *Env, r Request) ([]manage.Record, error) {
					name, _ := r.Params.TakeExact("Name")
					tok, err := env.Manager.ClusterNew(name, r.Params)
					if err != nil {
						return nil, err
					}
					env.say("This server is the first member of the cluster. %s", manage.RestartAdvice)
					env.say("On each other server: transportd cluster join %s", tok)
					env.say("The token holds the cluster's join secret: pass it on as you would a password.")
					return nil, nil
				}},
			{Verb: "join", Cmdlet: "Join-TransportCluster",
				Synopsis: "Joins the cluster a join token names: fetches its keys from the seed over TLS pinned to the cluster's CA, and writes this member's Cluster settings.",
				Params: params(val("Seed", "the seed's HOST:PORT (its NATS client port), when not the token's; or the token itself"),
					val("Token", "the join token transportd cluster new (or cluster token on any member) printed"), clusterSettingParams()),
				Positional: []string{"Seed", "Token"},
				Run: func(env *Env, r Request) ([]manage.Record, error) {
					seed, _ := r.Params.TakeExact("Seed")
					tok, _ := r.Params.TakeExact("Token")
					name, err := env.Manager.ClusterJoin(env.ctx(), seed, tok, r.Params)
					if err != nil {
						return nil, err
					}
					env.say("This server joined cluster %s. %s The cluster's configuration replaces this server's organization-wide settings (send connectors, accepted domains, mailboxes, ...) once it runs.", name, manage.RestartAdvice)
					return nil, nil
				}},
			{Verb: "token", Cmdlet: "Get-TransportClusterJoinToken",
				Synopsis: "Prints a join token of this member, for joining the cluster through it; it expires (-ValidFor, 24 hours by default), and -Rotate revokes every token issued before.",
				Params: params(val("ValidFor", "how long the token is valid: a time span such as 01:00:00 or 1h (default 24 hours)"),
					sw("Rotate", "revoke every join token issued so far, on every member (a new join epoch), then print a new one")),
				Run: runClusterToken},
			{Verb: "status", VerbAliases: []string{"get"}, Cmdlet: "Get-TransportCluster",
				Synopsis: "Shows the cluster as the running member sees it: the JetStream meta leader and peers, the members with their state, and every stream with its replicas and their lag.",
				Records:  true, List: always,
				Run: func(env *Env, r Request) ([]manage.Record, error) {
					if cfg, err := env.Manager.Load(); err != nil {
						return nil, err
					} else if !cfg.Clustered() {
						env.say("This server is not a cluster member: it runs alone, without NATS. transportd cluster new makes it the first member of a cluster.")
						return nil, nil
					}
					var st cluster.Status
					if err := env.callDaemon(control.OpClusterStatus, control.Selector{}, &st); err != nil {
						return nil, err
					}
					return ClusterStatusRecords(st), nil
				}},
			{Verb: "leave", Cmdlet: "Exit-TransportCluster",
				Synopsis: "Takes this server out of its cluster: the running member refuses new mail (421 4.3.2), finishes its deliveries under way and hands its queue to the other members; at its next start it runs alone.",
				Params:   params(sw("Purge", "also delete the cluster folder (CA, keys, JetStream store) from the data folder")),
				Run: func(env *Env, r Request) ([]manage.Record, error) {
					purge := false
					if v, ok := r.Params.TakeExact("Purge"); ok {
						b, err := manage.ParseBool(v)
						if err != nil {
							return nil, fmt.Errorf("-Purge: %w", err)
						}
						purge = b
					}
					var ch control.Changed
					running := true
					if err := env.callDaemon(control.OpClusterLeave, control.Selector{}, &ch); err != nil {
						if !isNoDaemon(err) {
							return nil, err
						}
						running = false
					}
					name, err := env.Manager.ClusterLeave(purge)
					if err != nil {
						return nil, err
					}
					if running && ch.OwnQueue {
						env.say("This server left cluster %s. It queued on its own journal (the cluster never had three members), so its %d queued message(s) stay "+
							"with it and it goes on delivering them. Until transportd restarts it takes no mail (every connection gets 421 4.3.2 Service not active). "+
							"Next: restart it to run alone on its own configuration and queue (systemctl restart transportd); stop it only once `transportd queue get` is empty.", name, ch.Kept)
						return nil, nil
					}
					if running {
						env.say("%s", leftAdvice(name))
						return nil, nil
					}
					env.say("This server left cluster %s. %s", name, manage.RestartAdvice)
					return nil, nil
				}},
		}}
}

// leftAdvice is what `transportd cluster leave` says once the running
// member has drained and handed its queue over: what the daemon does now,
// and the next step.
func leftAdvice(cluster string) string {
	return fmt.Sprintf("This server left cluster %s: the other members hold and deliver its queued mail. Until transportd restarts it takes "+
		"no mail (every connection gets 421 4.3.2 Service not active) and delivers nothing. Next: stop it (systemctl stop transportd; "+
		"the others then no longer list it and remove it from JetStream), or restart it to run alone on its own configuration and queue (systemctl restart transportd).", cluster)
}

// isNoDaemon reports whether err says no daemon answers the control socket.
func isNoDaemon(err error) bool {
	s := err.Error()
	return strings.Contains(s, "connect") || strings.Contains(s, "no such file") || strings.Contains(s, "not running") ||
		strings.Contains(s, "not a cluster member")
}

// ClusterStatusRecords shows a cluster status: one record for the cluster,
// one per member, one per stream.
func ClusterStatusRecords(st cluster.Status) []manage.Record {
	peers := func(ps []cluster.Peer) string {
		var out []string
		for _, p := range ps {
			s := p.Name
			switch {
			case p.Leader:
				s += " (leader)"
			case p.Offline:
				s += " (offline)"
			case !p.Current:
				s += fmt.Sprintf(" (behind, lag %d)", p.Lag)
			default:
				s += fmt.Sprintf(" (current, lag %d)", p.Lag)
			}
			out = append(out, s)
		}
		return "{" + strings.Join(out, ", ") + "}"
	}
	leader := st.MetaLeader
	if leader == "" && st.External == "" {
		leader = "(none: JetStream needs most members up, and two at least; a first member alone queues mail on its own journal meanwhile)"
	}
	out := []manage.Record{{
		{Name: "Identity", Value: st.Cluster}, {Name: "Member", Value: st.Member},
		{Name: "MetaLeader", Value: leader}, {Name: "MetaPeers", Value: peers(st.MetaPeers)},
		{Name: "Replicas", Value: fmt.Sprint(st.Replicas)}, {Name: "ExternalUrl", Value: st.External},
		{Name: "Sync", Value: st.Sync},
	}}
	for _, m := range st.Members {
		out = append(out, manage.Record{
			{Name: "Identity", Value: m.Name}, {Name: "Fqdn", Value: m.Fqdn}, {Name: "State", Value: m.State},
			{Name: "LastSeen", Value: formatTime(m.LastSeen)}, {Name: "Route", Value: m.Route},
		})
	}
	for _, s := range st.Streams {
		out = append(out, manage.Record{
			{Name: "Identity", Value: "stream " + s.Name}, {Name: "Replicas", Value: fmt.Sprint(s.Replicas)},
			{Name: "Leader", Value: s.Leader}, {Name: "Peers", Value: peers(s.Peers)},
			{Name: "Messages", Value: fmt.Sprint(s.Messages)},
		})
	}
	return out
}

// getTransportServices is Get-TransportService: this server; in a cluster
// every member, with its State (Up, Down, Leaving) and when it was last
// seen, as the running daemon knows them. -Identity takes member names
// and FQDNs (wildcards allowed).
func getTransportServices(env *Env, r Request) ([]manage.Record, error) {
	cfg, err := env.Manager.Load()
	if err != nil {
		return nil, err
	}
	if !cfg.Clustered() {
		rec, err := env.Manager.GetTransportService(r.Identities)
		if err != nil {
			return nil, err
		}
		return []manage.Record{rec}, nil
	}
	var members []cluster.Member
	var st cluster.Status
	if err := env.callDaemon(control.OpClusterStatus, control.Selector{}, &st); err != nil {
		env.warn("the running transportd did not answer (%v); showing this server only", err)
		members = []cluster.Member{{Name: cfg.Server.Name, Fqdn: cfg.Server.Fqdn, State: "Unknown"}}
	} else {
		members = st.Members
	}
	if !slicesContainsFold(members, cfg.Server.Name) {
		members = append([]cluster.Member{{Name: cfg.Server.Name, Fqdn: cfg.Server.Fqdn, State: "Starting"}}, members...)
	}
	wanted := func(m cluster.Member) bool {
		if len(r.Identities) == 0 {
			return true
		}
		for _, id := range r.Identities {
			if manage.MatchIdentity(id, m.Name) || manage.MatchIdentity(id, m.Fqdn) {
				return true
			}
		}
		return false
	}
	var out []manage.Record
	for _, m := range members {
		if !wanted(m) {
			continue
		}
		state := manage.Record{{Name: "State", Value: m.State}, {Name: "LastSeen", Value: formatTime(m.LastSeen)}, {Name: "Cluster", Value: cfg.Cluster.Name}}
		if strings.EqualFold(m.Name, cfg.Server.Name) {
			rec := manage.TransportServiceRecord(cfg)
			out = append(out, append(rec[:4:4], append(state, rec[4:]...)...))
			continue
		}
		out = append(out, append(manage.Record{{Name: "Identity", Value: m.Name}, {Name: "Name", Value: m.Name}, {Name: "Fqdn", Value: m.Fqdn}}, state...))
	}
	if len(out) == 0 {
		var names []string
		for _, m := range members {
			names = append(names, m.Name)
		}
		return nil, fmt.Errorf("no transport service matches identity %q: the cluster's members are %s", strings.Join(r.Identities, ", "), strings.Join(names, ", "))
	}
	return out, nil
}

func slicesContainsFold(ms []cluster.Member, name string) bool {
	for _, m := range ms {
		if strings.EqualFold(m.Name, name) {
			return true
		}
	}
	return false
}

// serverScoped runs get for a server-scoped kind (receive connectors).
// In a cluster its objects are named SERVER\Name as in Exchange, with a
// Server property; an identity naming another member's object says where
// to manage it.
func serverScoped(env *Env, id string, get func(string) ([]manage.Record, error)) ([]manage.Record, error) {
	cfg, err := env.Manager.Load()
	if err != nil || !cfg.Clustered() {
		return get(id)
	}
	if srv, _, ok := strings.Cut(id, `\`); ok && !strings.EqualFold(srv, cfg.Server.Name) && !strings.ContainsAny(srv, "*?") {
		return nil, fmt.Errorf("%q is on %s, another member of cluster %s: receive connectors are each member's own; manage it on %s (this member is %s)",
			id, srv, cfg.Cluster.Name, srv, cfg.Server.Name)
	}
	recs, err := get(id)
	for i, r := range recs {
		out := make(manage.Record, 0, len(r)+1)
		for _, p := range r {
			if strings.EqualFold(p.Name, "Identity") {
				p.Value = cfg.Server.Name + `\` + p.Value
			}
			out = append(out, p)
		}
		if _, has := out.Get("Server"); !has {
			out = append(out, manage.Property{Name: "Server", Value: cfg.Server.Name})
		}
		recs[i] = out
	}
	return recs, err
}

// runClusterToken is Get-TransportClusterJoinToken (cluster token).
func runClusterToken(env *Env, r Request) ([]manage.Record, error) {
	var validFor time.Duration
	if v, ok := r.Params.TakeExact("ValidFor"); ok {
		ts, err := value.ParseTimeSpan(v)
		if err != nil || ts <= 0 {
			return nil, fmt.Errorf("-ValidFor %q: give how long the token is valid, such as 01:00:00 or 1h", v)
		}
		validFor = time.Duration(ts)
	}
	var epoch uint64
	if v, ok := r.Params.TakeExact("Rotate"); ok {
		rotate, err := manage.ParseBool(v)
		if err != nil {
			return nil, fmt.Errorf("-Rotate: %w", err)
		}
		if rotate {
			var je control.JoinEpoch
			if err := env.callDaemon(control.OpClusterRotateJoin, control.Selector{}, &je); err != nil {
				return nil, fmt.Errorf("-Rotate needs the running transportd of a cluster member, which tells every member (start it, then run the command again): %w", err)
			}
			epoch = je.Epoch
			env.say("Every join token issued before is revoked, on every member. The new one:")
		}
	}
	tok, err := env.Manager.ClusterToken(validFor, epoch)
	if err != nil {
		return nil, err
	}
	env.say("%s", tok) // alone on its line: scripts pass it on as it is
	return nil, nil
}
