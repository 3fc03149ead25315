package cluster

import (
	"bytes"
	"context"
	"encoding/json"
	"fmt"
	"log/slog"
	"path/filepath"
	"slices"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/nats-io/nats-server/v2/server"
	"github.com/nats-io/nats.go"
	"github.com/nats-io/nats.go/jetstream"

	"github.com/transportd/transportd/transport/admin/config"
)

// startJoined starts count embedded members on loopback, the first with a
// new bundle and the others joining it with its token, and waits until
// every one is ready. Each is closed with the test (once).
func startJoined(ctx context.Context, t *testing.T, count int) []*Node {
	t.Helper()
	ports := freePorts(t, 2*count)
	b, err := NewBundle("contoso")
	if err != nil {
		t.Fatal(err)
	}
	var nodes []*Node
	start := func(i int, routes []string, bundle *Bundle) {
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
		var once sync.Once
		t.Cleanup(func() { once.Do(n.Close) })
		nodes = append(nodes, n)
	}
	start(0, nil, b)
	tok, err := IssueToken(b, "127.0.0.1", ports[0], 0, time.Hour, time.Now())
	if err != nil {
		t.Fatal(err)
	}
	for i := 1; i < count; i++ {
		reply, err := Join(ctx, tok, fmt.Sprintf("MAIL%d", i+1), "x")
		if err != nil {
			t.Fatal(err)
		}
		start(i, reply.Routes, reply.Bundle)
	}
	for _, n := range nodes {
		if err := n.WaitReady(ctx); err != nil {
			t.Fatal(err)
		}
	}
	return nodes
}

// waitStatus polls n's Status every 200 ms until check returns "" or ctx
// ends (then the test fails with check's last reason).
func waitStatus(ctx context.Context, t *testing.T, n *Node, what string, check func(Status) string) Status {
	t.Helper()
	for {
		st, err := n.Status(ctx)
		why := fmt.Sprint(err)
		if err == nil {
			if why = check(st); why == "" {
				return st
			}
		}
		select {
		case <-ctx.Done():
			t.Fatalf("%s: %s", what, why)
		case <-time.After(200 * time.Millisecond):
		}
	}
}

func peerNames(ps []Peer) []string {
	var out []string
	for _, p := range ps {
		out = append(out, p.Name)
	}
	slices.Sort(out)
	return out
}

// TestLeftMemberRemovedFromJetStream: of four members, one that holds a
// replica of an R3 stream leaves (SetLeaving, then it stops). The meta
// leader removes it from JetStream: it is no longer a meta peer, and the
// stream is back at three current replicas, the fourth member taking its
// place. The daemon's own user keeps JetStream beside the system account.
func TestLeftMemberRemovedFromJetStream(t *testing.T) {
	if testing.Short() {
		t.Skip("starts four embedded NATS servers")
	}
	ctx, cancel := context.WithTimeout(context.Background(), 90*time.Second)
	defer cancel()
	nodes := startJoined(ctx, t, 4)
	waitStatus(ctx, t, nodes[0], "four members up under a meta leader", func(st Status) string {
		up := 0
		for _, m := range st.Members {
			if m.State == "Up" {
				up++
			}
		}
		if st.MetaLeader == "" || up != 4 || len(st.MetaPeers) != 4 {
			return fmt.Sprintf("%+v", st)
		}
		return ""
	})
	if _, err := nodes[1].JetStream().CreateOrUpdateKeyValue(ctx, jetstream.KeyValueConfig{Bucket: "t", Replicas: 3}); err != nil {
		t.Fatal(err)
	}
	var stream StreamStatus
	waitStatus(ctx, t, nodes[0], "stream KV_t at three current replicas", func(st Status) string {
		for _, s := range st.Streams {
			if s.Name == "KV_t" && len(s.Peers) == 3 {
				stream = s
				return ""
			}
		}
		return fmt.Sprintf("%+v", st.Streams)
	})
	// The member to leave: a replica of KV_t that is not its leader.
	var leaving *Node
	for _, n := range nodes {
		if n.Name() != stream.Leader && slices.Contains(peerNames(stream.Peers), n.Name()) {
			leaving = n
			break
		}
	}
	var stays []*Node
	for _, n := range nodes {
		if n != leaving {
			stays = append(stays, n)
		}
	}
	t.Logf("KV_t on %v; %s leaves", peerNames(stream.Peers), leaving.Name())
	leaving.SetLeaving()
	stopped := time.Now()
	leaving.Close()
	want := []string{stays[0].Name(), stays[1].Name(), stays[2].Name()}
	for _, n := range stays {
		st := waitStatus(ctx, t, n, leaving.Name()+" removed from JetStream", func(st Status) string {
			if got := peerNames(st.MetaPeers); !slices.Equal(got, want) {
				return fmt.Sprintf("meta peers %v, want %v", got, want)
			}
			for _, s := range st.Streams {
				if s.Name != "KV_t" {
					continue
				}
				if len(s.Peers) != 3 || slices.Contains(peerNames(s.Peers), leaving.Name()) {
					return fmt.Sprintf("KV_t replicas %+v", s.Peers)
				}
				for _, p := range s.Peers {
					if !p.Current || p.Offline {
						return fmt.Sprintf("KV_t replica %+v not current", p)
					}
				}
			}
			return ""
		})
		t.Logf("%s: %s removed %v after it stopped; meta peers %v", n.Name(), leaving.Name(), time.Since(stopped).Round(time.Millisecond), peerNames(st.MetaPeers))
	}
	// The daemons' user still writes to JetStream.
	kv, err := stays[0].JetStream().KeyValue(ctx, "t")
	if err != nil {
		t.Fatal(err)
	}
	if _, err := kv.Put(ctx, "k", []byte("v")); err != nil {
		t.Fatalf("put after the removal: %v", err)
	}
}

