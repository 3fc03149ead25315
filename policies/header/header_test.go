package header

import (
	"bytes"
	"errors"
	"io"
	"strings"
	"testing"
	"testing/iotest"

	"github.com/emersion/go-message/textproto"
)

func crlf(s string) string { return strings.ReplaceAll(s, "\n", "\r\n") }

func TestRead(t *testing.T) {
	long := "Subject: " + strings.Repeat("x", 10000) + "\r\n"
	tests := []struct {
		name, in    string
		limit       int
		wantSection string
		wantErr     error
	}{
		{"CRLF", crlf("From: a@b\nSubject: hi\n\nbody\n\nmore\n"), 0, crlf("From: a@b\nSubject: hi\n\n"), nil},
		{"bare LF", "From: a@b\nSubject: hi\n\nbody\n", 0, "From: a@b\nSubject: hi\n\n", nil},
		{"no body, no empty line", crlf("From: a@b\nSubject: hi\n"), 0, crlf("From: a@b\nSubject: hi\n"), nil},
		{"no final line ending", "From: a@b\r\nSubject: hi", 0, "From: a@b\r\nSubject: hi", nil},
		{"empty message", "", 0, "", nil},
		{"body only", crlf("\nbody\n"), 0, "\r\n", nil},
		{"line longer than the buffer", long + "\r\nbody", 0, long + "\r\n", nil},
		{"white space line is not the end", crlf("Subject: a\n \nX: y\n\nbody"), 0, crlf("Subject: a\n \nX: y\n\n"), nil},
		{"bare CR is not a line end", "Subject: a\r\rX: y\r\n\r\nbody", 0, "Subject: a\r\rX: y\r\n\r\n", nil},
		{"at the limit", crlf("From: a@b\n\nbody"), len(crlf("From: a@b\n\n")), crlf("From: a@b\n\n"), nil},
		{"over the limit", crlf("From: a@b\n\nbody"), len(crlf("From: a@b\n\n")) - 1, "From: a@b\r\n\r", ErrTooLarge},
		{"over the limit in a long line", long + "\r\nbody", 100, long[:100], ErrTooLarge},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			section, rest, err := Read(iotest.OneByteReader(strings.NewReader(tt.in)), tt.limit)
			if !errors.Is(err, tt.wantErr) {
				t.Fatalf("err = %v, want %v", err, tt.wantErr)
			}
			if string(section) != tt.wantSection {
				t.Errorf("section = %q, want %q", section, tt.wantSection)
			}
			after, err := io.ReadAll(rest)
			if err != nil {
				t.Fatal(err)
			}
			if got := string(section) + string(after); got != tt.in {
				t.Errorf("section + rest = %q, want the message %q", got, tt.in)
			}
			// Split agrees with Read on a message in memory.
			if tt.wantErr == nil {
				s, body, ended := Split([]byte(tt.in))
				if string(s) != tt.wantSection || string(s)+string(body) != tt.in || ended != Ended(s) {
					t.Errorf("Split = %q, %q, %v", s, body, ended)
				}
			}
		})
	}
}

func TestReadError(t *testing.T) {
	boom := errors.New("boom")
	section, _, err := Read(io.MultiReader(strings.NewReader("From: a@b\r\nSub"), iotest.ErrReader(boom)), 0)
	if !errors.Is(err, boom) {
		t.Fatalf("err = %v, want the reader's", err)
	}
	if string(section) != "From: a@b\r\nSub" {
		t.Errorf("section = %q", section)
	}
	if _, err := ReadHeader(iotest.ErrReader(boom), 0); !errors.Is(err, boom) {
		t.Errorf("ReadHeader err = %v, want the reader's", err)
	}
}

func TestEndedFields(t *testing.T) {
	for _, tt := range []struct {
		in, fields string
		ended      bool
	}{
		{"", "", false},
		{"\r\n", "", true},
		{"\n", "", true},
		{"A: b\r\n", "A: b\r\n", false},
		{"A: b\r\n\r\n", "A: b\r\n", true},
		{"A: b\n\n", "A: b\n", true},
		{"A: b", "A: b", false},
	} {
		if got := Ended([]byte(tt.in)); got != tt.ended {
			t.Errorf("Ended(%q) = %v", tt.in, got)
		}
		if got := string(Fields([]byte(tt.in))); got != tt.fields {
			t.Errorf("Fields(%q) = %q, want %q", tt.in, got, tt.fields)
		}
	}
}

func TestParse(t *testing.T) {
	h, err := Parse([]byte(crlf("Received: from a\n\tby b\nsubject: Hello\n  World\nMESSAGE-ID: <1@x>\nReceived: from c\n\nbody: not a field\n")))
	if err != nil {
		t.Fatal(err)
	}
	if got := h.Get("Subject"); got != "Hello World" {
		t.Errorf("Subject = %q, want the unfolded value", got)
	}
	if got := h.Get("Message-Id"); got != "<1@x>" {
		t.Errorf("Message-ID = %q", got)
	}
	if got := h.Values("received"); len(got) != 2 || got[0] != "from a by b" || got[1] != "from c" {
		t.Errorf("Received = %q, want both, in order", got)
	}
	if h.Has("Body") {
		t.Errorf("a body line was read as a field")
	}
}

