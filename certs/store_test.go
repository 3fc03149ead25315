package certs

import (
	"crypto/rand"
	"crypto/rsa"
	"crypto/sha1"
	"crypto/x509"
	"crypto/x509/pkix"
	"encoding/hex"
	"errors"
	"fmt"
	"os"
	"path/filepath"
	"slices"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/transportd/transportd/transport/durable"
	"software.sslmate.com/src/go-pkcs12"
)

func TestCertificateProperties(t *testing.T) {
	ca := newTestCA(t, "Contoso Test CA")
	leaf, key := ca.issue(t, leafOpts{
		subject: cn("Mail.Contoso.com"),
		dns:     []string{"mail.contoso.com", "AutoDiscover.contoso.com", "MAIL.contoso.com"},
	})
	c, err := newCertificate(leaf, []*x509.Certificate{ca.cert}, key, "x.pem")
	if err != nil {
		t.Fatal(err)
	}
	sum := sha1.Sum(leaf.Raw)
	if want := strings.ToUpper(hex.EncodeToString(sum[:])); c.Thumbprint != want {
		t.Errorf("Thumbprint = %s, want %s", c.Thumbprint, want)
	}
	if !upperHex40.MatchString(c.Thumbprint) {
		t.Errorf("Thumbprint %q is not 40 upper-case hex digits", c.Thumbprint)
	}
	checks := []struct {
		name      string
		got, want any
	}{
		{"Subject", c.Subject, "CN=Mail.Contoso.com, O=Contoso, C=US"},
		{"Issuer", c.Issuer, "CN=Contoso Test CA, O=Contoso, C=US"},
		{"Name", c.Name(), "<I>CN=Contoso Test CA, O=Contoso, C=US<S>CN=Mail.Contoso.com, O=Contoso, C=US"},
		{"CertificateDomains", strings.Join(c.CertificateDomains, ","), "mail.contoso.com,autodiscover.contoso.com"},
		{"IsSelfSigned", c.IsSelfSigned, false},
		{"HasPrivateKey", c.HasPrivateKey, true},
		{"PublicKeySize", c.PublicKeySize, 256},
		{"SerialNumber", c.SerialNumber, fmt.Sprintf("%X", leaf.SerialNumber.Bytes())},
		{"ServicesString", c.ServicesString(), "None"},
		{"chain length", len(c.TLSCertificate().Certificate), 2},
	}
	for _, ch := range checks {
		if ch.got != ch.want {
			t.Errorf("%s = %v, want %v", ch.name, ch.got, ch.want)
		}
	}

	ss, _ := selfSigned(t, leafOpts{subject: pkix.Name{
		CommonName: "mail.contoso.com", Organization: []string{"Contoso, Ltd"}, Province: []string{"WA"}, Country: []string{"US"},
	}})
	c2, err := newCertificate(ss, nil, nil, "")
	if err != nil {
		t.Fatal(err)
	}
	if want := `CN=mail.contoso.com, O="Contoso, Ltd", S=WA, C=US`; c2.Subject != want {
		t.Errorf("Subject = %s, want %s", c2.Subject, want)
	}
	if !c2.IsSelfSigned || c2.HasPrivateKey {
		t.Errorf("IsSelfSigned=%v HasPrivateKey=%v, want true false", c2.IsSelfSigned, c2.HasPrivateKey)
	}
	if !EqualDN(c2.Subject, ss.Subject.String()) {
		t.Errorf("EqualDN(%q, Go's %q) = false", c2.Subject, ss.Subject.String())
	}

	if _, err := newCertificate(leaf, nil, newECKey(t), ""); err == nil || !strings.Contains(err.Error(), "does not match") {
		t.Errorf("mismatched key: err = %v", err)
	}
}

