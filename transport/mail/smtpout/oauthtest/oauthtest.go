// Package oauthtest provides the peers that tests of OAuth 2.0 to smart
// hosts need, on 127.0.0.1 with real TLS: an identity provider's token
// endpoint (client credentials with a secret or a signed client assertion,
// RFC 6749 section 4.4 and RFC 7523) and a smart host that checks SASL
// XOAUTH2 and OAUTHBEARER (RFC 7628). It is for tests only.
package oauthtest

import (
	"crypto"
	"crypto/ecdsa"
	"crypto/elliptic"
	"crypto/rand"
	"crypto/sha1"
	"crypto/tls"
	"crypto/x509"
	"crypto/x509/pkix"
	"encoding/base64"
	"encoding/hex"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"log"
	"math/big"
	"net"
	"net/http"
	"net/http/httptest"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/emersion/go-sasl"
	"github.com/emersion/go-smtp"
	"github.com/golang-jwt/jwt/v5"
)

// TokenEndpoint is an identity provider's token endpoint over HTTPS.
type TokenEndpoint struct {
	// URL is the endpoint's address, https://127.0.0.1:port/tenant/oauth2/v2.0/token.
	URL string
	srv *httptest.Server

	mu sync.Mutex
	// ClientID and ClientSecret are the registered client.
	ClientID, ClientSecret string
	// CertificateDER is the registered certificate for client assertions.
	CertificateDER []byte
	// Scope is the scope clients must ask for.
	Scope string
	// ExpiresIn is the lifetime of the tokens issued, in seconds.
	ExpiresIn int
	// Down makes the endpoint answer 503.
	Down     bool
	requests int
	issued   []string
	lastErr  string
}

// StartTokenEndpoint starts a token endpoint for client id and secret
// issuing hour-long tokens for scope; it stops at the end of the test.
func StartTokenEndpoint(t testing.TB, clientID, secret, scope string) *TokenEndpoint {
	t.Helper()
	e := &TokenEndpoint{ClientID: clientID, ClientSecret: secret, Scope: scope, ExpiresIn: 3600}
	e.srv = httptest.NewUnstartedServer(http.HandlerFunc(e.serve))
	e.srv.Config.ErrorLog = log.New(io.Discard, "", 0)
	e.srv.StartTLS()
	t.Cleanup(e.srv.Close)
	e.URL = e.srv.URL + "/contoso-tenant/oauth2/v2.0/token"
	return e
}

// Client returns an HTTP client that trusts the endpoint's certificate.
func (e *TokenEndpoint) Client() *http.Client { return e.srv.Client() }

// Set changes the endpoint's settings under its lock.
func (e *TokenEndpoint) Set(f func(e *TokenEndpoint)) {
	e.mu.Lock()
	defer e.mu.Unlock()
	f(e)
}

// Requests returns how many token requests arrived.
func (e *TokenEndpoint) Requests() int {
	e.mu.Lock()
	defer e.mu.Unlock()
	return e.requests
}

// Issued reports whether token was issued by the endpoint.
func (e *TokenEndpoint) Issued(token string) bool {
	e.mu.Lock()
	defer e.mu.Unlock()
	for _, t := range e.issued {
		if t == token {
			return true
		}
	}
	return false
}

// LastError returns the reason of the last refusal.
func (e *TokenEndpoint) LastError() string {
	e.mu.Lock()
	defer e.mu.Unlock()
	return e.lastErr
}

// refusal is the error response of RFC 6749 section 5.2, in the words of
// Microsoft's identity platform.
func (e *TokenEndpoint) refuse(w http.ResponseWriter, status int, code, desc string) {
	e.lastErr = code + ": " + desc
	w.Header().Set("Content-Type", "application/json")
	w.WriteHeader(status)
	_ = json.NewEncoder(w).Encode(map[string]string{"error": code, "error_description": desc})
}

