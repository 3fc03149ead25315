package smtpout

import (
	"bytes"
	"io"
	"sync"
)

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
//     folded and a continuation from starting with ".";
//   - with dotStuff, a line that starts with "." gets a second one
//     (RFC 5321 section 4.5.2), for writing straight to the connection.
//
// It works on whole runs of bytes between line endings, not byte by byte,
// and reuses its buffers: delivery runs it for every message.
type crlfReader struct {
	src      io.Reader
	buf      []byte
	out      []byte // transformed bytes not yet returned
	store    []byte // out's backing array, reused
	lastCR   bool
	col      int // octets on the current output line
	dotStuff bool
	err      error // the source's error, returned once out is empty
}

// crlfChunk is how much is read from the message at a time.
const crlfChunk = 16 << 10

// crlfBuffers holds the buffers of finished readers for the next message.
var crlfBuffers = sync.Pool{New: func() any {
	return &crlfBufs{in: make([]byte, crlfChunk), out: make([]byte, 0, crlfChunk+crlfChunk/4)}
}}

type crlfBufs struct{ in, out []byte }

func newCRLFReader(r io.Reader) *crlfReader {
	b := crlfBuffers.Get().(*crlfBufs)
	return &crlfReader{src: r, buf: b.in, store: b.out[:0]}
}

// release hands the buffers back for the next message; r must not be
// used afterwards.
func (r *crlfReader) release() {
	if r.buf == nil {
		return
	}
	crlfBuffers.Put(&crlfBufs{in: r.buf, out: r.store[:0]})
	r.buf, r.store, r.out = nil, nil, nil
}

// fill reads from the source until there is output or an error.
func (r *crlfReader) fill() {
	for len(r.out) == 0 && r.err == nil {
		m, err := r.src.Read(r.buf)
		r.out = r.store[:0]
		r.transform(r.buf[:m])
		r.store = r.out[:0]
		r.err = err
	}
}

// Read implements io.Reader.
func (r *crlfReader) Read(p []byte) (int, error) {
	r.fill()
	n := copy(p, r.out)
	r.out = r.out[n:]
	if len(r.out) == 0 && (n == 0 || r.err != nil) {
		return n, r.err
	}
	return n, nil
}

// WriteTo implements io.WriterTo, so that io.Copy needs no buffer of its
// own. Like io.Copy it returns nil at the end of the source.
func (r *crlfReader) WriteTo(w io.Writer) (int64, error) {
	var total int64
	for {
		r.fill()
		if len(r.out) > 0 {
			n, err := w.Write(r.out)
			total += int64(n)
			r.out = r.out[n:]
			if err != nil {
				return total, err
			}
			continue
		}
		if r.err == io.EOF {
			return total, nil
		}
		return total, r.err
	}
}

// atLineStart reports whether the output so far ends with a line ending
// (or is empty): the end of data may follow at once.
func (r *crlfReader) atLineStart() bool { return r.col == 0 }

func (r *crlfReader) transform(in []byte) {
	for len(in) > 0 {
		if r.lastCR {
			r.lastCR = false
			if in[0] == '\n' { // the LF of a CRLF was written with its CR
				in = in[1:]
				continue
			}
		}
		// The next line ending: the first CR or LF.
		end := bytes.IndexByte(in, '\n')
		seg := in
		if end >= 0 {
			seg = in[:end]
		}
		if cr := bytes.IndexByte(seg, '\r'); cr >= 0 {
			end, seg = cr, in[:cr]
		}
		if r.dotStuff && r.col == 0 && len(seg) > 0 && seg[0] == '.' {
			r.out = append(r.out, '.')
			r.col++
		}
		for len(seg) > 0 {
			if r.col >= maxLineLength {
				r.out = append(r.out, '\r', '\n', ' ')
				r.col = 1
			}
			n := min(maxLineLength-r.col, len(seg))
			r.out = append(r.out, seg[:n]...)
			r.col += n
			seg = seg[n:]
		}
		if end < 0 {
			return
		}
		r.out = append(r.out, '\r', '\n')
		r.col = 0
		r.lastCR = in[end] == '\r'
		in = in[end+1:]
	}
}
