package service

import (
	"crypto/tls"
	"strings"
	"time"

	"github.com/transportd/transportd/transport/admin/config"
)

// setClientCertificates gives each send connector of rt with a
// TlsCertificateName its client certificate, looked up in the store at
// every handshake: a renewed or re-imported certificate is used at once,
// and a missing one makes deliveries wait (a transient failure naming it)
// instead of going out without it.
func (s *Service) setClientCertificates(cfg *config.Config, rt *router) {
	for _, sc := range cfg.SendConnectors {
		snd, ok := rt.senders[sc.Name]
		name := strings.TrimSpace(sc.TlsCertificateName)
		if !ok || name == "" {
			continue
		}
		snd.SetClientCertificate(func() (*tls.Certificate, error) {
			c, err := s.certs.ClientCertificate(name, time.Now())
			if err != nil {
				return nil, err
			}
			return c.TLSCertificate(), nil
		})
	}
}
