package service

import (
	"fmt"
	"net/netip"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/transportd/transportd/connector"
	"github.com/transportd/transportd/policies/permissions"
	"github.com/transportd/transportd/policies/value"
	"github.com/transportd/transportd/transport/admin/config"
	"github.com/transportd/transportd/transport/admin/manage"
)

const msg = "From: alice@contoso.com\r\nTo: bob@example.net\r\nSubject: test\r\n\r\nHello.\r\n"

func TestGreetingAndEHLO(t *testing.T) {
	d := startDaemon(t, nil)
	for _, tc := range []struct {
		addr           string
		authBeforeTLS  bool
		authAfterTLS   bool
		connectorLabel string
	}{
		{d.addr25(), false, false, "Default Frontend"},
		{d.addr587(), false, true, "Client Frontend"},
	} {
		t.Run(tc.connectorLabel, func(t *testing.T) {
			c := dial(t, tc.addr)
			if !strings.HasPrefix(c.Greeting, "220 mail.contoso.com ") {
				t.Fatalf("greeting %q does not name the FQDN", c.Greeting)
			}
			ehlo := c.expect("250", "EHLO client.example")
			first := strings.SplitN(ehlo, "\n", 2)[0]
			if !strings.HasPrefix(first, "250-mail.contoso.com Hello [127.0.0.1]") {
				t.Fatalf("EHLO first line %q must carry our FQDN (RFC 5321 4.1.1.1)", first)
			}
			for _, cap := range []string{"STARTTLS", "SIZE 37748736", "PIPELINING", "ENHANCEDSTATUSCODES", "8BITMIME"} {
				if !strings.Contains(ehlo, cap) {
					t.Errorf("EHLO lacks %s:\n%s", cap, ehlo)
				}
			}
			if got := strings.Contains(ehlo, "AUTH"); got != tc.authBeforeTLS {
				t.Errorf("AUTH before STARTTLS advertised = %v:\n%s", got, ehlo)
			}
			if r := c.cmd("AUTH PLAIN AGFsaWNlAHg="); tc.authBeforeTLS == false && !strings.HasPrefix(r, "5") {
				t.Errorf("AUTH before TLS accepted: %q", r)
			}
			st := c.startTLS("mail.contoso.com")
			if st.Version < 0x0303 {
				t.Errorf("TLS version %x below 1.2", st.Version)
			}
			if cn := leafOf(st).Subject.CommonName; cn != connector.HostFQDN() {
				t.Logf("served certificate CN %q (default self-signed is for the host name)", cn)
			}
			ehlo = c.expect("250", "EHLO client.example")
			if strings.Contains(ehlo, "STARTTLS") {
				t.Errorf("STARTTLS advertised again after TLS:\n%s", ehlo)
			}
			if got := strings.Contains(ehlo, "AUTH PLAIN LOGIN"); got != tc.authAfterTLS {
				t.Errorf("AUTH PLAIN LOGIN after STARTTLS advertised = %v:\n%s", got, ehlo)
			}
			c.close()
		})
	}
}

func TestClientFrontendSubmission(t *testing.T) {
	d := startDaemon(t, nil)
	for _, mech := range []string{"PLAIN", "LOGIN"} {
		t.Run(mech, func(t *testing.T) {
			c := dial(t, d.addr587())
			c.expect("250", "EHLO client.example")
			// Anonymous submission on 587 is refused with the reason.
			if r := c.cmd("MAIL FROM:<alice@contoso.com>"); !strings.HasPrefix(r, "530 5.7.") {
				t.Fatalf("anonymous MAIL on the client connector: %q", r)
			}
			c.startTLS("mail.contoso.com")
			c.expect("250", "EHLO client.example")
			var r string
			if mech == "PLAIN" {
				r = c.authPlain("alice@contoso.com", testPassword)
			} else {
				r = c.authLogin("alice", testPassword)
			}
			if !strings.HasPrefix(r, "235 2.7.0") {
				t.Fatalf("AUTH %s: %q", mech, r)
			}
			r = c.send("alice@contoso.com", []string{"bob@example.net"}, msg)
			if !strings.HasPrefix(r, "250 2.6.0 <") {
				t.Fatalf("submission: %q", r)
			}
			stored := d.queued(r)
			if !strings.HasPrefix(stored, "Received: from client.example ([127.0.0.1])") || !strings.Contains(stored, "with ESMTPSA") {
				t.Errorf("stored message lacks our Received header:\n%s", stored)
			}
			if !strings.HasSuffix(stored, msg) {
				t.Errorf("stored body differs:\n%q", stored)
			}
			c.close()
		})
	}
}

