package smtpout

import (
	"context"
	"crypto"
	"crypto/ecdsa"
	"crypto/rand"
	"crypto/rsa"
	"crypto/sha1"
	"crypto/tls"
	"encoding/base64"
	"encoding/hex"
	"encoding/json"
	"errors"
	"fmt"
	"net"
	"net/http"
	"net/url"
	"strconv"
	"strings"
	"sync"
	"time"

	"github.com/emersion/go-smtp"
	"github.com/golang-jwt/jwt/v5"
	"golang.org/x/oauth2"
	"golang.org/x/oauth2/clientcredentials"
	oauthjwt "golang.org/x/oauth2/jwt"

	"github.com/transportd/transportd/transport/mail/delivery"
	"github.com/transportd/transportd/transport/mail/sendconnector"
)

// OAuthEnv is what a Sender of a connector with SmartHostAuthMechanism
// OAuth needs from the daemon to get tokens.
type OAuthEnv struct {
	// HTTPClient returns the client for token requests; nil (or a nil
	// result) uses one with the system's roots and tokenTimeout.
	HTTPClient func() *http.Client
	// Certificate returns the certificate of the store, with its private
	// key, that OAuthCertificateThumbprint names.
	Certificate func(thumbprint string) (*tls.Certificate, error)
}

const (
	// tokenTimeout bounds one token request.
	tokenTimeout = 30 * time.Second
	// tokenEarlyExpiry: a cached token is replaced this long before it
	// expires, so that no AUTH presents one that runs out on the way.
	tokenEarlyExpiry = time.Minute
	// assertionLifetime is the validity of a client assertion (RFC 7523
	// section 3: short-lived).
	assertionLifetime = 10 * time.Minute
)

// SASL mechanism names for bearer tokens.
const (
	mechXOAuth2     = "XOAUTH2"
	mechOAuthBearer = "OAUTHBEARER"
)

// SetOAuth gives the Sender what its token requests need. Call it before
// the first Deliver.
func (s *Sender) SetOAuth(env OAuthEnv) {
	if s.conn.UsesOAuth() {
		s.oauth = newTokenCache(s.conn, env)
	}
}

// tokenCache holds a connector's access token, fetched when first needed
// and replaced tokenEarlyExpiry before it expires (oauth2.ReuseTokenSource).
type tokenCache struct {
	fetch *tokenFetcher
	mu    sync.Mutex
	src   oauth2.TokenSource
}

func newTokenCache(sc sendconnector.SendConnector, env OAuthEnv) *tokenCache {
	f := &tokenFetcher{conn: sc, env: env}
	return &tokenCache{fetch: f, src: oauth2.ReuseTokenSourceWithExpiry(nil, f, tokenEarlyExpiry)}
}

// token returns a valid access token, from the cache when it has one.
func (t *tokenCache) token() (*oauth2.Token, error) {
	t.mu.Lock()
	src := t.src
	t.mu.Unlock()
	return src.Token()
}

// invalidate drops the cached token, after a smart host refused it.
func (t *tokenCache) invalidate() {
	t.mu.Lock()
	t.src = oauth2.ReuseTokenSourceWithExpiry(nil, t.fetch, tokenEarlyExpiry)
	t.mu.Unlock()
}

// tokenFetcher asks the identity provider for a new token at every call,
// with golang.org/x/oauth2: the client credentials grant (RFC 6749 section
// 4.4) with a client secret or a signed client assertion (RFC 7523 section
// 2.2), or the JWT bearer grant of a Google service account (RFC 7523
// section 2.1) for OAuthMailbox.
type tokenFetcher struct {
	conn sendconnector.SendConnector
	env  OAuthEnv
}

// Token implements oauth2.TokenSource.
func (f *tokenFetcher) Token() (*oauth2.Token, error) {
	client := (*http.Client)(nil)
	if f.env.HTTPClient != nil {
		client = f.env.HTTPClient()
	}
	if client == nil {
		client = &http.Client{Timeout: tokenTimeout}
	}
	ctx, cancel := context.WithTimeout(context.WithValue(context.Background(), oauth2.HTTPClient, client), tokenTimeout)
	defer cancel()
	sc := &f.conn
	endpoint := sc.OAuthEndpoint()
	if k, ok := sc.ServiceAccount(); ok {
		cfg := &oauthjwt.Config{Email: k.ClientEmail, PrivateKey: []byte(k.PrivateKey), PrivateKeyID: k.PrivateKeyID,
			Scopes: sc.OAuthScopes(), TokenURL: endpoint, Subject: sc.OAuthUser()}
		return cfg.TokenSource(ctx).Token()
	}
	cfg := &clientcredentials.Config{ClientID: strings.TrimSpace(sc.OAuthClientId), TokenURL: endpoint,
		Scopes: sc.OAuthScopes(), AuthStyle: oauth2.AuthStyleInParams}
	if tp := strings.TrimSpace(sc.OAuthCertificateThumbprint); tp != "" {
		assertion, err := f.clientAssertion(tp, cfg.ClientID, endpoint)
		if err != nil {
			return nil, err
		}
		cfg.EndpointParams = url.Values{
			"client_assertion_type": {"urn:ietf:params:oauth:client-assertion-type:jwt-bearer"},
			"client_assertion":      {assertion},
		}
	} else {
		cfg.ClientSecret = string(sc.OAuthClientSecret)
	}
	return cfg.Token(ctx)
}

