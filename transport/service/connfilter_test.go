package service

import (
	"net"
	"strings"
	"sync"
	"testing"

	"github.com/miekg/dns"

	"github.com/transportd/transportd/transport/admin/config"
	"github.com/transportd/transportd/transport/admin/manage"
)

// blockListDNS is an authoritative server on loopback for DNS block list
// zones (RFC 5782): A records at reversed addresses; every other name
// does not exist, and names under a "broken" zone get SERVFAIL.
type blockListDNS struct {
	addr    string
	broken  string
	mu      sync.Mutex
	a       map[string]string // fqdn -> A record
	queries map[string]int    // asked names -> how often
}

func startBlockListDNS(t *testing.T) *blockListDNS {
	t.Helper()
	z := &blockListDNS{a: map[string]string{}, queries: map[string]int{}}
	pc, err := net.ListenPacket("udp4", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	z.addr = pc.LocalAddr().String()
	l, err := net.Listen("tcp4", z.addr)
	if err != nil {
		t.Fatal(err)
	}
	h := dns.HandlerFunc(z.serve)
	udp := &dns.Server{PacketConn: pc, Handler: h}
	tcp := &dns.Server{Listener: l, Handler: h}
	go udp.ActivateAndServe()
	go tcp.ActivateAndServe()
	t.Cleanup(func() { udp.Shutdown(); tcp.Shutdown() })
	return z
}

func (z *blockListDNS) list(name, answer string) {
	z.mu.Lock()
	defer z.mu.Unlock()
	z.a[dns.Fqdn(name)] = answer
}

func (z *blockListDNS) asked(name string) int {
	z.mu.Lock()
	defer z.mu.Unlock()
	return z.queries[dns.Fqdn(name)]
}

func (z *blockListDNS) serve(w dns.ResponseWriter, req *dns.Msg) {
	m := new(dns.Msg)
	m.SetReply(req)
	m.Authoritative = true
	z.mu.Lock()
	defer z.mu.Unlock()
	for _, q := range req.Question {
		name := strings.ToLower(q.Name)
		if strings.HasPrefix(name, "_dmarc.") || q.Qtype == dns.TypeTXT {
			m.Rcode = dns.RcodeNameError // the sender checks of the Default Frontend
			continue
		}
		z.queries[name]++
		if z.broken != "" && strings.HasSuffix(name, "."+z.broken+".") {
			m.Rcode = dns.RcodeServerFailure
			continue
		}
		a, ok := z.a[name]
		if !ok {
			m.Rcode = dns.RcodeNameError
			continue
		}
		if q.Qtype == dns.TypeA {
			m.Answer = append(m.Answer, &dns.A{Hdr: dns.RR_Header{Name: q.Name, Rrtype: dns.TypeA, Class: dns.ClassINET, Ttl: 60}, A: net.ParseIP(a)})
		}
	}
	w.WriteMsg(m)
}

// rcptFrom opens a session on addr from the loopback address local and
// returns the reply to RCPT TO:<alice@contoso.com>.
func rcptFrom(t *testing.T, local, addr string) string {
	t.Helper()
	c := dialFrom(t, local, addr)
	defer c.close()
	c.expect("250", "EHLO client.example")
	c.expect("250", "MAIL FROM:<someone@fabrikam.example>")
	return c.cmd("RCPT TO:<alice@contoso.com>")
}

// A client a DNS block list lists is refused at RCPT with 550 5.7.1 and
// the provider's text; the allow list wins over it; the IP block list
// refuses; a provider that fails lets mail through; an authenticated
// session is never refused.
func TestConnectionFilteringEndToEnd(t *testing.T) {
	z := startBlockListDNS(t)
	z.broken = "broken.test"
	z.list("1.0.0.127.zen.test", "127.0.0.2")
	z.list("2.0.0.127.zen.test", "127.255.255.254") // Spamhaus's "query refused", not a listing
	d := startDaemon(t, func(c *config.Config, _ *testDaemon) {
		c.Transport.ExternalDNSServers = []string{z.addr}
		c.ConnectionFilter.IPBlockListProviders = []config.IPBlockListProvider{
			{Name: "Broken", LookupDomain: "broken.test", Enabled: true, Priority: 1},
			{Name: "Spamhaus", LookupDomain: "zen.test", Enabled: true, Priority: 2, RejectionResponse: "Listed at zen.test, see https://check.zen.test"},
		}
		for i := range c.ReceiveConnectors { // also on 587, to show that AUTH is never judged
			c.ReceiveConnectors[i].ConnectionFilteringEnabled = true
		}
	})
	if r := rcptFrom(t, "127.0.0.1", d.addr25()); r != "550 5.7.1 Listed at zen.test, see https://check.zen.test" {
		t.Errorf("listed client 127.0.0.1: %q, want 550 5.7.1 with the provider's text", r)
	}
	broken := z.asked("1.0.0.127.broken.test")
	if r := rcptFrom(t, "127.0.0.1", d.addr25()); !strings.HasPrefix(r, "550 5.7.1") {
		t.Errorf("listed client again: %q", r)
	}
	if n := z.asked("1.0.0.127.zen.test"); n != 1 {
		t.Errorf("zen.test was asked %d times about 127.0.0.1, want once (the answer is cached)", n)
	}
	if z.asked("1.0.0.127.broken.test") <= broken {
		t.Error("the failing zone was not asked again: a failure must not be cached")
	}
	if r := rcptFrom(t, "127.0.0.2", d.addr25()); !strings.HasPrefix(r, "250") {
		t.Errorf("127.0.0.2 (answer 127.255.255.254 is an error code, not a listing): %q", r)
	}
	if r := rcptFrom(t, "127.0.0.4", d.addr25()); !strings.HasPrefix(r, "250") {
		t.Errorf("unlisted client 127.0.0.4: %q", r)
	}

	// Authenticated submission from the listed address is not filtered.
	c := dialFrom(t, "127.0.0.1", d.addr587())
	c.expect("250", "EHLO client.example")
	c.startTLS("mail.contoso.com")
	c.expect("250", "EHLO client.example")
	c.expect("235", "AUTH PLAIN %s", plainIR("alice@contoso.com", testPassword))
	c.expect("250", "MAIL FROM:<alice@contoso.com>")
	c.expect("250", "RCPT TO:<bob@fabrikam.com>")
	c.close()

	m := &manage.Manager{ConfigPath: d.cfgPath}
	// A bypassed recipient is spared a provider's listing.
	if err := m.SetFilterConfig(manage.IPBlockListProvidersConfig, manage.Params{{Name: "BypassedRecipients", Value: "Alice@contoso.com"}}); err != nil {
		t.Fatal(err)
	}
	d.waitReload()
	if r := rcptFrom(t, "127.0.0.1", d.addr25()); !strings.HasPrefix(r, "250") {
		t.Errorf("listed client to a BypassedRecipients address: %q, want 250", r)
	}
	if err := m.SetFilterConfig(manage.IPBlockListProvidersConfig, manage.Params{{Name: "BypassedRecipients", Value: "$null"}}); err != nil {
		t.Fatal(err)
	}
	d.waitReload()
	if _, err := m.AddIPListEntry(manage.AllowList, manage.Params{{Name: "IPAddress", Value: "127.0.0.1"}}); err != nil {
		t.Fatal(err)
	}
	d.waitReload()
	if r := rcptFrom(t, "127.0.0.1", d.addr25()); !strings.HasPrefix(r, "250") {
		t.Errorf("listed client on the allow list: %q, want 250 (the allow list wins)", r)
	}
	if _, err := m.AddIPListEntry(manage.BlockList, manage.Params{{Name: "IPRange", Value: "127.0.0.4-127.0.0.5"}, {Name: "Comment", Value: "test"}}); err != nil {
		t.Fatal(err)
	}
	d.waitReload()
	if r := rcptFrom(t, "127.0.0.4", d.addr25()); !strings.HasPrefix(r, "550 5.7.1 Recipient not authorized") {
		t.Errorf("client on the IP block list: %q", r)
	}
	if err := m.SetFilterConfig(manage.IPBlockListConfig, manage.Params{{Name: "StaticEntryRejectionResponse", Value: "Blocked by the contoso.com admins"}}); err != nil {
		t.Fatal(err)
	}
	d.waitReload()
	if r := rcptFrom(t, "127.0.0.4", d.addr25()); r != "550 5.7.1 Blocked by the contoso.com admins" {
		t.Errorf("StaticEntryRejectionResponse: %q", r)
	}
	// The Default Frontend's switch turns it all off.
	if _, err := m.SetConnectorsEach([]string{"Default Frontend MAIL"}, manage.Params{{Name: "ConnectionFilteringEnabled", Value: "$false"}}); err != nil {
		t.Fatal(err)
	}
	d.waitReload()
	if r := rcptFrom(t, "127.0.0.4", d.addr25()); !strings.HasPrefix(r, "250") {
		t.Errorf("ConnectionFilteringEnabled $false: %q", r)
	}
}
