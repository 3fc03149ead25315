package certs

import (
	"fmt"
	"time"
)

// ClientCertificate returns the certificate a send connector presents as
// its TLS client certificate (Microsoft 365's certificate-based inbound
// connectors identify the sender by it): the one tlsCertificateName names,
// an "<I>issuer<S>subject" name or a thumbprint, the newest valid one when
// several match. It fails, saying what to do, when none matches, when the
// store holds no private key for it, or when it is outside its validity
// period.
func (s *Store) ClientCertificate(tlsCertificateName string, now time.Time) (*Certificate, error) {
	name, err := ParseCertificateName(tlsCertificateName)
	if err != nil {
		return nil, err
	}
	var match *Certificate
	for _, c := range s.List() { // newest NotBefore first
		if !name.Matches(c) {
			continue
		}
		if match == nil {
			match = c
		}
		if c.Valid(now) && c.HasPrivateKey {
			match = c
			break
		}
	}
	switch {
	case match == nil:
		return nil, fmt.Errorf("certificate %s is not in the store %s (Get-ExchangeCertificate lists it; Import-ExchangeCertificate adds it): %w", name, s.dir, ErrNotFound)
	case !match.HasPrivateKey:
		return nil, fmt.Errorf("certificate %s (%s) has no private key in the store %s, so it cannot identify this server: import it with its key (PFX, or PEM with the key)", match.Thumbprint, match.Subject, s.dir)
	case !match.Valid(now):
		return nil, fmt.Errorf("certificate %s (%s) is valid only from %s to %s: renew it (Get-ExchangeCertificate -Thumbprint %s | New-ExchangeCertificate -GenerateRequest ...)",
			match.Thumbprint, match.Subject, match.NotBefore.Format(time.DateOnly), match.NotAfter.Format(time.DateOnly), match.Thumbprint)
	}
	return match, nil
}
