package pickup

import (
	"bytes"
	"testing"
	"time"

	"github.com/transportd/transportd/policies/header"
)

// FuzzParse feeds arbitrary files to Parse: it must never panic, and a
// message it accepts has CRLF line endings only, no Bcc, X-Sender or
// X-Receiver field, and at least one recipient; Complete keeps it so.
func FuzzParse(f *testing.F) {
	f.Add([]byte("From: a@contoso.com\r\nTo: b@example.org\r\nBcc: c@example.org\r\n\r\nbody\r\n"))
	f.Add([]byte("X-Sender: <>\nX-Receiver: <b@example.org>\n\nbody\rmore\n"))
	f.Add([]byte("From: a@contoso.com\nTo: g: x@y.org;\nBcc\t: z@y.org\n\n.\n"))
	f.Add([]byte("From: a@contoso.com\r\nTo: b@example.org\r\nBcc: c@example.org\r\n \r\n"))
	f.Fuzz(func(t *testing.T, in []byte) {
		env, msg, err := Parse(bytes.NewReader(in), 1<<20)
		if err != nil {
			return
		}
		if len(env.Recipients) == 0 {
			t.Fatalf("accepted without recipients")
		}
		checkOutput(t, msg)
		// Completing it (RFC 6409 section 8) keeps it well formed and gives
		// it a Date and a Message-ID.
		done := Complete(msg, "ID", "mail.contoso.com", time.Unix(0, 0))
		checkOutput(t, done)
		section, _, _ := header.Split(done)
		h, err := header.Parse(section)
		if err != nil || !h.Has("Date") || !h.Has("Message-ID") {
			t.Fatalf("completed message lacks Date or Message-ID (err %v): %q", err, done)
		}
	})
}
