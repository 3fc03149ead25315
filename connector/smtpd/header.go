package smtpd

import (
	"bytes"
	"errors"
	"fmt"
	"io"

	"github.com/emersion/go-message/textproto"
	"github.com/emersion/go-smtp"

	"github.com/transportd/transportd/policies/header"
)

// maxCheckedHeader bounds the header section held in memory and parsed:
// the connector's MaxHeaderSize when it is smaller. A larger section (a
// connector may allow up to 2 GB) streams on, its size still checked.
const maxCheckedHeader = 1 << 20

var errHeaderTooLargeToCheck = &smtp.SMTPError{Code: 552, EnhancedCode: smtp.EnhancedCode{5, 3, 4},
	Message: fmt.Sprintf("Message header larger than %d octets: too large to check its From: and Sender:", maxCheckedHeader)}

// incoming is the header section of a message being received, read once
// (package header, on go-message/textproto) for every check and for the
// queue.
type incoming struct {
	// section is the header section as received (normalised to CRLF), up
	// to and including the empty line that ends it.
	section []byte
	// whole is false when the section was longer than maxCheckedHeader:
	// section then holds its first part and header its whole lines.
	whole  bool
	header textproto.Header
	// hops is the number of Received fields (RFC 5321 section 6.3).
	hops int
}

// readHeader reads the header section from r (normalised message
// content) and checks it against the connector's limits: its fields,
// each with its CRLF, may take maxHeader octets (MaxHeaderSize; 0: no
// limit), and it may hold maxHops Received fields (MaxHopCount; 0: no
// limit). It returns the section, parsed, and a reader of the rest of the
// message: section followed by rest is the whole message. A refusal is an
// *smtp.SMTPError (errHeaderTooLarge, errTooManyHops); an error of r
// (errSmuggling, a client gone) is returned as it is.
func readHeader(r io.Reader, maxHeader int64, maxHops int) (in incoming, rest io.Reader, err error) {
	limit := int64(maxCheckedHeader)
	if maxHeader > 0 && maxHeader+2 <= limit {
		limit = maxHeader + 2 // the empty line that ends the section is not counted
	}
	section, rest, err := header.Read(r, int(limit))
	in = incoming{section: section, whole: true}
	switch {
	case errors.Is(err, header.ErrTooLarge):
		if maxHeader > 0 && maxHeader+2 <= limit {
			return in, rest, errHeaderTooLarge
		}
		// Larger than we hold, within what the connector allows: parse
		// the whole lines held, count the rest as it streams by.
		in.whole = false
		fields := section[:bytes.LastIndexByte(section, '\n')+1]
		in.header, _ = header.Parse(fields)
		rest = &headerTail{r: rest, left: maxHeader + 2 - int64(len(section)), unlimited: maxHeader <= 0, last: lastBytes(section)}
	case err != nil:
		var se *smtp.SMTPError
		if errors.As(err, &se) {
			return in, rest, se
		}
		return in, rest, err
	default:
		in.header, _ = header.Parse(section)
	}
	for fs := in.header.FieldsByKey("Received"); fs.Next(); {
		in.hops++
	}
	if maxHops > 0 && in.hops > maxHops {
		return in, rest, errTooManyHops
	}
	return in, rest, nil
}

// lastBytes returns the last (up to) three bytes of b, for headerTail.
func lastBytes(b []byte) [3]byte {
	var l [3]byte
	for i := range 3 {
		if j := len(b) - 3 + i; j >= 0 {
			l[i] = b[j]
		}
	}
	return l
}

// headerTail passes on the part of a header section beyond what
// readHeader holds, then the body, and refuses with errHeaderTooLarge once
// the section has gone on for more than left octets. The content is
// normalised, so the section ends at the first CRLF CRLF.
type headerTail struct {
	r         io.Reader
	left      int64 // octets the section may still take, with the empty line
	unlimited bool
	last      [3]byte // the last bytes seen
	done      bool    // the end of the section has passed
}

func (t *headerTail) Read(p []byte) (int, error) {
	n, err := t.r.Read(p)
	if t.done {
		return n, err
	}
	for i, c := range p[:n] {
		if t.last == [3]byte{'\r', '\n', '\r'} && c == '\n' {
			t.done = true
			if !t.unlimited && t.left < int64(i+1) {
				return i, errHeaderTooLarge
			}
			return n, err
		}
		t.last = [3]byte{t.last[1], t.last[2], c}
	}
	if !t.unlimited {
		t.left -= int64(n)
		if t.left < 0 {
			return n, errHeaderTooLarge
		}
	}
	return n, err
}
