package shell

import (
	"errors"
	"fmt"
	"reflect"
	"sort"
	"strings"

	"github.com/transportd/transportd/connector"
	"github.com/transportd/transportd/policies/value"
	"github.com/transportd/transportd/transport/admin/config"
	"github.com/transportd/transportd/transport/admin/manage"
	"github.com/transportd/transportd/transport/mail/sendconnector"
)

// cmdlet is one command of the shell.
type cmdlet struct {
	name       string
	synopsis   string
	params     []paramSpec
	positional []string
	aliases    []string
	run        func(sh *Shell, c *call) ([]any, error)
}

// paramSpec is one parameter of a cmdlet.
type paramSpec struct {
	name     string
	isSwitch bool
	help     string
}

func (p paramSpec) example() string {
	if p.help == "" {
		return ""
	}
	return " (" + p.help + ")"
}

// commonParams are accepted by every cmdlet, as in PowerShell, and ignored.
var commonParams = []paramSpec{
	{name: "Confirm", isSwitch: true, help: "accepted for scripts; transportd does not ask"},
	{name: "Verbose", isSwitch: true, help: "accepted for scripts"},
	{name: "ErrorAction", help: "accepted for scripts"},
	{name: "WarningAction", help: "accepted for scripts"},
	{name: "DomainController", help: "accepted for scripts; there is no Active Directory"},
}

func isCommon(name string) bool {
	for _, p := range commonParams {
		if p.name == name {
			return true
		}
	}
	return false
}

func (cl *cmdlet) paramNames() []string {
	var out []string
	for _, p := range cl.params {
		out = append(out, p.name)
	}
	for _, p := range commonParams {
		out = append(out, p.name)
	}
	return out
}

func (cl *cmdlet) param(name string) paramSpec {
	for _, p := range cl.params {
		if p.name == name {
			return p
		}
	}
	for _, p := range commonParams {
		if p.name == name {
			return p
		}
	}
	return paramSpec{name: name}
}

// registry returns the table of cmdlets. It is built on each call (a few
// microseconds), so that there is no package state to share.
func registry() []*cmdlet { return buildRegistry() }

// CmdletNames lists every cmdlet name, sorted (for completion and Get-Command).
func CmdletNames() []string {
	var out []string
	for _, c := range registry() {
		out = append(out, c.name)
	}
	sort.Strings(out)
	return out
}

// ParamNames lists the parameters of a cmdlet (for completion), or nil.
func ParamNames(cmdletName string) []string {
	cl, err := lookupCmdlet(cmdletName)
	if err != nil {
		return nil
	}
	return cl.paramNames()
}

// lookupCmdlet finds a cmdlet by name or alias, case-insensitively.
func lookupCmdlet(name string) (*cmdlet, error) {
	for _, c := range registry() {
		if strings.EqualFold(c.name, name) {
			return c, nil
		}
		for _, a := range c.aliases {
			if strings.EqualFold(a, name) {
				return c, nil
			}
		}
	}
	names := CmdletNames()
	if s := manage.Closest(names, name); s != "" {
		return nil, fmt.Errorf("unknown cmdlet %s; did you mean %s?", name, s)
	}
	return nil, fmt.Errorf("unknown cmdlet %s (Get-Command lists them; Get-Help NAME explains one)", name)
}

// fieldParams turns the exported fields of a struct into parameters, with
// what each accepts.
func fieldParams(v any, skip ...string) []paramSpec {
	rt := reflect.Indirect(reflect.ValueOf(v)).Type()
	var out []paramSpec
	for i := range rt.NumField() {
		f := rt.Field(i)
		if !f.IsExported() || strings.HasPrefix(f.Tag.Get("yaml"), "-") || containsFold(skip, f.Name) {
			continue
		}
		out = append(out, paramSpec{name: f.Name, help: typeHelp(f.Type)})
	}
	return out
}

func containsFold(list []string, s string) bool {
	for _, x := range list {
		if strings.EqualFold(x, s) {
			return true
		}
	}
	return false
}

