package registry

import (
	"fmt"
	"slices"
	"strconv"
	"strings"

	"github.com/transportd/transportd/transport/admin/config"
	"github.com/transportd/transportd/transport/admin/manage"
	"github.com/transportd/transportd/transport/admin/opath"
)

// The admin center (issue 15): its settings with Exchange's ECP virtual
// directory cmdlets, its role groups, and the admin audit log.

// ecpInert are Set-EcpVirtualDirectory parameters without a meaning here.
var ecpInert = []inert{
	{"ExternalUrl", "there is no reverse proxy published by transportd; put yours in front of InternalUrl"},
	{"FormsAuthentication", "the admin center always signs in with a form (mailbox name and password)"},
	{"BasicAuthentication", "the admin center signs in with a form only, never with HTTP Basic"},
	{"WindowsAuthentication", "there is no Windows domain to sign in with"},
	{"DigestAuthentication", "there is no Windows domain to sign in with"},
	{"AdfsAuthentication", "there is no AD FS; sign in with a mailbox password"},
	{"OAuthAuthentication", "there is no Exchange hybrid; sign in with a mailbox password"},
	{"ExternalAuthenticationMethods", "there is no reverse proxy published by transportd"},
	{"InternalAuthenticationMethods", "the admin center signs in with a form only"},
	{"ExtendedProtectionTokenChecking", "there is no IIS; TLS protects the session cookie"},
	{"ExtendedProtectionFlags", "there is no IIS"},
	{"ExtendedProtectionSPNList", "there is no IIS"},
	{"GzipLevel", "pages are small and sent uncompressed"},
	{"OwaOptionsEnabled", "there is no Outlook on the web here"},
	{"LiveIdAuthentication", "there is no Windows Live ID sign-in; sign in with a mailbox password"},
}