// A bounce must quote what it can: a broken line is skipped, the fields
// after it are still read, and the first problem is reported.
func TestParseLenient(t *testing.T) {
	in := crlf(" leading continuation\nFrom: a@b\nthis is not a field\nBad\x01Name: x\nSubject: still here\nTo: c@d\n")
	h, err := Parse([]byte(in))
	if err == nil {
		t.Fatalf("Parse reported no problem")
	}
	for k, want := range map[string]string{"From": "a@b", "Subject": "still here", "To": "c@d"} {
		if got := h.Get(k); got != want {
			t.Errorf("%s = %q, want %q", k, got, want)
		}
	}
	var b bytes.Buffer
	if err := textproto.WriteHeader(&b, h); err != nil {
		t.Fatal(err)
	}
	if want := crlf("From: a@b\nSubject: still here\nTo: c@d\n\n"); b.String() != want {
		t.Errorf("fields in order:\n%q\nwant\n%q", b.String(), want)
	}
}

// Removing a field keeps every other byte as it was (DKIM, RFC 6376
// section 5.4): odd spacing, case and folding survive.
func TestRemoveKeepsRawBytes(t *testing.T) {
	in := crlf("from :  A <a@b>\nBcc: x@y,\n   z@y\nSubject:\tfolded\n\t here\nbcc: w@y\nX-Tail: 1\n\n")
	h, err := Parse([]byte(in))
	if err != nil {
		t.Fatal(err)
	}
	h.Del("BCC")
	var b bytes.Buffer
	if err := textproto.WriteHeader(&b, h); err != nil {
		t.Fatal(err)
	}
	if want := crlf("from :  A <a@b>\nSubject:\tfolded\n\t here\nX-Tail: 1\n\n"); b.String() != want {
		t.Errorf("after Del(Bcc):\n%q\nwant\n%q", b.String(), want)
	}
}

func TestReadHeader(t *testing.T) {
	msg := crlf("Message-ID: <1@x>\nSubject: " + strings.Repeat("s", 200) + "\nX-After: y\n\nbody\n")
	h, err := ReadHeader(strings.NewReader(msg), 0)
	if err != nil || h.Get("X-After") != "y" {
		t.Fatalf("ReadHeader = %v, %v", h.Map(), err)
	}
	// Cut within Subject: only the whole lines before the cut count.
	h, err = ReadHeader(strings.NewReader(msg), 50)
	if err != nil {
		t.Fatal(err)
	}
	if h.Get("Message-Id") != "<1@x>" || h.Has("Subject") || h.Has("X-After") {
		t.Errorf("cut header = %v, want Message-ID only", h.Map())
	}
}

func TestCheck(t *testing.T) {
	tests := []struct {
		name, in string
		line     int
		want     string // substring; "" means no error
	}{
		{"good", crlf("From: a@b\nSubject: x\n y\n\n"), 0, ""},
		{"obsolete space before colon", crlf("From : a@b\nTo\t: c@d\n"), 0, ""},
		{"bare LF", "From: a@b\nTo: c@d\n\n", 0, ""},
		{"empty", "", 0, ""},
		{"starts with white space", crlf(" From: a@b\n\n"), 1, "white space"},
		{"no colon", crlf("From: a@b\nHello Bob\n"), 2, "empty line between header and body is missing"},
		{"empty name", crlf("From: a@b\nTo: c@d\n: x\n"), 3, "empty field name"},
		{"bad name", crlf("From: a@b\nBad\x01Name: x\n"), 2, "field name"},
		{"space in name", crlf("From: a@b\nBad Name: x\n"), 2, "field name"},
		{"long line", crlf("From: a@b\nSubject: " + strings.Repeat("x", 990) + "\n"), 2, "998"},
		{"longest line", crlf("Subject: " + strings.Repeat("x", 989) + "\n"), 0, ""},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			err := Check([]byte(tt.in))
			if tt.want == "" {
				if err != nil {
					t.Fatalf("Check: %v", err)
				}
				if _, err := Parse([]byte(tt.in)); err != nil {
					t.Errorf("Check passed, Parse failed: %v", err)
				}
				return
			}
			var se *SyntaxError
			if !errors.As(err, &se) {
				t.Fatalf("err = %v, want a *SyntaxError", err)
			}
			if se.Line != tt.line || !strings.Contains(se.Error(), tt.want) {
				t.Errorf("err = line %d %q, want line %d and %q", se.Line, se, tt.line, tt.want)
			}
		})
	}
}
