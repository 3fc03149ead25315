package service

import (
	"crypto/ecdsa"
	"crypto/elliptic"
	"crypto/rand"
	"crypto/x509"
	"crypto/x509/pkix"
	"encoding/pem"
	"math/big"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/transportd/transportd/certs"
	"github.com/transportd/transportd/policies/value"
	"github.com/transportd/transportd/transport/admin/config"
	"github.com/transportd/transportd/transport/admin/manage"
	"github.com/transportd/transportd/transport/durable"
)

// thumbprintServed runs STARTTLS on a new session and returns the
// thumbprint of the certificate the server presents.
func thumbprintServed(t *testing.T, addr string) string {
	t.Helper()
	c := dial(t, addr)
	c.expect("250", "EHLO x.example")
	st := c.startTLS("mail.contoso.com")
	c.close()
	return certs.Thumbprint(leafOf(st).Raw)
}

// testCA issues leaf certificates for mail.contoso.com as PEM (chain + key).
type testCA struct {
	cert *x509.Certificate
	key  *ecdsa.PrivateKey
}

func newTestCA(t *testing.T) *testCA {
	t.Helper()
	key, err := ecdsa.GenerateKey(elliptic.P256(), rand.Reader)
	if err != nil {
		t.Fatal(err)
	}
	tmpl := &x509.Certificate{
		SerialNumber: big.NewInt(1), Subject: pkix.Name{CommonName: "Contoso Test CA"},
		NotBefore: time.Now().Add(-24 * time.Hour), NotAfter: time.Now().Add(24 * time.Hour),
		IsCA: true, BasicConstraintsValid: true, KeyUsage: x509.KeyUsageCertSign,
	}
	der, err := x509.CreateCertificate(rand.Reader, tmpl, tmpl, &key.PublicKey, key)
	if err != nil {
		t.Fatal(err)
	}
	cert, _ := x509.ParseCertificate(der)
	return &testCA{cert: cert, key: key}
}

func (ca *testCA) issue(t *testing.T, serial int64, notBefore time.Time) []byte {
	t.Helper()
	key, err := ecdsa.GenerateKey(elliptic.P256(), rand.Reader)
	if err != nil {
		t.Fatal(err)
	}
	tmpl := &x509.Certificate{
		SerialNumber: big.NewInt(serial), Subject: pkix.Name{CommonName: "mail.contoso.com"},
		DNSNames: []string{"mail.contoso.com"}, NotBefore: notBefore, NotAfter: time.Now().Add(24 * time.Hour),
		ExtKeyUsage: []x509.ExtKeyUsage{x509.ExtKeyUsageServerAuth}, KeyUsage: x509.KeyUsageDigitalSignature,
	}
	der, err := x509.CreateCertificate(rand.Reader, tmpl, ca.cert, &key.PublicKey, ca.key)
	if err != nil {
		t.Fatal(err)
	}
	kder, _ := x509.MarshalPKCS8PrivateKey(key)
	out := pem.EncodeToMemory(&pem.Block{Type: "CERTIFICATE", Bytes: der})
	out = append(out, pem.EncodeToMemory(&pem.Block{Type: "CERTIFICATE", Bytes: ca.cert.Raw})...)
	return append(out, pem.EncodeToMemory(&pem.Block{Type: "PRIVATE KEY", Bytes: kder})...)
}

// waitCert waits until the daemon's store has reloaded and holds thumbprint.
func waitCert(t *testing.T, d *testDaemon, changed <-chan struct{}, thumbprint string) {
	t.Helper()
	for {
		if _, err := d.svc.Certs().Get(thumbprint); err == nil {
			return
		}
		select {
		case <-changed:
		case <-time.After(10 * time.Second):
			t.Fatalf("the daemon did not pick up certificate %s", thumbprint)
		}
	}
}

