package header

import (
	"bytes"
	"errors"
	"io"
	"testing"

	"github.com/emersion/go-message/textproto"
)

// FuzzRead feeds arbitrary messages to Read, Split, Parse and Check. Read
// never loses a byte (section followed by rest is the message), honours
// its limit and agrees with Split; Parse never panics; a CRLF section that
// Check passes parses without error and writes back unchanged.
func FuzzRead(f *testing.F) {
	f.Add([]byte("From: a@b\r\nSubject: x\r\n y\r\n\r\nbody\r\n"), 0)
	f.Add([]byte("From: a@b\nBad line\n\nbody"), 10)
	f.Add([]byte(" x\r\n: y\r\nA\x01: z\r\n"), 0)
	f.Add([]byte("\r\n\r\n"), 1)
	f.Fuzz(func(t *testing.T, msg []byte, limit int) {
		if limit < 0 || limit > 1<<20 {
			limit = 0
		}
		section, rest, err := Read(bytes.NewReader(msg), limit)
		if err != nil && !errors.Is(err, ErrTooLarge) {
			t.Fatalf("Read: %v", err)
		}
		after, _ := io.ReadAll(rest)
		if !bytes.Equal(append(bytes.Clone(section), after...), msg) {
			t.Fatalf("section + rest is not the message")
		}
		if limit > 0 && len(section) > limit {
			t.Fatalf("section of %d bytes over the limit of %d", len(section), limit)
		}
		if errors.Is(err, ErrTooLarge) {
			return
		}
		if s, _, ended := Split(msg); !bytes.Equal(s, section) || ended != Ended(section) {
			t.Fatalf("Split and Read disagree: %q, %q", s, section)
		}
		h, perr := Parse(section)
		if Check(section) != nil || !crlfOnly(section) || !(Ended(section) || bytes.HasSuffix(section, []byte("\r\n")) || len(section) == 0) {
			return
		}
		if perr != nil {
			t.Fatalf("Check passed, Parse failed: %v", perr)
		}
		var b bytes.Buffer
		if err := textproto.WriteHeader(&b, h); err != nil {
			t.Fatalf("WriteHeader: %v", err)
		}
		want := Fields(section)
		if !bytes.Equal(b.Bytes(), append(bytes.Clone(want), "\r\n"...)) {
			t.Fatalf("written back:\n%q\nwant\n%q", b.Bytes(), want)
		}
	})
}

// crlfOnly reports whether every CR and LF in b is part of a CRLF.
func crlfOnly(b []byte) bool {
	for i, c := range b {
		switch c {
		case '\r':
			if i+1 >= len(b) || b[i+1] != '\n' {
				return false
			}
		case '\n':
			if i == 0 || b[i-1] != '\r' {
				return false
			}
		}
	}
	return true
}
