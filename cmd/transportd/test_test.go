package main

import (
	"context"
	"io"
	"log/slog"
	"net"
	"net/netip"
	"strings"
	"testing"
	"time"

	"github.com/transportd/transportd/policies/value"
	"github.com/transportd/transportd/transport/admin/config"
	"github.com/transportd/transportd/transport/service"
)

func TestConnectorGetClientSettings(t *testing.T) {
	path := newConfig(t)
	if _, err := config.Update(path, func(c *config.Config) error {
		c.ClientSettings.ImapServer = "imap.contoso.com"
		return nil
	}); err != nil {
		t.Fatal(err)
	}
	ok(t, path, "", "connector", "set", "-identity", "Client Frontend*", "-advertiseclientsettings", "$true")
	out := ok(t, path, "", "connector", "get", "-identity", "Client Frontend*", "-clientsettings")
	for name, want := range map[string]string{
		"Connector": "Client Frontend MAIL", "AdvertiseClientSettings": "True", "DomainName": "contoso.com",
		"SMTP server": "mail.contoso.com", "SMTP port": "587", "SMTP encryption": "STARTTLS",
		"IMAP server": "imap.contoso.com", "IMAP port": "993", "IMAP encryption": "SSL/TLS",
		"Autoconfig URL": "http://127.0.0.1:8080/mail/config-v1.1.xml",
	} {
		if got := listValue(t, out, name); got != want {
			t.Errorf("%s = %q, want %q\n%s", name, got, want, out)
		}
	}
	if got := listValue(t, out, "SMTP authentication"); !strings.Contains(got, "password") || !strings.Contains(got, "AUTH PLAIN") {
		t.Errorf("SMTP authentication = %q", got)
	}
	if got := listValue(t, out, "POP server"); !strings.Contains(got, "not configured") {
		t.Errorf("POP server = %q", got)
	}
	// The Default Frontend offers no AUTH and does not advertise.
	out = ok(t, path, "", "connector", "get", "Default Frontend*", "-ClientSettings")
	if got := listValue(t, out, "SMTP authentication"); !strings.HasPrefix(got, "None") {
		t.Errorf("Default Frontend SMTP authentication = %q", got)
	}
	if got := listValue(t, out, "AdvertiseClientSettings"); !strings.HasPrefix(got, "False") {
		t.Errorf("Default Frontend AdvertiseClientSettings = %q", got)
	}
}

// startService runs the daemon in this process with the Client Frontend on
// a loopback port and the mailbox alice; it returns the service, the
// config path and the connector's address.
func startService(t *testing.T) (*service.Service, string, string, chan error) {
	t.Helper()
	return startServiceLog(t, &testLog{t})
}

