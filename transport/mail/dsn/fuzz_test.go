package dsn

import (
	"bytes"
	"net/textproto"
	"testing"
)

// FuzzBuild feeds untrusted input (the original message, its subject and
// the remote server's reply) to Build: it must never fail or panic, and
// its output must always be CRLF text with no line over 998 octets, a 7bit
// human-readable part and the three parts of RFC 6522.
func FuzzBuild(f *testing.F) {
	f.Add([]byte(testOriginal), "550 5.1.1 user unknown", "jörg@example.de", true)
	f.Add([]byte("Subject: =?utf-8?b?w7w=?=\n\nbody"), "x;\r\nBcc: y", "a@b", false)
	f.Add([]byte("\r\r\n\x00--b\r\n"), "", "rfc822;", true)
	f.Fuzz(func(t *testing.T, original []byte, diag, addr string, full bool) {
		if addr == "" || len(original) > 1<<16 {
			t.Skip()
		}
		r := failedReport()
		r.Original = bytes.NewReader(original)
		r.ReturnFull, r.FullLimit = full, 1<<15
		r.Recipients[0].DiagnosticCode = diag
		r.Recipients[0].Address = addr
		r.Recipients[0].RemoteMTA = diag
		r.QueueID = diag
		var b bytes.Buffer
		if err := Build(&b, r); err != nil {
			if len(bytes.TrimSpace([]byte(addr))) == 0 {
				return
			}
			t.Fatalf("Build: %v", err)
		}
		p := parse(t, b.Bytes())
		if len(p.parts) != 3 {
			t.Fatalf("%d parts", len(p.parts))
		}
		for _, c := range p.parts[0].raw {
			if c >= 0x80 {
				t.Fatalf("human-readable part is not 7bit")
			}
		}
		if !isASCII(string(p.parts[1].raw)) {
			t.Fatalf("delivery-status part is not ASCII: %q", p.parts[1].raw)
		}
		if len(p.recipients) != 1 {
			t.Fatalf("%d recipient blocks", len(p.recipients))
		}
	})
}

// FuzzIsDSN checks that IsDSN never panics on hostile header values.
func FuzzIsDSN(f *testing.F) {
	f.Add("multipart/report; report-type=delivery-status", "no (x")
	f.Add(`multipart/report; report-type="`, `\(`)
	f.Fuzz(func(t *testing.T, ct, as string) {
		h := textproto.MIMEHeader{}
		h.Set("Content-Type", ct)
		h.Set("Auto-Submitted", as)
		_ = IsDSN(h)
	})
}
