package permissions

import (
	"fmt"
	"strings"
)

// Right is one of Exchange's extended rights on a receive connector, as
// Add-ADPermission -ExtendedRights names it.
type Right string

// The extended rights of Microsoft's relay and partner recipes, with what
// each does here.
const (
	// RightSubmit lets a session send MAIL FROM at all.
	RightSubmit Right = "ms-Exch-SMTP-Submit"
	// RightAcceptAnyRecipient lets a session relay to domains that are
	// not accepted.
	RightAcceptAnyRecipient Right = "ms-Exch-SMTP-Accept-Any-Recipient"
	// RightAcceptAnySender lets an authenticated session skip the sender
	// checks (its own addresses and Send As, in MAIL FROM, From: and
	// Sender:).
	RightAcceptAnySender Right = "ms-Exch-SMTP-Accept-Any-Sender"
	// RightAcceptAuthoritativeDomainSender lets an anonymous session use
	// an address of an Authoritative accepted domain in MAIL FROM.
	RightAcceptAuthoritativeDomainSender Right = "ms-Exch-SMTP-Accept-Authoritative-Domain-Sender"
	// RightBypassAntiSpam skips the sender authentication verdicts (DMARC
	// reject and quarantine) of SenderAuthenticationEnabled connectors.
	RightBypassAntiSpam Right = "ms-Exch-Bypass-Anti-Spam"
	// RightBypassMessageSizeLimit lifts the connector's MaxMessageSize.
	RightBypassMessageSizeLimit Right = "ms-Exch-Bypass-Message-Size-Limit"
	// RightAcceptHeadersRouting keeps the Received: fields a client sends;
	// without it they are removed before the message is queued.
	RightAcceptHeadersRouting Right = "ms-Exch-Accept-Headers-Routing"
	// RightAcceptExch50 is inert: XEXCH50 (Exchange 2003's binary blob)
	// is not offered.
	RightAcceptExch50 Right = "ms-Exch-SMTP-Accept-Exch50"
)

// AllRights lists the rights a receive connector entry may name, in the
// order Get-ADPermission shows them.
var AllRights = []Right{
	RightSubmit, RightAcceptAnyRecipient, RightAcceptAnySender,
	RightAcceptAuthoritativeDomainSender, RightBypassAntiSpam,
	RightBypassMessageSizeLimit, RightAcceptHeadersRouting, RightAcceptExch50,
}

// ParseRight returns the right named s, in any case.
func ParseRight(s string) (Right, error) {
	s = strings.TrimSpace(s)
	for _, r := range AllRights {
		if strings.EqualFold(s, string(r)) {
			return r, nil
		}
	}
	return "", fmt.Errorf("extended right %q: want one of %s (or \"Send As\" on a mailbox)", s, join(AllRights))
}

// Inert reports whether r is accepted but has no effect here, and why.
func (r Right) Inert() (string, bool) {
	if r == RightAcceptExch50 {
		return "XEXCH50 carries Exchange 2003's binary message properties, which transportd neither offers nor keeps", true
	}
	return "", false
}

// The security principals a receive connector entry may name besides a
// mailbox user.
const (
	// PrincipalAnonymous is every session that did not authenticate.
	PrincipalAnonymous = `NT AUTHORITY\ANONYMOUS LOGON`
	// PrincipalAuthenticated is every session that authenticated.
	PrincipalAuthenticated = `NT AUTHORITY\Authenticated Users`
	// PrincipalExternallySecured is every session on a connector with
	// AuthMechanism ExternalAuthoritative (the network vouches for it).
	PrincipalExternallySecured = `MS Exchange\Externally Secured Servers`
	// PrincipalPartners is every anonymous session on a connector with
	// the Partners permission group.
	PrincipalPartners = `MS Exchange\Partner Servers`
)

// Principals lists the principal names CanonicalPrincipal knows.
var Principals = []string{PrincipalAnonymous, PrincipalAuthenticated, PrincipalExternallySecured, PrincipalPartners}

