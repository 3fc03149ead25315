// Package permissions models a receive connector's PermissionGroups and
// AuthMechanism settings, as Exchange prints them, and decides whether a
// session may submit mail and where a recipient goes.
package permissions

import (
	"fmt"
	"strings"

	"github.com/transportd/transportd/policies/address"
	"github.com/transportd/transportd/policies/domains"
)

// Group is one of a receive connector's permission groups.
type Group string

// Permission groups, in Exchange's order (its flag values).
const (
	GroupNone                  Group = "None"
	GroupAnonymousUsers        Group = "AnonymousUsers"
	GroupExchangeUsers         Group = "ExchangeUsers"
	GroupExchangeServers       Group = "ExchangeServers"
	GroupExchangeLegacyServers Group = "ExchangeLegacyServers"
	GroupPartners              Group = "Partners"
	GroupCustom                Group = "Custom"
)

var allGroups = [...]Group{
	GroupNone, GroupAnonymousUsers, GroupExchangeUsers, GroupExchangeServers,
	GroupExchangeLegacyServers, GroupPartners, GroupCustom,
}

// Groups is a set of permission groups. Its text form is Exchange's:
// "AnonymousUsers, ExchangeServers", or "None" for the empty set. Parsed
// values are de-duplicated and kept in Exchange's order; "None" parses to
// the empty set.
type Groups []Group

// Has reports whether g contains x. Has(GroupNone) reports whether g is
// empty.
func (g Groups) Has(x Group) bool {
	return has(g, x, GroupNone)
}

// Validate checks that every group is known and that "None" is alone.
func (g Groups) Validate() error {
	return validate(g, allGroups[:], GroupNone, "permission group")
}

// String returns the text form.
func (g Groups) String() string {
	return format(g, allGroups[:], GroupNone)
}

// MarshalText implements encoding.TextMarshaler.
func (g Groups) MarshalText() ([]byte, error) {
	if err := g.Validate(); err != nil {
		return nil, err
	}
	return []byte(g.String()), nil
}

// UnmarshalText implements encoding.TextUnmarshaler. Names are separated by
// commas, case is ignored.
func (g *Groups) UnmarshalText(b []byte) error {
	v, err := parse(string(b), allGroups[:], GroupNone, "permission group")
	if err != nil {
		return err
	}
	*g = v
	return nil
}

// Mechanism is one of a receive connector's authentication mechanisms.
type Mechanism string

// Authentication mechanisms, in Exchange's order (its flag values).
const (
	MechNone                  Mechanism = "None"
	MechTLS                   Mechanism = "Tls"
	MechIntegrated            Mechanism = "Integrated"
	MechBasicAuth             Mechanism = "BasicAuth"
	MechBasicAuthRequireTLS   Mechanism = "BasicAuthRequireTLS"
	MechExchangeServer        Mechanism = "ExchangeServer"
	MechExternalAuthoritative Mechanism = "ExternalAuthoritative"
)

var allMechanisms = [...]Mechanism{
	MechNone, MechTLS, MechIntegrated, MechBasicAuth, MechBasicAuthRequireTLS,
	MechExchangeServer, MechExternalAuthoritative,
}

// Mechanisms is a set of authentication mechanisms, with the same text form
// as Groups: "Tls, BasicAuth, BasicAuthRequireTLS", or "None".
type Mechanisms []Mechanism

// Has reports whether m contains x. Has(MechNone) reports whether m is
// empty.
func (m Mechanisms) Has(x Mechanism) bool {
	return has(m, x, MechNone)
}

// String returns the text form.
func (m Mechanisms) String() string {
	return format(m, allMechanisms[:], MechNone)
}

// Validate checks the rules Exchange's Set-ReceiveConnector enforces:
// every mechanism is known, None is alone, BasicAuthRequireTLS needs
// BasicAuth and Tls, and ExternalAuthoritative needs Tls.
func (m Mechanisms) Validate() error {
	if err := validate(m, allMechanisms[:], MechNone, "auth mechanism"); err != nil {
		return err
	}
	if m.Has(MechBasicAuthRequireTLS) && (!m.Has(MechBasicAuth) || !m.Has(MechTLS)) {
		return fmt.Errorf("auth mechanisms %q: BasicAuthRequireTLS needs BasicAuth and Tls", m.String())
	}
	if m.Has(MechExternalAuthoritative) && !m.Has(MechTLS) {
		return fmt.Errorf("auth mechanisms %q: ExternalAuthoritative needs Tls", m.String())
	}
	return nil
}

// MarshalText implements encoding.TextMarshaler. It does not apply the
// cross-mechanism rules of Validate, only that each value is known.
func (m Mechanisms) MarshalText() ([]byte, error) {
	if err := validate(m, allMechanisms[:], MechNone, "auth mechanism"); err != nil {
		return nil, err
	}
	return []byte(m.String()), nil
}

