package connector

import (
	"net/netip"

	"github.com/transportd/transportd/policies/iprange"
)

// validateProxyProtocol checks the PROXY protocol settings: a connector
// that expects PROXY headers must say from whom, and must not believe
// them from the whole Internet (anyone could then claim any address and
// pass RemoteIPRanges, relay rights and block lists).
func (c *ReceiveConnector) validateProxyProtocol(bad func(param, format string, args ...any)) {
	if !c.ProxyProtocolEnabled {
		return
	}
	if len(c.ProxyProtocolTrustedAddresses) == 0 {
		bad("ProxyProtocolEnabled", "$true needs the load balancers' addresses: give -ProxyProtocolTrustedAddresses 10.0.0.5 (or a range such as 10.0.1.0/24)")
	}
	for _, all := range iprange.All() {
		for _, r := range c.ProxyProtocolTrustedAddresses {
			if r.ContainsRange(all) {
				bad("ProxyProtocolTrustedAddresses", "%s would believe a PROXY header from anyone, who could then claim any client address: give only the load balancers' addresses", r)
			}
		}
	}
}

// ProxyTrusted reports whether a connection from remote to local must
// start with a PROXY protocol header: some enabled connector bound to
// local has ProxyProtocolEnabled and lists remote among its
// ProxyProtocolTrustedAddresses.
func ProxyTrusted(cs []ReceiveConnector, local, remote netip.AddrPort) bool {
	addr := remote.Addr().Unmap()
	for i := range cs {
		c := &cs[i]
		if !c.Enabled || !c.ProxyProtocolEnabled || !c.ProxyProtocolTrustedAddresses.Contains(addr) {
			continue
		}
		if bindingScore(c, local.Addr().Unmap(), local.Port()) > 0 {
			return true
		}
	}
	return false
}