func (e *TokenEndpoint) serve(w http.ResponseWriter, r *http.Request) {
	e.mu.Lock()
	defer e.mu.Unlock()
	e.requests++
	if e.Down {
		http.Error(w, "service unavailable", http.StatusServiceUnavailable)
		return
	}
	if r.Method != http.MethodPost || r.ParseForm() != nil {
		e.refuse(w, http.StatusBadRequest, "invalid_request", "a token request is a form POST")
		return
	}
	f := r.PostForm
	if f.Get("grant_type") != "client_credentials" {
		e.refuse(w, http.StatusBadRequest, "unsupported_grant_type", "grant_type "+f.Get("grant_type"))
		return
	}
	if f.Get("scope") != e.Scope {
		e.refuse(w, http.StatusBadRequest, "invalid_scope", fmt.Sprintf("AADSTS70011: The provided value %q for the input parameter 'scope' is not valid.", f.Get("scope")))
		return
	}
	if f.Get("client_id") != e.ClientID {
		e.refuse(w, http.StatusBadRequest, "unauthorized_client", fmt.Sprintf("AADSTS700016: Application with identifier '%s' was not found in the directory.", f.Get("client_id")))
		return
	}
	switch {
	case f.Get("client_assertion") != "":
		if err := e.checkAssertion(f.Get("client_assertion_type"), f.Get("client_assertion"), f.Get("client_id"), r); err != nil {
			e.refuse(w, http.StatusUnauthorized, "invalid_client", "AADSTS700027: Client assertion failed signature validation. "+err.Error())
			return
		}
	case f.Get("client_secret") != e.ClientSecret || e.ClientSecret == "":
		e.refuse(w, http.StatusUnauthorized, "invalid_client", "AADSTS7000215: Invalid client secret provided. Ensure the secret being sent in the request is the client secret value, not the client secret ID.")
		return
	}
	var b [16]byte
	_, _ = rand.Read(b[:])
	tok := "eyJ0eXAi." + hex.EncodeToString(b[:])
	e.issued = append(e.issued, tok)
	w.Header().Set("Content-Type", "application/json")
	_ = json.NewEncoder(w).Encode(map[string]any{"token_type": "Bearer", "expires_in": e.ExpiresIn, "access_token": tok})
}

// checkAssertion verifies a client assertion (RFC 7523 section 3) against
// the registered certificate: signature, x5t, issuer and subject, audience.
func (e *TokenEndpoint) checkAssertion(typ, assertion, clientID string, r *http.Request) error {
	if typ != "urn:ietf:params:oauth:client-assertion-type:jwt-bearer" {
		return fmt.Errorf("client_assertion_type %q", typ)
	}
	if e.CertificateDER == nil {
		return errors.New("no certificate registered")
	}
	cert, err := x509.ParseCertificate(e.CertificateDER)
	if err != nil {
		return err
	}
	sum := sha1.Sum(e.CertificateDER)
	claims := &jwt.RegisteredClaims{}
	_, err = jwt.ParseWithClaims(assertion, claims, func(tok *jwt.Token) (any, error) {
		if tok.Header["x5t"] != base64.RawURLEncoding.EncodeToString(sum[:]) {
			return nil, fmt.Errorf("x5t %v is not the registered certificate's", tok.Header["x5t"])
		}
		return cert.PublicKey, nil
	}, jwt.WithValidMethods([]string{"RS256", "ES256", "ES384", "ES512"}), jwt.WithAudience(e.URL), jwt.WithIssuer(clientID),
		jwt.WithSubject(clientID), jwt.WithExpirationRequired(), jwt.WithIssuedAt())
	return err
}

