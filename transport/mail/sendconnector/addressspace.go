package sendconnector

import (
	"fmt"
	"strconv"
	"strings"
)

// AddressSpace is one entry of a send connector's AddressSpaces: the
// recipient domains the connector routes to, and the cost Exchange uses to
// choose between connectors that match equally well.
//
// Text form: "[SMTP:]domain[;cost]" where domain is "contoso.com" (that
// domain only), "*.contoso.com" (the domain and all its subdomains) or "*"
// (every domain), and cost is 1 to 100 (default 1).
type AddressSpace struct {
	// Domain is "*", "*.contoso.com" or "contoso.com", lower case.
	Domain string
	// Cost is 1 to 100; lower wins among equally specific matches.
	Cost int
}

// Address space costs allowed by Exchange.
const (
	MinCost     = 1
	MaxCost     = 100
	DefaultCost = 1
)

// ParseAddressSpace reads one address space in the text form described on
// AddressSpace. Only the SMTP address space type is supported.
func ParseAddressSpace(s string) (AddressSpace, error) {
	t := strings.TrimSpace(s)
	if t == "" {
		return AddressSpace{}, fmt.Errorf("address space %q: empty", s)
	}
	if typ, rest, ok := strings.Cut(t, ":"); ok {
		if !strings.EqualFold(strings.TrimSpace(typ), "SMTP") {
			return AddressSpace{}, fmt.Errorf("address space %q: type %q is not supported: only SMTP", s, typ)
		}
		t = strings.TrimSpace(rest)
	}
	as := AddressSpace{Cost: DefaultCost}
	if dom, cost, ok := strings.Cut(t, ";"); ok {
		cost = strings.TrimSpace(cost)
		n, err := strconv.Atoi(cost)
		if err != nil || n < MinCost || n > MaxCost || cost != strconv.Itoa(n) {
			return AddressSpace{}, fmt.Errorf("address space %q: cost %q must be a whole number from %d to %d", s, cost, MinCost, MaxCost)
		}
		as.Cost = n
		t = strings.TrimSpace(dom)
	}
	d := normalizeDomain(t)
	switch {
	case d == "*":
	case strings.HasPrefix(d, "*."):
		if err := checkHostname(d[2:]); err != nil {
			return AddressSpace{}, fmt.Errorf("address space %q: %w", s, err)
		}
	default:
		if strings.Contains(d, "*") {
			return AddressSpace{}, fmt.Errorf("address space %q: a wildcard is allowed only as a leading \"*.\" or as \"*\" alone", s)
		}
		if err := checkHostname(d); err != nil {
			return AddressSpace{}, fmt.Errorf("address space %q: %w", s, err)
		}
	}
	as.Domain = d
	return as, nil
}

// String writes the address space as Exchange shows it: "SMTP:*.contoso.com;1".
func (a AddressSpace) String() string {
	return "SMTP:" + a.short()
}

func (a AddressSpace) short() string {
	return a.Domain + ";" + strconv.Itoa(a.Cost)
}

// MarshalText writes the config form "*.contoso.com;1".
func (a AddressSpace) MarshalText() ([]byte, error) {
	if _, err := ParseAddressSpace(a.short()); err != nil {
		return nil, err
	}
	return []byte(a.short()), nil
}

// UnmarshalText reads the text form described on AddressSpace.
func (a *AddressSpace) UnmarshalText(b []byte) error {
	v, err := ParseAddressSpace(string(b))
	if err != nil {
		return err
	}
	*a = v
	return nil
}

// Match reports whether the address space covers the recipient domain and,
// if so, how specific the match is: an exact domain beats any wildcard that
// also matches, a wildcard with more labels beats one with fewer, and "*"
// (specificity 0) loses to everything. domain is compared without case and
// without a trailing dot.
func (a AddressSpace) Match(domain string) (specificity int, ok bool) {
	d := normalizeDomain(domain)
	if d == "" {
		return 0, false
	}
	switch {
	case a.Domain == "*":
		return 0, true
	case strings.HasPrefix(a.Domain, "*."):
		base := a.Domain[2:]
		if d == base || strings.HasSuffix(d, "."+base) {
			return 2 * labels(base), true
		}
	case d == a.Domain:
		// A matching wildcard's base is a suffix of d, so it has at most
		// labels(d) labels: 2*labels+1 always beats it.
		return 2*labels(d) + 1, true
	}
	return 0, false
}

func labels(d string) int { return strings.Count(d, ".") + 1 }

// AddressSpaces is a connector's list of address spaces. Text form: entries
// separated by commas, "*;1, contoso.com;5".
type AddressSpaces []AddressSpace

// ParseAddressSpaces reads a comma-separated list of address spaces. A blank
// string is an empty list; an empty entry between commas is an error.
func ParseAddressSpaces(s string) (AddressSpaces, error) {
	if strings.TrimSpace(s) == "" {
		return AddressSpaces{}, nil
	}
	parts := strings.Split(s, ",")
	out := make(AddressSpaces, 0, len(parts))
	for i, p := range parts {
		a, err := ParseAddressSpace(p)
		if err != nil {
			return nil, fmt.Errorf("address space list entry %d: %w", i+1, err)
		}
		out = append(out, a)
	}
	return out, nil
}

// String joins the entries in Exchange's display form.
func (l AddressSpaces) String() string {
	parts := make([]string, len(l))
	for i, a := range l {
		parts[i] = a.String()
	}
	return strings.Join(parts, ", ")
}

// MarshalText writes the config form "*;1, contoso.com;5".
func (l AddressSpaces) MarshalText() ([]byte, error) {
	parts := make([]string, len(l))
	for i, a := range l {
		b, err := a.MarshalText()
		if err != nil {
			return nil, err
		}
		parts[i] = string(b)
	}
	return []byte(strings.Join(parts, ", ")), nil
}

// UnmarshalText reads a list with ParseAddressSpaces.
func (l *AddressSpaces) UnmarshalText(b []byte) error {
	v, err := ParseAddressSpaces(string(b))
	if err != nil {
		return err
	}
	*l = v
	return nil
}

// Best returns the most specific entry that matches domain, the cheapest
// among equally specific ones.
func (l AddressSpaces) Best(domain string) (best AddressSpace, specificity int, ok bool) {
	for _, a := range l {
		s, m := a.Match(domain)
		if !m {
			continue
		}
		if !ok || s > specificity || (s == specificity && a.Cost < best.Cost) {
			best, specificity, ok = a, s, true
		}
	}
	return best, specificity, ok
}
