package service

import (
	"strings"
	"testing"

	"github.com/transportd/transportd/policies/value"
	"github.com/transportd/transportd/transport/admin/config"
	"github.com/transportd/transportd/transport/admin/manage"
)

// adRights changes extended rights on the Default Frontend the way
// Add-ADPermission and Remove-ADPermission do, and waits until the
// daemon applies it.
func adRights(t *testing.T, d *testDaemon, add, deny bool, user string, rights ...string) {
	t.Helper()
	m := &manage.Manager{ConfigPath: d.cfgPath}
	if _, _, err := m.ChangeADPermission(manage.ADPermissionChange{Identities: []string{"Default Frontend*"}, User: user, Rights: rights, Add: add, Deny: deny}); err != nil {
		t.Fatal(err)
	}
	d.waitReload()
}

const anonymous = `NT AUTHORITY\ANONYMOUS LOGON`

// anonRelay tries an anonymous relay on port 25 and returns the reply.
func anonRelay(t *testing.T, d *testDaemon) string {
	c := dial(t, d.addr25())
	defer c.close()
	c.expect("250", "EHLO app.example")
	return c.send("app@example.org", []string{"someone@example.net"}, "Subject: relay\r\n\r\nx\r\n")
}

// Microsoft's relay recipe, over SMTP: a grant of
// ms-Exch-SMTP-Accept-Any-Recipient to anonymous senders makes relay
// work, a deny takes it away (also from the grant), removing the deny
// gives it back, removing the grant ends it.
func TestADPermissionRelayGrantAndDeny(t *testing.T) {
	d := startDaemon(t, nil)
	if r := anonRelay(t, d); !strings.HasPrefix(r, "550 5.7.54") {
		t.Fatalf("before the grant: %q", r)
	}
	adRights(t, d, true, false, anonymous, "ms-Exch-SMTP-Submit", "ms-Exch-SMTP-Accept-Any-Recipient", "ms-Exch-Bypass-Anti-Spam")
	if r := anonRelay(t, d); !strings.HasPrefix(r, "250") {
		t.Fatalf("after the grant: %q", r)
	}
	adRights(t, d, true, true, anonymous, "ms-Exch-SMTP-Accept-Any-Recipient")
	if r := anonRelay(t, d); !strings.HasPrefix(r, "550 5.7.54") {
		t.Fatalf("after the deny: %q", r)
	}
	adRights(t, d, false, true, anonymous, "ms-Exch-SMTP-Accept-Any-Recipient")
	if r := anonRelay(t, d); !strings.HasPrefix(r, "250") {
		t.Fatalf("after removing the deny: %q", r)
	}
	adRights(t, d, false, false, anonymous, "ms-Exch-SMTP-Accept-Any-Recipient")
	if r := anonRelay(t, d); !strings.HasPrefix(r, "550 5.7.54") {
		t.Fatalf("after removing the grant: %q", r)
	}
	// A deny of ms-Exch-SMTP-Submit shuts anonymous senders out entirely.
	adRights(t, d, true, true, anonymous, "ms-Exch-SMTP-Submit")
	c := dial(t, d.addr25())
	c.expect("250", "EHLO app.example")
	c.expect("530 5.7.57", "MAIL FROM:<app@example.org>")
	c.close()
}

// The well-known hardening of the Default Frontend: removing
// ms-Exch-SMTP-Accept-Authoritative-Domain-Sender from anonymous senders
// stops outsiders from using our own domain as MAIL FROM; other senders
// still get through.
func TestADPermissionAuthoritativeDomainSender(t *testing.T) {
	d := startDaemon(t, nil)
	c := dial(t, d.addr25())
	c.expect("250", "EHLO outside.example")
	c.expect("250", "MAIL FROM:<ceo@contoso.com>")
	c.close()
	adRights(t, d, false, false, anonymous, "ms-Exch-SMTP-Accept-Authoritative-Domain-Sender")
	c = dial(t, d.addr25())
	c.expect("250", "EHLO outside.example")
	if r := c.cmd("MAIL FROM:<ceo@contoso.com>"); !strings.HasPrefix(r, "550 5.7.1 ") || !strings.Contains(r, "contoso.com") {
		t.Fatalf("anonymous MAIL FROM our domain after the removal: %q", r)
	}
	if r := c.send("partner@example.org", []string{"alice@contoso.com"}, "Subject: hi\r\n\r\nx\r\n"); !strings.HasPrefix(r, "250") {
		t.Fatalf("a foreign sender after the removal: %q", r)
	}
	c.close()
}