func TestCoversAndValid(t *testing.T) {
	c := &Certificate{CertificateDomains: []string{"mail.contoso.com", "*.contoso.com", "*.Fabrikam.com"}}
	tests := []struct {
		fqdn string
		want bool
	}{
		{"mail.contoso.com", true},
		{"MAIL.Contoso.COM", true},
		{"mail.contoso.com.", true},
		{"smtp.contoso.com", true},
		{"contoso.com", false},
		{"a.b.contoso.com", false},
		{".contoso.com", false},
		{"x.fabrikam.com", false}, // domains are stored lower-cased by the loader
		{"", false},
		{"mail.contoso.org", false},
	}
	for _, tt := range tests {
		if got := c.Covers(tt.fqdn); got != tt.want {
			t.Errorf("Covers(%q) = %v, want %v", tt.fqdn, got, tt.want)
		}
	}

	nb := time.Date(2025, 1, 1, 0, 0, 0, 0, time.UTC)
	v := &Certificate{NotBefore: nb, NotAfter: nb.AddDate(1, 0, 0)}
	for _, tt := range []struct {
		now  time.Time
		want bool
	}{
		{nb.Add(-time.Second), false},
		{nb, true},
		{nb.AddDate(0, 6, 0), true},
		{nb.AddDate(1, 0, 0), true},
		{nb.AddDate(1, 0, 0).Add(time.Second), false},
	} {
		if got := v.Valid(tt.now); got != tt.want {
			t.Errorf("Valid(%v) = %v, want %v", tt.now, got, tt.want)
		}
	}
}

func TestNewSelfSignedAndReopen(t *testing.T) {
	s, _ := openTestStore(t)
	if fi, err := os.Stat(s.Dir()); err != nil || fi.Mode().Perm() != 0o700 {
		t.Fatalf("store folder mode = %v, %v; want 0700", fi.Mode().Perm(), err)
	}
	c, err := s.NewSelfSigned(SelfSignedRequest{
		SubjectName:  "CN=mail.contoso.com, O=Contoso, C=US",
		DomainNames:  []string{"autodiscover.contoso.com"},
		FriendlyName: "test cert",
	})
	if err != nil {
		t.Fatal(err)
	}
	if c.Subject != "CN=mail.contoso.com, O=Contoso, C=US" || c.Issuer != c.Subject {
		t.Errorf("Subject %q Issuer %q", c.Subject, c.Issuer)
	}
	if !c.IsSelfSigned || !c.HasPrivateKey || c.PublicKeySize != 2048 {
		t.Errorf("IsSelfSigned=%v HasPrivateKey=%v PublicKeySize=%d", c.IsSelfSigned, c.HasPrivateKey, c.PublicKeySize)
	}
	if _, ok := c.TLSCertificate().PrivateKey.(*rsa.PrivateKey); !ok {
		t.Errorf("key type %T, want RSA", c.TLSCertificate().PrivateKey)
	}
	if !slices.Equal(c.Services, []string{"SMTP"}) {
		t.Errorf("Services = %v, want [SMTP]", c.Services)
	}
	if got := c.X509().DNSNames; !slices.Equal(got, []string{"autodiscover.contoso.com", "mail.contoso.com"}) {
		t.Errorf("SANs = %v", got)
	}
	if y := c.NotAfter.Sub(c.NotBefore); y < 5*365*24*time.Hour || y > 5*367*24*time.Hour {
		t.Errorf("validity = %v, want 5 years", y)
	}
	if filepath.Base(c.Path) != c.Thumbprint+".pem" {
		t.Errorf("Path = %s", c.Path)
	}
	if fi, err := os.Stat(c.Path); err != nil || fi.Mode().Perm() != 0o600 {
		t.Errorf("key file mode = %v, %v; want 0600", fi.Mode().Perm(), err)
	}

	s2, err := Open(s.Dir(), durable.WriteFile, nil)
	if err != nil {
		t.Fatal(err)
	}
	got, err := s2.Get(strings.ToLower(c.Thumbprint))
	if err != nil {
		t.Fatal(err)
	}
	if got.FriendlyName != "test cert" || !slices.Equal(got.Services, []string{"SMTP"}) || !got.HasPrivateKey {
		t.Errorf("after reopen: %+v", got)
	}

	for _, bad := range []SelfSignedRequest{
		{},
		{SubjectName: "CN=x, Q=y"},
		{SubjectName: "O=Contoso"},
		{SubjectName: "x", Services: []string{"FTP"}},
	} {
		if _, err := s.NewSelfSigned(bad); err == nil {
			t.Errorf("NewSelfSigned(%+v) succeeded", bad)
		}
	}
}

