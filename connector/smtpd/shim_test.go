package smtpd

import (
	"bufio"
	"strings"
	"testing"
)

// goSMTPDataEnd transcribes go-smtp v0.25.1's dataReader state machine
// (data.go) byte by byte: it returns how many bytes of in belong to the
// data including the final CRLF "." CRLF, or -1 when the data has not ended.
func goSMTPDataEnd(in string) int {
	const (
		stateBeginLine = iota
		stateDot
		stateDotCR
		stateCR
		stateData
	)
	state := stateBeginLine
	for i := 0; i < len(in); i++ {
		c := in[i]
		switch state {
		case stateBeginLine:
			if c == '.' {
				state = stateDot
				continue
			}
			if c == '\r' {
				state = stateCR
				break
			}
			state = stateData
		case stateDot:
			if c == '\r' {
				state = stateDotCR
				continue
			}
			state = stateData
		case stateDotCR:
			if c == '\n' {
				return i + 1
			}
			state = stateData
		case stateCR:
			if c == '\n' {
				state = stateBeginLine
				break
			}
			state = stateData
		case stateData:
			if c == '\r' {
				state = stateCR
			}
		}
	}
	return -1
}

func shimDataEnd(t testing.TB, in string, chunk int) int {
	s := &shimConn{br: bufio.NewReaderSize(strings.NewReader(in), 16), dataMode: true}
	total := 0
	p := make([]byte, chunk)
	for s.dataMode {
		n, err := s.readData(p)
		total += n
		if err != nil {
			return -1
		}
	}
	return total
}

// The shim must end DATA exactly where go-smtp does, or the two would read
// the rest of the connection differently.
func TestShimDataEndMatchesGoSMTP(t *testing.T) {
	// Cases worked out by hand: a CR that follows ".\r" or another CR does
	// not start a line in go-smtp, so no end there.
	for in, want := range map[string]int{"x\r\r\n.\r\nQUIT": -1, ".\r\r\n.\r\nX": -1, "a\r\n.\r\nMAIL": 6, ".\r\n": 3} {
		if got := goSMTPDataEnd(in); got != want {
			t.Fatalf("reference: %q ends at %d, want %d", in, got, want)
		}
	}
	for _, in := range []string{
		"a\r\n.\r\nMAIL", ".\r\n", "x\r\r\n.\r\nQUIT", ".\r\r\n.\r\nX", "a\n.\r\nb\r\n.\r\n", "a\r\n..\r\n.\r\n",
		"a\r\n.\n.\r\n", "a\r\n.x\r\n.\r\n", "\r\n\r\n.\r\n", "abc",
	} {
		for _, chunk := range []int{1, 3, 64} {
			if got, want := shimDataEnd(t, in, chunk), goSMTPDataEnd(in); got != want {
				t.Errorf("%q (chunks of %d): shim ends at %d, go-smtp at %d", in, chunk, got, want)
			}
		}
	}
}

func FuzzShimDataEnd(f *testing.F) {
	f.Add("a\r\n.\r\nMAIL", 7)
	f.Add(".\r\r\n.\r\n", 1)
	f.Fuzz(func(t *testing.T, in string, chunk int) {
		if chunk < 1 || chunk > 4096 {
			chunk = 7
		}
		if got, want := shimDataEnd(t, in, chunk), goSMTPDataEnd(in); got != want {
			t.Fatalf("%q: shim ends at %d, go-smtp at %d", in, got, want)
		}
	})
}
