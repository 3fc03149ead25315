package registry

import "github.com/transportd/transportd/transport/admin/manage"

// takeSendConnectorExtras handles what New-/Set-SendConnector accept for
// Exchange scripts without passing it to the configuration: -Force
// (transportd asks for no confirmation) and the parameters that have no
// meaning here, each with one warning.
func takeSendConnectorExtras(env *Env, ps *manage.Params) {
	ps.TakeExact("Force")
	takeInert(env, ps, sendConnectorInert)
}

// transportServiceOnly are Transport settings Exchange keeps in
// Set-TransportService, not in Set-TransportConfig.
var transportServiceOnly = []string{"OutboundConnectionFailureRetryInterval", "MaxOutboundConnections",
	"MaxConcurrentMailboxDeliveries", "ExternalDNSServers", "InternalDNSServers"}

// transportConfigExtra are Set-TransportConfig parameters accepted for
// scripts.
var transportConfigExtra = []Param{
	{Name: "Identity", Help: "the organization; accepted for scripts (there is one)"},
	{Name: "Force", Switch: true, Help: "accepted for scripts: transportd does not ask for confirmation"},
}

func takeTransportConfigExtra(ps *manage.Params) {
	for _, p := range transportConfigExtra {
		ps.TakeExact(p.Name)
	}
}
