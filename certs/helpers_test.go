package certs

import (
	"bytes"
	"crypto"
	"crypto/ecdsa"
	"crypto/elliptic"
	"crypto/rand"
	"crypto/rsa"
	"crypto/x509"
	"crypto/x509/pkix"
	"encoding/pem"
	"log/slog"
	"math/big"
	"os"
	"path/filepath"
	"sync"
	"testing"
	"time"

	"github.com/transportd/transportd/transport/durable"
)

// syncBuffer collects log output from any goroutine, also after a test ends.
type syncBuffer struct {
	mu  sync.Mutex
	buf bytes.Buffer
}

func (b *syncBuffer) Write(p []byte) (int, error) {
	b.mu.Lock()
	defer b.mu.Unlock()
	return b.buf.Write(p)
}

func (b *syncBuffer) String() string {
	b.mu.Lock()
	defer b.mu.Unlock()
	return b.buf.String()
}

// openTestStore opens a store in a fresh folder and returns its log.
func openTestStore(t *testing.T) (*Store, *syncBuffer) {
	t.Helper()
	logs := &syncBuffer{}
	dir := filepath.Join(t.TempDir(), "certs")
	s, err := Open(dir, durable.WriteFile, slog.New(slog.NewTextHandler(logs, &slog.HandlerOptions{Level: slog.LevelDebug})))
	if err != nil {
		t.Fatalf("Open: %v", err)
	}
	t.Cleanup(func() {
		if t.Failed() {
			t.Logf("store log:\n%s", logs.String())
		}
	})
	return s, logs
}

type testCA struct {
	cert *x509.Certificate
	key  *ecdsa.PrivateKey
}

func nextSerial() *big.Int {
	n, err := rand.Int(rand.Reader, new(big.Int).Lsh(big.NewInt(1), 64))
	if err != nil {
		panic(err)
	}
	return n.Add(n, big.NewInt(1))
}

func newECKey(t *testing.T) *ecdsa.PrivateKey {
	t.Helper()
	k, err := ecdsa.GenerateKey(elliptic.P256(), rand.Reader)
	if err != nil {
		t.Fatal(err)
	}
	return k
}

// newTestCA makes a root CA "CN=<cn>, O=Contoso, C=US".
func newTestCA(t *testing.T, cn string) *testCA {
	t.Helper()
	key := newECKey(t)
	tmpl := &x509.Certificate{
		SerialNumber:          nextSerial(),
		Subject:               pkix.Name{CommonName: cn, Organization: []string{"Contoso"}, Country: []string{"US"}},
		NotBefore:             time.Now().Add(-1000 * 24 * time.Hour),
		NotAfter:              time.Now().Add(1000 * 24 * time.Hour),
		IsCA:                  true,
		BasicConstraintsValid: true,
		KeyUsage:              x509.KeyUsageCertSign | x509.KeyUsageDigitalSignature,
	}
	der, err := x509.CreateCertificate(rand.Reader, tmpl, tmpl, &key.PublicKey, key)
	if err != nil {
		t.Fatal(err)
	}
	c, err := x509.ParseCertificate(der)
	if err != nil {
		t.Fatal(err)
	}
	return &testCA{cert: c, key: key}
}

type leafOpts struct {
	subject   pkix.Name
	dns       []string
	notBefore time.Time
	notAfter  time.Time
	key       crypto.Signer // nil: a new P-256 key
}

func (o *leafOpts) defaults() {
	if o.notBefore.IsZero() {
		o.notBefore = time.Now().Add(-24 * time.Hour)
	}
	if o.notAfter.IsZero() {
		o.notAfter = o.notBefore.Add(365 * 24 * time.Hour)
	}
}

func makeCert(t *testing.T, o leafOpts, parent *x509.Certificate, parentKey crypto.Signer) (*x509.Certificate, crypto.Signer) {
	t.Helper()
	o.defaults()
	key := o.key
	if key == nil {
		key = newECKey(t)
	}
	tmpl := &x509.Certificate{
		SerialNumber:          nextSerial(),
		Subject:               o.subject,
		DNSNames:              o.dns,
		NotBefore:             o.notBefore,
		NotAfter:              o.notAfter,
		KeyUsage:              x509.KeyUsageDigitalSignature,
		ExtKeyUsage:           []x509.ExtKeyUsage{x509.ExtKeyUsageServerAuth},
		BasicConstraintsValid: true,
	}
	if parent == nil {
		parent, parentKey = tmpl, key
	}
	der, err := x509.CreateCertificate(rand.Reader, tmpl, parent, key.Public(), parentKey)
	if err != nil {
		t.Fatal(err)
	}
	c, err := x509.ParseCertificate(der)
	if err != nil {
		t.Fatal(err)
	}
	return c, key
}

// issue makes a leaf signed by the CA.
func (ca *testCA) issue(t *testing.T, o leafOpts) (*x509.Certificate, crypto.Signer) {
	t.Helper()
	return makeCert(t, o, ca.cert, ca.key)
}

// selfSigned makes a self-signed leaf.
func selfSigned(t *testing.T, o leafOpts) (*x509.Certificate, crypto.Signer) {
	t.Helper()
	return makeCert(t, o, nil, nil)
}

func cn(name string) pkix.Name {
	return pkix.Name{CommonName: name, Organization: []string{"Contoso"}, Country: []string{"US"}}
}

// keyPEM encodes a key in the given format: "pkcs8", "pkcs1" or "ec".
func keyPEM(t *testing.T, key crypto.Signer, format string) []byte {
	t.Helper()
	var b *pem.Block
	switch format {
	case "pkcs1":
		b = &pem.Block{Type: "RSA PRIVATE KEY", Bytes: x509.MarshalPKCS1PrivateKey(key.(*rsa.PrivateKey))}
	case "ec":
		der, err := x509.MarshalECPrivateKey(key.(*ecdsa.PrivateKey))
		if err != nil {
			t.Fatal(err)
		}
		b = &pem.Block{Type: "EC PRIVATE KEY", Bytes: der}
	default:
		der, err := x509.MarshalPKCS8PrivateKey(key)
		if err != nil {
			t.Fatal(err)
		}
		b = &pem.Block{Type: "PRIVATE KEY", Bytes: der}
	}
	return pem.EncodeToMemory(b)
}

func certPEM(certs ...*x509.Certificate) []byte {
	var out []byte
	for _, c := range certs {
		out = append(out, pem.EncodeToMemory(&pem.Block{Type: "CERTIFICATE", Bytes: c.Raw})...)
	}
	return out
}

// dropFile writes a file into dir atomically (write elsewhere, rename in),
// so a watcher never sees it half-written.
func dropFile(t *testing.T, dir, name string, data []byte, perm os.FileMode) {
	t.Helper()
	tmp := filepath.Join(t.TempDir(), name)
	if err := os.WriteFile(tmp, data, perm); err != nil {
		t.Fatal(err)
	}
	if err := os.Rename(tmp, filepath.Join(dir, name)); err != nil {
		t.Fatal(err)
	}
}
