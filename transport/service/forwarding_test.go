package service

import (
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/transportd/transportd/transport/admin/config"
)

// Set-Mailbox forwarding done by the transport: bob's mail goes to the
// smart host for bob@fabrikam.com with the original envelope sender and a
// Received: line naming the forwarding, and stays in bob's mailbox too
// (DeliverToMailboxAndForward); carol and dave forward to each other only,
// and the loop ends in a 5.4.6 DSN to the sender after MaxHopCount hops
// instead of going round for ever.
func TestMailboxForwarding(t *testing.T) {
	d := startDaemon(t, func(c *config.Config, d *testDaemon) {
		c.Mailboxes = append(c.Mailboxes,
			config.Mailbox{Name: "bob", PrimarySmtpAddress: "bob@contoso.com", Enabled: true, ForwardingSmtpAddress: "bob@fabrikam.com", DeliverToMailboxAndForward: true},
			config.Mailbox{Name: "carol", PrimarySmtpAddress: "carol@contoso.com", Enabled: true, ForwardingAddress: "dave"},
			config.Mailbox{Name: "dave", PrimarySmtpAddress: "dave@contoso.com", Enabled: true, ForwardingAddress: "carol@contoso.com"})
	})
	r := d.submit(t, []string{"bob@contoso.com"}, "Subject: for bob\r\n\r\nhello bob\r\n")
	if got := d.delivered(r); !strings.Contains(got, "hello bob") {
		t.Errorf("bob's copy: %q", got)
	}
	select {
	case m := <-d.sink.got:
		if m.from != "alice@contoso.com" || len(m.to) != 1 || m.to[0] != "bob@fabrikam.com" {
			t.Errorf("forwarded envelope: from %q to %q", m.from, m.to)
		}
		if !strings.Contains(m.data, "with forwarding id") || !strings.Contains(m.data, "hello bob") {
			t.Errorf("forwarded message:\n%s", m.data)
		}
	case <-time.After(20 * time.Second):
		t.Fatal("nothing forwarded to bob@fabrikam.com")
	}

	d.submit(t, []string{"carol@contoso.com"}, "Subject: loop\r\n\r\ngoing round\r\n")
	deadline := time.Now().Add(30 * time.Second)
	for d.findInMaildirs("5.4.6") == "" {
		if time.Now().After(deadline) {
			t.Fatal("no 5.4.6 DSN for the forwarding loop in alice's mailbox")
		}
		time.Sleep(20 * time.Millisecond) // polling the Maildir as a mail client would
	}
	dsn := d.findInMaildirs("5.4.6")
	if !strings.Contains(dsn, "forwarding loop") {
		t.Errorf("DSN does not say why:\n%s", dsn)
	}
	for _, who := range []string{"carol", "dave"} {
		dir := filepath.Join(d.svc.Config().DataDir(), "mailboxes", who+"@contoso.com", "Maildir", "new")
		if left, _ := os.ReadDir(dir); len(left) != 0 {
			t.Errorf("%s kept %d copies without DeliverToMailboxAndForward", who, len(left))
		}
	}
}
