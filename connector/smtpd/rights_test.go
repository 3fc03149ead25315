package smtpd

import (
	"bytes"
	"io"
	"strings"
	"testing"
)

// splitMessage cuts message content at the empty line that ends the
// header section (RFC 5322 section 2.1); found is false without one.
func splitMessage(b []byte) (head, body []byte, found bool) {
	if bytes.HasPrefix(b, []byte("\r\n")) {
		return nil, b[2:], true
	}
	h, body, found := bytes.Cut(b, []byte("\r\n\r\n"))
	if !found {
		return b, nil, false
	}
	return append(h, '\r', '\n'), body, true
}

// stripReceived removes every Received: field (with its continuation
// lines) from the header section and leaves the body alone.
func FuzzStripReceived(f *testing.F) {
	f.Add("Received: from a\r\n\tby b\r\nSubject: x\r\n\r\nReceived: body line\r\n")
	f.Add("Subject: x\r\nreceived: y\r\n\r\n")
	f.Add("\r\nReceived: only body\r\n")
	f.Add("Received: no end")
	f.Fuzz(func(t *testing.T, in string) {
		out, err := io.ReadAll(stripReceived(strings.NewReader(in), 1<<16))
		if err != nil {
			t.Fatal(err)
		}
		if len(out) > len(in) {
			t.Fatalf("output grew:\n%q\n=>\n%q", in, out)
		}
		_, body, found := splitMessage([]byte(in))
		if !found {
			return
		}
		ohead, obody, ofound := splitMessage(out)
		if !ofound || !bytes.Equal(body, obody) {
			t.Fatalf("body changed:\n%q\n=>\n%q", in, out)
		}
		for _, l := range bytes.Split(ohead, []byte("\r\n")) {
			if len(l) >= 9 && bytes.EqualFold(l[:9], []byte("received:")) {
				t.Fatalf("Received: kept:\n%q\n=>\n%q", in, out)
			}
		}
	})
}
