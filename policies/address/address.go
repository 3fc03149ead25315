// Package address checks SMTP envelope addresses strictly, refusing the
// syntax that relay tricks depend on: percent hacks, UUCP bang paths,
// source routes, quoted local parts, IP literal domains and the like.
//
// The accepted syntax is a subset of RFC 5321 section 4.1.2 Mailbox:
// a dot-atom local part (RFC 5322 section 3.2.3) without '%' and '!', an
// '@', and a domain name made of LDH labels (RFC 1035 section 2.3.1,
// RFC 1123 section 2.1). SMTPUTF8 (RFC 6531) is not supported.
package address

import (
	"net/netip"
	"strconv"
	"strings"
)

// Length limits from RFC 5321 section 4.5.3.1.
const (
	// MaxLocalLength is the longest local part, in octets (4.5.3.1.1).
	MaxLocalLength = 64
	// MaxDomainLength is the longest domain, in octets (4.5.3.1.2).
	MaxDomainLength = 255
	// MaxAddressLength is the longest address: the 256-octet path
	// (4.5.3.1.3) less its two angle brackets.
	MaxAddressLength = 254
	// maxLabelLength is the longest DNS label (RFC 1035 section 2.3.4).
	maxLabelLength = 63
)

// Address is a checked envelope address. Domain is lower-cased; Local is
// kept as given, since RFC 5321 section 2.4 leaves its case to the mailbox's
// host.
type Address struct {
	Local, Domain string
}

// String returns "local@domain", or "" for the zero Address (the null
// reverse-path).
func (a Address) String() string {
	if a.Local == "" && a.Domain == "" {
		return ""
	}
	return a.Local + "@" + a.Domain
}

// IsZero reports whether a is the zero Address (the null reverse-path).
func (a Address) IsZero() bool {
	return a == Address{}
}

// SyntaxError reports an address that was refused, and why.
type SyntaxError struct {
	// Address is the text as received.
	Address string
	// Reason is a plain-language reason, fit for an SMTP reply.
	Reason string
}

// Error returns "address: reason". Control characters and non-ASCII bytes
// of the address are escaped and a very long address is shortened, so the
// text is safe to put into an SMTP reply line.
func (e *SyntaxError) Error() string {
	if e.Address == "" {
		return e.Reason
	}
	return sanitize(e.Address) + ": " + e.Reason
}

// sanitize escapes bytes outside printable ASCII and truncates s.
func sanitize(s string) string {
	const maxShown = 100
	var b strings.Builder
	for i := 0; i < len(s); i++ {
		if b.Len() >= maxShown {
			b.WriteString("...")
			break
		}
		c := s[i]
		if c < 0x20 || c >= 0x7f || c == '\\' {
			b.WriteString(`\x`)
			b.WriteString(strconv.FormatUint(uint64(c)|0x100, 16)[1:])
			continue
		}
		b.WriteByte(c)
	}
	return b.String()
}

// ParseRecipient checks a forward-path as go-smtp hands it to RCPT TO (the
// address without angle brackets) and returns its parts.
func ParseRecipient(s string) (Address, error) {
	return parse(s)
}

// ParseSender checks a reverse-path as go-smtp hands it to MAIL FROM. The
// null reverse-path "" (RFC 5321 section 4.5.5, used for bounces) returns
// the zero Address and no error; anything else follows the rules of
// ParseRecipient.
func ParseSender(s string) (Address, error) {
	if s == "" {
		return Address{}, nil
	}
	return parse(s)
}

// ParseMailbox checks an address that names a mailbox of this server (a
// mailbox's PrimarySmtpAddress or EmailAddresses, the postmaster address):
// the rules of ParseRecipient, and a local part that can be part of the
// mailbox's folder name. Mailbox delivery stores mail under
// <data>/mailboxes/<local@domain>/Maildir, so '/' (legal atext in RFC 5322
// section 3.2.3) is refused here, as are the leading dot, "..", NUL and
// control characters that ParseRecipient already refuses. An address that
// passes is one path component that stays inside its parent folder.
func ParseMailbox(s string) (Address, error) {
	a, err := parse(s)
	if err != nil {
		return Address{}, err
	}
	if strings.ContainsRune(a.Local, '/') {
		return Address{}, &SyntaxError{Address: s, Reason: "'/' is not allowed in the local part of a mailbox address (it cannot name a mailbox folder)"}
	}
	return a, nil
}

// CheckDomain returns an error when domain is not a host name that mail can
// be addressed to: LDH labels (RFC 1035 section 2.3.1, RFC 1123 section
// 2.1) of at most 63 octets, at most 255 octets in all, no trailing dot, no
// IP address or address literal, and a top-level label that is not all
// digits (RFC 3696 section 2).
func CheckDomain(domain string) error {
	if reason := checkDomain(domain); reason != "" {
		return &SyntaxError{Address: domain, Reason: reason}
	}
	return nil
}

