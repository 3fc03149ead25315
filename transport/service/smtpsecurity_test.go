package service

import (
	"strings"
	"testing"

	"github.com/transportd/transportd/policies/permissions"
	"github.com/transportd/transportd/transport/config"
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
	c.expect("503 5.5.1", "MAIL FROM:<alice@contoso.com>") // EHLO first
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
	c.expect("502 5.5.1", "DATA")                        // go-smtp: Missing RCPT TO
	c.expect("502 5.5.1", "RCPT TO:<alice@contoso.com>") // go-smtp: Missing MAIL FROM
	if r := c.send("a@example.net", []string{"alice@contoso.com"}, msg); !strings.HasPrefix(r, "250") {
		t.Fatalf("a new transaction under TLS: %q", r)
	}
	c.close()
}