// startServiceLog is startService with the daemon's log written to logw.
func startServiceLog(t *testing.T, logw io.Writer) (*service.Service, string, string, chan error) {
	t.Helper()
	path := newConfig(t)
	l, err := net.Listen("tcp4", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	addr := l.Addr().String()
	l.Close()
	if _, err := config.Update(path, func(c *config.Config) error {
		c.ReceiveConnectors = c.ReceiveConnectors[1:] // the Client Frontend only
		rc := &c.ReceiveConnectors[0]
		rc.Bindings = []netip.AddrPort{netip.MustParseAddrPort(addr)}
		rc.AuthTarpitInterval, rc.TarpitInterval = value.TimeSpan(10*time.Millisecond), value.TimeSpan(10*time.Millisecond)
		return nil
	}); err != nil {
		t.Fatal(err)
	}
	ok(t, path, "Pa55word!\n", "mailbox", "new", "-name", "alice", "-primarysmtpaddress", "alice@contoso.com", "-password", "-")
	log := slog.New(slog.NewTextHandler(logw, nil))
	svc, err := service.Open(context.Background(), path, log)
	if err != nil {
		t.Fatal(err)
	}
	reloads := make(chan error, 16)
	svc.OnReload = func(_ int, err error) { reloads <- err }
	ctx, cancel := context.WithCancel(context.Background())
	done := make(chan struct{})
	go func() { defer close(done); svc.Run(ctx) }()
	t.Cleanup(func() { cancel(); <-done })
	return svc, path, addr, reloads
}

type testLog struct{ t *testing.T }

func (w *testLog) Write(p []byte) (int, error) {
	w.t.Log(strings.TrimRight(string(p), "\n"))
	return len(p), nil
}

func TestTestSmtp(t *testing.T) {
	svc, path, addr, reloads := startService(t)

	r := tdrun(t, path, "Pa55word!\n", "test", "smtp", "-identity", "Client Frontend*", "-mailbox", "alice", "-password", "-")
	t.Logf("good connector:\n%s%s", r.stdout, r.stderr)
	if r.code != 0 || strings.Contains(r.stdout, "FAIL") {
		t.Fatalf("exit %d\n%s%s", r.code, r.stdout, r.stderr)
	}
	for _, want := range []string{"PASS  TCP connect", "PASS  Greeting", "PASS  STARTTLS ", "negotiated TLS 1.", "PASS  Certificate name",
		"WARN  Certificate trust", "self-signed", "PASS  AUTH ", "PASS  Submission", "PASS  Delivery", "/mailboxes/alice@contoso.com/Maildir/"} {
		if !strings.Contains(r.stdout, want) {
			t.Errorf("output lacks %q", want)
		}
	}

	// A wrong password fails at AUTH, with the server's reply.
	r = tdrun(t, path, "wrong\n", "test", "smtp", "-identity", "Client Frontend*", "-mailbox", "alice@contoso.com", "-password", "-")
	if r.code != 1 || !strings.Contains(r.stdout, "FAIL  AUTH") || !strings.Contains(r.stdout, "535") {
		t.Errorf("wrong password: exit %d\n%s%s", r.code, r.stdout, r.stderr)
	}

	// A certificate for another name: FAIL with the reason, exit 1, by
	// identity and by -server.
	thumb := strings.TrimSpace(ok(t, path, "", "cert", "new", "-subjectname", "CN=other.example", "-domainname", "other.example"))
	ok(t, path, "", "connector", "set", "-identity", "Client Frontend*", "-tlscertificatename", thumb)
	deadline := time.Now().Add(10 * time.Second)
	for {
		if _, err := svc.Certs().Get(thumb); err == nil {
			if c, _ := svc.Certs().Select(thumb, "mail.contoso.com", time.Now()); c != nil && svc.Config().ReceiveConnectors[0].TlsCertificateName == thumb {
				break
			}
		}
		if time.Now().After(deadline) {
			t.Fatal("the daemon did not pick up the new certificate and TlsCertificateName")
		}
		select {
		case err := <-reloads:
			if err != nil {
				t.Fatal(err)
			}
		case <-time.After(50 * time.Millisecond): // or the certificate store's own reload
		}
	}
	for _, args := range [][]string{
		{"test", "smtp", "-identity", "Client Frontend*"},
		{"test", "smtp", "-server", addr, "-fqdn", "mail.contoso.com"},
	} {
		r = tdrun(t, path, "", args...)
		t.Logf("%q:\n%s%s", args, r.stdout, r.stderr)
		if r.code != 1 || !strings.Contains(r.stdout, "FAIL  Certificate name") || !strings.Contains(r.stdout, "does not cover mail.contoso.com: it covers other.example") ||
			!strings.Contains(r.stderr, "1 of 1 tests failed") {
			t.Errorf("%q: exit %d\n%s%s", args, r.code, r.stdout, r.stderr)
		}
		if !strings.Contains(r.stdout, "WARN  AUTH ") {
			t.Errorf("%q: no note that AUTH was not tested", args)
		}
	}
}

func TestTestSmtpUsage(t *testing.T) {
	path := newConfig(t)
	for _, tc := range []struct {
		args []string
		want string
	}{
		{[]string{"test", "smtp"}, "tests failed"}, // every connector of this server, as in Exchange; none is listening here
		{[]string{"test", "smtp", "-identity", "x", "-server", "h:25"}, "either -Identity"},
		{[]string{"test", "smtp", "-identity", "Nothing*"}, "no receive connector matches"},
		{[]string{"test", "smtp", "-identity", "Client*", "-mailbox", "alice", "-password", "secret"}, "-Password -"},
		{[]string{"test", "smtp", "-identity", "Client*", "-mailbox", "nobody", "-password", "-"}, `no mailbox "nobody"`},
		{[]string{"test", "smtp", "-server", "h:25", "-bogus", "1"}, "unknown parameter -bogus"},
		{[]string{"test", "ldap"}, `unknown test "ldap"`},
	} {
		r := tdrun(t, path, "pw\n", tc.args...)
		if r.code == 0 || !strings.Contains(r.stderr, tc.want) {
			t.Errorf("%q: exit %d, stderr %q, want %q", tc.args, r.code, r.stderr, tc.want)
		}
	}
}
