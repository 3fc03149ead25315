package certs

import (
	"crypto"
	"crypto/rand"
	"crypto/rsa"
	"crypto/sha1"
	"crypto/x509"
	"encoding/hex"
	"encoding/pem"
	"errors"
	"fmt"
	"io/fs"
	"os"
	"path/filepath"
	"slices"
	"strconv"
	"strings"
	"time"
)

// RequestExt is the file extension of a pending certificate request in the
// store folder: <THUMBPRINT>.req, PEM holding the PKCS#10 request (RFC
// 2986) and its private key. The loader of certificates does not read it.
const RequestExt = ".req"

// Request is a pending certificate request (Get-ExchangeCertificate shows
// it with Status PendingRequest): New-ExchangeCertificate -GenerateRequest
// wrote it and keeps its private key until Import-ExchangeCertificate
// brings the CA's certificate for that key.
type Request struct {
	// Thumbprint is the SHA-1 of the request's DER, 40 upper-case hex
	// digits: the identity Get-, Export- and Remove-ExchangeCertificate take.
	Thumbprint string
	// Subject is formatted as Certificate.Subject.
	Subject string
	// CertificateDomains holds the subject CN and the DNS names requested.
	CertificateDomains []string
	// PublicKeySize is the RSA key size in bits.
	PublicKeySize int
	// FriendlyName labels the request and, after import, the certificate.
	FriendlyName string
	// PrivateKeyExportable is carried to the certificate the request
	// becomes: whether Export-ExchangeCertificate may write its key out.
	PrivateKeyExportable bool
	// Created is when the request was made.
	Created time.Time
	// Path is the request's file in the store.
	Path string

	der []byte
	key crypto.Signer
}

// PEM returns the request as Base64 PEM ("-----BEGIN CERTIFICATE
// REQUEST-----"), what a CA's web form takes.
func (r *Request) PEM() []byte {
	return pem.EncodeToMemory(&pem.Block{Type: "CERTIFICATE REQUEST", Bytes: r.der})
}

// DER returns the request in binary form (New-ExchangeCertificate -BinaryEncoded).
func (r *Request) DER() []byte { return slices.Clone(r.der) }

// RequestSpec describes a certificate request, like the parameters of
// New-ExchangeCertificate -GenerateRequest.
type RequestSpec struct {
	// SubjectName is the X.500 subject, in either order Exchange's examples
	// write it: "C=US, O=Contoso, CN=mail.contoso.com" or
	// "CN=mail.contoso.com, O=Contoso, C=US", or just a host name.
	SubjectName string
	// DomainNames become the DNS subject alternative names; the subject CN
	// is added when it is not listed.
	DomainNames []string
	// KeySize is the RSA key size: 2048 (the default), 3072 or 4096.
	KeySize int
	// FriendlyName labels the request and the certificate it becomes.
	FriendlyName string
	// PrivateKeyExportable is carried to the certificate.
	PrivateKeyExportable bool
}

