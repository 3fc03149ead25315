package smtpout

import (
	"crypto/tls"
	"fmt"
)

// ClientCertificateFunc returns the TLS client certificate a send connector
// presents (its TlsCertificateName, looked up in the certificate store at
// each handshake, so a renewed certificate is used without a restart).
type ClientCertificateFunc func() (*tls.Certificate, error)

// SetClientCertificate makes the Sender present the certificate f returns
// in every TLS handshake (nil: none). Call it before the first Deliver.
func (s *Sender) SetClientCertificate(f ClientCertificateFunc) {
	s.clientCert = f
}

// addClientCertificate makes cfg present the connector's client
// certificate whatever the server asks for (RFC 8446 section 4.4.2: the
// server's CertificateRequest names acceptable authorities, but Microsoft
// 365 checks the certificate's name, not its issuer list). When the
// certificate cannot be had, the handshake fails with the reason, which
// the delivery reports as a transient failure: mail waits until the
// certificate is back rather than going out without it.
func (s *Sender) addClientCertificate(cfg *tls.Config) {
	f := s.clientCert
	if f == nil {
		return
	}
	name := s.conn.TlsCertificateName
	cfg.GetClientCertificate = func(*tls.CertificateRequestInfo) (*tls.Certificate, error) {
		c, err := f()
		if err != nil {
			return nil, fmt.Errorf("client certificate %s (TlsCertificateName): %w", name, err)
		}
		return c, nil
	}
}
