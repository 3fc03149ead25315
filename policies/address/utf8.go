package address

import (
	"strconv"
	"strings"
	"unicode/utf8"

	"golang.org/x/net/idna"
)

// IsASCII reports whether s holds only ASCII octets: an address that does
// not need SMTPUTF8 (RFC 6531).
func IsASCII(s string) bool {
	for i := 0; i < len(s); i++ {
		if s[i] >= 0x80 {
			return false
		}
	}
	return true
}

// ParseUTF8 checks an internationalized address, for a transaction whose
// MAIL command carried SMTPUTF8 (RFC 6531 section 3.3: the local part may
// hold UTF-8, the domain U-labels). The rules of ParseRecipient apply to
// the ASCII octets; the non-ASCII ones must be valid UTF-8 without control
// characters. The domain is returned in its ASCII form (A-labels, RFC 5890)
// so that accepted domains and routes match it; the local part stays as
// given. An ASCII address gives the same result as ParseRecipient.
func ParseUTF8(s string) (Address, error) {
	if IsASCII(s) {
		return parse(s)
	}
	fail := func(reason string) (Address, error) {
		return Address{}, &SyntaxError{Address: s, Reason: reason}
	}
	if !utf8.ValidString(s) {
		return fail("not valid UTF-8 (RFC 6531 section 3.3)")
	}
	for _, r := range s {
		if r < 0x20 || (r >= 0x7f && r < 0xa0) || r == ' ' {
			return fail("control characters and spaces are not allowed")
		}
	}
	if len(s) > MaxAddressLength {
		return fail("address is longer than " + strconv.Itoa(MaxAddressLength) + " octets (RFC 5321 section 4.5.3.1.3)")
	}
	local, domain, ok := strings.Cut(s, "@")
	if !ok || strings.Contains(domain, "@") {
		return parse(s) // the ASCII rules name what is wrong
	}
	// The local part follows the ASCII rules with every non-ASCII
	// character standing in as one atext character.
	ascii := strings.Map(func(r rune) rune {
		if r >= 0x80 {
			return 'u'
		}
		return r
	}, local)
	if reason := checkLocal(ascii); reason != "" {
		return fail(reason)
	}
	aDomain := domain
	if !IsASCII(domain) {
		var err error
		if aDomain, err = idna.Lookup.ToASCII(domain); err != nil {
			return fail("domain is not a valid internationalized domain name: " + err.Error())
		}
	}
	if reason := checkDomain(aDomain); reason != "" {
		return fail(reason)
	}
	return Address{Local: local, Domain: strings.ToLower(aDomain)}, nil
}
