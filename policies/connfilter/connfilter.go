// Package connfilter is Exchange's connection filtering: the IP allow
// list, the IP block list and the block list providers (DNSBLs, RFC 5782)
// that decide whether an anonymous client may send here. The allow list
// wins over everything; then the block list; then the providers, in
// priority order. A provider that cannot be asked (timeout, SERVFAIL)
// lets the client through: a DNS outage must not stop the mail.
package connfilter

import (
	"context"
	"errors"
	"fmt"
	"net"
	"net/netip"
	"slices"
	"strings"
	"sync"
	"time"

	"github.com/transportd/transportd/policies/iprange"
)

// DefaultRejectionResponse is Exchange's text for a client a provider
// lists, when the provider has no RejectionResponse of its own.
const DefaultRejectionResponse = "Recipient not authorized, your IP has been found on a block list"

// BlockListResponse is the text for a client on the IP block list.
const BlockListResponse = "Recipient not authorized, your IP has been blocked by the administrator (IP block list)"

// Resolver is what a provider's zone is asked through; *net.Resolver is one.
type Resolver interface {
	LookupNetIP(ctx context.Context, network, host string) ([]netip.Addr, error)
}

// Entry is one allow or block list entry.
type Entry struct {
	Range iprange.Range
	// Expires ends the entry; zero: never.
	Expires time.Time
}

func (e Entry) matches(ip netip.Addr, now time.Time) bool {
	return e.Range.Contains(ip) && (e.Expires.IsZero() || now.Before(e.Expires))
}

// Match says which answers of a provider list the client.
type Match struct {
	// Any: every answer lists.
	Any bool
	// Bitmask (an IPv4 address such as 127.0.0.2): an answer that shares
	// a bit with it below the first octet lists.
	Bitmask netip.Addr
	// Addresses: these answers list.
	Addresses []netip.Addr
}

// listed reports whether answer a lists the client. With neither Bitmask
// nor Addresses, any answer in 127.0.0.0/8 lists (RFC 5782 section 2.1),
// except 127.255.255.0/24, where Spamhaus and others put error codes
// ("query refused") rather than listings.
func (m Match) listed(a netip.Addr) bool {
	a = a.Unmap()
	if m.Any {
		return true
	}
	if !m.Bitmask.IsValid() && len(m.Addresses) == 0 {
		b := a.As4()
		return a.Is4() && b[0] == 127 && !(b[1] == 255 && b[2] == 255)
	}
	if m.Bitmask.IsValid() && a.Is4() {
		x, y := a.As4(), m.Bitmask.As4()
		if x[1]&y[1] != 0 || x[2]&y[2] != 0 || x[3]&y[3] != 0 {
			return true
		}
	}
	return slices.Contains(m.Addresses, a)
}

// Provider is one DNS block list.
type Provider struct {
	Name     string
	Zone     string
	Priority int
	Match    Match
	// Response is the refusal text; empty: DefaultRejectionResponse.
	Response string
}

// Scope says where a list applies: on connectors facing the Internet
// (External, those with ConnectionFilteringEnabled) and on the others
// (Internal).
type Scope struct {
	External, Internal bool
}

func (s Scope) applies(internal bool) bool {
	if internal {
		return s.Internal
	}
	return s.External
}

// Filter is one version of the connection filtering settings.
type Filter struct {
	Allow, Block []Entry
	Providers    []Provider
	Resolver     Resolver

	// Where each list applies.
	AllowScope, BlockScope, ProvidersScope Scope
	// BlockResponse is the text for the IP block list; empty:
	// BlockListResponse.
	BlockResponse string
	// BypassedRecipients (lower case) are never refused for a provider's
	// listing.
	BypassedRecipients []string
}

// Applies reports whether any list applies to anonymous mail on a
// connector: an external one (ConnectionFilteringEnabled) or not.
func (f *Filter) Applies(internal bool) bool {
	return f.BlockScope.applies(internal) || (f.ProvidersScope.applies(internal) && len(f.Providers) > 0)
}

// Bypassed reports whether rcpt (an address) is exempt from a provider's
// listing.
func (f *Filter) Bypassed(rcpt string) bool {
	return slices.Contains(f.BypassedRecipients, strings.ToLower(rcpt))
}

// SortProviders orders the providers by Priority (lower first).
func (f *Filter) SortProviders() {
	slices.SortStableFunc(f.Providers, func(a, b Provider) int { return a.Priority - b.Priority })
}

