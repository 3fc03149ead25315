package smtpout

import "io"

// maxLineLength is the longest text line SMTP allows, without its CRLF
// (RFC 5321 section 4.5.3.1.6: 1000 octets including CRLF).
const maxLineLength = 998

// crlfReader makes message data safe to send:
//
//   - every bare LF and every bare CR becomes CRLF, so the data has only
//     CRLF line endings (RFC 5321 section 2.3.8: "CR and LF MUST only occur
//     together as CRLF"). Stored messages already are CRLF text; this is
//     defence in depth against SMTP smuggling, where a bare line ending
//     before a "." is read differently by the next hop;
//   - a line longer than 998 octets is broken by inserting CRLF SPACE, as
//     Postfix does (smtp_line_length_limit): strict servers refuse such
//     lines (go-smtp: "too long a line"), and the space keeps a header
//     folded and a continuation from starting with ".".
type crlfReader struct {
	src    io.Reader
	buf    []byte
	out    []byte // transformed bytes not yet returned
	lastCR bool
	col    int   // octets on the current output line
	err    error // the source's error, returned once out is empty
}

func newCRLFReader(r io.Reader) *crlfReader {
	return &crlfReader{src: r, buf: make([]byte, 4096)}
}

// Read implements io.Reader.
func (r *crlfReader) Read(p []byte) (int, error) {
	for len(r.out) == 0 && r.err == nil {
		m, err := r.src.Read(r.buf)
		r.transform(r.buf[:m])
		r.err = err
	}
	n := copy(p, r.out)
	r.out = r.out[n:]
	if len(r.out) == 0 {
		r.out = r.out[:0:0]
		if n == 0 || r.err != nil {
			return n, r.err
		}
	}
	return n, nil
}

func (r *crlfReader) transform(in []byte) {
	for _, b := range in {
		switch {
		case b == '\r':
			r.out = append(r.out, '\r', '\n')
			r.col = 0
			r.lastCR = true
			continue
		case b == '\n' && r.lastCR:
			// The LF of a CRLF was written with its CR.
		case b == '\n':
			r.out = append(r.out, '\r', '\n')
			r.col = 0
		default:
			if r.col >= maxLineLength {
				r.out = append(r.out, '\r', '\n', ' ')
				r.col = 1
			}
			r.out = append(r.out, b)
			r.col++
		}
		r.lastCR = false
	}
}
