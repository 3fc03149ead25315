package iprange

import (
	"encoding/json"
	"net/netip"
	"strings"
	"testing"
)

func mustAddr(t *testing.T, s string) netip.Addr {
	t.Helper()
	a, err := netip.ParseAddr(s)
	if err != nil {
		t.Fatalf("ParseAddr(%q): %v", s, err)
	}
	return a
}

func TestParse(t *testing.T) {
	tests := []struct {
		in          string
		first, last string
		str         string
	}{
		{"192.168.1.10", "192.168.1.10", "192.168.1.10", "192.168.1.10"},
		{"  192.168.1.10\t", "192.168.1.10", "192.168.1.10", "192.168.1.10"},
		{"192.168.1.0/24", "192.168.1.0", "192.168.1.255", "192.168.1.0/24"},
		{"192.168.1.5/24", "192.168.1.0", "192.168.1.255", "192.168.1.0/24"},
		{"192.168.1.1-192.168.1.50", "192.168.1.1", "192.168.1.50", "192.168.1.1-192.168.1.50"},
		{"192.168.1.1 - 192.168.1.50", "192.168.1.1", "192.168.1.50", "192.168.1.1-192.168.1.50"},
		{"10.0.0.0-10.255.255.255", "10.0.0.0", "10.255.255.255", "10.0.0.0/8"},
		{"1.2.3.4-1.2.3.4", "1.2.3.4", "1.2.3.4", "1.2.3.4"},
		{"1.2.3.4/32", "1.2.3.4", "1.2.3.4", "1.2.3.4"},
		{"0.0.0.0/0", "0.0.0.0", "255.255.255.255", "0.0.0.0/0"},
		{"0.0.0.0-255.255.255.255", "0.0.0.0", "255.255.255.255", "0.0.0.0/0"},
		{"::1", "::1", "::1", "::1"},
		{"[::1]", "::1", "::1", "::1"},
		{"[2001:db8::]/32", "2001:db8::", "2001:db8:ffff:ffff:ffff:ffff:ffff:ffff", "2001:db8::/32"},
		{"2001:db8::/32", "2001:db8::", "2001:db8:ffff:ffff:ffff:ffff:ffff:ffff", "2001:db8::/32"},
		{"2001:db8::1/64", "2001:db8::", "2001:db8::ffff:ffff:ffff:ffff", "2001:db8::/64"},
		{"2001:db8::/63", "2001:db8::", "2001:db8:0:1:ffff:ffff:ffff:ffff", "2001:db8::/63"},
		{"2001:db8::/65", "2001:db8::", "2001:db8::7fff:ffff:ffff:ffff", "2001:db8::/65"},
		{"fe80::1-fe80::ff", "fe80::1", "fe80::ff", "fe80::1-fe80::ff"},
		{"[fe80::1]-[fe80::ff]", "fe80::1", "fe80::ff", "fe80::1-fe80::ff"},
		{"::/0", "::", "ffff:ffff:ffff:ffff:ffff:ffff:ffff:ffff", "::/0"},
		{"::-ffff:ffff:ffff:ffff:ffff:ffff:ffff:ffff", "::", "ffff:ffff:ffff:ffff:ffff:ffff:ffff:ffff", "::/0"},
		// IPv4-mapped IPv6 is folded into IPv4.
		{"::ffff:1.2.3.4", "1.2.3.4", "1.2.3.4", "1.2.3.4"},
		{"::ffff:10.0.0.0/104", "10.0.0.0", "10.255.255.255", "10.0.0.0/8"},
		{"::ffff:1.2.3.4-::ffff:1.2.3.9", "1.2.3.4", "1.2.3.9", "1.2.3.4-1.2.3.9"},
		// An IPv6 range that merely ends in the mapped space stays IPv6.
		{"::-::ffff:1.2.3.4", "::", "::ffff:1.2.3.4", "::-::ffff:1.2.3.4"},
	}
	for _, tc := range tests {
		t.Run(tc.in, func(t *testing.T) {
			r, err := Parse(tc.in)
			if err != nil {
				t.Fatalf("Parse: %v", err)
			}
			want := Range{First: mustAddr(t, tc.first), Last: mustAddr(t, tc.last)}
			if r != want {
				t.Fatalf("Parse = %v-%v, want %v-%v", r.First, r.Last, want.First, want.Last)
			}
			if got := r.String(); got != tc.str {
				t.Errorf("String = %q, want %q", got, tc.str)
			}
			back, err := Parse(r.String())
			if err != nil || back != r {
				t.Errorf("round trip: Parse(%q) = %v, %v", r.String(), back, err)
			}
		})
	}
}

