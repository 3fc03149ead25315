package smtpd

import (
	"bufio"
	"errors"
	"io"
	"strings"
	"testing"
	"testing/iotest"
)

// refData is the reference for dataReader, written from RFC 5321 with no
// state machine: the data ends at the first CRLF "." CRLF of CRLF+in, and
// every line of it (pieces between CRLFs) loses a leading dot, except a
// dot followed by a bare CR or LF (kept for the smuggling check). It
// returns the data and how many bytes of in it took, or -1 when in has
// no end marker.
func refData(in string) (string, int) {
	s := "\r\n" + in
	i := strings.Index(s, "\r\n.\r\n")
	if i < 0 {
		return "", -1
	}
	lines := strings.Split(in[:i], "\r\n")
	for j, l := range lines {
		if strings.HasPrefix(l, ".") && !(len(l) > 1 && (l[1] == '\n' || l[1] == '\r')) {
			lines[j] = l[1:]
		}
	}
	return strings.Join(lines, "\r\n"), i + 3
}

// streamData runs dataReader over in, delivered in chunks of chunk bytes
// and read into buffers of size bufSize.
func streamData(in string, chunk, bufSize int) (string, int) {
	src := strings.NewReader(in)
	var r io.Reader = src
	if chunk > 0 {
		r = iotest.OneByteReader(r)
		if chunk > 1 {
			r = &chunkReader{r: src, n: chunk}
		}
	}
	br := bufio.NewReaderSize(r, 16)
	d := newDataReader(br)
	var out strings.Builder
	p := make([]byte, bufSize)
	for {
		n, err := d.Read(p)
		out.WriteString(string(p[:n]))
		if err == io.EOF {
			break
		}
		if err != nil {
			if errors.Is(err, io.ErrUnexpectedEOF) {
				return "", -1
			}
			panic(err)
		}
	}
	return out.String(), len(in) - src.Len() - br.Buffered()
}

type chunkReader struct {
	r io.Reader
	n int
}

func (c *chunkReader) Read(p []byte) (int, error) {
	if len(p) > c.n {
		p = p[:c.n]
	}
	return c.r.Read(p)
}

func TestDataReaderMatchesReference(t *testing.T) {
	for _, in := range []string{
		"a\r\n.\r\nMAIL", ".\r\n", "x\r\r\n.\r\nQUIT", ".\r\r\n.\r\nX", "a\n.\r\nb\r\n.\r\n", "a\r\n..\r\n.\r\n",
		"a\r\n.\n.\r\n", "a\r\n.x\r\n.\r\n", "\r\n\r\n.\r\n", "abc", "a\r\n.\rb\r\n.\r\n", "..\r\n.\r\n",
	} {
		wantBody, wantEnd := refData(in)
		for _, chunk := range []int{0, 1, 3, 64} {
			for _, size := range []int{1, 2, 5, 4096} {
				if body, end := streamData(in, chunk, size); end != wantEnd || body != wantBody {
					t.Errorf("%q (chunks of %d, reads of %d): %q ending at %d, reference %q ending at %d", in, chunk, size, body, end, wantBody, wantEnd)
				}
			}
		}
	}
}

// FuzzDataEnd is the differential guard of DATA: the streaming reader
// and the reference must agree where the data ends and what it holds, in
// any chunking, or the server and the next one would read the rest of the
// connection differently.
func FuzzDataEnd(f *testing.F) {
	f.Add("a\r\n.\r\nMAIL", 7, 3)
	f.Add(".\r\r\n.\r\n", 1, 1)
	f.Add("a\r\n.\n.\r\n", 2, 2)
	f.Fuzz(func(t *testing.T, in string, chunk, size int) {
		if chunk < 0 || chunk > 4096 {
			chunk = 7
		}
		if size < 1 || size > 4096 {
			size = 5
		}
		wantBody, wantEnd := refData(in)
		if body, end := streamData(in, chunk, size); end != wantEnd || body != wantBody {
			t.Fatalf("%q: %q ending at %d, reference %q ending at %d", in, body, end, wantBody, wantEnd)
		}
	})
}
