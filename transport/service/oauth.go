package service

import (
	"crypto/tls"
	"net/http"
	"sync/atomic"

	"github.com/transportd/transportd/transport/mail/smtpout"
)

// oauthClient holds the HTTP client for OAuth token requests; nil: a
// client with the system's roots.
type oauthClient = atomic.Pointer[http.Client]

// SetOAuthHTTPClient makes the send connectors' OAuth token requests go
// through c (nil: a client with the system's roots): for a proxy, or a
// test's token endpoint with its own CA.
func (s *Service) SetOAuthHTTPClient(c *http.Client) { s.oauthHTTP.Store(c) }

// setOAuth gives the send connectors of rt what their token requests need:
// the HTTP client and the certificate store (OAuthCertificateThumbprint).
func (s *Service) setOAuth(rt *router) {
	env := smtpout.OAuthEnv{
		HTTPClient: s.oauthHTTP.Load,
		Certificate: func(thumbprint string) (*tls.Certificate, error) {
			c, err := s.certs.Get(thumbprint)
			if err != nil {
				return nil, err
			}
			return c.TLSCertificate(), nil
		},
	}
	for _, snd := range rt.senders {
		snd.SetOAuth(env)
	}
}