func TestWrongPasswordTarpitAndDisconnect(t *testing.T) {
	d := startDaemon(t, nil)
	c := dial(t, d.addr587())
	c.expect("250", "EHLO client.example")
	c.startTLS("mail.contoso.com")
	c.expect("250", "EHLO client.example")
	for i := 1; i < 3; i++ {
		if r := c.authPlain("alice@contoso.com", "wrong"); !strings.HasPrefix(r, "535 5.7.8") {
			t.Fatalf("wrong password %d: %q", i, r)
		}
	}
	if r := c.authLogin("alice@contoso.com", "wrong"); !strings.HasPrefix(r, "421 4.7.0") {
		t.Fatalf("third wrong password (MaxLogonFailures 3): %q", r)
	}
	if r := c.reply(); r != "EOF" {
		t.Fatalf("connection still open after MaxLogonFailures: %q", r)
	}
	// Unknown users get the same answer as wrong passwords.
	c = dial(t, d.addr587())
	c.expect("250", "EHLO client.example")
	c.startTLS("mail.contoso.com")
	c.expect("250", "EHLO client.example")
	if r := c.authPlain("nobody@contoso.com", "x"); !strings.HasPrefix(r, "535 5.7.8") {
		t.Fatalf("unknown user: %q", r)
	}
}

func TestDefaultFrontendAcceptedDomainsOnly(t *testing.T) {
	d := startDaemon(t, nil)
	c := dial(t, d.addr25())
	c.expect("250", "EHLO sender.example")
	c.expect("250", "MAIL FROM:<someone@example.net>")
	for _, tc := range []struct{ rcpt, want string }{
		{"alice@contoso.com", "250"},
		{"ALICE@Contoso.COM", "250"},
		{"nobody@contoso.com", "550 5.1.1"},
		{"anyone@fabrikam.com", "250"}, // ExternalRelay accepted domain
		{"victim@example.org", "550 5.7.54"},
		// Address tricks must never turn into relay.
		{"victim%example.org@contoso.com", "501 5.1.3"},
		{"example.org!victim@contoso.com", "501 5.1.3"},
		{"@contoso.com:victim@example.org", "5"},
		{`"victim@example.org"@contoso.com`, "501 5.1.3"},
		{"alice@contoso.com.", "501 5.1.3"},
		{"victim@[127.0.0.1]", "501 5.1.3"},
		{"victim@example.org.", "501 5.1.3"},
	} {
		if r := c.cmd("RCPT TO:<%s>", tc.rcpt); !strings.HasPrefix(r, tc.want) {
			t.Errorf("RCPT %s: got %q, want %s", tc.rcpt, r, tc.want)
		}
	}
	r := c.cmd("DATA")
	if !strings.HasPrefix(r, "354") {
		t.Fatalf("DATA: %q", r)
	}
	fmt.Fprint(c.conn, msg)
	r = c.cmd(".")
	if !strings.HasPrefix(r, "250") {
		t.Fatalf("end of data: %q", r)
	}
	stored := d.queued(r)
	if !strings.Contains(stored, "with ESMTP\r\n") && !strings.Contains(stored, "with ESMTP ") {
		t.Errorf("Received header protocol: %q", stored[:200])
	}
}

func TestAuthenticatedRelayAnywhere(t *testing.T) {
	d := startDaemon(t, nil)
	c := dial(t, d.addr587())
	c.expect("250", "EHLO client.example")
	c.startTLS("mail.contoso.com")
	c.expect("250", "EHLO client.example")
	c.authPlain("alice@contoso.com", testPassword)
	c.expect("250", "MAIL FROM:<alice@contoso.com>")
	c.expect("250", "RCPT TO:<someone@example.org>")
	c.expect("501 5.1.3", "RCPT TO:<a%%b@example.org>")
}

