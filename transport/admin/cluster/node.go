package cluster

import (
	"context"
	"crypto/tls"
	"encoding/json"
	"fmt"
	"log/slog"
	"net"
	"net/url"
	"path/filepath"
	"slices"
	"strconv"
	"strings"
	"sync"
	"time"

	"github.com/nats-io/nats-server/v2/server"
	"github.com/nats-io/nats.go"
	"github.com/nats-io/nats.go/jetstream"
	"golang.org/x/crypto/bcrypt"

	"github.com/transportd/transportd/transport/admin/config"
)

// Bucket and subject names.
const (
	// MembersBucket is the KV bucket of the members' heartbeats.
	MembersBucket = "transportd_members"
	// joinSubject is where a seed answers join requests.
	joinSubject = "transportd.cluster.join"
	// Heartbeat is how often a member says it is up.
	Heartbeat = 2 * time.Second
	// DownAfter is how long without a heartbeat makes a member Down.
	DownAfter  = 5 * Heartbeat
	clientUser = "transportd"
	joinUser   = "join"
)

// Options say how this member runs.
type Options struct {
	// Cluster is the config file's Cluster section.
	Cluster config.ClusterConfig
	// Member is this member's name: Server.Name, NATS's server name.
	Member string
	// Fqdn is this member's Server.Fqdn.
	Fqdn string
	// Advertise is the host other members reach this member at.
	Advertise string
	// Dir is the cluster folder (config.Config.ClusterDir).
	Dir string
	// Logger receives the NATS server's notices and warnings.
	Logger *slog.Logger
}

// Member is one member as its heartbeats say.
type Member struct {
	Name     string    `json:"name"`
	Fqdn     string    `json:"fqdn"`
	Route    string    `json:"route,omitempty"` // host:port of its route port
	Started  time.Time `json:"started"`
	LastSeen time.Time `json:"last_seen"`
	// Leaving is set by `transportd cluster leave`.
	Leaving bool `json:"leaving,omitempty"`
	// State is Up, Down or Leaving, as of when Members was called.
	State string `json:"state,omitempty"`

	// Serving are the thumbprints of the certificates the member's
	// receive connectors serve: another member refuses to remove them
	// from the organization's certificate store.
	Serving []string `json:"serving,omitempty"`
}

// Node is this member's place in the cluster: the embedded NATS server
// (nil with an external NATS), the daemon's connection and JetStream.
type Node struct {
	opts   Options
	bundle *Bundle
	ns     *server.Server
	nc     *nats.Conn
	js     jetstream.JetStream
	log    *slog.Logger
	ready  chan struct{}
	cancel context.CancelFunc
	wg     sync.WaitGroup

	mu        sync.Mutex
	members   map[string]Member
	leaving   bool
	started   time.Time
	replicas  int
	kept      map[string]bool // streams kept at Replicas()
	warned    bool            // the R1 warning was logged
	announced bool            // the move to R3 was logged

	// Leaving (leave.go): beatNow asks run for a heartbeat at once.
	beatNow chan struct{}
	// serving lists the certificates this member's connectors serve,
	// for its heartbeat (SetServing).
	serving func() []string
	// joinEpoch is the cluster's join epoch (jointoken.go), once read.
	joinEpoch      uint64
	joinEpochKnown bool
	// three is closed once three members are known (Replicated): the
	// moment a member that queued on its own journal moves into the
	// shared queue, created at R3 from the start.
	three     chan struct{}
	threeOnce sync.Once

	// Removing left members from JetStream (peerremove.go): left holds
	// the members whose entry in the members bucket was deleted (they
	// left) and that may still be JetStream peers; sysURL and sysDial
	// reach the embedded server as its system user.
	left    map[string]time.Time
	sysURL  string
	sysDial *tls.Config
}