func adminKind() *Kind {
	identity := val("Identity", `the virtual directory, e.g. "MAIL\ecp (Default Web Site)" (there is one)`)
	ids := []string{"Identity"}
	return &Kind{Noun: "admin", Aliases: []string{"ecpvirtualdirectory", "ecp"}, TypeName: "EcpVirtualDirectory",
		What: "the admin center in a browser: where it is served, who may sign in, the audit log (Get/Set-EcpVirtualDirectory, Search-AdminAuditLog)",
		Commands: []*Command{
			{Verb: "get", Cmdlet: "Get-EcpVirtualDirectory", Synopsis: "Shows where the admin center is served (InternalUrl) and whether it is on (AdminEnabled).",
				Params: params(identity, val("Server", "this server's name (there is one)"), sw("ADPropertiesOnly", "accepted for scripts"),
					sw("ShowMailboxVirtualDirectories", "accepted for scripts: there is no separate Mailbox server")),
				Positional: ids, IdentityParams: ids, Records: true, List: always,
				Run: func(env *Env, r Request) ([]manage.Record, error) {
					if err := checkEcpIdentity(env, r); err != nil {
						return nil, err
					}
					r.Params.TakeExact("ADPropertiesOnly")
					r.Params.TakeExact("ShowMailboxVirtualDirectories")
					rec, err := env.Manager.GetEcpVirtualDirectory()
					if err != nil {
						return nil, err
					}
					return []manage.Record{rec}, nil
				}},
			{Verb: "set", Cmdlet: "Set-EcpVirtualDirectory",
				Synopsis: "Moves the admin center (-InternalUrl https://IP:PORT/ecp, HTTPS only), turns it on or off (-AdminEnabled), picks its certificate.",
				Params: params(identity,
					val("InternalUrl", "https://IP:PORT/ecp: the address and port it listens on (default https://127.0.0.1:8443/ecp); HTTPS only"),
					val("AdminEnabled", "$true (default) serves the admin center once a role group has a member; $false turns it off"),
					val("TlsCertificateName", "<I>issuer<S>subject or a thumbprint of a certificate in the store; empty: the Default Frontend's"),
					val("SessionTimeoutMinutes", "minutes a signed-in session lasts without use (default 20)"),
					inertParams(ecpInert)),
				Positional: ids, IdentityParams: ids, Pipe: true,
				Run: func(env *Env, r Request) ([]manage.Record, error) {
					if err := checkEcpIdentity(env, r); err != nil {
						return nil, err
					}
					takeInert(env, &r.Params, ecpInert)
					if len(r.Params) == 0 {
						return nil, nil
					}
					if err := env.Manager.SetEcpVirtualDirectory(r.Params); err != nil {
						return nil, err
					}
					env.say("Changed the admin center. A running transportd applies the change within seconds.")
					return nil, nil
				}},
			{Verb: "grant", Cmdlet: "Grant-AdminCenterAccess",
				Synopsis: "Lets a mailbox sign in to the admin center with every right: adds it to Organization Management and prints the address to open.",
				Params:   params(val("Identity", "the mailbox (name or address)")), Positional: ids, IdentityParams: ids,
				Run: func(env *Env, r Request) ([]manage.Record, error) {
					if r.Identity() == "" {
						return nil, fmt.Errorf("give the mailbox: transportd admin grant alice (create it first with transportd mailbox new)")
					}
					if _, err := env.Manager.AddRoleGroupMember(config.RoleOrganizationManagement, r.Identity()); err != nil {
						return nil, err
					}
					rec, err := env.Manager.GetEcpVirtualDirectory()
					if err != nil {
						return nil, err
					}
					u, _ := rec.Get("InternalUrl")
					env.say("%s is a member of %s. Sign in at %s with the mailbox name and password.", r.Identity(), config.RoleOrganizationManagement, u)
					if en, _ := rec.Get("AdminEnabled"); en != "True" {
						env.warn("the admin center is off: Set-EcpVirtualDirectory -AdminEnabled $true turns it on")
					}
					return nil, nil
				}},
			{Verb: "audit", Cmdlet: "Search-AdminAuditLog",
				Synopsis: "Searches the admin audit log: every change made in the admin center, who made it, when, from where, and the shell line that made it.",
				Params: params(val("Cmdlets", "only these cmdlets (a,b; wildcards *)"), val("UserIds", "only changes by these mailboxes (a,b)"),
					val("StartDate", "from this date and time"), val("EndDate", "until this date and time"),
					val("ObjectIds", "only changes of these objects (a,b; wildcards *)"),
					val("ResultSize", "at most this many entries, newest first (default 1000)"),
					val("IsSuccess", "$true: only changes that succeeded; $false: only those that failed"),
					val("Parameters", "accepted with a warning: search -Cmdlets and read CommandLine"),
					val("ExternalAccess", "accepted with a warning: there are no Microsoft datacenter administrators here")),
				Records: true, Empty: "No admin audit log entries match.",
				Run: searchAdminAuditLog},
		}}
}

func splitList(v string) []string {
	var out []string
	for _, s := range strings.Split(v, ",") {
		if s = strings.Trim(strings.TrimSpace(s), `"'`); s != "" {
			out = append(out, s)
		}
	}
	return out
}

