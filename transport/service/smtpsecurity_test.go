package service

import (
	"strconv"
	"strings"
	"testing"

	"github.com/transportd/transportd/policies/permissions"
	"github.com/transportd/transportd/transport/admin/config"
	"github.com/transportd/transportd/transport/admin/manage"
)

// authBeforeTLS gives the Client Frontend "Tls, BasicAuth" without
// BasicAuthRequireTLS, so AUTH is offered in the clear.
func authBeforeTLS(c *config.Config, d *testDaemon) {
	for i := range c.ReceiveConnectors {
		if strings.HasPrefix(c.ReceiveConnectors[i].Name, "Client") {
			c.ReceiveConnectors[i].AuthMechanism = permissions.Mechanisms{permissions.MechTLS, permissions.MechBasicAuth}
		}
	}
}

// RFC 3207 section 4.2: everything learned before STARTTLS is discarded. A
// client that authenticated in the clear is anonymous after STARTTLS: it
// may not relay until it authenticates again, and the HELO name given in
// the clear does not end up in our Received header.
func TestAuthDoesNotSurviveSTARTTLS(t *testing.T) {
	d := startDaemon(t, authBeforeTLS)
	c := dial(t, d.addr587())
	if ehlo := c.expect("250", "EHLO cleartext.example"); !strings.Contains(ehlo, "AUTH PLAIN LOGIN") {
		t.Fatalf("AUTH not offered before TLS on Tls, BasicAuth:\n%s", ehlo)
	}
	if r := c.authPlain("alice@contoso.com", testPassword); !strings.HasPrefix(r, "235") {
		t.Fatalf("AUTH in the clear: %q", r)
	}
	c.startTLS("mail.contoso.com")
	c.expect("503 5.5.2", "MAIL FROM:<alice@contoso.com>") // Send hello first
	c.expect("250", "EHLO tls.example")
	if r := c.cmd("MAIL FROM:<alice@contoso.com>"); !strings.HasPrefix(r, "530 5.7.57") {
		t.Fatalf("MAIL after STARTTLS without a new AUTH: %q, want 530 5.7.57 (the AUTH from before TLS is gone)", r)
	}
	if r := c.cmd("RCPT TO:<bob@example.net>"); !strings.HasPrefix(r, "5") {
		t.Fatalf("relay after STARTTLS without a new AUTH: %q", r)
	}
	// A new AUTH is possible and needed.
	if r := c.authPlain("alice@contoso.com", testPassword); !strings.HasPrefix(r, "235") {
		t.Fatalf("AUTH again after STARTTLS: %q", r)
	}
	r := c.send("alice@contoso.com", []string{"bob@example.net"}, msg)
	if !strings.HasPrefix(r, "250") {
		t.Fatalf("relay after AUTH under TLS: %q", r)
	}
	stored := d.queued(r)
	if strings.Contains(stored, "cleartext.example") || !strings.Contains(stored, "from tls.example") {
		t.Fatalf("Received header must name the EHLO given under TLS only:\n%s", stored)
	}
	c.close()
}

// A transaction begun in the clear does not go on under TLS.
func TestEnvelopeDoesNotSurviveSTARTTLS(t *testing.T) {
	d := startDaemon(t, nil)
	c := dial(t, d.addr25())
	c.expect("250", "EHLO x.example")
	c.expect("250", "MAIL FROM:<a@example.net>")
	c.expect("250", "RCPT TO:<alice@contoso.com>")
	c.startTLS("mail.contoso.com")
	c.expect("250", "EHLO x.example")
	c.expect("503 5.5.2", "DATA")                        // Need rcpt command
	c.expect("503 5.5.2", "RCPT TO:<alice@contoso.com>") // Need mail command
	if r := c.send("a@example.net", []string{"alice@contoso.com"}, msg); !strings.HasPrefix(r, "250") {
		t.Fatalf("a new transaction under TLS: %q", r)
	}
	c.close()
}

