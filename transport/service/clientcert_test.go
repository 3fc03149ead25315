package service

import (
	"crypto/ecdsa"
	"crypto/elliptic"
	"crypto/rand"
	"crypto/sha1"
	"crypto/tls"
	"crypto/x509"
	"crypto/x509/pkix"
	"encoding/hex"
	"encoding/pem"
	"io"
	"math/big"
	"net"
	"strings"
	"sync"
	"testing"
	"time"

	gosmtp "github.com/emersion/go-smtp"

	"github.com/transportd/transportd/transport/admin/config"
	"github.com/transportd/transportd/transport/admin/control"
)

// selfSignedPEM makes a self-signed certificate for cn with its key, as a
// tls.Certificate, as PEM (certificate then key) and its thumbprint.
func selfSignedPEM(t *testing.T, cn string, usage x509.ExtKeyUsage) (tls.Certificate, []byte, string) {
	t.Helper()
	key, err := ecdsa.GenerateKey(elliptic.P256(), rand.Reader)
	if err != nil {
		t.Fatal(err)
	}
	tmpl := &x509.Certificate{SerialNumber: big.NewInt(time.Now().UnixNano()), Subject: pkix.Name{CommonName: cn},
		DNSNames: []string{cn}, NotBefore: time.Now().Add(-time.Hour), NotAfter: time.Now().Add(24 * time.Hour),
		KeyUsage: x509.KeyUsageDigitalSignature, ExtKeyUsage: []x509.ExtKeyUsage{usage}}
	der, err := x509.CreateCertificate(rand.Reader, tmpl, tmpl, &key.PublicKey, key)
	if err != nil {
		t.Fatal(err)
	}
	kder, err := x509.MarshalPKCS8PrivateKey(key)
	if err != nil {
		t.Fatal(err)
	}
	data := pem.EncodeToMemory(&pem.Block{Type: "CERTIFICATE", Bytes: der})
	data = append(data, pem.EncodeToMemory(&pem.Block{Type: "PRIVATE KEY", Bytes: kder})...)
	sum := sha1.Sum(der)
	return tls.Certificate{Certificate: [][]byte{der}, PrivateKey: key}, data, strings.ToUpper(hex.EncodeToString(sum[:]))
}

// certSink is a smart host that requires a TLS client certificate and
// records the thumbprint of the one each message came with.
type certSink struct {
	mu     sync.Mutex
	thumbs []string
}

type certSinkSession struct {
	s    *certSink
	conn *gosmtp.Conn
}

func (c *certSinkSession) Mail(string, *gosmtp.MailOptions) error { return nil }
func (c *certSinkSession) Rcpt(string, *gosmtp.RcptOptions) error { return nil }
func (c *certSinkSession) Reset()                                 {}
func (c *certSinkSession) Logout() error                          { return nil }
func (c *certSinkSession) Data(r io.Reader) error {
	io.Copy(io.Discard, r)
	st, _ := c.conn.TLSConnectionState()
	sum := sha1.Sum(st.PeerCertificates[0].Raw)
	c.s.mu.Lock()
	c.s.thumbs = append(c.s.thumbs, strings.ToUpper(hex.EncodeToString(sum[:])))
	c.s.mu.Unlock()
	return nil
}

// A send connector's TlsCertificateName is presented as the client
// certificate. While the store lacks it, the message waits in Retry with
// LastError naming it; once imported (no restart), it goes out with it.
func TestSendConnectorClientCertificate(t *testing.T) {
	serverCert, _, _ := selfSignedPEM(t, "smarthost.test", x509.ExtKeyUsageServerAuth)
	_, clientPEM, thumb := selfSignedPEM(t, "mail.contoso.com", x509.ExtKeyUsageClientAuth)
	cs := &certSink{}
	srv := gosmtp.NewServer(gosmtp.BackendFunc(func(c *gosmtp.Conn) (gosmtp.Session, error) { return &certSinkSession{s: cs, conn: c}, nil }))
	srv.Domain = "smarthost.test"
	srv.TLSConfig = &tls.Config{Certificates: []tls.Certificate{serverCert}, ClientAuth: tls.RequireAnyClientCert, MinVersion: tls.VersionTLS12}
	l, err := net.Listen("tcp4", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	go srv.Serve(l)
	t.Cleanup(func() { srv.Close() })

	d := startDaemon(t, func(c *config.Config, d *testDaemon) {
		sc := &c.SendConnectors[0]
		sc.SmartHosts = mustSmartHosts(l.Addr().String())
		sc.RequireTLS = true
		sc.TlsCertificateName = thumb
	})
	d.submit(t, []string{"friend@example.org"}, msg)

	var qs []control.Queue
	for deadline := time.Now().Add(10 * time.Second); ; {
		if err := d.control(t, control.OpQueueGet, control.Selector{}, &qs); err != nil {
			t.Fatal(err)
		}
		if len(qs) == 1 && strings.Contains(qs[0].LastError, "TlsCertificateName") {
			break
		}
		if time.Now().After(deadline) {
			t.Fatalf("LastError never named the missing client certificate: %+v", qs)
		}
		time.Sleep(20 * time.Millisecond) // polling Get-Queue as an admin would
	}
	if !strings.HasPrefix(qs[0].LastError, "4") || !strings.Contains(qs[0].LastError, thumb) {
		t.Fatalf("LastError = %q, want a transient failure naming %s", qs[0].LastError, thumb)
	}

	if _, err := d.svc.Certs().Import(clientPEM, "", nil); err != nil {
		t.Fatal(err)
	}
	for deadline := time.Now().Add(10 * time.Second); ; {
		cs.mu.Lock()
		got := append([]string(nil), cs.thumbs...)
		cs.mu.Unlock()
		if len(got) > 0 {
			if got[0] != thumb {
				t.Fatalf("smart host saw client certificate %s, want %s", got[0], thumb)
			}
			break
		}
		if time.Now().After(deadline) {
			t.Fatal("the message never left with the imported client certificate")
		}
		time.Sleep(20 * time.Millisecond) // the queue retries every 100 ms
	}
}