// An "Anonymous Relay" connector shares the port with the Default Frontend
// and takes only 127.0.0.2, as in Microsoft's recipe.
func TestAnonymousRelayByRemoteIPRange(t *testing.T) {
	d := startDaemon(t, func(c *config.Config, d *testDaemon) {
		relay := connector.New("Anonymous Relay", connector.UsageCustom, "relay.contoso.com")
		relay.Bindings = []netip.AddrPort{netip.MustParseAddrPort(d.addr25())}
		relay.RemoteIPRanges = mustRange("127.0.0.2")
		relay.PermissionGroups = permissions.Groups{"AnonymousUsers"}
		relay.AnonymousRelay = true
		c.ReceiveConnectors = append(c.ReceiveConnectors, relay)
	})
	// From 127.0.0.2: the relay connector (its own FQDN), relay allowed.
	c := dialFrom(t, "127.0.0.2", d.addr25())
	if !strings.HasPrefix(c.Greeting, "220 relay.contoso.com") {
		t.Fatalf("127.0.0.2 should reach the Anonymous Relay connector, greeting %q", c.Greeting)
	}
	c.expect("250", "EHLO printer.local")
	if r := c.send("scanner@contoso.com", []string{"someone@example.org"}, msg); !strings.HasPrefix(r, "250") {
		t.Fatalf("relay from the allowed IP: %q", r)
	}
	// From 127.0.0.1: the Default Frontend, relay refused.
	c = dial(t, d.addr25())
	if !strings.HasPrefix(c.Greeting, "220 mail.contoso.com") {
		t.Fatalf("127.0.0.1 should reach the Default Frontend, greeting %q", c.Greeting)
	}
	c.expect("250", "EHLO printer.local")
	c.expect("250", "MAIL FROM:<scanner@contoso.com>")
	c.expect("550 5.7.54", "RCPT TO:<someone@example.org>")
}

func TestCustomConnectorAcceptsNothingUntilPermissionGroups(t *testing.T) {
	d := startDaemon(t, func(c *config.Config, d *testDaemon) {
		cu := connector.New("Custom one", connector.UsageCustom, "custom.contoso.com")
		cu.Bindings = []netip.AddrPort{netip.MustParseAddrPort(d.addr25())}
		cu.RemoteIPRanges = mustRange("127.0.0.3")
		c.ReceiveConnectors = append(c.ReceiveConnectors, cu)
	})
	c := dialFrom(t, "127.0.0.3", d.addr25())
	c.expect("250", "EHLO x.example")
	c.expect("530 5.7.1", "MAIL FROM:<a@example.net>")
}

func TestSizeRecipientsAndConnectionLimits(t *testing.T) {
	d := startDaemon(t, func(c *config.Config, d *testDaemon) {
		for i := range c.ReceiveConnectors {
			rc := &c.ReceiveConnectors[i]
			rc.MaxMessageSize = 64 * value.KB
			rc.MaxRecipientsPerMessage = 2
			rc.MaxInboundConnectionPerSource = 2
		}
	})
	c := dial(t, d.addr25())
	c.expect("250", "EHLO x.example")
	c.expect("552 5.3.4", "MAIL FROM:<a@example.net> SIZE=100000")
	c.expect("250", "MAIL FROM:<a@example.net> SIZE=1000")
	c.expect("250", "RCPT TO:<alice@contoso.com>")
	c.expect("250", "RCPT TO:<alice@contoso.com>")
	c.expect("452 4.5.3", "RCPT TO:<alice@contoso.com>")
	c.expect("354", "DATA")
	big := "Subject: big\r\n\r\n" + strings.Repeat(strings.Repeat("z", 78)+"\r\n", 1000)
	fmt.Fprint(c.conn, big)
	c.expect("552 5.3.4", ".")
	// The session survives and can send a normal message.
	if r := c.send("a@example.net", []string{"alice@contoso.com"}, msg); !strings.HasPrefix(r, "250") {
		t.Fatalf("after a too large message: %q", r)
	}
	// c is one connection; a second fits, a third is refused, and a slot
	// frees up when one closes.
	c2 := dial(t, d.addr25())
	if !strings.HasPrefix(c2.Greeting, "220") {
		t.Fatalf("second connection: %q", c2.Greeting)
	}
	c3 := dial(t, d.addr25())
	if !strings.HasPrefix(c3.Greeting, "421 4.3.2") {
		t.Fatalf("third connection from one source: %q", c3.Greeting)
	}
	c2.close()
	c2.reply() // wait for the server to close its side
	var c4 *client
	for i := 0; i < 200; i++ { // the slot frees when the server side has closed
		c4 = dial(t, d.addr25())
		if strings.HasPrefix(c4.Greeting, "220") {
			break
		}
	}
	if !strings.HasPrefix(c4.Greeting, "220") {
		t.Fatalf("slot not freed after close: %q", c4.Greeting)
	}
}

