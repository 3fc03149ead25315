package cluster

import (
	"bytes"
	"context"
	"fmt"
	"os"
	"path/filepath"
	"slices"
	"sync"
	"testing"
	"time"

	"github.com/nats-io/nats-server/v2/server"

	"github.com/transportd/transportd/transport/admin/config"
)

// syncMember is one member of an in-process configuration sync test: a
// node on a shared NATS, its config file, and a stand-in for the daemon
// that applies the file whenever it changes (held while paused).
type syncMember struct {
	name string
	path string
	node *Node
	cs   *ConfigSync

	mu     sync.Mutex
	paused bool
	kick   chan struct{}
}

// edit changes the member's config file as a management command does.
func (m *syncMember) edit(t *testing.T, change func(*config.Config)) string {
	t.Helper()
	c, err := config.Update(m.path, func(c *config.Config) error { change(c); return nil })
	if err != nil {
		t.Fatal(err)
	}
	doc, err := c.OrgDoc()
	if err != nil {
		t.Fatal(err)
	}
	m.poke()
	return doc.Hash()
}

func (m *syncMember) poke() {
	select {
	case m.kick <- struct{}{}:
	default:
	}
}

func (m *syncMember) pause(p bool) {
	m.mu.Lock()
	m.paused = p
	m.mu.Unlock()
	m.poke()
}

// daemon applies the file whenever its contents change, as the daemon's
// file watch does; the sync writes the file from another goroutine, so
// it also looks every 20 ms.
func (m *syncMember) daemon(ctx context.Context) {
	var last []byte
	for {
		m.mu.Lock()
		if data, err := os.ReadFile(m.path); err == nil && !m.paused && !bytes.Equal(data, last) {
			if c, err := config.Read(m.path); err == nil {
				last = data
				m.cs.Applied(c)
			}
		}
		m.mu.Unlock()
		select {
		case <-ctx.Done():
			return
		case <-m.kick:
		case <-time.After(20 * time.Millisecond):
		}
	}
}

func (m *syncMember) doc(t *testing.T) config.OrgDoc {
	t.Helper()
	c, err := config.Read(m.path)
	if err != nil {
		t.Fatal(err)
	}
	d, err := c.OrgDoc()
	if err != nil {
		t.Fatal(err)
	}
	return d
}

// startSyncMembers runs n members' configuration syncs on one NATS.
func startSyncMembers(t *testing.T, n int) []*syncMember {
	t.Helper()
	ctx, cancel := context.WithCancel(context.Background())
	ext, err := server.NewServer(&server.Options{Host: "127.0.0.1", Port: -1, JetStream: true, StoreDir: t.TempDir(), NoSigs: true, NoLog: true})
	if err != nil {
		t.Fatal(err)
	}
	ext.Start()
	if !ext.ReadyForConnections(5 * time.Second) {
		t.Fatal("NATS not ready")
	}
	b, err := NewBundle("contoso")
	if err != nil {
		t.Fatal(err)
	}
	var wg sync.WaitGroup
	var ms []*syncMember
	for i := range n {
		name := "MAIL" + string(rune('1'+i))
		dir := t.TempDir()
		m := &syncMember{name: name, path: filepath.Join(dir, "transportd.yaml"), kick: make(chan struct{}, 1)}
		if _, err := config.Load(m.path); err != nil {
			t.Fatal(err)
		}
		cdir := filepath.Join(dir, "data", "cluster")
		if err := b.Save(cdir); err != nil {
			t.Fatal(err)
		}
		m.node, err = Start(ctx, Options{Cluster: config.ClusterConfig{Name: "contoso", ExternalUrl: ext.ClientURL()}, Member: name,
			Fqdn: name + ".contoso.com", Advertise: "127.0.0.1", Dir: cdir, Logger: testLogger(t)})
		if err != nil {
			t.Fatal(err)
		}
		m.cs = m.node.NewConfigSync(m.path)
		wg.Add(2)
		go func() { defer wg.Done(); m.cs.Run(ctx) }()
		go func() { defer wg.Done(); m.daemon(ctx) }()
		ms = append(ms, m)
	}
	t.Cleanup(func() {
		cancel()
		wg.Wait()
		for _, m := range ms {
			m.node.Close()
		}
		ext.Shutdown()
	})
	return ms
}

