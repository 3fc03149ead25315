// Package pickup implements the IIS pickup directory: an administrator or
// an application drops a complete RFC 5322 message as an .eml file into
// the pickup folder, and transportd submits it with the envelope taken from
// its header, then deletes the file. A malformed file goes to the badmail
// folder, next to a file that says why, as IIS does.
//
// The envelope comes from IIS's X-Sender: and X-Receiver: fields when the
// file has them (System.Net.Mail's SmtpDeliveryMethod.PickupDirectoryFromIis
// writes them), and from From:/Sender: and To:/Cc:/Bcc: otherwise.
package pickup

import (
	"bytes"
	"errors"
	"fmt"
	"io"
	"mime"
	"net/mail"
	"strings"
	"time"

	"github.com/transportd/transportd/policies/address"
)

// ErrMalformed is wrapped by every Parse error that is the file's fault:
// such a file goes to the badmail folder rather than being retried.
var ErrMalformed = errors.New("malformed message")

// Envelope is the SMTP envelope a dropped message is submitted with.
type Envelope struct {
	// From is the reverse-path (MAIL FROM); "" is the null reverse-path,
	// given by "X-Sender: <>" only.
	From string
	// Recipients are the forward-paths (RCPT TO), without duplicates.
	Recipients []string
}

// maxLine is the longest header line RFC 5322 section 2.1.1 allows,
// without its CRLF.
const maxLine = 998

// malformed returns an error wrapping ErrMalformed.
func malformed(format string, args ...any) error {
	return fmt.Errorf("%w: %s", ErrMalformed, fmt.Sprintf(format, args...))
}

// field is one header field as it appeared, with its continuation lines.
type field struct {
	name  string   // as written, without trailing white space
	lines [][]byte // the field's lines, without line endings
}

// value returns the field's unfolded value (RFC 5322 section 2.2.3).
func (f field) value() string {
	joined := bytes.Join(f.lines, nil)
	_, v, _ := bytes.Cut(joined, []byte(":"))
	return strings.TrimSpace(string(v))
}

// is reports whether the field is called name, case-insensitively
// (RFC 5322 section 1.2.2).
func (f field) is(name string) bool { return strings.EqualFold(f.name, name) }

// Parse reads a dropped message and returns its envelope and the message
// to queue: CRLF line endings (a bare LF or CR becomes CRLF, RFC 5322
// section 2.3), the Bcc field removed (RFC 5322 section 3.6.3), and IIS's
// X-Sender and X-Receiver fields used and removed.
//
// When X-Sender is present it gives MAIL FROM, and when X-Receiver fields
// are present each gives a RCPT TO. Otherwise Sender: (or From: when there
// is no Sender:, RFC 5322 section 3.6.2) gives the sender and To, Cc and
// Bcc the recipients. Addresses must pass the same checks as SMTP
// envelope addresses (package policies/address).
//
// A message whose header ends at the end of the file, without an empty
// line, is taken as a message without body (RFC 5322 section 3.5); a line
// in the header that is neither a field nor a continuation is refused as a
// missing separator.
//
// Errors that are the message's fault wrap ErrMalformed and say plainly
// what is wrong: no recipients, an address that does not parse, no
// separator between header and body, a header line over 998 octets, a NUL
// byte, a message bigger than maxSize bytes (zero or less: no limit).
// Other errors come from r.
func Parse(r io.Reader, maxSize int64) (Envelope, []byte, error) {
	var data []byte
	var err error
	if maxSize > 0 {
		data, err = io.ReadAll(io.LimitReader(r, maxSize+1))
	} else {
		data, err = io.ReadAll(r)
	}
	if err != nil {
		return Envelope{}, nil, fmt.Errorf("reading the message: %w", err)
	}
	if maxSize > 0 && int64(len(data)) > maxSize {
		return Envelope{}, nil, malformed("the message is bigger than the limit of %d bytes (MaxMessageSize)", maxSize)
	}
	if len(bytes.TrimSpace(data)) == 0 {
		return Envelope{}, nil, malformed("the file is empty")
	}
	if i := bytes.IndexByte(data, 0); i >= 0 {
		return Envelope{}, nil, malformed("NUL byte at offset %d: this is not a text message", i)
	}

	fields, body, err := splitHeader(data)
	if err != nil {
		return Envelope{}, nil, err
	}
	env, err := envelope(fields)
	if err != nil {
		return Envelope{}, nil, err
	}

	out := make([]byte, 0, len(data)+len(data)/16+4)
	for _, f := range fields {
		if f.is("Bcc") || f.is("X-Sender") || f.is("X-Receiver") {
			continue
		}
		for _, l := range f.lines {
			out = append(out, l...)
			out = append(out, '\r', '\n')
		}
	}
	out = append(out, '\r', '\n')
	out = appendCRLF(out, body)
	return env, out, nil
}

