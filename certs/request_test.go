package certs

import (
	"crypto/rand"
	"crypto/x509"
	"encoding/pem"
	"errors"
	"os"
	"os/exec"
	"path/filepath"
	"slices"
	"strings"
	"testing"
	"time"

	"software.sslmate.com/src/go-pkcs12"
)

// signCSR plays the certification authority: it checks the request's
// signature and issues a certificate for its key, subject and names.
func (ca *testCA) signCSR(t *testing.T, csrPEM []byte) *x509.Certificate {
	t.Helper()
	b, _ := pem.Decode(csrPEM)
	if b == nil || b.Type != "CERTIFICATE REQUEST" {
		t.Fatalf("not a PEM certificate request:\n%s", csrPEM)
	}
	csr, err := x509.ParseCertificateRequest(b.Bytes)
	if err != nil {
		t.Fatal(err)
	}
	if err := csr.CheckSignature(); err != nil {
		t.Fatalf("request signature: %v", err)
	}
	tmpl := &x509.Certificate{SerialNumber: nextSerial(), RawSubject: csr.RawSubject, DNSNames: csr.DNSNames,
		NotBefore: time.Now().Add(-time.Hour), NotAfter: time.Now().Add(90 * 24 * time.Hour),
		KeyUsage: x509.KeyUsageDigitalSignature | x509.KeyUsageKeyEncipherment, ExtKeyUsage: []x509.ExtKeyUsage{x509.ExtKeyUsageServerAuth}}
	der, err := x509.CreateCertificate(rand.Reader, tmpl, ca.cert, csr.PublicKey, ca.key)
	if err != nil {
		t.Fatal(err)
	}
	c, err := x509.ParseCertificate(der)
	if err != nil {
		t.Fatal(err)
	}
	return c
}

// The CSR round trip of Microsoft's procedure: New-ExchangeCertificate
// -GenerateRequest keeps the key pending; the CA's answer, in each form a
// CA hands it out (PEM, DER .cer, PKCS#7 .p7b with the chain), completes it.
func TestRequestCompletedByImport(t *testing.T) {
	ca := newTestCA(t, "Contoso Issuing CA")
	for _, form := range []string{"pem", "der", "p7b", "p7b-pem"} {
		t.Run(form, func(t *testing.T) {
			s, _ := openTestStore(t)
			r, err := s.NewRequest(RequestSpec{SubjectName: "c=US,o=Woodgrove Bank,cn=mail.woodgrovebank.com",
				DomainNames: []string{"autodiscover.woodgrovebank.com", "mail.fabrikam.com"}, FriendlyName: "Woodgrove 2026", PrivateKeyExportable: true})
			if err != nil {
				t.Fatal(err)
			}
			if r.Subject != "CN=mail.woodgrovebank.com, O=Woodgrove Bank, C=US" || r.PublicKeySize != 2048 ||
				!slices.Equal(r.CertificateDomains, []string{"mail.woodgrovebank.com", "autodiscover.woodgrovebank.com", "mail.fabrikam.com"}) {
				t.Fatalf("request = %+v", r)
			}
			if fi, err := os.Stat(r.Path); err != nil || fi.Mode().Perm() != 0o600 {
				t.Fatalf("request file %s: %v %v", r.Path, fi, err)
			}
			if got := s.Requests(); len(got) != 1 || got[0].Thumbprint != r.Thumbprint {
				t.Fatalf("Requests() = %v", got)
			}
			if len(s.List()) != 0 {
				t.Fatal("a pending request is listed as a certificate")
			}
			leaf := ca.signCSR(t, r.PEM())
			var answer []byte
			switch form {
			case "pem":
				answer = certPEM(leaf, ca.cert)
			case "der":
				answer = leaf.Raw
			case "p7b", "p7b-pem":
				if answer, err = marshalPKCS7([]*x509.Certificate{ca.cert, leaf}); err != nil {
					t.Fatal(err)
				}
				if form == "p7b-pem" {
					answer = pem.EncodeToMemory(&pem.Block{Type: "PKCS7", Bytes: answer})
				}
			}
			c, err := s.ImportWith(answer, ImportOptions{Services: []string{"SMTP"}})
			if err != nil {
				t.Fatalf("import the CA's answer: %v", err)
			}
			if c.Thumbprint != Thumbprint(leaf.Raw) || !c.HasPrivateKey || c.FriendlyName != "Woodgrove 2026" || !c.PrivateKeyExportable ||
				c.IsSelfSigned || !c.Covers("mail.fabrikam.com") {
				t.Fatalf("imported = %+v", c)
			}
			if len(s.Requests()) != 0 {
				t.Fatal("the completed request is still pending")
			}
			if _, err := os.Stat(r.Path); !errors.Is(err, os.ErrNotExist) {
				t.Fatalf("request file still there: %v", err)
			}
			// The private key kept by the request serves TLS: the store's
			// own file now holds certificate and key.
			if got, _ := s.Select("", "mail.woodgrovebank.com", time.Now()); got == nil || got.Thumbprint != c.Thumbprint {
				t.Fatalf("Select = %v", got)
			}
		})
	}
}

