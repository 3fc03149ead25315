package smtpd

import (
	"bufio"
	"io"

	"github.com/emersion/go-smtp"
)

// Refusals raised while reading message data. Each carries an RFC 3463
// enhanced status code and a plain reason.
var (
	// errSmuggling refuses a lone "." line framed by a bare CR or LF: the
	// pattern of SMTP smuggling (CVE-2023-51764/51765/51766). Passing it on
	// could make a server that accepts bare line endings see an end of data
	// that we did not, and take the rest as a second, forged message.
	errSmuggling = &smtp.SMTPError{Code: 550, EnhancedCode: smtp.EnhancedCode{5, 6, 11},
		Message: "Message refused: a line holding only \".\" next to a bare CR or LF (SMTP smuggling pattern); send CRLF line endings"}
	errHeaderTooLarge = &smtp.SMTPError{Code: 552, EnhancedCode: smtp.EnhancedCode{5, 3, 4},
		Message: "Message header size exceeds the limit of this connector (MaxHeaderSize)"}
	errTooManyHops = &smtp.SMTPError{Code: 554, EnhancedCode: smtp.EnhancedCode{5, 4, 6},
		Message: "Hop count exceeded: too many Received headers, possible mail loop (MaxHopCount)"}
)

// normalizer turns DATA content (already dot-unstuffed by go-smtp) into
// canonical CRLF text as RFC 5322 section 2.3 requires: a bare LF or a bare
// CR becomes CRLF, so nothing we store or relay carries a bare line ending
// (RFC 5321 section 2.3.8). A lone "." line next to a bare line ending is
// refused rather than normalised (see errSmuggling). While in the header
// section it enforces MaxHeaderSize and counts Received headers against
// MaxHopCount (RFC 5321 section 6.3).
//
// It reads byte by byte from a buffered reader and keeps only a few bytes
// of state, so a line of any length never pins memory.
type normalizer struct {
	r              *bufio.Reader
	maxHeader      int64
	maxHops        int
	pendingCR      bool
	prevBare       bool
	lineLen        int
	lineIsDot      bool
	inHeader       bool
	headerBytes    int64
	hops           int
	prefix         [9]byte // first bytes of a header line, to spot "Received:"
	out            []byte  // bytes ready to hand out
	err            error
	lastWasLineEnd bool
}

func newNormalizer(r io.Reader, maxHeader int64, maxHops int) *normalizer {
	return &normalizer{r: bufio.NewReaderSize(r, 4096), maxHeader: maxHeader, maxHops: maxHops, inHeader: true, lastWasLineEnd: true}
}

// Hops returns the number of Received headers seen so far.
func (n *normalizer) Hops() int { return n.hops }

func (n *normalizer) Read(p []byte) (int, error) {
	for len(n.out) < len(p) && n.err == nil {
		b, err := n.r.ReadByte()
		if err != nil {
			if n.pendingCR {
				n.pendingCR = false
				n.endLine(true)
			}
			if n.err == nil && !n.lastWasLineEnd {
				n.endLine(false) // a final line without terminator still ends with CRLF
			}
			if n.err == nil { // endLine may have refused the last line (a lone "." after a bare LF)
				n.err = err
			}
			break
		}
		n.feed(b)
	}
	c := copy(p, n.out)
	n.out = n.out[c:]
	if c > 0 {
		return c, nil
	}
	return 0, n.err
}

func (n *normalizer) feed(b byte) {
	if n.pendingCR {
		n.pendingCR = false
		if b == '\n' {
			n.endLine(false)
			return
		}
		n.endLine(true)
		if n.err != nil {
			return
		}
	}
	switch b {
	case '\r':
		n.pendingCR = true
		return
	case '\n':
		n.endLine(true)
		return
	}
	if n.lineLen < len(n.prefix) {
		n.prefix[n.lineLen] = b
	}
	n.lineIsDot = n.lineLen == 0 && b == '.'
	n.lineLen++
	n.lastWasLineEnd = false
	n.out = append(n.out, b)
	if n.inHeader {
		n.headerBytes++
		if n.maxHeader > 0 && n.headerBytes > n.maxHeader {
			n.err = errHeaderTooLarge
		}
	}
}

func (n *normalizer) endLine(bare bool) {
	if n.lineIsDot && n.lineLen == 1 && (bare || n.prevBare) {
		n.err = errSmuggling
		return
	}
	if n.inHeader {
		if n.lineLen == 0 {
			n.inHeader = false
		} else if n.lineLen >= 9 && asciiEqualFold(n.prefix[:9], "received:") {
			n.hops++
			if n.maxHops > 0 && n.hops > n.maxHops {
				n.err = errTooManyHops
				return
			}
		}
		n.headerBytes += 2
	}
	n.out = append(n.out, '\r', '\n')
	n.prevBare = bare
	n.lineLen = 0
	n.lineIsDot = false
	n.lastWasLineEnd = true
}

func asciiEqualFold(b []byte, s string) bool {
	if len(b) != len(s) {
		return false
	}
	for i := range b {
		c := b[i]
		if 'A' <= c && c <= 'Z' {
			c += 'a' - 'A'
		}
		if c != s[i] {
			return false
		}
	}
	return true
}
