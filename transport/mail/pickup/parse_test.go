package pickup

import (
	"bytes"
	"errors"
	"io"
	"slices"
	"strings"
	"testing"
	"testing/iotest"
	"time"
)

func crlf(s string) string { return strings.ReplaceAll(s, "\n", "\r\n") }

func TestParse(t *testing.T) {
	tests := []struct {
		name     string
		in       string
		maxSize  int64
		wantFrom string
		wantRcpt []string
		wantMsg  string // "" means: not checked
		wantErr  string // substring of the error; "" means success
	}{
		{
			name:     "simple",
			in:       crlf("From: Alice <alice@contoso.com>\nTo: bob@example.org\nSubject: hi\n\nHello\n"),
			wantFrom: "alice@contoso.com",
			wantRcpt: []string{"bob@example.org"},
			wantMsg:  crlf("From: Alice <alice@contoso.com>\nTo: bob@example.org\nSubject: hi\n\nHello\n"),
		},
		{
			name:     "bare LF normalised, final line ending added",
			in:       "From: alice@contoso.com\nTo: bob@example.org\n\nline1\nline2\rline3",
			wantFrom: "alice@contoso.com",
			wantRcpt: []string{"bob@example.org"},
			wantMsg:  "From: alice@contoso.com\r\nTo: bob@example.org\r\n\r\nline1\r\nline2\r\nline3\r\n",
		},
		{
			name:     "Bcc stripped, To Cc Bcc recipients, duplicates merged",
			in:       crlf("From: alice@contoso.com\nTo: Bob <bob@example.org>, carol@Example.NET\nCc: bob@example.org\nBcc: secret@example.org,\n  other@example.org\nSubject: x\n\nbody\n"),
			wantFrom: "alice@contoso.com",
			wantRcpt: []string{"bob@example.org", "carol@example.net", "secret@example.org", "other@example.org"},
			wantMsg:  crlf("From: alice@contoso.com\nTo: Bob <bob@example.org>, carol@Example.NET\nCc: bob@example.org\nSubject: x\n\nbody\n"),
		},
		{
			name:     "X-Sender and X-Receiver honoured and removed",
			in:       crlf("X-Sender: <app@contoso.com>\nX-Receiver: <ops@contoso.com>\nx-receiver: dba@contoso.com\nFrom: noreply@contoso.com\nTo: list@contoso.com\nSubject: alert\n\nbody\n"),
			wantFrom: "app@contoso.com",
			wantRcpt: []string{"ops@contoso.com", "dba@contoso.com"},
			wantMsg:  crlf("From: noreply@contoso.com\nTo: list@contoso.com\nSubject: alert\n\nbody\n"),
		},
		{
			name:     "X-Sender only: recipients from To",
			in:       crlf("X-Sender: bounce@contoso.com\nFrom: a@contoso.com\nTo: b@example.org\n\n"),
			wantFrom: "bounce@contoso.com",
			wantRcpt: []string{"b@example.org"},
		},
		{
			name:     "null sender from X-Sender",
			in:       crlf("X-Sender: <>\nX-Receiver: <b@example.org>\n\nbody\n"),
			wantFrom: "",
			wantRcpt: []string{"b@example.org"},
			wantMsg:  crlf("\nbody\n"),
		},
		{
			name:     "Sender wins over From",
			in:       crlf("From: a@contoso.com, b@contoso.com\nSender: sec@contoso.com\nTo: x@example.org\n\n"),
			wantFrom: "sec@contoso.com",
			wantRcpt: []string{"x@example.org"},
		},
		{
			name:     "group syntax and encoded names",
			in:       crlf("From: =?utf-8?q?J=C3=B6rg?= <j@contoso.com>\nTo: undisclosed-recipients:;\nCc: team: a@example.org, =?x-unknown?q?x?= <b@example.org>;\n\n"),
			wantFrom: "j@contoso.com",
			wantRcpt: []string{"a@example.org", "b@example.org"},
		},
		{
			name:     "obsolete space before colon",
			in:       crlf("From : a@contoso.com\nTo : b@example.org\nBcc : c@example.org\n\n"),
			wantFrom: "a@contoso.com",
			wantRcpt: []string{"b@example.org", "c@example.org"},
			wantMsg:  crlf("From : a@contoso.com\nTo : b@example.org\n\n"),
		},
		{
			name:     "no body and no empty line",
			in:       "From: a@contoso.com\r\nTo: b@example.org\r\n",
			wantFrom: "a@contoso.com",
			wantRcpt: []string{"b@example.org"},
			wantMsg:  "From: a@contoso.com\r\nTo: b@example.org\r\n\r\n",
		},
		{
			name:     "size at the limit",
			in:       crlf("From: a@contoso.com\nTo: b@example.org\n\n"),
			maxSize:  int64(len(crlf("From: a@contoso.com\nTo: b@example.org\n\n"))),
			wantFrom: "a@contoso.com",
			wantRcpt: []string{"b@example.org"},
		},
		{name: "empty file", in: "", wantErr: "empty"},
		{name: "no recipients", in: crlf("From: a@contoso.com\nSubject: x\n\n"), wantErr: "no recipients"},
		{name: "empty To only", in: crlf("From: a@contoso.com\nTo:\n\n"), wantErr: "no recipients"},
		{name: "no sender", in: crlf("To: b@example.org\n\n"), wantErr: "no sender"},
		{name: "unparsable To", in: crlf("From: a@contoso.com\nTo: bob at example\n\n"), wantErr: "To:"},
		{name: "relay trick refused", in: crlf("From: a@contoso.com\nTo: \"x%y\"@example.org\n\n"), wantErr: "address refused"},
		{name: "unparsable X-Sender", in: crlf("X-Sender: <<>\nTo: b@example.org\n\n"), wantErr: "X-Sender"},
		{name: "two X-Senders", in: crlf("X-Sender: a@contoso.com\nX-Sender: b@contoso.com\nTo: b@example.org\n\n"), wantErr: "X-Sender"},
		{name: "unparsable X-Receiver", in: crlf("X-Sender: a@contoso.com\nX-Receiver: nope\n\n"), wantErr: "X-Receiver"},
		{name: "From with two addresses, no Sender", in: crlf("From: a@contoso.com, b@contoso.com\nTo: c@example.org\n\n"), wantErr: "Sender"},
		{name: "no separator", in: crlf("From: a@contoso.com\nTo: b@example.org\nHello Bob\n"), wantErr: "empty line between header and body is missing"},
		{name: "starts with white space", in: crlf(" From: a@contoso.com\nTo: b@example.org\n\n"), wantErr: "white space"},
		{name: "bad field name", in: crlf("From: a@contoso.com\nTo: b@example.org\nBad\x01Name: x\n\n"), wantErr: "field name"},
		{name: "empty field name", in: crlf("From: a@contoso.com\n: x\nTo: b@example.org\n\n"), wantErr: "empty field name"},
		{name: "header line too long", in: crlf("From: a@contoso.com\nTo: b@example.org\nSubject: " + strings.Repeat("x", 990) + "\n\n"), wantErr: "998"},
		{name: "NUL byte", in: crlf("From: a@contoso.com\nTo: b@example.org\n\nbo\x00dy\n"), wantErr: "NUL"},
		{name: "too big", in: crlf("From: a@contoso.com\nTo: b@example.org\n\nbody\n"), maxSize: 10, wantErr: "bigger than the limit of 10 bytes"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			env, msg, err := Parse(strings.NewReader(tt.in), tt.maxSize)
			if tt.wantErr != "" {
				if err == nil {
					t.Fatalf("Parse succeeded: %+v\n%q", env, msg)
				}
				if !errors.Is(err, ErrMalformed) {
					t.Errorf("error does not wrap ErrMalformed: %v", err)
				}
				if !strings.Contains(err.Error(), tt.wantErr) {
					t.Errorf("error %q lacks %q", err, tt.wantErr)
				}
				return
			}
			if err != nil {
				t.Fatalf("Parse: %v", err)
			}
			if env.From != tt.wantFrom {
				t.Errorf("From = %q, want %q", env.From, tt.wantFrom)
			}
			if !slices.Equal(env.Recipients, tt.wantRcpt) {
				t.Errorf("Recipients = %q, want %q", env.Recipients, tt.wantRcpt)
			}
			if tt.wantMsg != "" && string(msg) != tt.wantMsg {
				t.Errorf("message = %q, want %q", msg, tt.wantMsg)
			}
			checkOutput(t, msg)
		})
	}
}