// submitter is alice, logged on to the Client Frontend under TLS.
func submitter(t *testing.T, d *testDaemon) *client {
	t.Helper()
	c := dial(t, d.addr587())
	c.expect("250", "EHLO client.example")
	c.startTLS("mail.contoso.com")
	c.expect("250", "EHLO client.example")
	if r := c.authPlain("alice@contoso.com", testPassword); !strings.HasPrefix(r, "235") {
		t.Fatalf("AUTH: %q", r)
	}
	return c
}

// The Send As check covers the header: every address in From: and
// Sender: must be the user's own or granted, and refusals name the header.
func TestHeaderSenderForgeryRefused(t *testing.T) {
	d := startDaemon(t, func(c *config.Config, d *testDaemon) {
		c.Mailboxes[0].EmailAddresses = []string{"a.smith@contoso.com"}
		c.Mailboxes = append(c.Mailboxes, config.Mailbox{Name: "bob", PrimarySmtpAddress: "bob@contoso.com", Enabled: true})
	})
	c := submitter(t, d)
	const tail = "To: friend@example.org\r\nSubject: s\r\n\r\nbody\r\n"
	for _, tc := range []struct{ name, header, names string }{
		{"other mailbox", "From: Bob <bob@contoso.com>\r\n", "From:"},
		{"foreign domain", "From: CEO <ceo@microsoft.com>\r\n", "From:"},
		{"Sender forged", "From: alice@contoso.com\r\nSender: bob@contoso.com\r\n", "Sender:"},
		{"two From lines", "From: alice@contoso.com\r\nFrom: bob@contoso.com\r\n", "From:"},
		{"second address", "From: alice@contoso.com, bob@contoso.com\r\nSender: alice@contoso.com\r\n", "From:"},
		{"group", "From: all: alice@contoso.com, bob@contoso.com;\r\nSender: alice@contoso.com\r\n", "From:"},
		{"folded", "From: \"Alice\"\r\n\t<bob@contoso.com>\r\n", "From:"},
		{"lower-case name", "from: bob@contoso.com\r\n", "From:"},
		{"obsolete syntax", "From: <@relay.example:bob@contoso.com>\r\n", "From:"},
		{"empty group", "From: undisclosed-senders:;\r\n", "From:"},
	} {
		t.Run(tc.name, func(t *testing.T) {
			r := c.send("alice@contoso.com", []string{"friend@example.org"}, tc.header+tail)
			if !strings.HasPrefix(r, "550 5.7.60 ") || !strings.Contains(r, tc.names) {
				t.Fatalf("got %q, want 550 5.7.60 naming %s", r, tc.names)
			}
			c.expect("250", "RSET")
		})
	}
	// The null sender is the server's, for DSNs.
	if r := c.cmd("MAIL FROM:<>"); !strings.HasPrefix(r, "550 5.7.60 ") {
		t.Fatalf("MAIL FROM:<> after AUTH: %q", r)
	}
	// Own addresses pass, primary and proxy, with the envelope of either.
	for _, h := range []string{
		"From: Alice <alice@contoso.com>\r\n",
		"From: =?utf-8?q?Al=C3=AFce?= <A.Smith@Contoso.com>\r\nSender: alice@contoso.com\r\n",
		"From: alice@contoso.com, a.smith@contoso.com\r\nSender: alice@contoso.com\r\n",
	} {
		r := c.send("a.smith@contoso.com", []string{"friend@example.org"}, h+tail)
		if !strings.HasPrefix(r, "250") {
			t.Fatalf("own address %q: %q", h, r)
		}
		if stored := d.queued(r); !strings.Contains(stored, h) {
			t.Fatalf("stored message lacks its header %q:\n%s", h, stored)
		}
	}
	c.close()
	// Anonymous senders on the Default Frontend are not held to it: they
	// own no address.
	a := dial(t, d.addr25())
	a.expect("250", "EHLO x.example")
	if r := a.send("news@example.net", []string{"bob@contoso.com"}, "From: news@example.net\r\n"+tail); !strings.HasPrefix(r, "250") {
		t.Fatalf("anonymous inbound mail: %q", r)
	}
}

