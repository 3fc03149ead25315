package certs

import (
	"crypto/tls"
	"errors"
	"fmt"
	"slices"
	"strings"
	"sync"
	"time"
)

// Problem explains why a certificate choice is not clean. The empty Problem
// means everything is fine.
type Problem string

// Select chooses the certificate a receive connector serves for fqdn.
//
// When tlsCertificateName is set (an "<I>issuer<S>subject" name or a
// thumbprint) it returns exactly that certificate; when several match a
// name, the newest NotBefore among the currently valid ones, else the
// newest. If none matches it returns nil and a Problem. If the certificate
// is expired, not yet valid, has no private key or does not cover fqdn, it
// is still returned (Exchange serves it) together with a Problem describing
// each issue. Another certificate is never substituted.
//
// When tlsCertificateName is empty the candidates are the certificates with
// a private key, enabled for SMTP, covering fqdn and valid at now;
// CA-issued beats self-signed, then the newest NotBefore wins. With no
// candidate it returns nil and a Problem saying STARTTLS will not be
// offered.
func (s *Store) Select(tlsCertificateName, fqdn string, now time.Time) (*Certificate, Problem) {
	list := s.List() // newest NotBefore first
	fqdn = strings.TrimSuffix(strings.TrimSpace(fqdn), ".")
	if strings.TrimSpace(tlsCertificateName) == "" {
		return selectAuto(list, fqdn, now)
	}
	name, err := ParseCertificateName(tlsCertificateName)
	if err != nil {
		return nil, Problem(fmt.Sprintf("TlsCertificateName %q is invalid: %v; STARTTLS will not be offered", tlsCertificateName, err))
	}
	var match *Certificate
	for _, c := range list {
		if !name.Matches(c) {
			continue
		}
		if match == nil {
			match = c // newest
		}
		if c.Valid(now) {
			match = c // newest valid
			break
		}
	}
	if match == nil {
		return nil, Problem(fmt.Sprintf("certificate %s (TlsCertificateName) not found in the store %s; STARTTLS will not be offered", name, s.dir))
	}
	var issues []string
	switch {
	case now.Before(match.NotBefore):
		issues = append(issues, "is not valid before "+match.NotBefore.UTC().Format(time.RFC3339))
	case now.After(match.NotAfter):
		issues = append(issues, "expired on "+match.NotAfter.UTC().Format(time.RFC3339))
	}
	if !match.HasPrivateKey {
		issues = append(issues, "has no private key in the store")
	}
	if fqdn != "" && !match.Covers(fqdn) {
		issues = append(issues, fmt.Sprintf("does not cover %s (it covers %s)", fqdn, strings.Join(match.CertificateDomains, ", ")))
	}
	if len(issues) == 0 {
		return match, ""
	}
	return match, Problem(fmt.Sprintf("certificate %s (%s) named by TlsCertificateName %s; it is served anyway",
		match.Thumbprint, match.Subject, strings.Join(issues, ", ")))
}

func selectAuto(list []*Certificate, fqdn string, now time.Time) (*Certificate, Problem) {
	var cands []*Certificate
	for _, c := range list {
		if c.HasPrivateKey && c.HasService(ServiceSMTP) && c.Covers(fqdn) && c.Valid(now) {
			cands = append(cands, c)
		}
	}
	if len(cands) == 0 {
		return nil, Problem(fmt.Sprintf("no valid certificate for %s in the store (one needs a private key, the SMTP service, a name covering %s and a current validity period); STARTTLS will not be offered", fqdn, fqdn))
	}
	// list is newest first; a stable sort keeps that order within each group.
	slices.SortStableFunc(cands, func(a, b *Certificate) int {
		switch {
		case a.IsSelfSigned == b.IsSelfSigned:
			return 0
		case !a.IsSelfSigned:
			return -1
		default:
			return 1
		}
	})
	return cands[0], ""
}

