package lockout

import (
	"fmt"
	"net/netip"
	"sync"
	"testing"
	"time"
)

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
	c.t = c.t.Add(d)
	c.mu.Unlock()
}

func newClock() *clock { return &clock{t: time.Date(2026, 1, 1, 0, 0, 0, 0, time.UTC)} }

var (
	attacker = netip.MustParseAddr("192.0.2.7")
	home     = netip.MustParseAddr("198.51.100.1")
)

func policy() Policy {
	return Policy{Threshold: 3, Window: 10 * time.Minute, Duration: 5 * time.Minute}
}

// fail runs one failed attempt and returns its blocks; it fails the test
// when the attempt is refused.
func fail(t *testing.T, g *Guard, src netip.Addr, user string) []Block {
	t.Helper()
	a, b := g.Begin(src, user)
	if b != nil {
		t.Fatalf("attempt from %v as %q refused: %+v", src, user, b)
	}
	_, blocks := a.Failed()
	return blocks
}

func TestSourceBlockSurvivesReconnectsAndGrows(t *testing.T) {
	c := newClock()
	g := New(policy(), c.now)
	for i := 0; i < 2; i++ {
		if b := fail(t, g, attacker, fmt.Sprintf("user%d", i)); b != nil {
			t.Fatalf("failure %d blocked: %+v", i+1, b)
		}
	}
	blocks := fail(t, g, attacker, "user9")
	if len(blocks) != 1 || blocks[0].Scope != ScopeSource || blocks[0].Key != "192.0.2.7" || !blocks[0].Until.Equal(c.now().Add(5*time.Minute)) {
		t.Fatalf("third failure: blocks %+v, want the source for 5 minutes", blocks)
	}
	if _, b := g.Begin(attacker, "anyone"); b == nil || b.Scope != ScopeSource {
		t.Fatalf("blocked source may try again: %+v", b)
	}
	if s, _ := g.Blocked(); s != 1 {
		t.Fatalf("Blocked sources = %d, want 1", s)
	}
	c.advance(5*time.Minute + time.Second)
	if s, _ := g.Blocked(); s != 0 {
		t.Fatalf("Blocked sources after the block = %d, want 0", s)
	}
	// Back within the window after the block: the next block is twice as long.
	for i := 0; i < 2; i++ {
		fail(t, g, attacker, fmt.Sprintf("other%d", i))
	}
	blocks = fail(t, g, attacker, "other2")
	if len(blocks) != 1 || !blocks[0].Until.Equal(c.now().Add(10*time.Minute)) {
		t.Fatalf("second block: %+v, want 10 minutes", blocks)
	}
}

func TestFailuresOutsideWindowAreForgotten(t *testing.T) {
	c := newClock()
	g := New(policy(), c.now)
	for i := 0; i < 10; i++ {
		if b := fail(t, g, attacker, "u"); b != nil {
			t.Fatalf("slow guess %d blocked: %+v", i, b)
		}
		c.advance(10 * time.Minute) // as Active Directory's lockout counter: reset a window after the last failure
	}
	// Within the window of each other, they add up.
	fail(t, g, attacker, "u")
	c.advance(9 * time.Minute)
	fail(t, g, attacker, "u")
	c.advance(9 * time.Minute)
	if blocks := fail(t, g, attacker, "u"); len(blocks) == 0 {
		t.Fatal("three failures 9 minutes apart did not block")
	}
}

func TestAccountBlockSparesKnownSources(t *testing.T) {
	c := newClock()
	g := New(Policy{Threshold: 3, Window: 10 * time.Minute, Duration: 5 * time.Minute}, c.now)
	// alice logs on from home once.
	a, b := g.Begin(home, "Alice@Contoso.com")
	if b != nil {
		t.Fatal(b)
	}
	a.Succeeded()
	// Three addresses guess one password each: the account is blocked.
	var blocks []Block
	for i := 1; i <= 3; i++ {
		blocks = fail(t, g, netip.AddrFrom4([4]byte{203, 0, 113, byte(i)}), " alice@contoso.com")
	}
	if len(blocks) != 1 || blocks[0].Scope != ScopeAccount || blocks[0].Key != "alice@contoso.com" {
		t.Fatalf("distributed guessing: blocks %+v, want the account", blocks)
	}
	if _, b := g.Begin(netip.MustParseAddr("203.0.113.99"), "ALICE@contoso.com"); b == nil || b.Scope != ScopeAccount {
		t.Fatalf("a new source may still guess: %+v", b)
	}
	if _, acc := g.Blocked(); acc != 1 {
		t.Fatalf("Blocked accounts = %d, want 1", acc)
	}
	// alice, from where she logged on before, is not locked out.
	a, b = g.Begin(home, "alice@contoso.com")
	if b != nil {
		t.Fatalf("the account's known source is locked out: %+v", b)
	}
	if !a.Known() {
		t.Fatal("home is not known for alice")
	}
	a.Succeeded()
}

