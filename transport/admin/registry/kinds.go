package registry

import (
	"errors"
	"fmt"

	"github.com/transportd/transportd/connector"
	"github.com/transportd/transportd/transport/admin/config"
	"github.com/transportd/transportd/transport/admin/manage"
	"github.com/transportd/transportd/transport/mail/sendconnector"
)

// listKind declares a kind kept as a list in the configuration
// (connectors, accepted domains, mailboxes): it becomes Get-X, Set-X, New-X
// and Remove-X, and the nouns' get, set, new and remove.
type listKind struct {
	noun     string
	aliases  []string
	help     string // the line for transportd help
	typeName string // ReceiveConnector
	what     string // "receive connector"
	columns  []string
	fields   []Param // Set-X and New-X
	getExtra []Param
	newExtra []Param
	// get lists the objects matching identity ("" = all); extra are the
	// getExtra parameters given.
	get    func(env *Env, identity string, extra manage.Params) ([]manage.Record, error)
	set    func(env *Env, ids []string, ps manage.Params) (int, error)
	add    func(env *Env, ps manage.Params) (manage.Record, error)
	remove func(env *Env, ids []string) (int, error)
	// getType names the type of what get returns for these parameters,
	// when it is not typeName (connector get -ClientSettings).
	getType func(extra manage.Params) string
}

func (k listKind) kind() *Kind {
	identity := val("Identity", "the name; wildcards * allowed")
	ids := []string{"Identity"}
	get := &Command{Verb: "get", Cmdlet: "Get-" + k.typeName,
		Synopsis: "Shows " + k.what + "s: a table, or every property with Format-List.",
		Params:   params(identity, k.getExtra), Positional: ids, IdentityParams: ids, Records: true,
		List: func(r Request) bool {
			return byIdentity(r) || (k.getType != nil && k.getType(r.Params) != "")
		},
		Run: func(env *Env, r Request) ([]manage.Record, error) {
			return k.get(env, localIdentity(env.Manager, r.Identity()), r.Params)
		}}
	set := &Command{Verb: "set", Cmdlet: "Set-" + k.typeName,
		Synopsis: "Changes " + k.what + "s: every one -Identity (or the pipeline) names, all in one update or none.",
		Params:   params(identity, k.fields), Positional: ids, IdentityParams: ids, Pipe: true,
		Run: func(env *Env, r Request) ([]manage.Record, error) {
			if len(r.Identities) == 0 {
				return nil, needIdentities(r, "Identity", "Set-"+k.typeName)
			}
			n, err := k.set(env, localIdentities(env.Manager, r.Identities), r.Params)
			if err != nil {
				return nil, err
			}
			env.say("Changed %s. A running transportd applies the change within seconds.", plural(n, k.what))
			return nil, nil
		}}
	add := &Command{Verb: "new", Cmdlet: "New-" + k.typeName, Synopsis: "Creates a " + k.what + ".",
		Params: params(k.newExtra, k.fields), Positional: []string{"Name"}, Records: true, List: always,
		Run: func(env *Env, r Request) ([]manage.Record, error) {
			rec, err := k.add(env, r.Params)
			if err != nil {
				return nil, err
			}
			return []manage.Record{rec}, nil
		}}
	remove := &Command{Verb: "remove", Cmdlet: "Remove-" + k.typeName, Synopsis: "Removes " + k.what + "s.",
		Params: params(identity), Positional: ids, IdentityParams: ids, Pipe: true,
		Run: func(env *Env, r Request) ([]manage.Record, error) {
			if len(r.Identities) == 0 {
				return nil, needIdentities(r, "Identity", "Remove-"+k.typeName)
			}
			n, err := k.remove(env, localIdentities(env.Manager, r.Identities))
			if err != nil {
				return nil, err
			}
			env.say("Removed %s.", plural(n, k.what))
			return nil, nil
		}}
	if k.getType != nil {
		get.Type = func(r Request) string {
			if t := k.getType(r.Params); t != "" {
				return t
			}
			return k.typeName
		}
	}
	return &Kind{Noun: k.noun, Aliases: k.aliases, What: k.help, TypeName: k.typeName, Columns: k.columns,
		Commands: []*Command{get, set, add, remove}}
}

// onlyIdentity is the get of a kind whose get takes nothing but -Identity.
func onlyIdentity(f func(m *manage.Manager, id string) ([]manage.Record, error)) func(*Env, string, manage.Params) ([]manage.Record, error) {
	return func(env *Env, id string, _ manage.Params) ([]manage.Record, error) { return f(env.Manager, id) }
}

