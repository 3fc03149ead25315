package service

import (
	"strings"
	"testing"

	"github.com/transportd/transportd/transport/admin/config"
)

// TestUndeliverableMailboxAddressesRefusedAtRcpt: an address whose mailbox
// folder could never be created is refused at RCPT with 501 5.1.3 and the
// reason, not accepted with 250 and deferred until it expires (issue 8
// item 8). The mailbox with such an address stands for one in an older
// mailboxes.yaml, written before mailbox new checked addresses.
func TestUndeliverableMailboxAddressesRefusedAtRcpt(t *testing.T) {
	d := startDaemon(t, func(c *config.Config, _ *testDaemon) {
		c.Mailboxes = append(c.Mailboxes, config.Mailbox{Name: "slash", PrimarySmtpAddress: "a/b@contoso.com",
			EmailAddresses: []string{"slash@contoso.com"}, Enabled: true})
	})
	c := dial(t, d.addr25())
	c.expect("250", "EHLO sender.example")
	c.expect("250", "MAIL FROM:<someone@example.net>")
	for _, tc := range []struct{ rcpt, want, reason string }{
		{"a/b@contoso.com", "501 5.1.3", "'/' is not allowed"},
		{"x/../../etc@contoso.com", "501 5.1.3", "two dots"},
		{"x/etc@contoso.com", "501 5.1.3", "'/' is not allowed"},
		{"slash@contoso.com", "550 5.1.1", "no mailbox here"}, // its mailbox cannot be stored, so it is not there
		{"x@../contoso.com", "501 5.1.3", "empty label"},
		{`"../x"@contoso.com`, "501 5.1.3", "starts with a dot"}, // go-smtp hands the path over unquoted
		{"../x@contoso.com", "501 5.1.3", "starts with a dot"},
		{"a/b@fabrikam.com", "250", ""}, // ExternalRelay: '/' is fine for a remote mailbox
		{"alice@contoso.com", "250", ""},
	} {
		r := c.cmd("RCPT TO:<%s>", tc.rcpt)
		if !strings.HasPrefix(r, tc.want) || !strings.Contains(r, tc.reason) {
			t.Errorf("RCPT %s: got %q, want %s ... %s", tc.rcpt, r, tc.want, tc.reason)
		}
	}
}
