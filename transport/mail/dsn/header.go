package dsn

import (
	"bytes"
	"mime"
	"net/mail"
	"strings"
	"unicode/utf8"
)

// Line lengths of RFC 5322 section 2.1.1: lines SHOULD stay within 78
// characters and MUST NOT exceed 998, both without the CRLF.
const (
	foldAt       = 76
	maxLineOctet = 998
)

// writeField writes one header field, "Name: value", folded at white space
// (RFC 5322 section 2.2.3) so that lines stay within foldAt characters when
// the words allow it. A single word too long for a line of maxLineOctet
// octets is cut, the only way to keep within the hard limit. value must
// be sanitized already: it is written as it is except for the folding.
func writeField(b *bytes.Buffer, name, value string) {
	b.WriteString(foldLines(name+":", strings.Fields(value), " ", foldAt, "\r\n "))
	b.WriteString("\r\n")
}

// foldLines joins words after first with sep, breaking the text with brk
// (CRLF and the indent that starts the next line) before a word that would
// take a line that already has a word past width. A line never exceeds
// maxLineOctet: a word too long even for a line of its own is cut.
func foldLines(first string, words []string, sep string, width int, brk string) string {
	var sb strings.Builder
	sb.WriteString(first)
	indent := len(brk) - 2
	lineLen := len(first)
	hasWord := false
	for _, w := range words {
		for indent+len(w) > maxLineOctet {
			n := maxLineOctet - indent
			if lineLen > indent {
				sb.WriteString(brk)
			}
			sb.WriteString(w[:n])
			w = w[n:]
			lineLen, hasWord = indent+n, true
		}
		next := lineLen + len(sep) + len(w)
		if (hasWord && next > width) || next > maxLineOctet {
			sb.WriteString(brk)
			lineLen = indent
		} else if lineLen > 0 {
			sb.WriteString(sep)
			lineLen += len(sep)
		}
		sb.WriteString(w)
		lineLen += len(w)
		hasWord = true
	}
	return sb.String()
}

// wrap formats a paragraph of plain text as lines of at most width
// characters (words permitting), each ended by CRLF.
func wrap(text string, width int) string {
	return foldLines("", strings.Fields(text), " ", width, "\r\n") + "\r\n"
}

// sanitizeASCII turns s into one line of printable US-ASCII for a
// machine-readable field: white space and control characters become a
// space, other bytes outside ASCII become '?', so a remote server's reply
// can never inject a header line (RFC 3464 section 2.1 asks for US-ASCII).
func sanitizeASCII(s string) string {
	b := []byte(s)
	for i, c := range b {
		switch {
		case c < 0x20 || c == 0x7f:
			b[i] = ' '
		case c > 0x7f:
			b[i] = '?'
		}
	}
	return strings.Join(strings.Fields(string(b)), " ")
}

// sanitizeText turns s into one line of valid UTF-8 without control
// characters, for the human-readable part and the Subject.
func sanitizeText(s string) string {
	s = strings.ToValidUTF8(s, "\uFFFD")
	s = strings.Map(func(r rune) rune {
		if r < 0x20 || r == 0x7f || (r >= 0x80 && r < 0xa0) {
			return ' '
		}
		return r
	}, s)
	return strings.Join(strings.Fields(s), " ")
}

// isASCII reports whether s is all US-ASCII.
func isASCII(s string) bool {
	for i := 0; i < len(s); i++ {
		if s[i] >= utf8.RuneSelf {
			return false
		}
	}
	return true
}

// decodeSubject decodes RFC 2047 encoded-words in the original Subject.
// Charsets Go does not know and broken encoded-words leave the text as it
// was; 8-bit text (RFC 6532) is taken as UTF-8.
func decodeSubject(raw string) string {
	dec := mime.WordDecoder{}
	s, err := dec.DecodeHeader(raw)
	if err != nil {
		s = raw
	}
	return sanitizeText(s)
}

// subjectPrefix is Exchange's wording for each kind of notification.
var subjectPrefix = map[Action]string{
	Failed:    "Undeliverable",
	Delayed:   "Delivery delayed",
	Delivered: "Delivered",
	Relayed:   "Relayed",
	Expanded:  "Expanded",
}

// subject returns the notification's Subject field value, "Undeliverable:
// <original subject>" and the like. A non-ASCII original subject is
// RFC 2047 encoded (Q encoding, UTF-8), in encoded-words short enough to
// fold (RFC 2047 section 2).
func subject(a Action, rawOriginal string) string {
	prefix := subjectPrefix[a] + ":"
	orig := decodeSubject(rawOriginal)
	if orig == "" {
		return prefix
	}
	if isASCII(orig) {
		// Text that still looks like an encoded-word (one in a charset Go
		// does not know) stays as it was, so it reads as the original did.
		return prefix + " " + orig
	}
	return prefix + " " + mime.QEncoding.Encode("utf-8", orig)
}

// formatAddress formats an address for From or To (RFC 5322 section 3.4),
// with an RFC 2047 encoded display name when it is not ASCII.
func formatAddress(name, addr string) string {
	addr = strings.Trim(sanitizeText(addr), "<>")
	a := mail.Address{Name: name, Address: addr}
	return a.String()
}