// NewCertificate makes a self-signed certificate with an ECDSA key, as an
// app registration's certificate credential.
func NewCertificate(t testing.TB, cn string) tls.Certificate {
	t.Helper()
	key, err := ecdsa.GenerateKey(elliptic.P256(), rand.Reader)
	if err != nil {
		t.Fatal(err)
	}
	tmpl := &x509.Certificate{SerialNumber: big.NewInt(time.Now().UnixNano()), Subject: pkix.Name{CommonName: cn},
		DNSNames: []string{cn}, IPAddresses: []net.IP{net.IPv4(127, 0, 0, 1)},
		NotBefore: time.Now().Add(-time.Hour), NotAfter: time.Now().Add(time.Hour),
		KeyUsage: x509.KeyUsageDigitalSignature, ExtKeyUsage: []x509.ExtKeyUsage{x509.ExtKeyUsageServerAuth, x509.ExtKeyUsageClientAuth}}
	der, err := x509.CreateCertificate(rand.Reader, tmpl, tmpl, key.Public(), key)
	if err != nil {
		t.Fatal(err)
	}
	return tls.Certificate{Certificate: [][]byte{der}, PrivateKey: crypto.Signer(key)}
}

// Auth is one authentication the smart host saw.
type Auth struct {
	Mech, User, Token, Host string
	OK                      bool
}

// SmartHost is an SMTP server with TLS that takes mail only after AUTH
// XOAUTH2 or OAUTHBEARER with a token Valid accepts.
type SmartHost struct {
	// Addr is the host:port it listens on.
	Addr string
	// Valid decides whether a token is good.
	Valid func(token string) bool
	// User is the mailbox the token must be presented for.
	User string

	mu    sync.Mutex
	auths []Auth
	msgs  []Message
	got   chan Message
}

// Message is one message the smart host accepted.
type Message struct {
	AuthUser, From string
	To             []string
	Data           string
	TLS            bool
}

// StartSmartHost listens on addr ("127.0.0.1:0" for any port) with
// STARTTLS, or with implicit TLS (RFC 8314) when implicit is set, offering
// the SASL mechanisms mechs.
func StartSmartHost(t testing.TB, addr string, cert tls.Certificate, implicit bool, user string, valid func(string) bool, mechs ...string) (*SmartHost, error) {
	t.Helper()
	h := &SmartHost{Valid: valid, User: user, got: make(chan Message, 100)}
	srv := smtp.NewServer(smtp.BackendFunc(func(c *smtp.Conn) (smtp.Session, error) {
		return &session{h: h, conn: c, mechs: mechs}, nil
	}))
	srv.Domain = "smtp.office365.test"
	srv.ErrorLog = log.New(io.Discard, "", 0)
	srv.TLSConfig = &tls.Config{Certificates: []tls.Certificate{cert}, MinVersion: tls.VersionTLS12}
	var l net.Listener
	var err error
	if implicit {
		l, err = tls.Listen("tcp", addr, srv.TLSConfig)
	} else {
		l, err = net.Listen("tcp", addr)
	}
	if err != nil {
		return nil, err
	}
	h.Addr = l.Addr().String()
	done := make(chan struct{})
	go func() { defer close(done); _ = srv.Serve(l) }()
	t.Cleanup(func() { srv.Close(); l.Close(); <-done })
	return h, nil
}

// Auths returns the authentications seen so far.
func (h *SmartHost) Auths() []Auth {
	h.mu.Lock()
	defer h.mu.Unlock()
	return append([]Auth(nil), h.auths...)
}

// Wait returns the next message accepted, or fails the test after 10 s.
func (h *SmartHost) Wait(t testing.TB) Message {
	t.Helper()
	select {
	case m := <-h.got:
		return m
	case <-time.After(10 * time.Second):
		t.Fatal("the smart host got no message within 10 s")
		return Message{}
	}
}

type session struct {
	h     *SmartHost
	conn  *smtp.Conn
	mechs []string
	user  string
	cur   Message
}

func (s *session) AuthMechanisms() []string { return s.mechs }

// errFailed is Microsoft 365's final reply to a refused token.
var errFailed = &smtp.SMTPError{Code: 535, EnhancedCode: smtp.EnhancedCode{5, 7, 3}, Message: "Authentication unsuccessful [SN4PR0201CA0045.namprd02.prod.outlook.com]"}

