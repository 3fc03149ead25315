// Package pickup implements the IIS pickup directory: an administrator or
// an application drops a complete RFC 5322 message as an .eml file into
// the pickup folder, and transportd submits it with the envelope taken from
// its header, then deletes the file. A malformed file goes to the badmail
// folder, next to a file that says why, as IIS does.
//
// The envelope comes from IIS's X-Sender: and X-Receiver: fields when the
// file has them (System.Net.Mail's SmtpDeliveryMethod.PickupDirectoryFromIis
// writes them), and from From:/Sender: and To:/Cc:/Bcc: otherwise.
//
// The header is read, checked and edited with package header (on
// go-message/textproto): fields removed (Bcc:, X-Sender:, X-Receiver:)
// leave every other byte of the header as it was.
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

	"github.com/emersion/go-message/textproto"

	"github.com/transportd/transportd/policies/address"
	"github.com/transportd/transportd/policies/header"
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

// malformed returns an error wrapping ErrMalformed.
func malformed(format string, args ...any) error {
	return fmt.Errorf("%w: %s", ErrMalformed, fmt.Sprintf(format, args...))
}

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

	// RFC 5322 section 2.3: CR and LF only together, as CRLF.
	norm := appendCRLF(make([]byte, 0, len(data)+len(data)/16+4), data)
	section, body, _ := header.Split(norm)
	if err := header.Check(section); err != nil {
		return Envelope{}, nil, malformed("%v", err)
	}
	h, err := header.Parse(section)
	if err != nil { // Check passed, so this is go-message's view alone
		return Envelope{}, nil, malformed("the header does not parse: %v", err)
	}
	env, err := envelope(&h)
	if err != nil {
		return Envelope{}, nil, err
	}

	// Every other field is written back byte for byte.
	for _, k := range []string{"Bcc", "X-Sender", "X-Receiver"} {
		h.Del(k)
	}
	out := bytes.NewBuffer(make([]byte, 0, len(norm)))
	if err := textproto.WriteHeader(out, h); err != nil {
		return Envelope{}, nil, malformed("the header cannot be written back: %v", err)
	}
	out.Write(body)
	return env, out.Bytes(), nil
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
func envelope(h *textproto.Header) (Envelope, error) {
	var env Envelope
	xSender, xReceivers := h.Values("X-Sender"), h.Values("X-Receiver")
	senders, froms := h.Values("Sender"), h.Values("From")
	// To, Cc and Bcc in the order they come, for the order of RCPT TO.
	type rcptField struct{ name, value string }
	var rcptFields []rcptField
	for fs := h.Fields(); fs.Next(); {
		switch k := fs.Key(); k {
		case "To", "Cc", "Bcc":
			rcptFields = append(rcptFields, rcptField{k, fs.Value()})
		}
	}

	// Sender.
	switch {
	case len(xSender) > 1:
		return env, malformed("%d X-Sender fields; there must be at most one", len(xSender))
	case len(xSender) == 1:
		v := xSender[0]
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
		v := senders[0]
		a, err := parseOne(v)
		if err != nil {
			return env, malformed("Sender: %s: %v", quoteShort([]byte(v)), err)
		}
		env.From = a
	case len(froms) > 0:
		v := froms[0]
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
		for _, v := range xReceivers {
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
			v := f.value
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
	section, _, ended := header.Split(msg)
	if !ended || header.Check(section) != nil {
		return msg // not as Parse returns it; leave it alone
	}
	h, err := header.Parse(section)
	if err != nil {
		return msg
	}
	var add []byte
	if !h.Has("Date") {
		add = append(add, "Date: "+now.Format(time.RFC1123Z)+"\r\n"...)
	}
	if !h.Has("Message-Id") {
		add = append(add, "Message-ID: <"+queueID+"@"+host+">\r\n"...)
	}
	if len(add) == 0 {
		return msg
	}
	// The new fields go after the last one, before the empty line (the
	// header is empty when X-Sender and X-Receiver were its only fields).
	end := len(header.Fields(section))
	out := make([]byte, 0, len(msg)+len(add))
	out = append(out, msg[:end]...)
	out = append(out, add...)
	return append(out, msg[end:]...)
}

// AddressList parses an RFC 5322 address list field value, as a To: or
// Cc: field holds it, into checked envelope addresses.
func AddressList(v string) ([]string, error) { return parseList(v) }
