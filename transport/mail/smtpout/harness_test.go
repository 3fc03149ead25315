package smtpout

import (
	"bytes"
	"crypto/ecdsa"
	"crypto/elliptic"
	"crypto/rand"
	"crypto/tls"
	"crypto/x509"
	"crypto/x509/pkix"
	"io"
	"math/big"
	"net"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/emersion/go-sasl"
	"github.com/emersion/go-smtp"

	"github.com/transportd/transportd/policies/saslserver"
)

// testCA is a certificate authority made for one test run.
type testCA struct {
	cert *x509.Certificate
	key  *ecdsa.PrivateKey
	pool *x509.CertPool
}

func newCA(t *testing.T) *testCA {
	t.Helper()
	key, err := ecdsa.GenerateKey(elliptic.P256(), rand.Reader)
	if err != nil {
		t.Fatal(err)
	}
	tmpl := &x509.Certificate{
		SerialNumber:          big.NewInt(1),
		Subject:               pkix.Name{CommonName: "transportd test CA"},
		NotBefore:             time.Now().Add(-time.Hour),
		NotAfter:              time.Now().Add(time.Hour),
		IsCA:                  true,
		BasicConstraintsValid: true,
		KeyUsage:              x509.KeyUsageCertSign,
	}
	der, err := x509.CreateCertificate(rand.Reader, tmpl, tmpl, &key.PublicKey, key)
	if err != nil {
		t.Fatal(err)
	}
	cert, err := x509.ParseCertificate(der)
	if err != nil {
		t.Fatal(err)
	}
	pool := x509.NewCertPool()
	pool.AddCert(cert)
	return &testCA{cert: cert, key: key, pool: pool}
}

// leaf issues a server certificate for the DNS names and 127.0.0.1.
func (ca *testCA) leaf(t *testing.T, names ...string) tls.Certificate {
	t.Helper()
	key, err := ecdsa.GenerateKey(elliptic.P256(), rand.Reader)
	if err != nil {
		t.Fatal(err)
	}
	tmpl := &x509.Certificate{
		SerialNumber: big.NewInt(2),
		Subject:      pkix.Name{CommonName: names[0]},
		DNSNames:     names,
		IPAddresses:  []net.IP{net.IPv4(127, 0, 0, 1)},
		NotBefore:    time.Now().Add(-time.Hour),
		NotAfter:     time.Now().Add(time.Hour),
		KeyUsage:     x509.KeyUsageDigitalSignature,
		ExtKeyUsage:  []x509.ExtKeyUsage{x509.ExtKeyUsageServerAuth},
	}
	der, err := x509.CreateCertificate(rand.Reader, tmpl, ca.cert, &key.PublicKey, ca.key)
	if err != nil {
		t.Fatal(err)
	}
	return tls.Certificate{Certificate: [][]byte{der}, PrivateKey: key}
}

// received is one message as the test server got it.
type received struct {
	From     string
	Size     int64 // SIZE= on MAIL
	Rcpts    []string
	Data     []byte
	TLS      bool
	Helo     string
	AuthUser string
}

// serverOpts shape the test server.
type serverOpts struct {
	noUTF8     bool             // do not offer SMTPUTF8
	cert       *tls.Certificate // nil: no STARTTLS
	authMechs  []string         // "PLAIN", "LOGIN"; empty: no AUTH
	user, pass string
	insecure   bool  // offer AUTH without TLS
	maxSize    int64 // SIZE advertised
	reject     map[string]*smtp.SMTPError
	dataGate   func() // called when a message's data has arrived, before the reply
	// noPipelining hides PIPELINING (RFC 2920) from the EHLO reply, which
	// go-smtp's server always sends.
	noPipelining bool
	discard      bool // count messages, keep none (benchmarks)
}

// testServer is a go-smtp server on 127.0.0.1 with a recording backend.
type testServer struct {
	addr string
	port int

	mu       sync.Mutex
	msgs     []received
	mails    int // MAIL commands seen
	accepted int // TCP connections accepted
	conns    []net.Conn
	closed   chan struct{} // one value per server-side connection closed
}

func startServer(t testing.TB, o serverOpts) *testServer {
	t.Helper()
	ts := &testServer{closed: make(chan struct{}, 100)}
	srv := smtp.NewServer(smtp.BackendFunc(func(c *smtp.Conn) (smtp.Session, error) {
		return &testSession{ts: ts, o: o, conn: c}, nil
	}))
	srv.Domain = "mx.test.example"
	srv.AllowInsecureAuth = o.insecure
	srv.MaxMessageBytes = o.maxSize
	srv.EnableSMTPUTF8 = !o.noUTF8
	if o.cert != nil {
		srv.TLSConfig = &tls.Config{Certificates: []tls.Certificate{*o.cert}, MinVersion: tls.VersionTLS12}
	}
	l, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	ts.addr = l.Addr().String()
	ts.port = l.Addr().(*net.TCPAddr).Port
	done := make(chan struct{})
	go func() {
		defer close(done)
		_ = srv.Serve(&countingListener{Listener: l, ts: ts, o: o})
	}()
	t.Cleanup(func() {
		srv.Close()
		l.Close() // in case Serve had not registered it yet
		<-done
	})
	return ts
}

