package connector

import (
	"context"
	"net"
	"os"
	"strings"
)

// HostLookup is where a host's fully qualified name comes from: its
// kernel host name and the resolver (/etc/hosts first, then DNS, as the
// system's name service switch says). Tests give their own functions so
// that no test depends on the machine's resolver.
type HostLookup struct {
	// Hostname returns the kernel's host name (os.Hostname).
	Hostname func() (string, error)
	// LookupCNAME returns the canonical name of a host.
	LookupCNAME func(ctx context.Context, host string) (string, error)
	// LookupHost returns the addresses of a host.
	LookupHost func(ctx context.Context, host string) ([]string, error)
	// LookupAddr returns the names of an address, the canonical one first.
	LookupAddr func(ctx context.Context, addr string) ([]string, error)
}

// SystemHostLookup returns the lookup of this machine: os.Hostname and the
// default resolver.
func SystemHostLookup() HostLookup {
	r := net.DefaultResolver
	return HostLookup{Hostname: os.Hostname, LookupCNAME: r.LookupCNAME, LookupHost: r.LookupHost, LookupAddr: r.LookupAddr}
}

// FQDN resolves the host's fully qualified name as "hostname -f" does: the
// host name when it already has a dot; else the canonical name the
// resolver gives for it (getaddrinfo with AI_CANONNAME: the first name of
// its /etc/hosts line, such as mail.contoso.com in
// "192.0.2.25 mail.contoso.com mail", or its DNS CNAME target); else the
// first dotted name of one of its addresses. Without any, the short host
// name is returned as is (lower case), and "localhost" when there is none.
func (l HostLookup) FQDN(ctx context.Context) string {
	h := ""
	if l.Hostname != nil {
		if name, err := l.Hostname(); err == nil {
			h = strings.ToLower(strings.TrimSuffix(strings.TrimSpace(name), "."))
		}
	}
	if h == "" {
		return "localhost"
	}
	if strings.Contains(h, ".") {
		return h
	}
	if l.LookupCNAME != nil {
		if cname, err := l.LookupCNAME(ctx, h); err == nil {
			if c := dotted(cname); c != "" {
				return c
			}
		}
	}
	if l.LookupHost != nil && l.LookupAddr != nil {
		if addrs, err := l.LookupHost(ctx, h); err == nil {
			for _, a := range addrs {
				names, err := l.LookupAddr(ctx, a)
				if err != nil {
					continue
				}
				for _, n := range names {
					// Only a name of this host: 127.0.0.1 is also "localhost".
					if c := dotted(n); c != "" && strings.HasPrefix(c, h+".") {
						return c
					}
				}
			}
		}
	}
	return h
}

// dotted returns name in lower case without its trailing dot when it is a
// qualified name (it has a dot inside), else "".
func dotted(name string) string {
	n := strings.ToLower(strings.TrimSuffix(strings.TrimSpace(name), "."))
	if !strings.Contains(n, ".") {
		return ""
	}
	return n
}

// IsQualified reports whether a host name has a domain part ("mail" does
// not, "mail.contoso.com" does). A server whose FQDN has none greets, says
// HELO and sends DSNs with a name no other server can resolve.
func IsQualified(fqdn string) bool {
	return strings.Contains(strings.Trim(fqdn, "."), ".")
}
