package smtpd

import (
	"bytes"
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

// normBufferSize is the input buffer of a normalizer: one read from the
// data reader moves this much.
const normBufferSize = 16 << 10

// normalizer turns DATA content (already dot-unstuffed) into canonical
// CRLF text as RFC 5322 section 2.3 requires: a bare LF or a bare CR
// becomes CRLF, so nothing we store or relay carries a bare line ending
// (RFC 5321 section 2.3.8), and a last line without a line ending gets
// one. A lone "." line next to a bare line ending is refused rather than
// normalised (see errSmuggling). The header section's limits
// (MaxHeaderSize, MaxHopCount) are checked on its output, by readHeader.
//
// It works on slices: the text between line endings is copied in one go
// (bytes.IndexAny finds the next CR or LF), and only a few bytes of line
// state are kept across reads, so a line of any length never pins memory.
type normalizer struct {
	r   io.Reader
	buf []byte // input buffer
	in  []byte // input read but not yet looked at: a slice of buf

	pendingCR bool // a CR ended the input looked at; the next byte decides
	prevBare  bool // the last line ending was a bare CR or LF
	lineLen   int  // bytes in the current line so far (capped)
	lineIsDot bool // the current line so far is exactly "."
	out       [2]byte
	outN      int   // bytes of out still to hand out (a CRLF that did not fit)
	outOff    int   // the first of them
	eof       bool  // r is exhausted
	finishErr error // r's error other than io.EOF, handed out at the end
	err       error // sticky: handed out once everything before it is
}

// newNormalizer returns a normalizer reading from r with buf (at least a
// few bytes; normBufferSize when nil) as its input buffer.
func newNormalizer(r io.Reader, buf []byte) *normalizer {
	if len(buf) == 0 {
		buf = make([]byte, normBufferSize)
	}
	return &normalizer{r: r, buf: buf}
}

// Read implements io.Reader.
func (n *normalizer) Read(p []byte) (int, error) {
	w := 0
	for w < len(p) {
		if n.outN > 0 {
			c := copy(p[w:], n.out[n.outOff:n.outOff+n.outN])
			n.outOff += c
			n.outN -= c
			w += c
			continue
		}
		if n.err != nil {
			break
		}
		if len(n.in) == 0 {
			if n.eof {
				n.finish()
				continue
			}
			if w > 0 {
				break // hand over what we have before reading (and maybe blocking) again
			}
			k, err := n.r.Read(n.buf)
			n.in = n.buf[:k]
			if err != nil {
				n.eof = true
				if err != io.EOF {
					n.finishErr = err
				}
			}
			continue
		}
		w += n.scan(p[w:])
	}
	if w > 0 {
		return w, nil
	}
	return 0, n.err
}

// finish handles the end of the input: a CR held back is a bare line
// ending, a last line without one gets CRLF, then the reader's error (or
// io.EOF) is what Read returns.
func (n *normalizer) finish() {
	if n.pendingCR {
		n.pendingCR = false
		if n.endLine(true) {
			return
		}
	}
	if n.lineLen > 0 {
		if n.endLine(false) { // a final line without terminator still ends with CRLF
			return
		}
	}
	if n.err == nil {
		n.err = io.EOF
		if n.finishErr != nil {
			n.err = n.finishErr
		}
	}
}

// scan moves normalised bytes from n.in to p and returns how many it
// wrote. It stops when p is full, n.in is empty, or an error is set.
func (n *normalizer) scan(p []byte) int {
	w := 0
	for len(n.in) > 0 && w < len(p) && n.err == nil && n.outN == 0 {
		if n.pendingCR {
			n.pendingCR = false
			if n.in[0] == '\n' {
				n.in = n.in[1:]
				n.endLine(false)
			} else {
				n.endLine(true)
			}
			w += n.emit(p[w:])
			continue
		}
		i := indexLineEnd(n.in)
		if i < 0 {
			i = len(n.in)
		}
		// The common case: a whole line that ends with CRLF, and not the
		// lone "." that may need refusing, goes out as it is.
		if i+1 < len(n.in) && n.in[i] == '\r' && n.in[i+1] == '\n' && i+2 <= len(p)-w &&
			!(n.prevBare && n.lineLen+i == 1 && (n.lineIsDot || n.in[0] == '.')) {
			w += copy(p[w:], n.in[:i+2])
			n.in = n.in[i+2:]
			n.lineLen, n.lineIsDot, n.prevBare = 0, false, false
			continue
		}
		if i > 0 {
			t := n.in[:min(i, len(p)-w)]
			w += copy(p[w:], t)
			n.in = n.in[len(t):]
			n.lineIsDot = n.lineLen == 0 && len(t) == 1 && t[0] == '.'
			n.lineLen = min(n.lineLen+len(t), 1<<20)
			continue
		}
		// n.in starts with CR or LF.
		c := n.in[0]
		n.in = n.in[1:]
		if c == '\r' {
			n.pendingCR = true
			continue
		}
		n.endLine(true)
		w += n.emit(p[w:])
	}
	return w
}

// indexLineEnd returns the index of the first CR or LF in b, or -1. It
// looks for the LF first: in CRLF text the CR is right before it, and both
// searches are bytes.IndexByte's vector code.
func indexLineEnd(b []byte) int {
	j := bytes.IndexByte(b, '\n')
	if j < 0 {
		return bytes.IndexByte(b, '\r')
	}
	if k := bytes.IndexByte(b[:j], '\r'); k >= 0 {
		return k
	}
	return j
}

// endLine ends the current line: CRLF is queued in out. It returns true
// when the line was refused instead (n.err is set).
func (n *normalizer) endLine(bare bool) bool {
	if n.lineIsDot && n.lineLen == 1 && (bare || n.prevBare) {
		n.err = errSmuggling
		return true
	}
	n.out = [2]byte{'\r', '\n'}
	n.outOff, n.outN = 0, 2
	n.prevBare = bare
	n.lineLen = 0
	n.lineIsDot = false
	return false
}

// emit copies the queued line ending to p, as much as fits.
func (n *normalizer) emit(p []byte) int {
	c := copy(p, n.out[n.outOff:n.outOff+n.outN])
	n.outOff += c
	n.outN -= c
	return c
}
