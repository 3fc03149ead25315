package cluster

import (
	"context"
	"fmt"
	"log/slog"
	"net"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/nats-io/nats-server/v2/server"
	"github.com/nats-io/nats.go/jetstream"

	"github.com/transportd/transportd/transport/admin/config"
)

// freePorts returns n free TCP ports on 127.0.0.1.
func freePorts(t *testing.T, n int) []int {
	t.Helper()
	var ls []net.Listener
	var out []int
	for range n {
		l, err := net.Listen("tcp", "127.0.0.1:0")
		if err != nil {
			t.Fatal(err)
		}
		ls = append(ls, l)
		out = append(out, l.Addr().(*net.TCPAddr).Port)
	}
	for _, l := range ls {
		l.Close()
	}
	return out
}

func testLogger(t *testing.T) *slog.Logger {
	if os.Getenv("CLUSTER_TEST_LOG") != "" {
		return slog.New(slog.NewTextHandler(os.Stderr, nil))
	}
	return slog.New(slog.DiscardHandler)
}

// TestThreeMembersFormOneJetStream starts three embedded members, the
// second and third joining the first with its token, over TLS routes on
// loopback: they elect a meta leader, see each other up, and the members
// bucket goes to three replicas.
func TestThreeMembersFormOneJetStream(t *testing.T) {
	ctx, cancel := context.WithTimeout(context.Background(), 45*time.Second)
	defer cancel()
	ports := freePorts(t, 6)
	began := time.Now()
	b, err := NewBundle("contoso")
	if err != nil {
		t.Fatal(err)
	}
	var nodes []*Node
	start := func(i int, routes []string, bundle *Bundle) *Node {
		dir := filepath.Join(t.TempDir(), "cluster")
		if err := bundle.Save(dir); err != nil {
			t.Fatal(err)
		}
		name := fmt.Sprintf("MAIL%d", i+1)
		if err := bundle.IssueMember(dir, name, []string{"127.0.0.1"}); err != nil {
			t.Fatal(err)
		}
		n, err := Start(ctx, Options{Cluster: config.ClusterConfig{Name: "contoso", Address: "127.0.0.1", ClientPort: ports[2*i], RoutePort: ports[2*i+1], Routes: routes},
			Member: name, Fqdn: fmt.Sprintf("mail%d.contoso.com", i+1), Advertise: "127.0.0.1", Dir: dir, Logger: testLogger(t)})
		if err != nil {
			t.Fatal(err)
		}
		t.Cleanup(n.Close)
		nodes = append(nodes, n)
		return n
	}
	// JetStream's meta group needs a second member (NATS's Raft waits for
	// a route): the seed answers joins before its JetStream is up.
	start(0, nil, b)
	tok, err := IssueToken(b, "127.0.0.1", ports[0], 0, time.Hour, time.Now())
	if err != nil {
		t.Fatal(err)
	}
	parsed, err := ParseToken(tok.String())
	if err != nil || parsed != tok {
		t.Fatalf("token round trip: %v %+v", err, parsed)
	}
	for i := 1; i < 3; i++ {
		reply, err := Join(ctx, parsed, fmt.Sprintf("MAIL%d", i+1), "x")
		if err != nil {
			t.Fatal(err)
		}
		n := start(i, reply.Routes, reply.Bundle)
		if err := n.WaitReady(ctx); err != nil {
			t.Fatal(err)
		}
		t.Logf("member %d ready after %v", i+1, time.Since(began))
	}
	// A token with another secret is refused by the seed's NATS.
	bad := parsed
	bad.Secret = "wrong"
	if _, err := Join(ctx, bad, "MAIL9", "x"); err == nil {
		t.Fatal("join with a wrong secret succeeded")
	}
	for {
		st, err := nodes[2].Status(ctx)
		up := 0
		for _, m := range st.Members {
			if m.State == "Up" {
				up++
			}
		}
		r := -1
		for _, s := range st.Streams {
			if s.Name == "KV_"+MembersBucket {
				r = s.Replicas
			}
		}
		if err == nil && st.MetaLeader != "" && up == 3 && r == 3 && nodes[0].Replicas() == 3 {
			t.Logf("meta leader %s, peers %+v", st.MetaLeader, st.MetaPeers)
			// Cluster.SyncAlways unset: fsync before every ack.
			if !strings.HasPrefix(st.Sync, "always") || !nodes[2].Server().JetStreamConfig().SyncAlways {
				t.Errorf("default sync: status %q, NATS SyncAlways %v; want always", st.Sync, nodes[2].Server().JetStreamConfig().SyncAlways)
			}
			break
		}
		select {
		case <-ctx.Done():
			t.Fatalf("cluster not formed: %+v err %v", st, err)
		case <-time.After(200 * time.Millisecond):
		}
	}
	// A KV bucket at R3 takes writes from any member.
	kv, err := nodes[1].JetStream().CreateOrUpdateKeyValue(ctx, jetstream.KeyValueConfig{Bucket: "t", Replicas: 3})
	if err != nil {
		t.Fatal(err)
	}
	if _, err := kv.Put(ctx, "k", []byte("v")); err != nil {
		t.Fatal(err)
	}
	kv0, err := nodes[0].JetStream().KeyValue(ctx, "t")
	if err != nil {
		t.Fatal(err)
	}
	if e, err := kv0.Get(ctx, "k"); err != nil || string(e.Value()) != "v" {
		t.Fatalf("get on another member: %v", err)
	}
}

