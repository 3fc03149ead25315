package limits

import (
	"net/netip"
	"strconv"
	"strings"
	"sync"
	"testing"
	"time"
)

func TestConnLimiterCaps(t *testing.T) {
	a := netip.MustParseAddr("127.0.0.1")
	b := netip.MustParseAddr("2001:db8::1")
	aMapped := netip.MustParseAddr("::ffff:127.0.0.1")

	type op struct {
		src     netip.Addr
		key     string
		refusal string // "" = admitted
	}
	tests := []struct {
		name             string
		total, perSource int
		ops              []op
	}{
		{"per source", 0, 2, []op{
			{a, "c", ""}, {a, "c", ""},
			{a, "c", "421 4.3.2 too many connections from 127.0.0.1 (limit 2)"},
			{aMapped, "c", "421 4.3.2 too many connections from 127.0.0.1 (limit 2)"},
			{b, "c", ""}, {b, "c", ""},
			{b, "c", "421 4.3.2 too many connections from 2001:db8::1 (limit 2)"},
			{a, "other", ""}, // caps are per connector
		}},
		{"total", 3, 0, []op{
			{a, "c", ""}, {b, "c", ""}, {a, "c", ""},
			{b, "c", "421 4.3.2 too many connections to this connector (limit 3)"},
			{a, "d", ""},
		}},
		{"both", 3, 1, []op{
			{a, "c", ""},
			{a, "c", "421 4.3.2 too many connections from 127.0.0.1 (limit 1)"},
			{b, "c", ""},
			{netip.MustParseAddr("192.0.2.1"), "c", ""},
			{netip.MustParseAddr("192.0.2.2"), "c", "421 4.3.2 too many connections to this connector (limit 3)"},
		}},
		{"unlimited", 0, -1, []op{{a, "c", ""}, {a, "c", ""}, {a, "c", ""}, {a, "c", ""}}},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			l := NewConnLimiter()
			var releases []func()
			for i, o := range tc.ops {
				rel, r := l.Acquire(o.key, o.src, tc.total, tc.perSource)
				if rel == nil {
					t.Fatalf("op %d: nil release", i)
				}
				releases = append(releases, rel)
				switch {
				case o.refusal == "" && r != nil:
					t.Errorf("op %d: refused: %v", i, r)
				case o.refusal != "" && (r == nil || r.Error() != o.refusal):
					t.Errorf("op %d: refusal = %v, want %q", i, r, o.refusal)
				}
			}
			for _, rel := range releases {
				rel()
				rel() // idempotent
			}
			if n := len(l.connectors); n != 0 {
				t.Errorf("%d connectors remembered after all releases", n)
			}
		})
	}
}

func TestConnLimiterReleaseFrees(t *testing.T) {
	l := NewConnLimiter()
	a := netip.MustParseAddr("::ffff:10.0.0.1")
	rel, r := l.Acquire("c", a, 1, 1)
	if r != nil {
		t.Fatal(r)
	}
	if _, r := l.Acquire("c", a, 1, 1); r == nil {
		t.Fatal("second connection admitted")
	}
	if total, src := l.Count("c", netip.MustParseAddr("10.0.0.1")); total != 1 || src != 1 {
		t.Errorf("Count = %d, %d", total, src)
	}
	rel()
	rel()
	rel2, r := l.Acquire("c", a, 1, 1)
	if r != nil {
		t.Fatalf("after release: %v", r)
	}
	// The first release, called again, must not free the second slot.
	rel()
	if _, r := l.Acquire("c", a, 1, 1); r == nil {
		t.Fatal("stale release freed a slot")
	}
	rel2()
}

