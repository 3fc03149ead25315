package registry

import (
	"fmt"
	"reflect"
	"slices"
	"strings"

	"github.com/transportd/transportd/transport/admin/manage"
)

// This file declares the parameters Exchange gives many cmdlets alike:
// -Server on the cmdlets that have it in Exchange, and -WhatIf on every
// cmdlet that changes something. They are added to the declarations by
// withShared, so a new command gets them without another edit, and they
// are acted on in Command.Do, for both front ends.

// serverCmdlets are the cmdlets that take -Server in Exchange (where it
// names the server to run on; here it must be this one).
var serverCmdlets = []string{
	"Get-ReceiveConnector", "New-ReceiveConnector",
	"Get-ExchangeCertificate", "New-ExchangeCertificate", "Import-ExchangeCertificate",
	"Enable-ExchangeCertificate", "Remove-ExchangeCertificate", "Export-ExchangeCertificate",
	"Get-Queue", "Retry-Queue", "Suspend-Queue", "Resume-Queue",
	"Get-Message", "Suspend-Message", "Resume-Message", "Remove-Message",
	"Get-MessageTrackingLog", "Get-Mailbox",
	"Get-PopSettings", "Set-PopSettings", "Get-ImapSettings", "Set-ImapSettings",
	"Get-IPBlockListEntry", "Add-IPBlockListEntry", "Remove-IPBlockListEntry", // issue 13: connection filtering
	"Get-IPAllowListEntry", "Add-IPAllowListEntry", "Remove-IPAllowListEntry",
}

// readOnlyVerbs are the verbs of commands that change nothing; every other
// command takes -WhatIf.
var readOnlyVerbs = []string{"get", "test", "smtp", "pop", "imap"}

const (
	serverHelp = "this server's Name or Fqdn (Exchange runs the cmdlet there); another server is refused, naming this one"
	whatIfHelp = "shows what would change (What if: ...) and changes nothing"
)

// Changes reports whether the command changes something (and so takes -WhatIf).
func (c *Command) Changes() bool {
	return !containsFold(readOnlyVerbs, c.Verb) && !strings.HasPrefix(c.Cmdlet, "Get-") && !strings.HasPrefix(c.Cmdlet, "Test-")
}

// withShared adds -Server and -WhatIf to the commands that take them and
// do not declare them themselves.
func withShared(kinds []*Kind) []*Kind {
	for _, k := range kinds {
		for _, c := range k.Commands {
			if containsFold(serverCmdlets, c.Cmdlet) {
				if _, own := c.declared("Server"); !own {
					c.Params = append(c.Params, val("Server", serverHelp))
					c.sharedServer = true
				}
			}
			if c.Changes() {
				if _, own := c.declared("WhatIf"); !own {
					c.Params = append(c.Params, sw("WhatIf", whatIfHelp))
					c.sharedWhatIf = true
				}
			}
		}
	}
	return kinds
}

// declared returns the command's own parameter called name.
func (c *Command) declared(name string) (Param, bool) {
	for _, p := range c.Params {
		if strings.EqualFold(p.Name, name) {
			return p, true
		}
	}
	return Param{}, false
}

// takeParam removes the parameter called exactly name, reading a switch as $true.
func takeParam(ps *manage.Params, name string) (string, bool) {
	for i, p := range *ps {
		if strings.EqualFold(p.Name, name) {
			*ps = append((*ps)[:i:i], (*ps)[i+1:]...)
			return paramText(p), true
		}
	}
	return "", false
}

// checkServer refuses a -Server that is not this server.
func checkServer(env *Env, name string) error {
	cfg, err := env.Manager.Load()
	if err != nil {
		return err
	}
	n := strings.TrimSpace(name)
	if n == "" || strings.EqualFold(n, cfg.Server.Name) || strings.EqualFold(n, cfg.Server.Fqdn) ||
		strings.EqualFold(strings.TrimSuffix(n, "."), cfg.Server.Fqdn) {
		return nil
	}
	if cfg.Clustered() { // issue 14: server-scoped objects are managed on their member
		return fmt.Errorf("-Server %s: this transportd is server %s (%s) of cluster %s; receive connectors and certificate bindings are each member's own: run the command on %s, or give -Server %s or leave -Server out",
			n, cfg.Server.Name, cfg.Server.Fqdn, cfg.Cluster.Name, n, cfg.Server.Name)
	}
	return fmt.Errorf("-Server %s: this transportd is server %s (%s), and it manages only itself; give -Server %s or leave -Server out",
		n, cfg.Server.Name, cfg.Server.Fqdn, cfg.Server.Name)
}

// shared acts on -Server and -WhatIf. It reports done when the command
// must not run (-WhatIf, after saying what it would do).
func (c *Command) shared(env *Env, r *Request) (done bool, err error) {
	if c.sharedServer {
		if s, ok := takeParam(&r.Params, "Server"); ok {
			if err := checkServer(env, s); err != nil {
				return true, err
			}
		}
	}
	if !c.sharedWhatIf {
		return false, nil
	}
	w, ok := takeParam(&r.Params, "WhatIf")
	if !ok {
		return false, nil
	}
	on, err := manage.ParseBool(w)
	if err != nil {
		return true, fmt.Errorf("-WhatIf: %w", err)
	}
	if !on {
		return false, nil
	}
	targets, err := c.whatIfTargets(env, *r)
	if err != nil {
		return true, err
	}
	for _, t := range targets {
		// PowerShell's ShouldProcess message.
		env.say("What if: Performing the operation %q on target %q.", c.Cmdlet, t)
	}
	return true, nil
}

// whatIfTargets names the objects the command would act on: the objects
// its identities match now (an identity that matches nothing fails as the
// command would), the new object's name, or the kind for a singleton.
func (c *Command) whatIfTargets(env *Env, r Request) ([]string, error) {
	if len(r.Identities) == 0 {
		if r.FromPipe {
			return nil, nil
		}
		for _, n := range append([]string{"Name", "Identity", "User", "FileName", "SubjectName", "DomainName"}, c.Positional...) {
			for _, p := range r.Params {
				if strings.EqualFold(p.Name, n) && p.Value != "" {
					return []string{p.Value}, nil
				}
			}
		}
		if k, _, ok := FindCmdlet(c.Cmdlet); ok {
			return []string{k.TypeName}, nil
		}
		return []string{c.Cmdlet}, nil
	}
	k, _, ok := FindCmdlet(c.Cmdlet)
	if !ok {
		return r.Identities, nil
	}
	get, ok := k.Command("get")
	if !ok || len(get.IdentityParams) == 0 || !c.Pipe {
		return r.Identities, nil
	}
	var out []string
	for _, id := range r.Identities {
		recs, err := get.Run(env, Request{Identities: []string{id}})
		if err != nil {
			return nil, err
		}
		if len(recs) == 0 {
			return nil, fmt.Errorf("no %s matches identity %q", k.TypeName, id)
		}
		for _, rec := range recs {
			name := id
			for _, n := range []string{"Identity", "Thumbprint", "Name"} {
				if v, ok := rec.Get(n); ok && v != "" {
					name = v
					break
				}
			}
			if !slices.Contains(out, name) { // Get-ADPermission: a record per right
				out = append(out, name)
			}
		}
	}
	return out, nil
}

// Multi reports whether a parameter of type t takes several values, and
// with them Exchange's @{Add=...; Remove=...} form.
func multiType(t reflect.Type) bool {
	return t.Kind() == reflect.Slice && t.Elem().Kind() != reflect.Uint8
}
