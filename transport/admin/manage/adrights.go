package manage

import (
	"errors"
	"fmt"
	"strings"

	"github.com/transportd/transportd/connector"
	"github.com/transportd/transportd/policies/permissions"
	"github.com/transportd/transportd/transport/admin/config"
)

// ADPermissionChange is one Add-ADPermission or Remove-ADPermission.
type ADPermissionChange struct {
	// Identities name the receive connectors, or for Send As the mailboxes.
	Identities []string
	// User is the security principal: a well-known one
	// (NT AUTHORITY\ANONYMOUS LOGON...) or a mailbox.
	User string
	// Rights are the extended rights (-ExtendedRights).
	Rights []string
	// Add grants (Add-ADPermission); false revokes (Remove-ADPermission).
	Add bool
	// Deny adds or removes a deny entry (-Deny).
	Deny bool
}

// entryRecord shows an explicit entry as Get-ADPermission does.
func entryRecord(name string, e permissions.Entry) Record {
	r := adRecord(name, e.User, string(e.Right))
	if e.Deny {
		for i := range r {
			if r[i].Name == "Deny" {
				r[i].Value = "True"
			}
		}
	}
	return r
}

// principalNames is the list an error about -User offers.
func principalNames() string {
	return strings.Join(permissions.Principals, ", ")
}

// resolvePrincipal returns the name an entry stores for user: the
// canonical well-known principal, or the primary address of the mailbox
// user names (what an authenticated session knows itself by).
func resolvePrincipal(c *config.Config, user string) (string, error) {
	if strings.TrimSpace(user) == "" {
		return "", fmt.Errorf("-User is required: one of %s, or a mailbox (name or address)", principalNames())
	}
	if p := permissions.CanonicalPrincipal(user); p != "" {
		return p, nil
	}
	if mb := c.FindMailboxUser(user); mb != nil {
		return mb.PrimarySmtpAddress, nil
	}
	return "", fmt.Errorf("-User %q is not a security principal transportd knows (there is no Active Directory): give one of %s, or a mailbox (name or address); for whole classes of senders Set-ReceiveConnector -PermissionGroups also grants the rights", user, principalNames())
}

// ChangeADPermission grants or revokes extended rights. "Send As" (alone)
// works on mailboxes, as SetADPermission; every other right of
// permissions.AllRights on receive connectors: an explicit entry in the
// connector's ADPermissions, except the relay recipe's grant of
// ms-Exch-SMTP-Accept-Any-Recipient to NT AUTHORITY\ANONYMOUS LOGON, which
// is the connector's AnonymousRelay. Removing a right that comes with a
// permission group records a deny, as there is no group entry to remove.
// It returns the entries added or removed and one-line warnings (inert
// rights, rights removed by a deny).
func (m *Manager) ChangeADPermission(ch ADPermissionChange) ([]Record, []string, error) {
	if len(ch.Identities) == 0 {
		return nil, nil, errors.New("-Identity is required: name the receive connector (or, for Send As, the mailbox), or pipe Get-ReceiveConnector or Get-Mailbox into this command")
	}
	if len(ch.Rights) == 0 {
		return nil, nil, fmt.Errorf("-ExtendedRights is required: one or more of %s, or \"%s\" on a mailbox", joinRights(), RightSendAs)
	}
	for _, r := range ch.Rights {
		if isSendAs(r) {
			if ch.Deny {
				return nil, nil, fmt.Errorf("-Deny with \"%s\": transportd keeps Send As grants only; to take one away use Remove-ADPermission without -Deny", RightSendAs)
			}
			recs, err := m.setSendAs(ch.Identities, ch.User, ch.Rights, ch.Add)
			return recs, nil, err
		}
	}
	var rights []permissions.Right
	var warnings []string
	for _, s := range ch.Rights {
		r, err := permissions.ParseRight(s)
		if err != nil {
			return nil, nil, fmt.Errorf("-ExtendedRights: %w", err)
		}
		if why, inert := r.Inert(); inert && ch.Add {
			warnings = append(warnings, fmt.Sprintf("%s is stored but has no effect on Linux: %s.", r, why))
		}
		rights = append(rights, r)
	}
	var out []Record
	_, err := config.Update(m.ConfigPath, func(c *config.Config) error {
		out = nil
		user, err := resolvePrincipal(c, ch.User)
		if err != nil {
			return err
		}
		var names []string
		for i := range c.ReceiveConnectors {
			names = append(names, c.ReceiveConnectors[i].Name)
		}
		for _, id := range ch.Identities {
			n := 0
			for i := range c.ReceiveConnectors {
				rc := &c.ReceiveConnectors[i]
				if !MatchIdentity(id, rc.Name) {
					continue
				}
				n++
				for _, r := range rights {
					recs, warn, err := changeEntry(rc, user, r, ch.Add, ch.Deny)
					if err != nil {
						return err
					}
					out = append(out, recs...)
					if warn != "" {
						warnings = append(warnings, warn)
					}
				}
			}
			if n == 0 {
				return noMatch("receive connector", id, names)
			}
		}
		return nil
	})
	if err != nil {
		return nil, nil, err
	}
	return out, warnings, nil
}

