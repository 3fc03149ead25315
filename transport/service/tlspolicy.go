package service

import (
	"log/slog"
	"net"
	"path/filepath"

	"github.com/transportd/transportd/transport/admin/config"
	"github.com/transportd/transportd/transport/mail/dane"
	"github.com/transportd/transportd/transport/mail/mtasts"
	"github.com/transportd/transportd/transport/mail/smtpout"
)

// tlsPolicies are the MTA-STS (RFC 8461) and DANE (RFC 7672) lookups of
// send connectors with DNSRoutingEnabled: one set asking the transport
// service's ExternalDNSServers (connectors with
// UseExternalDNSServersEnabled), one the internal (or system) servers.
// MTA-STS policies are cached in the data folder, so a restart keeps them
// (RFC 8461 section 5.1). DANE applies only where the resolver validates
// DNSSEC and sets the AD bit.
type tlsPolicies struct {
	external, internal smtpout.TLSPolicies
}

func newTLSPolicies(c *config.Config, external, internal *net.Resolver, log *slog.Logger) tlsPolicies {
	dir := c.DataDir()
	build := func(r *net.Resolver, servers []string, cache string) smtpout.TLSPolicies {
		var p smtpout.TLSPolicies
		o := mtasts.Options{CacheFile: filepath.Join(dir, cache), Logger: log.With("component", "mta-sts")}
		if r != nil {
			o.Resolver = r
		}
		p.MTASTS = mtasts.New(o)
		d, err := dane.NewResolver(servers)
		if err != nil {
			log.Warn("DANE is off: no DNS server to ask for TLSA records", "err", err)
		} else {
			p.DANE = d
		}
		return p
	}
	return tlsPolicies{
		external: build(external, c.Transport.ExternalDNSServers, "mta-sts-policies.json"),
		internal: build(internal, c.Transport.InternalDNSServers, "mta-sts-policies-internal.json"),
	}
}

func (p tlsPolicies) forConnector(external bool) smtpout.TLSPolicies {
	if external {
		return p.external
	}
	return p.internal
}