func TestImportWithoutKeyOrRequestIsRefused(t *testing.T) {
	s, _ := openTestStore(t)
	ca := newTestCA(t, "Contoso Issuing CA")
	leaf, _ := ca.issue(t, leafOpts{subject: cn("mail.contoso.com"), dns: []string{"mail.contoso.com"}})
	_, err := s.Import(certPEM(leaf), "", nil)
	if err == nil || !strings.Contains(err.Error(), "no pending request") {
		t.Fatalf("import of a lone certificate: %v", err)
	}
}

func TestRequestKeySizeAndRemove(t *testing.T) {
	s, _ := openTestStore(t)
	if _, err := s.NewRequest(RequestSpec{SubjectName: "CN=mail.contoso.com", KeySize: 1024}); err == nil || !strings.Contains(err.Error(), "2048") {
		t.Fatalf("KeySize 1024: %v", err)
	}
	r, err := s.NewRequest(RequestSpec{SubjectName: "mail.contoso.com", KeySize: 4096})
	if err != nil {
		t.Fatal(err)
	}
	if r.PublicKeySize != 4096 {
		t.Fatalf("PublicKeySize = %d", r.PublicKeySize)
	}
	out, err := s.Export(r.Thumbprint, "", false)
	if err != nil || !strings.HasPrefix(string(out), "-----BEGIN CERTIFICATE REQUEST-----") {
		t.Fatalf("Export of a request: %v\n%s", err, out)
	}
	if err := s.RemoveRequest(strings.ToLower(r.Thumbprint)); err != nil {
		t.Fatal(err)
	}
	if _, err := s.GetRequest(r.Thumbprint); !errors.Is(err, ErrNotFound) {
		t.Fatalf("GetRequest after remove: %v", err)
	}
}

// Export-ExchangeCertificate writes the key out only when it is exportable.
func TestExportNeedsExportableKey(t *testing.T) {
	s, _ := openTestStore(t)
	locked, err := s.NewSelfSigned(SelfSignedRequest{SubjectName: "CN=mail.contoso.com"})
	if err != nil {
		t.Fatal(err)
	}
	if _, err := s.Export(locked.Thumbprint, "pw", true); !errors.Is(err, ErrNotExportable) || !strings.Contains(err.Error(), "-PrivateKeyExportable $true") {
		t.Fatalf("export of a non-exportable key: %v", err)
	}
	open, err := s.NewSelfSigned(SelfSignedRequest{SubjectName: "CN=smtp.contoso.com", PrivateKeyExportable: true})
	if err != nil {
		t.Fatal(err)
	}
	if !open.PrivateKeyExportable {
		t.Fatal("PrivateKeyExportable not kept")
	}
	pfx, err := s.Export(open.Thumbprint, "P@ssw0rd1", true)
	if err != nil {
		t.Fatal(err)
	}
	key, leaf, _, err := pkcs12.DecodeChain(pfx, "P@ssw0rd1")
	if err != nil || key == nil || Thumbprint(leaf.Raw) != open.Thumbprint {
		t.Fatalf("exported PFX: %v", err)
	}
	// Base64 export imports elsewhere, with the password.
	other, _ := openTestStore(t)
	text, err := s.Export(open.Thumbprint, "P@ssw0rd1", false)
	if err != nil {
		t.Fatal(err)
	}
	if c, err := other.ImportWith(text, ImportOptions{Password: "P@ssw0rd1"}); err != nil || c.Thumbprint != open.Thumbprint || c.PrivateKeyExportable {
		t.Fatalf("import of the Base64 export: %+v %v", c, err)
	}
}

