package mailbox

import (
	"bufio"
	"bytes"
	"io"
)

// lfWriter converts CRLF line ends to LF on the fly, the Maildir convention
// (Dovecot expects LF and adds the CR back when serving POP3 and IMAP). A
// CR not followed by LF is kept. Memory use is one buffer whatever the
// message size.
type lfWriter struct {
	w         *bufio.Writer
	pendingCR bool  // the last byte seen was a CR, not written yet
	written   int64 // bytes written to w
	lines     int64 // LFs written, for the CRLF (virtual) size
}

// writeError marks errors of the underlying writer, so a copy can tell a
// failing disk from a failing source.
type writeError struct{ err error }

func (e *writeError) Error() string { return e.err.Error() }
func (e *writeError) Unwrap() error { return e.err }

func newLFWriter(w io.Writer) *lfWriter {
	return &lfWriter{w: bufio.NewWriterSize(w, 64<<10)}
}

// Write implements io.Writer; it reports len(p) on success.
func (l *lfWriter) Write(p []byte) (int, error) {
	n := len(p)
	for len(p) > 0 {
		if l.pendingCR {
			l.pendingCR = false
			if p[0] != '\n' {
				if err := l.put([]byte{'\r'}); err != nil {
					return 0, err
				}
			}
		}
		i := bytes.IndexByte(p, '\r')
		if i < 0 {
			if err := l.put(p); err != nil {
				return 0, err
			}
			break
		}
		if err := l.put(p[:i]); err != nil {
			return 0, err
		}
		l.pendingCR = true
		p = p[i+1:]
	}
	return n, nil
}

func (l *lfWriter) put(b []byte) error {
	if len(b) == 0 {
		return nil
	}
	n, err := l.w.Write(b)
	l.written += int64(n)
	l.lines += int64(bytes.Count(b[:n], []byte{'\n'}))
	if err != nil {
		return &writeError{err: err}
	}
	return nil
}

// Flush writes a trailing lone CR and everything buffered.
func (l *lfWriter) Flush() error {
	if l.pendingCR {
		l.pendingCR = false
		if err := l.put([]byte{'\r'}); err != nil {
			return err
		}
	}
	if err := l.w.Flush(); err != nil {
		return &writeError{err: err}
	}
	return nil
}