// CanonicalPrincipal returns the canonical spelling of a well-known
// principal (with or without its domain part, in any case), or "" when
// name is none of them.
func CanonicalPrincipal(name string) string {
	name = strings.TrimSpace(name)
	for _, p := range Principals {
		_, short, _ := strings.Cut(p, `\`)
		if strings.EqualFold(name, p) || strings.EqualFold(name, short) {
			return p
		}
	}
	return ""
}

// Entry is one explicit access control entry on a receive connector:
// Add-ADPermission -User User -ExtendedRights Right [-Deny].
type Entry struct {
	// User is a well-known principal (PrincipalAnonymous...) or a
	// mailbox's primary SMTP address.
	User string `yaml:"User"`
	// Right is the extended right.
	Right Right `yaml:"Right"`
	// Deny takes the right away; a deny wins over every grant.
	Deny bool `yaml:"Deny,omitempty"`
}

// groupGrant is what one permission group grants to one principal.
type groupGrant struct {
	Group     Group
	Principal string
	Rights    []Right
}

// allButExch50 is every right Exchange grants its own servers.
var allButExch50 = []Right{RightSubmit, RightAcceptAnyRecipient, RightAcceptAnySender,
	RightAcceptAuthoritativeDomainSender, RightBypassAntiSpam, RightBypassMessageSizeLimit,
	RightAcceptHeadersRouting}

// GroupGrants lists the rights Exchange grants with each permission group,
// as Get-ADPermission shows them; ExternalAuthoritative adds the
// Externally Secured Servers grant.
var GroupGrants = []groupGrant{
	{GroupAnonymousUsers, PrincipalAnonymous, []Right{RightSubmit, RightAcceptAnySender, RightAcceptAuthoritativeDomainSender, RightAcceptHeadersRouting}},
	{GroupExchangeUsers, PrincipalAuthenticated, []Right{RightSubmit, RightAcceptAnyRecipient, RightBypassAntiSpam, RightAcceptHeadersRouting}},
	{GroupExchangeServers, `MS Exchange\Hub Transport Servers`, allButExch50},
	{GroupExchangeLegacyServers, `MS Exchange\Legacy Exchange Servers`, []Right{RightSubmit, RightAcceptAnyRecipient, RightAcceptAnySender, RightAcceptAuthoritativeDomainSender, RightAcceptHeadersRouting}},
	{GroupPartners, PrincipalPartners, []Right{RightSubmit, RightAcceptHeadersRouting}},
}

// ExternallySecuredRights are granted to PrincipalExternallySecured on a
// connector with AuthMechanism ExternalAuthoritative.
var ExternallySecuredRights = allButExch50

// principals lists who the session is, in the names entries use.
func (s Session) principals() []string {
	var out []string
	if s.Authenticated {
		out = append(out, PrincipalAuthenticated)
		if s.User != "" {
			out = append(out, s.User)
		}
	} else {
		out = append(out, PrincipalAnonymous)
		if s.Groups.Has(GroupPartners) {
			out = append(out, PrincipalPartners)
		}
	}
	if s.Mechanisms.Has(MechExternalAuthoritative) && s.Groups.Has(GroupExchangeServers) {
		out = append(out, PrincipalExternallySecured)
	}
	return out
}

// groupHas reports whether the connector's permission groups and
// mechanisms alone give the session r.
func (s Session) groupHas(r Right) bool {
	if s.Authenticated {
		// An authenticated mailbox user gets the rights of
		// ExchangeUsers, and of ExchangeServers when the connector has
		// it (transportd has no server accounts).
		for _, g := range GroupGrants {
			if (g.Group == GroupExchangeUsers || g.Group == GroupExchangeServers) && s.Groups.Has(g.Group) && hasRight(g.Rights, r) {
				return true
			}
		}
	} else {
		for _, g := range GroupGrants {
			if (g.Group == GroupAnonymousUsers || g.Group == GroupPartners) && s.Groups.Has(g.Group) && hasRight(g.Rights, r) {
				return true
			}
		}
		// AnonymousRelay is the grant of the relay recipe, which goes
		// with the AnonymousUsers group.
		if r == RightAcceptAnyRecipient && s.AnonymousRelay && s.Groups.Has(GroupAnonymousUsers) {
			return true
		}
	}
	if s.Mechanisms.Has(MechExternalAuthoritative) && s.Groups.Has(GroupExchangeServers) && hasRight(ExternallySecuredRights, r) {
		return true
	}
	return false
}

func hasRight(rs []Right, r Right) bool {
	for _, x := range rs {
		if x == r {
			return true
		}
	}
	return false
}

// Has reports whether the session holds right r: granted by a permission
// group, AnonymousRelay or an explicit entry for one of its principals,
// and denied by no explicit entry (a deny wins, as in Active Directory).
func (s Session) Has(r Right) bool {
	granted := s.groupHas(r)
	ps := s.principals()
	for _, e := range s.Entries {
		if e.Right != r {
			continue
		}
		for _, p := range ps {
			if strings.EqualFold(e.User, p) {
				if e.Deny {
					return false
				}
				granted = true
			}
		}
	}
	return granted
}

// explicitGrants reports whether some entry grants a right at all.
func (s Session) explicitGrants() bool {
	for _, e := range s.Entries {
		if !e.Deny {
			return true
		}
	}
	return false
}

// errSenderDenied is Exchange's refusal of a sender the session may not use.
func errSenderDenied(why string) *Refusal {
	return &Refusal{Code: 550, Enhanced: [3]int{5, 7, 1}, Reason: "Client does not have permissions to send as this sender: " + why}
}

// CheckAnonymousSender refuses an anonymous session's MAIL FROM in an
// Authoritative accepted domain unless it holds
// ms-Exch-SMTP-Accept-Authoritative-Domain-Sender (Exchange's answer to
// outsiders posing as our own users). Authenticated sessions are checked
// by Send As instead.
func (s Session) CheckAnonymousSender(domain string, authoritative bool) *Refusal {
	if s.Authenticated || !authoritative || s.Has(RightAcceptAuthoritativeDomainSender) {
		return nil
	}
	return errSenderDenied(fmt.Sprintf("anonymous senders may not use the authoritative domain %s on this connector (%s is not granted)", domain, RightAcceptAuthoritativeDomainSender))
}

// String shows the entry as Get-ReceiveConnector lists it:
// "NT AUTHORITY\ANONYMOUS LOGON: ms-Exch-SMTP-Submit", "Deny " first for
// a deny.
func (e Entry) String() string {
	if e.Deny {
		return "Deny " + e.User + ": " + string(e.Right)
	}
	return e.User + ": " + string(e.Right)
}

// GroupGrant reports which permission group (or "ExternalAuthoritative")
// of a connector with groups g and mechanisms m grants right r to the
// well-known principal p, or "" if none does.
func GroupGrant(g Groups, m Mechanisms, p string, r Right) string {
	for _, gg := range GroupGrants {
		if strings.EqualFold(gg.Principal, p) && g.Has(gg.Group) && hasRight(gg.Rights, r) {
			return string(gg.Group)
		}
	}
	if strings.EqualFold(p, PrincipalExternallySecured) && m.Has(MechExternalAuthoritative) && g.Has(GroupExchangeServers) && hasRight(ExternallySecuredRights, r) {
		return string(MechExternalAuthoritative)
	}
	return ""
}