func TestClientCertificate(t *testing.T) {
	s, _ := openTestStore(t)
	now := time.Now()
	if _, err := s.ClientCertificate(strings.Repeat("0", 40), now); !errors.Is(err, ErrNotFound) {
		t.Fatalf("unknown thumbprint: %v", err)
	}
	c, err := s.NewSelfSigned(SelfSignedRequest{SubjectName: "CN=mail.contoso.com"})
	if err != nil {
		t.Fatal(err)
	}
	for _, name := range []string{c.Thumbprint, c.Name()} {
		if got, err := s.ClientCertificate(name, now); err != nil || got.Thumbprint != c.Thumbprint {
			t.Fatalf("ClientCertificate(%s) = %v, %v", name, got, err)
		}
	}
	if _, err := s.ClientCertificate(c.Thumbprint, c.NotAfter.Add(time.Hour)); err == nil || !strings.Contains(err.Error(), "renew") {
		t.Fatalf("expired: %v", err)
	}
	// A certificate without its key cannot identify the server.
	ca := newTestCA(t, "Contoso CA")
	leaf, _ := ca.issue(t, leafOpts{subject: cn("relay.contoso.com")})
	dropFile(t, s.Dir(), "relay.crt", certPEM(leaf), 0o600)
	if err := s.Reload(); err != nil {
		t.Fatal(err)
	}
	if _, err := s.ClientCertificate(Thumbprint(leaf.Raw), now); err == nil || !strings.Contains(err.Error(), "no private key") {
		t.Fatalf("keyless: %v", err)
	}
}

func FuzzParsePKCS7(f *testing.F) {
	if seed, err := marshalPKCS7(nil); err == nil {
		f.Add(seed)
	}
	f.Add([]byte{0x30, 0x03, 0x06, 0x01, 0x00})
	f.Fuzz(func(t *testing.T, data []byte) {
		certs, err := parsePKCS7(data)
		if err == nil && len(certs) == 0 {
			t.Fatal("no error and no certificates")
		}
	})
}

// OpenSSL plays a real certification authority: it verifies our PKCS#10
// request, signs it, and hands the answer out as a DER PKCS#7 chain (.p7b,
// the form Windows CAs use), which completes the request.
func TestOpenSSLSignsRequest(t *testing.T) {
	openssl, err := exec.LookPath("openssl")
	if err != nil {
		if os.Getenv("TRANSPORTD_INTEROP") == "require" {
			t.Fatal("openssl is missing and TRANSPORTD_INTEROP=require: apt-get install openssl")
		}
		t.Skip("openssl is not installed (apt-get install openssl; TRANSPORTD_INTEROP=require makes this a failure)")
	}
	run := func(args ...string) string {
		t.Helper()
		out, err := exec.Command(openssl, args...).CombinedOutput()
		if err != nil {
			t.Fatalf("openssl %s: %v\n%s", strings.Join(args, " "), err, out)
		}
		return string(out)
	}
	dir := t.TempDir()
	s, _ := openTestStore(t)
	r, err := s.NewRequest(RequestSpec{SubjectName: "c=US,o=Contoso,cn=mail.contoso.com", DomainNames: []string{"mail.contoso.com", "autodiscover.contoso.com"}})
	if err != nil {
		t.Fatal(err)
	}
	csr := filepath.Join(dir, "mail.req")
	if err := os.WriteFile(csr, r.PEM(), 0o600); err != nil {
		t.Fatal(err)
	}
	if out := run("req", "-in", csr, "-noout", "-verify", "-subject"); !strings.Contains(out, "C=US, O=Contoso, CN=mail.contoso.com") &&
		!strings.Contains(out, "C = US, O = Contoso, CN = mail.contoso.com") {
		t.Fatalf("openssl reads the subject as:\n%s", out)
	}
	caKey, caCrt, leaf, p7b := filepath.Join(dir, "ca.key"), filepath.Join(dir, "ca.crt"), filepath.Join(dir, "mail.crt"), filepath.Join(dir, "mail.p7b")
	run("req", "-x509", "-newkey", "rsa:2048", "-nodes", "-keyout", caKey, "-out", caCrt, "-subj", "/C=US/O=Contoso/CN=Contoso Issuing CA", "-days", "2")
	run("x509", "-req", "-in", csr, "-CA", caCrt, "-CAkey", caKey, "-CAcreateserial", "-out", leaf, "-days", "1", "-copy_extensions", "copyall")
	run("crl2pkcs7", "-nocrl", "-certfile", leaf, "-certfile", caCrt, "-outform", "DER", "-out", p7b)
	data, err := os.ReadFile(p7b)
	if err != nil {
		t.Fatal(err)
	}
	c, err := s.Import(data, "", []string{"SMTP"})
	if err != nil {
		t.Fatalf("import of OpenSSL's .p7b: %v", err)
	}
	if !c.HasPrivateKey || !c.Covers("autodiscover.contoso.com") || c.Subject != "CN=mail.contoso.com, O=Contoso, C=US" || len(c.TLSCertificate().Certificate) != 2 {
		t.Fatalf("imported %+v (chain %d)", c, len(c.TLSCertificate().Certificate))
	}
}