func searchAdminAuditLog(env *Env, r Request) ([]manage.Record, error) {
	cfg, err := env.Manager.Load()
	if err != nil {
		return nil, err
	}
	ps := r.Params
	var f manage.AuditFilter
	if v, ok := ps.TakeExact("Cmdlets"); ok {
		f.Cmdlets = splitList(v)
	}
	if v, ok := ps.TakeExact("UserIds"); ok {
		f.UserIds = splitList(v)
	}
	if v, ok := ps.TakeExact("ObjectIds"); ok {
		f.ObjectIds = splitList(v)
	}
	for _, p := range []struct {
		name string
		to   *manage.AuditFilter
		end  bool
	}{{"StartDate", &f, false}, {"EndDate", &f, true}} {
		if v, ok := ps.TakeExact(p.name); ok {
			t, err := manage.ParseWhen(v)
			if err != nil {
				return nil, fmt.Errorf("-%s: %w", p.name, err)
			}
			if p.end {
				f.End = t
			} else {
				f.Start = t
			}
		}
	}
	if v, ok := ps.TakeExact("ResultSize"); ok && !strings.EqualFold(v, "Unlimited") {
		n, err := strconv.Atoi(v)
		if err != nil || n < 1 {
			return nil, fmt.Errorf("-ResultSize %q: give a positive number or Unlimited", v)
		}
		f.ResultSize = n
	} else if ok {
		f.ResultSize = 1 << 30
	}
	success, filterSuccess := true, false
	if v, ok := ps.TakeExact("IsSuccess"); ok {
		if success, err = manage.ParseBool(v); err != nil {
			return nil, fmt.Errorf("-IsSuccess %q: %w", v, err)
		}
		filterSuccess = true
	}
	for _, x := range []inert{{"Parameters", "search -Cmdlets and read each entry's CommandLine"}, {"ExternalAccess", "there are no Microsoft datacenter administrators here"}} {
		if v, ok := ps.TakeExact(x.name); ok {
			env.warn("-%s %s is accepted but does nothing here: %s", x.name, v, x.why)
		}
	}
	es, err := manage.SearchAudit(manage.AuditFile(cfg), f)
	if err != nil {
		return nil, err
	}
	var out []manage.Record
	for _, e := range es {
		if filterSuccess && e.Succeeded != success {
			continue
		}
		out = append(out, manage.AuditRecord(e))
	}
	return out, nil
}

func roleGroupKind() *Kind {
	identity := val("Identity", `the role group: "Organization Management", "View-Only Organization Management" or "Recipient Management"`)
	member := val("Member", "a mailbox (name or address); its password signs in to the admin center")
	ids := []string{"Identity"}
	change := func(verb, cmdlet, synopsis string, add bool) *Command {
		return &Command{Verb: verb, Cmdlet: cmdlet, Synopsis: synopsis,
			Params:     params(identity, member, sw("BypassSecurityGroupManagerCheck", "accepted for scripts: there are no group managers here")),
			Positional: ids, IdentityParams: ids, Pipe: true,
			Run: func(env *Env, r Request) ([]manage.Record, error) {
				if len(r.Identities) == 0 {
					return nil, needIdentities(r, "Identity", cmdlet)
				}
				mem, _ := r.Params.TakeExact("Member")
				r.Params.TakeExact("BypassSecurityGroupManagerCheck")
				for _, g := range r.Identities {
					var changed bool
					var err error
					if add {
						changed, err = env.Manager.AddRoleGroupMember(g, mem)
					} else {
						changed, err = env.Manager.RemoveRoleGroupMember(g, mem)
					}
					if err != nil {
						return nil, err
					}
					switch {
					case !changed && add:
						env.warn("%s is already a member of %s", mem, g)
					case !changed:
						env.warn("%s is not a member of %s", mem, g)
					}
				}
				return nil, nil
			}}
	}
	return &Kind{Noun: "rolegroup", TypeName: "RoleGroup",
		What:    "who may sign in to the admin center, and what they may do (Get-RoleGroup, Add/Remove/Get-RoleGroupMember)",
		Columns: []string{"Name", "Members", "Description"},
		Commands: []*Command{
			{Verb: "get", Cmdlet: "Get-RoleGroup", Synopsis: "Shows the role groups with their members.",
				Params: params(identity, val("Filter", `OPATH filter on Name, Members, Description, RoleGroupType, e.g. "Members -eq 'alice'"`),
					sw("ReadFromDomainController", "accepted for scripts: the role groups are read from the configuration file"),
					val("ResultSize", "accepted for scripts: there are three role groups"), val("SortBy", "accepted for scripts: the role groups come sorted by Name")), Positional: ids, IdentityParams: ids, Records: true, List: byIdentity,
				Run: getRoleGroups},
			{Verb: "members", VerbAliases: []string{"getmember"}, Cmdlet: "Get-RoleGroupMember", Synopsis: "Shows the members of a role group.",
				Params: params(identity, val("ResultSize", "accepted for scripts"),
					sw("ReadFromDomainController", "accepted for scripts: the members are read from the configuration file")), Positional: ids, IdentityParams: ids, Pipe: true, Records: true, List: always,
				Type: func(Request) string { return "ReducedRecipient" }, Empty: "The role group has no members.",
				Run: func(env *Env, r Request) ([]manage.Record, error) {
					var out []manage.Record
					r.Params.TakeExact("ReadFromDomainController")
					if len(r.Identities) == 0 {
						return nil, needIdentities(r, "Identity", "Get-RoleGroupMember")
					}
					for _, id := range r.Identities {
						recs, err := env.Manager.GetRoleGroupMembers(id)
						if err != nil {
							return nil, err
						}
						out = append(out, recs...)
					}
					return out, nil
				}},
			change("addmember", "Add-RoleGroupMember", "Adds a mailbox to a role group: it may then sign in to the admin center with that role.", true),
			change("removemember", "Remove-RoleGroupMember", "Takes a mailbox out of a role group.", false),
		}}
}

