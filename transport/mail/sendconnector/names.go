package sendconnector

import (
	"fmt"
	"strings"
)

// normalizeDomain lowercases a domain and drops one trailing dot (the DNS
// root), so "Contoso.COM." and "contoso.com" compare equal.
func normalizeDomain(s string) string {
	return strings.TrimSuffix(strings.ToLower(strings.TrimSpace(s)), ".")
}

// checkHostname reports whether s is a syntactically valid domain name in
// ASCII (RFC 1035 section 2.3.1 with RFC 1123 section 2.1's leading
// digits; '_' is tolerated for internal names). Internationalised names must
// be given in their A-label (xn--) form.
func checkHostname(s string) error {
	if s == "" {
		return fmt.Errorf("empty name")
	}
	if len(s) > 253 {
		return fmt.Errorf("%q is longer than 253 characters", s)
	}
	labels := strings.Split(s, ".")
	// RFC 1123 section 2.1 and RFC 3696 section 2: a top-level label is
	// never all-numeric, so a dotted-decimal form ("192.0.2.1." with its
	// trailing dot dropped, or "1.2.3") is never a host name.
	if top := labels[len(labels)-1]; top != "" && strings.Trim(top, "0123456789") == "" {
		return fmt.Errorf("%q is not a host name (its last label is all digits); write an IP address in brackets, as [192.0.2.1]", s)
	}
	for _, label := range labels {
		if label == "" {
			return fmt.Errorf("%q has an empty label", s)
		}
		if len(label) > 63 {
			return fmt.Errorf("%q has a label longer than 63 characters", s)
		}
		if label[0] == '-' || label[len(label)-1] == '-' {
			return fmt.Errorf("%q has a label starting or ending with '-'", s)
		}
		for i := range len(label) {
			c := label[i]
			switch {
			case c >= 'a' && c <= 'z', c >= 'A' && c <= 'Z', c >= '0' && c <= '9', c == '-', c == '_':
			case c >= 0x80:
				return fmt.Errorf("%q is not ASCII: write an internationalised name in its xn-- form", s)
			default:
				return fmt.Errorf("%q contains %q, which is not allowed in a domain name", s, string(rune(c)))
			}
		}
	}
	return nil
}