func parse(s string) (Address, error) {
	fail := func(reason string) (Address, error) {
		return Address{}, &SyntaxError{Address: s, Reason: reason}
	}
	if s == "" {
		return fail("empty address")
	}
	for i := 0; i < len(s); i++ {
		switch c := s[i]; {
		case c == ' ':
			return fail("spaces are not allowed")
		case c < 0x20 || c == 0x7f:
			return fail("control characters are not allowed")
		case c >= 0x80:
			return fail("non-ASCII characters are not allowed (SMTPUTF8 is not supported)")
		}
	}
	if len(s) > MaxAddressLength {
		return fail("address is longer than " + strconv.Itoa(MaxAddressLength) + " octets (RFC 5321 section 4.5.3.1.3)")
	}
	if s[0] == '@' {
		// RFC 5321 section 4.1.2 A-d-l and Appendix C: source routes are
		// obsolete and a classic relay trick.
		return fail("source routes are not accepted")
	}
	if strings.ContainsRune(s, '"') {
		return fail("quoted local parts are not accepted")
	}
	at := strings.Count(s, "@")
	switch {
	case at == 0:
		return fail("missing '@' and domain")
	case at > 1:
		return fail("more than one '@'")
	}
	local, domain, _ := strings.Cut(s, "@")
	if reason := checkLocal(local); reason != "" {
		return fail(reason)
	}
	if reason := checkDomain(domain); reason != "" {
		return fail(reason)
	}
	return Address{Local: local, Domain: strings.ToLower(domain)}, nil
}

// checkLocal returns why local is refused, or "".
func checkLocal(local string) string {
	switch {
	case local == "":
		return "empty local part"
	case len(local) > MaxLocalLength:
		return "local part is longer than " + strconv.Itoa(MaxLocalLength) + " octets (RFC 5321 section 4.5.3.1.1)"
	case strings.ContainsRune(local, '%'):
		return "'%' is not allowed in the local part (percent-hack relaying)"
	case strings.ContainsRune(local, '!'):
		return "'!' is not allowed in the local part (UUCP bang-path relaying)"
	case local[0] == '.':
		return "local part starts with a dot"
	case local[len(local)-1] == '.':
		return "local part ends with a dot"
	case strings.Contains(local, ".."):
		return "local part has two dots in a row"
	}
	for i := 0; i < len(local); i++ {
		if c := local[i]; c != '.' && !isAtext(c) {
			return "character " + strconv.QuoteRune(rune(c)) + " is not allowed in the local part"
		}
	}
	return ""
}

// isAtext reports whether c is atext (RFC 5322 section 3.2.3).
func isAtext(c byte) bool {
	switch {
	case 'a' <= c && c <= 'z', 'A' <= c && c <= 'Z', '0' <= c && c <= '9':
		return true
	}
	return strings.IndexByte("!#$%&'*+-/=?^_`{|}~", c) >= 0
}

// checkDomain returns why domain is refused, or "".
func checkDomain(domain string) string {
	switch {
	case domain == "":
		return "empty domain"
	case domain[0] == '[':
		// RFC 5321 section 4.1.3 address literals bypass accepted-domain
		// checks; refuse them outright.
		return "IP address literals are not accepted as a domain"
	case len(domain) > MaxDomainLength:
		return "domain is longer than " + strconv.Itoa(MaxDomainLength) + " octets (RFC 5321 section 4.5.3.1.2)"
	case domain[len(domain)-1] == '.':
		return "domain ends with a dot"
	}
	if _, err := netip.ParseAddr(domain); err == nil {
		return "a bare IP address is not accepted as a domain"
	}
	labels := strings.Split(domain, ".")
	for _, label := range labels {
		if reason := CheckLabel(label); reason != "" {
			return "domain " + reason
		}
	}
	// RFC 1123 section 2.1 and RFC 3696 section 2: a top-level domain is
	// never all-numeric, which also catches IPv4 look-alikes such as
	// "1.2.3" or "0x7f.1".
	if allDigits(labels[len(labels)-1]) {
		return "domain has an all-numeric top-level label"
	}
	return ""
}

// CheckLabel returns why label is not a valid LDH host name label
// (RFC 1035 section 2.3.1, RFC 1123 section 2.1), or "" if it is valid.
func CheckLabel(label string) string {
	switch {
	case label == "":
		return "has an empty label"
	case len(label) > maxLabelLength:
		return "label is longer than " + strconv.Itoa(maxLabelLength) + " octets (RFC 1035 section 2.3.4)"
	case label[0] == '-':
		return "label starts with a hyphen"
	case label[len(label)-1] == '-':
		return "label ends with a hyphen"
	}
	for i := 0; i < len(label); i++ {
		c := label[i]
		if !('a' <= c && c <= 'z' || 'A' <= c && c <= 'Z' || '0' <= c && c <= '9' || c == '-') {
			return "has character " + strconv.QuoteRune(rune(c)) + " (only letters, digits and hyphens are allowed)"
		}
	}
	return ""
}

func allDigits(s string) bool {
	for i := 0; i < len(s); i++ {
		if s[i] < '0' || s[i] > '9' {
			return false
		}
	}
	return s != ""
}