// waitFor polls check (the sync works in other goroutines and writes
// files) until it returns "" or 20 seconds pass.
func waitFor(t *testing.T, what string, check func() string) {
	t.Helper()
	deadline := time.Now().Add(20 * time.Second)
	for {
		why := check()
		if why == "" {
			return
		}
		if time.Now().After(deadline) {
			t.Fatalf("%s: %s", what, why)
		}
		time.Sleep(20 * time.Millisecond)
	}
}

func domains(d config.OrgDoc) []string {
	var out []string
	for _, a := range d.AcceptedDomains {
		out = append(out, a.Name)
	}
	slices.Sort(out)
	return out
}

// converged waits until every member's files hold the same organization.
func converged(t *testing.T, ms []*syncMember, what string) config.OrgDoc {
	t.Helper()
	var d config.OrgDoc
	waitFor(t, what, func() string {
		d = ms[0].doc(t)
		for _, m := range ms[1:] {
			if o := m.doc(t); o.Hash() != d.Hash() {
				return m.name + " differs from " + ms[0].name + ": " + fmt.Sprint(o.Transport.MaxSendSize, " ", d.Transport.MaxSendSize)
			}
		}
		return ""
	})
	return d
}

func outcome(t *testing.T, m *syncMember, hash string, since time.Time) Outcome {
	t.Helper()
	ctx, cancel := context.WithTimeout(context.Background(), 20*time.Second)
	defer cancel()
	o, err := WaitOutcome(ctx, m.cs.node.opts.Dir, hash, since)
	if err != nil {
		t.Fatalf("%s: no outcome for its change: %v", m.name, err)
	}
	return o
}

// Two members change the organization at the same moment (their daemons
// apply the two edits together): changes to different objects both end up
// on both members; the same setting changed both ways keeps one of them
// on both members, and the member whose change lost is told so, naming
// the member that won and the setting.
func TestConcurrentConfigChanges(t *testing.T) {
	ms := startSyncMembers(t, 2)
	a, b := ms[0], ms[1]
	a.edit(t, func(c *config.Config) {
		c.AcceptedDomains = append(c.AcceptedDomains, config.AcceptedDomain{Name: "seed.com", DomainName: "seed.com", DomainType: "Authoritative"})
	})
	waitFor(t, "MAIL2 takes the first member's organization", func() string {
		if !slices.Contains(domains(b.doc(t)), "seed.com") {
			return "no seed.com on MAIL2"
		}
		return ""
	})
	for round := range 3 {
		// Different objects: both changes survive, on both members.
		since := time.Now()
		a.pause(true)
		b.pause(true)
		one, two := "one"+string(rune('a'+round))+".com", "two"+string(rune('a'+round))+".com"
		ha := a.edit(t, func(c *config.Config) {
			c.AcceptedDomains = append(c.AcceptedDomains, config.AcceptedDomain{Name: one, DomainName: one, DomainType: "Authoritative"})
		})
		hb := b.edit(t, func(c *config.Config) {
			c.AcceptedDomains = append(c.AcceptedDomains, config.AcceptedDomain{Name: two, DomainName: two, DomainType: "Authoritative"})
		})
		a.pause(false)
		b.pause(false)
		oa, ob := outcome(t, a, ha, since), outcome(t, b, hb, since)
		if oa.Err() != nil || ob.Err() != nil {
			t.Fatalf("round %d, different objects: %+v / %+v", round, oa, ob)
		}
		waitFor(t, "both changes on both members", func() string {
			for _, m := range ms {
				if d := domains(m.doc(t)); !slices.Contains(d, one) || !slices.Contains(d, two) {
					return fmt.Sprint(m.name, " has ", d)
				}
			}
			return ""
		})
		converged(t, ms, "members converge")
		t.Logf("round %d, different objects: MAIL1 %s, MAIL2 %s", round, oa.Result, ob.Result)

		// The same setting both ways: one wins everywhere, the other is told.
		since = time.Now()
		a.pause(true)
		b.pause(true)
		sa, sb := (11+round)<<20, (21+round)<<20
		ha = a.edit(t, func(c *config.Config) { c.Transport.MaxSendSize = config.SizeLimit(sa) })
		hb = b.edit(t, func(c *config.Config) { c.Transport.MaxSendSize = config.SizeLimit(sb) })
		a.pause(false)
		b.pause(false)
		oa, ob = outcome(t, a, ha, since), outcome(t, b, hb, since)
		d := converged(t, ms, "members converge on one MaxSendSize")
		winner, loser, lost := a, b, ob
		if d.Transport.MaxSendSize == config.SizeLimit(sb) {
			winner, loser, lost = b, a, oa
		} else if d.Transport.MaxSendSize != config.SizeLimit(sa) {
			t.Fatalf("MaxSendSize %v is neither change", d.Transport.MaxSendSize)
		}
		if lost.Result != OutcomeLost || lost.Origin != winner.name || !slices.Contains(lost.Objects, "transport config MaxSendSize") ||
			lost.Err() == nil {
			t.Fatalf("round %d: %s's lost change: %+v", round, loser.name, lost)
		}
		if won := map[*syncMember]Outcome{a: oa, b: ob}[winner]; won.Result != OutcomePublished {
			t.Fatalf("round %d: the winner %s: %+v", round, winner.name, won)
		}
		t.Logf("round %d, same setting: %s won; %s told: %v", round, winner.name, loser.name, lost.Err())
	}
}