// A certificate imported by another process (the shell) is served on the
// next handshake without a restart; TlsCertificateName pins a thumbprint,
// and an <I>issuer<S>subject name follows renewals to the newest.
func TestCertificateSwapWithoutRestart(t *testing.T) {
	d := startDaemon(t, nil)
	changed := make(chan struct{}, 64)
	d.svc.Certs().OnChange(func() {
		select {
		case changed <- struct{}{}:
		default:
		}
	})
	selfSigned := thumbprintServed(t, d.addr587())

	// Another store object on the same folder, as `transportd cert import` uses.
	other, err := certs.Open(filepath.Join(d.svc.Config().DataDir(), "certs"), durable.WriteFile, nil)
	if err != nil {
		t.Fatal(err)
	}
	ca := newTestCA(t)
	first, err := other.Import(ca.issue(t, 10, time.Now().Add(-2*time.Hour)), "", []string{"SMTP"})
	if err != nil {
		t.Fatal(err)
	}
	waitCert(t, d, changed, first.Thumbprint)
	if got := thumbprintServed(t, d.addr587()); got != first.Thumbprint || got == selfSigned {
		t.Fatalf("served %s, want the CA-issued certificate %s over the self-signed %s", got, first.Thumbprint, selfSigned)
	}

	// Pin by thumbprint, then add a renewal: the pinned one stays.
	m := &manage.Manager{ConfigPath: d.cfgPath}
	if _, err := m.SetConnectors("Client Frontend*", manage.Params{{Name: "TlsCertificateName", Value: strings.ToLower(first.Thumbprint)}}); err != nil {
		t.Fatal(err)
	}
	d.waitReload()
	second, err := other.Import(ca.issue(t, 11, time.Now().Add(-1*time.Hour)), "", []string{"SMTP"})
	if err != nil {
		t.Fatal(err)
	}
	waitCert(t, d, changed, second.Thumbprint)
	if got := thumbprintServed(t, d.addr587()); got != first.Thumbprint {
		t.Fatalf("pinned connector served %s, want %s", got, first.Thumbprint)
	}
	// Name it by <I>issuer<S>subject: the newest renewal is served.
	if _, err := m.SetConnectors("Client Frontend*", manage.Params{{Name: "TlsCertificateName", Value: first.Name()}}); err != nil {
		t.Fatal(err)
	}
	d.waitReload()
	if got := thumbprintServed(t, d.addr587()); got != second.Thumbprint {
		t.Fatalf("served %s for the <I><S> name, want the newest %s", got, second.Thumbprint)
	}
}

// A connector whose named certificate is missing says so and does not
// silently serve another one: STARTTLS is not offered.
func TestMissingNamedCertificateIsLoud(t *testing.T) {
	d := startDaemon(t, func(c *config.Config, d *testDaemon) {
		c.ReceiveConnectors[1].TlsCertificateName = "<I>CN=Contoso CA<S>CN=mail.contoso.com"
	})
	c := dial(t, d.addr587())
	ehlo := c.expect("250", "EHLO x.example")
	if strings.Contains(ehlo, "STARTTLS") {
		t.Fatalf("STARTTLS offered with a missing named certificate:\n%s", ehlo)
	}
	m := &manage.Manager{ConfigPath: d.cfgPath}
	recs, err := m.GetConnectors("Client Frontend*")
	if err != nil {
		t.Fatal(err)
	}
	status, _ := recs[0].Get("CertificateStatus")
	if !strings.Contains(status, "WARNING") || !strings.Contains(status, "not found") {
		t.Fatalf("CertificateStatus = %q", status)
	}
}

func TestRequireTLSAndRateLimit(t *testing.T) {
	d := startDaemon(t, func(c *config.Config, d *testDaemon) {
		c.ReceiveConnectors[0].RequireTLS = true
		c.ReceiveConnectors[0].MessageRateLimit = value.Unlimited(2)
	})
	c := dial(t, d.addr25())
	c.expect("250", "EHLO x.example")
	c.expect("530 5.7.0", "MAIL FROM:<a@example.net>")
	c.startTLS("mail.contoso.com")
	c.expect("503 5.5.2", "MAIL FROM:<a@example.net>") // Send hello first: EHLO again (RFC 3207)
	c.expect("250", "EHLO x.example")
	for i := 0; i < 2; i++ {
		if r := c.send("a@example.net", []string{"alice@contoso.com"}, msg); !strings.HasPrefix(r, "250") {
			t.Fatalf("message %d: %q", i, r)
		}
	}
	c.expect("421 4.4.2", "MAIL FROM:<a@example.net>")
}
