package smtpout

import (
	"bytes"
	"io"
	"strings"
	"testing"
	"testing/iotest"
)

// normalize is the reference: every CRLF, bare CR and bare LF becomes
// CRLF, and lines are broken with CRLF SPACE after 998 octets.
func normalize(s string) string {
	s = strings.ReplaceAll(s, "\r\n", "\n")
	s = strings.ReplaceAll(s, "\r", "\n")
	lines := strings.Split(s, "\n")
	for i, l := range lines {
		var b strings.Builder
		col := 0
		for j := 0; j < len(l); j++ {
			if col == maxLineLength {
				b.WriteString("\n ")
				col = 1
			}
			b.WriteByte(l[j])
			col++
		}
		lines[i] = b.String()
	}
	return strings.ReplaceAll(strings.Join(lines, "\n"), "\n", "\r\n")
}

func TestCRLFReader(t *testing.T) {
	long := strings.Repeat("x", 2500)
	tests := []string{"", "a", "a\r\nb\r\n", "a\nb\n", "a\rb\r", "\r\r\n\n", "\n.\n", "x\r", "\r\n\r\n.\r\n",
		long, "h: " + long + "\r\n\r\n" + long + "\r\n", strings.Repeat("y", 998) + "\r\n" + strings.Repeat(".", 999)}
	for _, in := range tests {
		for _, wrap := range []func(io.Reader) io.Reader{
			func(r io.Reader) io.Reader { return r },
			iotest.OneByteReader,
			iotest.HalfReader,
			iotest.DataErrReader,
		} {
			got, err := io.ReadAll(newCRLFReader(wrap(strings.NewReader(in))))
			if err != nil || string(got) != normalize(in) {
				t.Errorf("crlf(%q) = %q, %v; want %q", in, got, err, normalize(in))
			}
		}
	}
	// A one-byte destination buffer must not lose the LF of a CRLF pair.
	r := newCRLFReader(iotest.DataErrReader(strings.NewReader("a\nb\r")))
	var out bytes.Buffer
	p := make([]byte, 1)
	for {
		n, err := r.Read(p)
		out.Write(p[:n])
		if err != nil {
			break
		}
	}
	if out.String() != "a\r\nb\r\n" {
		t.Errorf("one-byte reads: %q", out.String())
	}
}

func FuzzCRLFReader(f *testing.F) {
	for _, s := range []string{"a\r\nb", "\n.\n", "\r\r\n", "x\ry\nz"} {
		f.Add(s, uint8(3))
	}
	f.Add(strings.Repeat("z", 1000)+"\n.", uint8(1))
	f.Fuzz(func(t *testing.T, in string, size uint8) {
		r := newCRLFReader(iotest.HalfReader(strings.NewReader(in)))
		var out bytes.Buffer
		p := make([]byte, int(size%16)+1)
		for {
			n, err := r.Read(p)
			out.Write(p[:n])
			if err == io.EOF {
				break
			}
			if err != nil {
				t.Fatal(err)
			}
		}
		if out.String() != normalize(in) {
			t.Fatalf("crlf(%q) = %q, want %q", in, out.String(), normalize(in))
		}
	})
}

func TestLongLinesWrapped(t *testing.T) {
	got, err := io.ReadAll(newCRLFReader(strings.NewReader(strings.Repeat("x", 998) + "." + "\r\n")))
	if err != nil {
		t.Fatal(err)
	}
	if want := strings.Repeat("x", 998) + "\r\n .\r\n"; string(got) != want {
		t.Errorf("wrapped = %q", got[990:])
	}
	for _, l := range strings.Split(string(got), "\r\n") {
		if len(l) > maxLineLength {
			t.Errorf("line of %d octets", len(l))
		}
	}
}

// dotStuffed is the reference for the data as written to the connection:
// normalize, then a second "." for every line that starts with one
// (RFC 5321 section 4.5.2).
// The stuffed dot counts towards the line length.
func dotStuffed(s string) string {
	s = strings.ReplaceAll(s, "\r\n", "\n")
	lines := strings.Split(strings.ReplaceAll(s, "\r", "\n"), "\n")
	for i, l := range lines {
		if strings.HasPrefix(l, ".") {
			lines[i] = "." + l
		}
	}
	return normalize(strings.Join(lines, "\n"))
}

func TestCRLFReaderWriteToAndDotStuff(t *testing.T) {
	long := strings.Repeat("x", 2500)
	tests := []string{"", ".", "..", "a\r\n.\r\nb", ".a\n.b\r..c", "x\r.", long + "\n." + long, "." + strings.Repeat("y", 998) + "\r\n"}
	for _, in := range tests {
		for _, stuff := range []bool{false, true} {
			want := normalize(in)
			if stuff {
				want = dotStuffed(in)
			}
			r := newCRLFReader(iotest.HalfReader(strings.NewReader(in)))
			r.dotStuff = stuff
			var out bytes.Buffer
			n, err := io.Copy(&out, r)
			if err != nil || out.String() != want || n != int64(len(want)) {
				t.Errorf("stuff=%v crlf(%q) = %q (%d), %v; want %q", stuff, in, out.String(), n, err, want)
			}
			if r.atLineStart() != (want == "" || strings.HasSuffix(want, "\r\n")) {
				t.Errorf("atLineStart() = %v after %q", r.atLineStart(), want)
			}
		}
	}
	// A read error of the source comes back from WriteTo.
	r := newCRLFReader(iotest.TimeoutReader(strings.NewReader(long)))
	if _, err := io.Copy(io.Discard, r); err != iotest.ErrTimeout {
		t.Errorf("WriteTo error = %v, want the source's", err)
	}
}

// TestCRLFReaderAllocations: sending a message costs a handful of
// allocations, not one per append or a 32 KB io.Copy buffer per message.
func TestCRLFReaderAllocations(t *testing.T) {
	body := strings.Repeat("Some text of a message line, 60 octets or so, as usual.\r\n", 70)
	allocs := testing.AllocsPerRun(50, func() {
		r := newCRLFReader(strings.NewReader(body))
		r.dotStuff = true
		if _, err := io.Copy(io.Discard, r); err != nil {
			t.Fatal(err)
		}
		r.release()
	})
	if allocs > 4 {
		t.Errorf("%.0f allocations to send a 4 KB message", allocs)
	}
}

func BenchmarkCRLFReader(b *testing.B) {
	body := strings.Repeat("Some text of a message line, 60 octets or so, as usual.\r\n", 70)
	b.SetBytes(int64(len(body)))
	b.ReportAllocs()
	for b.Loop() {
		r := newCRLFReader(strings.NewReader(body))
		if _, err := io.Copy(io.Discard, r); err != nil {
			b.Fatal(err)
		}
		r.release()
	}
}

// FuzzCRLFDotStuff: the data as pipelined transactions write it equals
// the reference, whatever the message and however it is read.
func FuzzCRLFDotStuff(f *testing.F) {
	for _, s := range []string{".", "a\r\n.\r\nb", "\n.\n..\r.x", strings.Repeat("q", 1000) + "\n." + strings.Repeat("r", 998)} {
		f.Add(s)
	}
	f.Fuzz(func(t *testing.T, in string) {
		r := newCRLFReader(iotest.HalfReader(strings.NewReader(in)))
		r.dotStuff = true
		var out bytes.Buffer
		if _, err := r.WriteTo(&out); err != nil {
			t.Fatal(err)
		}
		r.release()
		if out.String() != dotStuffed(in) {
			t.Fatalf("stuffed(%q) = %q, want %q", in, out.String(), dotStuffed(in))
		}
	})
}