// The system user's password is derived from the cluster key: the
// daemon's password does not open the system account, the derived one
// does, and it is nowhere in the cluster folder.
func TestSystemUser(t *testing.T) {
	ctx, cancel := context.WithTimeout(context.Background(), 60*time.Second)
	defer cancel()
	nodes := startJoined(ctx, t, 2)
	n := nodes[0]
	if _, err := nats.Connect(n.sysURL, nats.Secure(n.sysDial), nats.UserInfo(systemUser, n.bundle.ClientPassword)); err == nil {
		t.Fatal("the system user logged in with the daemon's password")
	}
	nc, err := nats.Connect(n.sysURL, nats.Secure(n.sysDial), nats.UserInfo(systemUser, n.systemPassword()))
	if err != nil {
		t.Fatal(err)
	}
	defer nc.Close()
	// Only the system account is answered on $SYS.REQ.SERVER.PING.
	msg, err := nc.Request("$SYS.REQ.SERVER.PING", nil, 5*time.Second)
	if err != nil {
		t.Fatalf("system account request: %v", err)
	}
	var reply struct {
		Server server.ServerInfo `json:"server"`
	}
	if err := json.Unmarshal(msg.Data, &reply); err != nil || reply.Server.Name == "" {
		t.Fatalf("server ping answer %s: %v", msg.Data, err)
	}
	if n.systemPassword() != nodes[1].systemPassword() {
		t.Error("members derive different system passwords from the same cluster key")
	}
	// A peer-remove of a name that is no JetStream peer is refused by NATS
	// and taken as done.
	if err := n.removePeer(ctx, "MAIL9"); err != nil {
		t.Errorf("removing a server that is no peer: %v", err)
	}
}

// With an external NATS the daemons are no JetStream peers: a member that
// leaves is only logged, with the command its operator runs for a NATS
// server it retires.
func TestExternalNATSLeftMember(t *testing.T) {
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
	var log syncBuffer
	n, err := Start(ctx, Options{Cluster: config.ClusterConfig{Name: "contoso", ExternalUrl: ext.ClientURL()}, Member: "MAIL1", Fqdn: "mail1.contoso.com",
		Advertise: "127.0.0.1", Dir: dir, Logger: slog.New(slog.NewTextHandler(&log, nil))})
	if err != nil {
		t.Fatal(err)
	}
	defer n.Close()
	if err := n.WaitReady(ctx); err != nil {
		t.Fatal(err)
	}
	kv, err := n.JetStream().KeyValue(ctx, MembersBucket)
	if err != nil {
		t.Fatal(err)
	}
	data, _ := json.Marshal(Member{Name: "MAIL2", LastSeen: time.Now(), Leaving: true})
	if _, err := kv.Put(ctx, "MAIL2", data); err != nil {
		t.Fatal(err)
	}
	if err := kv.Delete(ctx, "MAIL2"); err != nil {
		t.Fatal(err)
	}
	for !strings.Contains(log.String(), "nats server raft peer-remove") {
		select {
		case <-ctx.Done():
			t.Fatalf("no log line naming nats server raft peer-remove:\n%s", log.String())
		case <-time.After(100 * time.Millisecond):
		}
	}
	if !strings.Contains(log.String(), "member=MAIL2") {
		t.Errorf("the log line does not name the member:\n%s", log.String())
	}
}

// syncBuffer is a bytes.Buffer safe for a logger and a reader.
type syncBuffer struct {
	mu sync.Mutex
	b  bytes.Buffer
}

func (s *syncBuffer) Write(p []byte) (int, error) {
	s.mu.Lock()
	defer s.mu.Unlock()
	return s.b.Write(p)
}

func (s *syncBuffer) String() string {
	s.mu.Lock()
	defer s.mu.Unlock()
	return s.b.String()
}