// errAssertion marks a failure to build the client assertion: a problem
// of ours (the certificate), not of the identity provider.
var errAssertion = errors.New("client assertion")

// clientAssertion signs the JWT of RFC 7523 section 3 with the private key
// of the certificate thumbprint names: issuer and subject the client id,
// audience the token endpoint, a unique id, ten minutes of validity, and
// the certificate's SHA-1 thumbprint as "x5t" (RFC 7515 section 4.1.7), by
// which Microsoft's identity platform finds the registered certificate.
func (f *tokenFetcher) clientAssertion(thumbprint, clientID, audience string) (string, error) {
	if f.env.Certificate == nil {
		return "", fmt.Errorf("%w: no certificate store to find %s in", errAssertion, thumbprint)
	}
	cert, err := f.env.Certificate(thumbprint)
	if err != nil {
		return "", fmt.Errorf("%w: OAuthCertificateThumbprint %s: %v", errAssertion, thumbprint, err)
	}
	if cert == nil || len(cert.Certificate) == 0 || cert.PrivateKey == nil {
		return "", fmt.Errorf("%w: certificate %s has no private key in the store; import it with its key (transportd cert import)", errAssertion, thumbprint)
	}
	var method jwt.SigningMethod
	switch k := cert.PrivateKey.(type) {
	case *rsa.PrivateKey:
		method = jwt.SigningMethodRS256
	case *ecdsa.PrivateKey:
		switch k.Curve.Params().BitSize {
		case 256:
			method = jwt.SigningMethodES256
		case 384:
			method = jwt.SigningMethodES384
		default:
			method = jwt.SigningMethodES512
		}
	default:
		return "", fmt.Errorf("%w: certificate %s has a %T key; client assertions need RSA or ECDSA", errAssertion, thumbprint, cert.PrivateKey)
	}
	var jti [16]byte
	if _, err := rand.Read(jti[:]); err != nil {
		return "", fmt.Errorf("%w: %v", errAssertion, err)
	}
	now := time.Now()
	tok := jwt.NewWithClaims(method, jwt.RegisteredClaims{
		Issuer: clientID, Subject: clientID, Audience: jwt.ClaimStrings{audience},
		ID: hex.EncodeToString(jti[:]), IssuedAt: jwt.NewNumericDate(now), NotBefore: jwt.NewNumericDate(now),
		ExpiresAt: jwt.NewNumericDate(now.Add(assertionLifetime)),
	})
	sum := sha1.Sum(cert.Certificate[0])
	tok.Header["x5t"] = base64.RawURLEncoding.EncodeToString(sum[:])
	signed, err := tok.SignedString(cert.PrivateKey.(crypto.Signer))
	if err != nil {
		return "", fmt.Errorf("%w: signing with certificate %s: %v", errAssertion, thumbprint, err)
	}
	return signed, nil
}

// tokenError describes a failed token request as a transient failure of
// the next hop: the mail waits and is retried, and `queue get` shows the
// identity provider's own words (error and error_description, RFC 6749
// section 5.2) in LastError.
func (s *Sender) tokenError(err error) *delivery.Error {
	endpoint := s.conn.OAuthEndpoint()
	var re *oauth2.RetrieveError
	switch {
	case errors.As(err, &re):
		status := 0
		if re.Response != nil {
			status = re.Response.StatusCode
		}
		what := re.ErrorCode
		if d := oneLine(re.ErrorDescription); d != "" {
			what += ": " + d
		}
		if what == "" {
			what = oneLine(string(re.Body))
		}
		if status >= 500 {
			return delivery.Temporary([3]int{4, 4, 1}, "the OAuth token endpoint %s of send connector %q failed: HTTP %d %s", endpoint, s.conn.Name, status, what)
		}
		// X.7.8: authentication credentials invalid (RFC 4954 section 6).
		return delivery.Temporary([3]int{4, 7, 8}, "the identity provider %s refused the token request of send connector %q (client %s): HTTP %d %s",
			endpoint, s.conn.Name, s.clientName(), status, what)
	case errors.Is(err, errAssertion):
		return delivery.Temporary([3]int{4, 7, 0}, "send connector %q cannot request an OAuth token: %v", s.conn.Name, err)
	}
	// X.4.1: no answer (RFC 3463 section 3.5): the endpoint is down or unreachable.
	return delivery.Temporary([3]int{4, 4, 1}, "cannot get an OAuth token for send connector %q from %s: %v", s.conn.Name, endpoint, err)
}

