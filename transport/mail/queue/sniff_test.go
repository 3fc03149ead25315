package queue

import (
	"errors"
	"io"
	"strings"
	"testing"
	"testing/iotest"
)

// Enqueue takes Message-ID and Subject (for Get-Message and tracking)
// from the header with package header, and stores every byte it read.
func TestSniffHeader(t *testing.T) {
	big := "X-Big: " + strings.Repeat("b", maxSniff) + "\r\n"
	tests := []struct {
		name, msg, wantID, wantSubject string
	}{
		{"plain", "Message-ID: <1@contoso.com>\r\nSubject: Quarterly report\r\n\r\nbody\r\n", "<1@contoso.com>", "Quarterly report"},
		{"case, folding and encoded words", "message-id:\r\n <2@contoso.com>\r\nSUBJECT: =?utf-8?q?J=C3=B6rg?=\r\n\tand more\r\n\r\nSubject: body\r\n", "<2@contoso.com>", "Jörg and more"},
		{"no body", "Subject: only\r\n", "", "only"},
		// net/textproto stopped at the broken line and lost the Subject
		// after it; package header skips the line and reads on.
		{"broken line before Subject", "Message-ID: <3@x>\r\nthis line is broken\r\nSubject: still read\r\n\r\nbody\r\n", "<3@x>", "still read"},
		{"header over the limit", big + "Subject: too far\r\n\r\nbody\r\n", "", ""},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			var env Envelope
			r, err := sniffHeader(&env, iotest.HalfReader(strings.NewReader(tt.msg)))
			if err != nil {
				t.Fatal(err)
			}
			if env.MessageID != tt.wantID || env.Subject != tt.wantSubject {
				t.Errorf("Message-ID %q, Subject %q; want %q, %q", env.MessageID, env.Subject, tt.wantID, tt.wantSubject)
			}
			got, err := io.ReadAll(r)
			if err != nil {
				t.Fatal(err)
			}
			if string(got) != tt.msg {
				t.Errorf("stored message differs from the one received (%d bytes, want %d)", len(got), len(tt.msg))
			}
		})
	}
}

// A read error in the header (a refusal of the SMTP normalizer, the
// client going away) reaches Enqueue's caller as it was.
func TestSniffHeaderReadError(t *testing.T) {
	boom := errors.New("boom")
	var env Envelope
	_, err := sniffHeader(&env, io.MultiReader(strings.NewReader("Subject: x\r\nFrom"), iotest.ErrReader(boom)))
	if !errors.Is(err, boom) {
		t.Fatalf("err = %v, want %v", err, boom)
	}
}
