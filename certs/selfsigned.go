package certs

import (
	"crypto/rand"
	"crypto/rsa"
	"crypto/x509"
	"errors"
	"fmt"
	"math/big"
	"slices"
	"strings"
	"time"
)

// DefaultFriendlyName is the friendly name of the certificate EnsureDefault
// creates, as Exchange Setup names its own.
const DefaultFriendlyName = "Microsoft Exchange"

// SelfSignedRequest describes a self-signed certificate to create, like the
// parameters of New-ExchangeCertificate.
type SelfSignedRequest struct {
	// SubjectName is "CN=mail.contoso.com" (further attributes such as O, OU,
	// L, S and C may follow, most specific first) or just
	// "mail.contoso.com". Empty uses the first of DomainNames.
	SubjectName string
	// DomainNames become the DNS subject alternative names; the subject CN
	// is added when it is not listed.
	DomainNames []string
	// Services defaults to SMTP.
	Services []string
	// Validity defaults to five years, as in Exchange.
	Validity time.Duration
	// FriendlyName labels the certificate.
	FriendlyName string
	// PrivateKeyExportable lets Export-ExchangeCertificate write the key out.
	PrivateKeyExportable bool
	// KeySize is the RSA key size: 2048 (the default), 3072 or 4096.
	KeySize int
}

// NewSelfSigned creates a self-signed RSA 2048 certificate, writes it to the
// store as <THUMBPRINT>.pem (mode 0600, atomically) and enables it for the
// requested services.
func (s *Store) NewSelfSigned(req SelfSignedRequest) (*Certificate, error) {
	s.opMu.Lock()
	c, err := s.newSelfSigned(req)
	s.opMu.Unlock()
	if err != nil {
		return nil, err
	}
	s.notify()
	return c, nil
}

func (s *Store) newSelfSigned(req SelfSignedRequest) (*Certificate, error) {
	services := req.Services
	if len(services) == 0 {
		services = []string{ServiceSMTP}
	}
	svcs, err := NormalizeServices(services)
	if err != nil {
		return nil, fmt.Errorf("certs: new self-signed certificate: %w", err)
	}
	tmpl, err := selfSignedTemplate(req, time.Now())
	if err != nil {
		return nil, fmt.Errorf("certs: new self-signed certificate: %w", err)
	}
	bits := req.KeySize
	switch bits {
	case 0:
		bits = 2048
	case 2048, 3072, 4096:
	default:
		return nil, fmt.Errorf("certs: -KeySize %d: use 2048, 3072 or 4096", bits)
	}
	key, err := rsa.GenerateKey(rand.Reader, bits)
	if err != nil {
		return nil, fmt.Errorf("certs: generate RSA key: %w", err)
	}
	der, err := x509.CreateCertificate(rand.Reader, tmpl, tmpl, &key.PublicKey, key)
	if err != nil {
		return nil, fmt.Errorf("certs: sign self-signed certificate: %w", err)
	}
	leaf, err := x509.ParseCertificate(der)
	if err != nil {
		return nil, fmt.Errorf("certs: parse new certificate: %w", err)
	}
	c, err := newCertificate(leaf, nil, key, "")
	if err != nil {
		return nil, fmt.Errorf("certs: new self-signed certificate: %w", err)
	}
	got, err := s.addEntry(c, serviceEntry{Services: svcs, FriendlyName: req.FriendlyName, Exportable: req.PrivateKeyExportable})
	if err != nil {
		return nil, fmt.Errorf("certs: new self-signed certificate: %w", err)
	}
	return got, nil
}

// selfSignedTemplate turns a request into a certificate template.
func selfSignedTemplate(req SelfSignedRequest, now time.Time) (*x509.Certificate, error) {
	subject := strings.TrimSpace(x500Order(req.SubjectName))
	var domains []string
	for _, d := range req.DomainNames {
		d = strings.TrimSuffix(strings.ToLower(strings.TrimSpace(d)), ".")
		if d == "" {
			continue
		}
		if strings.ContainsAny(d, " ,/\\@<>\"") {
			return nil, fmt.Errorf("domain name %q is not a host name", d)
		}
		if !slices.Contains(domains, d) {
			domains = append(domains, d)
		}
	}
	if subject == "" {
		if len(domains) == 0 {
			return nil, errors.New("need a SubjectName or DomainNames")
		}
		subject = "CN=" + domains[0]
	}
	if !strings.Contains(subject, "=") {
		subject = "CN=" + subject
	}
	rawSubject, cn, err := buildRawName(subject)
	if err != nil {
		return nil, fmt.Errorf("subject name %q: %w", req.SubjectName, err)
	}
	if cn == "" {
		return nil, fmt.Errorf("subject name %q has no CN", req.SubjectName)
	}
	if lc := strings.ToLower(cn); !strings.ContainsAny(lc, " ,/\\@") && !slices.Contains(domains, lc) {
		domains = append(domains, lc)
	}
	serial, err := rand.Int(rand.Reader, new(big.Int).Lsh(big.NewInt(1), 127))
	if err != nil {
		return nil, fmt.Errorf("serial number: %w", err)
	}
	notBefore := now.Add(-5 * time.Minute).Truncate(time.Second) // tolerate client clock skew
	notAfter := notBefore.AddDate(5, 0, 0)
	if req.Validity > 0 {
		notAfter = notBefore.Add(req.Validity)
	}
	return &x509.Certificate{
		SerialNumber:          serial.Add(serial, big.NewInt(1)),
		RawSubject:            rawSubject,
		NotBefore:             notBefore,
		NotAfter:              notAfter,
		DNSNames:              domains,
		KeyUsage:              x509.KeyUsageDigitalSignature | x509.KeyUsageKeyEncipherment,
		ExtKeyUsage:           []x509.ExtKeyUsage{x509.ExtKeyUsageServerAuth, x509.ExtKeyUsageClientAuth},
		BasicConstraintsValid: true,
	}, nil
}

// EnsureDefault creates a self-signed certificate for hostFQDN (subject
// CN=hostFQDN; SANs hostFQDN and its first label; services SMTP) when the
// store holds no certificate at all, as Exchange Setup does, and returns it
// with created true. Otherwise it returns the certificate automatic
// selection would serve for hostFQDN (nil if none) and created false.
func (s *Store) EnsureDefault(hostFQDN string) (*Certificate, bool, error) {
	fqdn := strings.TrimSuffix(strings.ToLower(strings.TrimSpace(hostFQDN)), ".")
	if fqdn == "" {
		return nil, false, errors.New("certs: ensure default certificate: empty host name")
	}
	s.opMu.Lock()
	if err := s.reload(); err != nil {
		s.opMu.Unlock()
		return nil, false, fmt.Errorf("certs: ensure default certificate: %w", err)
	}
	if len(s.List()) > 0 {
		s.opMu.Unlock()
		c, _ := s.Select("", fqdn, time.Now())
		return c, false, nil
	}
	first, _, _ := strings.Cut(fqdn, ".")
	c, err := s.newSelfSigned(SelfSignedRequest{
		SubjectName:  "CN=" + fqdn,
		DomainNames:  []string{fqdn, first},
		Services:     []string{ServiceSMTP},
		FriendlyName: DefaultFriendlyName,
	})
	s.opMu.Unlock()
	if err != nil {
		return nil, false, err
	}
	s.log.Info("created default self-signed certificate", "thumbprint", c.Thumbprint, "subject", c.Subject)
	s.notify()
	return c, true, nil
}
