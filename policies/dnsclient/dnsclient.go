// Package dnsclient builds the resolver the message authentication checks
// (SPF, DKIM keys, DMARC) and the "is the DKIM record published" check use:
// the DNS servers of the transport service's ExternalDNSServers when set,
// else the system's (/etc/resolv.conf). Tests point it at an
// authoritative server on loopback, so they never ask the machine's
// resolver.
package dnsclient

import (
	"context"
	"errors"
	"fmt"
	"net"
	"net/netip"
	"strings"
)

// NewResolver returns a resolver that asks servers, in order: each an IP
// address (port 53) or address:port ([v6]:port). An empty list gives
// net.DefaultResolver.
func NewResolver(servers []string) (*net.Resolver, error) {
	var addrs []string
	for _, s := range servers {
		if strings.TrimSpace(s) == "" {
			continue
		}
		a, err := ParseServer(s)
		if err != nil {
			return nil, err
		}
		addrs = append(addrs, a)
	}
	if len(addrs) == 0 {
		return net.DefaultResolver, nil
	}
	var d net.Dialer
	return &net.Resolver{PreferGo: true, Dial: func(ctx context.Context, network, _ string) (net.Conn, error) {
		var errs []error
		for _, a := range addrs {
			c, err := d.DialContext(ctx, network, a)
			if err == nil {
				return c, nil
			}
			errs = append(errs, err)
		}
		return nil, errors.Join(errs...)
	}}, nil
}

// ParseServer reads one DNS server, an IP address or address:port, and
// returns the address to dial.
func ParseServer(s string) (string, error) {
	s = strings.TrimSpace(s)
	if a, err := netip.ParseAddr(s); err == nil && a.Zone() == "" {
		return net.JoinHostPort(a.String(), "53"), nil
	}
	if ap, err := netip.ParseAddrPort(s); err == nil && ap.Port() != 0 {
		return ap.String(), nil
	}
	return "", fmt.Errorf("DNS server %q is not an IP address (or address:port): give one such as 192.0.2.53 or 127.0.0.1:5353", s)
}