// A member that just joined keeps a change made before the cluster's
// configuration reached it: its objects as they were at start give way to
// the cluster's, the change is merged on top (and its own certificate
// file stays); the same setting changed by the cluster too is lost, and
// the command is told.
func TestJoinerChangeBeforeClusterConfig(t *testing.T) {
	dir := t.TempDir()
	path := filepath.Join(dir, "transportd.yaml")
	cfg, err := config.Load(path)
	if err != nil {
		t.Fatal(err)
	}
	n := &Node{opts: Options{Dir: filepath.Join(dir, "data", "cluster"), Member: "MAIL2"}, log: testLogger(t)}
	os.MkdirAll(n.opts.Dir, 0o700)
	cs := n.NewConfigSync(path)
	cs.noteStart(cfg)
	own := filepath.Join(cfg.DataDir(), "certs", "own.pem")
	os.MkdirAll(filepath.Dir(own), 0o700)
	os.WriteFile(own, []byte("MAIL2's own certificate"), 0o600)
	edit := func(change func(*config.Config)) string {
		c, err := config.Update(path, func(c *config.Config) error { change(c); return nil })
		if err != nil {
			t.Fatal(err)
		}
		d, _ := c.OrgDoc()
		return d.Hash()
	}
	mine := edit(func(c *config.Config) {
		c.AcceptedDomains = append(c.AcceptedDomains, config.AcceptedDomain{Name: "two.com", DomainName: "two.com", DomainType: "Authoritative"})
		c.Transport.MaxSendSize = 20 << 20
	})
	td, err := cfg.OrgDoc() // the cluster's: the start, with changes of its own
	if err != nil {
		t.Fatal(err)
	}
	td.AcceptedDomains = []config.AcceptedDomain{{Name: "seed.com", DomainName: "seed.com", DomainType: "Authoritative", Default: true}}
	td.Transport.MaxSendSize = 30 << 20
	delete(td.Files, "certs/own.pem")
	if _, err := cs.adopt(orgValue{Origin: "MAIL1", Doc: td}, 1); err != nil {
		t.Fatal(err)
	}
	got, err := config.Read(path)
	if err != nil {
		t.Fatal(err)
	}
	d, _ := got.OrgDoc()
	if names := domains(d); !slices.Equal(names, []string{"seed.com", "two.com"}) {
		t.Errorf("accepted domains after the cluster's arrived: %v (the cluster's, and the one added here)", names)
	}
	if got.Transport.MaxSendSize != 30<<20 {
		t.Errorf("MaxSendSize %v: changed here and by the cluster, the cluster's stays", got.Transport.MaxSendSize)
	}
	if _, err := os.Stat(own); err != nil {
		t.Errorf("the member's own certificate: %v", err)
	}
	o, err := WaitOutcome(context.Background(), n.opts.Dir, mine, time.Now().Add(-time.Minute))
	if err != nil || o.Result != OutcomeLost || !slices.Contains(o.Objects, "transport config MaxSendSize") {
		t.Errorf("outcome of the change made here: %+v %v", o, err)
	}
}
