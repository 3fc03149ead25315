package registry

import (
	"fmt"
	"strings"

	"github.com/transportd/transportd/transport/admin/config"
	"github.com/transportd/transportd/transport/admin/manage"
)

// protocolSettingsKind is Exchange's Get/Set-ImapSettings (p "Imap") or
// Get/Set-PopSettings (p "Pop"): what POP3/IMAP clients are told about
// (autoconfig, autodiscover) and what Test-ImapConnectivity/
// Test-PopConnectivity log on to.
func protocolSettingsKind(p manage.Protocol) *Kind {
	name, proto := "imapsettings", "IMAP4"
	if p == manage.ProtocolPop {
		name, proto = "popsettings", "POP3"
	}
	server := val("Server", "this server, by Name or Fqdn (optional: there is one)")
	fields := FieldParams(&config.ProtocolSettings{})
	for i := range fields {
		switch fields[i].Name {
		case "ExternalConnectionSettings":
			fields[i].Help = "HostName:Port:[TLS|SSL], comma-separated or @{Add=...;Remove=...}: the " + proto + " server clients are told about (autoconfig, autodiscover); the first entry is advertised"
		case "InternalConnectionSettings":
			fields[i].Help = "HostName:Port:[TLS|SSL] list: tested by Test-" + string(p) + "Connectivity when there is no external setting"
		case "LoginType":
			fields[i].Help = "PlainTextLogin, PlainTextAuthentication or SecureLogin (the default: the password only inside TLS); how the connectivity test logs on"
		case "X509CertificateName":
			fields[i].Help = "the host name the " + proto + " server's certificate must cover; checked by the connectivity test"
		default:
			fields[i].Help += "; kept for scripts, applied by the " + proto + " server (Dovecot), not by transportd"
		}
	}
	return &Kind{Noun: name, TypeName: string(p) + "Settings",
		What: "what " + proto + " clients are told about and the connectivity test logs on to (Get/Set-" + string(p) + "Settings)",
		Commands: []*Command{
			{Verb: "get", Cmdlet: "Get-" + string(p) + "Settings",
				Synopsis: "Shows the " + proto + " settings: the ExternalConnectionSettings clients are told about, LoginType, and the settings kept for the " + proto + " server.",
				Params:   params(server), Records: true, List: always,
				Run: func(env *Env, r Request) ([]manage.Record, error) {
					rec, err := env.Manager.GetProtocolSettings(p, r.Params)
					if err != nil {
						return nil, err
					}
					return []manage.Record{rec}, nil
				}},
			{Verb: "set", Cmdlet: "Set-" + string(p) + "Settings",
				Synopsis: "Changes the " + proto + " settings; those only the " + proto + " server applies are saved with a warning.",
				Params:   params(server, fields),
				Run: func(env *Env, r Request) ([]manage.Record, error) {
					if err := env.Manager.SetProtocolSettings(p, r.Params); err != nil {
						return nil, err
					}
					env.say("Changed the %s settings. A running transportd applies the change within seconds.", proto)
					return nil, nil
				}},
		}}
}

// connectivityCommand is Exchange's Test-ImapConnectivity (p "Imap") or
// Test-PopConnectivity (p "Pop"): `transportd test imap|pop`.
func connectivityCommand(p manage.Protocol) *Command {
	proto, verb := "IMAP4", "imap"
	if p == manage.ProtocolPop {
		proto, verb = "POP3", "pop"
	}
	return &Command{Verb: verb, VerbAliases: []string{verb + "connectivity"}, Cmdlet: "Test-" + string(p) + "Connectivity",
		Synopsis: "Logs on to the " + proto + " server Set-" + string(p) + "Settings names (ExternalConnectionSettings, else InternalConnectionSettings), " +
			"sends a test message through the receive connector that advertises client settings, finds it in the mailbox and deletes it; " +
			"one row per step with Result Success, Failure or Skipped, Latency and Error.",
		Params: params(val("ClientAccessServer", "this server, by Name or Fqdn (optional: there is one)"),
			val("MailboxCredential", "the mailbox to log on as (its address or name); from the shell a Get-Credential credential"),
			val("Password", "the mailbox password; - reads it from standard input"),
			val("ConnectionType", "Plaintext, Ssl or Tls (STARTTLS): the connection setting of that kind (default: the first one)"),
			val("PortClientAccessServer", "the port, instead of the connection setting's"),
			sw("LightMode", "only log on; send and find no test message"),
			sw("TrustAnySSLCertificate", "accept a certificate that is not trusted or does not match the host name"),
			val("Timeout", "seconds to wait for the test message (default 60)"),
			val("PerConnectionTimeout", "seconds to wait for each reply (default 30)"),
			val("MailboxServer", "this server, by Name or Fqdn (optional: there is one)"),
			sw("MonitoringContext", "accepted for scripts; there is no System Center here"),
			sw("ResetTestAccountCredentials", "accepted for scripts; there is no test account here: give -MailboxCredential")),
		Positional: []string{"ClientAccessServer"}, Records: true,
		Run: func(env *Env, r Request) ([]manage.Record, error) { return testConnectivity(env, r, p) },
	}
}

// mailboxesUpTo is Get-Mailbox with -ResultSize (Unlimited or a count).
func mailboxesUpTo(env *Env, id string, extra manage.Params) ([]manage.Record, error) {
	limit := 0
	if v, ok := extra.TakeExact("ResultSize"); ok {
		n, err := manage.ParseResultSize(v)
		if err != nil {
			return nil, err
		}
		limit = n
	}
	recs, err := env.Manager.GetMailboxes(id)
	if err != nil {
		return nil, err
	}
	if limit > 0 && len(recs) > limit {
		if env.Manager.Warn != nil {
			env.Manager.Warn(fmt.Sprintf("showing the first %d of %d mailboxes: -ResultSize Unlimited shows them all", limit, len(recs)))
		}
		recs = recs[:limit]
	}
	return recs, nil
}

// makeDefault turns Set-AcceptedDomain's -MakeDefault into the Default
// property it sets.
func makeDefault(ps manage.Params) manage.Params {
	out := append(manage.Params(nil), ps...)
	for i := range out {
		if strings.EqualFold(out[i].Name, "MakeDefault") {
			out[i].Name = "Default"
			if out[i].Switch {
				out[i].Switch, out[i].Value = false, "$true"
			}
		}
	}
	return out
}
