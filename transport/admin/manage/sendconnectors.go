package manage

import (
	"errors"
	"fmt"
	"strings"

	"github.com/transportd/transportd/transport/admin/config"
	"github.com/transportd/transportd/transport/mail/sendconnector"
)

// sendConnectorRecord shows a send connector; the password never appears.
func sendConnectorRecord(sc *sendconnector.SendConnector) Record {
	r := append(Record{{Name: "Identity", Value: sc.Name}}, Properties(sc, "AuthenticationCredential")...)
	cred := ""
	if !sc.AuthenticationCredential.IsZero() {
		cred = sc.AuthenticationCredential.Display()
	}
	out := Record{}
	for _, p := range r {
		out = append(out, p)
		if p.Name == "SmartHostAuthMechanism" {
			out = append(out, Property{Name: "AuthenticationCredential", Value: cred})
		}
	}
	return out
}

// GetSendConnectors lists send connectors matching identity.
func (m *Manager) GetSendConnectors(identity string) ([]Record, error) {
	return sendConnectors.get(m, identity)
}

// applySendParams sets parameters on a send connector. Giving SmartHosts
// without DNSRoutingEnabled turns DNS routing off, as New-SendConnector
// -SmartHosts does.
func applySendParams(sc *sendconnector.SendConnector, ps Params, readPassword func() (string, error)) error {
	ps, err := takeCredential(sc, ps, readPassword)
	if err != nil {
		return err
	}
	if ps, err = takeOAuthSecret(sc, ps, readPassword); err != nil {
		return err
	}
	hasSmart, hasDNS := false, false
	for _, p := range ps {
		n, err := ResolveName(FieldNames(sc), p.Name)
		if err != nil {
			return err
		}
		hasSmart = hasSmart || n == "SmartHosts"
		hasDNS = hasDNS || n == "DNSRoutingEnabled"
	}
	if err := applyParams(sc, ps, "AuthenticationCredential"); err != nil {
		return err
	}
	if hasSmart && !hasDNS {
		sc.DNSRoutingEnabled = len(sc.SmartHosts) == 0
	}
	return nil
}

// takeCredential handles -AuthenticationCredential user (password from
// -Password or standard input with "-"), so the password is never an
// argument that shows in the process list unless the admin insists.
func takeCredential(sc *sendconnector.SendConnector, ps Params, readPassword func() (string, error)) (Params, error) {
	user, hasUser := ps.Take("AuthenticationCredential")
	pw, hasPw := ps.Take("Password")
	if !hasUser && !hasPw {
		return ps, nil
	}
	if strings.EqualFold(user, "$null") {
		sc.AuthenticationCredential = sendconnector.Credential{}
		return ps, nil
	}
	if !hasPw || pw == "-" {
		if readPassword == nil {
			return nil, errors.New("-AuthenticationCredential: give the password on standard input with -Password -")
		}
		var err error
		if pw, err = readPassword(); err != nil {
			return nil, fmt.Errorf("-Password: %w", err)
		}
	}
	if hasUser {
		sc.AuthenticationCredential.UserName = user
	}
	sc.AuthenticationCredential.Password = pw
	return ps, nil
}

// NewSendConnector creates a send connector (New-SendConnector).
func (m *Manager) NewSendConnector(ps Params, readPassword func() (string, error)) (Record, error) {
	name, ok := ps.Take("Name")
	if !ok || strings.TrimSpace(name) == "" {
		return nil, errors.New("-Name is required")
	}
	usage, err := takeSendUsage(&ps)
	if err != nil {
		return nil, err
	}
	sc, err := sendConnectors.add(m, func(c *config.Config) (sendconnector.SendConnector, error) {
		sc := sendconnector.New(name)
		applySendUsage(&sc, usage)
		if err := applySendParams(&sc, ps, readPassword); err != nil {
			return sc, err
		}
		if err := m.checkSendConnector(c, &sc); err != nil {
			return sc, err
		}
		return sc, m.checkClientCertificate(c, "", &sc)
	}, nil)
	if err != nil {
		return nil, err
	}
	return sendConnectorRecord(&sc), nil
}

// SetSendConnectors changes the send connectors matching identity.
func (m *Manager) SetSendConnectors(identity string, ps Params, readPassword func() (string, error)) (int, error) {
	return m.SetSendConnectorsEach([]string{identity}, ps, readPassword)
}

// RemoveSendConnectors removes the send connectors matching identity.
func (m *Manager) RemoveSendConnectors(identity string) (int, error) {
	return m.RemoveSendConnectorsEach([]string{identity})
}

// RemoveSendConnectorsEach removes the send connectors matching any of
// identities, in one update, or none.
func (m *Manager) RemoveSendConnectorsEach(identities []string) (int, error) {
	return sendConnectors.removeEach(m, identities)
}

// GetTransportConfig shows the transport settings (Get-TransportConfig).
func (m *Manager) GetTransportConfig() (Record, error) {
	c, err := m.Load()
	if err != nil {
		return nil, err
	}
	return Properties(&c.Transport), nil
}

// SetTransportConfig changes the transport settings (Set-TransportConfig).
func (m *Manager) SetTransportConfig(ps Params) error {
	if len(ps) == 0 {
		return errors.New("nothing to set: give parameters such as -MessageExpirationTimeout 2.00:00:00")
	}
	_, err := config.Update(m.ConfigPath, func(c *config.Config) error {
		if err := applyParams(&c.Transport, ps); err != nil {
			return err
		}
		// What the daemon would refuse when it applies the change.
		return c.CheckHost()
	})
	return err
}