// typeHelp says what a parameter of type t accepts.
func typeHelp(t reflect.Type) string {
	switch t {
	case reflect.TypeOf(value.ByteSize(0)):
		return "a size such as 36MB or 35840KB"
	case reflect.TypeOf(value.TimeSpan(0)):
		return "a time span [d.]hh:mm:ss such as 00:10:00 or 2.00:00:00"
	case reflect.TypeOf(value.Unlimited(0)):
		return "a whole number or Unlimited"
	}
	switch t.Kind() {
	case reflect.Bool:
		return "$true or $false"
	case reflect.Int, reflect.Int32, reflect.Int64:
		return "a whole number"
	case reflect.Slice:
		return "a comma-separated list"
	}
	switch t.Name() {
	case "Groups":
		return "None, AnonymousUsers, ExchangeUsers, ExchangeServers, ExchangeLegacyServers, Partners"
	case "Mechanisms":
		return "None, Tls, BasicAuth, BasicAuthRequireTLS, ..."
	}
	return "text"
}

func params(list ...any) []paramSpec {
	var out []paramSpec
	for _, x := range list {
		switch v := x.(type) {
		case paramSpec:
			out = append(out, v)
		case []paramSpec:
			out = append(out, v...)
		case string:
			out = append(out, paramSpec{name: v})
		}
	}
	return out
}

func sw(name, help string) paramSpec  { return paramSpec{name: name, isSwitch: true, help: help} }
func val(name, help string) paramSpec { return paramSpec{name: name, help: help} }

// manageParams passes the given parameters (except skip and the common
// ones) to manage as -Name value pairs.
func (c *call) manageParams(skip ...string) manage.Params {
	var ps manage.Params
	for _, n := range c.order {
		if isCommon(n) || containsFold(skip, n) {
			continue
		}
		ps = append(ps, manage.Param{Name: n, Value: toText(c.params[n])})
	}
	return ps
}

// identities are -Identity (or the named parameter), or the objects piped in.
func (sh *Shell) identities(c *call, param string) ([]string, error) {
	if t, ok := c.text(param); ok {
		if t == "$null" || t == "" {
			return nil, fmt.Errorf("-%s is empty", param)
		}
		return []string{sh.stripServer(t)}, nil
	}
	var out []string
	for _, v := range c.input {
		id := toString(v)
		if o, ok := v.(*Object); ok {
			id = o.identity()
			if param == "Thumbprint" {
				if t, ok := o.Props.Get("Thumbprint"); ok {
					id = t
				}
			}
		}
		if id != "" {
			out = append(out, id)
		}
	}
	if len(out) == 0 {
		if c.fromPipe {
			return nil, fmt.Errorf("nothing came down the pipeline to act on")
		}
		return nil, fmt.Errorf("-%s is required (wildcards * allowed), or pipe objects into %s", param, c.cmd.name)
	}
	return out, nil
}