// aeadCipherSuites are the TLS 1.2 suites a receive connector offers by
// default: ECDHE key exchange (forward secrecy) with an AEAD cipher only.
// CBC suites are left out (LUCKY13, RFC 7457 section 2.8, which testssl.sh
// flags; RFC 9325 section 4.2 recommends exactly these). TLS 1.3 suites are
// all AEAD and not configurable in crypto/tls.
var aeadCipherSuites = []uint16{
	tls.TLS_ECDHE_ECDSA_WITH_AES_128_GCM_SHA256,
	tls.TLS_ECDHE_RSA_WITH_AES_128_GCM_SHA256,
	tls.TLS_ECDHE_ECDSA_WITH_AES_256_GCM_SHA384,
	tls.TLS_ECDHE_RSA_WITH_AES_256_GCM_SHA384,
	tls.TLS_ECDHE_ECDSA_WITH_CHACHA20_POLY1305_SHA256,
	tls.TLS_ECDHE_RSA_WITH_CHACHA20_POLY1305_SHA256,
}

// legacyCipherSuites are added for AllowLegacyTLSClients: the CBC suites
// with HMAC-SHA1 that TLS 1.0 and 1.1 clients (old printers, scanners,
// embedded devices) can negotiate, with ECDHE first and, for devices that
// know no ECDHE, plain RSA key exchange. 3DES, RC4 and the CBC-SHA256
// suites (no LUCKY13 countermeasures in crypto/tls) stay off.
var legacyCipherSuites = []uint16{
	tls.TLS_ECDHE_ECDSA_WITH_AES_128_CBC_SHA,
	tls.TLS_ECDHE_RSA_WITH_AES_128_CBC_SHA,
	tls.TLS_ECDHE_ECDSA_WITH_AES_256_CBC_SHA,
	tls.TLS_ECDHE_RSA_WITH_AES_256_CBC_SHA,
	tls.TLS_RSA_WITH_AES_128_GCM_SHA256,
	tls.TLS_RSA_WITH_AES_256_GCM_SHA384,
	tls.TLS_RSA_WITH_AES_128_CBC_SHA,
	tls.TLS_RSA_WITH_AES_256_CBC_SHA,
}

// AllowLegacyClients widens a configuration from ServerTLSConfig for a
// connector with AllowLegacyTLSClients: TLS 1.0 and 1.1 are allowed and the
// CBC suites of legacyCipherSuites are offered after the AEAD ones. Setting
// MinVersion explicitly is what makes crypto/tls offer TLS 1.0 and 1.1 on a
// server since Go 1.22 (without GODEBUG tls10server=1), and listing the RSA
// key exchange suites explicitly is what re-enables them since Go 1.22
// (without GODEBUG tlsrsakex=1).
func AllowLegacyClients(c *tls.Config) {
	c.MinVersion = tls.VersionTLS10
	c.CipherSuites = append(slices.Clone(aeadCipherSuites), legacyCipherSuites...)
}

// ServerTLSConfig returns a tls.Config for a receive connector: TLS 1.2 at
// least with ECDHE AEAD suites only (see AllowLegacyClients for the opt-in
// to older clients), session tickets disabled (Outlook and Exchange Online fail STARTTLS
// against Go's tickets), and a GetCertificate that calls Select with the
// values current returns on every handshake, so a new or changed
// certificate is served without a restart. When Select finds no
// certificate, or one without a private key, the handshake fails with an
// error naming the problem. Problems are logged once each time they change.
func (s *Store) ServerTLSConfig(current func() (tlsCertificateName, fqdn string)) *tls.Config {
	var (
		mu   sync.Mutex
		last Problem
	)
	report := func(name, fqdn string, p Problem) {
		mu.Lock()
		changed := p != last
		last = p
		mu.Unlock()
		if !changed {
			return
		}
		if p == "" {
			s.log.Info("TLS certificate problem resolved", "tlsCertificateName", name, "fqdn", fqdn)
			return
		}
		s.log.Warn("TLS certificate problem", "tlsCertificateName", name, "fqdn", fqdn, "problem", string(p))
	}
	return &tls.Config{
		MinVersion:             tls.VersionTLS12,
		CipherSuites:           slices.Clone(aeadCipherSuites),
		SessionTicketsDisabled: true,
		GetCertificate: func(*tls.ClientHelloInfo) (*tls.Certificate, error) {
			name, fqdn := current()
			c, p := s.Select(name, fqdn, time.Now())
			report(name, fqdn, p)
			if c == nil {
				return nil, errors.New(string(p))
			}
			if !c.HasPrivateKey {
				return nil, fmt.Errorf("certificate %s has no private key: %s", c.Thumbprint, p)
			}
			return c.TLSCertificate(), nil
		},
	}
}