func TestParseReadError(t *testing.T) {
	boom := errors.New("boom")
	_, _, err := Parse(iotest.ErrReader(boom), 0)
	if !errors.Is(err, boom) || errors.Is(err, ErrMalformed) {
		t.Errorf("err = %v, want the read error, not ErrMalformed", err)
	}
	// A reader bigger than maxSize is not read to its end.
	_, _, err = Parse(io.MultiReader(strings.NewReader("From: a@contoso.com\r\nTo: b@example.org\r\n\r\n"), iotest.ErrReader(boom)), 20)
	if !errors.Is(err, ErrMalformed) {
		t.Errorf("err = %v, want a size error", err)
	}
}

// checkOutput checks what every accepted message must be: CRLF only, an
// empty line after the header, and no Bcc, X-Sender or X-Receiver field.
func checkOutput(t testing.TB, msg []byte) {
	t.Helper()
	for i := 0; i < len(msg); i++ {
		switch msg[i] {
		case '\n':
			if i == 0 || msg[i-1] != '\r' {
				t.Fatalf("bare LF at %d: %q", i, msg)
			}
		case '\r':
			if i+1 >= len(msg) || msg[i+1] != '\n' {
				t.Fatalf("bare CR at %d: %q", i, msg)
			}
		}
	}
	if !bytes.HasSuffix(msg, []byte("\r\n")) {
		t.Fatalf("message does not end with CRLF: %q", msg)
	}
	header, _, found := bytes.Cut(msg, []byte("\r\n\r\n"))
	if !found && !bytes.HasPrefix(msg, []byte("\r\n")) {
		t.Fatalf("no empty line after the header: %q", msg)
	}
	for _, line := range bytes.Split(header, []byte("\r\n")) {
		name, _, ok := bytes.Cut(line, []byte(":"))
		if !ok || len(line) == 0 || line[0] == ' ' || line[0] == '\t' {
			continue
		}
		n := strings.TrimRight(string(name), " \t")
		for _, bad := range []string{"Bcc", "X-Sender", "X-Receiver"} {
			if strings.EqualFold(n, bad) {
				t.Fatalf("output has a %s field: %q", bad, msg)
			}
		}
	}
}

