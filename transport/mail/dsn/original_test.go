package dsn

import (
	"bytes"
	"strings"
	"testing"

	"github.com/transportd/transportd/policies/header"
)

// The original's Subject and Message-ID are read leniently (package
// header): a broken line before them does not hide them, and the first
// of two fields wins.
func TestOriginalFieldsAfterBrokenLine(t *testing.T) {
	r := failedReport()
	r.OriginalMessageID = ""
	r.Original = strings.NewReader(" stray continuation\r\nthis line is broken\r\nBad\x01Name: x\r\nsubject: =?utf-8?q?J=C3=B6rg?=\r\n report\r\nMESSAGE-ID: <first@contoso.com>\r\nMessage-ID: <second@contoso.com>\r\n\r\nbody\r\n")
	p := parse(t, build(t, r))
	if got := p.header.Get("References"); got != "<first@contoso.com>" {
		t.Errorf("References = %q, want the original's first Message-ID", got)
	}
	if got := p.header.Get("Subject"); !strings.Contains(got, "report") {
		t.Errorf("Subject = %q, want the original's subject in it", got)
	}
}

// The headers part never carries body text, ends on a whole line within
// maxHeaderSection, and a bare CR ends a line as LF and CRLF do.
func TestOriginalHeaderSectionBounds(t *testing.T) {
	tests := []struct {
		name, original string
		want           func(t *testing.T, part []byte)
	}{
		{"bare CR line ends", "Subject: x\r\rbody text\r\nX: y\r\n\r\n", func(t *testing.T, part []byte) {
			if string(part) != "Subject: x\r\n\r\n" {
				t.Errorf("headers part = %q", part)
			}
		}},
		{"over the size limit", strings.Repeat("X-Fill: "+strings.Repeat("f", 90)+"\r\n", 3000) + "\r\nbody text\r\n", func(t *testing.T, part []byte) {
			if len(part) > maxHeaderSection+2 {
				t.Errorf("headers part of %d bytes, over %d", len(part), maxHeaderSection)
			}
			if !bytes.HasSuffix(part, []byte("\r\n\r\n")) || bytes.Contains(part, []byte("body text")) {
				t.Errorf("headers part does not end on a whole line: %q", part[max(0, len(part)-120):])
			}
			for _, l := range bytes.Split(bytes.TrimSuffix(part, []byte("\r\n\r\n")), []byte("\r\n")) {
				if !bytes.HasPrefix(l, []byte("X-Fill: ")) || len(l) != 98 {
					t.Fatalf("cut line %q", l)
				}
			}
		}},
		{"long line folded", "Subject: " + strings.Repeat("s", 2500) + "\r\n\r\n", func(t *testing.T, part []byte) {
			if err := header.Check(part); err != nil {
				t.Errorf("headers part breaks RFC 5322: %v", err)
			}
			h, _ := header.Parse(part)
			if got := strings.ReplaceAll(h.Get("Subject"), " ", ""); got != strings.Repeat("s", 2500) {
				t.Errorf("folded Subject lost text: %d bytes", len(got))
			}
		}},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			r := failedReport()
			r.Original = strings.NewReader(tt.original)
			p := parse(t, build(t, r))
			if len(p.parts) != 3 {
				t.Fatalf("%d parts", len(p.parts))
			}
			tt.want(t, p.parts[2].body)
		})
	}
}
