package smtpout

import (
	"context"
	"crypto/tls"
	"strconv"
	"strings"
	"testing"

	"github.com/transportd/transportd/transport/mail/delivery"
	"github.com/transportd/transportd/transport/mail/sendconnector"
	"github.com/transportd/transportd/transport/mail/smtpout/oauthtest"
)

const (
	testClientID = "6731de76-14a6-49ae-97bc-6eba6914391e"
	testSecret   = "Wq8Q~secret.value"
	testMailbox  = "relay@contoso.com"
)

// oauthSetup is a token endpoint and a smart host that accepts only the
// endpoint's tokens for testMailbox.
type oauthSetup struct {
	ep   *oauthtest.TokenEndpoint
	host *oauthtest.SmartHost
	conn sendconnector.SendConnector
}

func newOAuthSetup(t *testing.T, implicit bool, mechs ...string) *oauthSetup {
	t.Helper()
	ep := oauthtest.StartTokenEndpoint(t, testClientID, testSecret, sendconnector.DefaultOAuthScope)
	cert := newCA(t).leaf(t, "smtp.office365.test")
	host, err := oauthtest.StartSmartHost(t, "127.0.0.1:0", cert, implicit, testMailbox, ep.Issued, mechs...)
	if err != nil {
		t.Fatal(err)
	}
	c := smartHostConnector(t, host.Addr)
	c.SmartHostAuthMechanism = sendconnector.AuthOAuth
	c.RequireTLS = true
	c.OAuthTenantId = "contoso-tenant"
	c.OAuthClientId = testClientID
	c.OAuthClientSecret = testSecret
	c.OAuthTokenEndpoint = ep.URL
	c.OAuthMailbox = testMailbox
	return &oauthSetup{ep: ep, host: host, conn: c}
}

func (o *oauthSetup) sender(t *testing.T) *Sender {
	t.Helper()
	return newSender(t, Options{Connector: o.conn, OAuth: OAuthEnv{HTTPClient: o.ep.Client}})
}

func deliverOne(s *Sender) delivery.Result {
	return s.Deliver(context.Background(), message(testBody), []string{"bob@example.test"})[0]
}

// XOAUTH2 is preferred when offered (Microsoft 365, Gmail); OAUTHBEARER
// (RFC 7628) is used when it is the only one. The smart host checks the
// mailbox and that the token is one the endpoint issued.
func TestOAuthMechanisms(t *testing.T) {
	for _, tc := range []struct {
		offered []string
		want    string
	}{
		{[]string{"LOGIN", "XOAUTH2"}, "XOAUTH2"},
		{[]string{"OAUTHBEARER", "XOAUTH2"}, "XOAUTH2"},
		{[]string{"PLAIN", "OAUTHBEARER"}, "OAUTHBEARER"},
	} {
		t.Run(strings.Join(tc.offered, "+"), func(t *testing.T) {
			o := newOAuthSetup(t, false, tc.offered...)
			wantResult(t, deliverOne(o.sender(t)), 0, "", "")
			m := o.host.Wait(t)
			if m.AuthUser != testMailbox || !m.TLS {
				t.Errorf("smart host got the message as %q, TLS %v", m.AuthUser, m.TLS)
			}
			a := o.host.Auths()
			if len(a) != 1 || a[0].Mech != tc.want || !a[0].OK {
				t.Fatalf("auths %+v, want one good %s", a, tc.want)
			}
			if tc.want == "OAUTHBEARER" && a[0].Host != "127.0.0.1" {
				t.Errorf("OAUTHBEARER host=%q", a[0].Host)
			}
		})
	}
}

// A token is fetched once and reused by later connections; a token that
// would expire within a minute is replaced before it is used again.
func TestOAuthTokenCachedAndRefreshed(t *testing.T) {
	o := newOAuthSetup(t, false, "XOAUTH2")
	s := o.sender(t)
	s.Close() // keep no connection: every delivery authenticates anew
	for range 3 {
		wantResult(t, deliverOne(s), 0, "", "")
	}
	if n := o.ep.Requests(); n != 1 {
		t.Fatalf("%d token requests for 3 connections, want 1 (cached)", n)
	}
	o.ep.Set(func(e *oauthtest.TokenEndpoint) { e.ExpiresIn = 30 })
	s2 := o.sender(t)
	s2.Close()
	for range 3 {
		wantResult(t, deliverOne(s2), 0, "", "")
	}
	if n := o.ep.Requests(); n != 1+3 {
		t.Fatalf("%d token requests, want 4: a token expiring within a minute is replaced before each use", n)
	}
	a := o.host.Auths()
	if len(a) != 6 || a[3].Token == a[4].Token || a[4].Token == a[5].Token {
		t.Fatalf("auths %+v: want fresh tokens for the short-lived ones", a)
	}
}