// splitHeader splits data into its header fields and the body that
// follows the empty line (nil when there is none).
func splitHeader(data []byte) ([]field, []byte, error) {
	var fields []field
	rest := data
	for n := 1; len(rest) > 0; n++ {
		line, next := nextLine(rest)
		rest = next
		if len(line) == 0 {
			return fields, rest, nil // RFC 5322 section 2.1: the empty line
		}
		if len(line) > maxLine {
			return nil, nil, malformed("header line %d is %d octets long; RFC 5322 section 2.1.1 allows at most %d", n, len(line), maxLine)
		}
		if line[0] == ' ' || line[0] == '\t' {
			if len(fields) == 0 {
				return nil, nil, malformed("line 1 starts with white space: the message must start with a header field such as From:")
			}
			fields[len(fields)-1].lines = append(fields[len(fields)-1].lines, line)
			continue
		}
		colon := bytes.IndexByte(line, ':')
		if colon < 0 {
			return nil, nil, malformed("line %d (%s) is not a header field: the empty line between header and body is missing, or the file is not an RFC 5322 message", n, quoteShort(line))
		}
		// RFC 5322 section 3.6.8: ftext is printable ASCII but ':'; white
		// space before the colon is obsolete syntax (section 4.5) we accept.
		name := strings.TrimRight(string(line[:colon]), " \t")
		if name == "" {
			return nil, nil, malformed("line %d (%s) has an empty field name", n, quoteShort(line))
		}
		for i := 0; i < len(name); i++ {
			if name[i] < 33 || name[i] > 126 {
				return nil, nil, malformed("line %d: field name %s has a character not allowed by RFC 5322 section 3.6.8", n, quoteShort([]byte(name)))
			}
		}
		fields = append(fields, field{name: name, lines: [][]byte{line}})
	}
	return fields, nil, nil
}

// nextLine returns the first line of b without its ending (CRLF, LF or a
// bare CR) and what follows it.
func nextLine(b []byte) (line, rest []byte) {
	i := bytes.IndexAny(b, "\r\n")
	if i < 0 {
		return b, nil
	}
	if b[i] == '\r' && i+1 < len(b) && b[i+1] == '\n' {
		return b[:i], b[i+2:]
	}
	return b[:i], b[i+1:]
}

// appendCRLF appends body to out with every line ending, bare LF and bare
// CR included, as CRLF, and a CRLF at the end if body lacks one.
func appendCRLF(out, body []byte) []byte {
	for len(body) > 0 {
		line, rest := nextLine(body)
		out = append(out, line...)
		out = append(out, '\r', '\n')
		body = rest
	}
	return out
}

// quoteShort quotes b for an error message, shortened.
func quoteShort(b []byte) string {
	const max = 60
	if len(b) > max {
		return fmt.Sprintf("%q...", b[:max])
	}
	return fmt.Sprintf("%q", b)
}

// addressParser returns a parser that decodes RFC 2047 display names
// leniently: a charset Go does not know leaves the name undecoded rather
// than failing the address.
func addressParser() *mail.AddressParser {
	return &mail.AddressParser{WordDecoder: &mime.WordDecoder{
		CharsetReader: func(_ string, input io.Reader) (io.Reader, error) { return input, nil },
	}}
}

