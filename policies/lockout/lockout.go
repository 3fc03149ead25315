// Package lockout remembers failed logons across connections and decides
// when a source address or an account is temporarily blocked from trying
// again (SMTP AUTH, RFC 4954: "454 4.7.0 Temporary authentication
// failure").
//
// # Keys
//
// A source is an IPv4 address, or the /64 prefix of an IPv6 address (one
// subscriber usually has a whole /64, so counting single IPv6 addresses
// would give an attacker 2^64 fresh starts). An account is the user name
// as the client typed it, trimmed and lower-cased: it is never resolved to
// a mailbox, so the counters and the replies behave the same whether the
// account exists or not, and a block reveals nothing about which names
// are valid or are aliases of one another.
//
// # Policy
//
// Threshold failures from one source or against one account, each within
// Window of the one before (the counter resets a Window after the last
// failure, as Active Directory's "reset account lockout counter after"),
// block that source or account for Duration; each further block
// of the same key, while it is remembered, lasts twice as long as the one
// before, up to MaxBlock. Attempts in progress from a source count against
// its threshold too, so a hundred parallel connections from one address
// cannot all slip in before the first failure is recorded.
//
// A blocked account is blocked only for sources that have not logged on
// to it successfully before (within KnownSourceTTL). Otherwise anybody
// could lock a user out of his own mailbox by guessing wrong passwords for
// it from afar; with the exemption, a distributed guesser shares one small
// budget per account among all its addresses, while the user's usual
// networks keep working. A source block applies to every account: the
// source is the one guessing.
//
// # Memory
//
// Each table (sources, accounts, known source/account pairs) holds at most
// a fixed number of keys, least recently used first out, and forgets a
// key as soon as it carries no information any more (no failures within
// Window, no block). An attacker cannot grow memory without bound.
package lockout

import (
	"container/list"
	"net/netip"
	"strings"
	"sync"
	"time"
)

// Defaults of the policy (the Transport settings AuthFailureLockoutThreshold,
// AuthFailureWindow and AuthFailureLockoutDuration).
const (
	DefaultThreshold = 10
	DefaultWindow    = 15 * time.Minute
	DefaultDuration  = 15 * time.Minute
	// MaxBlock caps a block that has doubled on repeated lockouts.
	MaxBlock = 24 * time.Hour
	// KnownSourceTTL is how long a successful logon exempts its source from
	// blocks of that account.
	KnownSourceTTL = 30 * 24 * time.Hour
	// DefaultMaxKeys is the number of keys each table remembers at most.
	DefaultMaxKeys = 100_000
)

// Policy is the lockout policy. A Threshold of zero or less turns lockout
// off: nothing is blocked, but failures are still counted, so that
// Attempt.Suspect keeps telling guessers from users (for the order of
// password checks). A Window of zero or less means DefaultWindow.
type Policy struct {
	Threshold int
	Window    time.Duration
	Duration  time.Duration
}

func (p Policy) window() time.Duration {
	if p.Window <= 0 {
		return DefaultWindow
	}
	return p.Window
}

// DefaultPolicy returns the default policy: 10 failures within 15 minutes
// block for 15 minutes.
func DefaultPolicy() Policy {
	return Policy{Threshold: DefaultThreshold, Window: DefaultWindow, Duration: DefaultDuration}
}

// Scope says what a block applies to.
type Scope string

// Scopes of a block.
const (
	ScopeSource  Scope = "source"
	ScopeAccount Scope = "account"
)

// Block describes a source or account that may not try now.
type Block struct {
	Scope Scope
	// Key is the source (address or IPv6 /64) or the account name.
	Key string
	// Until is when the block ends. It is zero when the key is not blocked
	// but already has as many attempts in progress as it has left before a
	// block.
	Until time.Time
	// Failures is the number of failures that caused the block (only in
	// blocks returned by Attempt.Failed).
	Failures int
}

// SourceKey returns the key of a source address: IPv4 (IPv4-mapped IPv6
// included) as is, IPv6 as its /64 prefix.
func SourceKey(a netip.Addr) string {
	a = a.Unmap()
	if a.Is6() {
		p, _ := a.Prefix(64)
		return p.String()
	}
	return a.String()
}

// AccountKey returns the key of an account: the user name as typed,
// without surrounding white space, lower-cased.
func AccountKey(user string) string { return strings.ToLower(strings.TrimSpace(user)) }

