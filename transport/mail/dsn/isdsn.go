package dsn

import (
	"mime"
	"strings"
)

// Fields is a parsed message header as IsDSN reads it: package header's
// *textproto.Header (go-message) or net/textproto's MIMEHeader. Values
// returns every value of a field, unfolded, the name matched
// case-insensitively (RFC 5322 section 1.2.2).
type Fields interface {
	Values(key string) []string
}

// IsDSN reports whether a message header looks like a delivery status
// notification or an automatic reply, so that callers never answer one
// with another notification (RFC 3464 section 1, RFC 3834 section 2):
//
//   - Content-Type multipart/report with report-type=delivery-status
//     (RFC 6522 section 3), or a top-level message/delivery-status;
//   - Auto-Submitted with any value other than "no" (RFC 3834 section 5).
//
// A Content-Type that does not parse is looked at leniently, since
// malformed bounces are common.
func IsDSN(h Fields) bool {
	for _, v := range h.Values("Auto-Submitted") {
		// RFC 3834 section 5: auto-submitted-field = "Auto-Submitted:"
		// [CFWS] auto-submitted [CFWS] *(";" parameter); keywords are
		// case-insensitive.
		kw := v
		if i := strings.IndexByte(kw, ';'); i >= 0 {
			kw = kw[:i]
		}
		kw = strings.ToLower(strings.TrimSpace(stripComments(kw)))
		if kw != "" && kw != "no" {
			return true
		}
	}
	for _, v := range h.Values("Content-Type") {
		mt, params, err := mime.ParseMediaType(v)
		if err != nil {
			l := strings.ToLower(v)
			if strings.Contains(l, "message/delivery-status") ||
				(strings.Contains(l, "multipart/report") && strings.Contains(l, "delivery-status")) {
				return true
			}
			continue
		}
		if mt == "message/delivery-status" ||
			(mt == "multipart/report" && strings.EqualFold(strings.TrimSpace(params["report-type"]), "delivery-status")) {
			return true
		}
	}
	return false
}

// stripComments removes RFC 5322 section 3.2.2 comments, "(...)", nested
// or not, from a structured field value.
func stripComments(s string) string {
	var sb strings.Builder
	depth := 0
	escaped := false
	for i := 0; i < len(s); i++ {
		c := s[i]
		switch {
		case escaped:
			escaped = false
			if depth == 0 {
				sb.WriteByte(c)
			}
		case c == '\\' && depth > 0:
			escaped = true
		case c == '(':
			depth++
		case c == ')' && depth > 0:
			depth--
		case depth == 0:
			sb.WriteByte(c)
		}
	}
	return sb.String()
}