func TestParseErrors(t *testing.T) {
	tests := []struct {
		in      string
		mention string // the error must contain this
	}{
		{"", "empty"},
		{"   ", "empty"},
		{"1.2.3", "bad address"},
		{"1.2.3.4-::1", "mixed address families"},
		{"::1-1.2.3.4", "mixed address families"},
		{"1.2.3.9-1.2.3.4", "reversed range"},
		{"fe80::ff-fe80::1", "reversed range"},
		{"1.2.3.0/33", "bad prefix length"},
		{"::/129", "bad prefix length"},
		{"1.2.3.0/", "bad prefix length"},
		{"1.2.3.0/-1", "bad address"}, // the "-" makes it a range
		{"1.2.3.0/+8", "bad prefix length"},
		{"1.2.3.0/08", "bad prefix length"},
		{"1.2.3.0/x", "bad prefix length"},
		{"/24", "missing address"},
		{"1.2.3.4-", "missing address"},
		{"-1.2.3.4", "missing address"},
		{"1.2.3.4-1.2.3.5-1.2.3.6", "bad address"},
		{"fe80::1%eth0", "zones are not allowed"},
		{"fe80::1%eth0-fe80::2", "zones are not allowed"},
		{"contoso.com", "bad address"},
		{"1.2.3.4/24/8", "bad prefix length"},
	}
	for _, tc := range tests {
		t.Run(tc.in, func(t *testing.T) {
			r, err := Parse(tc.in)
			if err == nil {
				t.Fatalf("Parse(%q) = %v, want error", tc.in, r)
			}
			if !strings.Contains(err.Error(), tc.mention) {
				t.Errorf("error %q does not mention %q", err, tc.mention)
			}
			if !strings.Contains(err.Error(), tc.in) {
				t.Errorf("error %q does not name the input %q", err, tc.in)
			}
		})
	}
}

func TestContains(t *testing.T) {
	tests := []struct {
		rng  string
		addr string
		want bool
	}{
		{"192.168.1.0/24", "192.168.1.0", true},
		{"192.168.1.0/24", "192.168.1.255", true},
		{"192.168.1.0/24", "192.168.2.0", false},
		{"192.168.1.0/24", "192.168.0.255", false},
		{"192.168.1.1-192.168.1.50", "192.168.1.50", true},
		{"192.168.1.1-192.168.1.50", "192.168.1.51", false},
		{"192.168.1.0/24", "::ffff:192.168.1.7", true}, // v4-mapped client
		{"192.168.1.0/24", "::ffff:192.168.2.7", false},
		{"192.168.1.0/24", "::192.168.1.7", false}, // IPv4-compatible is not mapped
		{"::/0", "1.2.3.4", false},
		{"::/0", "::ffff:1.2.3.4", false}, // unmapped first: it is IPv4
		{"0.0.0.0/0", "::1", false},
		{"2001:db8::/32", "2001:db8:1234::1", true},
		{"2001:db8::/32", "2001:db9::1", false},
		{"fe80::1-fe80::ff", "fe80::80", true},
		{"fe80::1-fe80::ff", "fe80::80%eth0", true},
		{"fe80::1-fe80::ff", "fe80::100", false},
		{"::1", "::1", true},
	}
	for _, tc := range tests {
		t.Run(tc.rng+"/"+tc.addr, func(t *testing.T) {
			r, err := Parse(tc.rng)
			if err != nil {
				t.Fatal(err)
			}
			if got := r.Contains(mustAddr(t, tc.addr)); got != tc.want {
				t.Errorf("Contains = %v, want %v", got, tc.want)
			}
		})
	}
	if (Range{}).Contains(netip.MustParseAddr("1.2.3.4")) {
		t.Error("zero Range contains an address")
	}
	r, _ := Parse("0.0.0.0/0")
	if r.Contains(netip.Addr{}) {
		t.Error("range contains the zero Addr")
	}
}

