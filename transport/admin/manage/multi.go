package manage

import (
	"errors"
	"slices"

	"github.com/transportd/transportd/connector"
	"github.com/transportd/transportd/transport/admin/config"
	"github.com/transportd/transportd/transport/mail/sendconnector"
)

// This file holds the Set commands for several identities at once, as a
// shell pipeline gives them (Get-ReceiveConnector | Set-ReceiveConnector):
// every object changes in one configuration update, or none does.

// updateEach applies set to every object (named by names[i]) matching one
// of identities, in one config.Update, and returns how many it changed.
// kind names the objects in the error for an identity that matches nothing.
func (m *Manager) updateEach(identities []string, kind string, list func(c *config.Config) []string,
	match func(c *config.Config, i int, identity string) bool, set func(c *config.Config, i int) error,
	finish ...func(c *config.Config) error) (int, error) {
	if len(identities) == 0 || slices.Contains(identities, "") {
		return 0, errors.New("-Identity is required")
	}
	n := 0
	_, err := config.Update(m.ConfigPath, func(c *config.Config) error {
		n = 0
		names := list(c)
		done := make([]bool, len(names))
		for _, id := range identities {
			hit := false
			for i := range names {
				if !match(c, i, id) {
					continue
				}
				hit = true
				if done[i] {
					continue
				}
				done[i] = true
				if err := set(c, i); err != nil {
					return err
				}
				n++
			}
			if !hit {
				return noMatch(kind, id, names)
			}
		}
		for _, f := range finish {
			if err := f(c); err != nil {
				return err
			}
		}
		return nil
	})
	return n, err
}

// SetConnectorsEach is SetConnectors for several identities in one update.
func (m *Manager) SetConnectorsEach(identities []string, ps Params) (int, error) {
	force, err := takeForce(&ps)
	if err != nil {
		return 0, err
	}
	m.takeInertConnectorParams(&ps)
	if len(ps) == 0 {
		return 0, errors.New("nothing to set: give parameters such as -Fqdn mail.contoso.com")
	}
	var check *connectorCheck
	var before, after []*connector.ReceiveConnector
	given := slices.Clone(ps)
	n, err := receiveConnectors.setEach(m, identities,
		func(c *config.Config, rc *connector.ReceiveConnector) error {
			if check == nil {
				var err error
				if check, err = m.newConnectorCheck(c, force); err != nil {
					return err
				}
			}
			prev := *rc
			old := changedConnector(rc)
			if err := applyParams(rc, ps, "ADPermissions"); err != nil {
				return err
			}
			rc.Normalize()
			if err := checkLegacyTLS(&prev, rc, force); err != nil {
				return err
			}
			before, after = append(before, old), append(after, rc)
			return nil
		},
		func(c *config.Config) error {
			if check == nil {
				return nil
			}
			if err := c.Validate(); err != nil {
				return err
			}
			return check.all(before, after)
		})
	if err == nil {
		m.warnConnectorSettings(given, false, after...)
	}
	return n, err
}

// SetAcceptedDomainsEach is SetAcceptedDomains for several identities in one update.
func (m *Manager) SetAcceptedDomainsEach(identities []string, ps Params) (int, error) {
	if len(ps) == 0 {
		return 0, errors.New("nothing to set: give parameters such as -DomainType InternalRelay")
	}
	return acceptedDomains.setEach(m, identities, func(c *config.Config, d *config.AcceptedDomain) error {
		if err := applyParams(d, ps); err != nil {
			return err
		}
		oneDefault(c, d)
		return nil
	})
}

// SetMailboxesEach is SetMailboxes for several identities in one update.
func (m *Manager) SetMailboxesEach(identities []string, ps Params, readPassword func() (string, error)) (int, error) {
	var tmpl config.Mailbox
	if err := setPassword(&tmpl, &ps, readPassword); err != nil {
		return 0, err
	}
	if len(ps) == 0 && tmpl.PasswordHash == "" {
		return 0, errors.New("nothing to set: give parameters such as -Enabled $false")
	}
	return mailboxes.setEach(m, identities, func(c *config.Config, mb *config.Mailbox) error {
		oldName := mb.Name
		if err := applyParams(mb, ps, "PasswordHash"); err != nil {
			return err
		}
		if err := normalizeAddresses(mb); err != nil {
			return err
		}
		if err := checkMailboxAddresses(mb); err != nil {
			return err
		}
		if mb.Name != oldName {
			renameSendAsTrustee(c, oldName, mb.Name)
		}
		if tmpl.PasswordHash != "" {
			mb.PasswordHash = tmpl.PasswordHash
		}
		return nil
	})
}

// SetSendConnectorsEach is SetSendConnectors for several identities in one update.
func (m *Manager) SetSendConnectorsEach(identities []string, ps Params, readPassword func() (string, error)) (int, error) {
	if len(ps) == 0 {
		return 0, errors.New("nothing to set: give parameters such as -SmartHosts smtp.contoso.com")
	}
	return sendConnectors.setEach(m, identities, func(c *config.Config, sc *sendconnector.SendConnector) error {
		before := sc.TlsCertificateName
		if err := applySendParams(sc, append(Params(nil), ps...), readPassword); err != nil {
			return err
		}
		if err := m.checkSendConnector(c, sc); err != nil {
			return err
		}
		return m.checkClientCertificate(c, before, sc)
	})
}