// RoleGroupSchema is what Get-RoleGroup -Filter filters on.
var RoleGroupSchema = opath.Schema{Kind: "role group", Properties: []opath.Property{
	{Name: "Name", Type: opath.String}, {Name: "DisplayName", Type: opath.String}, {Name: "Members", Type: opath.String, Multi: true},
	{Name: "Description", Type: opath.String}, {Name: "RoleGroupType", Type: opath.String},
	{Name: "ManagedBy", Type: opath.String, Multi: true}, {Name: "LinkedGroup", Type: opath.String},
}}

func getRoleGroups(env *Env, r Request) ([]manage.Record, error) {
	var f *opath.Filter
	if text, ok := r.Params.TakeExact("Filter"); ok {
		var err error
		if f, err = opath.Parse(text, RoleGroupSchema); err != nil {
			return nil, err
		}
	}
	for _, n := range []string{"ReadFromDomainController", "ResultSize", "SortBy"} {
		r.Params.TakeExact(n)
	}
	recs, err := env.Manager.GetRoleGroups(r.Identity())
	if err != nil {
		return nil, err
	}
	return slices.DeleteFunc(recs, func(rec manage.Record) bool {
		return !f.Match(func(name string) any {
			v, _ := rec.Get(name)
			if name == "Members" || name == "ManagedBy" {
				return listItems(v)
			}
			if name == "DisplayName" {
				v, _ = rec.Get("Name")
			}
			return v
		})
	}), nil
}

// listItems splits "{a, b}" into its items.
func listItems(v string) []string {
	v = strings.TrimSuffix(strings.TrimPrefix(v, "{"), "}")
	var out []string
	for _, s := range strings.Split(v, ",") {
		if s = strings.TrimSpace(s); s != "" {
			out = append(out, s)
		}
	}
	return out
}

// checkEcpIdentity refuses a virtual directory or server other than this
// server's one.
func checkEcpIdentity(env *Env, r Request) error {
	cfg, err := env.Manager.Load()
	if err != nil {
		return err
	}
	name := cfg.Server.Name + `\ecp (Default Web Site)`
	for _, id := range r.Identities {
		if !manage.MatchIdentity(id, name) && !manage.MatchIdentity(id, "ecp (Default Web Site)") && !strings.EqualFold(id, cfg.Server.Name) {
			return fmt.Errorf("no ECP virtual directory \"%s\" on this server: there is one, \"%s\"", id, name)
		}
	}
	if srv, ok := r.Params.TakeExact("Server"); ok && !strings.EqualFold(srv, cfg.Server.Name) && !strings.EqualFold(srv, cfg.Server.Fqdn) {
		return fmt.Errorf("no server %q: this server is %s (%s)", srv, cfg.Server.Name, cfg.Server.Fqdn)
	}
	return nil
}
