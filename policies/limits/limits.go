// Package limits enforces a receive connector's connection caps
// (MaxInboundConnection, MaxInboundConnectionPerSource) and per-sender
// message rate limits.
package limits

import (
	"container/list"
	"net/netip"
	"strconv"
	"sync"
	"sync/atomic"
	"time"

	"github.com/transportd/transportd/policies/permissions"
)

// ConnLimiter counts open connections per connector and per source address.
// It is safe for concurrent use. The zero value is not usable; call
// NewConnLimiter.
type ConnLimiter struct {
	mu         sync.Mutex
	connectors map[string]*connCount
}

type connCount struct {
	total     int
	perSource map[netip.Addr]int
}

// NewConnLimiter returns an empty ConnLimiter.
func NewConnLimiter() *ConnLimiter {
	return &ConnLimiter{connectors: make(map[string]*connCount)}
}

// Acquire admits a connection from src to the connector named key. total
// caps the connector's connections, perSource the connections from one
// address; zero or less means unlimited. IPv4-mapped IPv6 sources count as
// their IPv4 address.
//
// On success it returns a release function, to be called when the
// connection closes; calling it more than once has no further effect. On
// refusal it returns a no-op release and a 421 4.3.2 refusal (RFC 5321
// section 3.8, RFC 3463 "system not accepting network messages") naming
// the cap that was hit.
func (l *ConnLimiter) Acquire(key string, src netip.Addr, total, perSource int) (release func(), refusal *permissions.Refusal) {
	return l.AcquireShare(key, src, total, perSource, 0)
}

// AcquireShare is Acquire with a receive connector's
// MaxInboundConnectionPercentagePerSource: when total is limited and
// percent is 1 to 99, one source may hold at most percent % of the
// connections still free for it (total minus those of other sources), at
// least one while any is free. 0 or 100 and more add no cap.
func (l *ConnLimiter) AcquireShare(key string, src netip.Addr, total, perSource, percent int) (release func(), refusal *permissions.Refusal) {
	src = src.Unmap()
	l.mu.Lock()
	defer l.mu.Unlock()
	c := l.connectors[key]
	if c == nil {
		c = &connCount{perSource: make(map[netip.Addr]int)}
		l.connectors[key] = c
	}
	if perSource > 0 && c.perSource[src] >= perSource {
		l.dropIfIdle(key, c)
		return func() {}, busy("too many connections from " + src.String() + " (limit " + strconv.Itoa(perSource) + ")")
	}
	if total > 0 && percent > 0 && percent < 100 && c.total < total {
		// Free for this source: what the other sources leave, so that a
		// source's own connections do not shrink its share.
		free := total - (c.total - c.perSource[src])
		share := max(1, free*percent/100)
		if c.perSource[src] >= share {
			l.dropIfIdle(key, c)
			return func() {}, busy("too many connections from " + src.String() + " (limit " + strconv.Itoa(share) + ": " +
				strconv.Itoa(percent) + "% of the " + strconv.Itoa(free) + " connections other sources leave free, MaxInboundConnectionPercentagePerSource)")
		}
	}
	if total > 0 && c.total >= total {
		l.dropIfIdle(key, c)
		return func() {}, busy("too many connections to this connector (limit " + strconv.Itoa(total) + ")")
	}
	c.total++
	c.perSource[src]++
	var released atomic.Bool
	return func() {
		if released.Swap(true) {
			return
		}
		l.release(key, src)
	}, nil
}

func busy(reason string) *permissions.Refusal {
	return &permissions.Refusal{Code: 421, Enhanced: [3]int{4, 3, 2}, Reason: reason}
}

func (l *ConnLimiter) release(key string, src netip.Addr) {
	l.mu.Lock()
	defer l.mu.Unlock()
	c := l.connectors[key]
	if c == nil {
		return
	}
	c.total--
	if n := c.perSource[src] - 1; n > 0 {
		c.perSource[src] = n
	} else {
		delete(c.perSource, src)
	}
	l.dropIfIdle(key, c)
}