// Guard tracks failed logons. It is safe for concurrent use.
type Guard struct {
	now     func() time.Time
	maxKeys int

	mu       sync.Mutex
	policy   Policy
	sources  *table
	accounts *table
	known    *table // source+"\x00"+account -> last success in entry.last
}

// New returns a Guard with policy p, reading the time from now (nil means
// time.Now) and remembering at most DefaultMaxKeys keys per table.
func New(p Policy, now func() time.Time) *Guard { return NewSize(p, now, DefaultMaxKeys) }

// NewSize is New with a key limit per table (at least 1).
func NewSize(p Policy, now func() time.Time, maxKeys int) *Guard {
	if now == nil {
		now = time.Now
	}
	if maxKeys < 1 {
		maxKeys = 1
	}
	return &Guard{now: now, maxKeys: maxKeys, policy: p,
		sources: newTable(maxKeys), accounts: newTable(maxKeys), known: newTable(maxKeys)}
}

// SetPolicy changes the policy from now on. Failures already counted are
// kept; blocks already given keep their end.
func (g *Guard) SetPolicy(p Policy) {
	g.mu.Lock()
	g.policy = p
	g.mu.Unlock()
}

// Policy returns the policy in force.
func (g *Guard) Policy() Policy {
	g.mu.Lock()
	defer g.mu.Unlock()
	return g.policy
}

// Attempt is one logon attempt admitted by Begin. Exactly one of
// Succeeded, Failed or Abandon must be called when it is over.
type Attempt struct {
	g        *Guard
	src      string
	acct     string
	known    bool
	failures int // recent failures of the source when the attempt began
	counted  bool
	done     bool
}

// Begin asks whether src may try to log on as user now. It returns the
// admitted attempt, or the block that refuses it.
func (g *Guard) Begin(src netip.Addr, user string) (*Attempt, *Block) {
	now := g.now()
	a := &Attempt{g: g, src: SourceKey(src), acct: AccountKey(user)}
	g.mu.Lock()
	defer g.mu.Unlock()
	p := g.policy
	g.known.expire(now)
	if e := g.known.get(a.src + "\x00" + a.acct); e != nil && now.Sub(e.last) < KnownSourceTTL {
		a.known = true
	}
	window, blocking := p.window(), p.Threshold > 0
	g.sources.expire(now)
	g.accounts.expire(now)
	s := g.sources.get(a.src)
	if s != nil {
		s.refresh(now, window)
		if b := s.blocked(now, p.Threshold, ScopeSource); blocking && b != nil {
			return nil, b
		}
		a.failures = s.failures
	}
	if acc := g.accounts.get(a.acct); acc != nil && !a.known && blocking {
		acc.refresh(now, window)
		if b := acc.blocked(now, p.Threshold, ScopeAccount); b != nil {
			return nil, b
		}
	}
	// Admitted: count it as in progress on the source. Not on the
	// account: attempts in progress are no failures yet, and counting them
	// would let a flood of parallel guesses block the account before a
	// single password had been checked.
	if s == nil {
		s = g.sources.add(a.src, now, window)
	}
	s.inflight++
	a.counted = true
	return a, nil
}

// Suspect reports whether the source had failed logons within the window
// when the attempt began.
func (a *Attempt) Suspect() bool { return a.failures > 0 }

// Known reports whether the source has logged on to this account before.
func (a *Attempt) Known() bool { return a.known }

// Source returns the source key of the attempt.
func (a *Attempt) Source() string { return a.src }

// Succeeded records a successful logon: the source becomes known for the
// account.
func (a *Attempt) Succeeded() {
	g, now := a.g, a.g.now()
	g.mu.Lock()
	defer g.mu.Unlock()
	if !a.finish() {
		return
	}
	k := a.src + "\x00" + a.acct
	e := g.known.get(k)
	if e == nil {
		e = g.known.add(k, now, KnownSourceTTL)
	}
	e.last, e.expires = now, now.Add(KnownSourceTTL)
	// The source's failures are not forgiven: an attacker with one valid
	// account of its own could otherwise wipe its count between guesses.
}

