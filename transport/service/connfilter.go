package service

import (
	"github.com/transportd/transportd/policies/connfilter"
	"github.com/transportd/transportd/policies/dnsclient"
	"github.com/transportd/transportd/transport/admin/config"
)

// connectionFilter builds the receive connectors' connection filtering
// from cfg; the block list providers are asked through
// Transport.ExternalDNSServers when set (else the system's resolver).
func connectionFilter(cfg *config.Config) *connfilter.Filter {
	res, err := dnsclient.NewResolver(cfg.Transport.ExternalDNSServers)
	if err != nil {
		res = nil // refused at set time; the system resolver meanwhile
	}
	var r connfilter.Resolver
	if res != nil {
		r = res
	}
	return cfg.Filter(r)
}
