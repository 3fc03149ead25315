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
	for _, label := range strings.Split(s, ".") {
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