func receiveConnectorKind() *Kind {
	return listKind{noun: "connector", aliases: []string{"receiveconnector"}, typeName: "ReceiveConnector",
		help: "receive connectors (Get/Set/New/Remove-ReceiveConnector)", what: "receive connector",
		columns: []string{"Identity", "Bindings", "Enabled"},
		fields: append(FieldParams(&connector.ReceiveConnector{}, "ADPermissions"),
			sw("Force", "save a change that takes STARTTLS (and with it AUTH) away, or opens AllowLegacyTLSClients to the whole Internet")),
		getExtra: params(sw("ClientSettings", "what a POP3/IMAP user needs to submit through the connector")),
		newExtra: params(val("Usage", "Client, Internal, Internet, Partner, Custom, or Submissions (Client with implicit TLS on 465, RFC 8314)"),
			sw("Client", "Exchange's defaults for POP3/IMAP4 clients"), sw("Internal", "for other Exchange servers"),
			sw("Internet", "for anonymous senders on the Internet"), sw("Partner", "for partner domains"),
			sw("Custom", "accepts nothing until -PermissionGroups is set")),
		get: func(env *Env, id string, extra manage.Params) ([]manage.Record, error) {
			if v, ok := extra.TakeExact("ClientSettings"); ok {
				if on, err := manage.ParseBool(v); err != nil {
					return nil, fmt.Errorf("-ClientSettings: %w", err)
				} else if on {
					return clientSettings(env.Manager, id)
				}
			}
			return serverScoped(env, id, env.Manager.GetConnectors) // cluster.go (issue 14)
		},
		getType: func(extra manage.Params) string {
			for _, p := range extra {
				if p.Name == "ClientSettings" {
					if on, _ := manage.ParseBool(paramText(p)); on {
						return "ClientSettings"
					}
				}
			}
			return ""
		},
		set: func(env *Env, ids []string, ps manage.Params) (int, error) {
			return env.Manager.SetConnectorsEach(ids, ps)
		},
		add: func(env *Env, ps manage.Params) (manage.Record, error) { return env.Manager.NewConnector(ps) },
		remove: func(env *Env, ids []string) (int, error) {
			return env.Manager.RemoveConnectorsEach(ids)
		},
	}.kind()
}

func sendConnectorKind() *Kind {
	return listKind{noun: "sendconnector", typeName: "SendConnector", what: "send connector",
		help:    "send connectors to smart hosts or by MX (Get/Set/New/Remove-SendConnector)",
		columns: []string{"Identity", "AddressSpaces", "SmartHosts", "Enabled"},
		fields: params(FieldParams(&sendconnector.SendConnector{}), val("Password", "the smart host password; - reads it from standard input"),
			sw("Force", "accepted for scripts: transportd does not ask for confirmation"), inertParams(sendConnectorInert)),
		newExtra: params(sw("Internet", "Exchange's Internet usage: DNS routing, no authentication (the default)"),
			sw("Internal", "Exchange's Internal usage: as Custom (there is no Exchange server authentication)"),
			sw("Custom", "Exchange's defaults"), sw("Partner", "Exchange's Partner usage: -RequireTLS $true"),
			val("Usage", "Custom, Internal, Internet or Partner")),
		get: onlyIdentity((*manage.Manager).GetSendConnectors),
		set: func(env *Env, ids []string, ps manage.Params) (int, error) {
			if takeSendConnectorExtras(env, &ps); len(ps) == 0 {
				return 0, nil // only parameters that do nothing here: each said why
			}
			return env.Manager.SetSendConnectorsEach(ids, ps, env.ReadPassword)
		},
		add: func(env *Env, ps manage.Params) (manage.Record, error) {
			takeSendConnectorExtras(env, &ps)
			return env.Manager.NewSendConnector(ps, env.ReadPassword)
		},
		remove: func(env *Env, ids []string) (int, error) { return env.Manager.RemoveSendConnectorsEach(ids) },
	}.kind()
}

func acceptedDomainKind() *Kind {
	return listKind{noun: "accepteddomain", typeName: "AcceptedDomain", what: "accepted domain",
		help:    "accepted domains (Get/Set/New/Remove-AcceptedDomain)",
		columns: []string{"Name", "DomainName", "DomainType", "Default"},
		fields:  append(FieldParams(&config.AcceptedDomain{}), val("MakeDefault", "$true: this domain becomes the default (Default), the others stop being it")),
		get:     onlyIdentity((*manage.Manager).GetAcceptedDomains),
		set: func(env *Env, ids []string, ps manage.Params) (int, error) {
			return env.Manager.SetAcceptedDomainsEach(ids, makeDefault(ps))
		},
		add: func(env *Env, ps manage.Params) (manage.Record, error) {
			return env.Manager.NewAcceptedDomain(makeDefault(ps))
		},
		remove: func(env *Env, ids []string) (int, error) { return env.Manager.RemoveAcceptedDomainsEach(ids) },
	}.kind()
}

