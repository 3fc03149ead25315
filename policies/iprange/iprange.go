// Package iprange parses and matches IP address ranges in the forms that
// Exchange accepts for a receive connector's RemoteIPRanges: a single
// address, a CIDR block, or an inclusive "first-last" range, for IPv4 and
// IPv6.
package iprange

import (
	"fmt"
	"math/bits"
	"net/netip"
	"strconv"
	"strings"
)

// Range is an inclusive range of IP addresses. First and Last are of the same
// family (both IPv4 or both IPv6), carry no zone, and First <= Last. The zero
// Range is invalid and contains nothing.
type Range struct {
	First, Last netip.Addr
}

// Parse parses one RemoteIPRanges entry. Accepted forms are:
//
//	192.168.1.10                 single address
//	192.168.1.0/24               CIDR block (RFC 4632 section 3.1)
//	192.168.1.5/24               CIDR with host bits set: masked to 192.168.1.0/24, as Exchange does
//	192.168.1.1-192.168.1.50     inclusive range
//	::1, [::1], 2001:db8::/32, fe80::1-fe80::ff
//
// Surrounding white space is ignored. IPv6 addresses may be written in
// brackets. IPv4-mapped IPv6 addresses (RFC 4291 section 2.5.5.2) are
// converted to IPv4 when the whole entry lies in the mapped space, so that
// "::ffff:10.0.0.0/104" means 10.0.0.0/8. Zones ("fe80::1%eth0") are refused.
func Parse(s string) (Range, error) {
	text := strings.TrimSpace(s)
	if text == "" {
		return Range{}, fmt.Errorf("ip range %q: empty", s)
	}
	if first, last, ok := strings.Cut(text, "-"); ok {
		a, err := parseAddr(first)
		if err != nil {
			return Range{}, fmt.Errorf("ip range %q: first address: %w", s, err)
		}
		b, err := parseAddr(last)
		if err != nil {
			return Range{}, fmt.Errorf("ip range %q: last address: %w", s, err)
		}
		if a.Is4In6() && b.Is4In6() {
			a, b = a.Unmap(), b.Unmap()
		}
		if a.Is4() != b.Is4() {
			return Range{}, fmt.Errorf("ip range %q: mixed address families (%s is %s, %s is %s)",
				s, a, family(a), b, family(b))
		}
		if a.Compare(b) > 0 {
			return Range{}, fmt.Errorf("ip range %q: reversed range (%s is after %s)", s, a, b)
		}
		return Range{First: a, Last: b}, nil
	}
	if addrText, bitsText, ok := strings.Cut(text, "/"); ok {
		a, err := parseAddr(addrText)
		if err != nil {
			return Range{}, fmt.Errorf("ip range %q: %w", s, err)
		}
		bits, err := parseBits(bitsText, a.BitLen())
		if err != nil {
			return Range{}, fmt.Errorf("ip range %q: %w", s, err)
		}
		p, err := a.Prefix(bits)
		if err != nil {
			return Range{}, fmt.Errorf("ip range %q: bad prefix: %w", s, err)
		}
		if p.Addr().Is4In6() && bits >= 96 {
			p = netip.PrefixFrom(p.Addr().Unmap(), bits-96)
		}
		return FromPrefix(p), nil
	}
	a, err := parseAddr(text)
	if err != nil {
		return Range{}, fmt.Errorf("ip range %q: %w", s, err)
	}
	a = a.Unmap()
	return Range{First: a, Last: a}, nil
}

// FromPrefix returns the range covered by the (masked) prefix p. An invalid
// prefix yields the zero Range.
func FromPrefix(p netip.Prefix) Range {
	if !p.IsValid() {
		return Range{}
	}
	p = p.Masked()
	first := p.Addr()
	hi, lo := toU128(first)
	mhi, mlo := hostMask(first.BitLen(), p.Bits())
	return Range{First: first, Last: fromU128(hi|mhi, lo|mlo, first.Is4())}
}

// parseAddr parses one address, optionally in brackets, refusing zones.
func parseAddr(s string) (netip.Addr, error) {
	t := strings.TrimSpace(s)
	if strings.HasPrefix(t, "[") && strings.HasSuffix(t, "]") {
		t = t[1 : len(t)-1]
	}
	if t == "" {
		return netip.Addr{}, fmt.Errorf("missing address")
	}
	a, err := netip.ParseAddr(t)
	if err != nil {
		return netip.Addr{}, fmt.Errorf("bad address %q: %w", s, err)
	}
	if a.Zone() != "" {
		return netip.Addr{}, fmt.Errorf("bad address %q: zones are not allowed", s)
	}
	return a, nil
}

