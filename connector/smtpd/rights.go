package smtpd

import (
	"bytes"
	"io"

	"github.com/transportd/transportd/policies/header"
	"github.com/transportd/transportd/policies/permissions"
)

// maxMessageLen is the connector's MaxMessageSize, or 0 (none) for a
// session that holds ms-Exch-Bypass-Message-Size-Limit.
func (s *session) maxMessageLen() int64 {
	if s.perms().Has(permissions.RightBypassMessageSizeLimit) {
		return 0
	}
	return int64(s.rc.MaxMessageSize)
}

// stripReceived returns r without the Received: fields (and their
// continuation lines, RFC 5322 section 2.2.3) of its header section; the
// body passes unchanged. r is normalised (CRLF) message content.
func stripReceived(r io.Reader, maxHeader int64) io.Reader {
	head, rest, err := header.Read(r, int(maxHeader)+2)
	if err != nil {
		// Nothing is lost: the section and the rest go on as they were.
		return io.MultiReader(bytes.NewReader(head), rest)
	}
	end := bytes.Index(head, []byte("\r\n\r\n"))
	if end < 0 {
		if bytes.HasPrefix(head, []byte("\r\n")) {
			return io.MultiReader(bytes.NewReader(head), rest)
		}
		end = len(head)
	} else {
		end += 2 // keep the CRLF of the last field
	}
	var out bytes.Buffer
	out.Grow(len(head))
	skipping := false
	fields := head[:end]
	for len(fields) > 0 {
		i := bytes.Index(fields, []byte("\r\n"))
		line := fields
		if i >= 0 {
			line = fields[:i+2]
		}
		fields = fields[len(line):]
		if len(line) > 0 && (line[0] == ' ' || line[0] == '\t') {
			if !skipping {
				out.Write(line)
			}
			continue
		}
		skipping = len(line) >= 9 && bytes.EqualFold(line[:9], []byte("received:"))
		if !skipping {
			out.Write(line)
		}
	}
	out.Write(head[end:])
	return io.MultiReader(&out, rest)
}
