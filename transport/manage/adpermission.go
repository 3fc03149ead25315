package manage

import (
	"errors"
	"fmt"
	"strings"

	"github.com/transportd/transportd/connector"
	"github.com/transportd/transportd/policies/permissions"
	"github.com/transportd/transportd/transport/config"
)

// Exchange's names for the receive connector right that transportd keeps
// as a connector parameter.
const (
	// AnonymousLogon is the security principal of anonymous SMTP senders.
	AnonymousLogon = `NT AUTHORITY\ANONYMOUS LOGON`
	// RightAcceptAnyRecipient lets a sender relay to any domain.
	RightAcceptAnyRecipient = "Ms-Exch-SMTP-Accept-Any-Recipient"
)

// groupRights lists the rights Exchange grants with each permission group,
// as Get-ADPermission shows them on a receive connector.
var groupRights = []struct {
	group  permissions.Group
	user   string
	rights []string
}{
	{permissions.GroupAnonymousUsers, AnonymousLogon, []string{"ms-Exch-SMTP-Submit", "ms-Exch-SMTP-Accept-Any-Sender", "ms-Exch-SMTP-Accept-Authoritative-Domain-Sender", "ms-Exch-Accept-Headers-Routing"}},
	{permissions.GroupExchangeUsers, `NT AUTHORITY\Authenticated Users`, []string{"ms-Exch-SMTP-Submit", "ms-Exch-SMTP-Accept-Any-Recipient", "ms-Exch-Bypass-Anti-Spam", "ms-Exch-Accept-Headers-Routing"}},
	{permissions.GroupExchangeServers, `MS Exchange\Hub Transport Servers`, []string{"ms-Exch-SMTP-Submit", "ms-Exch-SMTP-Accept-Any-Recipient", "ms-Exch-SMTP-Accept-Any-Sender", "ms-Exch-SMTP-Accept-Authoritative-Domain-Sender", "ms-Exch-Accept-Headers-Routing", "ms-Exch-Bypass-Anti-Spam"}},
	{permissions.GroupExchangeLegacyServers, `MS Exchange\Legacy Exchange Servers`, []string{"ms-Exch-SMTP-Submit", "ms-Exch-SMTP-Accept-Any-Recipient", "ms-Exch-SMTP-Accept-Any-Sender", "ms-Exch-SMTP-Accept-Authoritative-Domain-Sender", "ms-Exch-Accept-Headers-Routing"}},
	{permissions.GroupPartners, `MS Exchange\Partner Servers`, []string{"ms-Exch-SMTP-Submit", "ms-Exch-Accept-Headers-Routing"}},
}

func adRecord(connectorName, user, right string) Record {
	return Record{
		{Name: "Identity", Value: connectorName},
		{Name: "User", Value: user},
		{Name: "AccessRights", Value: "{ExtendedRight}"},
		{Name: "ExtendedRights", Value: "{" + right + "}"},
		{Name: "Deny", Value: "False"},
		{Name: "Inherited", Value: "False"},
	}
}

// connectorPermissions lists the permission entries of one connector.
func connectorPermissions(rc *connector.ReceiveConnector) []Record {
	var out []Record
	for _, g := range groupRights {
		if !rc.PermissionGroups.Has(g.group) {
			continue
		}
		for _, r := range g.rights {
			out = append(out, adRecord(rc.Name, g.user, r))
		}
	}
	if rc.AnonymousRelay {
		out = append(out, adRecord(rc.Name, AnonymousLogon, RightAcceptAnyRecipient))
	}
	return out
}

// GetADPermissions lists the rights on the receive connectors matching
// identity (Get-ADPermission), optionally only those of user.
func (m *Manager) GetADPermissions(identity, user string) ([]Record, error) {
	if identity == "" {
		return nil, errors.New("-Identity is required: name the receive connector")
	}
	c, err := m.Load()
	if err != nil {
		return nil, err
	}
	var out []Record
	var names []string
	found := false
	for i := range c.ReceiveConnectors {
		rc := &c.ReceiveConnectors[i]
		names = append(names, rc.Name)
		if !MatchIdentity(identity, rc.Name) {
			continue
		}
		found = true
		for _, r := range connectorPermissions(rc) {
			if u, _ := r.Get("User"); user == "" || MatchIdentity(user, u) {
				out = append(out, r)
			}
		}
	}
	if !found {
		return nil, noMatch("receive connector", identity, names)
	}
	return out, nil
}

// checkADPermission accepts the one right transportd keeps per connector:
// Ms-Exch-SMTP-Accept-Any-Recipient for NT AUTHORITY\ANONYMOUS LOGON.
func checkADPermission(user string, rights []string) error {
	u := strings.TrimSpace(user)
	if !strings.EqualFold(u, AnonymousLogon) && !strings.EqualFold(u, "ANONYMOUS LOGON") {
		return fmt.Errorf("-User %q: transportd keeps only the right of %q on a receive connector; for other senders use Set-ReceiveConnector -PermissionGroups (AnonymousUsers, ExchangeUsers, ExchangeServers, ExchangeLegacyServers, Partners)", user, AnonymousLogon)
	}
	if len(rights) == 0 {
		return fmt.Errorf("-ExtendedRights is required: %s", RightAcceptAnyRecipient)
	}
	for _, r := range rights {
		if !strings.EqualFold(strings.TrimSpace(r), RightAcceptAnyRecipient) {
			return fmt.Errorf("-ExtendedRights %q: the right transportd grants to %s is %s (anonymous relay); the other anonymous rights come with -PermissionGroups AnonymousUsers", r, AnonymousLogon, RightAcceptAnyRecipient)
		}
	}
	return nil
}

// SetADPermission grants (grant true, Add-ADPermission) or revokes
// (Remove-ADPermission) Ms-Exch-SMTP-Accept-Any-Recipient for anonymous
// senders on every receive connector matching one of identities: the
// connector's AnonymousRelay. All connectors change in one update or none.
// It returns the permission entries of the connectors it changed.
func (m *Manager) SetADPermission(identities []string, user string, rights []string, grant bool) ([]Record, error) {
	if len(identities) == 0 {
		return nil, errors.New("-Identity is required: name the receive connector, or pipe Get-ReceiveConnector into this command")
	}
	if err := checkADPermission(user, rights); err != nil {
		return nil, err
	}
	var out []Record
	_, err := config.Update(m.ConfigPath, func(c *config.Config) error {
		out = nil
		var names []string
		for i := range c.ReceiveConnectors {
			names = append(names, c.ReceiveConnectors[i].Name)
		}
		for _, id := range identities {
			n := 0
			for i := range c.ReceiveConnectors {
				rc := &c.ReceiveConnectors[i]
				if !MatchIdentity(id, rc.Name) {
					continue
				}
				n++
				rc.AnonymousRelay = grant
				out = append(out, adRecord(rc.Name, AnonymousLogon, RightAcceptAnyRecipient))
			}
			if n == 0 {
				return noMatch("receive connector", id, names)
			}
		}
		return nil
	})
	if err != nil {
		return nil, err
	}
	return out, nil
}
