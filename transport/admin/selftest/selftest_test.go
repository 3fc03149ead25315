package selftest

import (
	"bufio"
	"context"
	"net"
	"net/netip"
	"strings"
	"testing"
	"time"

	"github.com/transportd/transportd/connector"
	"github.com/transportd/transportd/transport/admin/config"
)

// fakeServer answers one connection on loopback with a scripted SMTP
// server: greeting, then reply(command) for each command.
func fakeServer(t *testing.T, greeting string, reply func(cmd string) string) string {
	t.Helper()
	l, err := net.Listen("tcp4", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { l.Close() })
	go func() {
		c, err := l.Accept()
		if err != nil {
			return
		}
		defer c.Close()
		c.SetDeadline(time.Now().Add(10 * time.Second))
		c.Write([]byte(greeting + "\r\n"))
		r := bufio.NewReader(c)
		for {
			line, err := r.ReadString('\n')
			if err != nil {
				return
			}
			c.Write([]byte(reply(strings.TrimRight(line, "\r\n")) + "\r\n"))
		}
	}()
	return l.Addr().String()
}

func statuses(steps []Step) map[string]Step {
	m := map[string]Step{}
	for _, s := range steps {
		m[s.Name] = s
	}
	return m
}

func TestNoSTARTTLS(t *testing.T) {
	addr := fakeServer(t, "220 other.example ESMTP", func(cmd string) string {
		switch {
		case strings.HasPrefix(cmd, "EHLO [127.0.0.1]"):
			return "250-other.example\r\n250-SIZE 1000\r\n250 AUTH PLAIN"
		case cmd == "QUIT":
			return "221 bye"
		}
		return "500 what?"
	})
	steps := Run(context.Background(), Options{Address: addr, Fqdn: "mail.contoso.com"})
	m := statuses(steps)
	if s := m["Greeting"]; s.Status != Fail || !strings.Contains(s.Detail, "does not name mail.contoso.com") {
		t.Errorf("Greeting: %+v", s)
	}
	if s := m["STARTTLS offered"]; s.Status != Fail || !strings.Contains(s.Detail, "in the clear") {
		t.Errorf("STARTTLS offered: %+v", s)
	}
	if s := m["AUTH offered"]; s.Status != Pass {
		t.Errorf("AUTH offered: %+v", s)
	}
	if !Failed(steps) {
		t.Error("not failed")
	}
	var b strings.Builder
	Format(&b, steps)
	if !strings.Contains(b.String(), "FAIL  STARTTLS offered  STARTTLS is not in the EHLO reply") {
		t.Errorf("format:\n%s", b.String())
	}
}

func TestRefusedGreetingAndOptionalTLS(t *testing.T) {
	addr := fakeServer(t, "554 5.7.1 go away", func(string) string { return "221 bye" })
	steps := Run(context.Background(), Options{Address: addr})
	if len(steps) != 2 || steps[1].Status != Fail || !strings.Contains(steps[1].Detail, "554 5.7.1 go away") {
		t.Errorf("steps %+v", steps)
	}

	addr = fakeServer(t, "220 relay.contoso.com ready", func(cmd string) string {
		if strings.HasPrefix(cmd, "EHLO") {
			return "250-relay.contoso.com\r\n250 8BITMIME"
		}
		return "221 bye"
	})
	steps = Run(context.Background(), Options{Address: addr, TLSOptional: true, AuthOptional: true})
	m := statuses(steps)
	if s := m["Greeting"]; s.Status != Pass || !strings.Contains(s.Detail, `"relay.contoso.com"`) {
		t.Errorf("Greeting without -fqdn: %+v", s)
	}
	if m["STARTTLS offered"].Status != Warn || m["AUTH offered"].Status != Warn || Failed(steps) {
		t.Errorf("optional TLS and AUTH: %+v", steps)
	}
}

func TestForConnectorAddresses(t *testing.T) {
	cfg := config.Defaults("mail.contoso.com")
	cfg.Mailboxes = []config.Mailbox{{Name: "alice", PrimarySmtpAddress: "Alice@Contoso.com", Enabled: true}}
	rc := connector.New("x", connector.UsageClient, "mail.contoso.com")
	for binding, want := range map[string]string{"0.0.0.0:587": "127.0.0.1:587", "[::]:587": "[::1]:587", "192.0.2.1:2525": "192.0.2.1:2525"} {
		rc.Bindings = []netip.AddrPort{netip.MustParseAddrPort(binding)}
		o, err := ForConnector(cfg, &rc, "")
		if err != nil || o.Address != want || o.Fqdn != "mail.contoso.com" || o.TLSOptional || o.AuthOptional {
			t.Errorf("%s: %+v %v", binding, o, err)
		}
	}
	o, err := ForConnector(cfg, &rc, "ALICE")
	if err != nil || o.Mailbox != "Alice@Contoso.com" || !strings.HasSuffix(o.Maildir, "data/mailboxes/alice@contoso.com/Maildir") {
		t.Errorf("mailbox by name: %+v %v", o, err)
	}
	cfg.Transport.MailboxDeliveryLmtpServer = "127.0.0.1:24"
	if o, _ := ForConnector(cfg, &rc, "alice@contoso.com"); o.Maildir != "" || !strings.Contains(o.NoDeliveryCheck, "LMTP") {
		t.Errorf("LMTP: %+v", o)
	}
	if _, err := ForConnector(cfg, &rc, "bob"); err == nil {
		t.Error("unknown mailbox accepted")
	}
}
