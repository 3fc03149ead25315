package certs

import (
	"bytes"
	"crypto"
	"crypto/ecdsa"
	"crypto/ed25519"
	"crypto/rsa"
	"crypto/sha1"
	"crypto/tls"
	"crypto/x509"
	"encoding/hex"
	"fmt"
	"slices"
	"strings"
	"time"
)

// Service names a certificate can be enabled for, in the order Exchange
// prints them.
const (
	ServiceSMTP = "SMTP"
	ServiceIMAP = "IMAP"
	ServicePOP  = "POP"
	ServiceIIS  = "IIS"
)

var serviceOrder = []string{ServiceSMTP, ServiceIMAP, ServicePOP, ServiceIIS}

// NormalizeServices checks service names (any case; "None" means no
// service), removes duplicates and returns them in Exchange's order.
func NormalizeServices(in []string) ([]string, error) {
	seen := map[string]bool{}
	for _, s := range in {
		for _, part := range strings.Split(s, ",") {
			u := strings.ToUpper(strings.TrimSpace(part))
			switch u {
			case "", "NONE":
				continue
			case "POP3":
				u = ServicePOP
			case "IMAP4":
				u = ServiceIMAP
			}
			if !slices.Contains(serviceOrder, u) {
				return nil, fmt.Errorf("certs: unknown service %q (want SMTP, IMAP, POP, IIS or None)", strings.TrimSpace(part))
			}
			seen[u] = true
		}
	}
	var out []string
	for _, s := range serviceOrder {
		if seen[s] {
			out = append(out, s)
		}
	}
	return out, nil
}

// Certificate is one certificate in the store, with Exchange's property
// names. A Certificate is never modified after the store hands it out; a
// change (Enable, a reload) produces new values. Callers must not modify it
// either.
type Certificate struct {
	// Thumbprint is the SHA-1 of the leaf DER, 40 upper-case hex digits, as
	// Exchange shows it.
	Thumbprint string
	// Issuer is the X.500 name as Exchange prints it, most specific first:
	// "CN=mail.contoso.com, O=Contoso, C=US".
	Issuer string
	// Subject is formatted like Issuer.
	Subject string
	// CertificateDomains holds the subject CN and the DNS subject
	// alternative names, lower-cased and de-duplicated, CN first.
	CertificateDomains []string
	// NotBefore is the start of the validity period.
	NotBefore time.Time
	// NotAfter is the end of the validity period.
	NotAfter time.Time
	// Services is a subset of SMTP, IMAP, POP and IIS in that order; Exchange
	// prints "None" when it is empty (see ServicesString).
	Services []string
	// HasPrivateKey reports whether the store holds the matching private key.
	HasPrivateKey bool
	// IsSelfSigned reports whether the certificate is signed by its own key.
	IsSelfSigned bool
	// PublicKeySize is the key size in bits (RSA modulus, EC curve size).
	PublicKeySize int
	// SerialNumber is the serial number in upper-case hex, as Exchange
	// shows it.
	SerialNumber string
	// FriendlyName is the administrator's label for the certificate.
	FriendlyName string
	// Path is the file in the store it was read from.
	Path string

	// PrivateKeyExportable reports whether Export-ExchangeCertificate may
	// write the private key out (New- or Import-ExchangeCertificate
	// -PrivateKeyExportable $true); false by default, as in Exchange.
	PrivateKeyExportable bool

	tls   tls.Certificate
	files []string // every file that contributed: Path, sidecars, duplicates
}

// TLSCertificate returns the leaf, its chain and (when HasPrivateKey) the
// private key, ready for a tls.Config. The result must not be modified.
func (c *Certificate) TLSCertificate() *tls.Certificate {
	return &c.tls
}

// X509 returns the parsed leaf certificate.
func (c *Certificate) X509() *x509.Certificate {
	return c.tls.Leaf
}

// Name returns the certificate's name as a TlsCertificateName:
// "<I>"+Issuer+"<S>"+Subject.
func (c *Certificate) Name() string {
	return "<I>" + c.Issuer + "<S>" + c.Subject
}

// ServicesString returns the services as Exchange prints them: "SMTP, IIS",
// or "None" when there are none.
func (c *Certificate) ServicesString() string {
	if len(c.Services) == 0 {
		return "None"
	}
	return strings.Join(c.Services, ", ")
}

// HasService reports whether the certificate is enabled for svc (any case).
func (c *Certificate) HasService(svc string) bool {
	for _, s := range c.Services {
		if strings.EqualFold(s, svc) {
			return true
		}
	}
	return false
}

