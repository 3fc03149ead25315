package smtpout

import (
	"context"
	"crypto/ecdsa"
	"crypto/elliptic"
	"crypto/rand"
	"crypto/tls"
	"crypto/x509"
	"crypto/x509/pkix"
	"errors"
	"io"
	"math/big"
	"net"
	"sync"
	"testing"
	"time"

	"github.com/emersion/go-smtp"

	"github.com/transportd/transportd/transport/mail/delivery"
	"github.com/transportd/transportd/transport/mail/sendconnector"
)

// clientLeaf issues a TLS client certificate (as Microsoft 365 wants for a
// certificate-based inbound connector) for cn.
func (ca *testCA) clientLeaf(t *testing.T, cn string) tls.Certificate {
	t.Helper()
	key, err := ecdsa.GenerateKey(elliptic.P256(), rand.Reader)
	if err != nil {
		t.Fatal(err)
	}
	tmpl := &x509.Certificate{
		SerialNumber: big.NewInt(3),
		Subject:      pkix.Name{CommonName: cn, Organization: []string{"Contoso"}},
		DNSNames:     []string{cn},
		NotBefore:    time.Now().Add(-time.Hour),
		NotAfter:     time.Now().Add(time.Hour),
		KeyUsage:     x509.KeyUsageDigitalSignature,
		ExtKeyUsage:  []x509.ExtKeyUsage{x509.ExtKeyUsageClientAuth},
	}
	der, err := x509.CreateCertificate(rand.Reader, tmpl, ca.cert, &key.PublicKey, ca.key)
	if err != nil {
		t.Fatal(err)
	}
	return tls.Certificate{Certificate: [][]byte{der}, PrivateKey: key}
}

// certHost is a smart host that, like Microsoft 365's certificate-based
// inbound connector, requires a TLS client certificate issued by its CA
// and records the subject CN of the sender it took each message from.
type certHost struct {
	addr string
	mu   sync.Mutex
	cns  []string
}

type certSession struct {
	h    *certHost
	conn *smtp.Conn
}

func (s *certSession) Mail(string, *smtp.MailOptions) error { return nil }
func (s *certSession) Rcpt(string, *smtp.RcptOptions) error { return nil }
func (s *certSession) Reset()                               {}
func (s *certSession) Logout() error                        { return nil }
func (s *certSession) Data(r io.Reader) error {
	io.Copy(io.Discard, r)
	st, ok := s.conn.TLSConnectionState()
	if !ok || len(st.PeerCertificates) == 0 {
		return &smtp.SMTPError{Code: 530, EnhancedCode: smtp.EnhancedCode{5, 7, 0}, Message: "client certificate required"}
	}
	s.h.mu.Lock()
	s.h.cns = append(s.h.cns, st.PeerCertificates[0].Subject.CommonName)
	s.h.mu.Unlock()
	return nil
}

func startCertHost(t *testing.T, server tls.Certificate, clientCAs *x509.CertPool) *certHost {
	t.Helper()
	h := &certHost{}
	srv := smtp.NewServer(smtp.BackendFunc(func(c *smtp.Conn) (smtp.Session, error) { return &certSession{h: h, conn: c}, nil }))
	srv.Domain = "mx.test.example"
	srv.TLSConfig = &tls.Config{Certificates: []tls.Certificate{server}, MinVersion: tls.VersionTLS12,
		ClientAuth: tls.RequireAndVerifyClientCert, ClientCAs: clientCAs}
	l, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	h.addr = l.Addr().String()
	done := make(chan struct{})
	go func() { defer close(done); _ = srv.Serve(l) }()
	t.Cleanup(func() { srv.Close(); l.Close(); <-done })
	return h
}

func TestClientCertificate(t *testing.T) {
	ca := newCA(t)
	serverCert := ca.leaf(t, "mx.test.example")
	client := ca.clientLeaf(t, "mail.contoso.com")
	tests := []struct {
		name     string
		cert     ClientCertificateFunc // nil: the connector has no TlsCertificateName
		tlsDom   string
		code     int
		enhanced string
		contains string
	}{
		{name: "presented, DomainValidation of the smart host",
			cert: func() (*tls.Certificate, error) { return &client, nil }, tlsDom: "mx.test.example"},
		{name: "not in the store: waits, naming it",
			cert:   func() (*tls.Certificate, error) { return nil, errors.New("certificate 0A1B is not in the store") },
			tlsDom: "mx.test.example", code: 451, enhanced: "4.7.5", contains: "TlsCertificateName"},
		{name: "smart host certificate does not match TlsDomain",
			cert: func() (*tls.Certificate, error) { return &client, nil }, tlsDom: "contoso-com.mail.protection.outlook.com",
			code: 451, enhanced: "4.7.5", contains: "does not cover contoso-com.mail.protection.outlook.com"},
		{name: "none configured: the smart host refuses the session", tlsDom: "mx.test.example", code: 4},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			h := startCertHost(t, serverCert, ca.pool)
			c := smartHostConnector(t, h.addr)
			c.RequireTLS, c.TlsAuthLevel, c.TlsDomain = true, sendconnector.TLSDomainValidation, tt.tlsDom
			if tt.cert != nil {
				c.TlsCertificateName = "<I>CN=transportd test CA<S>CN=mail.contoso.com, O=Contoso"
			}
			s := newSender(t, Options{Connector: c, RootCAs: ca.pool})
			if tt.cert != nil {
				s.SetClientCertificate(tt.cert)
			}
			res := s.Deliver(context.Background(), message(testBody), []string{"bob@example.test"})
			h.mu.Lock()
			cns := append([]string(nil), h.cns...)
			h.mu.Unlock()
			switch {
			case tt.code == 4:
				var e *delivery.Error
				if !errors.As(res[0].Err, &e) || e.Code/100 != 4 || len(cns) != 0 {
					t.Fatalf("without a client certificate: %v, smart host took %v; want a transient failure", res[0].Err, cns)
				}
			case tt.code != 0:
				wantResult(t, res[0], tt.code, tt.enhanced, tt.contains)
				if len(cns) != 0 {
					t.Fatalf("smart host took a message: %v", cns)
				}
			default:
				wantResult(t, res[0], 0, "", "")
				if len(cns) != 1 || cns[0] != "mail.contoso.com" {
					t.Fatalf("smart host saw client certificates %v, want [mail.contoso.com]", cns)
				}
			}
		})
	}
}