// stripServer accepts Exchange's "SERVER\Name" form for the local server.
func (sh *Shell) stripServer(id string) string {
	srv, rest, ok := strings.Cut(id, `\`)
	if !ok {
		return id
	}
	cfg, err := sh.Manager.Load()
	if err == nil && strings.EqualFold(cfg.Server.Name, srv) {
		return rest
	}
	return id
}

func objects(typeName string, recs []manage.Record) []any {
	out := make([]any, 0, len(recs))
	for _, r := range recs {
		out = append(out, &Object{TypeName: typeName, Props: r})
	}
	return out
}

func (sh *Shell) say(format string, args ...any) {
	if sh.Out != nil {
		fmt.Fprintf(sh.Out, format+"\n", args...)
	}
}

func plural(n int, kind string) string {
	if n == 1 {
		return fmt.Sprintf("1 %s", kind)
	}
	return fmt.Sprintf("%d %ss", n, kind)
}

// getIdentity is the optional -Identity of a Get cmdlet.
func (sh *Shell) getIdentity(c *call) string {
	t, ok := c.text("Identity")
	if !ok || t == "$null" {
		return ""
	}
	return sh.stripServer(t)
}

// kind describes one configuration object type for the generic
// Get/Set/New/Remove cmdlets.
type kind struct {
	noun     string // ReceiveConnector
	typeName string
	what     string // "receive connector"
	fields   []paramSpec
	newExtra []paramSpec
	get      func(m *manage.Manager, identity string) ([]manage.Record, error)
	set      func(sh *Shell, ids []string, ps manage.Params) (int, error)
	add      func(sh *Shell, ps manage.Params) (manage.Record, error)
	remove   func(m *manage.Manager, identity string) (int, error)
}

func (k kind) cmdlets() []*cmdlet {
	identity := val("Identity", "the name; wildcards * allowed")
	out := []*cmdlet{
		{name: "Get-" + k.noun, synopsis: "Shows " + k.what + "s: a table, or every property with Format-List.",
			params: params(identity), positional: []string{"Identity"},
			run: func(sh *Shell, c *call) ([]any, error) {
				recs, err := k.get(sh.Manager, sh.getIdentity(c))
				if err != nil {
					return nil, err
				}
				return objects(k.typeName, recs), nil
			}},
		{name: "Set-" + k.noun, synopsis: "Changes " + k.what + "s: every one -Identity (or the pipeline) names, all in one update or none.",
			params: params(identity, k.fields), positional: []string{"Identity"},
			run: func(sh *Shell, c *call) ([]any, error) {
				ids, err := sh.identities(c, "Identity")
				if err != nil {
					return nil, err
				}
				n, err := k.set(sh, ids, c.manageParams("Identity"))
				if err != nil {
					return nil, err
				}
				sh.say("Changed %s. A running transportd applies the change within seconds.", plural(n, k.what))
				return nil, nil
			}},
	}
	if k.add != nil {
		out = append(out, &cmdlet{name: "New-" + k.noun, synopsis: "Creates a " + k.what + ".",
			params: params(k.newExtra, k.fields), positional: []string{"Name"},
			run: func(sh *Shell, c *call) ([]any, error) {
				rec, err := k.add(sh, c.manageParams())
				if err != nil {
					return nil, err
				}
				return objects(k.typeName, []manage.Record{rec}), nil
			}})
	}
	if k.remove != nil {
		out = append(out, &cmdlet{name: "Remove-" + k.noun, synopsis: "Removes " + k.what + "s.",
			params: params(identity), positional: []string{"Identity"},
			run: func(sh *Shell, c *call) ([]any, error) {
				ids, err := sh.identities(c, "Identity")
				if err != nil {
					return nil, err
				}
				// Check every identity first, so that nothing is half removed.
				for _, id := range ids {
					if _, err := k.get(sh.Manager, id); err != nil {
						return nil, err
					}
				}
				total := 0
				for _, id := range ids {
					n, err := k.remove(sh.Manager, id)
					if err != nil && !errors.Is(err, manage.ErrNoMatch) {
						return nil, err
					}
					total += n
				}
				sh.say("Removed %s.", plural(total, k.what))
				return nil, nil
			}})
	}
	return out
}

func buildRegistry() []*cmdlet {
	var all []*cmdlet
	receive := kind{noun: "ReceiveConnector", typeName: "ReceiveConnector", what: "receive connector",
		fields: append(fieldParams(&connector.ReceiveConnector{}),
			sw("Force", "save a change that takes STARTTLS (and with it AUTH) away, or opens AllowLegacyTLSClients to the whole Internet")),
		newExtra: params(val("Usage", "Client, Internal, Internet, Partner or Custom"),
			sw("Client", "Exchange's defaults for POP3/IMAP4 clients"), sw("Internal", "for other Exchange servers"),
			sw("Internet", "for anonymous senders on the Internet"), sw("Partner", "for partner domains"),
			sw("Custom", "accepts nothing until -PermissionGroups is set")),
		get: func(m *manage.Manager, id string) ([]manage.Record, error) { return m.GetConnectors(id) },
		set: func(sh *Shell, ids []string, ps manage.Params) (int, error) {
			return sh.Manager.SetConnectorsEach(ids, ps)
		},
		add: func(sh *Shell, ps manage.Params) (manage.Record, error) {
			rec, err := sh.Manager.NewConnector(ps)
			if err != nil {
				return nil, err
			}
			name, _ := rec.Get("Name")
			return append(manage.Record{{Name: "Identity", Value: name}}, rec...), nil
		},
		remove: func(m *manage.Manager, id string) (int, error) { return m.RemoveConnectors(id) },
	}
	send := kind{noun: "SendConnector", typeName: "SendConnector", what: "send connector",
		fields: append(fieldParams(&sendconnector.SendConnector{}), val("Password", "the smart host password; - reads it from standard input")),
		newExtra: params(sw("Internet", "accepted for Exchange scripts"), sw("Internal", "accepted for Exchange scripts"),
			sw("Custom", "accepted for Exchange scripts")),
		get: func(m *manage.Manager, id string) ([]manage.Record, error) { return m.GetSendConnectors(id) },
		set: func(sh *Shell, ids []string, ps manage.Params) (int, error) {
			return sh.Manager.SetSendConnectorsEach(ids, ps, sh.ReadPassword)
		},
		add: func(sh *Shell, ps manage.Params) (manage.Record, error) {
			return sh.Manager.NewSendConnector(ps, sh.ReadPassword)
		},
		remove: func(m *manage.Manager, id string) (int, error) { return m.RemoveSendConnectors(id) },
	}
	domain := kind{noun: "AcceptedDomain", typeName: "AcceptedDomain", what: "accepted domain",
		fields: fieldParams(&config.AcceptedDomain{}),
		get:    func(m *manage.Manager, id string) ([]manage.Record, error) { return m.GetAcceptedDomains(id) },
		set: func(sh *Shell, ids []string, ps manage.Params) (int, error) {
			return sh.Manager.SetAcceptedDomainsEach(ids, ps)
		},
		add: func(sh *Shell, ps manage.Params) (manage.Record, error) {
			rec, err := sh.Manager.NewAcceptedDomain(ps)
			if err != nil {
				return nil, err
			}
			name, _ := rec.Get("Name")
			return append(manage.Record{{Name: "Identity", Value: name}}, rec...), nil
		},
		remove: func(m *manage.Manager, id string) (int, error) { return m.RemoveAcceptedDomains(id) },
	}
	mailbox := kind{noun: "Mailbox", typeName: "Mailbox", what: "mailbox",
		fields: append(fieldParams(&config.Mailbox{}, "PasswordHash"), val("Password", "the password; - reads it from standard input; stored as an argon2id hash")),
		get:    func(m *manage.Manager, id string) ([]manage.Record, error) { return m.GetMailboxes(id) },
		set: func(sh *Shell, ids []string, ps manage.Params) (int, error) {
			return sh.Manager.SetMailboxesEach(ids, ps, sh.ReadPassword)
		},
		add: func(sh *Shell, ps manage.Params) (manage.Record, error) {
			return sh.Manager.NewMailbox(ps, sh.ReadPassword)
		},
		remove: func(m *manage.Manager, id string) (int, error) { return m.RemoveMailboxes(id) },
	}
	for _, k := range []kind{receive, send, domain, mailbox} {
		all = append(all, k.cmdlets()...)
	}
	all = append(all, certCmdlets()...)
	all = append(all, transportConfigCmdlets()...)
	all = append(all, adPermissionCmdlets()...)
	all = append(all, queueCmdlets()...)
	all = append(all, utilityCmdlets()...)
	return all
}

func transportConfigCmdlets() []*cmdlet {
	var cfg config.Config
	fields := fieldParams(&cfg.Transport)
	return []*cmdlet{
		{name: "Get-TransportConfig", synopsis: "Shows the transport settings: retries, expiry, delivery.",
			run: func(sh *Shell, c *call) ([]any, error) {
				rec, err := sh.Manager.GetTransportConfig()
				if err != nil {
					return nil, err
				}
				return objects("TransportConfig", []manage.Record{rec}), nil
			}},
		{name: "Set-TransportConfig", synopsis: "Changes the transport settings.", params: fields,
			run: func(sh *Shell, c *call) ([]any, error) {
				if err := sh.Manager.SetTransportConfig(c.manageParams()); err != nil {
					return nil, err
				}
				sh.say("Changed the transport configuration. A running transportd applies the change within seconds.")
				return nil, nil
			}},
	}
}

func certCmdlets() []*cmdlet {
	thumb := val("Thumbprint", "the certificate's SHA-1 thumbprint")
	identity := val("Identity", "the thumbprint")
	thumbprint := func(sh *Shell, c *call) ([]string, error) {
		if c.has("Thumbprint") {
			return sh.identities(c, "Thumbprint")
		}
		if c.has("Identity") {
			return sh.identities(c, "Identity")
		}
		return sh.identities(c, "Thumbprint")
	}
	certs := func(recs []manage.Record) []any { return objects("ExchangeCertificate", recs) }
	return []*cmdlet{
		{name: "Get-ExchangeCertificate", synopsis: "Shows the certificates in the store.",
			params: params(thumb, identity), positional: []string{"Thumbprint"},
			run: func(sh *Shell, c *call) ([]any, error) {
				t, _ := c.text("Thumbprint")
				if t == "" {
					t, _ = c.text("Identity")
				}
				recs, err := sh.Manager.GetCerts(t)
				if err != nil {
					return nil, err
				}
				return certs(recs), nil
			}},
		{name: "New-ExchangeCertificate", synopsis: "Creates a self-signed certificate.",
			params: params(val("SubjectName", "e.g. CN=mail.contoso.com"), val("DomainName", "comma-separated host names"),
				val("Services", "SMTP, IMAP, POP, IIS"), val("FriendlyName", "text"), sw("PrivateKeyExportable", "accepted for scripts"),
				val("KeySize", "accepted for scripts")),
			run: func(sh *Shell, c *call) ([]any, error) {
				rec, err := sh.Manager.NewCert(c.manageParams("PrivateKeyExportable", "KeySize"))
				if err != nil {
					return nil, err
				}
				return certs([]manage.Record{rec}), nil
			}},
		{name: "Import-ExchangeCertificate", synopsis: "Imports a PFX or PEM certificate with its private key.",
			params: params(val("FileName", "path of a .pfx, .p12 or .pem file"), val("FileData", "the file's contents"),
				val("Password", "the PFX password; - reads it from standard input"), val("Services", "SMTP, IMAP, POP, IIS"),
				sw("PrivateKeyExportable", "accepted for scripts")),
			run: func(sh *Shell, c *call) ([]any, error) {
				rec, err := sh.Manager.ImportCert(c.manageParams(), sh.ReadPassword)
				if err != nil {
					return nil, err
				}
				return certs([]manage.Record{rec}), nil
			}},
		{name: "Enable-ExchangeCertificate", synopsis: "Assigns services (SMTP, ...) to a certificate.",
			params:     params(thumb, identity, val("Services", "SMTP, IMAP, POP, IIS"), sw("Force", "accepted for scripts")),
			positional: []string{"Thumbprint"},
			run: func(sh *Shell, c *call) ([]any, error) {
				ts, err := thumbprint(sh, c)
				if err != nil {
					return nil, err
				}
				svc, _ := c.text("Services")
				for _, t := range ts {
					if err := sh.Manager.EnableCert(t, svc); err != nil {
						return nil, err
					}
				}
				sh.say("Enabled %s for %s.", plural(len(ts), "certificate"), svc)
				return nil, nil
			}},
		{name: "Remove-ExchangeCertificate", synopsis: "Deletes a certificate from the store.",
			params: params(thumb, identity), positional: []string{"Thumbprint"},
			run: func(sh *Shell, c *call) ([]any, error) {
				ts, err := thumbprint(sh, c)
				if err != nil {
					return nil, err
				}
				for _, t := range ts {
					if err := sh.Manager.RemoveCert(t); err != nil {
						return nil, err
					}
				}
				sh.say("Removed %s.", plural(len(ts), "certificate"))
				return nil, nil
			}},
	}
}

func adPermissionCmdlets() []*cmdlet {
	ps := params(val("Identity", "the receive connector, or for Send As the mailbox; wildcards * allowed"),
		val("User", manage.AnonymousLogon+", or for Send As the mailbox user"),
		val("ExtendedRights", manage.RightAcceptAnyRecipient+" or \""+manage.RightSendAs+"\""),
		val("AccessRights", "ExtendedRight"))
	grant := func(add bool) func(sh *Shell, c *call) ([]any, error) {
		return func(sh *Shell, c *call) ([]any, error) {
			ids, err := sh.identities(c, "Identity")
			if err != nil {
				return nil, err
			}
			user, ok := c.text("User")
			if !ok {
				return nil, fmt.Errorf("-User is required: %q", manage.AnonymousLogon)
			}
			if ar, ok := c.text("AccessRights"); ok && !strings.EqualFold(ar, "ExtendedRight") {
				return nil, fmt.Errorf("-AccessRights %q: only ExtendedRight is kept (with -ExtendedRights %s on a receive connector, or \"%s\" on a mailbox)", ar, manage.RightAcceptAnyRecipient, manage.RightSendAs)
			}
			var rights []string
			for _, r := range flatten(c.params["ExtendedRights"]) {
				for _, p := range strings.Split(toString(r), ",") {
					if p = strings.TrimSpace(p); p != "" {
						rights = append(rights, p)
					}
				}
			}
			recs, err := sh.Manager.SetADPermission(ids, user, rights, add)
			if err != nil {
				return nil, err
			}
			if !add {
				if len(recs) > 0 {
					if r, _ := recs[0].Get("ExtendedRights"); r == "{"+manage.RightSendAs+"}" {
						sh.say("Removed %s from %s for %s.", manage.RightSendAs, plural(len(recs), "mailbox"), user)
						return nil, nil
					}
				}
				sh.say("Removed %s from %s for %s: AnonymousRelay is now False.", manage.RightAcceptAnyRecipient, plural(len(recs), "receive connector"), manage.AnonymousLogon)
				return nil, nil
			}
			return objects("ADPermission", recs), nil
		}
	}
	return []*cmdlet{
		{name: "Add-ADPermission", synopsis: "Grants Ms-Exch-SMTP-Accept-Any-Recipient to NT AUTHORITY\\ANONYMOUS LOGON on a receive connector (its AnonymousRelay), or \"Send As\" on a mailbox to another mailbox user (the mailbox's GrantSendAsTo).",
			params: ps, positional: []string{"Identity"}, run: grant(true)},
		{name: "Remove-ADPermission", synopsis: "Revokes anonymous relay on a receive connector (AnonymousRelay $false), or a user's \"Send As\" on a mailbox.",
			params: ps, positional: []string{"Identity"}, run: grant(false)},
		{name: "Get-ADPermission", synopsis: "Shows the rights a receive connector grants, as its permission groups and AnonymousRelay give them, and the \"Send As\" grants on a mailbox.",
			params:     params(val("Identity", "the receive connector or mailbox; wildcards * allowed"), val("User", "only this user's rights")),
			positional: []string{"Identity"},
			run: func(sh *Shell, c *call) ([]any, error) {
				ids, err := sh.identities(c, "Identity")
				if err != nil {
					return nil, err
				}
				user, _ := c.text("User")
				var out []any
				for _, id := range ids {
					recs, err := sh.Manager.GetADPermissions(id, user)
					if err != nil {
						return nil, err
					}
					out = append(out, objects("ADPermission", recs)...)
				}
				return out, nil
			}},
	}
}