// An administrator grants Send As (Add-ADPermission -ExtendedRights
// "Send As"); the running daemon applies it, in the header and the
// envelope, and applies its removal.
func TestSendAsGrantAppliesLive(t *testing.T) {
	d := startDaemon(t, func(c *config.Config, d *testDaemon) {
		c.Mailboxes = append(c.Mailboxes, config.Mailbox{Name: "noreply", PrimarySmtpAddress: "noreply@contoso.com", Enabled: true})
	})
	const body = "From: Notifications <noreply@contoso.com>\r\nSender: alice@contoso.com\r\nSubject: s\r\n\r\nbody\r\n"
	c := submitter(t, d)
	if r := c.send("alice@contoso.com", []string{"friend@example.org"}, body); !strings.HasPrefix(r, "550 5.7.60 ") || !strings.Contains(r, "noreply@contoso.com (header From:)") {
		t.Fatalf("before the grant: %q", r)
	}
	c.expect("250", "RSET")
	c.expect("550 5.7.60", "MAIL FROM:<noreply@contoso.com>")

	m := &manage.Manager{ConfigPath: d.cfgPath}
	if _, err := m.SetADPermission([]string{"noreply"}, "alice", []string{"Send As"}, true); err != nil {
		t.Fatal(err)
	}
	d.waitReload()
	// The open session sees the grant: the directory is live.
	if r := c.send("alice@contoso.com", []string{"friend@example.org"}, body); !strings.HasPrefix(r, "250") {
		t.Fatalf("granted From: %q", r)
	}
	if r := c.send("noreply@contoso.com", []string{"friend@example.org"}, "From: noreply@contoso.com\r\n\r\nx\r\n"); !strings.HasPrefix(r, "250") {
		t.Fatalf("granted envelope and From: %q", r)
	}
	// A grant on noreply is not a grant on anyone else.
	if r := c.send("alice@contoso.com", []string{"friend@example.org"}, "From: bob@contoso.com\r\n\r\nx\r\n"); !strings.HasPrefix(r, "550 5.7.60") {
		t.Fatalf("ungranted From: %q", r)
	}
	c.expect("250", "RSET")

	if _, err := m.SetADPermission([]string{"noreply"}, "alice@contoso.com", []string{"Send As"}, false); err != nil {
		t.Fatal(err)
	}
	d.waitReload()
	if r := c.send("alice@contoso.com", []string{"friend@example.org"}, body); !strings.HasPrefix(r, "550 5.7.60") {
		t.Fatalf("after Remove-ADPermission: %q", r)
	}
	c.close()
}

// swaks, a real client, forging the header after a good envelope.
func TestInteropSwaksHeaderForgery(t *testing.T) {
	swaks := needTool(t, "swaks", "swaks")
	d := startDaemon(t, nil)
	base := []string{"--server", "127.0.0.1", "--port", strconv.Itoa(d.port587), "--tls", "--auth", "PLAIN",
		"--auth-user", "alice@contoso.com", "--auth-password", testPassword, "--from", "alice@contoso.com", "--to", "friend@example.org"}
	out, err := runTool(t, "", swaks, append(base, "--header", "From: CEO <ceo@microsoft.com>")...)
	if err == nil || !strings.Contains(out, "550 5.7.60") || !strings.Contains(out, "header From:") {
		t.Fatalf("forged From: accepted or refused without naming it (err %v):\n%s", err, out)
	}
	if out, err := runTool(t, "", swaks, append(base, "--header", "From: Alice <alice@contoso.com>")...); err != nil || !strings.Contains(out, "250 2.6.0") {
		t.Fatalf("own From: (err %v):\n%s", err, out)
	}
}
