package registry

import (
	"errors"
	"fmt"
	"log/slog"
	"strings"

	"github.com/transportd/transportd/transport/admin/manage"
	"github.com/transportd/transportd/transport/admin/selftest"
	"github.com/transportd/transportd/transport/mail/sendconnector"
)

// testSendConnector is Test-SmtpConnectivity -SendConnector NAME [-Server
// HOST:PORT]: the self-test against each smart host of a send connector
// (or the one -Server names, e.g. one typed in the admin center before it
// is saved), with the connector's settings: STARTTLS is required only with
// RequireTLS, AUTH only with a SmartHostAuthMechanism, and the logon uses
// the connector's AuthenticationCredential. No message is sent.
func testSendConnector(env *Env, name, server, fqdn string) ([]manage.Record, error) {
	cfg, err := env.Manager.Load()
	if err != nil {
		return nil, err
	}
	var sc *sendconnector.SendConnector
	var names []string
	for i := range cfg.SendConnectors {
		names = append(names, cfg.SendConnectors[i].Name)
		if strings.EqualFold(cfg.SendConnectors[i].Name, name) {
			sc = &cfg.SendConnectors[i]
		}
	}
	if sc == nil {
		return nil, fmt.Errorf("no send connector %q (existing: %s)", name, strings.Join(names, ", "))
	}
	port := sc.Port
	if port == 0 {
		port = 25
	}
	var hosts []string
	if server != "" {
		var h sendconnector.SmartHost
		if err := h.UnmarshalText([]byte(server)); err != nil {
			return nil, fmt.Errorf("-Server %q: %w", server, err)
		}
		hosts = append(hosts, h.Address(port))
	} else {
		if len(sc.SmartHosts) == 0 {
			return nil, fmt.Errorf("send connector %q routes by MX records (DNSRoutingEnabled): give the host to try with -Server HOST:PORT", sc.Name)
		}
		for _, h := range sc.SmartHosts {
			hosts = append(hosts, h.Address(port))
		}
	}
	mech := strings.ToLower(sc.SmartHostAuthMechanism)
	basic := mech == "basicauth" || mech == "basicauthrequiretls"
	if basic && sc.AuthenticationCredential.IsZero() {
		return nil, fmt.Errorf("send connector %q uses %s without an AuthenticationCredential: set it first (Set-SendConnector -AuthenticationCredential USER -Password -)", sc.Name, sc.SmartHostAuthMechanism)
	}
	failed := 0
	for i, addr := range hosts {
		o := selftest.Options{Address: addr, Fqdn: fqdn, LogonOnly: true, Log: slog.New(slog.DiscardHandler),
			TLSOptional: !sc.RequireTLS && mech != "basicauthrequiretls", AuthOptional: !basic}
		if fqdn == "" && sc.TlsDomain != "" && !strings.HasPrefix(sc.TlsDomain, "*") {
			o.Fqdn = sc.TlsDomain
		}
		if basic {
			o.Mailbox, o.Password = sc.AuthenticationCredential.UserName, sc.AuthenticationCredential.Password
		}
		if i > 0 {
			fmt.Fprintln(env.Out)
		}
		fmt.Fprintf(env.Out, "Smart host %s of send connector %s:\n", addr, sc.Name)
		steps := selftest.Run(env.ctx(), o)
		selftest.Format(env.Out, steps)
		if selftest.Failed(steps) {
			failed++
		}
	}
	if failed > 0 {
		return nil, errors.New(plural(failed, "smart host") + " of " + fmt.Sprint(len(hosts)) + " failed the test; see FAIL above")
	}
	return nil, nil
}
