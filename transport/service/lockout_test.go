package service

import (
	"fmt"
	"io"
	"net/http"
	"strings"
	"testing"

	"github.com/transportd/transportd/transport/admin/config"
)

// Failed logons count across connections: after AuthFailureLockoutThreshold
// of them a source gets 454 4.7.0 on a new connection even with the right
// password, the protocol log and /metrics say so, other sources log on,
// and a changed threshold applies without a restart.
func TestAuthLockoutEndToEnd(t *testing.T) {
	metricsPort := freePort(t)
	d := startDaemon(t, func(c *config.Config, d *testDaemon) {
		for i := range c.ReceiveConnectors {
			c.ReceiveConnectors[i].ProtocolLoggingLevel = "Verbose"
		}
		c.Logging.MetricsAddress = fmt.Sprintf("127.0.0.1:%d", metricsPort)
		c.Transport.AuthFailureLockoutThreshold = 3
	})
	submit := func(local string) *client {
		c := dialFrom(t, local, d.addr587())
		c.expect("250", "EHLO client.example")
		c.startTLS("mail.contoso.com")
		c.expect("250", "EHLO client.example")
		return c
	}
	c := submit("127.0.5.1")
	for i, user := range []string{"bob@contoso.com", "carol@contoso.com"} {
		if r := c.authPlain(user, "guess"); !strings.HasPrefix(r, "535 5.7.8") {
			t.Fatalf("guess %d: %q", i+1, r)
		}
	}
	if r := c.authLogin("dave@contoso.com", "guess"); !strings.HasPrefix(r, "421 4.7.0") {
		t.Fatalf("third guess (MaxLogonFailures 3): %q", r)
	}
	c = submit("127.0.5.1")
	r := c.authPlain("alice@contoso.com", testPassword)
	if !strings.HasPrefix(r, "454 4.7.0 ") || !strings.Contains(r, "try again in 15 minutes") {
		t.Fatalf("blocked source, new connection, right password: %q", r)
	}
	c.close()
	c = submit("127.0.0.1")
	if r := c.authPlain("alice@contoso.com", testPassword); !strings.HasPrefix(r, "235") {
		t.Fatalf("another source: %q", r)
	}
	c.close()

	recvLog, _ := d.svc.ProtocolLogs()
	var text strings.Builder
	for _, r := range protocolRecords(t, recvLog, "RECV") {
		text.WriteString(r[6] + " " + r[7] + "\n")
	}
	for _, want := range []string{"* source 127.0.5.1 blocked for 00:15:00 after 3 failed logons",
		`* authentication refused for "alice@contoso.com": too many failed logons from your address, try again in 15 minutes`,
		"> 454 4.7.0 Temporary authentication failure: too many failed logons from your address"} {
		if !strings.Contains(text.String(), want) {
			t.Errorf("protocol log lacks %q:\n%s", want, text.String())
		}
	}

	resp, err := http.Get(fmt.Sprintf("http://127.0.0.1:%d/metrics", metricsPort))
	if err != nil {
		t.Fatal(err)
	}
	b, _ := io.ReadAll(resp.Body)
	resp.Body.Close()
	for _, want := range []string{`transportd_smtp_auth_lockouts_total{scope="source"} 1`,
		`transportd_smtp_auth_refused_total{connector="Client Frontend MAIL",reason="locked_out"} 1`,
		`transportd_smtp_auth_blocked{scope="source"} 1`, `transportd_smtp_auth_blocked{scope="account"} 0`,
		`transportd_smtp_auth_checks{state="waiting"} 0`} {
		if !strings.Contains(string(b), want) {
			t.Errorf("metrics lack %q", want)
		}
	}

	// Turning the lockout off applies at once.
	if _, err := config.Update(d.cfgPath, func(c *config.Config) error {
		c.Transport.AuthFailureLockoutThreshold = 0
		return nil
	}); err != nil {
		t.Fatal(err)
	}
	d.waitReload()
	c = submit("127.0.5.1")
	if r := c.authPlain("alice@contoso.com", testPassword); !strings.HasPrefix(r, "235") {
		t.Fatalf("lockout off: %q", r)
	}
	c.close()
}