func mailboxKind() *Kind {
	return listKind{noun: "mailbox", typeName: "Mailbox", what: "mailbox",
		help:    "mailboxes; -Password - reads the password from stdin (Get/Set/New/Remove-Mailbox)",
		columns: []string{"Name", "PrimarySmtpAddress", "Enabled", "PasswordSet"},
		fields:  append(FieldParams(&config.Mailbox{}, "PasswordHash"), val("Password", "the password; - reads it from standard input; stored as an argon2id hash")),
		newExtra: params(val("ResetPasswordOnNextLogon", "accepted with a warning: no client asks for a new password here"),
			val("Database", "accepted with a warning: mail is kept in a Maildir per mailbox"),
			val("OrganizationalUnit", "accepted with a warning: there is no Active Directory")),
		getExtra: params(val("ResultSize", "Unlimited, or how many mailboxes to show at most")),
		get:      mailboxesUpTo,
		set: func(env *Env, ids []string, ps manage.Params) (int, error) {
			return env.Manager.SetMailboxesEach(ids, ps, env.ReadPassword)
		},
		add: func(env *Env, ps manage.Params) (manage.Record, error) {
			return env.Manager.NewMailbox(ps, env.ReadPassword)
		},
		remove: func(env *Env, ids []string) (int, error) { return env.Manager.RemoveMailboxesEach(ids) },
	}.kind()
}

func transportConfigKind() *Kind {
	var cfg config.Config
	return &Kind{Noun: "transportconfig", TypeName: "TransportConfig",
		What: "retries, expiry, delivery settings (Get/Set-TransportConfig)",
		Commands: []*Command{
			{Verb: "get", Cmdlet: "Get-TransportConfig", Synopsis: "Shows the transport settings: retries, expiry, delivery.",
				Records: true, List: always,
				Run: func(env *Env, r Request) ([]manage.Record, error) {
					rec, err := env.Manager.GetTransportConfig()
					if err != nil {
						return nil, err
					}
					return []manage.Record{rec}, nil
				}},
			{Verb: "set", Cmdlet: "Set-TransportConfig", Synopsis: "Changes the transport settings.",
				Params: params(FieldParams(&cfg.Transport, transportServiceOnly...), transportConfigExtra, inertParams(transportConfigInert)),
				Run: func(env *Env, r Request) ([]manage.Record, error) {
					takeInert(env, &r.Params, transportConfigInert)
					takeTransportConfigExtra(&r.Params)
					if len(r.Params) == 0 {
						return nil, nil // only inert parameters: each said why
					}
					if err := env.Manager.SetTransportConfig(r.Params); err != nil {
						return nil, err
					}
					env.say("Changed the transport configuration. A running transportd applies the change within seconds.")
					return nil, nil
				}},
		}}
}

func transportServiceKind() *Kind {
	identity := val("Identity", "this server, by Name or Fqdn (optional: there is one)")
	ids := []string{"Identity"}
	return &Kind{Noun: "transportservice", TypeName: "TransportService",
		What: "this server: its name, which greetings, HELO and DSNs default to, retries, expiry and logs (Get/Set-TransportService)",
		Commands: []*Command{
			{Verb: "get", Cmdlet: "Get-TransportService", Synopsis: "Shows this server: its Name, its Fqdn, its data folder, and its retry, expiry, delay-notification and log settings.",
				Params: params(identity), Positional: ids, IdentityParams: ids, Records: true, List: always,
				Run: getTransportServices}, // cluster.go (issue 14: every member)
			{Verb: "set", Cmdlet: "Set-TransportService",
				Synopsis: "Sets the server's Fqdn, once for every default (receive and send connectors without their own Fqdn, the DSN sender), and its retry, expiry, delay-notification and log settings.",
				Params: params(identity, val("Fqdn", "the server's fully qualified host name, e.g. mail.contoso.com"),
					FieldParams(&config.TransportServiceSettings{}), inertParams(transportServiceInert)),
				Positional: ids, IdentityParams: ids, Pipe: true,
				Run: func(env *Env, r Request) ([]manage.Record, error) {
					if len(r.Identities) == 0 && r.FromPipe {
						return nil, errors.New("nothing came down the pipeline to act on")
					}
					if n := len(r.Params); n > 0 {
						takeInert(env, &r.Params, transportServiceInert)
						if len(r.Params) == 0 {
							return nil, nil // only inert parameters: each said why
						}
					}
					if err := env.Manager.SetTransportService(r.Identities, r.Params); err != nil {
						return nil, err
					}
					env.say("Changed the transport service. A running transportd applies the change within seconds.")
					return nil, nil
				}},
		}}
}

