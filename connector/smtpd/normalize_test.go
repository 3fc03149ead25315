package smtpd

import (
	"bytes"
	"errors"
	"io"
	"strings"
	"testing"
)

// normalize runs the receive path's reading of message data: the
// normalizer, then readHeader's header limits.
func normalize(in string, maxHeader int64, maxHops int) (string, error) {
	var out bytes.Buffer
	h, rest, err := readHeader(newNormalizer(strings.NewReader(in), nil), maxHeader, maxHops)
	out.Write(h.section)
	if err != nil {
		return out.String(), err
	}
	_, err = io.Copy(&out, rest)
	return out.String(), err
}

func TestNormalizer(t *testing.T) {
	tests := []struct {
		name, in, want string
		err            error
	}{
		{"crlf kept", "Subject: a\r\n\r\nbody\r\n", "Subject: a\r\n\r\nbody\r\n", nil},
		{"bare lf becomes crlf", "Subject: a\n\nline1\nline2\n", "Subject: a\r\n\r\nline1\r\nline2\r\n", nil},
		{"bare cr becomes crlf", "Subject: a\r\n\r\nx\ry\r\n", "Subject: a\r\n\r\nx\r\ny\r\n", nil},
		{"unterminated last line", "Subject: a\r\n\r\nbody", "Subject: a\r\n\r\nbody\r\n", nil},
		{"empty", "", "", nil},
		{"lone dot with crlf is content", "S: a\r\n\r\n.\r\nmore\r\n", "S: a\r\n\r\n.\r\nmore\r\n", nil},
		{"smuggling lf dot lf", "S: a\r\n\r\nx\n.\nMAIL FROM:<a@b>\r\n", "", errSmuggling},
		{"smuggling lf dot crlf", "S: a\r\n\r\nx\n.\r\nMAIL FROM:<a@b>\r\n", "", errSmuggling},
		{"smuggling crlf dot lf", "S: a\r\n\r\nx\r\n.\nMAIL FROM:<a@b>\r\n", "", errSmuggling},
		{"smuggling cr dot cr", "S: a\r\n\r\nx\r.\rMAIL FROM:<a@b>\r\n", "", errSmuggling},
		{"smuggling lf dot at end of data", "S: a\r\n\r\nx\n.", "", errSmuggling},
		{"dot text with bare lf is fine", "S: a\r\n\r\nx\n.y\n", "S: a\r\n\r\nx\r\n.y\r\n", nil},
		{"hops within limit", "Received: a\r\nReceived: b\r\n\r\nx\r\n", "Received: a\r\nReceived: b\r\n\r\nx\r\n", nil},
		{"hops over limit", "Received: a\r\nRECEIVED: b\r\nreceived: c\r\n\r\nx\r\n", "", errTooManyHops},
		{"received in body not counted", "S: a\r\n\r\nReceived: a\r\nReceived: b\r\nReceived: c\r\n", "S: a\r\n\r\nReceived: a\r\nReceived: b\r\nReceived: c\r\n", nil},
		{"header too large", "Subject: " + strings.Repeat("x", 200) + "\r\n\r\nbody\r\n", "", errHeaderTooLarge},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			got, err := normalize(tc.in, int64(100+len("Subject: ")+8), 2)
			if tc.err != nil {
				if !errors.Is(err, tc.err) {
					t.Fatalf("err = %v, want %v", err, tc.err)
				}
				return
			}
			if err != nil {
				t.Fatalf("unexpected error %v", err)
			}
			if got != tc.want {
				t.Fatalf("got %q, want %q", got, tc.want)
			}
		})
	}
}

func TestNormalizerLongLineStreams(t *testing.T) {
	// A 5 MB line must pass through without being held whole.
	in := "S: a\r\n\r\n" + strings.Repeat("y", 5<<20) + "\r\n"
	n, err := io.Copy(io.Discard, newNormalizer(strings.NewReader(in), nil))
	if err != nil || n != int64(len(in)) {
		t.Fatalf("copied %d bytes, err %v; want %d", n, err, len(in))
	}
}

