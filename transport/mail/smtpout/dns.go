package smtpout

import (
	"context"
	"errors"
	"fmt"
	"net"
	"net/netip"
	"strings"
)

// NewResolver returns a resolver that asks the given DNS servers, in
// order, instead of those of /etc/resolv.conf: the transport service's
// ExternalDNSServers for send connectors with UseExternalDNSServersEnabled.
// A server is an IP address (port 53) or address:port. It returns nil for
// an empty list.
func NewResolver(servers []string) (*net.Resolver, error) {
	var addrs []string
	for _, s := range servers {
		s = strings.TrimSpace(s)
		if s == "" {
			continue
		}
		a, err := ParseDNSServer(s)
		if err != nil {
			return nil, err
		}
		addrs = append(addrs, a)
	}
	if len(addrs) == 0 {
		return nil, nil
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

// ParseDNSServer reads a DNS server as Set-TransportService
// -ExternalDNSServers takes it: an IP address, or address:port
// ([v6]:port), and returns the address to dial.
func ParseDNSServer(s string) (string, error) {
	s = strings.TrimSpace(s)
	if a, err := netip.ParseAddr(s); err == nil && a.Zone() == "" {
		return net.JoinHostPort(a.String(), "53"), nil
	}
	if ap, err := netip.ParseAddrPort(s); err == nil && ap.Port() != 0 {
		return ap.String(), nil
	}
	return "", fmt.Errorf("DNS server %q is not an IP address (or address:port)", s)
}