// Valid reports whether now lies within NotBefore <= now <= NotAfter.
func (c *Certificate) Valid(now time.Time) bool {
	return !now.Before(c.NotBefore) && !now.After(c.NotAfter)
}

// Covers reports whether the subject CN or a DNS subject alternative name
// matches fqdn, ignoring case and a trailing dot. A wildcard "*.contoso.com"
// covers exactly one more label: "mail.contoso.com" but neither
// "contoso.com" nor "a.b.contoso.com".
func (c *Certificate) Covers(fqdn string) bool {
	host := strings.TrimSuffix(strings.ToLower(strings.TrimSpace(fqdn)), ".")
	if host == "" {
		return false
	}
	for _, d := range c.CertificateDomains {
		if domainCovers(d, host) {
			return true
		}
	}
	return false
}

// domainCovers matches one certificate domain (lower case) against host
// (lower case, no trailing dot).
func domainCovers(pattern, host string) bool {
	pattern = strings.TrimSuffix(pattern, ".")
	if pattern == host {
		return true
	}
	suffix, ok := strings.CutPrefix(pattern, "*.")
	if !ok || suffix == "" {
		return false
	}
	label, rest, ok := strings.Cut(host, ".")
	return ok && label != "" && rest == suffix
}

// Thumbprint returns the SHA-1 of der as 40 upper-case hex digits.
func Thumbprint(der []byte) string {
	sum := sha1.Sum(der)
	return strings.ToUpper(hex.EncodeToString(sum[:]))
}

// newCertificate builds a Certificate from a leaf, its chain (without the
// leaf) and the private key (may be nil). It fails when the key does not
// belong to the leaf.
func newCertificate(leaf *x509.Certificate, chain []*x509.Certificate, key crypto.PrivateKey, path string) (*Certificate, error) {
	tp := Thumbprint(leaf.Raw)
	if key != nil {
		if err := keyMatches(leaf, key); err != nil {
			return nil, fmt.Errorf("certificate %s: %w", tp, err)
		}
	}
	c := &Certificate{
		Thumbprint:         tp,
		Issuer:             formatDN(leaf.RawIssuer),
		Subject:            formatDN(leaf.RawSubject),
		CertificateDomains: certificateDomains(leaf),
		NotBefore:          leaf.NotBefore,
		NotAfter:           leaf.NotAfter,
		HasPrivateKey:      key != nil,
		IsSelfSigned:       isSelfSigned(leaf),
		PublicKeySize:      publicKeySize(leaf.PublicKey),
		SerialNumber:       serialHex(leaf),
		Path:               path,
	}
	c.tls.Certificate = [][]byte{leaf.Raw}
	for _, ca := range chain {
		c.tls.Certificate = append(c.tls.Certificate, ca.Raw)
	}
	c.tls.Leaf = leaf
	c.tls.PrivateKey = key
	return c, nil
}

// keyMatches checks that key is the private key of leaf.
func keyMatches(leaf *x509.Certificate, key crypto.PrivateKey) error {
	signer, ok := key.(crypto.Signer)
	if !ok {
		return fmt.Errorf("unsupported private key type %T", key)
	}
	pub, ok := signer.Public().(interface{ Equal(crypto.PublicKey) bool })
	if !ok || !pub.Equal(leaf.PublicKey) {
		return fmt.Errorf("private key does not match the certificate's public key")
	}
	return nil
}

func certificateDomains(leaf *x509.Certificate) []string {
	var out []string
	add := func(d string) {
		d = strings.ToLower(strings.TrimSpace(d))
		if d != "" && !slices.Contains(out, d) {
			out = append(out, d)
		}
	}
	add(leaf.Subject.CommonName)
	for _, d := range leaf.DNSNames {
		add(d)
	}
	return out
}

func isSelfSigned(leaf *x509.Certificate) bool {
	if !bytes.Equal(leaf.RawIssuer, leaf.RawSubject) {
		return false
	}
	return leaf.CheckSignature(leaf.SignatureAlgorithm, leaf.RawTBSCertificate, leaf.Signature) == nil
}

func publicKeySize(pub crypto.PublicKey) int {
	switch k := pub.(type) {
	case *rsa.PublicKey:
		return k.N.BitLen()
	case *ecdsa.PublicKey:
		return k.Curve.Params().BitSize
	case ed25519.PublicKey:
		return 256
	}
	return 0
}

func serialHex(leaf *x509.Certificate) string {
	if leaf.SerialNumber == nil {
		return ""
	}
	s := strings.ToUpper(leaf.SerialNumber.Text(16))
	if len(s)%2 == 1 {
		s = "0" + s
	}
	return s
}