// Start starts the embedded NATS server (unless Cluster.ExternalUrl names
// one), connects the daemon to it and, in the background, sets up the
// members bucket once JetStream answers (Ready). Close stops it all.
func Start(ctx context.Context, o Options) (*Node, error) {
	if o.Logger == nil {
		o.Logger = slog.Default()
	}
	b, err := LoadBundle(o.Dir)
	if err != nil {
		return nil, err
	}
	n := &Node{opts: o, bundle: b, log: o.Logger.With("component", "cluster"), ready: make(chan struct{}), beatNow: make(chan struct{}, 1),
		members: map[string]Member{}, started: time.Now(), replicas: 1, kept: map[string]bool{},
		three: make(chan struct{}), left: map[string]time.Time{}}
	cc := o.Cluster
	var url string
	var natsOpts []nats.Option
	if cc.ExternalUrl != "" {
		url = cc.ExternalUrl
		if cc.CredentialsFile != "" {
			natsOpts = append(natsOpts, nats.UserCredentials(cc.CredentialsFile))
		}
	} else {
		_, _, dial, err := b.tlsConfigs(o.Dir)
		if err != nil {
			return nil, err
		}
		if n.ns, err = n.startServer(); err != nil {
			return nil, err
		}
		host := cc.Address
		if host == "" || host == "0.0.0.0" || host == "::" {
			host = "127.0.0.1"
		}
		url = "tls://" + net.JoinHostPort(host, strconv.Itoa(cc.ClientPortOrDefault()))
		natsOpts = append(natsOpts, nats.Secure(dial), nats.UserInfo(clientUser, b.ClientPassword))
		n.sysURL, n.sysDial = url, dial
	}
	natsOpts = append(natsOpts, nats.Name("transportd "+o.Member), nats.MaxReconnects(-1), nats.ReconnectWait(250*time.Millisecond),
		nats.ErrorHandler(func(_ *nats.Conn, _ *nats.Subscription, err error) { n.log.Warn("NATS", "err", err) }))
	// The first connection's TLS handshake with a server that is still
	// starting can take more than the default 2 s on a loaded machine.
	natsOpts = append(natsOpts, nats.Timeout(10*time.Second))
	n.nc, err = nats.Connect(url, natsOpts...)
	if err != nil {
		n.shutdownServer()
		return nil, fmt.Errorf("connecting to NATS at %s: %w", url, err)
	}
	n.js, err = jetstream.New(n.nc)
	if err != nil {
		n.nc.Close()
		n.shutdownServer()
		return nil, err
	}
	if _, err := n.nc.Subscribe(joinSubject, n.answerJoin); err != nil {
		n.nc.Close()
		n.shutdownServer()
		return nil, fmt.Errorf("join responder: %w", err)
	}
	rctx, cancel := context.WithCancel(context.Background())
	n.cancel = cancel
	n.wg.Add(1)
	go func() {
		defer n.wg.Done()
		n.run(rctx)
	}()
	if n.ns != nil {
		n.wg.Add(1)
		go func() {
			defer n.wg.Done()
			n.removeLeft(rctx)
		}()
	}
	return n, nil
}

