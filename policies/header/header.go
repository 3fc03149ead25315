// Package header is the one place transportd reads and edits the header
// section of a message (RFC 5322 section 2.2): the SMTP server (header
// size, hop count, Message-ID and Subject, read once per message), the
// pickup directory, the queue (the DSN check) and DSNs (the original's
// header section, Subject and Message-ID) all use it, so that a field
// reads the same everywhere. It sits at the bottom of the layout, beside
// package address, since both connector/ and transport/ use it.
//
// Fields are parsed by github.com/emersion/go-message/textproto, which
// keeps each field's raw bytes: a header written back after a field was
// removed (Bcc: in the pickup directory) is byte for byte the original
// otherwise, as DKIM signatures need (RFC 6376 section 5.4). What this
// package adds is what go-message leaves to its callers:
//
//   - finding the end of the header section in a stream, with a size limit,
//     without losing a byte of what follows (Read, Split): go-message reads
//     from a bufio.Reader that may have read ahead into the body, and stops
//     at the first malformed line;
//   - lenient parsing (Parse): a malformed line is skipped rather than
//     ending the header, since a bounce must quote what it can of a header
//     that is broken;
//   - strict syntax checks with line numbers (Check): go-message accepts
//     lines of any length and silently drops fields with an empty name,
//     which a submission from the pickup directory must be refused for.
//
// Lines end with LF, optionally preceded by CR, as go-message reads them
// (RFC 5322 section 2.3 allows only CRLF; senders that write bare LF are
// common). A bare CR is not a line ending here; callers that accept it
// normalise first.
package header

import (
	"bufio"
	"bytes"
	"errors"
	"fmt"
	"io"
	"mime"

	"github.com/emersion/go-message/textproto"
)

// MaxLine is the longest line RFC 5322 section 2.1.1 allows, without its
// CRLF.
const MaxLine = 998

// ErrTooLarge is returned by Read when the header section does not end
// within the limit.
var ErrTooLarge = errors.New("header section exceeds the size limit")

// Read reads the header section of the message r holds: every line up to
// and including the empty line that ends it (RFC 5322 section 2.1), or all
// of r when the message has no body and no empty line. At most limit bytes
// are read into section (limit <= 0: no limit); a section that has not
// ended by then is returned cut, with ErrTooLarge.
//
// Whatever the error, section followed by what rest returns is exactly
// what r holds, so a caller can look at the header and pass the whole
// message on: io.MultiReader(bytes.NewReader(section), rest). Errors other
// than ErrTooLarge come from r.
func Read(r io.Reader, limit int) (section []byte, rest io.Reader, err error) {
	br := bufio.NewReaderSize(r, 4096)
	lineStart := 0
	section = make([]byte, 0, 1024) // most header sections fit: no growing line by line
	if limit > 0 && limit < cap(section) {
		section = section[:0:limit]
	}
	for {
		chunk, err := br.ReadSlice('\n')
		if limit > 0 && len(section)+len(chunk) > limit {
			take := limit - len(section)
			section = append(section, chunk[:take]...)
			over := bytes.Clone(chunk[take:])
			return section, io.MultiReader(bytes.NewReader(over), br), ErrTooLarge
		}
		section = append(section, chunk...)
		switch {
		case err == bufio.ErrBufferFull:
			continue // the same line goes on
		case err == io.EOF:
			return section, br, nil // the message ended within its header
		case err != nil:
			return section, br, fmt.Errorf("reading the header section: %w", err)
		}
		if isEmptyLine(section[lineStart:]) {
			return section, br, nil
		}
		lineStart = len(section)
	}
}

// Split splits a message held in memory into its header section (up to
// and including the empty line that ends it) and its body. ended reports
// whether there was an empty line; when there is none, section is all of
// msg and body is nil.
func Split(msg []byte) (section, body []byte, ended bool) {
	for i := 0; i < len(msg); {
		j := bytes.IndexByte(msg[i:], '\n')
		if j < 0 {
			break
		}
		if isEmptyLine(msg[i : i+j+1]) {
			return msg[:i+j+1], msg[i+j+1:], true
		}
		i += j + 1
	}
	return msg, nil, false
}

// Ended reports whether a header section (as Read or Split return it) ends
// with the empty line.
func Ended(section []byte) bool {
	if bytes.Equal(section, []byte("\n")) || bytes.Equal(section, []byte("\r\n")) {
		return true
	}
	return bytes.HasSuffix(section, []byte("\n\n")) || bytes.HasSuffix(section, []byte("\n\r\n"))
}

// Fields returns section without the empty line that ends it, if any.
func Fields(section []byte) []byte {
	if !Ended(section) {
		return section
	}
	section = section[:len(section)-1]
	if len(section) > 0 && section[len(section)-1] == '\r' {
		section = section[:len(section)-1]
	}
	return section
}

// isEmptyLine reports whether line (with its LF) is the empty line.
func isEmptyLine(line []byte) bool {
	return (len(line) == 1 && line[0] == '\n') || (len(line) == 2 && line[0] == '\r' && line[1] == '\n')
}