// FuzzNormalizer checks that whatever arrives, the output has no bare CR or
// LF and never contains a lone "." line unless the input had it framed by
// CRLF on both sides.
func FuzzNormalizer(f *testing.F) {
	for _, s := range []string{"a\r\n\r\nb\r\n", "x\n.\n", "\r.\r", "Received: x\r\n\r\n", "\r\r\n\n"} {
		f.Add(s)
	}
	f.Fuzz(func(t *testing.T, in string) {
		out, err := normalize(in, 1<<16, 30)
		if err != nil {
			return
		}
		for i := 0; i < len(out); i++ {
			switch out[i] {
			case '\r':
				if i+1 >= len(out) || out[i+1] != '\n' {
					t.Fatalf("bare CR in output %q", out)
				}
			case '\n':
				if i == 0 || out[i-1] != '\r' {
					t.Fatalf("bare LF in output %q", out)
				}
			}
		}
		if len(in) > 0 && !strings.HasSuffix(out, "\r\n") {
			t.Fatalf("output %q does not end with CRLF", out)
		}
	})
}

// refNormalize is the reference for the normalizer: the byte-at-a-time
// state machine it replaced, without the header checks (readHeader's
// now). It returns the output, or the refusal.
func refNormalize(in string) (string, error) {
	var out []byte
	pendingCR, prevBare, lineIsDot, lineLen := false, false, false, 0
	endLine := func(bare bool) error {
		if lineIsDot && lineLen == 1 && (bare || prevBare) {
			return errSmuggling
		}
		out = append(out, '\r', '\n')
		prevBare, lineLen, lineIsDot = bare, 0, false
		return nil
	}
	for i := 0; i < len(in); i++ {
		b := in[i]
		if pendingCR {
			pendingCR = false
			if b == '\n' {
				if err := endLine(false); err != nil {
					return "", err
				}
				continue
			}
			if err := endLine(true); err != nil {
				return "", err
			}
		}
		switch b {
		case '\r':
			pendingCR = true
			continue
		case '\n':
			if err := endLine(true); err != nil {
				return "", err
			}
			continue
		}
		lineIsDot = lineLen == 0 && b == '.'
		lineLen++
		out = append(out, b)
	}
	if pendingCR {
		if err := endLine(true); err != nil {
			return "", err
		}
	} else if lineLen > 0 {
		if err := endLine(false); err != nil {
			return "", err
		}
	}
	return string(out), nil
}

// FuzzNormalizerDifferential checks the normalizer against refNormalize
// however the input arrives (chunk sizes) and is read (buffer sizes, the
// input buffer too): the same output, or the same refusal.
func FuzzNormalizerDifferential(f *testing.F) {
	for _, s := range []string{"a\r\n\r\nb\r\n", "x\n.\n", "\r.\r", ".\r\n", "x\r\n.", "\r\r\n\n", "a\rb\nc\r\n.\r\n", "..\r\n.\n"} {
		f.Add(s, uint8(0), uint8(0), uint8(0))
		f.Add(s, uint8(1), uint8(1), uint8(2))
	}
	f.Fuzz(func(t *testing.T, in string, chunk, bufSize, inSize uint8) {
		want, wantErr := refNormalize(in)
		var r io.Reader = strings.NewReader(in)
		if chunk > 0 {
			r = &chunkReader{r: r, n: int(chunk)}
		}
		var nbuf []byte
		if inSize > 0 {
			nbuf = make([]byte, inSize)
		}
		n := newNormalizer(r, nbuf)
		p := make([]byte, int(bufSize)+1)
		var got []byte
		var err error
		for {
			var k int
			k, err = n.Read(p)
			got = append(got, p[:k]...)
			if err != nil {
				break
			}
		}
		if wantErr != nil {
			if !errors.Is(err, wantErr) {
				t.Fatalf("%q: err %v, want %v", in, err, wantErr)
			}
			return
		}
		if err != io.EOF || string(got) != want {
			t.Fatalf("%q (chunk %d, buf %d, in %d): got %q, %v; want %q", in, chunk, bufSize+1, inSize, got, err, want)
		}
	})
}
