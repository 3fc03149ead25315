package connfilter

import (
	"context"
	"errors"
	"net"
	"net/netip"
	"testing"
	"time"

	"github.com/transportd/transportd/policies/iprange"
)

// RFC 5782 section 2.1 and 2.4 give the query names.
func TestQueryName(t *testing.T) {
	for ip, want := range map[string]string{
		"192.0.2.99":                "99.2.0.192.bl.example.",
		"::ffff:192.0.2.99":         "99.2.0.192.bl.example.",
		"2001:db8:1:2:3:4:567:89ab": "b.a.9.8.7.6.5.0.4.0.0.0.3.0.0.0.2.0.0.0.1.0.0.0.8.b.d.0.1.0.0.2.bl.example.",
	} {
		if got := QueryName(netip.MustParseAddr(ip), "bl.example."); got != want {
			t.Errorf("QueryName(%s) = %s, want %s", ip, got, want)
		}
	}
}

func TestMatch(t *testing.T) {
	a := netip.MustParseAddr
	cases := []struct {
		name   string
		m      Match
		answer string
		want   bool
	}{
		{"default: 127.0.0.2 lists", Match{}, "127.0.0.2", true},
		{"default: error code does not", Match{}, "127.255.255.254", false},
		{"default: outside 127/8 does not", Match{}, "10.0.0.1", false},
		{"any", Match{Any: true}, "127.255.255.254", true},
		{"bitmask shares a bit", Match{Bitmask: a("127.0.0.2")}, "127.0.0.6", true},
		{"bitmask shares none", Match{Bitmask: a("127.0.0.2")}, "127.0.0.4", false},
		{"addresses: listed", Match{Addresses: []netip.Addr{a("127.0.0.2"), a("127.0.0.3")}}, "127.0.0.3", true},
		{"addresses: other", Match{Addresses: []netip.Addr{a("127.0.0.2")}}, "127.0.0.10", false},
	}
	for _, c := range cases {
		if got := c.m.listed(a(c.answer)); got != c.want {
			t.Errorf("%s: listed(%s) = %v", c.name, c.answer, got)
		}
	}
}

type fakeResolver struct {
	answers map[string][]netip.Addr
	fail    error
	asked   int
}

func (f *fakeResolver) LookupNetIP(_ context.Context, _, host string) ([]netip.Addr, error) {
	f.asked++
	if f.fail != nil {
		return nil, f.fail
	}
	if a, ok := f.answers[host]; ok {
		return a, nil
	}
	return nil, &net.DNSError{Err: "no such host", Name: host, IsNotFound: true}
}

func TestCheckOrderAndCache(t *testing.T) {
	now := time.Now()
	res := &fakeResolver{answers: map[string][]netip.Addr{"1.2.0.192.zen.test.": {netip.MustParseAddr("127.0.0.2")}}}
	ext := Scope{External: true}
	f := &Filter{Resolver: res, Providers: []Provider{{Name: "Z", Zone: "zen.test"}}, AllowScope: ext, BlockScope: ext, ProvidersScope: ext}
	cache := NewCache(time.Minute, 10)
	ip := netip.MustParseAddr("192.0.2.1")
	if v := f.Check(context.Background(), ip, false, cache, now); !v.Blocked || v.Response != DefaultRejectionResponse {
		t.Errorf("listed: %+v", v)
	}
	f.Check(context.Background(), ip, false, cache, now)
	if res.asked != 1 {
		t.Errorf("asked %d times, want 1 (cached)", res.asked)
	}
	f.Check(context.Background(), ip, false, cache, now.Add(2*time.Minute))
	if res.asked != 2 {
		t.Errorf("asked %d times after the TTL, want 2", res.asked)
	}
	r, _ := iprange.Parse("192.0.2.0/24")
	f.Allow = []Entry{{Range: r}}
	if v := f.Check(context.Background(), ip, false, cache, now); v.Blocked {
		t.Errorf("allow list must win: %+v", v)
	}
	f.Allow = []Entry{{Range: r, Expires: now.Add(-time.Second)}}
	if v := f.Check(context.Background(), ip, false, cache, now); !v.Blocked {
		t.Errorf("an expired allow entry must not count: %+v", v)
	}
	f.Allow, f.Block = nil, []Entry{{Range: r}}
	if v := f.Check(context.Background(), netip.MustParseAddr("192.0.2.9"), false, cache, now); !v.Blocked || v.Response != BlockListResponse {
		t.Errorf("block list: %+v", v)
	}
	f.Block = nil
	res.fail = errors.New("i/o timeout")
	if v := f.Check(context.Background(), netip.MustParseAddr("192.0.2.9"), false, cache, now); v.Blocked || len(v.Failures) != 1 {
		t.Errorf("a failed lookup must let the client through and be reported: %+v", v)
	}
}

// Internal connectors are filtered only where a list says so.
func TestScope(t *testing.T) {
	r, _ := iprange.Parse("192.0.2.0/24")
	ip := netip.MustParseAddr("192.0.2.1")
	f := &Filter{Block: []Entry{{Range: r}}, BlockScope: Scope{External: true}}
	if v := f.Check(context.Background(), ip, true, nil, time.Now()); v.Blocked {
		t.Errorf("internal connector, block list for external mail only: %+v", v)
	}
	f.BlockScope.Internal = true
	f.BlockResponse = "go away"
	if v := f.Check(context.Background(), ip, true, nil, time.Now()); !v.Blocked || v.Response != "go away" {
		t.Errorf("InternalMailEnabled: %+v", v)
	}
	f.BlockScope.External = false
	if v := f.Check(context.Background(), ip, false, nil, time.Now()); v.Blocked || !f.Applies(true) || f.Applies(false) {
		t.Errorf("ExternalMailEnabled $false must spare external mail: %+v", v)
	}
}