// startServer starts the embedded NATS server with JetStream.
func (n *Node) startServer() (*server.Server, error) {
	o, cc := n.opts, n.opts.Cluster
	routesTLS, clientTLS, _, err := n.bundle.tlsConfigs(o.Dir)
	if err != nil {
		return nil, err
	}
	host := cc.Address
	if host == "" {
		host = "0.0.0.0"
	}
	// The server keeps only bcrypt hashes of the two passwords.
	clientHash, err := bcrypt.GenerateFromPassword([]byte(n.bundle.ClientPassword), bcrypt.DefaultCost)
	if err != nil {
		return nil, err
	}
	joinHash, err := bcrypt.GenerateFromPassword([]byte(n.bundle.JoinSecret), bcrypt.DefaultCost)
	if err != nil {
		return nil, err
	}
	sysAccount, sysUser, err := n.systemUser()
	if err != nil {
		return nil, err
	}
	sopts := &server.Options{
		ServerName: o.Member,
		Host:       host, Port: cc.ClientPortOrDefault(),
		TLS: true, TLSConfig: clientTLS, TLSTimeout: 5,
		Users: []*server.User{
			{Username: clientUser, Password: string(clientHash)},
			{Username: joinUser, Password: string(joinHash), Permissions: &server.Permissions{
				Publish:   &server.SubjectPermission{Allow: []string{joinSubject}},
				Subscribe: &server.SubjectPermission{Allow: []string{"_INBOX.>"}},
			}},
			sysUser,
		},
		JetStream: true,
		StoreDir:  filepath.Join(o.Dir, JetStreamDir),
		NoSigs:    true,
		Cluster: server.ClusterOpts{
			Name: cc.Name, Host: host, Port: cc.RoutePortOrDefault(),
			TLSConfig: routesTLS, TLSTimeout: 5,
			Advertise: net.JoinHostPort(o.Advertise, strconv.Itoa(cc.RoutePortOrDefault())),
		},
	}
	// Cluster.SyncAlways: fsync every write before its ack (default), or
	// NATS's sync every SyncInterval (0: its default, 2 minutes).
	sopts.SyncAlways = cc.SyncAlwaysOrDefault()
	// The system account (NATS's default name, as before) gets a user:
	// the member that removes a left member from JetStream (peerremove.go)
	// speaks as it. The daemon's own user stays in the global account,
	// which keeps JetStream (only the system account is configured
	// besides it).
	sopts.Accounts, sopts.SystemAccount = []*server.Account{sysAccount}, sysAccount.Name
	// JetStream in a cluster needs configured routes; a seed routes to
	// itself (NATS recognises and skips it), so that the first member
	// runs as a cluster of one that others join.
	for _, r := range append(slices.Clone(cc.Routes), net.JoinHostPort(o.Advertise, strconv.Itoa(cc.RoutePortOrDefault()))) {
		u, err := url.Parse("nats-route://" + strings.TrimPrefix(r, "nats-route://"))
		if err != nil {
			return nil, fmt.Errorf("Cluster.Routes %q: %w", r, err)
		}
		sopts.Routes = append(sopts.Routes, u)
	}
	ns, err := server.NewServer(sopts)
	if err != nil {
		return nil, fmt.Errorf("embedded NATS: %w", err)
	}
	ns.SetLoggerV2(natsLogger{n.log.With("nats", o.Member)}, false, false, false)
	ns.Start()
	if !ns.ReadyForConnections(15 * time.Second) {
		ns.Shutdown()
		return nil, fmt.Errorf("embedded NATS did not start listening on %s:%d (client) and %d (routes); is another process using the ports? (Cluster.ClientPort, Cluster.RoutePort)",
			host, cc.ClientPortOrDefault(), cc.RoutePortOrDefault())
	}
	n.log.Info("embedded NATS started", "cluster", cc.Name, "member", o.Member, "client", ns.ClientURL(),
		"routes", fmt.Sprint(cc.Routes), "store", sopts.StoreDir, "fsync", n.syncDescription())
	return ns, nil
}

// syncDescription says when JetStream's writes reach the disk here
// (Status.Sync).
func (n *Node) syncDescription() string {
	switch {
	case n.opts.Cluster.ExternalUrl != "":
		return "the external NATS servers' setting (jetstream { sync: ... })"
	case n.opts.Cluster.SyncAlwaysOrDefault():
		return "always: every write before its ack (Cluster.SyncAlways)"
	}
	if n.ns != nil {
		if iv := n.ns.JetStreamConfig(); iv != nil && iv.SyncInterval > 0 {
			return fmt.Sprintf("every %s (Cluster.SyncAlways: false): at 250 a message is in memory on a quorum", iv.SyncInterval)
		}
	}
	return "every 2m0s (Cluster.SyncAlways: false): at 250 a message is in memory on a quorum"
}

func (n *Node) shutdownServer() {
	if n.ns != nil {
		n.ns.Shutdown()
		n.ns.WaitForShutdown()
	}
}

// Conn is the daemon's connection to NATS.
func (n *Node) Conn() *nats.Conn { return n.nc }

// JetStream is the daemon's JetStream context.
func (n *Node) JetStream() jetstream.JetStream { return n.js }

// Name is this member's name.
func (n *Node) Name() string { return n.opts.Member }

// ClusterName is the cluster's name.
func (n *Node) ClusterName() string { return n.opts.Cluster.Name }

// Key is the cluster key, for Seal and Open.
func (n *Node) Key() []byte { return n.bundle.Key }

// Server is the embedded NATS server, nil with an external NATS.
func (n *Node) Server() *server.Server { return n.ns }

// Ready is closed once JetStream answers and the members bucket exists.
func (n *Node) Ready() <-chan struct{} { return n.ready }