// Parse parses a header section (as Read or Split return it; the empty
// line is optional) with go-message. It is lenient: a line that is not a
// field nor a continuation, or a field whose name has a character RFC 5322
// section 3.6.8 does not allow, is skipped and parsing goes on; the first
// such problem is returned as err together with the fields that did parse.
// Field names are case-insensitive (RFC 5322 section 1.2.2) and values come
// unfolded (section 2.2.3) from Get and Values; each field keeps its raw
// bytes for textproto.WriteHeader.
func Parse(section []byte) (textproto.Header, error) {
	src := bytes.NewReader(section)
	// A buffer the size of the section, up to bufio's default: go-message
	// reads lines of any length through it (bufio.Reader.ReadLine).
	br := bufio.NewReaderSize(src, min(max(len(section), 16), 4096))
	unread := func() int { return src.Len() + br.Buffered() }
	h, err := textproto.ReadHeader(br)
	if err == nil {
		return h, nil
	}
	first := err
	// go-message stops at the first malformed line, having consumed it:
	// read on from there and keep every field that parses, in order.
	var raws [][]byte
	collect := func(h textproto.Header) {
		for fs := h.Fields(); fs.Next(); {
			if raw, err := fs.Raw(); err == nil {
				raws = append(raws, raw)
			}
		}
	}
	collect(h)
	for err != nil {
		before := unread()
		h, err = textproto.ReadHeader(br)
		collect(h)
		if err != nil && unread() == before {
			break // no progress: nothing left that parses
		}
	}
	var out textproto.Header
	for i := len(raws) - 1; i >= 0; i-- {
		out.AddRaw(raws[i]) // AddRaw inserts at the top
	}
	return out, first
}

// ReadHeader reads and parses the header section of the message r holds,
// at most limit bytes of it (see Read), leniently (see Parse). It is for
// callers that want a few fields and not the message: a section cut at
// limit gives the fields before the cut.
func ReadHeader(r io.Reader, limit int) (textproto.Header, error) {
	section, _, err := Read(r, limit)
	if err != nil && !errors.Is(err, ErrTooLarge) {
		return textproto.Header{}, err
	}
	if errors.Is(err, ErrTooLarge) {
		// Only whole lines: the last one may be cut anywhere.
		if i := bytes.LastIndexByte(section, '\n'); i >= 0 {
			section = section[:i+1]
		} else {
			section = nil
		}
	}
	h, _ := Parse(section)
	return h, nil
}

// Summary returns what Get-Message shows of a message: its Message-ID as
// written and its Subject with RFC 2047 encoded words decoded (as written
// when they do not decode).
func Summary(h textproto.Header) (messageID, subject string) {
	subject = h.Get("Subject")
	if dec, err := new(mime.WordDecoder).DecodeHeader(subject); err == nil {
		subject = dec
	}
	return h.Get("Message-Id"), subject
}

// SyntaxError is a header line that breaks RFC 5322's syntax, as Check
// reports it.
type SyntaxError struct {
	// Line is the line's number, from 1.
	Line int
	// Reason says what is wrong and how to fix it.
	Reason string
}

func (e *SyntaxError) Error() string { return e.Reason }

// Check checks a header section (the empty line that ends it is optional)
// strictly against RFC 5322: no line over MaxLine octets (section 2.1.1),
// no continuation line before the first field (section 2.2.3), and every
// other line a field "name: value" whose name is not empty and is
// printable US-ASCII (section 3.6.8). White space before the colon is
// obsolete syntax (section 4.5) it accepts. A line without a colon is
// reported as the missing empty line between header and body, which is
// what it nearly always is.
//
// A section that passes Check parses without error and without a field
// skipped, so textproto.WriteHeader gives it back unchanged when its lines
// end with CRLF.
func Check(section []byte) error {
	rest := Fields(section)
	for n := 1; len(rest) > 0; n++ {
		line := rest
		if i := bytes.IndexByte(rest, '\n'); i >= 0 {
			line, rest = rest[:i], rest[i+1:]
		} else {
			rest = nil
		}
		line = bytes.TrimSuffix(line, []byte("\r"))
		if len(line) > MaxLine {
			return &SyntaxError{Line: n, Reason: fmt.Sprintf("header line %d is %d octets long; RFC 5322 section 2.1.1 allows at most %d", n, len(line), MaxLine)}
		}
		if len(line) > 0 && (line[0] == ' ' || line[0] == '\t') {
			if n == 1 {
				return &SyntaxError{Line: n, Reason: "line 1 starts with white space: the message must start with a header field such as From:"}
			}
			continue
		}
		colon := bytes.IndexByte(line, ':')
		if colon < 0 {
			return &SyntaxError{Line: n, Reason: fmt.Sprintf("line %d (%s) is not a header field: the empty line between header and body is missing, or the text is not an RFC 5322 message", n, quoteShort(line))}
		}
		name := bytes.TrimRight(line[:colon], " \t")
		if len(name) == 0 {
			return &SyntaxError{Line: n, Reason: fmt.Sprintf("line %d (%s) has an empty field name", n, quoteShort(line))}
		}
		for _, c := range name {
			if c < 33 || c > 126 {
				return &SyntaxError{Line: n, Reason: fmt.Sprintf("line %d: field name %s has a character not allowed by RFC 5322 section 3.6.8", n, quoteShort(name))}
			}
		}
	}
	return nil
}

// quoteShort quotes b for an error message, shortened.
func quoteShort(b []byte) string {
	const max = 60
	if len(b) > max {
		return fmt.Sprintf("%q...", b[:max])
	}
	return fmt.Sprintf("%q", b)
}
