package smtpout

import (
	"context"
	"github.com/transportd/transportd/policies/dnsclient"
	"github.com/transportd/transportd/policies/dnsclient/dnstest"
	"net"
	"strconv"
	"testing"
)

// The send connector parameters of issue 10, against a real SMTP server
// on loopback.

func TestSourceIPAddress(t *testing.T) {
	ts := startServer(t, serverOpts{})
	c := smartHostConnector(t, ts.addr)
	c.SourceIPAddress = "127.0.0.2"
	s := newSender(t, Options{Connector: c})
	wantResult(t, s.Deliver(context.Background(), message(testBody), []string{"bob@example.test"})[0], 0, "", "")
	ts.mu.Lock()
	defer ts.mu.Unlock()
	if len(ts.conns) != 1 {
		t.Fatalf("%d connections, want 1", len(ts.conns))
	}
	if got := ts.conns[0].RemoteAddr().(*net.TCPAddr).IP.String(); got != "127.0.0.2" {
		t.Errorf("the smart host saw the connection from %s, want 127.0.0.2 (SourceIPAddress)", got)
	}
}

func TestForceHELO(t *testing.T) {
	ca := newCA(t)
	cert := ca.leaf(t, "mx.test.example")
	ts := startServer(t, serverOpts{cert: &cert, maxSize: 1 << 20})
	for _, force := range []bool{false, true} {
		c := smartHostConnector(t, ts.addr)
		c.ForceHELO = force
		s := newSender(t, Options{Connector: c})
		wantResult(t, s.Deliver(context.Background(), message(testBody), []string{"bob@example.test"})[0], 0, "", "")
	}
	msgs, _, _ := ts.snapshot()
	if len(msgs) != 2 {
		t.Fatalf("%d messages, want 2", len(msgs))
	}
	// With EHLO the server's STARTTLS and SIZE are used; after HELO there
	// are no extensions: no TLS, no SIZE= on MAIL.
	if !msgs[0].TLS || msgs[0].Size == 0 {
		t.Errorf("EHLO session: TLS %v, SIZE %d; want TLS and SIZE", msgs[0].TLS, msgs[0].Size)
	}
	if msgs[1].TLS || msgs[1].Size != 0 || msgs[1].Helo != "out.contoso.com" {
		t.Errorf("ForceHELO session: TLS %v, SIZE %d, HELO %q; want neither extension, HELO out.contoso.com", msgs[1].TLS, msgs[1].Size, msgs[1].Helo)
	}
}

func TestSmtpMaxMessagesPerConnection(t *testing.T) {
	ts := startServer(t, serverOpts{})
	c := smartHostConnector(t, ts.addr)
	c.SmtpMaxMessagesPerConnection = 2
	s := newSender(t, Options{Connector: c})
	for i := range 5 {
		wantResult(t, s.Deliver(context.Background(), message(testBody), []string{"u" + strconv.Itoa(i) + "@example.test"})[0], 0, "", "")
	}
	if msgs, _, accepted := ts.snapshot(); len(msgs) != 5 || accepted != 3 {
		t.Errorf("%d messages over %d connections, want 5 over 3 (2 per connection)", len(msgs), accepted)
	}
}

func TestErrorPoliciesDowngradeDnsFailures(t *testing.T) {
	r := fakeResolver{"nullmx.test": {{Host: ".", Pref: 0}}}
	c := dnsConnector(t, 25)
	c.ErrorPolicies = "DowngradeDnsFailures"
	s := newSender(t, Options{Connector: c, Resolver: r})
	wantResult(t, s.Deliver(context.Background(), message(testBody), []string{"a@nullmx.test"})[0], 451, "4.1.10", "DowngradeDnsFailures")
}

func TestExternalDNSServers(t *testing.T) {
	ts := startServer(t, serverOpts{})
	z := dnstest.Start(t)
	z.Add(t, "fabrikam.test. 60 IN MX 10 mx1.fabrikam.test.", "mx1.fabrikam.test. 60 IN A 127.0.0.1")
	r, err := NewResolver([]string{z.Addr})
	if err != nil {
		t.Fatal(err)
	}
	c := dnsConnector(t, ts.port)
	c.UseExternalDNSServersEnabled = true
	s := newSender(t, Options{Connector: c, DNS: r})
	wantResult(t, s.Deliver(context.Background(), message(testBody), []string{"bob@fabrikam.test"})[0], 0, "", "")
	if msgs, _, _ := ts.snapshot(); len(msgs) != 1 {
		t.Fatalf("server got %d messages, want 1 through the MX the external DNS server named", len(msgs))
	}
	if _, err := dnsclient.ParseServer("dns.contoso.com"); err == nil {
		t.Error("a host name was taken as a DNS server")
	}
}
