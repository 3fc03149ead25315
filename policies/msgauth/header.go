package msgauth

import (
	"bytes"
	"strings"

	"github.com/emersion/go-msgauth/authres"
)

// Field is one header field as it appears in a message.
type Field struct {
	// Name is the field name; Value what follows the colon, unfolded
	// lines joined as they were (CRLF kept).
	Name, Value string
	// Raw is the whole field, its CRLF included.
	Raw []byte
}

// HeaderSection is msg up to and including the empty line that ends its
// header section (RFC 5322 section 2.1), or all of msg when there is none.
func HeaderSection(msg []byte) []byte {
	if bytes.HasPrefix(msg, []byte("\r\n")) {
		return msg[:2]
	}
	if i := bytes.Index(msg, []byte("\r\n\r\n")); i >= 0 {
		return msg[:i+4]
	}
	return msg
}

// Fields splits a header section into its fields: a field starts at a
// line that does not begin with white space and runs until the next one
// (RFC 5322 section 2.2.3). A line without a colon is a field without a
// name; nothing is dropped, so the fields' Raw bytes make up head again.
func Fields(head []byte) []Field {
	var out []Field
	for len(head) > 0 {
		end := 0
		for {
			i := bytes.Index(head[end:], []byte("\r\n"))
			if i < 0 {
				end = len(head)
				break
			}
			end += i + 2
			if end >= len(head) || (head[end] != ' ' && head[end] != '\t') {
				break
			}
		}
		raw := head[:end]
		head = head[end:]
		f := Field{Raw: raw}
		if name, val, ok := bytes.Cut(raw, []byte(":")); ok && len(bytes.TrimSpace(name)) > 0 && !bytes.ContainsAny(name, "\r\n") {
			f.Name = strings.TrimSpace(string(name))
			f.Value = strings.TrimSpace(string(val))
		}
		out = append(out, f)
	}
	return out
}

// StripOwnResults removes the Authentication-Results fields whose
// authserv-id is one of ours: a message arriving from outside may not
// claim that we checked it (RFC 8601 section 5). Other fields, the body
// and the order are left as they are.
func StripOwnResults(msg []byte, ours ...string) ([]byte, int) {
	head := HeaderSection(msg)
	fields := Fields(head)
	removed := 0
	var out []byte
	for _, f := range fields {
		if strings.EqualFold(f.Name, "Authentication-Results") && claims(f.Value, ours) {
			removed++
			continue
		}
		out = append(out, f.Raw...)
	}
	if removed == 0 {
		return msg, 0
	}
	return append(out, msg[len(head):]...), removed
}

// claims reports whether an Authentication-Results value names one of ours.
func claims(value string, ours []string) bool {
	id, _, err := authres.Parse(strings.NewReplacer("\r\n", "", "\n", "").Replace(value))
	if err != nil || id == "" {
		// An unparsable field: take the first token as its authserv-id.
		id, _, _ = strings.Cut(strings.TrimSpace(value), ";")
		id = strings.TrimSpace(id)
		if i := strings.IndexAny(id, " \t("); i >= 0 {
			id = id[:i]
		}
	}
	for _, o := range ours {
		if o != "" && strings.EqualFold(strings.TrimSuffix(id, "."), strings.TrimSuffix(o, ".")) {
			return true
		}
	}
	return false
}