// UnmarshalText implements encoding.TextUnmarshaler. Names are separated by
// commas, case is ignored. Call Validate (or ValidateCombination) to apply
// the rules between mechanisms.
func (m *Mechanisms) UnmarshalText(b []byte) error {
	v, err := parse(string(b), allMechanisms[:], MechNone, "auth mechanism")
	if err != nil {
		return err
	}
	*m = v
	return nil
}

// ValidateCombination checks m and g on their own and together:
// ExternalAuthoritative requires the ExchangeServers permission group, as
// in Exchange.
func ValidateCombination(m Mechanisms, g Groups) error {
	if err := m.Validate(); err != nil {
		return err
	}
	if err := g.Validate(); err != nil {
		return err
	}
	if m.Has(MechExternalAuthoritative) && !g.Has(GroupExchangeServers) {
		return fmt.Errorf("auth mechanism ExternalAuthoritative needs permission group ExchangeServers (have %q)", g.String())
	}
	return nil
}

// has reports whether set contains x; x == none asks whether the set is
// empty (or holds only none).
func has[T ~string](set []T, x, none T) bool {
	if x == none {
		for _, v := range set {
			if v != none {
				return false
			}
		}
		return true
	}
	for _, v := range set {
		if v == x {
			return true
		}
	}
	return false
}

func validate[T ~string](set []T, known []T, none T, what string) error {
	for _, v := range set {
		if indexOf(known, v) < 0 {
			return fmt.Errorf("%s %q: want one of %s", what, string(v), join(known))
		}
		if v == none && len(set) > 1 {
			return fmt.Errorf("%ss %q: None must be alone", what, join(set))
		}
	}
	return nil
}

// format prints set in canonical order, de-duplicated, or none if empty.
// Unknown values are printed last, in their original order.
func format[T ~string](set []T, known []T, none T) string {
	var parts []string
	for _, k := range known {
		if k != none && indexOf(set, k) >= 0 {
			parts = append(parts, string(k))
		}
	}
	for _, v := range set {
		if indexOf(known, v) < 0 {
			parts = append(parts, string(v))
		}
	}
	if len(parts) == 0 {
		return string(none)
	}
	return strings.Join(parts, ", ")
}

// parse reads "A, B" into a canonical set: known values only, in
// known order, without duplicates; "None" alone gives an empty set.
func parse[T ~string](s string, known []T, none T, what string) ([]T, error) {
	if strings.TrimSpace(s) == "" {
		return nil, fmt.Errorf("empty %ss: want %q or a comma-separated list of %s", what, string(none), join(known))
	}
	seen := make([]bool, len(known))
	items := strings.Split(s, ",")
	for _, item := range items {
		name := strings.TrimSpace(item)
		i := -1
		for j, k := range known {
			if strings.EqualFold(name, string(k)) {
				i = j
				break
			}
		}
		if i < 0 {
			if name == "" {
				return nil, fmt.Errorf("%ss %q: empty entry", what, s)
			}
			return nil, fmt.Errorf("%s %q: want one of %s", what, name, join(known))
		}
		if known[i] == none && len(items) > 1 {
			return nil, fmt.Errorf("%ss %q: None must be alone", what, s)
		}
		seen[i] = true
	}
	out := []T{}
	for j, k := range known {
		if seen[j] && k != none {
			out = append(out, k)
		}
	}
	return out, nil
}

func indexOf[T comparable](set []T, x T) int {
	for i, v := range set {
		if v == x {
			return i
		}
	}
	return -1
}

func join[T ~string](set []T) string {
	parts := make([]string, len(set))
	for i, v := range set {
		parts[i] = string(v)
	}
	return strings.Join(parts, ", ")
}

// Refusal is an SMTP refusal: a reply code, an enhanced status code
// (RFC 3463) and a plain-language reason.
type Refusal struct {
	// Code is the SMTP reply code (RFC 5321 section 4.2).
	Code int
	// Enhanced is the enhanced status code, e.g. {5, 7, 54}.
	Enhanced [3]int
	// Reason is the reply text.
	Reason string
}

// Error returns the reply line, e.g.
// "550 5.7.54 Unable to relay recipient in non-accepted domain".
func (r *Refusal) Error() string {
	return fmt.Sprintf("%d %d.%d.%d %s", r.Code, r.Enhanced[0], r.Enhanced[1], r.Enhanced[2], r.Reason)
}

// Temporary reports whether the refusal is a 4xx (transient) reply.
func (r *Refusal) Temporary() bool {
	return r.Code >= 400 && r.Code < 500
}

// Session describes who is talking, as the SMTP layer knows it.
type Session struct {
	// Groups are the receive connector's permission groups.
	Groups Groups
	// Mechanisms are the receive connector's authentication mechanisms.
	Mechanisms Mechanisms
	// Authenticated is true once the client passed AUTH as a mailbox user.
	Authenticated bool
	// AnonymousRelay is true when the connector grants
	// Ms-Exch-SMTP-Accept-Any-Recipient to anonymous clients
	// (NT AUTHORITY\ANONYMOUS LOGON).
	AnonymousRelay bool

	// ---- explicit rights (Add-ADPermission)

	// User is the authenticated mailbox's primary address, "" when
	// anonymous; entries may name it.
	User string
	// Entries are the connector's explicit grants and denies.
	Entries []Entry
}