// RFC 6409 section 8: a message without Date or Message-ID gets them; one
// that has them (in any case) keeps its own, unchanged.
func TestComplete(t *testing.T) {
	now := time.Date(2026, 11, 23, 8, 0, 0, 0, time.UTC)
	_, msg, err := Parse(strings.NewReader("From: alice@contoso.com\nTo: bob@example.org\nSubject: hi\n\nbody\n\nmore\n"), 0)
	if err != nil {
		t.Fatal(err)
	}
	got := string(Complete(msg, "001A2089C7168000154E72DF2", "mail.contoso.com", now))
	want := crlf("From: alice@contoso.com\nTo: bob@example.org\nSubject: hi\nDate: Mon, 23 Nov 2026 08:00:00 +0000\nMessage-ID: <001A2089C7168000154E72DF2@mail.contoso.com>\n\nbody\n\nmore\n")
	if got != want {
		t.Fatalf("completed message:\n%q\nwant\n%q", got, want)
	}

	has := crlf("From: alice@contoso.com\nTo: bob@example.org\nDATE: Sun, 22 Nov 2026 10:00:00 +0100\nmessage-id: <own@example.org>\n\nbody\n")
	_, msg, err = Parse(strings.NewReader(has), 0)
	if err != nil {
		t.Fatal(err)
	}
	if got := string(Complete(msg, "X", "mail.contoso.com", now)); got != has {
		t.Fatalf("a message with Date and Message-ID changed:\n%q", got)
	}

	_, msg, _ = Parse(strings.NewReader(crlf("From: alice@contoso.com\nTo: bob@example.org\nMessage-ID: <own@example.org>\n")), 0)
	if got := string(Complete(msg, "X", "h", now)); got != crlf("From: alice@contoso.com\nTo: bob@example.org\nMessage-ID: <own@example.org>\nDate: Mon, 23 Nov 2026 08:00:00 +0000\n\n") {
		t.Fatalf("header-only message: %q", got)
	}
}