// parseBits parses a prefix length: decimal digits only, 0..max.
func parseBits(s string, maxBits int) (int, error) {
	t := strings.TrimSpace(s)
	if t == "" || len(t) > 3 || strings.Trim(t, "0123456789") != "" || (len(t) > 1 && t[0] == '0') {
		return 0, fmt.Errorf("bad prefix length %q: want a decimal number 0-%d", s, maxBits)
	}
	n, err := strconv.Atoi(t)
	if err != nil || n > maxBits {
		return 0, fmt.Errorf("bad prefix length %q: want a decimal number 0-%d", s, maxBits)
	}
	return n, nil
}

func family(a netip.Addr) string {
	if a.Is4() {
		return "IPv4"
	}
	return "IPv6"
}

// IsValid reports whether r is a well-formed range.
func (r Range) IsValid() bool {
	return r.First.IsValid() && r.Last.IsValid() && r.First.Is4() == r.Last.Is4() &&
		r.First.Zone() == "" && r.Last.Zone() == "" && r.First.Compare(r.Last) <= 0
}

// Contains reports whether a lies in r. IPv4-mapped IPv6 addresses
// (::ffff:1.2.3.4) are unmapped first and any zone is ignored, so a client
// arriving on a dual-stack socket matches IPv4 ranges.
func (r Range) Contains(a netip.Addr) bool {
	if !a.IsValid() || !r.IsValid() {
		return false
	}
	a = a.Unmap().WithZone("")
	if a.Is4() != r.First.Is4() {
		return false
	}
	return r.First.Compare(a) <= 0 && a.Compare(r.Last) <= 0
}

// String returns the canonical form: "1.2.3.4" for a single address,
// "1.2.3.0/24" when the range is exactly one CIDR block, "a-b" otherwise.
// The zero Range prints as "invalid".
func (r Range) String() string {
	if !r.IsValid() {
		return "invalid"
	}
	if r.First == r.Last {
		return r.First.String()
	}
	if p, ok := r.Prefix(); ok {
		return p.String()
	}
	return r.First.String() + "-" + r.Last.String()
}

// Prefix returns the CIDR block equal to r, if r is exactly one block.
func (r Range) Prefix() (netip.Prefix, bool) {
	if !r.IsValid() {
		return netip.Prefix{}, false
	}
	bitLen := r.First.BitLen()
	fhi, flo := toU128(r.First)
	lhi, llo := toU128(r.Last)
	// The range is a block iff First xor Last is a host mask (all ones in
	// the low bits) and First has none of those bits set.
	xhi, xlo := fhi^lhi, flo^llo
	hostBits := ones128(xhi, xlo)
	mhi, mlo := hostMask(bitLen, bitLen-hostBits)
	if xhi != mhi || xlo != mlo || fhi&mhi != 0 || flo&mlo != 0 {
		return netip.Prefix{}, false
	}
	return netip.PrefixFrom(r.First, bitLen-hostBits), true
}

// MarshalText implements encoding.TextMarshaler using String.
func (r Range) MarshalText() ([]byte, error) {
	if !r.IsValid() {
		return nil, fmt.Errorf("ip range: cannot marshal invalid range %s-%s", r.First, r.Last)
	}
	return []byte(r.String()), nil
}

// UnmarshalText implements encoding.TextUnmarshaler using Parse.
func (r *Range) UnmarshalText(b []byte) error {
	v, err := Parse(string(b))
	if err != nil {
		return err
	}
	*r = v
	return nil
}

// Compare orders ranges by specificity: the range with fewer addresses is
// more specific and sorts first, so Compare returns a negative number when r
// is more specific than o. Sizes are compared exactly with 128-bit
// arithmetic. Ties are broken by family (IPv4 first), then First, then Last,
// so Compare returns 0 only for equal ranges.
func (r Range) Compare(o Range) int {
	rhi, rlo := r.span()
	ohi, olo := o.span()
	if c := cmp128(rhi, rlo, ohi, olo); c != 0 {
		return c
	}
	if r.First.Is4() != o.First.Is4() {
		if r.First.Is4() {
			return -1
		}
		return 1
	}
	if c := r.First.Compare(o.First); c != 0 {
		return c
	}
	return r.Last.Compare(o.Last)
}

// span returns Last-First (one less than the number of addresses, which
// always fits in 128 bits).
func (r Range) span() (hi, lo uint64) {
	fhi, flo := toU128(r.First)
	lhi, llo := toU128(r.Last)
	lo = llo - flo
	hi = lhi - fhi
	if llo < flo {
		hi--
	}
	return hi, lo
}

// Overlaps reports whether r and o share at least one address.
func (r Range) Overlaps(o Range) bool {
	if !r.IsValid() || !o.IsValid() || r.First.Is4() != o.First.Is4() {
		return false
	}
	return r.First.Compare(o.Last) <= 0 && o.First.Compare(r.Last) <= 0
}

