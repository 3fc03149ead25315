// Package jstest runs a JetStream cluster of embedded NATS servers on
// loopback for tests. Every route between two servers goes through a TCP
// proxy of its own, so a test can cut one server off from the others
// (Cut) and let it back (Heal), or kill one and start it again on its
// data (Kill, Restart).
package jstest

import (
	"fmt"
	"io"
	"net"
	"net/url"
	"sync"
	"testing"
	"time"

	"github.com/nats-io/nats-server/v2/server"
	"github.com/nats-io/nats.go"
)

// Cluster is a running test cluster.
type Cluster struct {
	t       testing.TB
	n       int
	ports   []int // cluster (route) listen port of each server
	dirs    []string
	servers []*server.Server
	proxies map[[2]int]*Proxy // [from, to]
}

// Start runs n servers forming one JetStream cluster and waits until it
// has a meta leader. They stop when the test ends.
func Start(t testing.TB, n int) *Cluster {
	t.Helper()
	c := &Cluster{t: t, n: n, proxies: map[[2]int]*Proxy{}}
	for i := 0; i < n; i++ {
		c.ports = append(c.ports, freePort(t))
		c.dirs = append(c.dirs, t.TempDir())
	}
	for i := 0; i < n; i++ {
		for j := 0; j < n; j++ {
			if i != j {
				c.proxies[[2]int{i, j}] = NewProxy(t, fmt.Sprintf("127.0.0.1:%d", c.ports[j]))
			}
		}
	}
	c.servers = make([]*server.Server, n)
	for i := 0; i < n; i++ {
		c.start(i)
	}
	t.Cleanup(func() {
		for _, s := range c.servers {
			if s != nil {
				s.Shutdown()
				s.WaitForShutdown()
			}
		}
		for _, p := range c.proxies {
			p.Close()
		}
	})
	c.WaitMetaLeader(30 * time.Second)
	return c
}

func (c *Cluster) start(i int) {
	c.t.Helper()
	var routes []*url.URL
	for j := 0; j < c.n; j++ {
		if j != i {
			routes = append(routes, &url.URL{Scheme: "nats-route", Host: c.proxies[[2]int{i, j}].Addr()})
		}
	}
	o := &server.Options{
		ServerName: fmt.Sprintf("S%d", i+1), Host: "127.0.0.1", Port: -1,
		JetStream: true, StoreDir: c.dirs[i], NoLog: true, NoSigs: true,
		Cluster: server.ClusterOpts{Name: "transportd-test", Host: "127.0.0.1", Port: c.ports[i],
			NoAdvertise: true, PoolSize: -1, Advertise: "127.0.0.1:1"},
		Routes: routes,
	}
	s, err := server.NewServer(o)
	if err != nil {
		c.t.Fatalf("nats server %d: %v", i, err)
	}
	go s.Start()
	if !s.ReadyForConnections(20 * time.Second) {
		c.t.Fatalf("nats server %d not ready", i)
	}
	c.servers[i] = s
}

// WaitMetaLeader waits until every running server knows a JetStream meta leader.
func (c *Cluster) WaitMetaLeader(d time.Duration) {
	c.t.Helper()
	deadline := time.Now().Add(d)
	for {
		leader, current := false, true
		for _, s := range c.servers {
			if s == nil {
				continue
			}
			leader = leader || s.JetStreamIsLeader()
			current = current && s.JetStreamIsCurrent()
		}
		if leader && current {
			return
		}
		if time.Now().After(deadline) {
			c.t.Fatalf("no JetStream meta leader within %s", d)
		}
		time.Sleep(50 * time.Millisecond) // the server has no leader-elected signal to wait on
	}
}

// URL is the client URL of server i.
func (c *Cluster) URL(i int) string { return c.servers[i].ClientURL() }

// Connect opens a client connection to server i only (no reconnect
// elsewhere), closed when the test ends.
func (c *Cluster) Connect(i int) *nats.Conn {
	c.t.Helper()
	nc, err := nats.Connect(c.URL(i), nats.DontRandomize(), nats.MaxReconnects(-1), nats.ReconnectWait(100*time.Millisecond))
	if err != nil {
		c.t.Fatalf("connecting to nats server %d: %v", i, err)
	}
	c.t.Cleanup(nc.Close)
	return nc
}

// Cut blocks every route to and from server i.
func (c *Cluster) Cut(i int) {
	for k, p := range c.proxies {
		if k[0] == i || k[1] == i {
			p.SetBlocked(true)
		}
	}
}

// Heal lets server i's routes through again.
func (c *Cluster) Heal(i int) {
	for k, p := range c.proxies {
		if k[0] == i || k[1] == i {
			p.SetBlocked(false)
		}
	}
}

// Kill stops server i at once.
func (c *Cluster) Kill(i int) {
	c.servers[i].Shutdown()
	c.servers[i].WaitForShutdown()
	c.servers[i] = nil
}

// Restart starts server i again on its data folder.
func (c *Cluster) Restart(i int) { c.start(i) }

func freePort(t testing.TB) int {
	t.Helper()
	l, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	defer l.Close()
	return l.Addr().(*net.TCPAddr).Port
}

// Proxy is a TCP proxy on loopback that can drop its connections and
// refuse new ones.
type Proxy struct {
	l       net.Listener
	target  string
	mu      sync.Mutex
	blocked bool
	conns   map[net.Conn]bool
	wg      sync.WaitGroup
}

// NewProxy listens on a loopback port and forwards to target.
func NewProxy(t testing.TB, target string) *Proxy {
	t.Helper()
	l, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	p := &Proxy{l: l, target: target, conns: map[net.Conn]bool{}}
	p.wg.Add(1)
	go p.serve()
	return p
}

// Addr is the proxy's address.
func (p *Proxy) Addr() string { return p.l.Addr().String() }

func (p *Proxy) serve() {
	defer p.wg.Done()
	for {
		in, err := p.l.Accept()
		if err != nil {
			return
		}
		p.mu.Lock()
		if p.blocked {
			p.mu.Unlock()
			in.Close()
			continue
		}
		p.mu.Unlock()
		out, err := net.DialTimeout("tcp", p.target, 2*time.Second)
		if err != nil {
			in.Close()
			continue
		}
		p.mu.Lock()
		if p.blocked {
			p.mu.Unlock()
			in.Close()
			out.Close()
			continue
		}
		p.conns[in], p.conns[out] = true, true
		p.mu.Unlock()
		p.wg.Add(2)
		pipe := func(a, b net.Conn) {
			defer p.wg.Done()
			io.Copy(a, b)
			a.Close()
			b.Close()
			p.mu.Lock()
			delete(p.conns, a)
			delete(p.conns, b)
			p.mu.Unlock()
		}
		go pipe(in, out)
		go pipe(out, in)
	}
}

// SetBlocked drops every connection and refuses new ones (true), or
// forwards again (false).
func (p *Proxy) SetBlocked(b bool) {
	p.mu.Lock()
	defer p.mu.Unlock()
	p.blocked = b
	if b {
		for c := range p.conns {
			c.Close()
		}
	}
}

// Close stops the proxy and waits for its goroutines.
func (p *Proxy) Close() {
	p.l.Close()
	p.SetBlocked(true)
	p.wg.Wait()
}
