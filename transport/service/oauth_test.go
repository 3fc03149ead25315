package service

import (
	"errors"
	"fmt"
	"net"
	"os"
	"path/filepath"
	"strings"
	"syscall"
	"testing"
	"time"

	"github.com/transportd/transportd/transport/admin/config"
	"github.com/transportd/transportd/transport/admin/control"
	"github.com/transportd/transportd/transport/mail/sendconnector"
	"github.com/transportd/transportd/transport/mail/smtpout/oauthtest"
)

const (
	oauthClientID = "6731de76-14a6-49ae-97bc-6eba6914391e"
	oauthSecret   = "Wq8Q~the.real.secret"
	oauthMailbox  = "relay@contoso.com"
)

// oauthConnector makes the test daemon's send connector authenticate to
// host with OAuth tokens of ep, with the given client secret.
func oauthConnector(c *config.Config, ep *oauthtest.TokenEndpoint, host, secret string) {
	sc := &c.SendConnectors[0]
	sc.SmartHosts = mustSmartHosts(host)
	sc.SmartHostAuthMechanism = sendconnector.AuthOAuth
	sc.RequireTLS = true
	sc.OAuthTenantId = "contoso-tenant"
	sc.OAuthClientId = oauthClientID
	sc.OAuthClientSecret = sendconnector.Secret(secret)
	sc.OAuthTokenEndpoint = ep.URL
	sc.OAuthMailbox = oauthMailbox
	c.Logging.SendProtocolLoggingLevel = "Verbose"
}

// waitQueue polls Get-Queue until the Outbound queue's LastError has want.
func waitQueue(t *testing.T, d *testDaemon, want string) control.Queue {
	t.Helper()
	deadline := time.Now().Add(10 * time.Second)
	for {
		var qs []control.Queue
		if err := d.control(t, control.OpQueueGet, control.Selector{Identity: `MAIL\Outbound`}, &qs); err == nil && len(qs) == 1 &&
			qs[0].Status == "Retry" && strings.Contains(qs[0].LastError, want) {
			return qs[0]
		} else if time.Now().After(deadline) {
			t.Fatalf("Get-Queue never showed %q: %+v %v", want, qs, err)
		}
		time.Sleep(20 * time.Millisecond) // polling Get-Queue as an admin would
	}
}

// Through the daemon: a client secret the identity provider refuses keeps
// the mail in a Retry queue, with the provider's words in Get-Queue's
// LastError and in the send protocol log; with the right secret (which the
// config file never holds) the mail leaves with XOAUTH2 as the mailbox.
func TestOAuthSmartHostThroughDaemon(t *testing.T) {
	ep := oauthtest.StartTokenEndpoint(t, oauthClientID, oauthSecret, sendconnector.DefaultOAuthScope)
	host, err := oauthtest.StartSmartHost(t, "127.0.0.1:0", oauthtest.NewCertificate(t, "smtp.office365.test"), false, oauthMailbox, ep.Issued, "LOGIN", "XOAUTH2")
	if err != nil {
		t.Fatal(err)
	}
	d := startDaemon(t, func(c *config.Config, d *testDaemon) {
		oauthConnector(c, ep, host.Addr, "Wq8Q~an.expired.secret")
		c.Transport.TransientFailureRetryInterval = 1 << 40 // retries only when asked
		c.Transport.MessageRetryInterval = 1 << 40
	})
	d.svc.SetOAuthHTTPClient(ep.Client())

	cfgText, err := os.ReadFile(d.cfgPath)
	if err != nil {
		t.Fatal(err)
	}
	if strings.Contains(string(cfgText), "Wq8Q~") || !strings.Contains(string(cfgText), "OAuthClientId: "+oauthClientID) {
		t.Fatalf("the config file holds the secret, or not the client id:\n%s", cfgText)
	}

	d.submit(t, []string{"friend@example.org"}, msg)
	q := waitQueue(t, d, "AADSTS7000215: Invalid client secret provided.")
	if !strings.Contains(q.LastError, "refused the token request of send connector \"Outbound\" (client "+oauthClientID+"): HTTP 401 invalid_client") {
		t.Errorf("LastError %q", q.LastError)
	}
	_, sendLog := d.svc.ProtocolLogs()
	found := false
	for _, rec := range protocolRecords(t, sendLog, "SEND") {
		found = found || strings.Contains(strings.Join(rec, ","), "invalid_client: AADSTS7000215")
	}
	if !found {
		t.Errorf("the send protocol log does not have the identity provider's error: %q", protocolRecords(t, sendLog, "SEND"))
	}
	if len(host.Auths()) != 0 {
		t.Fatal("the smart host saw AUTH without a token")
	}

	d.change(func(c *config.Config) { c.SendConnectors[0].OAuthClientSecret = oauthSecret })
	secrets, err := os.ReadFile(filepath.Join(d.svc.Config().DataDir(), "secrets.yaml"))
	if err != nil || !strings.Contains(string(secrets), oauthSecret) {
		t.Fatalf("secrets.yaml: %v\n%s", err, secrets)
	}
	var ch control.Changed
	if err := d.control(t, control.OpQueueRetry, control.Selector{Identity: `MAIL\Outbound`}, &ch); err != nil {
		t.Fatal(err)
	}
	m := host.Wait(t)
	if m.AuthUser != oauthMailbox || !m.TLS || len(m.To) != 1 || m.To[0] != "friend@example.org" {
		t.Fatalf("smart host got %+v", m)
	}
	if a := host.Auths(); len(a) != 1 || a[0].Mech != "XOAUTH2" || !a[0].OK {
		t.Fatalf("auths %+v", a)
	}
}

// Implicit TLS (RFC 8314) through the daemon: a smart host written
// [127.x.y.z]:465 is reached with TLS from the first byte. Port 465 needs
// root; another loopback address keeps clear of a 465 listener on 127.0.0.1.
func TestImplicitTLSSmartHostThroughDaemon(t *testing.T) {
	ep := oauthtest.StartTokenEndpoint(t, oauthClientID, oauthSecret, sendconnector.DefaultOAuthScope)
	addr := fmt.Sprintf("127.0.%d.%d:465", os.Getpid()%250+1, time.Now().Nanosecond()%250+2)
	host, err := oauthtest.StartSmartHost(t, addr, oauthtest.NewCertificate(t, "smtp.gmail.test"), true, oauthMailbox, ep.Issued, "OAUTHBEARER", "XOAUTH2")
	var se *net.OpError
	if err != nil && (errors.Is(err, syscall.EACCES) || errors.Is(err, syscall.EADDRINUSE) || errors.As(err, &se)) {
		t.Skipf("cannot listen on %s for a port-465 smart host (needs root and a free port): %v", addr, err)
	}
	if err != nil {
		t.Fatal(err)
	}
	d := startDaemon(t, func(c *config.Config, d *testDaemon) {
		oauthConnector(c, ep, addr, oauthSecret)
	})
	d.svc.SetOAuthHTTPClient(ep.Client())
	d.submit(t, []string{"friend@example.org"}, msg)
	if m := host.Wait(t); !m.TLS || m.AuthUser != oauthMailbox {
		t.Fatalf("smart host got %+v", m)
	}
}
