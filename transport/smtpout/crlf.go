package smtpout

import "io"

// crlfReader turns every bare LF and every bare CR into CRLF, so that the
// data sent has only CRLF line endings (RFC 5321 section 2.3.8: "CR and LF
// MUST only occur together as CRLF"). Stored messages already are CRLF
// text; this is defence in depth against SMTP smuggling, where a bare line
// ending before a "." is read differently by the next hop.
type crlfReader struct {
	src       io.Reader
	buf       []byte
	lastCR    bool
	pendingLF bool  // an LF that did not fit in the last Read
	err       error // the source's error, returned once pendingLF is out
}

func newCRLFReader(r io.Reader) *crlfReader { return &crlfReader{src: r} }

// Read implements io.Reader.
func (r *crlfReader) Read(p []byte) (int, error) {
	if len(p) == 0 {
		return 0, nil
	}
	n := 0
	if r.pendingLF {
		p[0] = '\n'
		n, r.pendingLF = 1, false
		if n == len(p) {
			return n, nil
		}
	}
	if r.err != nil {
		return n, r.err
	}
	want := max((len(p)-n)/2, 1) // each byte read may become two
	if cap(r.buf) < want {
		r.buf = make([]byte, want)
	}
	m, err := r.src.Read(r.buf[:want])
	for _, b := range r.buf[:m] {
		switch {
		case b == '\r':
			n = r.put(p, n, '\r', '\n')
			r.lastCR = true
			continue
		case b == '\n' && r.lastCR:
			// The LF of a CRLF was written with its CR.
		case b == '\n':
			n = r.put(p, n, '\r', '\n')
		default:
			p[n] = b
			n++
		}
		r.lastCR = false
	}
	if err != nil {
		r.err = err
		if r.pendingLF {
			return n, nil
		}
	}
	return n, err
}

// put writes a and b at p[n:], keeping b for the next Read when p is full.
func (r *crlfReader) put(p []byte, n int, a, b byte) int {
	p[n] = a
	n++
	if n < len(p) {
		p[n] = b
		return n + 1
	}
	r.pendingLF = true
	return n
}
