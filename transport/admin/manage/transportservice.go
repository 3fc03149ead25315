package manage

import (
	"errors"
	"fmt"
	"strings"

	"github.com/transportd/transportd/connector"
	"github.com/transportd/transportd/transport/admin/config"
)

// TransportServiceRecord shows this server as Get-TransportService does:
// the settings of the Server section that every default follows.
func TransportServiceRecord(c *config.Config) Record {
	return Record{
		{Name: "Identity", Value: c.Server.Name},
		{Name: "Name", Value: c.Server.Name},
		{Name: "Fqdn", Value: c.Server.Fqdn},
		{Name: "DataPath", Value: c.DataDir()},
		{Name: "ExternalDNSServers", Value: strings.Join(c.Transport.ExternalDNSServers, ", ")}, // issue 13
	}
}

// checkServerIdentity refuses an -Identity that does not name this server
// (by Name or Fqdn, as Exchange's ServerIdParameter takes either).
func checkServerIdentity(c *config.Config, identities []string) error {
	for _, id := range identities {
		if !strings.EqualFold(id, c.Server.Name) && !strings.EqualFold(id, c.Server.Fqdn) {
			return noMatchError(fmt.Sprintf("no transport service matches identity %q: this server is %s (%s)", id, c.Server.Name, c.Server.Fqdn))
		}
	}
	return nil
}

// GetTransportService shows this server (Get-TransportService). identities,
// when given, must name it.
func (m *Manager) GetTransportService(identities []string) (Record, error) {
	c, err := m.Load()
	if err != nil {
		return nil, err
	}
	if err := checkServerIdentity(c, identities); err != nil {
		return nil, err
	}
	return TransportServiceRecord(c), nil
}

// SetTransportService changes this server's settings
// (Set-TransportService): -Fqdn sets Server.Fqdn, and with it every
// default that names this server: the Fqdn of each receive connector
// without its own (greeting, EHLO, Received, certificate), the HELO name
// of send connectors without their own, and the DSN sender's domain when
// there is no default accepted domain. identities, when given, must name
// this server.
func (m *Manager) SetTransportService(identities []string, ps Params) error {
	if v, ok := ps.TakeExact("ExternalDNSServers"); ok { // issue 13
		if err := m.setExternalDNSServers(v); err != nil || len(ps) == 0 {
			return err
		}
	}
	fqdn, ok := ps.Take("Fqdn")
	if !ok {
		return errors.New("nothing to set: give -Fqdn, e.g. -Fqdn mail.contoso.com")
	}
	if len(ps) > 0 {
		return fmt.Errorf("unknown parameter -%s (Set-TransportService takes -Fqdn)", ps[0].Name)
	}
	fqdn = strings.TrimSpace(fqdn)
	if err := connector.ValidateFQDN(fqdn); err != nil {
		return fmt.Errorf("-Fqdn: %w", err)
	}
	_, err := config.Update(m.ConfigPath, func(c *config.Config) error {
		if err := checkServerIdentity(c, identities); err != nil {
			return err
		}
		k, err := m.newConnectorCheck(c, false)
		if err != nil {
			return err
		}
		var before, after []*connector.ReceiveConnector
		for _, rc := range c.ReceiveConnectors {
			if strings.EqualFold(rc.Fqdn, c.Server.Fqdn) {
				before = append(before, changedConnector(&rc))
			}
		}
		for _, i := range c.SetServerFqdn(fqdn) {
			after = append(after, &c.ReceiveConnectors[i])
		}
		// A name no certificate covers yet only warns, as for
		// Set-ReceiveConnector -Fqdn: the certificate comes next.
		return k.all(before, after)
	})
	if err != nil {
		return err
	}
	if !connector.IsQualified(fqdn) {
		m.warn("-Fqdn %s has no dot: the 220 greeting, HELO to smart hosts and DSNs will carry a name other servers cannot resolve and often refuse; give the full name, e.g. %s.contoso.com", fqdn, fqdn)
	}
	return nil
}