func (s *Sender) clientName() string {
	if k, ok := s.conn.ServiceAccount(); ok {
		return k.ClientEmail
	}
	return strings.TrimSpace(s.conn.OAuthClientId)
}

func oneLine(s string) string { return strings.Join(strings.Fields(s), " ") }

// oauthAuth authenticates ss with a bearer token: XOAUTH2 when the host
// offers it (Microsoft 365 and Gmail do), else OAUTHBEARER (RFC 7628). A
// token never goes in clear. Every failure is transient: the admin fixes
// the app registration, mail waits.
func (s *Sender) oauthAuth(h host, ss *session) *delivery.Error {
	if !ss.tls {
		return tempf(h.name, [3]int{4, 7, 10}, "%s did not offer STARTTLS and send connector %q (OAuth) never sends a token in clear", h.name, s.conn.Name)
	}
	mech := ""
	switch {
	case ss.c.SupportsAuth(mechXOAuth2):
		mech = mechXOAuth2
	case ss.c.SupportsAuth(mechOAuthBearer):
		mech = mechOAuthBearer
	default:
		_, mechs := ss.c.Extension("AUTH")
		return tempf(h.name, [3]int{4, 7, 0}, "%s offers no AUTH XOAUTH2 or OAUTHBEARER (AUTH %q); send connector %q authenticates with OAuth", h.name, mechs, s.conn.Name)
	}
	tok, err := s.oauth.token()
	if err != nil {
		return s.tokenError(err) // open writes it to the protocol log
	}
	user := s.conn.OAuthUser()
	c := &bearerClient{mech: mech, user: user, token: tok.AccessToken, host: h.name}
	if _, p, err := net.SplitHostPort(h.addr); err == nil {
		c.port, _ = strconv.Atoi(p)
	}
	if err := ss.c.Auth(c); err != nil {
		var se *smtp.SMTPError
		if !errors.As(err, &se) {
			return lost(h, "AUTH", err)
		}
		// The token may have been revoked: the next attempt asks for a new one.
		s.oauth.invalidate()
		r := fromReply(se.Code, [3]int(se.EnhancedCode), se.Message, h.name)
		enh := [3]int{4, 7, 0}
		if r.Enhanced[1] != 0 {
			enh = [3]int{4, r.Enhanced[1], r.Enhanced[2]}
		}
		detail := ""
		if c.status != "" {
			detail = " (" + c.status + ")"
		}
		return tempf(h.name, enh, "%s authentication as %s to %s failed: %d %d.%d.%d %s%s",
			mech, user, h.name, r.Code, r.Enhanced[0], r.Enhanced[1], r.Enhanced[2], r.Message, detail)
	}
	return nil
}

// bearerClient is the SASL client of XOAUTH2 (Google's and Microsoft's
// "SASL XOAUTH2" documentation) and OAUTHBEARER (RFC 7628 section 3.1).
// On failure the server sends an error challenge (a JSON status); the
// client answers with an empty response (XOAUTH2) or a lone %x01 (RFC 7628
// section 3.2.3) and gets the final failure reply, whose text is kept.
type bearerClient struct {
	mech, user, token, host string
	port                    int
	status                  string // the server's error challenge, when one came
}

// Start implements sasl.Client.
func (c *bearerClient) Start() (string, []byte, error) {
	if c.mech == mechXOAuth2 {
		return c.mech, []byte("user=" + c.user + "\x01auth=Bearer " + c.token + "\x01\x01"), nil
	}
	// RFC 7628 section 3.1: gs2-header with the authzid as a saslname
	// (RFC 5801: "," and "=" escaped), then host, port and auth.
	name := strings.NewReplacer("=", "=3D", ",", "=2C").Replace(c.user)
	ir := "n,a=" + name + ",\x01host=" + c.host
	if c.port != 0 {
		ir += "\x01port=" + strconv.Itoa(c.port)
	}
	return c.mech, []byte(ir + "\x01auth=Bearer " + c.token + "\x01\x01"), nil
}

// Next implements sasl.Client: any challenge is the error status.
func (c *bearerClient) Next(challenge []byte) ([]byte, error) {
	if c.status != "" {
		return nil, fmt.Errorf("%s: unexpected second challenge %q", c.mech, challenge)
	}
	c.status = describeStatus(challenge)
	if c.mech == mechXOAuth2 {
		return []byte{}, nil
	}
	return []byte{0x01}, nil
}

// describeStatus prints an error challenge ({"status":"401",
// "schemes":"bearer","scope":"..."}) for people.
func describeStatus(challenge []byte) string {
	var st struct {
		Status string `json:"status"`
		Scope  string `json:"scope"`
	}
	if err := json.Unmarshal(challenge, &st); err != nil || st.Status == "" {
		return "error challenge " + strconv.Quote(oneLine(string(challenge)))
	}
	out := "token refused with status " + st.Status
	if st.Scope != "" {
		out += ", scope " + st.Scope
	}
	return out
}
