package smtpout

import (
	"net"

	"github.com/transportd/transportd/policies/dnsclient"
)

// NewResolver returns a resolver that asks the given DNS servers, in
// order, instead of those of /etc/resolv.conf: the transport service's
// ExternalDNSServers for send connectors with UseExternalDNSServersEnabled.
// A server is an IP address (port 53) or address:port. It returns nil for
// an empty list (the caller's default resolver then applies).
func NewResolver(servers []string) (*net.Resolver, error) {
	r, err := dnsclient.NewResolver(servers)
	if err != nil || r == net.DefaultResolver {
		return nil, err
	}
	return r, nil
}
