package dsn

import (
	"bytes"
	"fmt"
	"strings"
	"time"
)

// deliveryStatus renders the message/delivery-status body (RFC 3464
// section 2.1): the per-message fields, then one block of per-recipient
// fields for each recipient, blocks separated by an empty line. Every
// field is US-ASCII and folded like a header field.
func deliveryStatus(r Report) []byte {
	var b bytes.Buffer
	// Per-message fields, in the order of RFC 3464 section 2.2.
	if r.EnvelopeID != "" {
		writeField(&b, "Original-Envelope-Id", sanitizeASCII(r.EnvelopeID))
	}
	writeField(&b, "Reporting-MTA", typed(r.ReportingMTA, "dns"))
	if !r.ArrivalDate.IsZero() {
		writeField(&b, "Arrival-Date", r.ArrivalDate.Format(time.RFC1123Z))
	}
	if r.QueueID != "" {
		// An extension field (RFC 3464 section 2.4).
		writeField(&b, "X-Transportd-Queue-Id", sanitizeASCII(r.QueueID))
	}
	// Per-recipient fields, in the order of RFC 3464 section 2.3.
	for _, rc := range r.Recipients {
		b.WriteString("\r\n")
		if rc.OriginalRecipient != "" {
			writeField(&b, "Original-Recipient", addressType(rc.OriginalRecipient))
		}
		writeField(&b, "Final-Recipient", addressType(rc.Address))
		writeField(&b, "Action", string(rc.Action))
		writeField(&b, "Status", statusString(rc.status()))
		if rc.RemoteMTA != "" {
			writeField(&b, "Remote-MTA", typed(rc.RemoteMTA, "dns"))
		}
		if rc.DiagnosticCode != "" {
			writeField(&b, "Diagnostic-Code", typed(rc.DiagnosticCode, "smtp"))
		}
		if !rc.LastAttempt.IsZero() {
			writeField(&b, "Last-Attempt-Date", rc.LastAttempt.Format(time.RFC1123Z))
		}
		if rc.Action == Delayed && !rc.WillRetryUntil.IsZero() {
			writeField(&b, "Will-Retry-Until", rc.WillRetryUntil.Format(time.RFC1123Z))
		}
	}
	return b.Bytes()
}

// splitType splits a typed value "type; text" (RFC 3464 section 2.1.2:
// address-type, diagnostic-type and mta-name-type are atoms) into its type
// and text. A value without a type, such as an SMTP reply, which starts
// with a digit, returns an empty type.
func splitType(v string) (typ, text string) {
	i := strings.IndexByte(v, ';')
	if i <= 0 {
		return "", v
	}
	t := strings.TrimSpace(v[:i])
	if t == "" || !isLetter(t[0]) {
		return "", v
	}
	for j := 0; j < len(t); j++ {
		c := t[j]
		if !isLetter(c) && !(c >= '0' && c <= '9') && c != '-' {
			return "", v
		}
	}
	return t, strings.TrimSpace(v[i+1:])
}

func isLetter(c byte) bool { return (c >= 'a' && c <= 'z') || (c >= 'A' && c <= 'Z') }

// stripType returns v without its type.
func stripType(v string) string {
	_, text := splitType(v)
	return text
}

// typed writes v as "type; text" with def as the type when v has none,
// sanitized to US-ASCII.
func typed(v, def string) string {
	t, text := splitType(v)
	if t == "" {
		t = def
	}
	return strings.ToLower(t) + "; " + sanitizeASCII(text)
}

// addressType writes a recipient address as "rfc822; addr". An address
// that is not ASCII (SMTPUTF8, RFC 6531) is written with the utf-8 type and
// its characters escaped as RFC 6533 section 3 describes, so the field
// stays US-ASCII.
func addressType(v string) string {
	t, addr := splitType(v)
	if t == "" {
		t = "rfc822"
	}
	addr = strings.TrimSpace(strings.Trim(strings.TrimSpace(addr), "<>"))
	if isASCII(addr) {
		return strings.ToLower(t) + "; " + sanitizeASCII(addr)
	}
	return "utf-8; " + utf8AddrXtext(addr)
}

// utf8AddrXtext encodes an address as utf-8-addr-xtext (RFC 6533 section
// 3): printable ASCII except '+', '\\' and '=' is kept, anything else
// becomes \x{HEX}. Invalid UTF-8 becomes U+FFFD.
func utf8AddrXtext(addr string) string {
	var sb strings.Builder
	for _, r := range strings.ToValidUTF8(addr, "\uFFFD") {
		if r > 0x20 && r < 0x7f && r != '+' && r != '\\' && r != '=' {
			sb.WriteRune(r)
			continue
		}
		fmt.Fprintf(&sb, `\x{%X}`, r)
	}
	return sb.String()
}