func TestImport(t *testing.T) {
	ca := newTestCA(t, "Contoso Test CA")
	ecLeaf, ecKey := ca.issue(t, leafOpts{subject: cn("mail.contoso.com"), dns: []string{"mail.contoso.com"}})
	rk, err := rsa.GenerateKey(rand.Reader, 2048)
	if err != nil {
		t.Fatal(err)
	}
	rsaLeaf, _ := ca.issue(t, leafOpts{subject: cn("rsa.contoso.com"), key: rk})
	otherLeaf, _ := ca.issue(t, leafOpts{subject: cn("other.contoso.com")})
	pfx, err := pkcs12.Modern.Encode(ecKey, ecLeaf, []*x509.Certificate{ca.cert}, "s3cret")
	if err != nil {
		t.Fatal(err)
	}
	cat := func(parts ...[]byte) []byte { return slices.Concat(parts...) }

	tests := []struct {
		name      string
		data      []byte
		password  string
		wantThumb string
		wantChain int
		wantErr   string
	}{
		{name: "PEM cert then PKCS#8 key", data: cat(certPEM(ecLeaf, ca.cert), keyPEM(t, ecKey, "pkcs8")), wantThumb: Thumbprint(ecLeaf.Raw), wantChain: 2},
		{name: "PEM key first, CA before leaf", data: cat(keyPEM(t, ecKey, "ec"), certPEM(ca.cert, ecLeaf)), wantThumb: Thumbprint(ecLeaf.Raw), wantChain: 2},
		{name: "PEM PKCS#1 RSA", data: cat(certPEM(rsaLeaf), keyPEM(t, rk, "pkcs1")), wantThumb: Thumbprint(rsaLeaf.Raw), wantChain: 1},
		{name: "PFX", data: pfx, password: "s3cret", wantThumb: Thumbprint(ecLeaf.Raw), wantChain: 2},
		{name: "PFX wrong password", data: pfx, password: "nope", wantErr: "wrong password"},
		{name: "PEM without key", data: certPEM(ecLeaf), wantErr: "no private key"},
		{name: "PEM key of another cert", data: cat(certPEM(otherLeaf), keyPEM(t, ecKey, "pkcs8")), wantErr: "does not match the certificate (thumbprint " + Thumbprint(otherLeaf.Raw)},
		{name: "garbage", data: []byte("hello"), wantErr: "PKCS#12"},
		{name: "unknown service", data: cat(certPEM(ecLeaf), keyPEM(t, ecKey, "pkcs8")), wantErr: "unknown service"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			s, _ := openTestStore(t)
			services := []string{"smtp", "iis"}
			if tt.name == "unknown service" {
				services = []string{"ftp"}
			}
			c, err := s.Import(tt.data, tt.password, services)
			if tt.wantErr != "" {
				if err == nil || !strings.Contains(err.Error(), tt.wantErr) {
					t.Fatalf("Import err = %v, want containing %q", err, tt.wantErr)
				}
				if len(s.List()) != 0 {
					t.Fatalf("failed import left %d certificates", len(s.List()))
				}
				return
			}
			if err != nil {
				t.Fatalf("Import: %v", err)
			}
			if c.Thumbprint != tt.wantThumb || !c.HasPrivateKey || !slices.Equal(c.Services, []string{"SMTP", "IIS"}) {
				t.Fatalf("imported %+v", c)
			}
			// Round trip: a fresh store reads the same certificate back.
			s2, err := Open(s.Dir(), durable.WriteFile, nil)
			if err != nil {
				t.Fatal(err)
			}
			got, err := s2.Get(tt.wantThumb)
			if err != nil {
				t.Fatal(err)
			}
			if n := len(got.TLSCertificate().Certificate); n != tt.wantChain {
				t.Errorf("chain length %d, want %d", n, tt.wantChain)
			}
			if !got.HasPrivateKey || got.Issuer != "CN=Contoso Test CA, O=Contoso, C=US" {
				t.Errorf("reloaded %+v", got)
			}
			// Importing it again names the thumbprint.
			if _, err := s.Import(tt.data, tt.password, nil); !errors.Is(err, ErrExists) || !strings.Contains(err.Error(), tt.wantThumb) {
				t.Errorf("second import err = %v, want ErrExists naming %s", err, tt.wantThumb)
			}
		})
	}
}

