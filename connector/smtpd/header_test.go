package smtpd

import (
	"errors"
	"io"
	"strings"
	"testing"
	"testing/iotest"

	"github.com/transportd/transportd/policies/header"
)

// readHeader finds the end of the header however the data arrives, and
// what it returns plus what is left is the whole message.
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
			got, rest, err := readHeader(r, 0, 0)
			if err != nil {
				t.Fatalf("%q %s: %v", tc.in, name, err)
			}
			if !strings.HasPrefix(string(got.section), tc.head) || !got.whole {
				t.Fatalf("%q %s: got %q (whole %v), want it to start with %q", tc.in, name, got.section, got.whole, tc.head)
			}
			more, _ := io.ReadAll(rest)
			if string(got.section)+string(more) != tc.in {
				t.Fatalf("%q %s: lost data: %q + %q", tc.in, name, got.section, more)
			}
		}
	}
	// Without an end of header what is held stops at the bound; the rest
	// still streams on.
	in := "X: " + strings.Repeat("a", 3*maxCheckedHeader)
	got, rest, err := readHeader(strings.NewReader(in), 0, 0)
	if err != nil || got.whole || len(got.section) > maxCheckedHeader {
		t.Fatalf("endless header: held %d octets (whole %v), err %v", len(got.section), got.whole, err)
	}
	more, _ := io.ReadAll(rest)
	if string(got.section)+string(more) != in {
		t.Fatalf("endless header: lost data")
	}
}

// MaxHeaderSize counts the header fields with their CRLFs, not the empty
// line that ends the section; beyond what is held in memory it is still
// enforced as the section streams by.
func TestReadHeaderLimits(t *testing.T) {
	field := func(n int) string { return "X: " + strings.Repeat("a", n-5) + "\r\n" } // n octets with CRLF
	for _, tc := range []struct {
		name      string
		fields    string
		maxHeader int64
		err       error
	}{
		{"at the limit", field(1000) + field(24), 1024, nil},
		{"one over", field(1000) + field(25), 1024, errHeaderTooLarge},
		{"held, under a large limit", strings.Repeat(field(1000), 1500), 2 << 20, nil},
		{"streamed, at a large limit", strings.Repeat(field(1024), 2048), 2 << 20, nil},
		{"streamed, one over a large limit", strings.Repeat(field(1024), 2047) + field(1025), 2 << 20, errHeaderTooLarge},
		{"streamed, no limit", strings.Repeat(field(1000), 3000), 0, nil},
	} {
		t.Run(tc.name, func(t *testing.T) {
			msg := tc.fields + "\r\nbody\r\n"
			got, rest, err := readHeader(strings.NewReader(msg), tc.maxHeader, 0)
			if err == nil {
				var more []byte
				more, err = io.ReadAll(rest)
				if err == nil && string(got.section)+string(more) != msg {
					t.Fatal("lost data")
				}
			}
			if !errors.Is(err, tc.err) {
				t.Fatalf("err = %v, want %v", err, tc.err)
			}
		})
	}
}

// The hop count, Message-ID and Subject come from the one parse of the
// header section.
func TestReadHeaderFields(t *testing.T) {
	msg := "Received: from a\r\n\tby b\r\nreceived: from c\r\nMessage-ID: <1@x>\r\nSubject: =?utf-8?q?caf=C3=A9?=\r\n\r\nReceived: in the body\r\n"
	got, _, err := readHeader(strings.NewReader(msg), 1024, 2)
	if err != nil {
		t.Fatal(err)
	}
	if id, subj := header.Summary(got.header); got.hops != 2 || id != "<1@x>" || subj != "café" {
		t.Fatalf("hops %d, Message-ID %q, Subject %q", got.hops, id, subj)
	}
	if _, _, err := readHeader(strings.NewReader("Received: x\r\n"+msg), 1024, 2); !errors.Is(err, errTooManyHops) {
		t.Fatalf("three hops over a limit of 2: %v", err)
	}
	// A refusal of the normalizer in the header is returned as it is.
	if _, _, err := readHeader(newNormalizer(strings.NewReader("A: b\n.\nC: d\r\n"), nil), 1024, 2); !errors.Is(err, errSmuggling) {
		t.Fatalf("smuggling in the header: %v", err)
	}
}
