// Package domains holds a server's accepted domains, as Exchange's
// Get-AcceptedDomain shows them, and answers which accepted domain, if any,
// a recipient domain falls under.
package domains

import (
	"fmt"
	"strings"

	"github.com/transportd/transportd/policies/address"
)

// DomainType says how mail for an accepted domain is handled.
type DomainType string

// Domain types, as Exchange names them.
const (
	// Authoritative: every recipient has a mailbox here; mail for an
	// unknown recipient is refused.
	Authoritative DomainType = "Authoritative"
	// InternalRelay: some recipients are here, the rest are relayed to
	// another system of the same organization.
	InternalRelay DomainType = "InternalRelay"
	// ExternalRelay: no recipients are here; all mail is relayed.
	ExternalRelay DomainType = "ExternalRelay"
)

var domainTypes = [...]DomainType{Authoritative, InternalRelay, ExternalRelay}

// Valid reports whether t is one of the defined domain types.
func (t DomainType) Valid() bool {
	for _, v := range domainTypes {
		if t == v {
			return true
		}
	}
	return false
}

// MarshalText implements encoding.TextMarshaler.
func (t DomainType) MarshalText() ([]byte, error) {
	if !t.Valid() {
		return nil, fmt.Errorf("domain type %q: want one of %s", string(t), allowedTypes())
	}
	return []byte(t), nil
}

// UnmarshalText implements encoding.TextUnmarshaler. Case is ignored.
func (t *DomainType) UnmarshalText(b []byte) error {
	s := strings.TrimSpace(string(b))
	for _, v := range domainTypes {
		if strings.EqualFold(s, string(v)) {
			*t = v
			return nil
		}
	}
	return fmt.Errorf("domain type %q: want one of %s", s, allowedTypes())
}

func allowedTypes() string {
	parts := make([]string, len(domainTypes))
	for i, v := range domainTypes {
		parts[i] = string(v)
	}
	return strings.Join(parts, ", ")
}

// AcceptedDomain is one accepted domain.
type AcceptedDomain struct {
	// Name is the display name (Exchange's Name); it defaults to
	// DomainName.
	Name string
	// DomainName is "contoso.com" (exactly that domain) or
	// "*.contoso.com" (the domain and all its subdomains, as Exchange).
	DomainName string
	// DomainType says how mail for the domain is handled.
	DomainType DomainType
	// Default marks the organization's default domain; at most one
	// domain may be the default.
	Default bool
}

// Wildcard reports whether d covers subdomains ("*.contoso.com").
func (d AcceptedDomain) Wildcard() bool {
	return strings.HasPrefix(d.DomainName, "*.")
}

// Table is a validated set of accepted domains. It is immutable once built
// and safe for concurrent use.
type Table struct {
	all      []AcceptedDomain
	exact    map[string]int // domain -> index into all
	wildcard map[string]int // base domain of "*.base" -> index into all
}

