package certs

import (
	"crypto/x509/pkix"
	"encoding/asn1"
	"encoding/hex"
	"errors"
	"fmt"
	"strings"
	"unicode"
)

// CertificateName is a parsed TlsCertificateName: either Issuer and Subject
// (from "<I>issuer<S>subject") or Thumbprint is set, never both.
type CertificateName struct {
	// Issuer is the issuer's distinguished name as written (trimmed).
	Issuer string
	// Subject is the subject's distinguished name as written (trimmed).
	Subject string
	// Thumbprint is the normalised thumbprint: 40 upper-case hex digits.
	Thumbprint string
}

// String formats n the way it is written in a connector's TlsCertificateName.
func (n CertificateName) String() string {
	if n.Thumbprint != "" {
		return n.Thumbprint
	}
	return "<I>" + n.Issuer + "<S>" + n.Subject
}

// Matches reports whether c is the certificate n names.
func (n CertificateName) Matches(c *Certificate) bool {
	if c == nil {
		return false
	}
	if n.Thumbprint != "" {
		return c.Thumbprint == n.Thumbprint
	}
	return EqualDN(n.Issuer, c.Issuer) && EqualDN(n.Subject, c.Subject)
}

// ParseCertificateName parses a connector's TlsCertificateName: either
// "<I>issuer<S>subject" (case-insensitive markers, whitespace around them
// tolerated) or a thumbprint (40 hex digits, spaces and colons allowed and
// removed, any case). Exactly one of the name or the thumbprint is set in the
// result.
func ParseCertificateName(s string) (CertificateName, error) {
	t := strings.TrimFunc(s, isSpaceOrMark)
	if t == "" {
		return CertificateName{}, errors.New("certs: empty certificate name")
	}
	if hasPrefixFold(t, "<i>") {
		si := indexFold(t[3:], "<s>")
		if si < 0 {
			return CertificateName{}, fmt.Errorf("certs: certificate name %q has <I> but no <S> marker", s)
		}
		issuer := strings.TrimFunc(t[3:3+si], isSpaceOrMark)
		subject := strings.TrimFunc(t[3+si+3:], isSpaceOrMark)
		if issuer == "" {
			return CertificateName{}, fmt.Errorf("certs: certificate name %q has an empty issuer", s)
		}
		if subject == "" {
			return CertificateName{}, fmt.Errorf("certs: certificate name %q has an empty subject", s)
		}
		return CertificateName{Issuer: issuer, Subject: subject}, nil
	}
	if indexFold(t, "<s>") >= 0 {
		return CertificateName{}, fmt.Errorf("certs: certificate name %q must start with <I>issuer before <S>subject", s)
	}
	tp, err := NormalizeThumbprint(t)
	if err != nil {
		return CertificateName{}, fmt.Errorf("certs: certificate name %q is neither <I>issuer<S>subject nor a thumbprint: %w", s, err)
	}
	return CertificateName{Thumbprint: tp}, nil
}

// hasPrefixFold reports whether s starts with the ASCII marker, ignoring case.
func hasPrefixFold(s, marker string) bool {
	return len(s) >= len(marker) && strings.EqualFold(s[:len(marker)], marker)
}

// indexFold returns the byte index of the first ASCII marker in s, ignoring
// case, or -1. Unlike strings.ToLower it keeps byte offsets intact.
func indexFold(s, marker string) int {
	for i := 0; i+len(marker) <= len(s); i++ {
		if strings.EqualFold(s[i:i+len(marker)], marker) {
			return i
		}
	}
	return -1
}

// isSpaceOrMark reports white space and the invisible marks that Windows'
// certificate dialog puts around a copied thumbprint.
func isSpaceOrMark(r rune) bool {
	return unicode.IsSpace(r) || r == '\u200e' || r == '\u200f' || r == '\ufeff'
}

// NormalizeThumbprint removes spaces, colons and invisible marks from s and
// returns it as 40 upper-case hex digits, or an error if it is not a SHA-1
// thumbprint.
func NormalizeThumbprint(s string) (string, error) {
	var b strings.Builder
	b.Grow(40)
	for _, r := range s {
		switch {
		case r == ':' || isSpaceOrMark(r):
			continue
		case r >= '0' && r <= '9', r >= 'A' && r <= 'F':
			b.WriteRune(r)
		case r >= 'a' && r <= 'f':
			b.WriteRune(unicode.ToUpper(r))
		default:
			return "", fmt.Errorf("thumbprint contains %q, which is not a hex digit", r)
		}
	}
	if b.Len() != 40 {
		return "", fmt.Errorf("thumbprint has %d hex digits, want 40", b.Len())
	}
	return b.String(), nil
}

