package manage

import (
	"errors"
	"fmt"
	"slices"
	"strings"

	"github.com/transportd/transportd/connector"
	"github.com/transportd/transportd/policies/permissions"
	"github.com/transportd/transportd/transport/admin/config"
)

// Exchange's names for the receive connector right that transportd keeps
// as a connector parameter.
const (
	// AnonymousLogon is the security principal of anonymous SMTP senders.
	AnonymousLogon = `NT AUTHORITY\ANONYMOUS LOGON`
	// RightAcceptAnyRecipient lets a sender relay to any domain.
	RightAcceptAnyRecipient = "Ms-Exch-SMTP-Accept-Any-Recipient"
	// RightSendAs, on a mailbox, lets another user send as its addresses
	// (in From:, Sender: and MAIL FROM).
	RightSendAs = "Send As"
)

// isSendAs accepts Exchange's spellings of the Send As right.
func isSendAs(right string) bool {
	switch strings.ToLower(strings.TrimSpace(right)) {
	case "send as", "send-as", "sendas":
		return true
	}
	return false
}

// sendAsRecords lists the Send As entries of one mailbox, optionally only
// those of user.
func sendAsRecords(c *config.Config, mb *config.Mailbox, user string) []Record {
	var out []Record
	for _, u := range mb.GrantSendAsTo {
		if user != "" && !MatchIdentity(user, u) {
			if t := c.FindMailboxUser(u); t == nil || !matchMailbox(user, t) {
				continue
			}
		}
		out = append(out, adRecord(mb.Name, u, RightSendAs))
	}
	return out
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

// connectorPermissions lists the permission entries of one connector:
// those its permission groups and AuthMechanism ExternalAuthoritative
// grant, AnonymousRelay, and its explicit entries (ADPermissions).
func connectorPermissions(rc *connector.ReceiveConnector) []Record {
	var out []Record
	for _, g := range permissions.GroupGrants {
		if !rc.PermissionGroups.Has(g.Group) {
			continue
		}
		for _, r := range g.Rights {
			out = append(out, adRecord(rc.Name, g.Principal, string(r)))
		}
	}
	if rc.AuthMechanism.Has(permissions.MechExternalAuthoritative) && rc.PermissionGroups.Has(permissions.GroupExchangeServers) {
		for _, r := range permissions.ExternallySecuredRights {
			out = append(out, adRecord(rc.Name, permissions.PrincipalExternallySecured, string(r)))
		}
	}
	if rc.AnonymousRelay {
		out = append(out, adRecord(rc.Name, AnonymousLogon, RightAcceptAnyRecipient))
	}
	for _, e := range rc.ADPermissions {
		out = append(out, entryRecord(rc.Name, e))
	}
	return out
}

// GetADPermissions lists the rights on the receive connectors and the
// Send As grants on the mailboxes matching identity (Get-ADPermission),
// optionally only those of user.
func (m *Manager) GetADPermissions(identity, user string) ([]Record, error) {
	if identity == "" {
		return nil, errors.New("-Identity is required: name the receive connector or mailbox")
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
	for i := range c.Mailboxes {
		mb := &c.Mailboxes[i]
		names = append(names, mb.Name)
		if !matchMailbox(identity, mb) {
			continue
		}
		found = true
		out = append(out, sendAsRecords(c, mb, user)...)
	}
	if !found {
		return nil, noMatch("receive connector or mailbox", identity, names)
	}
	return out, nil
}

// setSendAs grants or revokes Send As on the mailboxes matching identities
// for the mailbox user.
func (m *Manager) setSendAs(identities []string, user string, rights []string, grant bool) ([]Record, error) {
	for _, r := range rights {
		if !isSendAs(r) {
			return nil, fmt.Errorf("-ExtendedRights %q: give %q on its own (on a mailbox) or %s on its own (on a receive connector)", r, RightSendAs, RightAcceptAnyRecipient)
		}
	}
	if strings.TrimSpace(user) == "" {
		return nil, errors.New("-User is required: the mailbox (name or address) that may send as the -Identity mailbox")
	}
	var out []Record
	_, err := config.Update(m.ConfigPath, func(c *config.Config) error {
		out = nil
		var names []string
		for i := range c.Mailboxes {
			names = append(names, c.Mailboxes[i].Name)
		}
		trustee := c.FindMailboxUser(user)
		if trustee == nil && grant {
			return fmt.Errorf("-User %q: %s", user, noMatch("mailbox", user, names))
		}
		for _, id := range identities {
			n := 0
			for i := range c.Mailboxes {
				mb := &c.Mailboxes[i]
				if !matchMailbox(id, mb) {
					continue
				}
				n++
				if grant {
					if mb == trustee {
						return fmt.Errorf("-User %q already sends as its own mailbox %q; grant Send As on another mailbox", user, mb.Name)
					}
					if !slices.ContainsFunc(mb.GrantSendAsTo, func(u string) bool { return c.FindMailboxUser(u) == trustee }) {
						mb.GrantSendAsTo = append(mb.GrantSendAsTo, trustee.Name)
					}
					out = append(out, adRecord(mb.Name, trustee.Name, RightSendAs))
					continue
				}
				keep := mb.GrantSendAsTo[:0]
				for _, u := range mb.GrantSendAsTo {
					t := c.FindMailboxUser(u)
					if strings.EqualFold(u, strings.TrimSpace(user)) || (t != nil && t == trustee) {
						out = append(out, adRecord(mb.Name, u, RightSendAs))
						continue
					}
					keep = append(keep, u)
				}
				mb.GrantSendAsTo = keep
			}
			if n == 0 {
				return noMatch("mailbox", id, names)
			}
		}
		if !grant && len(out) == 0 {
			return fmt.Errorf("-User %q has no Send As right on %s", user, strings.Join(identities, ", "))
		}
		return nil
	})
	if err != nil {
		return nil, err
	}
	return out, nil
}

// SetADPermission grants (grant true, Add-ADPermission) or revokes
// (Remove-ADPermission) extended rights: ChangeADPermission without -Deny,
// its warnings dropped.
func (m *Manager) SetADPermission(identities []string, user string, rights []string, grant bool) ([]Record, error) {
	recs, _, err := m.ChangeADPermission(ADPermissionChange{Identities: identities, User: user, Rights: rights, Add: grant})
	return recs, err
}