func (ts *testServer) snapshot() (msgs []received, mails, accepted int) {
	ts.mu.Lock()
	defer ts.mu.Unlock()
	return append([]received(nil), ts.msgs...), ts.mails, ts.accepted
}

// dropConnections closes every server-side connection, as a server that
// times idle clients out does.
func (ts *testServer) dropConnections() {
	ts.mu.Lock()
	defer ts.mu.Unlock()
	for _, c := range ts.conns {
		c.Close()
	}
}

type countingListener struct {
	net.Listener
	ts *testServer
	o  serverOpts
}

// noPipeliningConn turns the PIPELINING line of the EHLO reply into an
// extension nobody knows.
type noPipeliningConn struct{ net.Conn }

func (c *noPipeliningConn) Write(p []byte) (int, error) {
	if _, err := c.Conn.Write(bytes.Replace(p, []byte("250-PIPELINING\r\n"), []byte("250-X-NOPIPELINING\r\n"), 1)); err != nil {
		return 0, err
	}
	return len(p), nil
}

func (l *countingListener) Accept() (net.Conn, error) {
	c, err := l.Listener.Accept()
	if err != nil {
		return nil, err
	}
	l.ts.mu.Lock()
	l.ts.accepted++
	if l.o.noPipelining {
		c = &noPipeliningConn{Conn: c}
	}
	nc := &notifyConn{Conn: c, closed: l.ts.closed}
	l.ts.conns = append(l.ts.conns, nc)
	l.ts.mu.Unlock()
	return nc, nil
}

type notifyConn struct {
	net.Conn
	once   sync.Once
	closed chan struct{}
}

func (c *notifyConn) Close() error {
	err := c.Conn.Close()
	c.once.Do(func() { c.closed <- struct{}{} })
	return err
}

type testSession struct {
	ts       *testServer
	o        serverOpts
	conn     *smtp.Conn
	cur      received
	authUser string
}

func (s *testSession) AuthMechanisms() []string { return s.o.authMechs }

func (s *testSession) Auth(mech string) (sasl.Server, error) {
	check := func(user, pass string) error {
		if user != s.o.user || pass != s.o.pass {
			return smtp.ErrAuthFailed
		}
		s.authUser = user
		return nil
	}
	switch mech {
	case "PLAIN":
		return saslserver.NewPlainServer(check), nil
	case "LOGIN":
		return saslserver.NewLoginServer(check), nil
	}
	return nil, smtp.ErrAuthUnknownMechanism
}

func (s *testSession) Mail(from string, opts *smtp.MailOptions) error {
	if len(s.o.authMechs) > 0 && s.authUser == "" {
		return smtp.ErrAuthRequired
	}
	s.ts.mu.Lock()
	s.ts.mails++
	s.ts.mu.Unlock()
	s.cur = received{From: from, Size: opts.Size, Helo: s.conn.Hostname(), AuthUser: s.authUser}
	_, s.cur.TLS = s.conn.TLSConnectionState()
	return nil
}

func (s *testSession) Rcpt(to string, _ *smtp.RcptOptions) error {
	if e := s.o.reject[to]; e != nil {
		return e
	}
	s.cur.Rcpts = append(s.cur.Rcpts, to)
	return nil
}

func (s *testSession) Data(r io.Reader) error {
	b, err := io.ReadAll(r)
	if err != nil {
		return err
	}
	s.cur.Data = b
	if s.o.dataGate != nil {
		s.o.dataGate()
	}
	s.ts.mu.Lock()
	if !s.o.discard {
		s.ts.msgs = append(s.ts.msgs, s.cur)
	}
	s.ts.mu.Unlock()
	if strings.Contains(string(b), "REJECT-AT-DATA") {
		return &smtp.SMTPError{Code: 554, EnhancedCode: smtp.EnhancedCode{5, 6, 0}, Message: "Content refused"}
	}
	return nil
}

func (s *testSession) Reset()        { s.cur = received{} }
func (s *testSession) Logout() error { return nil }

// closedPort returns a 127.0.0.1 address nobody listens on.
func closedPort(t *testing.T) string {
	t.Helper()
	l, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	addr := l.Addr().String()
	l.Close()
	return addr
}
