package smtpout

import (
	"context"
	"crypto/ecdsa"
	"crypto/elliptic"
	"crypto/rand"
	"crypto/tls"
	"crypto/x509"
	"crypto/x509/pkix"
	"io"
	"math/big"
	"net"
	"sync"
	"testing"
	"time"

	"github.com/emersion/go-smtp"

	"github.com/transportd/transportd/transport/mail/delivery"
)

// leafNoIP issues a server certificate for name only (no IP address).
func leafNoIP(t *testing.T, ca *testCA, name string) tls.Certificate {
	t.Helper()
	key, err := ecdsa.GenerateKey(elliptic.P256(), rand.Reader)
	if err != nil {
		t.Fatal(err)
	}
	tmpl := &x509.Certificate{SerialNumber: big.NewInt(3), Subject: pkix.Name{CommonName: name}, DNSNames: []string{name},
		NotBefore: time.Now().Add(-time.Hour), NotAfter: time.Now().Add(time.Hour),
		KeyUsage: x509.KeyUsageDigitalSignature, ExtKeyUsage: []x509.ExtKeyUsage{x509.ExtKeyUsageServerAuth}}
	der, err := x509.CreateCertificate(rand.Reader, tmpl, ca.cert, &key.PublicKey, ca.key)
	if err != nil {
		t.Fatal(err)
	}
	return tls.Certificate{Certificate: [][]byte{der}, PrivateKey: key}
}

// REQUIRETLS (RFC 8689) toward the next hop, against go-smtp servers on
// loopback that do and do not offer it.

type rtlsServer struct {
	addr string
	mu   sync.Mutex
	got  []bool // REQUIRETLS on MAIL, per message
}

type rtlsSession struct {
	s    *rtlsServer
	rtls bool
}

func (ss *rtlsSession) Mail(_ string, o *smtp.MailOptions) error {
	ss.rtls = o != nil && o.RequireTLS
	return nil
}
func (ss *rtlsSession) Rcpt(string, *smtp.RcptOptions) error { return nil }
func (ss *rtlsSession) Reset()                               {}
func (ss *rtlsSession) Logout() error                        { return nil }
func (ss *rtlsSession) Data(r io.Reader) error {
	_, _ = io.Copy(io.Discard, r)
	ss.s.mu.Lock()
	ss.s.got = append(ss.s.got, ss.rtls)
	ss.s.mu.Unlock()
	return nil
}

func startRTLS(t *testing.T, cert *tls.Certificate, offer bool) *rtlsServer {
	t.Helper()
	rs := &rtlsServer{}
	srv := smtp.NewServer(smtp.BackendFunc(func(*smtp.Conn) (smtp.Session, error) { return &rtlsSession{s: rs}, nil }))
	srv.Domain = "mx.test.example"
	srv.EnableREQUIRETLS = offer
	if cert != nil {
		srv.TLSConfig = &tls.Config{Certificates: []tls.Certificate{*cert}}
	}
	l, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	rs.addr = l.Addr().String()
	done := make(chan struct{})
	go func() { defer close(done); _ = srv.Serve(l) }()
	t.Cleanup(func() { srv.Close(); <-done })
	return rs
}

func TestREQUIRETLS(t *testing.T) {
	ca := newCA(t)
	good := ca.leaf(t, "127.0.0.1")
	wrongName := leafNoIP(t, ca, "other.example.test")
	rtls := func() *delivery.Message { m := message(testBody); m.RequireTLS = true; return m }
	for _, tc := range []struct {
		name     string
		cert     *tls.Certificate
		offer    bool
		msg      *delivery.Message
		code     int
		enhanced string
		text     string
		want     []bool
	}{
		{"offered, valid certificate", &good, true, rtls(), 0, "", "", []bool{true}},
		{"not offered", &good, false, rtls(), 550, "5.7.30", "does not offer REQUIRETLS", nil},
		{"no STARTTLS", nil, true, rtls(), 550, "5.7.30", "does not offer STARTTLS", nil},
		{"certificate for another name", &wrongName, true, rtls(), 451, "4.7.5", "REQUIRETLS (RFC 8689)", nil},
		{"an ordinary message to a server without it", &good, false, message(testBody), 0, "", "", []bool{false}},
	} {
		t.Run(tc.name, func(t *testing.T) {
			rs := startRTLS(t, tc.cert, tc.offer)
			s := newSender(t, Options{Connector: smartHostConnector(t, rs.addr), RootCAs: ca.pool})
			wantResult(t, s.Deliver(context.Background(), tc.msg, []string{"bob@example.test"})[0], tc.code, tc.enhanced, tc.text)
			rs.mu.Lock()
			defer rs.mu.Unlock()
			if len(rs.got) != len(tc.want) || (len(tc.want) == 1 && rs.got[0] != tc.want[0]) {
				t.Errorf("server got messages with REQUIRETLS %v, want %v", rs.got, tc.want)
			}
		})
	}
}