func TestSealOpen(t *testing.T) {
	key := make([]byte, 32)
	s, err := Seal(key, []byte("secret"), []byte("org"))
	if err != nil {
		t.Fatal(err)
	}
	if p, err := Open(key, s, []byte("org")); err != nil || string(p) != "secret" {
		t.Fatalf("open: %q %v", p, err)
	}
	if _, err := Open(key, s, []byte("other")); err == nil {
		t.Fatal("opened under another key name")
	}
}

// With ExternalUrl the member embeds no NATS and uses the admin's.
func TestExternalNATS(t *testing.T) {
	ctx, cancel := context.WithTimeout(context.Background(), 20*time.Second)
	defer cancel()
	ext, err := server.NewServer(&server.Options{Host: "127.0.0.1", Port: -1, JetStream: true, StoreDir: t.TempDir(), NoSigs: true, NoLog: true})
	if err != nil {
		t.Fatal(err)
	}
	ext.Start()
	defer ext.Shutdown()
	if !ext.ReadyForConnections(5 * time.Second) {
		t.Fatal("external NATS not ready")
	}
	dir := t.TempDir()
	b, _ := NewBundle("contoso")
	if err := b.Save(dir); err != nil {
		t.Fatal(err)
	}
	n, err := Start(ctx, Options{Cluster: config.ClusterConfig{Name: "contoso", ExternalUrl: ext.ClientURL()}, Member: "MAIL1", Fqdn: "mail1.contoso.com",
		Advertise: "127.0.0.1", Dir: dir, Logger: testLogger(t)})
	if err != nil {
		t.Fatal(err)
	}
	defer n.Close()
	if n.Server() != nil {
		t.Fatal("an embedded server runs with ExternalUrl")
	}
	if err := n.WaitReady(ctx); err != nil {
		t.Fatal(err)
	}
	st, err := n.Status(ctx)
	if err != nil || len(st.Members) != 1 || st.Members[0].State != "Up" || len(st.Streams) != 1 || n.Replicas() != 1 {
		t.Fatalf("status with an external NATS: %+v %v", st, err)
	}
}

// Cluster.SyncAlways false leaves the embedded NATS on its sync interval
// (2 minutes), and the status says so.
func TestSyncAlwaysOff(t *testing.T) {
	ctx, cancel := context.WithTimeout(context.Background(), 20*time.Second)
	defer cancel()
	ports := freePorts(t, 2)
	dir := filepath.Join(t.TempDir(), "cluster")
	b, err := NewBundle("contoso")
	if err != nil {
		t.Fatal(err)
	}
	if err := b.Save(dir); err != nil {
		t.Fatal(err)
	}
	if err := b.IssueMember(dir, "MAIL1", []string{"127.0.0.1"}); err != nil {
		t.Fatal(err)
	}
	off := false
	n, err := Start(ctx, Options{Cluster: config.ClusterConfig{Name: "contoso", Address: "127.0.0.1", ClientPort: ports[0], RoutePort: ports[1], SyncAlways: &off},
		Member: "MAIL1", Fqdn: "mail1.contoso.com", Advertise: "127.0.0.1", Dir: dir, Logger: testLogger(t)})
	if err != nil {
		t.Fatal(err)
	}
	defer n.Close()
	jc := n.Server().JetStreamConfig()
	if jc == nil || jc.SyncAlways || jc.SyncInterval != 2*time.Minute {
		t.Fatalf("NATS JetStream config with SyncAlways false: %+v", jc)
	}
	if got := n.syncDescription(); !strings.HasPrefix(got, "every 2m0s") {
		t.Fatalf("sync description %q", got)
	}
}