// WaitReady waits for Ready or ctx.
func (n *Node) WaitReady(ctx context.Context) error {
	select {
	case <-n.ready:
		return nil
	case <-ctx.Done():
		return fmt.Errorf("JetStream of cluster %s not available: %w", n.opts.Cluster.Name, ctx.Err())
	}
}

// Replicas is the replica count for the cluster's streams: 3 when three
// or more members are known, else 1 (with a loud warning, logged when it
// is decided: one member's disk is then all that keeps the data).
func (n *Node) Replicas() int {
	n.mu.Lock()
	defer n.mu.Unlock()
	n.decideLocked()
	return n.replicas
}

// decideLocked raises the replica count to 3 once three members that are
// not leaving are known; it never lowers it (a member down for a while
// must not shrink the streams). It reports the member count.
func (n *Node) decideLocked() int {
	count := 0
	for _, m := range n.membersLocked(time.Now()) {
		if m.State != "Leaving" {
			count++
		}
	}
	if count >= 3 {
		n.replicas = 3
		n.threeOnce.Do(func() { close(n.three) })
	}
	return count
}

// Replicated is closed once three members that are not leaving are known
// (Replicas is then 3 for good): streams created from then on are R3 from
// the start and never scale from R1, whose catch-up a member's death can
// interrupt (issue 14).
func (n *Node) Replicated() <-chan struct{} {
	n.mu.Lock()
	n.decideLocked()
	n.mu.Unlock()
	return n.three
}

// KeepReplicated keeps the stream at Replicas(): it is scaled up when the
// cluster reaches three members.
func (n *Node) KeepReplicated(stream string) {
	n.mu.Lock()
	n.kept[stream] = true
	n.mu.Unlock()
}

// Members lists the members, by name, with their State now.
func (n *Node) Members() []Member {
	n.mu.Lock()
	defer n.mu.Unlock()
	return n.membersLocked(time.Now())
}

func (n *Node) membersLocked(now time.Time) []Member {
	out := make([]Member, 0, len(n.members))
	for _, m := range n.members {
		switch {
		case m.Leaving:
			m.State = "Leaving"
		case now.Sub(m.LastSeen) > DownAfter:
			m.State = "Down"
		default:
			m.State = "Up"
		}
		out = append(out, m)
	}
	slices.SortFunc(out, func(a, b Member) int { return strings.Compare(a.Name, b.Name) })
	return out
}

// SetLeaving marks this member as leaving: its heartbeats say so, and the
// others stop counting on it.
func (n *Node) SetLeaving() {
	n.mu.Lock()
	n.leaving = true
	n.mu.Unlock()
	select {
	case n.beatNow <- struct{}{}: // the others see it Leaving now, not at the next beat
	default:
	}
}

// Close stops the heartbeats, the connection and the embedded server.
func (n *Node) Close() {
	n.cancel()
	n.wg.Wait()
	n.nc.Close()
	n.shutdownServer()
}

// openBucket creates the key-value bucket of cfg, or opens it when it
// exists, trying again every second (logging wait) until JetStream
// answers; false when ctx ends first.
func (n *Node) openBucket(ctx context.Context, cfg jetstream.KeyValueConfig, wait string) (jetstream.KeyValue, bool) {
	for {
		cctx, cancel := context.WithTimeout(ctx, 5*time.Second)
		kv, err := n.js.CreateOrUpdateKeyValue(cctx, cfg)
		if err != nil {
			kv, err = n.js.KeyValue(cctx, cfg.Bucket)
		}
		cancel()
		if err == nil {
			return kv, true
		}
		n.log.Info(wait, "bucket", cfg.Bucket, "err", err)
		select {
		case <-ctx.Done():
			return nil, false
		case <-time.After(time.Second):
		}
	}
}

