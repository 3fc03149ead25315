package smtpd

import (
	"bufio"
	"log/slog"
	"net"
	"net/netip"
	"strings"
	"testing"
	"time"

	"github.com/transportd/transportd/connector"
	"github.com/transportd/transportd/policies/domains"
)

// greeting connects to addr and returns the 220 line, or the dial error.
func greeting(t *testing.T, addr string) (string, error) {
	t.Helper()
	c, err := net.DialTimeout("tcp", addr, 5*time.Second)
	if err != nil {
		return "", err
	}
	defer c.Close()
	c.SetDeadline(time.Now().Add(5 * time.Second))
	line, err := bufio.NewReader(c).ReadString('\n')
	return strings.TrimSpace(line), err
}

func loopbackAddr(t *testing.T) (netip.AddrPort, net.Listener) {
	t.Helper()
	l, err := net.Listen("tcp4", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	return l.Addr().(*net.TCPAddr).AddrPort(), l
}

func applyServer(t *testing.T) (*Server, []connector.ReceiveConnector, *domains.Table) {
	t.Helper()
	q := openTestQueue(t, t.TempDir())
	tbl, err := domains.NewTable([]domains.AcceptedDomain{{Name: "contoso.com", DomainName: "contoso.com", DomainType: domains.Authoritative, Default: true}})
	if err != nil {
		t.Fatal(err)
	}
	srv := New(Deps{Queue: q, Directory: stubDirectory{}, Logger: slog.New(slog.DiscardHandler)})
	t.Cleanup(func() { srv.Close() })
	cs := connector.Defaults("old.contoso.com")[:1]
	ap, l := loopbackAddr(t)
	l.Close()
	cs[0].Bindings = []netip.AddrPort{ap}
	if err := srv.Apply(Snapshot{Connectors: cs, Domains: tbl}); err != nil {
		t.Fatal(err)
	}
	return srv, cs, tbl
}

// A rebind to a port in use changes nothing: the old listener keeps
// accepting, with the old connector settings, and the error names the port.
func TestApplyPortInUseKeepsOldListener(t *testing.T) {
	srv, cs, tbl := applyServer(t)
	old := cs[0].Bindings[0].String()
	busy, l := loopbackAddr(t)
	defer l.Close()

	next := connector.Defaults("new.contoso.com")[:1]
	next[0].Bindings = []netip.AddrPort{busy}
	err := srv.Apply(Snapshot{Connectors: next, Domains: tbl})
	if err == nil || !strings.Contains(err.Error(), busy.String()) {
		t.Fatalf("Apply to a port in use = %v, want an error naming %s", err, busy)
	}
	if !strings.Contains(err.Error(), "every listener kept") {
		t.Errorf("error %q does not say the listeners are kept", err)
	}
	g, err := greeting(t, old)
	if err != nil {
		t.Fatalf("the old listener %s is closed after the failed rebind: %v", old, err)
	}
	if !strings.Contains(g, "old.contoso.com") {
		t.Errorf("greeting %q: the failed configuration was half applied", g)
	}
	if addrs := srv.Addrs(); len(addrs) != 1 || addrs[0].String() != old {
		t.Errorf("Addrs = %v, want only %s", addrs, old)
	}
}

// A failure on one of two new bindings leaves no socket of the other open.
func TestApplyPartialFailureOpensNothing(t *testing.T) {
	srv, cs, tbl := applyServer(t)
	busy, l := loopbackAddr(t)
	defer l.Close()
	free, fl := loopbackAddr(t)
	fl.Close()
	next := append([]connector.ReceiveConnector(nil), cs...)
	next[0].Bindings = []netip.AddrPort{cs[0].Bindings[0], free, busy}
	if err := srv.Apply(Snapshot{Connectors: next, Domains: tbl}); err == nil {
		t.Fatal("Apply with a port in use succeeded")
	}
	if _, err := greeting(t, free.String()); err == nil {
		t.Errorf("%s is listening although the configuration was not applied", free)
	}
}

// A move to a free port binds the new one and then closes the old one.
func TestApplyMovesListener(t *testing.T) {
	srv, cs, tbl := applyServer(t)
	old := cs[0].Bindings[0].String()
	free, fl := loopbackAddr(t)
	fl.Close()
	next := connector.Defaults("new.contoso.com")[:1]
	next[0].Bindings = []netip.AddrPort{free}
	if err := srv.Apply(Snapshot{Connectors: next, Domains: tbl}); err != nil {
		t.Fatal(err)
	}
	if g, err := greeting(t, free.String()); err != nil || !strings.Contains(g, "new.contoso.com") {
		t.Errorf("new binding: %q, %v", g, err)
	}
	if _, err := greeting(t, old); err == nil {
		t.Errorf("old binding %s still accepts", old)
	}
}
