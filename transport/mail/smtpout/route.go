package smtpout

import (
	"context"
	"errors"
	"net"
	"net/netip"
	"slices"
	"strconv"
	"strings"

	"github.com/transportd/transportd/transport/mail/delivery"
)

// host is one place to deliver to.
type host struct {
	// name is the smart host or MX name (or the IP's text): the name in
	// messages, in RemoteMTA and for certificate checks.
	name string
	// addr is "host:port" to dial.
	addr string
	// ip is set when name is an IP address (no SNI, IP SAN checks).
	ip bool
	// implicit marks the domain itself used as its MX (RFC 5321 section 5.1).
	implicit bool
	// implicitTLS: TLS from the first byte, on port 465 (RFC 8314 section 3.3).
	implicitTLS bool

	// policy is the MTA-STS or DANE policy the host is delivered under
	// (tlspolicy.go); nil: the connector's settings alone.
	policy *hostPolicy
	// requireTLS: the message carries REQUIRETLS (RFC 8689): validated
	// TLS and a server that offers REQUIRETLS.
	requireTLS bool
}

func (h host) key() string {
	k := h.addr + "|" + h.name + "|" + h.policy.tag()
	if h.requireTLS {
		k += "|requiretls"
	}
	return k
}

// hosts lists where mail for domain goes, in the order to try: the smart
// hosts, or the MX hosts by preference.
func (s *Sender) hosts(ctx context.Context, domain string) ([]host, *delivery.Error) {
	out, err := s.routeHosts(ctx, domain)
	s.markImplicitTLS(out)
	return out, err
}

func (s *Sender) routeHosts(ctx context.Context, domain string) ([]host, *delivery.Error) {
	port := s.conn.Port
	if port == 0 {
		port = 25
	}
	if !s.conn.DNSRoutingEnabled {
		out := make([]host, 0, len(s.conn.SmartHosts))
		for _, sh := range s.conn.SmartHosts {
			out = append(out, host{name: sh.Host, addr: sh.Address(port), ip: sh.IsIP()})
		}
		if len(out) == 0 {
			return nil, delivery.Temporary([3]int{4, 4, 0}, "send connector %q has no smart hosts and DNS routing is off", s.conn.Name)
		}
		return out, nil
	}
	return mxHosts(ctx, s.resolver, domain, port)
}

// mxHosts resolves domain's MX records as RFC 5321 section 5.1 says:
// records by preference; no MX records means the domain itself (its A and
// AAAA records); a lone "." is a null MX (RFC 7505): the domain takes no mail.
// An address literal ("[192.0.2.1]", "[IPv6:2001:db8::1]") is used directly.
func mxHosts(ctx context.Context, r MXResolver, domain string, port int) ([]host, *delivery.Error) {
	d := strings.TrimSuffix(strings.ToLower(strings.TrimSpace(domain)), ".")
	p := strconv.Itoa(port)
	if d == "" {
		return nil, delivery.Permanentf([3]int{5, 1, 3}, "recipient address has no domain")
	}
	if strings.HasPrefix(d, "[") && strings.HasSuffix(d, "]") {
		lit := strings.TrimPrefix(d[1:len(d)-1], "ipv6:")
		a, err := netip.ParseAddr(lit)
		if err != nil || a.Zone() != "" {
			return nil, delivery.Permanentf([3]int{5, 1, 2}, "address literal %s is not an IP address", domain)
		}
		return []host{{name: a.String(), addr: net.JoinHostPort(a.String(), p), ip: true}}, nil
	}
	mxs, err := r.LookupMX(ctx, d)
	if len(mxs) == 0 {
		var dnsErr *net.DNSError
		switch {
		case err == nil, errors.As(err, &dnsErr) && dnsErr.IsNotFound:
			// No MX: the domain is its own mail host (RFC 5321 section 5.1).
			return []host{{name: d, addr: net.JoinHostPort(d, p), implicit: true}}, nil
		default:
			// RFC 3463 X.4.3: the directory (DNS) could not be consulted.
			return nil, delivery.Temporary([3]int{4, 4, 3}, "MX lookup for %s failed: %v", d, err)
		}
	}
	// A partial answer (err != nil with records) is used: Go returns the
	// valid records and drops malformed ones.
	recs := slices.Clone(mxs)
	slices.SortStableFunc(recs, func(a, b *net.MX) int { return int(a.Pref) - int(b.Pref) })
	var out []host
	seen := map[string]bool{}
	null := false
	for _, mx := range recs {
		if mx == nil {
			continue
		}
		name := strings.TrimSuffix(strings.ToLower(mx.Host), ".")
		if name == "" {
			null = true
			continue
		}
		if seen[name] {
			continue
		}
		seen[name] = true
		_, ipErr := netip.ParseAddr(name)
		out = append(out, host{name: name, addr: net.JoinHostPort(name, p), ip: ipErr == nil})
	}
	if len(out) == 0 && null {
		// RFC 7505 section 3: "556 5.1.10" when the domain has a null MX.
		return nil, &delivery.Error{Code: 556, Enhanced: [3]int{5, 1, 10},
			Message: "domain " + d + " does not accept mail (null MX, RFC 7505)"}
	}
	if len(out) == 0 {
		return nil, delivery.Temporary([3]int{4, 4, 3}, "MX lookup for %s returned no usable host", d)
	}
	return out, nil
}