// dnAttr is one attribute of a distinguished name.
type dnAttr struct {
	key   string // upper case, aliases resolved
	value string // unquoted, unescaped
}

// keyAliases maps alternative attribute names to the ones Exchange prints.
var keyAliases = map[string]string{
	"ST":            "S",
	"EMAIL":         "E",
	"EMAILADDRESS":  "E",
	"GIVENNAME":     "G",
	"TITLE":         "T",
	"STREETADDRESS": "STREET",
}

// parseDN splits a distinguished name in either Exchange's ("CN=a, O=b",
// values quoted with double quotes) or RFC 4514 form (values escaped with
// backslashes) into attributes, in the order written. Both ',' and '+' (and
// ';') separate attributes.
func parseDN(s string) ([]dnAttr, error) {
	var attrs []dnAttr
	var cur strings.Builder
	inQuote := false
	flush := func() error {
		comp := cur.String()
		cur.Reset()
		k, v, ok := strings.Cut(comp, "=")
		if !ok {
			return fmt.Errorf("component %q has no '='", strings.TrimSpace(comp))
		}
		k = strings.ToUpper(strings.TrimSpace(k))
		k = strings.TrimPrefix(k, "OID.")
		if k == "" {
			return fmt.Errorf("component %q has no attribute name", strings.TrimSpace(comp))
		}
		if a, ok := keyAliases[k]; ok {
			k = a
		}
		attrs = append(attrs, dnAttr{key: k, value: unquoteDNValue(strings.TrimSpace(v))})
		return nil
	}
	for i := 0; i < len(s); i++ {
		c := s[i]
		switch {
		case c == '\\' && i+1 < len(s):
			cur.WriteByte(c)
			cur.WriteByte(s[i+1])
			i++
		case c == '"':
			// Doubled quotes inside a quoted value stay quotes.
			if inQuote && i+1 < len(s) && s[i+1] == '"' {
				cur.WriteString(`""`)
				i++
				continue
			}
			inQuote = !inQuote
			cur.WriteByte(c)
		case !inQuote && (c == ',' || c == '+' || c == ';'):
			if err := flush(); err != nil {
				return nil, err
			}
		default:
			cur.WriteByte(c)
		}
	}
	if inQuote {
		return nil, errors.New("unterminated quote")
	}
	if err := flush(); err != nil {
		return nil, err
	}
	return attrs, nil
}

