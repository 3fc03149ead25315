package mtasts

import (
	"strings"
	"testing"
	"time"
)

func TestParse(t *testing.T) {
	p, err := Parse([]byte("version: STSv1\nmode: enforce\nmx: mail.example.com\nmx: *.Example.NET.\nmax_age: 604800\nextension: ignored\n"))
	if err != nil {
		t.Fatal(err)
	}
	if p.Mode != Enforce || p.MaxAge != 7*24*time.Hour || len(p.MX) != 2 {
		t.Fatalf("%+v", p)
	}
	for mx, want := range map[string]bool{
		"mail.example.com": true, "MAIL.example.com.": true, "x.example.net": true,
		"example.net": false, "a.b.example.net": false, "mail2.example.com": false, ".example.net": false,
	} {
		if got := p.Match(mx); got != want {
			t.Errorf("Match(%q) = %v, want %v", mx, got, want)
		}
	}
	for _, bad := range []string{
		"mode: enforce\nmx: a\nmax_age: 1\n",                  // no version
		"version: STSv2\nmode: enforce\nmx: a\nmax_age: 1\n",  // wrong version
		"version: STSv1\nmode: strict\nmx: a\nmax_age: 1\n",   // unknown mode
		"version: STSv1\nmode: enforce\nmax_age: 1\n",         // no mx
		"version: STSv1\nmode: enforce\nmx: a\nmax_age: -1\n", // bad max_age
		"version: STSv1\nmode: enforce\nmx: a\nmax_age: 99999999999\n",
		"version: STSv1\nmode: enforce\nmx: a\n",            // no max_age
		"version: STSv1\nmode enforce\nmx: a\nmax_age: 1\n", // no colon
	} {
		if _, err := Parse([]byte(bad)); err == nil {
			t.Errorf("Parse(%q) accepted", bad)
		}
	}
	if p, err := Parse([]byte("version: STSv1\r\nmode: none\r\nmax_age: 0\r\n")); err != nil || p.Mode != None {
		t.Errorf("mode none without mx: %+v, %v", p, err)
	}
}

// FuzzParse: policies come from the network; Parse must not panic, and
// whatever it accepts has a mode and, unless none, an mx.
func FuzzParse(f *testing.F) {
	f.Add([]byte("version: STSv1\nmode: enforce\nmx: mail.example.com\nmax_age: 604800\n"))
	f.Add([]byte("version: STSv1\r\nmode: testing\r\nmx: *.example.net\r\nmax_age: 1\r\n"))
	f.Fuzz(func(t *testing.T, b []byte) {
		p, err := Parse(b)
		if err != nil {
			return
		}
		if p.Mode == "" || (p.Mode != None && len(p.MX) == 0) || p.MaxAge < 0 {
			t.Fatalf("accepted %q as %+v", b, p)
		}
		for _, mx := range p.MX {
			_ = p.Match(strings.TrimPrefix(mx, "*."))
		}
	})
}