func TestDropInFiles(t *testing.T) {
	s, logs := openTestStore(t)
	ca := newTestCA(t, "Contoso Test CA")
	dir := s.Dir()

	pairLeaf, pairKey := ca.issue(t, leafOpts{subject: cn("pair.contoso.com")})
	dropFile(t, dir, "pair.crt", certPEM(pairLeaf, ca.cert), 0o644)
	dropFile(t, dir, "pair.key", keyPEM(t, pairKey, "pkcs8"), 0o600)

	derLeaf, _ := ca.issue(t, leafOpts{subject: cn("der.contoso.com")})
	dropFile(t, dir, "der.cer", derLeaf.Raw, 0o644)

	pwLeaf, pwKey := ca.issue(t, leafOpts{subject: cn("pw.contoso.com")})
	pfx, err := pkcs12.Modern.Encode(pwKey, pwLeaf, nil, "secret")
	if err != nil {
		t.Fatal(err)
	}
	dropFile(t, dir, "pw.pfx", pfx, 0o600)
	dropFile(t, dir, "pw.pfx.password", []byte("secret\n"), 0o600)

	nopwLeaf, nopwKey := ca.issue(t, leafOpts{subject: cn("nopw.contoso.com")})
	pfx2, err := pkcs12.Modern.Encode(nopwKey, nopwLeaf, nil, "")
	if err != nil {
		t.Fatal(err)
	}
	dropFile(t, dir, "nopw.p12", pfx2, 0o600)

	badPwLeaf, badPwKey := ca.issue(t, leafOpts{subject: cn("badpw.contoso.com")})
	pfx3, err := pkcs12.Modern.Encode(badPwKey, badPwLeaf, nil, "right")
	if err != nil {
		t.Fatal(err)
	}
	dropFile(t, dir, "badpw.pfx", pfx3, 0o600)

	mmLeaf, _ := ca.issue(t, leafOpts{subject: cn("mismatch.contoso.com")})
	dropFile(t, dir, "mismatch.pem", certPEM(mmLeaf), 0o600)
	dropFile(t, dir, "mismatch.key", keyPEM(t, newECKey(t), "pkcs8"), 0o600)

	dropFile(t, dir, "broken.pem", []byte("-----BEGIN CERTIFICATE-----\nAAAA\n-----END CERTIFICATE-----\n"), 0o600)
	dropFile(t, dir, "notes.txt", []byte("ignored"), 0o600)

	if err := s.Reload(); err != nil {
		t.Fatal(err)
	}
	tests := []struct {
		leaf    *x509.Certificate
		file    string
		wantKey bool
	}{
		{pairLeaf, "pair.crt", true},
		{derLeaf, "der.cer", false},
		{pwLeaf, "pw.pfx", true},
		{nopwLeaf, "nopw.p12", true},
	}
	for _, tt := range tests {
		c, err := s.Get(Thumbprint(tt.leaf.Raw))
		if err != nil {
			t.Errorf("%s: %v", tt.file, err)
			continue
		}
		if filepath.Base(c.Path) != tt.file || c.HasPrivateKey != tt.wantKey || len(c.Services) != 0 {
			t.Errorf("%s: Path=%s HasPrivateKey=%v Services=%v", tt.file, c.Path, c.HasPrivateKey, c.Services)
		}
	}
	if n := len(s.List()); n != len(tests) {
		t.Errorf("List has %d certificates, want %d", n, len(tests))
	}
	out := logs.String()
	for _, want := range []string{"badpw.pfx", "wrong password", "mismatch.pem", "does not match", "broken.pem", "skipping certificate file"} {
		if !strings.Contains(out, want) {
			t.Errorf("log lacks %q:\n%s", want, out)
		}
	}

	// Enable a dropped-in certificate, then remove it with its sidecar key.
	tp := Thumbprint(pairLeaf.Raw)
	if err := s.Enable(tp, []string{"IMAP"}); err != nil {
		t.Fatal(err)
	}
	if err := s.Enable(strings.ToLower(tp), []string{"SMTP", "imap"}); err != nil {
		t.Fatal(err)
	}
	if c, _ := s.Get(tp); !slices.Equal(c.Services, []string{"SMTP", "IMAP"}) {
		t.Errorf("Services after Enable = %v, want [SMTP IMAP]", c.Services)
	}
	if err := s.Remove(tp); err != nil {
		t.Fatal(err)
	}
	for _, f := range []string{"pair.crt", "pair.key"} {
		if _, err := os.Stat(filepath.Join(dir, f)); !errors.Is(err, os.ErrNotExist) {
			t.Errorf("%s still there after Remove: %v", f, err)
		}
	}
	if _, err := s.Get(tp); !errors.Is(err, ErrNotFound) {
		t.Errorf("Get after Remove: %v, want ErrNotFound", err)
	}
	if err := s.Remove(tp); !errors.Is(err, ErrNotFound) {
		t.Errorf("second Remove: %v, want ErrNotFound", err)
	}
	if err := s.Enable(tp, []string{"SMTP"}); !errors.Is(err, ErrNotFound) {
		t.Errorf("Enable of removed: %v, want ErrNotFound", err)
	}

	// A broken services.json keeps the last good mapping and blocks writes.
	if err := s.Enable(Thumbprint(pwLeaf.Raw), []string{"SMTP"}); err != nil {
		t.Fatal(err)
	}
	if err := os.WriteFile(filepath.Join(dir, ServicesFile), []byte("{not json"), 0o600); err != nil {
		t.Fatal(err)
	}
	if err := s.Reload(); err != nil {
		t.Fatal(err)
	}
	if c, _ := s.Get(Thumbprint(pwLeaf.Raw)); !c.HasService("SMTP") {
		t.Errorf("services lost after broken services.json: %v", c.Services)
	}
	if err := s.Enable(Thumbprint(pwLeaf.Raw), []string{"IIS"}); err == nil || !strings.Contains(err.Error(), "not overwriting") {
		t.Errorf("Enable with broken services.json: %v", err)
	}
}

