package config

import (
	"strings"
	"time"

	"github.com/transportd/transportd/connector"
	"github.com/transportd/transportd/policies/permissions"
)

// ServedCertificates maps the thumbprint of every certificate that one of
// c's enabled receive connectors offering TLS serves now (its
// TlsCertificateName, or the one chosen for its Fqdn) to the first such
// connector's name. Removing one of them would take STARTTLS away from
// that connector: Remove-ExchangeCertificate refuses it, on this member
// and, through the members' heartbeats, on every member of a cluster.
func (c *Config) ServedCertificates(store connector.CertificateSelector, now time.Time) map[string]string {
	out := map[string]string{}
	for i := range c.ReceiveConnectors {
		rc := &c.ReceiveConnectors[i]
		if !rc.Enabled || !rc.AuthMechanism.Has(permissions.MechTLS) {
			continue
		}
		if cert, _ := store.Select(rc.TlsCertificateName, rc.Fqdn, now); cert != nil {
			t := strings.ToUpper(cert.Thumbprint)
			if _, ok := out[t]; !ok {
				out[t] = rc.Name
			}
		}
	}
	return out
}