func certificateKind() *Kind {
	thumb := val("Thumbprint", "the certificate's SHA-1 thumbprint")
	identity := val("Identity", "the thumbprint")
	ids := []string{"Thumbprint", "Identity"}
	need := func(r Request, cmdlet string) error {
		if len(r.Identities) == 0 {
			if r.FromPipe {
				return errors.New("nothing came down the pipeline to act on")
			}
			return fmt.Errorf("-Thumbprint is required, or pipe certificates into %s", cmdlet)
		}
		return nil
	}
	return &Kind{Noun: "cert", Aliases: []string{"certificate", "exchangecertificate"}, TypeName: "ExchangeCertificate",
		What:    "certificates and certificate requests (Get/New/Import/Export/Enable/Remove-ExchangeCertificate)",
		Columns: []string{"Thumbprint", "Services", "Subject"},
		Commands: []*Command{
			{Verb: "get", Cmdlet: "Get-ExchangeCertificate", Synopsis: "Shows the certificates in the store and the pending certificate requests (Status PendingRequest).",
				Params:     params(thumb, identity, val("DomainName", "only certificates covering these names (a,b), the one a connector with that FQDN serves first")),
				Positional: []string{"Thumbprint"}, IdentityParams: ids, Records: true, List: byIdentity,
				Run: func(env *Env, r Request) ([]manage.Record, error) {
					dn, _ := r.Params.TakeExact("DomainName")
					return env.Manager.GetCertsFor(r.Identity(), dn)
				}},
			{Verb: "new", Cmdlet: "New-ExchangeCertificate",
				Synopsis: "Creates a self-signed certificate (without parameters: the server's own), or with -GenerateRequest a certificate request for a CA; renews a certificate piped in.",
				Params: params(val("SubjectName", "e.g. C=US, O=Contoso, CN=mail.contoso.com (either order)"), val("DomainName", "comma-separated host names (subject alternative names)"),
					val("Services", "SMTP, IMAP, POP, IIS (not with -GenerateRequest); default: SMTP, or IMAP, POP, SMTP for the server's own"),
					val("FriendlyName", "text; default Microsoft Exchange"),
					val("PrivateKeyExportable", "$true lets Export-ExchangeCertificate write the private key out; default $false"),
					val("KeySize", "RSA key size: 2048 (default), 3072 or 4096"),
					sw("GenerateRequest", "write a PKCS#10 certificate request for a CA and keep its private key pending; Import-ExchangeCertificate of the CA's answer completes it"),
					val("RequestFile", "where -GenerateRequest writes the request (Base64 PEM, or DER with -BinaryEncoded)"),
					sw("BinaryEncoded", "write the request as DER instead of Base64"),
					sw("IncludeAcceptedDomains", "add every accepted domain to the names"), sw("IncludeAutoDiscover", "add autodiscover.<accepted domain> for each"),
					sw("IncludeServerFQDN", "add the server's FQDN"), sw("IncludeServerNetBIOSName", "add the server's short name"),
					sw("Force", "accepted for scripts: transportd does not prompt to replace the default SMTP certificate"),
					val("SubjectKeyIdentifier", "accepted with a warning: derived from the key")),
				Pipe: true, PipeProperty: "Thumbprint", Records: true, Print: "Thumbprint",
				Run: func(env *Env, r Request) ([]manage.Record, error) {
					renew := []string{""}
					if r.FromPipe {
						if len(r.Identities) == 0 {
							return nil, errors.New("nothing came down the pipeline to renew")
						}
						renew = r.Identities
					}
					var out []manage.Record
					for _, t := range renew {
						rec, err := env.Manager.NewCertFrom(r.Params, t)
						if err != nil {
							return nil, err
						}
						if f, ok := rec.Get("RequestFile"); ok {
							env.say("Wrote the certificate request to %s: send it to the certification authority, then Import-ExchangeCertificate its answer.", f)
						}
						out = append(out, rec)
					}
					return out, nil
				}},
			{Verb: "import", Cmdlet: "Import-ExchangeCertificate",
				Synopsis: "Imports a PFX or PEM certificate with its private key, or a CA's answer (PEM, .cer, .p7b) completing a pending request.",
				Params: params(val("FileName", "path of a .pfx, .p12, .pem, .cer or .p7b file"), val("Path", "the same as -FileName"), val("FileData", "the file's contents"),
					val("Password", "the PFX password; - reads it from standard input"), val("Services", "SMTP, IMAP, POP, IIS; default SMTP"),
					val("FriendlyName", "text; default: the pending request's"),
					val("PrivateKeyExportable", "$true lets Export-ExchangeCertificate write the private key out; default $false")),
				Records: true,
				Run: func(env *Env, r Request) ([]manage.Record, error) {
					rec, err := env.Manager.ImportCert(r.Params, env.ReadPassword)
					if err != nil {
						return nil, err
					}
					return []manage.Record{rec}, nil
				}},
			{Verb: "export", Cmdlet: "Export-ExchangeCertificate",
				Synopsis: "Exports a certificate with an exportable private key as PKCS#12 (-Password), or a pending request as PKCS#10.",
				Params: params(thumb, identity, sw("BinaryEncoded", "DER instead of Base64 (FileData then holds the DER in Base64)"),
					val("FileName", "also write the file here"), val("Password", "encrypts the PKCS#12 file; - reads it from standard input")),
				Positional: []string{"Thumbprint"}, IdentityParams: ids, PipeProperty: "Thumbprint", Pipe: true, Records: true, List: always,
				Run: func(env *Env, r Request) ([]manage.Record, error) {
					if err := need(r, "Export-ExchangeCertificate"); err != nil {
						return nil, err
					}
					var out []manage.Record
					for _, t := range r.Identities {
						rec, err := env.Manager.ExportCert(t, r.Params, env.ReadPassword)
						if err != nil {
							return nil, err
						}
						out = append(out, rec)
					}
					return out, nil
				}},
			{Verb: "enable", Cmdlet: "Enable-ExchangeCertificate", Synopsis: "Assigns services (SMTP, ...) to a certificate.",
				Params: params(thumb, identity, val("Services", "SMTP, IMAP, POP, IIS"), sw("Force", "accepted for scripts"),
					sw("DoNotRequireSsl", "accepted with a warning: there is no IIS web site here"),
					sw("NetworkServiceAllowed", "accepted with a warning: there is no Network Service account here; the daemon reads the store")),
				Positional: []string{"Thumbprint"}, IdentityParams: ids, PipeProperty: "Thumbprint", Pipe: true,
				Run: func(env *Env, r Request) ([]manage.Record, error) {
					if err := need(r, "Enable-ExchangeCertificate"); err != nil {
						return nil, err
					}
					svc, _ := r.Params.TakeExact("Services")
					if _, ok := r.Params.TakeExact("DoNotRequireSsl"); ok {
						env.say("WARNING: -DoNotRequireSsl does nothing here: there is no IIS web site whose SSL setting it would keep")
					}
					if _, ok := r.Params.TakeExact("NetworkServiceAllowed"); ok {
						env.say("WARNING: -NetworkServiceAllowed does nothing here: there is no Network Service account; the transportd daemon reads the certificate store itself")
					}
					for _, t := range r.Identities {
						if err := env.Manager.EnableCert(t, svc); err != nil {
							return nil, err
						}
					}
					env.say("Enabled %s for %s.", plural(len(r.Identities), "certificate"), svc)
					return nil, nil
				}},
			{Verb: "remove", Cmdlet: "Remove-ExchangeCertificate", Synopsis: "Deletes a certificate from the store.",
				Params: params(thumb, identity), Positional: []string{"Thumbprint"}, IdentityParams: ids, PipeProperty: "Thumbprint", Pipe: true,
				Run: func(env *Env, r Request) ([]manage.Record, error) {
					if err := need(r, "Remove-ExchangeCertificate"); err != nil {
						return nil, err
					}
					if err := notServedElsewhere(env, r.Identities); err != nil { // issue 14
						return nil, err
					}
					for _, t := range r.Identities {
						if err := env.Manager.RemoveCert(t); err != nil {
							return nil, err
						}
					}
					env.say("Removed %s.", plural(len(r.Identities), "certificate"))
					return nil, nil
				}},
		}}
}

// paramText is a parameter's value, "$true" for a bare switch.
func paramText(p manage.Param) string {
	if p.Switch {
		return "$true"
	}
	return p.Value
}