// changeEntry applies one right for one principal to one connector.
func changeEntry(rc *connector.ReceiveConnector, user string, r permissions.Right, add, deny bool) ([]Record, string, error) {
	relayRecipe := !deny && user == permissions.PrincipalAnonymous && r == permissions.RightAcceptAnyRecipient
	e := permissions.Entry{User: user, Right: r, Deny: deny}
	idx := -1
	for i, x := range rc.ADPermissions {
		if strings.EqualFold(x.User, user) && x.Right == r && x.Deny == deny {
			idx = i
		}
	}
	if add {
		if relayRecipe {
			rc.AnonymousRelay = true
			return []Record{adRecord(rc.Name, AnonymousLogon, RightAcceptAnyRecipient)}, "", nil
		}
		if idx < 0 {
			rc.ADPermissions = append(rc.ADPermissions, e)
		}
		return []Record{entryRecord(rc.Name, e)}, "", nil
	}
	if relayRecipe && rc.AnonymousRelay {
		rc.AnonymousRelay = false
		return []Record{adRecord(rc.Name, AnonymousLogon, RightAcceptAnyRecipient)}, "", nil
	}
	if idx >= 0 {
		rc.ADPermissions = append(rc.ADPermissions[:idx:idx], rc.ADPermissions[idx+1:]...)
		return []Record{entryRecord(rc.Name, e)}, "", nil
	}
	if relayRecipe {
		return []Record{adRecord(rc.Name, AnonymousLogon, RightAcceptAnyRecipient)}, "", nil // already off
	}
	if !deny {
		if g := permissions.GroupGrant(rc.PermissionGroups, rc.AuthMechanism, user, r); g != "" {
			// The right comes with a permission group, which transportd
			// keeps as one setting: take it away with a deny entry.
			d := permissions.Entry{User: user, Right: r, Deny: true}
			has := false
			for _, x := range rc.ADPermissions {
				has = has || (strings.EqualFold(x.User, user) && x.Right == r && x.Deny)
			}
			if !has {
				rc.ADPermissions = append(rc.ADPermissions, d)
			}
			return []Record{entryRecord(rc.Name, d)}, fmt.Sprintf("%s for %s on %q comes with %s; it is now denied (Get-ADPermission shows Deny True; Remove-ADPermission -Deny gives it back).", r, user, rc.Name, g), nil
		}
	}
	kind := "grant"
	if deny {
		kind = "deny"
	}
	return nil, "", fmt.Errorf("receive connector %q has no explicit %s of %s for %s (Get-ADPermission %q lists what it has)", rc.Name, kind, r, user, rc.Name)
}

func joinRights() string {
	parts := make([]string, len(permissions.AllRights))
	for i, r := range permissions.AllRights {
		parts[i] = string(r)
	}
	return strings.Join(parts, ", ")
}