// NewRequest creates an RSA key and a PKCS#10 certificate request signed
// with it (SHA-256), and keeps both in the store as <THUMBPRINT>.req (mode
// 0600, written durably) until Import brings the CA's answer.
func (s *Store) NewRequest(spec RequestSpec) (*Request, error) {
	bits := spec.KeySize
	switch bits {
	case 0:
		bits = 2048
	case 2048, 3072, 4096:
	case 1024:
		return nil, errors.New("certs: -KeySize 1024: no public CA issues certificates for 1024-bit RSA keys any more (CA/Browser Forum baseline requirements); use 2048 or 4096")
	default:
		return nil, fmt.Errorf("certs: -KeySize %d: use 2048, 3072 or 4096", bits)
	}
	tmpl, err := selfSignedTemplate(SelfSignedRequest{SubjectName: spec.SubjectName, DomainNames: spec.DomainNames}, time.Now())
	if err != nil {
		return nil, fmt.Errorf("certs: certificate request: %w", err)
	}
	key, err := rsa.GenerateKey(rand.Reader, bits)
	if err != nil {
		return nil, fmt.Errorf("certs: generate RSA key: %w", err)
	}
	der, err := x509.CreateCertificateRequest(rand.Reader, &x509.CertificateRequest{
		RawSubject: tmpl.RawSubject, DNSNames: tmpl.DNSNames, SignatureAlgorithm: x509.SHA256WithRSA,
	}, key)
	if err != nil {
		return nil, fmt.Errorf("certs: sign certificate request: %w", err)
	}
	keyDER, err := x509.MarshalPKCS8PrivateKey(key)
	if err != nil {
		return nil, fmt.Errorf("certs: encode private key: %w", err)
	}
	headers := map[string]string{"Created": time.Now().UTC().Format(time.RFC3339)}
	if spec.FriendlyName != "" {
		headers["FriendlyName"] = spec.FriendlyName
	}
	if spec.PrivateKeyExportable {
		headers["PrivateKeyExportable"] = "true"
	}
	data := pem.EncodeToMemory(&pem.Block{Type: "CERTIFICATE REQUEST", Headers: headers, Bytes: der})
	data = append(data, pem.EncodeToMemory(&pem.Block{Type: "PRIVATE KEY", Bytes: keyDER})...)
	sum := sha1.Sum(der)
	path := filepath.Join(s.dir, strings.ToUpper(hex.EncodeToString(sum[:]))+RequestExt)
	s.opMu.Lock()
	defer s.opMu.Unlock()
	if err := s.writeFile(path, data, 0o600); err != nil {
		return nil, fmt.Errorf("certs: write certificate request %s: %w", path, err)
	}
	r, err := readRequest(path)
	if err != nil {
		return nil, fmt.Errorf("certs: read back %s: %w", path, err)
	}
	s.log.Info("certificate request created", "thumbprint", r.Thumbprint, "subject", r.Subject, "file", path)
	return r, nil
}

// x500Order turns a name written least specific first, as Microsoft's
// examples write it ("c=US,o=Woodgrove Bank,cn=mail.woodgrovebank.com"),
// into the most-specific-first form buildRawName takes, so that the subject
// is the usual C, O, CN sequence either way. Anything else is returned as
// it is.
func x500Order(dn string) string {
	attrs, err := parseDN(dn)
	if err != nil || len(attrs) < 2 || attrs[0].key == "CN" || attrs[len(attrs)-1].key != "CN" {
		return dn
	}
	parts := make([]string, 0, len(attrs))
	for i := len(attrs) - 1; i >= 0; i-- {
		parts = append(parts, attrs[i].key+"="+quoteDNValue(attrs[i].value))
	}
	return strings.Join(parts, ", ")
}

// readRequest reads one <THUMBPRINT>.req file.
func readRequest(path string) (*Request, error) {
	data, err := os.ReadFile(path)
	if err != nil {
		return nil, err
	}
	r := &Request{Path: path}
	for rest := data; ; {
		var b *pem.Block
		if b, rest = pem.Decode(rest); b == nil {
			break
		}
		switch b.Type {
		case "CERTIFICATE REQUEST", "NEW CERTIFICATE REQUEST":
			csr, err := x509.ParseCertificateRequest(b.Bytes)
			if err != nil {
				return nil, fmt.Errorf("certificate request: %w", err)
			}
			r.der = b.Bytes
			r.Subject = formatDN(csr.RawSubject)
			r.CertificateDomains = certificateDomains(&x509.Certificate{Subject: csr.Subject, DNSNames: csr.DNSNames})
			r.PublicKeySize = publicKeySize(csr.PublicKey)
			r.FriendlyName = b.Headers["FriendlyName"]
			r.PrivateKeyExportable, _ = strconv.ParseBool(b.Headers["PrivateKeyExportable"])
			r.Created, _ = time.Parse(time.RFC3339, b.Headers["Created"])
		case "PRIVATE KEY", "RSA PRIVATE KEY", "EC PRIVATE KEY":
			k, err := parsePrivateKey(b)
			if err != nil {
				return nil, err
			}
			signer, ok := k.(crypto.Signer)
			if !ok {
				return nil, fmt.Errorf("unsupported private key type %T", k)
			}
			r.key = signer
		}
	}
	if r.der == nil || r.key == nil {
		return nil, errors.New("needs a CERTIFICATE REQUEST and its PRIVATE KEY")
	}
	r.Thumbprint = Thumbprint(r.der)
	return r, nil
}