// NewTable validates ds and builds a Table. Domain names are lower-cased.
// Each name must be a valid host name (LDH labels, RFC 1123 section 2.1),
// optionally preceded by "*."; duplicates (after lower-casing) and more
// than one default domain are errors.
func NewTable(ds []AcceptedDomain) (*Table, error) {
	t := &Table{
		all:      make([]AcceptedDomain, 0, len(ds)),
		exact:    make(map[string]int, len(ds)),
		wildcard: make(map[string]int),
	}
	defaultIdx := -1
	names := make(map[string]int, len(ds))
	for i, d := range ds {
		d.DomainName = strings.ToLower(strings.TrimSpace(d.DomainName))
		if err := checkDomainName(d.DomainName); err != nil {
			return nil, fmt.Errorf("accepted domain %d (%q): %w", i+1, ds[i].DomainName, err)
		}
		if !d.DomainType.Valid() {
			return nil, fmt.Errorf("accepted domain %q: domain type %q: want one of %s",
				d.DomainName, string(d.DomainType), allowedTypes())
		}
		if d.Name == "" {
			d.Name = d.DomainName
		}
		m, key := t.exact, d.DomainName
		if d.Wildcard() {
			m, key = t.wildcard, strings.TrimPrefix(d.DomainName, "*.")
		}
		if j, dup := m[key]; dup {
			return nil, fmt.Errorf("accepted domain %q (%q) duplicates %q (%q)",
				d.Name, ds[i].DomainName, t.all[j].Name, ds[j].DomainName)
		}
		if j, dup := names[strings.ToLower(d.Name)]; dup {
			return nil, fmt.Errorf("accepted domain %q: name %q is already used by %q",
				d.DomainName, d.Name, t.all[j].DomainName)
		}
		if d.Default {
			if defaultIdx >= 0 {
				return nil, fmt.Errorf("accepted domains %q and %q are both marked default",
					t.all[defaultIdx].DomainName, d.DomainName)
			}
			defaultIdx = len(t.all)
		}
		m[key] = len(t.all)
		names[strings.ToLower(d.Name)] = len(t.all)
		t.all = append(t.all, d)
	}
	return t, nil
}

// checkDomainName validates "contoso.com" or "*.contoso.com".
func checkDomainName(name string) error {
	if name == "" {
		return fmt.Errorf("empty domain name")
	}
	base := strings.TrimPrefix(name, "*.")
	if base == "" {
		return fmt.Errorf("wildcard without a domain")
	}
	if strings.Contains(base, "*") {
		return fmt.Errorf("'*' is only allowed as a whole first label (\"*.contoso.com\")")
	}
	if len(base) > 253 {
		// RFC 1035 section 2.3.4: 255 octets on the wire, 253 as text.
		return fmt.Errorf("domain name is longer than 253 characters")
	}
	if strings.HasSuffix(base, ".") {
		return fmt.Errorf("domain name ends with a dot")
	}
	for _, label := range strings.Split(base, ".") {
		if reason := address.CheckLabel(label); reason != "" {
			return fmt.Errorf("domain name %s", reason)
		}
	}
	// The same rules as for a recipient's domain (an IP address or an
	// all-numeric top-level label is no domain mail can be addressed to),
	// so an accepted domain is always one that RCPT TO can name.
	if err := address.CheckDomain(base); err != nil {
		return fmt.Errorf("domain name %w", err)
	}
	return nil
}

// Lookup returns the accepted domain that domain falls under. Case is
// ignored. The most specific entry wins: an exact entry for the domain
// beats any wildcard, and a longer wildcard ("*.sales.contoso.com") beats a
// shorter one ("*.contoso.com"). A trailing dot is not stripped: such a
// domain is not accepted.
func (t *Table) Lookup(domain string) (AcceptedDomain, bool) {
	if t == nil || domain == "" {
		return AcceptedDomain{}, false
	}
	d := strings.ToLower(domain)
	if d[0] == '.' || d[len(d)-1] == '.' || strings.Contains(d, "..") {
		return AcceptedDomain{}, false
	}
	if i, ok := t.exact[d]; ok {
		return t.all[i], true
	}
	for {
		if i, ok := t.wildcard[d]; ok {
			return t.all[i], true
		}
		_, parent, ok := strings.Cut(d, ".")
		if !ok {
			return AcceptedDomain{}, false
		}
		d = parent
	}
}

// Default returns the default accepted domain, if one is marked.
func (t *Table) Default() (AcceptedDomain, bool) {
	if t == nil {
		return AcceptedDomain{}, false
	}
	for _, d := range t.all {
		if d.Default {
			return d, true
		}
	}
	return AcceptedDomain{}, false
}

// All returns a copy of the table's domains in the order given to NewTable,
// with names normalized.
func (t *Table) All() []AcceptedDomain {
	if t == nil {
		return nil
	}
	return append([]AcceptedDomain(nil), t.all...)
}