func TestConnLimiterConcurrent(t *testing.T) {
	const (
		total     = 10
		perSource = 3
		workers   = 50
		rounds    = 200
	)
	l := NewConnLimiter()
	var wg sync.WaitGroup
	var mu sync.Mutex
	maxTotal, maxSrc := 0, 0
	for w := 0; w < workers; w++ {
		wg.Add(1)
		go func(w int) {
			defer wg.Done()
			src := netip.AddrFrom4([4]byte{10, 0, 0, byte(w % 7)})
			for i := 0; i < rounds; i++ {
				rel, r := l.Acquire("c", src, total, perSource)
				if r != nil {
					continue
				}
				tot, s := l.Count("c", src)
				mu.Lock()
				maxTotal, maxSrc = max(maxTotal, tot), max(maxSrc, s)
				mu.Unlock()
				rel()
				rel()
			}
		}(w)
	}
	wg.Wait()
	if maxTotal > total || maxSrc > perSource {
		t.Errorf("saw %d total / %d per source, caps %d / %d", maxTotal, maxSrc, total, perSource)
	}
	if tot, _ := l.Count("c", netip.Addr{}); tot != 0 {
		t.Errorf("%d connections left after all released", tot)
	}
	// Everything is free again: the full cap can be taken.
	var rels []func()
	for i := 0; i < total; i++ {
		rel, r := l.Acquire("c", netip.AddrFrom4([4]byte{192, 0, 2, byte(i)}), total, perSource)
		if r != nil {
			t.Fatalf("connection %d refused after release: %v", i, r)
		}
		rels = append(rels, rel)
	}
	for _, rel := range rels {
		rel()
	}
}

// clock is a settable time source.
type clock struct {
	mu sync.Mutex
	t  time.Time
}

func (c *clock) now() time.Time {
	c.mu.Lock()
	defer c.mu.Unlock()
	return c.t
}

func (c *clock) advance(d time.Duration) {
	c.mu.Lock()
	defer c.mu.Unlock()
	c.t = c.t.Add(d)
}

func TestRateLimiter(t *testing.T) {
	type step struct {
		advance time.Duration
		key     string
		limit   int
		want    bool
	}
	tests := []struct {
		name  string
		steps []step
	}{
		{"burst then refill", []step{
			{0, "u", 3, true}, {0, "u", 3, true}, {0, "u", 3, true},
			{0, "u", 3, false},
			{19 * time.Second, "u", 3, false},
			{time.Second, "u", 3, true}, // one token back after 20s
			{0, "u", 3, false},
			{time.Minute, "u", 3, true}, {0, "u", 3, true}, {0, "u", 3, true},
			{0, "u", 3, false},
		}},
		{"keys are separate", []step{
			{0, "a", 1, true}, {0, "a", 1, false},
			{0, "b", 1, true}, {0, "b", 1, false},
			{time.Minute, "a", 1, true},
		}},
		{"unlimited", []step{
			{0, "u", 0, true}, {0, "u", 0, true}, {0, "u", -5, true},
		}},
		{"refused events do not count", []step{
			{0, "u", 2, true}, {0, "u", 2, true},
			{0, "u", 2, false}, {0, "u", 2, false}, {0, "u", 2, false},
			{30 * time.Second, "u", 2, true},
		}},
		{"steady rate", []step{
			{0, "u", 60, true},
			{time.Second, "u", 60, true}, {time.Second, "u", 60, true},
		}},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			c := &clock{t: time.Date(2025, 1, 1, 0, 0, 0, 0, time.UTC)}
			r := NewRateLimiter(c.now)
			for i, s := range tc.steps {
				c.advance(s.advance)
				if got := r.Allow(s.key, s.limit); got != s.want {
					t.Fatalf("step %d (%s, limit %d): Allow = %v, want %v", i, s.key, s.limit, got, s.want)
				}
			}
		})
	}
}

func TestRateLimiterCountsPerMinute(t *testing.T) {
	c := &clock{t: time.Unix(0, 0)}
	r := NewRateLimiter(c.now)
	// Over ten minutes at one attempt per second, a 30/minute limit admits
	// the 30-message burst plus 30 per minute after it.
	allowed := 0
	for i := 0; i < 600; i++ {
		if r.Allow("u", 30) {
			allowed++
		}
		c.advance(time.Second)
	}
	if want := 30 + 30*599/60; allowed < want-1 || allowed > want+1 {
		t.Errorf("allowed %d in 10 minutes, want about %d", allowed, want)
	}
}