// dropIfIdle forgets a connector with no connections, so memory follows
// the number of open connections. l.mu must be held.
func (l *ConnLimiter) dropIfIdle(key string, c *connCount) {
	if c.total <= 0 {
		delete(l.connectors, key)
	}
}

// Count returns the open connections of connector key, in total and from
// src.
func (l *ConnLimiter) Count(key string, src netip.Addr) (total, fromSource int) {
	l.mu.Lock()
	defer l.mu.Unlock()
	c := l.connectors[key]
	if c == nil {
		return 0, 0
	}
	return c.total, c.perSource[src.Unmap()]
}

// DefaultMaxKeys is the number of keys a RateLimiter remembers at most.
const DefaultMaxKeys = 100_000

// RateLimiter limits events (messages) per minute per key, such as a user
// name or a client IP address. It is a token bucket, implemented as the
// generic cell rate algorithm: each key may burst up to perMinute events,
// and regains one every minute/perMinute.
//
// Memory is bounded: a key whose bucket has refilled is forgotten (it is
// indistinguishable from a new key), and beyond the key limit the least
// recently used key is dropped. It is safe for concurrent use.
type RateLimiter struct {
	now     func() time.Time
	maxKeys int

	mu    sync.Mutex
	keys  map[string]*list.Element // of *bucket
	order *list.List               // most recently used first
}

type bucket struct {
	key string
	// tat is the theoretical arrival time: when the bucket will be full
	// again. The bucket is full whenever tat <= now.
	tat time.Time
}

// NewRateLimiter returns a RateLimiter reading the time from now (nil means
// time.Now), remembering at most DefaultMaxKeys keys.
func NewRateLimiter(now func() time.Time) *RateLimiter {
	return NewRateLimiterSize(now, DefaultMaxKeys)
}

// NewRateLimiterSize is NewRateLimiter with a key limit (at least 1).
func NewRateLimiterSize(now func() time.Time, maxKeys int) *RateLimiter {
	if now == nil {
		now = time.Now
	}
	if maxKeys < 1 {
		maxKeys = 1
	}
	return &RateLimiter{now: now, maxKeys: maxKeys, keys: make(map[string]*list.Element), order: list.New()}
}

// Allow records one event for key and reports whether it is within
// perMinute events per minute. A refused event is not counted. perMinute
// <= 0 means unlimited: Allow returns true and stores nothing.
func (r *RateLimiter) Allow(key string, perMinute int) bool {
	if perMinute <= 0 {
		return true
	}
	interval := time.Minute / time.Duration(perMinute)
	burst := interval * time.Duration(perMinute) // <= one minute
	now := r.now()

	r.mu.Lock()
	defer r.mu.Unlock()
	r.expire(now)

	var b *bucket
	if e, ok := r.keys[key]; ok {
		b = e.Value.(*bucket)
		r.order.MoveToFront(e)
	} else {
		b = &bucket{key: key, tat: now}
		r.keys[key] = r.order.PushFront(b)
		for r.order.Len() > r.maxKeys {
			r.remove(r.order.Back())
		}
	}
	tat := b.tat
	if tat.Before(now) {
		tat = now
	}
	next := tat.Add(interval)
	if next.Sub(now) > burst {
		return false
	}
	b.tat = next
	return true
}

// expire forgets least recently used keys whose buckets are full again.
// A bucket refills within a minute of its last use, so only the tail of the
// list needs checking. r.mu must be held.
func (r *RateLimiter) expire(now time.Time) {
	for e := r.order.Back(); e != nil; e = r.order.Back() {
		b := e.Value.(*bucket)
		if b.tat.After(now) {
			// Not yet full. Entries nearer the front were used later,
			// but may have a later tat too; stop at the first one.
			return
		}
		r.remove(e)
	}
}

func (r *RateLimiter) remove(e *list.Element) {
	delete(r.keys, e.Value.(*bucket).key)
	r.order.Remove(e)
}

// Len returns the number of keys currently remembered.
func (r *RateLimiter) Len() int {
	r.mu.Lock()
	defer r.mu.Unlock()
	return r.order.Len()
}
