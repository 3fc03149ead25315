package dsn

import (
	"bytes"
	"errors"
	"io"
	"net/textproto"

	"github.com/transportd/transportd/policies/header"
)

// maxHeaderSection caps the original header section we return: beyond it
// the section is cut at a line boundary. It matches Exchange's default
// MaxHeaderSize of 256 KB, so a message we accepted always fits.
const maxHeaderSection = 256 << 10

// original is the third part of the report.
type original struct {
	// header is the original's header section, CRLF lines without the
	// empty line that ends it.
	header []byte
	// content is what the part holds: the header section (ended by the
	// empty line, RFC 6522 section 5) or the whole message.
	content []byte
	// full is true when content is the whole message (message/rfc822).
	full bool
}

// partHeader returns the MIME header of the third part. message/rfc822
// and text/rfc822-headers (RFC 6522 section 5) are 7bit when the content
// is ASCII and 8bit otherwise (RFC 2046 section 5.2.1 forbids encoding a
// message/rfc822 body).
func (o *original) partHeader() textproto.MIMEHeader {
	h := textproto.MIMEHeader{}
	if o.full {
		h.Set("Content-Type", "message/rfc822")
		h.Set("Content-Description", "Undelivered message")
	} else {
		h.Set("Content-Type", "text/rfc822-headers")
		h.Set("Content-Description", "Undelivered message headers")
	}
	if isASCII(string(o.content)) {
		h.Set("Content-Transfer-Encoding", "7bit")
	} else {
		h.Set("Content-Transfer-Encoding", "8bit")
	}
	return h
}

// readOriginal reads the original message for the third part: the whole
// message when full is asked for, it is no bigger than limit and every line
// fits in 998 octets; its header section otherwise. A nil reader gives a
// nil original.
func readOriginal(r io.Reader, full bool, limit int64) (*original, error) {
	if r == nil {
		return nil, nil
	}
	if full && limit > 0 {
		buf, err := io.ReadAll(io.LimitReader(r, limit+1))
		if err != nil {
			return nil, err
		}
		if int64(len(buf)) <= limit {
			content := header.ToCRLF(buf)
			if fitsRFC822(content) {
				hdr, _, err := headerSection(bytes.NewReader(content))
				if err != nil {
					return nil, err
				}
				return &original{header: hdr, content: content, full: true}, nil
			}
		}
		r = io.MultiReader(bytes.NewReader(buf), r)
	}
	hdr, _, err := headerSection(r)
	if err != nil {
		return nil, err
	}
	content := make([]byte, 0, len(hdr)+2)
	content = append(content, hdr...)
	content = append(content, "\r\n"...)
	return &original{header: hdr, content: content}, nil
}

// fitsRFC822 reports whether a CRLF message can travel as message/rfc822
// unchanged: no NUL and no line over 998 octets (RFC 5322 section 2.1.1).
func fitsRFC822(b []byte) bool {
	if bytes.IndexByte(b, 0) >= 0 {
		return false
	}
	for len(b) > 0 {
		i := bytes.Index(b, []byte("\r\n"))
		if i < 0 {
			i = len(b)
		}
		if i > maxLineOctet {
			return false
		}
		b = b[min(i+2, len(b)):]
	}
	return true
}

// headerSection reads the header section of a message with package
// header: every line up to the first empty line, or to the end for a
// message without a body (RFC 5322 section 2.1). The lines come back
// sanitized for a text/rfc822-headers part (RFC 6522 section 5): ended by
// CRLF whatever ended them (a bare CR included, so "\r\r" ends the
// section as it would for a reader that takes it as a line end), without
// NUL bytes, cut at maxLineOctet with a folding space (RFC 5322 section
// 2.2.3), and the section stops at a line boundary within
// maxHeaderSection bytes. It reports whether it was cut.
func headerSection(r io.Reader) ([]byte, bool, error) {
	raw, _, err := header.Read(r, maxHeaderSection)
	tooLarge := errors.Is(err, header.ErrTooLarge)
	if err != nil && !tooLarge {
		return nil, false, err
	}
	if tooLarge {
		// Only whole lines: the last one may be cut anywhere.
		raw = raw[:bytes.LastIndexByte(raw, '\n')+1]
	}
	var out []byte
	for rest := header.ToCRLF(raw); len(rest) > 0; {
		line, next, _ := bytes.Cut(rest, []byte("\r\n"))
		rest = next
		if len(line) == 0 {
			break // the empty line ending the header section
		}
		line = bytes.ReplaceAll(line, []byte{0}, nil)
		if len(line) == 0 {
			continue // a line of NULs only; it must not end the section
		}
		var cut []byte
		for room := maxLineOctet; len(line) > room; room = maxLineOctet - 1 {
			// Continuation lines start with the folding space.
			cut = append(cut, line[:room]...)
			cut = append(cut, "\r\n "...)
			line = line[room:]
		}
		cut = append(cut, line...)
		cut = append(cut, "\r\n"...)
		if len(out)+len(cut) > maxHeaderSection {
			return out, true, nil
		}
		out = append(out, cut...)
	}
	return out, tooLarge, nil
}