func TestEnsureDefault(t *testing.T) {
	s, _ := openTestStore(t)
	c, created, err := s.EnsureDefault("EX01.contoso.com")
	if err != nil || !created {
		t.Fatalf("EnsureDefault = %v, %v, %v", c, created, err)
	}
	if c.Subject != "CN=ex01.contoso.com" || !slices.Equal(c.X509().DNSNames, []string{"ex01.contoso.com", "ex01"}) ||
		!slices.Equal(c.Services, []string{"SMTP"}) || c.FriendlyName != DefaultFriendlyName {
		t.Errorf("default certificate %+v, SANs %v", c, c.X509().DNSNames)
	}
	c2, created, err := s.EnsureDefault("ex01.contoso.com")
	if err != nil || created || c2 == nil || c2.Thumbprint != c.Thumbprint {
		t.Errorf("second EnsureDefault = %v, %v, %v", c2, created, err)
	}
	if n := len(s.List()); n != 1 {
		t.Errorf("store has %d certificates, want 1", n)
	}
	if _, _, err := s.EnsureDefault(" "); err == nil {
		t.Error("EnsureDefault with empty name succeeded")
	}
}

// The store writes every file through the function Open was given (the
// daemon's durable writer), and refuses to open without one.
func TestStoreWritesThroughTheInjectedWriter(t *testing.T) {
	if _, err := Open(filepath.Join(t.TempDir(), "certs"), nil, nil); err == nil || !strings.Contains(err.Error(), "durable.WriteFile") {
		t.Fatalf("Open without a writer: %v, want a refusal naming durable.WriteFile", err)
	}
	var mu sync.Mutex
	var written []string
	write := func(path string, data []byte, perm os.FileMode) error {
		mu.Lock()
		written = append(written, filepath.Base(path))
		mu.Unlock()
		return durable.WriteFile(path, data, perm)
	}
	s, err := Open(filepath.Join(t.TempDir(), "certs"), write, nil)
	if err != nil {
		t.Fatal(err)
	}
	c, _, err := s.EnsureDefault("mail.contoso.com")
	if err != nil {
		t.Fatal(err)
	}
	mu.Lock()
	defer mu.Unlock()
	if !slices.Contains(written, c.Thumbprint+".pem") || !slices.Contains(written, ServicesFile) {
		t.Fatalf("written through the writer: %v, want %s.pem and %s", written, c.Thumbprint, ServicesFile)
	}
}
