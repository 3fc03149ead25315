package registry

import (
	"context"
	"errors"
	"fmt"
	"log/slog"
	"strconv"
	"strings"
	"time"

	"github.com/transportd/transportd/connector"
	"github.com/transportd/transportd/transport/admin/clientsettings"
	"github.com/transportd/transportd/transport/admin/config"
	"github.com/transportd/transportd/transport/admin/connectivity"
	"github.com/transportd/transportd/transport/admin/manage"
	"github.com/transportd/transportd/transport/admin/selftest"
)

// testConnectivity runs Test-ImapConnectivity or Test-PopConnectivity and
// returns Exchange's result rows (CasServer, LocalSite, Scenario, Result,
// Latency(MS), Error). As in Exchange, a failed step is a row, not an
// error.
func testConnectivity(env *Env, r Request, p manage.Protocol) ([]manage.Record, error) {
	ps := r.Params
	cfg, err := env.Manager.Load()
	if err != nil {
		return nil, err
	}
	for _, name := range []string{"ClientAccessServer", "MailboxServer"} {
		if v, ok := ps.TakeExact(name); ok && !strings.EqualFold(v, cfg.Server.Name) && !strings.EqualFold(v, cfg.Server.Fqdn) {
			return nil, fmt.Errorf("-%s: no server %q: this server is %s (%s)", name, v, cfg.Server.Name, cfg.Server.Fqdn)
		}
	}
	var inert []string
	for _, name := range []string{"MonitoringContext", "ResetTestAccountCredentials"} {
		if _, ok := ps.TakeExact(name); ok {
			inert = append(inert, "-"+name)
		}
	}
	if len(inert) > 0 && env.Manager.Warn != nil {
		env.Manager.Warn(strings.Join(inert, ", ") + " ignored: there is no System Center and no test account here; give -MailboxCredential")
	}
	user, _ := ps.TakeExact("MailboxCredential")
	password, hasPw := ps.TakeExact("Password")
	if hasPw && password == "-" {
		if env.ReadPassword == nil {
			return nil, errors.New("-Password -: no standard input to read the password from")
		}
		if password, err = env.ReadPassword(); err != nil {
			return nil, fmt.Errorf("reading the password: %w", err)
		}
	}
	if user != "" && !hasPw {
		return nil, errors.New("-MailboxCredential needs the password: -MailboxCredential (Get-Credential) in the shell, or -Password - (read from standard input)")
	}
	o := connectivity.Options{Protocol: connectivity.IMAP4, User: user, Password: password}
	if p == manage.ProtocolPop {
		o.Protocol = connectivity.POP3
	}
	if _, ok := ps.TakeExact("LightMode"); ok {
		o.LightMode = true
	}
	if _, ok := ps.TakeExact("TrustAnySSLCertificate"); ok {
		o.TrustAnyCertificate = true
	}
	for _, t := range []struct {
		name string
		d    *time.Duration
	}{{"Timeout", &o.FindTimeout}, {"PerConnectionTimeout", &o.Timeout}} {
		if v, ok := ps.TakeExact(t.name); ok {
			n, err := strconv.Atoi(v)
			if err != nil || n < 0 || n > 3600 {
				return nil, fmt.Errorf("-%s %q: give seconds, 0 to 3600", t.name, v)
			}
			*t.d = time.Duration(n) * time.Second
		}
	}

	eff := cfg.ClientSettings.Effective()
	settings := eff.Imap
	if p == manage.ProtocolPop {
		settings = eff.Pop
	}
	endpoints := settings.Endpoints()
	if len(endpoints) == 0 {
		return nil, fmt.Errorf("no %s server to test: Set-%sSettings -ExternalConnectionSettings names it, e.g. mail.contoso.com:%s", o.Protocol, p,
			map[manage.Protocol]string{manage.ProtocolImap: "993:SSL", manage.ProtocolPop: "995:SSL"}[p])
	}
	ep := endpoints[0]
	if v, ok := ps.TakeExact("ConnectionType"); ok {
		var enc config.Encryption
		switch strings.ToLower(strings.TrimSpace(v)) {
		case "plaintext":
			enc = config.EncryptionNone
		case "ssl":
			enc = config.EncryptionSSL
		case "tls":
			enc = config.EncryptionTLS
		default:
			return nil, fmt.Errorf("-ConnectionType %q: use Plaintext, Ssl or Tls", v)
		}
		found := false
		for _, e := range endpoints {
			if e.Encryption == enc || (e.Encryption == "" && enc == config.EncryptionNone) {
				ep, found = e, true
				break
			}
		}
		if !found { // the first server, on that kind's usual port
			ep.Encryption = enc
			ep.Port = map[manage.Protocol]map[config.Encryption]int{
				manage.ProtocolImap: {config.EncryptionSSL: 993, config.EncryptionTLS: 143, config.EncryptionNone: 143},
				manage.ProtocolPop:  {config.EncryptionSSL: 995, config.EncryptionTLS: 110, config.EncryptionNone: 110},
			}[p][enc]
		}
	}
	if v, ok := ps.TakeExact("PortClientAccessServer"); ok {
		n, err := strconv.Atoi(v)
		if err != nil || n < 1 || n > 65535 {
			return nil, fmt.Errorf("-PortClientAccessServer %q: give a port, 1 to 65535", v)
		}
		ep.Port = n
	}
	if len(ps) > 0 {
		return nil, fmt.Errorf("unknown parameter -%s", ps[0].Name)
	}
	o.Address = ep.Host + ":" + strconv.Itoa(ep.Port)
	o.Host, o.Encryption = ep.Host, ep.Encryption
	o.LoginType = settings.EffectiveLoginType()
	o.CertificateName = settings.X509CertificateName

	// The test message goes through the connector that advertises client
	// settings, as the mailbox's user, to the mailbox's primary address.
	if user != "" {
		// Exchange's DOMAIN\user form names the mailbox by its name.
		mb := cfg.FindMailboxUser(user[strings.LastIndex(user, `\`)+1:])
		s, advErr := clientsettings.Advertised(cfg)
		switch {
		case mb == nil:
			o.NoSend = fmt.Sprintf("%s is no mailbox of this server (Get-Mailbox), so no test message is sent to it", user)
		case advErr != nil:
			o.NoSend = advErr.Error()
		default:
			o.User = mb.PrimarySmtpAddress
			rc := findConnector(cfg, s.Connector)
			so, err := selftest.ForConnector(cfg, rc, mb.PrimarySmtpAddress)
			if err != nil {
				o.NoSend = err.Error()
			} else {
				so.Password, so.Log = password, slog.New(slog.DiscardHandler)
				so.Maildir, so.NoDeliveryCheck = "", "the message is looked for over "+string(o.Protocol)
				o.Send = func(ctx context.Context, subject string) error {
					so.Subject = subject
					steps := selftest.Run(ctx, so)
					for _, st := range steps {
						if st.Status == selftest.Fail {
							return fmt.Errorf("through %s (%s): %s: %s", rc.Name, so.Address, st.Name, st.Detail)
						}
					}
					return nil
				}
			}
		}
	}

	rows := connectivity.Run(env.ctx(), o)
	var out []manage.Record
	for _, row := range rows {
		out = append(out, manage.Record{
			{Name: "CasServer", Value: o.Address},
			{Name: "LocalSite", Value: cfg.Server.Name},
			{Name: "Scenario", Value: row.Scenario},
			{Name: "Result", Value: row.Result},
			{Name: "Latency(MS)", Value: strconv.FormatInt(row.Latency.Milliseconds(), 10)},
			{Name: "Error", Value: row.Error},
		})
	}
	return out, nil
}

// findConnector returns the receive connector called name.
func findConnector(cfg *config.Config, name string) *connector.ReceiveConnector {
	for i := range cfg.ReceiveConnectors {
		if cfg.ReceiveConnectors[i].Name == name {
			return &cfg.ReceiveConnectors[i]
		}
	}
	return nil
}