// unquoteDNValue undoes Exchange's double quotes and RFC 4514 backslash escapes.
func unquoteDNValue(v string) string {
	if len(v) >= 2 && v[0] == '"' && v[len(v)-1] == '"' {
		return strings.ReplaceAll(v[1:len(v)-1], `""`, `"`)
	}
	if !strings.Contains(v, `\`) {
		return v
	}
	var b strings.Builder
	for i := 0; i < len(v); i++ {
		if v[i] != '\\' || i+1 >= len(v) {
			b.WriteByte(v[i])
			continue
		}
		if i+2 < len(v) && isHex(v[i+1]) && isHex(v[i+2]) {
			h, _ := hex.DecodeString(v[i+1 : i+3])
			b.Write(h)
			i += 2
			continue
		}
		b.WriteByte(v[i+1])
		i++
	}
	return b.String()
}

func isHex(c byte) bool {
	return c >= '0' && c <= '9' || c >= 'a' && c <= 'f' || c >= 'A' && c <= 'F'
}

// canonicalDN returns the comparison form of a distinguished name, or the
// lower-cased, space-collapsed input if it does not parse.
func canonicalDN(s string) string {
	attrs, err := parseDN(s)
	if err != nil {
		return strings.Join(strings.Fields(strings.ToLower(s)), " ")
	}
	parts := make([]string, len(attrs))
	for i, a := range attrs {
		parts[i] = a.key + "=" + strings.ToLower(a.value)
	}
	return strings.Join(parts, ",")
}

// EqualDN reports whether two distinguished names are the same, regardless of
// case, of spaces around separators, of quoting style and of attribute
// aliases: "CN=a,O=b" equals "cn=A, o=B".
func EqualDN(a, b string) bool {
	return canonicalDN(a) == canonicalDN(b)
}

// Attribute type OIDs Exchange (Windows) prints by name.
var oidNames = map[string]string{
	"2.5.4.3":                    "CN",
	"2.5.4.4":                    "SN",
	"2.5.4.5":                    "SERIALNUMBER",
	"2.5.4.6":                    "C",
	"2.5.4.7":                    "L",
	"2.5.4.8":                    "S",
	"2.5.4.9":                    "STREET",
	"2.5.4.10":                   "O",
	"2.5.4.11":                   "OU",
	"2.5.4.12":                   "T",
	"2.5.4.42":                   "G",
	"2.5.4.43":                   "I",
	"0.9.2342.19200300.100.1.25": "DC",
	"0.9.2342.19200300.100.1.1":  "UID",
	"1.2.840.113549.1.9.1":       "E",
}

// nameOIDs is the reverse of oidNames, for building names.
var nameOIDs = func() map[string]asn1.ObjectIdentifier {
	m := make(map[string]asn1.ObjectIdentifier, len(oidNames))
	for oid, name := range oidNames {
		var id asn1.ObjectIdentifier
		for _, p := range strings.Split(oid, ".") {
			n := 0
			for _, c := range p {
				n = n*10 + int(c-'0')
			}
			id = append(id, n)
		}
		m[name] = id
	}
	return m
}()

// formatDN prints a DER-encoded Name the way Exchange does: most specific
// attribute first, ", " between attributes, " + " inside a multi-valued RDN,
// and values that contain special characters in double quotes.
func formatDN(raw []byte) string {
	var seq pkix.RDNSequence
	if rest, err := asn1.Unmarshal(raw, &seq); err != nil || len(rest) > 0 {
		return ""
	}
	parts := make([]string, 0, len(seq))
	for i := len(seq) - 1; i >= 0; i-- {
		rdn := seq[i]
		vals := make([]string, 0, len(rdn))
		for _, atv := range rdn {
			key, ok := oidNames[atv.Type.String()]
			if !ok {
				key = "OID." + atv.Type.String()
			}
			vals = append(vals, key+"="+quoteDNValue(fmt.Sprint(atv.Value)))
		}
		parts = append(parts, strings.Join(vals, " + "))
	}
	return strings.Join(parts, ", ")
}

// quoteDNValue quotes a value the way Windows' CertNameToStr does.
func quoteDNValue(v string) string {
	if v == "" {
		return v
	}
	if strings.ContainsAny(v, ",+=\"\n\r<>#;") || v[0] == ' ' || v[len(v)-1] == ' ' {
		return `"` + strings.ReplaceAll(v, `"`, `""`) + `"`
	}
	return v
}

// buildRawName encodes a distinguished name written most specific first
// ("CN=mail.contoso.com, O=Contoso, C=US") as a DER Name.
func buildRawName(dn string) ([]byte, string, error) {
	attrs, err := parseDN(dn)
	if err != nil {
		return nil, "", err
	}
	return encodeRawName(attrs)
}

// encodeRawName encodes attributes listed most specific first as a DER Name.
func encodeRawName(attrs []dnAttr) ([]byte, string, error) {
	var seq pkix.RDNSequence
	cn := ""
	for i := len(attrs) - 1; i >= 0; i-- {
		a := attrs[i]
		oid, ok := nameOIDs[a.key]
		if !ok {
			return nil, "", fmt.Errorf("unsupported attribute %q", a.key)
		}
		if a.value == "" {
			return nil, "", fmt.Errorf("attribute %s is empty", a.key)
		}
		var val any = a.value
		switch a.key {
		case "E", "DC":
			val = asn1.RawValue{Tag: asn1.TagIA5String, Bytes: []byte(a.value)}
		case "C":
			if len(a.value) != 2 {
				return nil, "", fmt.Errorf("country %q must be two letters", a.value)
			}
		case "CN":
			cn = a.value
		}
		seq = append(seq, pkix.RelativeDistinguishedNameSET{{Type: oid, Value: val}})
	}
	raw, err := asn1.Marshal(seq)
	if err != nil {
		return nil, "", fmt.Errorf("encode name: %w", err)
	}
	return raw, cn, nil
}
