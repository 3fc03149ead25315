package smtpd

import (
	"errors"
	"io"
	"strings"
	"testing"
	"testing/iotest"
)

// readHeaderSection finds the end of the header however the data arrives,
// and what it returns plus what is left is the whole message.
func TestReadHeaderSection(t *testing.T) {
	for _, tc := range []struct{ in, head string }{
		{"From: a@b.c\r\nSubject: x\r\n\r\nbody\r\n", "From: a@b.c\r\nSubject: x\r\n\r\n"},
		{"\r\nbody only\r\n", "\r\n"},
		{"From: a@b.c\r\n", "From: a@b.c\r\n"},
		{"", ""},
	} {
		for name, r := range map[string]io.Reader{
			"whole":    strings.NewReader(tc.in),
			"one byte": iotest.OneByteReader(strings.NewReader(tc.in)),
		} {
			got, err := readHeaderSection(r, 0)
			if err != nil {
				t.Fatalf("%q %s: %v", tc.in, name, err)
			}
			if !strings.HasPrefix(string(got), tc.head) {
				t.Fatalf("%q %s: got %q, want it to start with %q", tc.in, name, got, tc.head)
			}
			rest, _ := io.ReadAll(r)
			if string(got)+string(rest) != tc.in {
				t.Fatalf("%q %s: lost data: %q + %q", tc.in, name, got, rest)
			}
		}
	}
	// Without an end of header the read stops at the bound.
	_, err := readHeaderSection(strings.NewReader("X: "+strings.Repeat("a", 3*maxCheckedHeader)), 0)
	if !errors.Is(err, errHeaderTooLargeToCheck) {
		t.Fatalf("endless header: %v", err)
	}
}
