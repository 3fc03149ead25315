package service

import (
	"github.com/transportd/transportd/policies/dnsclient/dnstest"
	"strings"
	"testing"

	"github.com/miekg/dns"

	"github.com/transportd/transportd/transport/admin/config"
	"github.com/transportd/transportd/transport/admin/manage"
)

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
	z := dnstest.Start(t)
	z.Fail("broken.test", dns.RcodeServerFailure)
	z.SetA("1.0.0.127.zen.test", "127.0.0.2")
	z.SetA("2.0.0.127.zen.test", "127.255.255.254") // Spamhaus's "query refused", not a listing
	d := startDaemon(t, func(c *config.Config, _ *testDaemon) {
		c.Transport.ExternalDNSServers = []string{z.Addr}
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
	broken := z.Asked("1.0.0.127.broken.test")
	if r := rcptFrom(t, "127.0.0.1", d.addr25()); !strings.HasPrefix(r, "550 5.7.1") {
		t.Errorf("listed client again: %q", r)
	}
	if n := z.Asked("1.0.0.127.zen.test"); n != 1 {
		t.Errorf("zen.test was asked %d times about 127.0.0.1, want once (the answer is cached)", n)
	}
	if z.Asked("1.0.0.127.broken.test") <= broken {
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