// ms-Exch-SMTP-Accept-Any-Sender granted to a mailbox user lets it send
// as any address (an application's mailbox sending for many senders).
func TestADPermissionAcceptAnySender(t *testing.T) {
	d := startDaemon(t, nil)
	c := submitter(t, d)
	c.expect("550 5.7.60", "MAIL FROM:<orders@fabrikam.com>")
	c.close()
	m := &manage.Manager{ConfigPath: d.cfgPath}
	if _, _, err := m.ChangeADPermission(manage.ADPermissionChange{Identities: []string{"Client Frontend*"}, User: "alice", Rights: []string{"ms-Exch-SMTP-Accept-Any-Sender"}, Add: true}); err != nil {
		t.Fatal(err)
	}
	d.waitReload()
	c = submitter(t, d)
	if r := c.send("orders@fabrikam.com", []string{"friend@example.org"}, "From: Orders <orders@fabrikam.com>\r\nSubject: s\r\n\r\nx\r\n"); !strings.HasPrefix(r, "250") {
		t.Fatalf("with Accept-Any-Sender: %q", r)
	}
	c.close()
}

// ms-Exch-Bypass-Message-Size-Limit lifts the connector's MaxMessageSize;
// without ms-Exch-Accept-Headers-Routing the client's Received: fields
// are removed.
func TestADPermissionSizeAndHeaders(t *testing.T) {
	d := startDaemon(t, func(c *config.Config, d *testDaemon) {
		for i := range c.ReceiveConnectors {
			c.ReceiveConnectors[i].MaxMessageSize = value.ByteSize(64 << 10)
		}
	})
	big := "Received: from evil.example by relay.example; Mon, 1 Jan 2024 00:00:00 +0000\r\n" +
		"Received: from\r\n\tfolded.example by x; Mon, 1 Jan 2024 00:00:00 +0000\r\n" +
		"Subject: big\r\n\r\n" + strings.Repeat("0123456789abcdef0123456789abcdef0123456789abcdef0123456789abcde\r\n", 1100)
	c := dial(t, d.addr25())
	c.expect("250", "EHLO app.example")
	if r := c.send("app@example.org", []string{"alice@contoso.com"}, big); !strings.HasPrefix(r, "552 5.3.4") {
		t.Fatalf("over MaxMessageSize: %q", r)
	}
	c.close()
	adRights(t, d, true, false, anonymous, "ms-Exch-Bypass-Message-Size-Limit")
	adRights(t, d, true, true, anonymous, "ms-Exch-Accept-Headers-Routing")
	c = dial(t, d.addr25())
	if ehlo := c.expect("250", "EHLO app.example"); !strings.Contains(ehlo, "SIZE 65536") {
		t.Errorf("EHLO must advertise the connector's limit (the rights apply from MAIL on):\n%s", ehlo)
	}
	r := c.send("app@example.org", []string{"alice@contoso.com"}, big)
	if !strings.HasPrefix(r, "250") {
		t.Fatalf("with Bypass-Message-Size-Limit: %q", r)
	}
	c.close()
	stored := d.queued(r)
	if strings.Contains(stored, "evil.example") || strings.Contains(stored, "folded.example") {
		t.Fatalf("Received: fields kept without Accept-Headers-Routing:\n%s", stored[:min(len(stored), 600)])
	}
	if !strings.Contains(stored, "(transportd)") || !strings.Contains(stored, "Subject: big") {
		t.Fatalf("our Received: or the rest of the header is gone:\n%s", stored[:min(len(stored), 600)])
	}
}

// MaxInboundConnectionPercentagePerSource over TCP: with 10 connections
// and 20 %, one address gets 2 of the 10 free ones; the third is refused
// with 421 4.3.2 naming the setting, while another address gets in.
func TestConnectionPercentagePerSource(t *testing.T) {
	d := startDaemon(t, func(c *config.Config, d *testDaemon) {
		c.ReceiveConnectors[0].MaxInboundConnection = 10
		c.ReceiveConnectors[0].MaxInboundConnectionPercentagePerSource = 20
	})
	first := dial(t, d.addr25())
	second := dial(t, d.addr25())
	for _, c := range []*client{first, second} {
		if !strings.HasPrefix(c.Greeting, "220") {
			t.Fatalf("within the share: %q", c.Greeting)
		}
	}
	third := dial(t, d.addr25())
	if !strings.HasPrefix(third.Greeting, "421 4.3.2") || !strings.Contains(third.Greeting, "MaxInboundConnectionPercentagePerSource") {
		t.Fatalf("over the share: %q", third.Greeting)
	}
	other := dialFrom(t, "127.0.0.7", d.addr25())
	if !strings.HasPrefix(other.Greeting, "220") {
		t.Fatalf("another source: %q", other.Greeting)
	}
	other.close()
	first.close()
	second.close()
}