func (s *session) Auth(mech string) (sasl.Server, error) {
	switch mech {
	case "XOAUTH2", "OAUTHBEARER":
	default:
		return nil, smtp.ErrAuthUnknownMechanism
	}
	return &bearerServer{s: s, mech: mech}, nil
}

// bearerServer checks the initial response and, on a bad token, sends the
// error challenge and waits for the client's empty (XOAUTH2) or %x01
// (OAUTHBEARER, RFC 7628 section 3.2.3) answer before failing.
type bearerServer struct {
	s      *session
	mech   string
	failed bool
}

func (b *bearerServer) Next(resp []byte) ([]byte, bool, error) {
	if b.failed {
		want := []byte{}
		if b.mech == "OAUTHBEARER" {
			want = []byte{1}
		}
		if string(resp) != string(want) {
			return nil, false, fmt.Errorf("%s: the client answered the error challenge with %q", b.mech, resp)
		}
		return nil, true, errFailed
	}
	if resp == nil {
		return []byte{}, false, nil // ask for the initial response
	}
	a := Auth{Mech: b.mech}
	ok := parseBearer(b.mech, string(resp), &a)
	a.OK = ok && a.User == b.s.h.User && b.s.h.Valid(a.Token)
	b.s.h.mu.Lock()
	b.s.h.auths = append(b.s.h.auths, a)
	b.s.h.mu.Unlock()
	if !a.OK {
		b.failed = true
		return []byte(`{"status":"401","schemes":"bearer","scope":"https://outlook.office365.com/.default"}`), false, nil
	}
	b.s.user = a.User
	return nil, true, nil
}

// parseBearer reads "user=U^Aauth=Bearer T^A^A" (XOAUTH2) or
// "n,a=U,^Ahost=H^Aport=P^Aauth=Bearer T^A^A" (OAUTHBEARER).
func parseBearer(mech, s string, a *Auth) bool {
	if !strings.HasSuffix(s, "\x01\x01") {
		return false
	}
	fields := strings.Split(strings.TrimSuffix(s, "\x01\x01"), "\x01")
	if mech == "OAUTHBEARER" {
		gs2, rest, ok := strings.Cut(s, ",\x01")
		if !ok || !strings.HasPrefix(gs2, "n,a=") {
			return false
		}
		a.User = strings.NewReplacer("=2C", ",", "=3D", "=").Replace(strings.TrimPrefix(gs2, "n,a="))
		fields = strings.Split(strings.TrimSuffix(rest, "\x01\x01"), "\x01")
	}
	for _, f := range fields {
		k, v, _ := strings.Cut(f, "=")
		switch k {
		case "user":
			a.User = v
		case "host":
			a.Host = v
		case "auth":
			tok, ok := strings.CutPrefix(v, "Bearer ")
			if !ok {
				return false
			}
			a.Token = tok
		}
	}
	return a.User != "" && a.Token != ""
}

func (s *session) Mail(from string, _ *smtp.MailOptions) error {
	if s.user == "" {
		return &smtp.SMTPError{Code: 530, EnhancedCode: smtp.EnhancedCode{5, 7, 57}, Message: "Client not authenticated to send mail"}
	}
	s.cur = Message{AuthUser: s.user, From: from}
	_, s.cur.TLS = s.conn.TLSConnectionState()
	return nil
}

func (s *session) Rcpt(to string, _ *smtp.RcptOptions) error {
	s.cur.To = append(s.cur.To, to)
	return nil
}

func (s *session) Data(r io.Reader) error {
	b, err := io.ReadAll(r)
	if err != nil {
		return err
	}
	s.cur.Data = string(b)
	s.h.mu.Lock()
	s.h.msgs = append(s.h.msgs, s.cur)
	s.h.mu.Unlock()
	s.h.got <- s.cur
	return nil
}

func (s *session) Reset()        { s.cur = Message{} }
func (s *session) Logout() error { return nil }