// Requests returns the pending certificate requests, oldest first. A file
// that cannot be read is logged and skipped.
func (s *Store) Requests() []*Request {
	entries, err := os.ReadDir(s.dir)
	if err != nil {
		s.log.Error("cannot read the store folder for certificate requests", "err", err)
		return nil
	}
	var out []*Request
	for _, e := range entries {
		if e.IsDir() || strings.HasPrefix(e.Name(), ".") || !strings.EqualFold(filepath.Ext(e.Name()), RequestExt) {
			continue
		}
		r, err := readRequest(filepath.Join(s.dir, e.Name()))
		if err != nil {
			s.log.Warn("skipping certificate request file", "file", filepath.Join(s.dir, e.Name()), "err", err)
			continue
		}
		out = append(out, r)
	}
	slices.SortStableFunc(out, func(a, b *Request) int { return a.Created.Compare(b.Created) })
	return out
}

// GetRequest returns the pending request with the given thumbprint; the
// error wraps ErrNotFound when there is none.
func (s *Store) GetRequest(thumbprint string) (*Request, error) {
	tp, err := NormalizeThumbprint(thumbprint)
	if err != nil {
		return nil, fmt.Errorf("certs: get %q: %w", thumbprint, err)
	}
	for _, r := range s.Requests() {
		if r.Thumbprint == tp {
			return r, nil
		}
	}
	return nil, fmt.Errorf("certs: certificate request %s: %w in store %s", tp, ErrNotFound, s.dir)
}

// RemoveRequest deletes a pending request and its private key.
func (s *Store) RemoveRequest(thumbprint string) error {
	s.opMu.Lock()
	defer s.opMu.Unlock()
	r, err := s.GetRequest(thumbprint)
	if err != nil {
		return err
	}
	if err := os.Remove(r.Path); err != nil && !errors.Is(err, fs.ErrNotExist) {
		return fmt.Errorf("certs: remove certificate request: %w", err)
	}
	s.log.Info("certificate request removed", "thumbprint", r.Thumbprint, "subject", r.Subject)
	return nil
}

// requestFor returns the pending request whose key belongs to one of
// certs, and that certificate's index; nil when none does.
func (s *Store) requestFor(certs []*x509.Certificate) (*Request, int) {
	for _, r := range s.Requests() {
		for i, c := range certs {
			if keyMatches(c, r.key) == nil {
				return r, i
			}
		}
	}
	return nil, -1
}

// ErrNotExportable is wrapped by Export's error for a certificate whose
// PrivateKeyExportable is false.
var ErrNotExportable = errors.New("private key is not exportable")

// Export returns what Export-ExchangeCertificate writes: for a pending
// request, the PKCS#10 request (PEM, or DER when binary); for a
// certificate, a PKCS#12 file with its chain and private key, encrypted
// with password (DER when binary, else Base64 text). A certificate whose
// PrivateKeyExportable is false is refused (wrapping ErrNotExportable), as
// in Exchange.
func (s *Store) Export(thumbprint, password string, binary bool) ([]byte, error) {
	if r, err := s.GetRequest(thumbprint); err == nil {
		if binary {
			return r.DER(), nil
		}
		return r.PEM(), nil
	}
	c, err := s.Get(thumbprint)
	if err != nil {
		return nil, fmt.Errorf("certs: export: %w", err)
	}
	if !c.HasPrivateKey {
		return nil, fmt.Errorf("certs: export %s: the store holds no private key for it", c.Thumbprint)
	}
	if !c.PrivateKeyExportable {
		return nil, fmt.Errorf("certs: export %s (%s): %w (PrivateKeyExportable False); a certificate made here gets an exportable key with New-ExchangeCertificate -PrivateKeyExportable $true, an imported one with Import-ExchangeCertificate -PrivateKeyExportable $true",
			c.Thumbprint, c.Subject, ErrNotExportable)
	}
	var chain []*x509.Certificate
	for _, der := range c.tls.Certificate[1:] {
		ca, err := x509.ParseCertificate(der)
		if err != nil {
			return nil, fmt.Errorf("certs: export %s: chain: %w", c.Thumbprint, err)
		}
		chain = append(chain, ca)
	}
	pfx, err := encodePFX(c.tls.PrivateKey, c.tls.Leaf, chain, password)
	if err != nil {
		return nil, fmt.Errorf("certs: export %s: %w", c.Thumbprint, err)
	}
	if binary {
		return pfx, nil
	}
	return pem.EncodeToMemory(&pem.Block{Type: "PKCS12", Bytes: pfx}), nil
}