// Failed records a failed logon. It returns the number of failures of the
// source within the window (this one included) and the blocks this failure
// set off, if any.
func (a *Attempt) Failed() (sourceFailures int, blocks []Block) {
	g, now := a.g, a.g.now()
	g.mu.Lock()
	defer g.mu.Unlock()
	if !a.finish() {
		return 0, nil
	}
	p := g.policy
	window := p.window()
	fail := func(t *table, key string, scope Scope) (int, *Block) {
		e := t.get(key)
		if e == nil {
			e = t.add(key, now, window)
		}
		e.refresh(now, window)
		e.failures++
		n := e.failures
		e.last = now
		e.expires = now.Add(window)
		if e.until.After(now) {
			e.expires = e.until.Add(window)
		}
		if p.Threshold <= 0 || n < p.Threshold {
			return n, nil
		}
		e.lockouts++
		d := p.Duration
		for i := 1; i < e.lockouts && d < MaxBlock; i++ {
			d *= 2
		}
		d = min(d, max(MaxBlock, p.Duration))
		e.until = now.Add(d)
		e.failures = 0
		e.expires = e.until.Add(window)
		return n, &Block{Scope: scope, Key: key, Until: e.until, Failures: n}
	}
	n, b := fail(g.sources, a.src, ScopeSource)
	if b != nil {
		blocks = append(blocks, *b)
	}
	if _, b := fail(g.accounts, a.acct, ScopeAccount); b != nil {
		blocks = append(blocks, *b)
	}
	return n, blocks
}

// Abandon ends an attempt that neither succeeded nor failed (the server
// was too busy to check it, or the client went away).
func (a *Attempt) Abandon() {
	a.g.mu.Lock()
	defer a.g.mu.Unlock()
	a.finish()
}

// finish marks the attempt done and takes it off the in-progress counts.
// It reports false when the attempt was finished already. g.mu must be held.
func (a *Attempt) finish() bool {
	if a.done {
		return false
	}
	a.done = true
	if a.counted {
		if e := a.g.sources.get(a.src); e != nil && e.inflight > 0 {
			e.inflight--
		}
	}
	return true
}

// Blocked returns the number of sources and accounts blocked now.
func (g *Guard) Blocked() (sources, accounts int) {
	now := g.now()
	g.mu.Lock()
	defer g.mu.Unlock()
	if g.policy.Threshold <= 0 {
		return 0, 0
	}
	return g.sources.countBlocked(now), g.accounts.countBlocked(now)
}

// entry is what a table remembers about one key.
type entry struct {
	key      string
	failures int       // within the window, since the last block
	last     time.Time // last failure (or, in the known table, last success)
	until    time.Time // end of the current or last block
	lockouts int       // blocks given while remembered
	inflight int       // attempts in progress
	expires  time.Time // when the entry carries no information any more
}

// refresh forgets failures older than the window.
func (e *entry) refresh(now time.Time, window time.Duration) {
	if e.failures > 0 && now.Sub(e.last) >= window {
		e.failures = 0
	}
}

// blocked returns the block on e now, or nil.
func (e *entry) blocked(now time.Time, threshold int, scope Scope) *Block {
	if e.until.After(now) {
		return &Block{Scope: scope, Key: e.key, Until: e.until}
	}
	if e.failures+e.inflight >= threshold {
		return &Block{Scope: scope, Key: e.key}
	}
	return nil
}

// table is a bounded map of entries, least recently used at the back.
type table struct {
	max   int
	keys  map[string]*list.Element
	order *list.List
}

func newTable(max int) *table {
	return &table{max: max, keys: map[string]*list.Element{}, order: list.New()}
}

func (t *table) get(key string) *entry {
	el, ok := t.keys[key]
	if !ok {
		return nil
	}
	t.order.MoveToFront(el)
	return el.Value.(*entry)
}

func (t *table) add(key string, now time.Time, keep time.Duration) *entry {
	e := &entry{key: key, expires: now.Add(keep)}
	t.keys[key] = t.order.PushFront(e)
	for t.order.Len() > t.max {
		t.remove(t.order.Back())
	}
	return e
}

// expire drops entries from the back that carry no information any more.
// Entries further forward were used later; checking stops at the first
// live one, and the key limit bounds the rest.
func (t *table) expire(now time.Time) {
	for el := t.order.Back(); el != nil; el = t.order.Back() {
		e := el.Value.(*entry)
		if e.inflight > 0 || now.Before(e.expires) {
			return
		}
		t.remove(el)
	}
}

func (t *table) remove(el *list.Element) {
	delete(t.keys, el.Value.(*entry).key)
	t.order.Remove(el)
}

func (t *table) countBlocked(now time.Time) int {
	n := 0
	for el := t.order.Front(); el != nil; el = el.Next() {
		if el.Value.(*entry).until.After(now) {
			n++
		}
	}
	return n
}
