package manage

import (
	"github.com/transportd/transportd/transport/admin/config"
)

// setExternalDNSServers sets Transport.ExternalDNSServers
// (Set-TransportService -ExternalDNSServers): the DNS servers the SPF,
// DKIM and DMARC checks and the DKIM record check ask; $null or empty
// returns to /etc/resolv.conf. Issue 13; helper "sc" extends
// Set-TransportService with the same name and storage.
func (m *Manager) setExternalDNSServers(v string) error {
	_, err := config.Update(m.ConfigPath, func(c *config.Config) error {
		return applyParams(&c.Transport, Params{{Name: "ExternalDNSServers", Value: v}})
	})
	return err
}
