package config

import "net/netip"

// isDNSServer reports an IP address, or address:port, as
// ExternalDNSServers and InternalDNSServers take them.
func isDNSServer(s string) bool {
	if a, err := netip.ParseAddr(s); err == nil && a.Zone() == "" {
		return true
	}
	ap, err := netip.ParseAddrPort(s)
	return err == nil && ap.Port() != 0
}