// run waits for JetStream, creates the members bucket, then beats and
// watches the others' heartbeats until ctx is done.
func (n *Node) run(ctx context.Context) {
	kv, ok := n.openBucket(ctx, jetstream.KeyValueConfig{Bucket: MembersBucket, History: 1, Replicas: 1,
		Description: "transportd cluster members' heartbeats"}, "waiting for JetStream (a meta leader needs most members up)")
	if !ok {
		return
	}
	n.KeepReplicated("KV_" + MembersBucket)
	defer n.forgetIfLeaving(kv)
	n.beat(ctx, kv)
	w, err := kv.WatchAll(ctx)
	if err != nil {
		n.log.Error("watching the members bucket", "err", err)
		return
	}
	defer w.Stop()
	var readyOnce sync.Once
	tick := time.NewTicker(Heartbeat)
	defer tick.Stop()
	for {
		select {
		case <-ctx.Done():
			return
		case e, ok := <-w.Updates():
			if !ok {
				return
			}
			if e == nil { // the initial values are in
				readyOnce.Do(func() { close(n.ready) })
				n.rescale(ctx)
				continue
			}
			n.mu.Lock()
			if e.Operation() == jetstream.KeyValuePut {
				var m Member
				if json.Unmarshal(e.Value(), &m) == nil {
					n.members[e.Key()] = m
				}
			} else {
				delete(n.members, e.Key())
			}
			n.noteLeftLocked(e)
			n.mu.Unlock()
		case <-tick.C:
			n.beat(ctx, kv)
			n.rescale(ctx)
		case <-n.beatNow:
			n.beat(ctx, kv)
		}
	}
}

// beat writes this member's heartbeat.
func (n *Node) beat(ctx context.Context, kv jetstream.KeyValue) {
	n.mu.Lock()
	m := Member{Name: n.opts.Member, Fqdn: n.opts.Fqdn, Started: n.started, LastSeen: time.Now().UTC(), Leaving: n.leaving}
	serving := n.serving
	n.mu.Unlock()
	if serving != nil {
		m.Serving = serving()
	}
	if n.ns != nil {
		m.Route = net.JoinHostPort(n.opts.Advertise, strconv.Itoa(n.opts.Cluster.RoutePortOrDefault()))
	}
	data, _ := json.Marshal(m)
	cctx, cancel := context.WithTimeout(ctx, Heartbeat)
	defer cancel()
	if _, err := kv.Put(cctx, m.Name, data); err != nil && ctx.Err() == nil {
		n.log.Warn("cluster heartbeat not written", "err", err)
	}
}

// rescale decides the replica count from the members known and scales
// the kept streams to it.
func (n *Node) rescale(ctx context.Context) {
	n.mu.Lock()
	count := n.decideLocked()
	changed := n.replicas == 3 && !n.announced
	n.announced = n.replicas == 3
	first := n.replicas == 1 && !n.warned
	n.warned = true
	r := n.replicas
	var streams []string
	for s := range n.kept {
		streams = append(streams, s)
	}
	n.mu.Unlock()
	if first {
		n.log.Warn("WARNING: fewer than three cluster members: the cluster's data has ONE copy (replicas R1); a lost disk loses it. Join at least three members for R3", "members", count)
	}
	if changed && r == 3 {
		n.log.Info("three or more cluster members: streams are kept at three replicas (R3)", "members", count)
	}
	for _, name := range streams {
		cctx, cancel := context.WithTimeout(ctx, 5*time.Second)
		st, err := n.js.Stream(cctx, name)
		if err == nil && st.CachedInfo().Config.Replicas < r {
			cfg := st.CachedInfo().Config
			cfg.Replicas = r
			if _, err := n.js.UpdateStream(cctx, cfg); err != nil {
				n.log.Warn("stream not scaled up", "stream", name, "replicas", r, "err", err)
			} else {
				n.log.Info("stream scaled up", "stream", name, "replicas", r)
			}
		}
		cancel()
	}
}

// natsLogger sends the NATS server's log to slog.
type natsLogger struct{ l *slog.Logger }

func (l natsLogger) Noticef(f string, a ...any) { l.l.Info(fmt.Sprintf(f, a...)) }
func (l natsLogger) Warnf(f string, a ...any)   { l.l.Warn(fmt.Sprintf(f, a...)) }
func (l natsLogger) Fatalf(f string, a ...any)  { l.l.Error(fmt.Sprintf(f, a...)) }
func (l natsLogger) Errorf(f string, a ...any)  { l.l.Error(fmt.Sprintf(f, a...)) }
func (l natsLogger) Debugf(string, ...any)      {}
func (l natsLogger) Tracef(string, ...any)      {}