func TestRateLimiterMemory(t *testing.T) {
	c := &clock{t: time.Unix(0, 0)}
	r := NewRateLimiterSize(c.now, 100)
	for i := 0; i < 1000; i++ {
		r.Allow("ip-"+strconv.Itoa(i), 5)
	}
	if n := r.Len(); n != 100 {
		t.Errorf("Len = %d, want the cap 100", n)
	}
	// Once every bucket has refilled, the keys are dropped.
	c.advance(time.Minute)
	r.Allow("fresh", 5)
	if n := r.Len(); n != 1 {
		t.Errorf("Len after a minute = %d, want 1", n)
	}
	// Unlimited calls store nothing.
	r.Allow("unlimited", 0)
	if n := r.Len(); n != 1 {
		t.Errorf("Len after unlimited call = %d", n)
	}
	// Recently used keys survive eviction of older ones.
	r2 := NewRateLimiterSize(c.now, 2)
	r2.Allow("a", 1)
	r2.Allow("b", 1)
	r2.Allow("a", 1) // refused, but touches a
	r2.Allow("c", 1) // evicts b
	if r2.Allow("a", 1) {
		t.Error("a was forgotten: its limit reset")
	}
}

func TestRateLimiterConcurrent(t *testing.T) {
	c := &clock{t: time.Unix(0, 0)}
	r := NewRateLimiter(c.now)
	var wg sync.WaitGroup
	var mu sync.Mutex
	allowed := 0
	for w := 0; w < 20; w++ {
		wg.Add(1)
		go func() {
			defer wg.Done()
			for i := 0; i < 50; i++ {
				if r.Allow("shared", 100) {
					mu.Lock()
					allowed++
					mu.Unlock()
				}
			}
		}()
	}
	wg.Wait()
	if allowed != 100 {
		t.Errorf("allowed %d of 1000 concurrent attempts, want 100", allowed)
	}
}

// MaxInboundConnectionPercentagePerSource: a source holds at most that
// share of the connections still free, at least one while any is free.
func TestConnLimiterPercentagePerSource(t *testing.T) {
	l := NewConnLimiter()
	a := netip.MustParseAddr("192.0.2.1")
	b := netip.MustParseAddr("192.0.2.2")
	// 10 connections, 20 %: a gets 2 of the 10 free ones.
	var rels []func()
	for i := range 2 {
		rel, r := l.AcquireShare("c", a, 10, 0, 20)
		if r != nil {
			t.Fatalf("connection %d from a: %v", i+1, r)
		}
		rels = append(rels, rel)
	}
	// a holds 2 of the 10 the others leave free: 20 % is 2.
	if _, r := l.AcquireShare("c", a, 10, 0, 20); r == nil || r.Code != 421 || r.Enhanced != [3]int{4, 3, 2} || !strings.Contains(r.Reason, "MaxInboundConnectionPercentagePerSource") {
		t.Fatalf("third from a: %v", r)
	}
	// b still gets in: its share is of the 8 a leaves.
	relB, r := l.AcquireShare("c", b, 10, 0, 20)
	if r != nil {
		t.Fatalf("first from b: %v", r)
	}
	// 20 % of 8 is 1: b's second is refused.
	if _, r := l.AcquireShare("c", b, 10, 0, 20); r == nil {
		t.Fatal("second from b admitted over its share of 1")
	}
	relB()
	rels[0]()
	if rel, r := l.AcquireShare("c", a, 10, 0, 20); r != nil {
		t.Fatalf("a after a release: %v", r)
	} else {
		rel()
	}
	// 100 % and 0 add no cap; neither does an unlimited connector.
	for _, tc := range []struct{ total, pct int }{{10, 100}, {10, 0}, {0, 20}} {
		l := NewConnLimiter()
		for i := range 5 {
			if _, r := l.AcquireShare("c", a, tc.total, 0, tc.pct); r != nil {
				t.Fatalf("total %d percent %d: connection %d refused: %v", tc.total, tc.pct, i+1, r)
			}
		}
	}
	// Acquire is AcquireShare without a share.
	l2 := NewConnLimiter()
	for range 3 {
		if _, r := l2.Acquire("c", a, 3, 0); r != nil {
			t.Fatal(r)
		}
	}
}