func TestUnknownAndKnownAccountsBehaveAlike(t *testing.T) {
	// The guard never resolves names: "nobody" is counted and blocked
	// exactly like an existing account, so blocks reveal nothing.
	c := newClock()
	g := New(policy(), c.now)
	for i := 1; i <= 2; i++ {
		fail(t, g, netip.AddrFrom4([4]byte{203, 0, 113, byte(i)}), "nobody@contoso.com")
	}
	blocks := fail(t, g, netip.AddrFrom4([4]byte{203, 0, 113, 3}), "nobody@contoso.com")
	if len(blocks) != 1 || blocks[0].Scope != ScopeAccount {
		t.Fatalf("blocks %+v", blocks)
	}
}

func TestParallelAttemptsCountAgainstThreshold(t *testing.T) {
	c := newClock()
	g := New(policy(), c.now)
	var admitted []*Attempt
	for i := 0; i < 10; i++ {
		if a, b := g.Begin(attacker, "u"); b == nil {
			admitted = append(admitted, a)
		}
	}
	if len(admitted) != 3 {
		t.Fatalf("%d parallel attempts admitted, want the threshold 3", len(admitted))
	}
	for _, a := range admitted {
		a.Abandon()
		a.Abandon() // twice is harmless
	}
	if _, b := g.Begin(attacker, "u"); b != nil {
		t.Fatalf("abandoned attempts still count: %+v", b)
	}
	// Parallel attempts from many sources against one account are not
	// failures yet: they do not block the account by themselves.
	for i := 1; i <= 10; i++ {
		if _, b := g.Begin(netip.AddrFrom4([4]byte{203, 0, 113, byte(i)}), "alice"); b != nil {
			t.Fatalf("attempt %d against alice refused before any failure: %+v", i, b)
		}
	}
}

func TestIPv6AggregatesTo64(t *testing.T) {
	c := newClock()
	g := New(policy(), c.now)
	for i := 1; i <= 3; i++ {
		fail(t, g, netip.MustParseAddr(fmt.Sprintf("2001:db8:1:2::%x", i)), fmt.Sprintf("u%d", i))
	}
	if _, b := g.Begin(netip.MustParseAddr("2001:db8:1:2:ffff::1"), "v"); b == nil || b.Key != "2001:db8:1:2::/64" {
		t.Fatalf("same /64: %+v", b)
	}
	if _, b := g.Begin(netip.MustParseAddr("2001:db8:1:3::1"), "v"); b != nil {
		t.Fatalf("another /64 is blocked: %+v", b)
	}
	if k := SourceKey(netip.MustParseAddr("::ffff:192.0.2.1")); k != "192.0.2.1" {
		t.Fatalf("IPv4-mapped key %q", k)
	}
}

func TestSuccessDoesNotForgiveSource(t *testing.T) {
	// An attacker with one valid account of its own must not reset its
	// count by logging on to it between guesses.
	c := newClock()
	g := New(policy(), c.now)
	fail(t, g, attacker, "victim")
	fail(t, g, attacker, "victim")
	a, _ := g.Begin(attacker, "mine")
	a.Succeeded()
	if blocks := fail(t, g, attacker, "victim"); len(blocks) == 0 {
		t.Fatal("third failure after a success did not block")
	}
}

func TestDisabled(t *testing.T) {
	c := newClock()
	g := New(Policy{}, c.now)
	for i := 0; i < 100; i++ {
		if blocks := fail(t, g, attacker, "u"); blocks != nil {
			t.Fatalf("a disabled guard blocks: %+v", blocks)
		}
	}
	// Failures still mark the source as suspect.
	a, _ := g.Begin(attacker, "u")
	if !a.Suspect() {
		t.Fatal("a source with 100 failures is not suspect")
	}
	a.Abandon()
	if a, _ := g.Begin(home, "u"); a.Suspect() {
		t.Fatal("a source without failures is suspect")
	}
	// Turned on live, the policy applies to the failures counted so far.
	g.SetPolicy(policy())
	if _, b := g.Begin(attacker, "u"); b == nil {
		t.Fatal("policy applied live does not refuse a source with 100 failures")
	}
	if _, b := g.Begin(home, "v"); b != nil {
		t.Fatalf("policy applied live refuses a source without failures: %+v", b)
	}
}

func TestMemoryIsBounded(t *testing.T) {
	c := newClock()
	g := NewSize(policy(), c.now, 100)
	for i := 0; i < 10000; i++ {
		fail(t, g, netip.AddrFrom4([4]byte{10, byte(i >> 16), byte(i >> 8), byte(i)}), fmt.Sprintf("user%d", i))
	}
	if s, a := g.sources.order.Len(), g.accounts.order.Len(); s > 100 || a > 100 || len(g.sources.keys) != s {
		t.Fatalf("tables hold %d sources and %d accounts, limit 100", s, a)
	}
	// And entries go away once they carry nothing.
	c.advance(time.Hour)
	g.Begin(attacker, "x")
	if s := g.sources.order.Len(); s != 1 {
		t.Fatalf("%d sources remembered an hour later, want only the new one", s)
	}
}