// A refused client is a transient failure that carries the identity
// provider's error_description; so is an endpoint that is down or gone.
func TestOAuthTokenFailures(t *testing.T) {
	o := newOAuthSetup(t, false, "XOAUTH2")
	o.conn.OAuthClientSecret = "wrong"
	res := deliverOne(o.sender(t))
	wantResult(t, res, 451, "4.7.8", "refused the token request of send connector \"Smart host\" (client "+testClientID+"): HTTP 401 invalid_client: AADSTS7000215: Invalid client secret provided.")
	if !res.Err.(*delivery.Error).Connection {
		t.Error("a refused token request must put the queue in Retry (Connection)")
	}
	if len(o.host.Auths()) != 0 {
		t.Error("AUTH was tried without a token")
	}

	o = newOAuthSetup(t, false, "XOAUTH2")
	o.ep.Set(func(e *oauthtest.TokenEndpoint) { e.Down = true })
	wantResult(t, deliverOne(o.sender(t)), 451, "4.4.1", "token endpoint "+o.ep.URL+" of send connector \"Smart host\" failed: HTTP 503")

	o = newOAuthSetup(t, false, "XOAUTH2")
	o.conn.OAuthTokenEndpoint = "https://" + closedPort(t) + "/t/oauth2/v2.0/token"
	wantResult(t, deliverOne(o.sender(t)), 451, "4.4.1", "cannot get an OAuth token for send connector \"Smart host\" from https://127.0.0.1:")

	o = newOAuthSetup(t, false, "XOAUTH2")
	o.conn.OAuthScope = "https://graph.microsoft.com/.default"
	wantResult(t, deliverOne(o.sender(t)), 451, "4.7.8", "invalid_scope: AADSTS70011")
}

// A token the smart host refuses: the XOAUTH2 error challenge is answered
// with an empty response and the final 535 is reported, with the status;
// the cached token is dropped so the next attempt asks for a new one.
func TestOAuthSmartHostRefusesToken(t *testing.T) {
	for _, mech := range []string{"XOAUTH2", "OAUTHBEARER"} {
		t.Run(mech, func(t *testing.T) {
			o := newOAuthSetup(t, false, mech)
			o.conn.OAuthMailbox = "other@contoso.com" // the token is not for this mailbox
			s := o.sender(t)
			wantResult(t, deliverOne(s), 451, "4.7.3", mech+" authentication as other@contoso.com to 127.0.0.1 failed: 535 5.7.3 Authentication unsuccessful")
			wantResult(t, deliverOne(s), 451, "4.7.3", "token refused with status 401")
			if n := o.ep.Requests(); n != 2 {
				t.Errorf("%d token requests, want 2: a refused token is not used again", n)
			}
		})
	}
}

// A certificate of the store signs the client assertion (RFC 7523): the
// endpoint checks its signature, x5t, issuer, subject and audience.
func TestOAuthCertificateAssertion(t *testing.T) {
	o := newOAuthSetup(t, false, "XOAUTH2")
	cert := oauthtest.NewCertificate(t, "transportd app")
	o.ep.Set(func(e *oauthtest.TokenEndpoint) { e.CertificateDER = cert.Certificate[0] })
	o.conn.OAuthClientSecret = ""
	o.conn.OAuthCertificateThumbprint = "0123456789ABCDEF0123456789ABCDEF01234567"
	var asked string
	s := newSender(t, Options{Connector: o.conn, OAuth: OAuthEnv{HTTPClient: o.ep.Client,
		Certificate: func(tp string) (*tls.Certificate, error) { asked = tp; return &cert, nil }}})
	wantResult(t, deliverOne(s), 0, "", "")
	if asked != o.conn.OAuthCertificateThumbprint {
		t.Errorf("certificate %q asked for", asked)
	}
	// Another certificate than the registered one is refused by the endpoint.
	other := oauthtest.NewCertificate(t, "someone else")
	s = newSender(t, Options{Connector: o.conn, OAuth: OAuthEnv{HTTPClient: o.ep.Client,
		Certificate: func(string) (*tls.Certificate, error) { return &other, nil }}})
	wantResult(t, deliverOne(s), 451, "4.7.8", "invalid_client: AADSTS700027")
}

// Implicit TLS (RFC 8314): a smart host on the submissions port is reached
// with TLS from the first byte, and XOAUTH2 goes inside it.
func TestImplicitTLSSmartHost(t *testing.T) {
	o := newOAuthSetup(t, true, "XOAUTH2")
	s := o.sender(t)
	_, port, _ := strings.Cut(o.host.Addr, ":")
	s.implicitPort = port
	wantResult(t, deliverOne(s), 0, "", "")
	if m := o.host.Wait(t); !m.TLS || m.AuthUser != testMailbox {
		t.Fatalf("got %+v", m)
	}
	// Without implicit TLS the client would wait for a greeting that the
	// server, waiting for a ClientHello, never sends: the port decides.
	if p, _ := strconv.Atoi(ImplicitTLSPort); p != 465 {
		t.Fatal(ImplicitTLSPort)
	}
}

// Implicit TLS applies the connector's certificate checks.
func TestImplicitTLSValidation(t *testing.T) {
	ca := newCA(t)
	cert := ca.leaf(t, "mx.test.example")
	host, err := oauthtest.StartSmartHost(t, "127.0.0.1:0", cert, true, testMailbox, func(string) bool { return true }, "XOAUTH2")
	if err != nil {
		t.Fatal(err)
	}
	c := smartHostConnector(t, host.Addr)
	c.RequireTLS, c.TlsAuthLevel, c.TlsDomain = true, sendconnector.TLSDomainValidation, "relay.fabrikam.com"
	s := newSender(t, Options{Connector: c, RootCAs: ca.pool})
	_, port, _ := strings.Cut(host.Addr, ":")
	s.implicitPort = port
	wantResult(t, deliverOne(s), 451, "4.7.5", "does not cover relay.fabrikam.com")
}
