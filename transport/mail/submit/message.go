package submit

import (
	"bytes"
	"fmt"
	"mime"
	"strings"

	"github.com/emersion/go-message/textproto"

	"github.com/transportd/transportd/policies/address"
	"github.com/transportd/transportd/policies/header"
	"github.com/transportd/transportd/transport/mail/pickup"
)

// Prepared is a submission ready for the queue.
type Prepared struct {
	From       string // "" is the null reverse-path
	Recipients []string
	Message    []byte // CRLF line endings, Bcc: removed, From: added when missing
}

// Prepare turns a submission into an envelope and a message the way
// sendmail does: the recipients are the arguments, plus with -t those of
// To:, Cc: and Bcc: (added to the arguments, as Postfix's sendmail does);
// Bcc: is removed (RFC 5322 section 3.6.3); the envelope sender is -f or
// the user's own address at domain; a message without From: gets one
// naming the sender and -F's full name. Line endings become CRLF (RFC 5322
// section 2.3). Errors are *Error with the exit code to end with.
func Prepare(s Submission, domain string) (Prepared, error) {
	var p Prepared
	data := s.Message
	if len(bytes.TrimSpace(data)) == 0 {
		return p, &Error{ExDataErr, fmt.Errorf("the message is empty")}
	}
	if i := bytes.IndexByte(data, 0); i >= 0 {
		return p, &Error{ExDataErr, fmt.Errorf("NUL byte at offset %d: this is not a text message", i)}
	}
	norm := header.ToCRLF(data)
	section, body, ended := header.Split(norm)
	if !ended {
		// No empty line: sendmail takes text without a header as the body.
		if header.Check(section) != nil {
			section, body = []byte("\r\n"), norm
		}
	}
	if err := header.Check(section); err != nil {
		return p, &Error{ExDataErr, err}
	}
	h, err := header.Parse(section)
	if err != nil {
		return p, &Error{ExDataErr, fmt.Errorf("the header does not parse: %w", err)}
	}

	// The envelope sender.
	own := s.User.Name + "@" + domain
	switch {
	case s.Request.From == nil:
		p.From = own
	case *s.Request.From == "" || *s.Request.From == "<>":
		p.From = ""
	default:
		a, err := address.ParseRecipient(strings.Trim(*s.Request.From, "<>"))
		if err != nil {
			return p, &Error{ExNoUser, fmt.Errorf("-f %s: %w", *s.Request.From, err)}
		}
		p.From = a.String()
	}

	// The recipients.
	seen := map[string]bool{}
	add := func(a string) {
		if k := strings.ToLower(a); !seen[k] {
			seen[k] = true
			p.Recipients = append(p.Recipients, a)
		}
	}
	for _, arg := range s.Request.Recipients {
		// An argument may hold several addresses separated by commas, as
		// sendmail allows.
		for _, one := range strings.Split(arg, ",") {
			if one = strings.TrimSpace(one); one == "" {
				continue
			}
			if !strings.Contains(one, "@") {
				one += "@" + domain // a local user name
			}
			list, err := pickup.AddressList(one)
			if err != nil {
				return p, &Error{ExNoUser, fmt.Errorf("recipient %s: %w", one, err)}
			}
			for _, a := range list {
				add(a)
			}
		}
	}
	if s.Request.Extract {
		for fs := h.Fields(); fs.Next(); {
			switch fs.Key() {
			case "To", "Cc", "Bcc":
				if strings.TrimSpace(fs.Value()) == "" {
					continue
				}
				list, err := pickup.AddressList(fs.Value())
				if err != nil {
					return p, &Error{ExDataErr, fmt.Errorf("%s: %w", fs.Key(), err)}
				}
				for _, a := range list {
					add(a)
				}
			}
		}
	}
	if len(p.Recipients) == 0 {
		if s.Request.Extract {
			return p, &Error{ExUsage, fmt.Errorf("no recipients: the message has no address in To:, Cc: or Bcc:")}
		}
		return p, &Error{ExUsage, fmt.Errorf("no recipients: give them as arguments, or -t to take them from the message")}
	}

	h.Del("Bcc")
	if !h.Has("From") {
		from := p.From
		if from == "" {
			from = own
		}
		v := "<" + from + ">"
		if s.Request.FullName != "" {
			v = mime.QEncoding.Encode("utf-8", s.Request.FullName) + " " + v
		}
		h.Add("From", v)
	}
	out := bytes.NewBuffer(make([]byte, 0, len(norm)+128))
	if err := textproto.WriteHeader(out, h); err != nil {
		return p, &Error{ExDataErr, fmt.Errorf("the header cannot be written back: %w", err)}
	}
	out.Write(body)
	p.Message = out.Bytes()
	return p, nil
}