func TestBareLFAndSmuggling(t *testing.T) {
	d := startDaemon(t, nil)
	c := dial(t, d.addr25())
	c.expect("250", "EHLO x.example")
	// A smuggling attempt: a forged second message behind <LF>.<LF>.
	c.expect("250", "MAIL FROM:<a@example.net>")
	c.expect("250", "RCPT TO:<alice@contoso.com>")
	c.expect("354", "DATA")
	fmt.Fprint(c.conn, "Subject: a\r\n\r\nfirst\n.\nMAIL FROM:<ceo@contoso.com>\r\nRCPT TO:<alice@contoso.com>\r\nDATA\r\nforged\r\n")
	c.expect("550 5.6.11", ".")
	// Bare LF elsewhere is normalised to CRLF in what we store.
	r := c.send("a@example.net", []string{"someone@fabrikam.com"}, "Subject: b\n\nline1\nline2\n\r\n")
	if !strings.HasPrefix(r, "250") {
		t.Fatalf("bare LF message: %q", r)
	}
	stored := d.queued(r)
	if strings.Contains(strings.ReplaceAll(stored, "\r\n", ""), "\n") {
		t.Fatalf("stored message keeps a bare LF: %q", stored)
	}
	if !strings.HasSuffix(stored, "Subject: b\r\n\r\nline1\r\nline2\r\n\r\n") {
		t.Fatalf("stored: %q", stored)
	}
}

func TestGarbageAndLongLinesDoNotHurt(t *testing.T) {
	d := startDaemon(t, nil)
	c := dial(t, d.addr25())
	fmt.Fprint(c.conn, strings.Repeat("A", 100000)+"\r\n")
	if r := c.reply(); !strings.HasPrefix(r, "500 5.5.2") {
		t.Fatalf("over-long command line: %q", r)
	}
	c = dial(t, d.addr25())
	c.conn.Write([]byte("\x00\xff\xfe\x01binary\x00garbage\r\n"))
	if r := c.reply(); !strings.HasPrefix(r, "500 5.3.3") { // Exchange: Unrecognized command
		t.Fatalf("binary garbage: %q", r)
	}
	// Still serving.
	c = dial(t, d.addr25())
	c.expect("250", "EHLO x.example")
	if r := c.send("a@example.net", []string{"alice@contoso.com"}, msg); !strings.HasPrefix(r, "250") {
		t.Fatalf("after garbage: %q", r)
	}
}

func TestPipelinedDataAfterSTARTTLSIsDiscarded(t *testing.T) {
	d := startDaemon(t, nil)
	c := dial(t, d.addr25())
	c.expect("250", "EHLO x.example")
	// CVE-2011-0411: commands sent in the clear together with STARTTLS
	// must not be executed inside the TLS session.
	fmt.Fprint(c.conn, "STARTTLS\r\nMAIL FROM:<evil@example.net>\r\n")
	c.startTLSAfterPipelined("mail.contoso.com")
	c.expect("250", "EHLO x.example")
	c.expect("50", "RCPT TO:<alice@contoso.com>")
}

// A live -Fqdn change reaches new sessions while an open session goes on
// with the settings it started with.
func TestLiveFqdnChangeKeepsOpenSessions(t *testing.T) {
	d := startDaemon(t, nil)
	old := dial(t, d.addr587())
	old.expect("250-mail.contoso.com", "EHLO before.example")

	m := &manage.Manager{ConfigPath: d.cfgPath}
	// No certificate covers the new name, so STARTTLS goes: -Force says that is meant.
	n, err := m.SetConnectors("Client Frontend*", manage.Params{{Name: "fqdn", Value: "smtp.contoso.com"}, {Name: "Force", Switch: true}})
	if err != nil || n != 1 {
		t.Fatalf("set -fqdn: n=%d err=%v", n, err)
	}
	d.waitReload()

	fresh := dial(t, d.addr587())
	if !strings.HasPrefix(fresh.Greeting, "220 smtp.contoso.com") {
		t.Fatalf("new session greeting %q, want the new FQDN", fresh.Greeting)
	}
	fresh.expect("250-smtp.contoso.com", "EHLO after.example")
	// The old session is still open and still works.
	old.expect("250-mail.contoso.com", "EHLO before.example")
	old.startTLS("mail.contoso.com")
	old.expect("250", "EHLO before.example")
	if r := old.authPlain("alice", testPassword); !strings.HasPrefix(r, "235") {
		t.Fatalf("old session auth: %q", r)
	}
	if r := old.send("alice@contoso.com", []string{"x@example.org"}, msg); !strings.HasPrefix(r, "250") {
		t.Fatalf("old session send: %q", r)
	}
}