func TestCompare(t *testing.T) {
	tests := []struct {
		a, b string
		want int // sign
	}{
		{"1.2.3.4", "1.2.3.0/24", -1},
		{"1.2.3.0/24", "1.2.3.4", 1},
		{"1.2.3.0/24", "1.2.4.0/24", -1}, // same size: by First
		{"1.2.3.0/24", "1.2.3.0/24", 0},
		{"10.0.0.0-10.0.0.9", "10.0.0.0/28", -1}, // 10 < 16 addresses
		{"1.2.3.4", "::1", -1},                   // same size: IPv4 first
		{"::1", "1.2.3.4", 1},
		{"1.2.3.0/24", "2001:db8::/120", -1}, // 256 vs 256: IPv4 first
		{"1.2.3.0/24", "2001:db8::/121", 1},  // 256 vs 128
		{"2001:db8::/64", "2001:db8::/63", -1},
		{"::/0", "::/1", 1},
		{"::/0", "0.0.0.0/0", 1},
		{"::/1", "8000::/1", -1},
		// Sizes that differ only in the high 64 bits.
		{"::-0:0:0:1::", "::-0:0:0:2::", -1},
		// Sizes that need a borrow across the 64-bit boundary.
		{"0:0:0:1::ffff-0:0:0:2::", "0:0:0:1::-0:0:0:2::", -1},
	}
	for _, tc := range tests {
		t.Run(tc.a+" vs "+tc.b, func(t *testing.T) {
			a, err := Parse(tc.a)
			if err != nil {
				t.Fatal(err)
			}
			b, err := Parse(tc.b)
			if err != nil {
				t.Fatal(err)
			}
			got := a.Compare(b)
			if sign(got) != tc.want {
				t.Errorf("Compare = %d, want sign %d", got, tc.want)
			}
			if sign(b.Compare(a)) != -tc.want {
				t.Errorf("reverse Compare = %d, want sign %d", b.Compare(a), -tc.want)
			}
		})
	}
}

func sign(n int) int {
	switch {
	case n < 0:
		return -1
	case n > 0:
		return 1
	}
	return 0
}

func TestOverlapsContainsRange(t *testing.T) {
	tests := []struct {
		a, b       string
		overlaps   bool
		aContainsB bool
		bContainsA bool
	}{
		{"1.2.3.0/24", "1.2.3.4", true, true, false},
		{"1.2.3.0/24", "1.2.3.200-1.2.4.5", true, false, false},
		{"1.2.3.0/24", "1.2.4.0/24", false, false, false},
		{"1.2.3.0/24", "1.2.3.0/24", true, true, true},
		{"1.2.3.0-1.2.3.10", "1.2.3.10-1.2.3.20", true, false, false},
		{"0.0.0.0/0", "::/0", false, false, false},
		{"2001:db8::/32", "2001:db8:1::/48", true, true, false},
		{"fe80::1-fe80::ff", "fe80::ff-fe80::1ff", true, false, false},
		{"fe80::1-fe80::fe", "fe80::ff-fe80::1ff", false, false, false},
	}
	for _, tc := range tests {
		t.Run(tc.a+" vs "+tc.b, func(t *testing.T) {
			a, _ := Parse(tc.a)
			b, _ := Parse(tc.b)
			if got := a.Overlaps(b); got != tc.overlaps {
				t.Errorf("Overlaps = %v", got)
			}
			if got := b.Overlaps(a); got != tc.overlaps {
				t.Errorf("reverse Overlaps = %v", got)
			}
			if got := a.ContainsRange(b); got != tc.aContainsB {
				t.Errorf("a.ContainsRange(b) = %v", got)
			}
			if got := b.ContainsRange(a); got != tc.bContainsA {
				t.Errorf("b.ContainsRange(a) = %v", got)
			}
		})
	}
}

func TestAll(t *testing.T) {
	all := List(All())
	if got := all.String(); got != "0.0.0.0/0, ::/0" {
		t.Errorf("All = %q", got)
	}
	for _, s := range []string{"0.0.0.0", "255.255.255.255", "::", "ffff:ffff:ffff:ffff:ffff:ffff:ffff:ffff", "::ffff:8.8.8.8", "2001:db8::1"} {
		if !all.Contains(mustAddr(t, s)) {
			t.Errorf("All does not contain %s", s)
		}
	}
	a := All()
	a[0] = Range{}
	if All()[0] == (Range{}) {
		t.Error("All returns shared state")
	}
}

