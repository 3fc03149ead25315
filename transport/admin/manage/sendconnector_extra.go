package manage

import (
	"fmt"
	"net"
	"strings"

	"github.com/transportd/transportd/transport/admin/config"
	"github.com/transportd/transportd/transport/mail/sendconnector"
)

// takeSendUsage removes New-SendConnector's usage (-Usage X, or one of the
// switches -Internet, -Internal, -Custom, -Partner) from ps.
func takeSendUsage(ps *Params) (string, error) {
	usage := ""
	if v, ok := ps.TakeExact("Usage"); ok {
		usage = strings.TrimSpace(v)
	}
	for _, u := range []string{"Custom", "Internal", "Internet", "Partner"} {
		v, ok := ps.TakeExact(u)
		if !ok {
			continue
		}
		on, err := ParseBool(v)
		if err != nil {
			return "", fmt.Errorf("-%s: %w", u, err)
		}
		if !on {
			continue
		}
		if usage != "" && !strings.EqualFold(usage, u) {
			return "", fmt.Errorf("-%s conflicts with the usage %s: give one of -Custom, -Internal, -Internet, -Partner or -Usage", u, usage)
		}
		usage = u
	}
	for _, u := range []string{"", "Custom", "Internal", "Internet", "Partner"} {
		if strings.EqualFold(usage, u) {
			return u, nil
		}
	}
	return "", fmt.Errorf("-Usage %q: use Custom, Internal, Internet or Partner", usage)
}

// applySendUsage sets Exchange's defaults of a send connector usage:
// Custom, Internal and Internet route by DNS without authentication
// (Exchange's Internal would authenticate as an Exchange server, which
// does not exist here); Partner requires TLS, as Exchange's domain-secured
// partner connectors do.
func applySendUsage(sc *sendconnector.SendConnector, usage string) {
	if usage == "Partner" {
		sc.RequireTLS = true
	}
}

// checkSendConnector checks a send connector against this machine and the
// rest of the configuration at set time: a SourceIPAddress the daemon
// could not bind is refused; settings that will not work as the admin
// likely expects are said in a warning.
func (m *Manager) checkSendConnector(c *config.Config, sc *sendconnector.SendConnector) error {
	if a, ok := sc.SourceAddr(); ok {
		// Binding is what the daemon will do for each connection.
		l, err := net.ListenPacket("udp", net.JoinHostPort(a.String(), "0"))
		if err != nil {
			return fmt.Errorf("send connector %q: -SourceIPAddress %s is not an address of this machine (%v); give one of its addresses (ip -br addr), or 0.0.0.0 for any", sc.Name, a, err)
		}
		l.Close()
	}
	if sc.UsesBasicAuth() && sc.DNSRoutingEnabled {
		m.warn("send connector %q: -SmartHostAuthMechanism %s authenticates to smart hosts only; this connector routes by DNS, so it sends without AUTH until you give -SmartHosts", sc.Name, sc.AuthMechanism())
	}
	if sc.UseExternalDNSServersEnabled && len(c.Transport.ExternalDNSServers) == 0 {
		m.warn("send connector %q: -UseExternalDNSServersEnabled $true, but no ExternalDNSServers are set, so the system's resolver is used; set them with Set-TransportService -ExternalDNSServers 192.0.2.53", sc.Name)
	}
	if sc.HasErrorPolicy(sendconnector.ErrorPolicyDowngradeCustom) || sc.HasErrorPolicy(sendconnector.ErrorPolicyUpgradeCustom) {
		m.warn("send connector %q: -ErrorPolicies DowngradeCustomFailures/UpgradeCustomFailures do nothing here (transportd has no list of custom SMTP failures); DowngradeDnsFailures works", sc.Name)
	}
	return nil
}