// Verdict is what the filter decided for a client.
type Verdict struct {
	// Blocked: the client is refused with Response.
	Blocked  bool
	Response string
	// Reason says why, for the logs: "IP allow list", "IP block list",
	// "block list provider Spamhaus (127.0.0.2)".
	Reason string
	// Failures are the providers that could not be asked, with the error.
	Failures []string
	// Provider: the refusal comes from a block list provider (so
	// BypassedRecipients are spared).
	Provider bool
}

// Check decides for ip, on an external connector (one with
// ConnectionFilteringEnabled) or an internal one. cache may be nil.
func (f *Filter) Check(ctx context.Context, ip netip.Addr, internal bool, cache *Cache, now time.Time) Verdict {
	ip = ip.Unmap()
	if f.AllowScope.applies(internal) {
		for _, e := range f.Allow {
			if e.matches(ip, now) {
				return Verdict{Reason: "IP allow list " + e.Range.String()}
			}
		}
	}
	if f.BlockScope.applies(internal) {
		for _, e := range f.Block {
			if e.matches(ip, now) {
				resp := f.BlockResponse
				if resp == "" {
					resp = BlockListResponse
				}
				return Verdict{Blocked: true, Response: resp, Reason: "IP block list " + e.Range.String()}
			}
		}
	}
	var v Verdict
	if !f.ProvidersScope.applies(internal) {
		return v
	}
	for _, p := range f.Providers {
		answers, err := cache.lookup(ctx, f.Resolver, QueryName(ip, p.Zone), now)
		if err != nil {
			v.Failures = append(v.Failures, fmt.Sprintf("%s: %v", p.Name, err))
			continue
		}
		for _, a := range answers {
			if p.Match.listed(a) {
				resp := p.Response
				if resp == "" {
					resp = DefaultRejectionResponse
				}
				v.Blocked, v.Response, v.Provider = true, resp, true
				v.Reason = fmt.Sprintf("block list provider %s (%s answers %s)", p.Name, p.Zone, a)
				return v
			}
		}
	}
	return v
}

// QueryName is the name a DNS block list is asked for ip (RFC 5782
// section 2.1 for IPv4, 2.4 for IPv6: the address's octets or nibbles in
// reverse order, then the zone), fully qualified so that no search
// domain is appended.
func QueryName(ip netip.Addr, zone string) string {
	ip = ip.Unmap()
	var b strings.Builder
	if ip.Is4() {
		a := ip.As4()
		fmt.Fprintf(&b, "%d.%d.%d.%d.", a[3], a[2], a[1], a[0])
	} else {
		a := ip.As16()
		const hex = "0123456789abcdef"
		for i := len(a) - 1; i >= 0; i-- {
			b.WriteByte(hex[a[i]&0xf])
			b.WriteByte('.')
			b.WriteByte(hex[a[i]>>4])
			b.WriteByte('.')
		}
	}
	b.WriteString(strings.TrimSuffix(zone, "."))
	b.WriteByte('.')
	return b.String()
}

// Cache keeps the providers' answers for a while, so that a client that
// connects again (or a session after STARTTLS) is not asked about again.
// It is safe for concurrent use.
type Cache struct {
	ttl time.Duration
	max int

	mu      sync.Mutex
	entries map[string]cached
}

type cached struct {
	answers []netip.Addr
	expires time.Time
}

// DefaultCacheTTL is how long an answer (or "not listed") is kept.
const DefaultCacheTTL = 10 * time.Minute

// NewCache returns a cache that keeps answers for ttl, at most max of them.
func NewCache(ttl time.Duration, max int) *Cache {
	return &Cache{ttl: ttl, max: max, entries: map[string]cached{}}
}

// lookup asks res for name's A records: none (nil, nil) when the name
// does not exist, the client then being not listed.
func (c *Cache) lookup(ctx context.Context, res Resolver, name string, now time.Time) ([]netip.Addr, error) {
	if c != nil {
		c.mu.Lock()
		e, ok := c.entries[name]
		c.mu.Unlock()
		if ok && now.Before(e.expires) {
			return e.answers, nil
		}
	}
	if res == nil {
		res = net.DefaultResolver
	}
	answers, err := res.LookupNetIP(ctx, "ip4", name)
	if err != nil {
		var de *net.DNSError
		if !errors.As(err, &de) || !de.IsNotFound {
			return nil, err
		}
		answers = nil // NXDOMAIN or no A record: not listed
	}
	if c != nil {
		c.mu.Lock()
		if len(c.entries) >= c.max {
			for k, e := range c.entries {
				if !now.Before(e.expires) {
					delete(c.entries, k)
				}
			}
			if len(c.entries) >= c.max {
				clear(c.entries)
			}
		}
		c.entries[name] = cached{answers: answers, expires: now.Add(c.ttl)}
		c.mu.Unlock()
	}
	return answers, nil
}