func TestParseListBest(t *testing.T) {
	l, err := ParseList("0.0.0.0-255.255.255.255, 10.0.0.0/8,10.1.0.0/16 ,10.1.2.3, ::/0, 2001:db8::/32, [2001:db8::25]")
	if err != nil {
		t.Fatal(err)
	}
	tests := []struct {
		addr string
		want string
		ok   bool
	}{
		{"10.1.2.3", "10.1.2.3", true},
		{"::ffff:10.1.2.3", "10.1.2.3", true},
		{"10.1.2.4", "10.1.0.0/16", true},
		{"10.2.0.1", "10.0.0.0/8", true},
		{"192.0.2.1", "0.0.0.0/0", true},
		{"2001:db8::25", "2001:db8::25", true},
		{"2001:db8::26", "2001:db8::/32", true},
		{"2001:db9::26", "::/0", true},
	}
	for _, tc := range tests {
		t.Run(tc.addr, func(t *testing.T) {
			r, ok := l.Best(mustAddr(t, tc.addr))
			if ok != tc.ok || r.String() != tc.want {
				t.Errorf("Best = %v, %v; want %v, %v", r, ok, tc.want, tc.ok)
			}
		})
	}
	if _, ok := (List{}).Best(mustAddr(t, "1.2.3.4")); ok {
		t.Error("empty list matched")
	}
	l2, _ := ParseList("10.0.0.0/8")
	if _, ok := l2.Best(mustAddr(t, "11.0.0.1")); ok {
		t.Error("non-member matched")
	}
}

func TestParseListErrors(t *testing.T) {
	for _, s := range []string{"1.2.3.4,", ",1.2.3.4", "1.2.3.4,,1.2.3.5", "1.2.3.4, bogus"} {
		if _, err := ParseList(s); err == nil {
			t.Errorf("ParseList(%q) succeeded", s)
		}
	}
	l, err := ParseList("  ")
	if err != nil || len(l) != 0 {
		t.Errorf("ParseList(blank) = %v, %v", l, err)
	}
}

func TestText(t *testing.T) {
	type cfg struct {
		Range  Range `json:"range"`
		Ranges List  `json:"ranges"`
	}
	var c cfg
	if err := json.Unmarshal([]byte(`{"range":"192.168.1.5/24","ranges":"10.0.0.1-10.0.0.3, ::1"}`), &c); err != nil {
		t.Fatal(err)
	}
	out, err := json.Marshal(c)
	if err != nil {
		t.Fatal(err)
	}
	if want := `{"range":"192.168.1.0/24","ranges":"10.0.0.1-10.0.0.3, ::1"}`; string(out) != want {
		t.Errorf("Marshal = %s, want %s", out, want)
	}
	if err := json.Unmarshal([]byte(`{"range":"1.2.3.4-::1"}`), &c); err == nil {
		t.Error("bad range unmarshalled")
	}
	if _, err := (Range{}).MarshalText(); err == nil {
		t.Error("zero Range marshalled")
	}
}

func FuzzParse(f *testing.F) {
	for _, s := range []string{
		"192.168.1.10", "192.168.1.0/24", "192.168.1.5/24", "192.168.1.1-192.168.1.50",
		"::1", "[::1]", "2001:db8::/32", "fe80::1-fe80::ff", "::ffff:1.2.3.4/120",
		"::-::ffff:1.2.3.4", "1.2.3.4-::1", "fe80::1%eth0", "0.0.0.0/0", "::/0", "1.2.3.0/08",
	} {
		f.Add(s)
	}
	f.Fuzz(func(t *testing.T, s string) {
		r, err := Parse(s)
		if err != nil {
			return
		}
		if !r.IsValid() {
			t.Fatalf("Parse(%q) = invalid range %v-%v", s, r.First, r.Last)
		}
		back, err := Parse(r.String())
		if err != nil {
			t.Fatalf("Parse(%q) -> %q, reparse error: %v", s, r.String(), err)
		}
		if back != r {
			t.Fatalf("Parse(%q) = %v-%v, reparse of %q = %v-%v", s, r.First, r.Last, r.String(), back.First, back.Last)
		}
		// Mapped ends are matched as IPv4 by Contains, so skip those.
		if !r.First.Is4In6() && !r.Last.Is4In6() && (!r.Contains(r.First) || !r.Contains(r.Last)) {
			t.Fatalf("%v does not contain its ends", r)
		}
		if r.Compare(r) != 0 || !r.ContainsRange(r) || !r.Overlaps(r) {
			t.Fatalf("%v is not equal to itself", r)
		}
	})
}
