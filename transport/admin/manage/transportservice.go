package manage

import (
	"errors"
	"fmt"
	"strings"

	"github.com/transportd/transportd/connector"
	"github.com/transportd/transportd/transport/admin/config"
)

// TransportServiceRecord shows this server as Get-TransportService does:
// the settings of the Server section that every default follows, then
// the retry, expiry, delay-notification and log settings with Exchange's
// names (config.TransportServiceSettings).
func TransportServiceRecord(c *config.Config) Record {
	ts := c.TransportService()
	return append(Record{
		{Name: "Identity", Value: c.Server.Name},
		{Name: "Name", Value: c.Server.Name},
		{Name: "Fqdn", Value: c.Server.Fqdn},
		{Name: "DataPath", Value: c.DataDir()},
	}, Properties(&ts)...)
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
	fqdn, hasFqdn := ps.TakeExact("Fqdn")
	if !hasFqdn && len(ps) == 0 {
		return errors.New("nothing to set: give -Fqdn, e.g. -Fqdn mail.contoso.com, or a setting such as -MessageExpirationTimeout 2.00:00:00")
	}
	ps = m.takeWindowsPaths(ps)
	if !hasFqdn {
		_, err := config.Update(m.ConfigPath, func(c *config.Config) error {
			if err := checkServerIdentity(c, identities); err != nil {
				return err
			}
			return applyTransportService(c, ps)
		})
		return err
	}
	fqdn = strings.TrimSpace(fqdn)
	if err := connector.ValidateFQDN(fqdn); err != nil {
		return fmt.Errorf("-Fqdn: %w", err)
	}
	_, err := config.Update(m.ConfigPath, func(c *config.Config) error {
		if err := checkServerIdentity(c, identities); err != nil {
			return err
		}
		if err := applyTransportService(c, ps); err != nil {
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

// applyTransportService sets Set-TransportService's parameters (other than
// -Fqdn) where they are kept, and checks them against this machine as the
// daemon will (a log or pickup folder that is a file is refused).
func applyTransportService(c *config.Config, ps Params) error {
	if len(ps) == 0 {
		return nil
	}
	ts := c.TransportService()
	if err := applyParams(&ts, ps); err != nil {
		return err
	}
	c.SetTransportService(ts)
	if err := c.Validate(); err != nil {
		return err
	}
	if err := c.CheckHost(); err != nil {
		return err
	}
	return c.CheckLogDirs()
}

// takeWindowsPaths takes out the *Path parameters that name a Windows
// folder ("C:\SMTP Protocol Logs\Receive.log", as Microsoft's examples
// do): they have no meaning here and are not saved, with one warning each.
func (m *Manager) takeWindowsPaths(ps Params) Params {
	out := ps[:0:0]
	for _, p := range ps {
		if strings.HasSuffix(strings.ToLower(p.Name), "path") && !p.Switch && config.IsWindowsPath(p.Value) {
			m.warn("-%s %s is a Windows path and was not saved; give a folder on this machine (e.g. /var/log/transportd/...), or leave the default under the data folder", p.Name, p.Value)
			continue
		}
		out = append(out, p)
	}
	return out
}