// envelope derives the SMTP envelope from the header fields.
func envelope(fields []field) (Envelope, error) {
	var env Envelope
	var xSender, xReceivers, senders, froms, rcptFields []field
	for _, f := range fields {
		switch {
		case f.is("X-Sender"):
			xSender = append(xSender, f)
		case f.is("X-Receiver"):
			xReceivers = append(xReceivers, f)
		case f.is("Sender"):
			senders = append(senders, f)
		case f.is("From"):
			froms = append(froms, f)
		case f.is("To"), f.is("Cc"), f.is("Bcc"):
			rcptFields = append(rcptFields, f)
		}
	}

	// Sender.
	switch {
	case len(xSender) > 1:
		return env, malformed("%d X-Sender fields; there must be at most one", len(xSender))
	case len(xSender) == 1:
		v := xSender[0].value()
		if v == "<>" {
			env.From = "" // the null reverse-path (RFC 5321 section 4.5.5)
			break
		}
		a, err := parseOne(v)
		if err != nil {
			return env, malformed("X-Sender: %s: %v", quoteShort([]byte(v)), err)
		}
		env.From = a
	case len(senders) > 0:
		v := senders[0].value()
		a, err := parseOne(v)
		if err != nil {
			return env, malformed("Sender: %s: %v", quoteShort([]byte(v)), err)
		}
		env.From = a
	case len(froms) > 0:
		v := froms[0].value()
		list, err := parseList(v)
		if err != nil {
			return env, malformed("From: %s: %v", quoteShort([]byte(v)), err)
		}
		if len(list) != 1 {
			return env, malformed("From: has %d addresses and there is no Sender: field to say which one sends (RFC 5322 section 3.6.2)", len(list))
		}
		env.From = list[0]
	default:
		return env, malformed("no sender: the message has no From: field (and no X-Sender:)")
	}

	// Recipients.
	seen := map[string]bool{}
	add := func(a string) {
		if k := strings.ToLower(a); !seen[k] {
			seen[k] = true
			env.Recipients = append(env.Recipients, a)
		}
	}
	if len(xReceivers) > 0 {
		for _, f := range xReceivers {
			v := f.value()
			list, err := parseList(v)
			if err != nil {
				return env, malformed("X-Receiver: %s: %v", quoteShort([]byte(v)), err)
			}
			for _, a := range list {
				add(a)
			}
		}
	} else {
		for _, f := range rcptFields {
			v := f.value()
			if v == "" {
				continue
			}
			list, err := parseList(v)
			if err != nil {
				return env, malformed("%s: %s: %v", f.name, quoteShort([]byte(v)), err)
			}
			for _, a := range list {
				add(a)
			}
		}
	}
	if len(env.Recipients) == 0 {
		return env, malformed("no recipients: the message has no address in To:, Cc: or Bcc: (nor an X-Receiver: field)")
	}
	return env, nil
}

// parseOne parses a field holding one address: "addr", "<addr>" or
// "Name <addr>".
func parseOne(v string) (string, error) {
	list, err := parseList(v)
	if err != nil {
		return "", err
	}
	if len(list) != 1 {
		return "", fmt.Errorf("%d addresses where one is expected", len(list))
	}
	return list[0], nil
}

// parseList parses an RFC 5322 address list (section 3.4; groups
// included) and checks every address as an SMTP envelope address.
func parseList(v string) ([]string, error) {
	list, err := addressParser().ParseList(v)
	if err != nil {
		return nil, fmt.Errorf("not a valid address list: %w", err)
	}
	out := make([]string, 0, len(list))
	for _, a := range list {
		checked, err := address.ParseRecipient(a.Address)
		if err != nil {
			return nil, fmt.Errorf("address refused: %w", err)
		}
		out = append(out, checked.String())
	}
	return out, nil
}

// Complete adds to a message as Parse returns it what a submission server
// adds to one that lacks it (RFC 6409 section 8): a Date field with now
// (section 8.2, as RFC 5322 section 3.6.1 requires one), and a Message-ID
// field (section 8.3, RFC 5322 section 3.6.4) made of the queue id and
// host, unique because queue ids are. Fields the message has are kept as
// they are. The new fields go at the end of the header.
func Complete(msg []byte, queueID, host string, now time.Time) []byte {
	fields, body, err := splitHeader(msg)
	if err != nil || body == nil {
		return msg // not as Parse returns it; leave it alone
	}
	var add []byte
	if !hasField(fields, "Date") {
		add = append(add, "Date: "+now.Format(time.RFC1123Z)+"\r\n"...)
	}
	if !hasField(fields, "Message-ID") {
		add = append(add, "Message-ID: <"+queueID+"@"+host+">\r\n"...)
	}
	if len(add) == 0 {
		return msg
	}
	// The header ends before the empty CRLF line that precedes body (the
	// header is empty when X-Sender and X-Receiver were its only fields).
	end := len(msg) - len(body) - 2
	out := make([]byte, 0, len(msg)+len(add))
	out = append(out, msg[:end]...)
	out = append(out, add...)
	return append(out, msg[end:]...)
}

// hasField reports whether fields has one called name.
func hasField(fields []field, name string) bool {
	for _, f := range fields {
		if f.is(name) {
			return true
		}
	}
	return false
}
