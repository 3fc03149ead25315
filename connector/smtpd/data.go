package smtpd

import (
	"bufio"
	"bytes"
	"io"
)

// dataReader reads the message data of DATA (RFC 5321 section 4.1.1.4)
// from the connection: it ends at the first CRLF "." CRLF (or "." CRLF
// right at the start), and removes the leading dot of every line that
// starts with one (dot-unstuffing, RFC 5321 section 4.5.2). A line is what
// follows a CRLF; a bare CR or LF does not start one.
//
// A dot that starts a line and is followed by a bare CR or LF is kept, not
// unstuffed: such a line is the pattern of SMTP smuggling, and the
// normalizer behind this reader must see the lone "." to refuse it.
//
// It scans what is buffered in one loop and copies runs of bytes, so DATA
// costs no more than a copy.
type dataReader struct {
	r     *bufio.Reader
	state int
	done  bool
	held  []byte // bytes decided but not yet handed out
	err   error  // sticky read error of the connection
}

const (
	dataBOL   = iota // beginning of a line; the initial state
	dataDot          // "." at the beginning of a line, held back
	dataDotCR        // ".\r" at the beginning of a line, held back
	dataCR           // "\r" in a line, already handed out
	dataText         // inside a line
)

func newDataReader(r *bufio.Reader) *dataReader { return &dataReader{r: r} }

// Read hands out message data; io.EOF after the end marker. A connection
// that ends before it gives io.ErrUnexpectedEOF.
func (d *dataReader) Read(p []byte) (int, error) {
	n := 0
	for n < len(p) {
		if len(d.held) > 0 {
			c := copy(p[n:], d.held)
			d.held = d.held[c:]
			n += c
			continue
		}
		if d.done {
			if n > 0 {
				return n, nil
			}
			return 0, io.EOF
		}
		if d.err != nil {
			if n > 0 {
				return n, nil
			}
			return 0, d.err
		}
		if d.r.Buffered() == 0 {
			if n > 0 {
				return n, nil // hand over what we have before blocking
			}
			if _, err := d.r.Peek(1); err != nil {
				if err == io.EOF {
					err = io.ErrUnexpectedEOF
				}
				d.err = err
				continue
			}
		}
		buf, _ := d.r.Peek(d.r.Buffered())
		k := 0
		for k < len(buf) && n < len(p) && len(d.held) == 0 && !d.done {
			c := buf[k]
			switch d.state {
			case dataText:
				// The common case: copy up to the next CR in one go.
				run := buf[k:min(len(buf), k+len(p)-n)]
				j := bytes.IndexByte(run, '\r')
				if j < 0 {
					j = len(run)
				}
				n += copy(p[n:], run[:j])
				k += j
				if k < len(buf) && buf[k] == '\r' && n < len(p) {
					p[n] = '\r'
					n++
					k++
					d.state = dataCR
				}
				continue
			case dataBOL:
				switch c {
				case '.':
					d.state = dataDot
					k++
					continue
				case '\r':
					d.state = dataCR
				default:
					d.state = dataText
				}
			case dataCR:
				switch c {
				case '\n':
					d.state = dataBOL
				case '\r':
				default:
					d.state = dataText
				}
			case dataDot:
				switch c {
				case '\r':
					d.state = dataDotCR
					k++
					continue
				case '\n':
					// ".\n": the dot is kept (see the type's comment).
					d.held = append(d.held[:0], '.', '\n')
					d.state = dataText
					k++
					continue
				}
				d.state = dataText // a stuffed dot: dropped
			case dataDotCR:
				k++
				if c == '\n' {
					d.done = true
					continue
				}
				// ".\r" and something else: the dot and the CR are kept
				// (see the type's comment).
				d.held = append(d.held[:0], '.', '\r', c)
				switch c {
				case '\r':
					d.state = dataCR
				default:
					d.state = dataText
				}
				continue
			}
			p[n] = c
			n++
			k++
		}
		d.r.Discard(k)
	}
	return n, nil
}