func TestConcurrentSessions(t *testing.T) {
	d := startDaemon(t, nil)
	var wg sync.WaitGroup
	errs := make(chan string, 10)
	for i := 0; i < 10; i++ {
		wg.Add(1)
		go func() {
			defer wg.Done()
			c := dial(t, d.addr25())
			c.cmd("EHLO x.example")
			if r := c.send("a@example.net", []string{"alice@contoso.com"}, msg); !strings.HasPrefix(r, "250") {
				errs <- r
			}
			c.close()
		}()
	}
	wg.Wait()
	close(errs)
	for e := range errs {
		t.Error(e)
	}
}

func TestSendAsOwnAddressesOnly(t *testing.T) {
	d := startDaemon(t, nil)
	c := dial(t, d.addr587())
	c.expect("250", "EHLO client.example")
	c.startTLS("mail.contoso.com")
	c.expect("250", "EHLO client.example")
	c.expect("235", "AUTH PLAIN %s", "AGFsaWNlAFMzY3JldC1wYXNzIQ==")
	c.expect("550 5.7.60", "MAIL FROM:<ceo@contoso.com>")
	c.expect("550 5.7.60", "MAIL FROM:<>") // DSNs are the server's job
	c.expect("250", "MAIL FROM:<Alice@Contoso.com>")
}

func TestPostmasterWithoutDomain(t *testing.T) {
	d := startDaemon(t, func(c *config.Config, d *testDaemon) {
		c.Mailboxes = append(c.Mailboxes, config.Mailbox{Name: "postmaster", PrimarySmtpAddress: "postmaster@contoso.com", Enabled: true})
	})
	c := dial(t, d.addr25())
	c.expect("250", "EHLO x.example")
	c.expect("250", "MAIL FROM:<a@example.net>")
	c.expect("250", "RCPT TO:<Postmaster>")
}

func TestTotalConnectionCapAndInactivityTimeout(t *testing.T) {
	d := startDaemon(t, func(c *config.Config, d *testDaemon) {
		c.ReceiveConnectors[0].MaxInboundConnection = 1
		c.ReceiveConnectors[0].ConnectionInactivityTimeout = value.TimeSpan(300 * time.Millisecond)
		c.ReceiveConnectors[0].ConnectionTimeout = value.TimeSpan(time.Minute)
	})
	first := dial(t, d.addr25())
	second := dialFrom(t, "127.0.0.5", d.addr25())
	if !strings.HasPrefix(second.Greeting, "421 4.3.2") {
		t.Fatalf("second connection over MaxInboundConnection 1: %q", second.Greeting)
	}
	// A silent client is dropped with a 421 after ConnectionInactivityTimeout.
	if r := first.reply(); !strings.HasPrefix(r, "421 4.4.2") {
		t.Fatalf("idle client: %q", r)
	}
	if r := first.reply(); r != "EOF" {
		t.Fatalf("idle client still connected: %q", r)
	}
}

// Message lines that look like commands are data, not commands: the shim
// in front of go-smtp must track DATA exactly.
func TestCommandLikeLinesInsideData(t *testing.T) {
	d := startDaemon(t, nil)
	c := dial(t, d.addr25())
	c.expect("250", "EHLO x.example")
	body := "Subject: tricky\r\n\r\nSTARTTLS\r\nBDAT 10 LAST\r\nEHLO evil\r\n..leading dot\r\n.\r\n"
	c.expect("250", "MAIL FROM:<a@example.net>")
	c.expect("250", "RCPT TO:<someone@fabrikam.com>")
	c.expect("354", "DATA")
	fmt.Fprint(c.conn, body[:len(body)-3])
	r := c.cmd(".")
	if !strings.HasPrefix(r, "250") {
		t.Fatalf("end of data: %q", r)
	}
	if stored := d.queued(r); !strings.HasSuffix(stored, "STARTTLS\r\nBDAT 10 LAST\r\nEHLO evil\r\n.leading dot\r\n") {
		t.Fatalf("stored: %q", stored)
	}
	c.expect("250", "NOOP")
}
