package smtpd

import (
	"bytes"
	"io"
	"strings"

	"github.com/emersion/go-smtp"
)

// Refusals of the message inspector.
var (
	// errBareLF is Exchange's refusal under BareLinefeedRejectionEnabled.
	errBareLF = &smtp.SMTPError{Code: 550, EnhancedCode: smtp.EnhancedCode{5, 6, 2},
		Message: "Message refused: bare LF in the message data; this connector requires CRLF line endings (BareLinefeedRejectionEnabled)"}
	// errTooManyLocalHops: the message passed this server too often
	// (RFC 5321 section 6.3, loop detection).
	errTooManyLocalHops = &smtp.SMTPError{Code: 554, EnhancedCode: smtp.EnhancedCode{5, 4, 6},
		Message: "Hop count exceeded: too many Received headers written by this server, possible mail loop (MaxLocalHopCount)"}
)

// maxInspectedField bounds the part of a Received header kept to find its
// "by" host; a longer field is cut, not refused.
const maxInspectedField = 2048

// inspector sits between the message data as the client sent it and the
// normalizer. It refuses bare LFs when the connector asks for it and
// counts the Received headers this server wrote (by <Fqdn>) against
// MaxLocalHopCount. For BODY=BINARYMIME (RFC 3030) the normalizer is left
// out, as binary data must reach the queue unchanged: the inspector then
// also applies MaxHeaderSize and MaxHopCount to the header section.
type inspector struct {
	r            io.Reader
	rejectBareLF bool
	fqdn         string
	maxLocal     int
	binary       bool
	maxHeader    int64
	maxHops      int

	prev        byte
	inHeader    bool
	line        []byte // the current header line, cut at maxInspectedField
	field       []byte // the current header field, unfolded
	headerBytes int64
	hops        int
	localHops   int
	err         error
}

func (in *inspector) Read(p []byte) (int, error) {
	if in.err != nil {
		return 0, in.err
	}
	n, err := in.r.Read(p)
	for i, b := range p[:n] {
		if !in.inHeader {
			// The body: only bare LFs matter, found a line at a time.
			if rest := p[i:n]; in.rejectBareLF && !in.binary && in.hasBareLF(rest) {
				in.err = errBareLF
				return 0, in.err
			}
			in.prev = p[n-1]
			break
		}
		if b == '\n' && in.prev != '\r' && in.rejectBareLF && !in.binary {
			in.err = errBareLF
			return 0, in.err
		}
		in.prev = b
		in.headerBytes++
		if in.binary && in.maxHeader > 0 && in.headerBytes > in.maxHeader {
			in.err = errHeaderTooLarge
			return 0, in.err
		}
		if b != '\n' {
			if len(in.line) < maxInspectedField {
				in.line = append(in.line, b)
			}
			continue
		}
		line := bytes.TrimSuffix(in.line, []byte{'\r'})
		in.line = in.line[:0]
		switch {
		case len(line) == 0:
			in.endField()
			in.inHeader = false
		case line[0] == ' ' || line[0] == '\t':
			if len(in.field) < maxInspectedField {
				in.field = append(in.field, ' ')
				in.field = append(in.field, line...)
			}
		default:
			in.endField()
			in.field = append(in.field[:0], line...)
		}
		if in.err != nil {
			return 0, in.err
		}
	}
	return n, err
}

// hasBareLF reports whether b, which follows in.prev, holds an LF not
// preceded by CR.
func (in *inspector) hasBareLF(b []byte) bool {
	prev := in.prev
	for {
		i := bytes.IndexByte(b, '\n')
		if i < 0 {
			return false
		}
		if i > 0 {
			prev = b[i-1]
		}
		if prev != '\r' {
			return true
		}
		prev, b = '\n', b[i+1:]
	}
}

// endField looks at the header field just ended.
func (in *inspector) endField() {
	f := in.field
	in.field = in.field[:0]
	if len(f) < 9 || !bytes.EqualFold(f[:9], []byte("received:")) {
		return
	}
	in.hops++
	if in.binary && in.maxHops > 0 && in.hops > in.maxHops {
		in.err = errTooManyHops
		return
	}
	if in.maxLocal > 0 && receivedBy(string(f[9:]), in.fqdn) {
		in.localHops++
		if in.localHops > in.maxLocal {
			in.err = errTooManyLocalHops
		}
	}
}

// receivedBy reports whether a Received header's "by" clause (RFC 5321
// section 4.4) names host.
func receivedBy(value, host string) bool {
	words := strings.Fields(value)
	for i := 0; i+1 < len(words); i++ {
		if strings.EqualFold(words[i], "by") && strings.EqualFold(strings.TrimRight(words[i+1], ";"), host) {
			return true
		}
	}
	return false
}