// Refusals for MAIL FROM.
func errNoGroups() *Refusal {
	return &Refusal{Code: 530, Enhanced: [3]int{5, 7, 1}, Reason: "Client was not authenticated: this connector has no permission groups"}
}

func errAnonymous() *Refusal {
	return &Refusal{Code: 530, Enhanced: [3]int{5, 7, 57}, Reason: "Client was not authenticated to send anonymous mail during MAIL FROM"}
}

func errSubmitDenied() *Refusal {
	return &Refusal{Code: 550, Enhanced: [3]int{5, 7, 1}, Reason: "Client does not have permissions to submit to this server"}
}

// MaySubmit returns nil if the session may send MAIL FROM at all: if it
// holds ms-Exch-SMTP-Submit (see Has).
//
// An anonymous session needs the AnonymousUsers or Partners group, or the
// ExternalAuthoritative mechanism together with ExchangeServers (the
// connector vouches for its peers). An authenticated session needs
// ExchangeUsers or ExchangeServers; it does not inherit the anonymous
// permissions, as in Exchange, where those are granted to ANONYMOUS LOGON
// only.
//
// Refusals: 530 5.7.1 when the connector has no permission groups at all;
// 530 5.7.57 (Exchange's wording) for an anonymous session without
// permission; 550 5.7.1 for an authenticated user without permission.
func (s Session) MaySubmit() *Refusal {
	if s.Has(RightSubmit) {
		return nil
	}
	if s.Groups.Has(GroupNone) && !s.explicitGrants() {
		return errNoGroups()
	}
	if s.Authenticated {
		return errSubmitDenied()
	}
	return errAnonymous()
}

// MayRelay reports whether the session may send to domains that are not
// accepted, holding ms-Exch-SMTP-Accept-Any-Recipient: by default an authenticated ExchangeUsers or ExchangeServers session, an
// anonymous session on a connector with AnonymousUsers and AnonymousRelay,
// or a connector with ExternalAuthoritative.
func (s Session) MayRelay() bool {
	return s.Has(RightAcceptAnyRecipient)
}

// Directory answers whether a mailbox exists here.
type Directory interface {
	// MailboxExists reports whether address, lower-cased "local@domain",
	// has a mailbox on this server.
	MailboxExists(address string) bool
}

// Route says where an accepted recipient goes.
type Route int

// Routes.
const (
	// RouteLocal delivers to a mailbox on this server.
	RouteLocal Route = iota + 1
	// RouteRelay sends the message on through a send connector.
	RouteRelay
)

// String returns "local" or "relay".
func (r Route) String() string {
	switch r {
	case RouteLocal:
		return "local"
	case RouteRelay:
		return "relay"
	}
	return fmt.Sprintf("Route(%d)", int(r))
}

// CheckRecipient decides a RCPT TO for addr, already checked by
// policies/address.
//
//   - If addr's domain is accepted: Authoritative needs an existing mailbox
//     (else 550 5.1.1); InternalRelay goes local if the mailbox exists and
//     is relayed otherwise; ExternalRelay is relayed. Anyone who may submit
//     may send to accepted domains.
//   - Otherwise the session must be allowed to relay (MayRelay), else 550
//     5.7.54.
//
// As a safeguard, a session that may not submit at all (MaySubmit) gets
// the same refusal here. A nil table accepts no domains; a nil dir has no
// mailboxes.
func CheckRecipient(s Session, addr address.Address, t *domains.Table, dir Directory) (Route, *Refusal) {
	if r := s.MaySubmit(); r != nil {
		return 0, r
	}
	if addr.Local == "" || addr.Domain == "" {
		return 0, &Refusal{Code: 501, Enhanced: [3]int{5, 1, 3}, Reason: "Invalid recipient address"}
	}
	key := strings.ToLower(addr.Local) + "@" + strings.ToLower(addr.Domain)
	exists := func() bool { return dir != nil && dir.MailboxExists(key) }
	if d, ok := t.Lookup(addr.Domain); ok {
		switch d.DomainType {
		case domains.Authoritative:
			if exists() {
				return RouteLocal, nil
			}
			return 0, &Refusal{Code: 550, Enhanced: [3]int{5, 1, 1}, Reason: "User unknown: " + addr.String() + " has no mailbox here"}
		case domains.InternalRelay:
			if exists() {
				return RouteLocal, nil
			}
			return RouteRelay, nil
		case domains.ExternalRelay:
			return RouteRelay, nil
		}
	}
	if s.MayRelay() {
		return RouteRelay, nil
	}
	return 0, &Refusal{Code: 550, Enhanced: [3]int{5, 7, 54}, Reason: "Unable to relay recipient in non-accepted domain"}
}
