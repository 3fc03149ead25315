package connector

import (
	"net/netip"
	"sort"

	"github.com/transportd/transportd/policies/iprange"
)

// Select picks the connector that takes a connection arriving at local from
// remote. Among enabled connectors bound to the local port, a binding to the
// exact local IP beats a wildcard binding (0.0.0.0 or [::]); then the
// connector whose RemoteIPRanges has the most specific range containing the
// remote address wins (one IP beats a range beats everything). It returns
// nil when no connector accepts the remote address.
func Select(cs []ReceiveConnector, local, remote netip.AddrPort) *ReceiveConnector {
	la, ra := local.Addr().Unmap(), remote.Addr().Unmap()
	var best *ReceiveConnector
	bestBind := 0
	var bestRange = struct {
		set bool
		r   iprange.Range
	}{}
	for i := range cs {
		c := &cs[i]
		if !c.Enabled {
			continue
		}
		bind := bindingScore(c, la, local.Port())
		if bind == 0 {
			continue
		}
		r, ok := c.RemoteIPRanges.Best(ra)
		if !ok {
			continue
		}
		switch {
		case best == nil, bind > bestBind, bind == bestBind && r.Compare(bestRange.r) < 0:
			best, bestBind = c, bind
			bestRange.set, bestRange.r = true, r
		}
	}
	return best
}

// bindingScore is 2 for an exact IP binding, 1 for a wildcard of the same
// family, 0 when the connector is not bound to this local address.
func bindingScore(c *ReceiveConnector, local netip.Addr, port uint16) int {
	score := 0
	for _, b := range c.Bindings {
		if b.Port() != port {
			continue
		}
		ba := b.Addr().Unmap()
		switch {
		case ba == local:
			return 2
		case ba.IsUnspecified() && ba.Is4() == local.Is4():
			score = 1
		}
	}
	return score
}

// ListenAddrs returns the sockets to open for a set of connectors: per port
// and address family, the wildcard address when any enabled connector binds
// it (the connection is then dispatched on its local address), else each
// specific address. Linux cannot listen on 0.0.0.0:25 and 192.0.2.1:25 at
// once, so one listener per port that dispatches is the practical way.
func ListenAddrs(cs []ReceiveConnector) []netip.AddrPort {
	type famPort struct {
		v4   bool
		port uint16
	}
	wild := map[famPort]bool{}
	specific := map[netip.AddrPort]bool{}
	for _, c := range cs {
		if !c.Enabled {
			continue
		}
		for _, b := range c.Bindings {
			a := b.Addr().Unmap()
			if a.IsUnspecified() {
				wild[famPort{a.Is4(), b.Port()}] = true
			} else {
				specific[netip.AddrPortFrom(a, b.Port())] = true
			}
		}
	}
	var out []netip.AddrPort
	for fp := range wild {
		a := netip.IPv6Unspecified()
		if fp.v4 {
			a = netip.IPv4Unspecified()
		}
		out = append(out, netip.AddrPortFrom(a, fp.port))
	}
	for ap := range specific {
		if !wild[famPort{ap.Addr().Is4(), ap.Port()}] {
			out = append(out, ap)
		}
	}
	sort.Slice(out, func(i, j int) bool { return out[i].String() < out[j].String() })
	return out
}