// ContainsRange reports whether every address of o lies in r.
func (r Range) ContainsRange(o Range) bool {
	if !r.IsValid() || !o.IsValid() || r.First.Is4() != o.First.Is4() {
		return false
	}
	return r.First.Compare(o.First) <= 0 && o.Last.Compare(r.Last) <= 0
}

// All returns Exchange's "all addresses" ranges, 0.0.0.0-255.255.255.255 and
// ::-ffff:ffff:ffff:ffff:ffff:ffff:ffff:ffff, as a new slice.
func All() []Range {
	return []Range{
		{First: netip.IPv4Unspecified(), Last: netip.AddrFrom4([4]byte{255, 255, 255, 255})},
		{First: netip.IPv6Unspecified(), Last: fromU128(^uint64(0), ^uint64(0), false)},
	}
}

// List is a set of ranges, such as a connector's RemoteIPRanges.
type List []Range

// ParseList parses a comma-separated list of ranges. An empty or all-blank
// string gives an empty list; an empty element between commas is an error.
func ParseList(s string) (List, error) {
	if strings.TrimSpace(s) == "" {
		return List{}, nil
	}
	parts := strings.Split(s, ",")
	l := make(List, 0, len(parts))
	for i, p := range parts {
		r, err := Parse(p)
		if err != nil {
			return nil, fmt.Errorf("ip range list entry %d: %w", i+1, err)
		}
		l = append(l, r)
	}
	return l, nil
}

// String returns the ranges joined by ", ".
func (l List) String() string {
	parts := make([]string, len(l))
	for i, r := range l {
		parts[i] = r.String()
	}
	return strings.Join(parts, ", ")
}

// MarshalText implements encoding.TextMarshaler.
func (l List) MarshalText() ([]byte, error) {
	for _, r := range l {
		if !r.IsValid() {
			return nil, fmt.Errorf("ip range list: cannot marshal invalid range %s-%s", r.First, r.Last)
		}
	}
	return []byte(l.String()), nil
}

// UnmarshalText implements encoding.TextUnmarshaler using ParseList.
func (l *List) UnmarshalText(b []byte) error {
	v, err := ParseList(string(b))
	if err != nil {
		return err
	}
	*l = v
	return nil
}

// Contains reports whether any range of l contains a.
func (l List) Contains(a netip.Addr) bool {
	_, ok := l.Best(a)
	return ok
}

// Best returns the most specific range of l (see Range.Compare) that
// contains a. Exchange uses the same rule to pick among receive connectors
// whose RemoteIPRanges match a client.
func (l List) Best(a netip.Addr) (Range, bool) {
	var best Range
	found := false
	for _, r := range l {
		if r.Contains(a) && (!found || r.Compare(best) < 0) {
			best, found = r, true
		}
	}
	return best, found
}

// toU128 returns a as a 128-bit number; IPv4 addresses use the low 32 bits.
func toU128(a netip.Addr) (hi, lo uint64) {
	if a.Is4() {
		b := a.As4()
		return 0, uint64(b[0])<<24 | uint64(b[1])<<16 | uint64(b[2])<<8 | uint64(b[3])
	}
	b := a.As16()
	for i := 0; i < 8; i++ {
		hi = hi<<8 | uint64(b[i])
		lo = lo<<8 | uint64(b[8+i])
	}
	return hi, lo
}

// fromU128 is the inverse of toU128.
func fromU128(hi, lo uint64, is4 bool) netip.Addr {
	if is4 {
		return netip.AddrFrom4([4]byte{byte(lo >> 24), byte(lo >> 16), byte(lo >> 8), byte(lo)})
	}
	var b [16]byte
	for i := 7; i >= 0; i-- {
		b[i] = byte(hi)
		b[8+i] = byte(lo)
		hi >>= 8
		lo >>= 8
	}
	return netip.AddrFrom16(b)
}

// hostMask returns a mask with the low bitLen-bits bits set.
func hostMask(bitLen, bits int) (hi, lo uint64) {
	n := bitLen - bits // number of host bits, 0..128
	switch {
	case n <= 0:
		return 0, 0
	case n < 64:
		return 0, 1<<uint(n) - 1
	case n == 64:
		return 0, ^uint64(0)
	case n < 128:
		return 1<<uint(n-64) - 1, ^uint64(0)
	default:
		return ^uint64(0), ^uint64(0)
	}
}

// ones128 returns the number of consecutive one bits at the low end of x.
func ones128(hi, lo uint64) int {
	n := bits.TrailingZeros64(^lo)
	if n < 64 {
		return n
	}
	return 64 + bits.TrailingZeros64(^hi)
}

func cmp128(ahi, alo, bhi, blo uint64) int {
	switch {
	case ahi < bhi:
		return -1
	case ahi > bhi:
		return 1
	case alo < blo:
		return -1
	case alo > blo:
		return 1
	}
	return 0
}
