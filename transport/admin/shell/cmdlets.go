package shell

import (
	"context"
	"fmt"
	"sort"
	"strings"

	"github.com/transportd/transportd/transport/admin/manage"
	"github.com/transportd/transportd/transport/admin/registry"
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
	// multi: a multi-valued parameter, which takes @{Add=...; Remove=...}.
	multi bool
}

func (p paramSpec) example() string {
	if p.help == "" {
		return ""
	}
	return " (" + p.help + ")"
}

// commonParams are accepted by every cmdlet, as in PowerShell, and ignored.
func commonParams() []paramSpec { return fromRegistry(registry.CommonParams) }

func isCommon(name string) bool { return registry.IsCommon(name) }

// commonWarning is the warning a common parameter gets when given, or "".
func commonWarning(name string) string { return registry.CommonWarning(name) }

// fromRegistry turns declared parameters into the shell's.
func fromRegistry(ps []registry.Param) []paramSpec {
	out := make([]paramSpec, 0, len(ps))
	for _, p := range ps {
		out = append(out, paramSpec{name: p.Name, isSwitch: p.Switch, help: p.Help, multi: p.Multi})
	}
	return out
}

func (cl *cmdlet) paramNames() []string {
	var out []string
	for _, p := range cl.params {
		out = append(out, p.name)
	}
	for _, p := range commonParams() {
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
	for _, p := range commonParams() {
		if p.name == name {
			return p
		}
	}
	return paramSpec{name: name}
}

// cmdlets returns the table of cmdlets: those of the admin registry and
// the shell's own (Format-List, Where-Object, Get-Help, ...). It is built
// on each call (a few microseconds), so that there is no package state.
func cmdlets() []*cmdlet {
	return append(append(append(registryCmdlets(), utilityCmdlets()...), langCmdlets()...), dotnetCmdlets()...)
}

// UtilityCmdletNames lists the shell's own cmdlets, which are not in the
// admin registry: the pipeline and output cmdlets, sorted.
func UtilityCmdletNames() []string {
	var out []string
	for _, c := range append(append(utilityCmdlets(), langCmdlets()...), dotnetCmdlets()...) {
		out = append(out, c.name)
	}
	sort.Strings(out)
	return out
}

// CmdletNames lists every cmdlet name, sorted (for completion and Get-Command).
func CmdletNames() []string {
	var out []string
	for _, c := range cmdlets() {
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
	for _, c := range cmdlets() {
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

func containsFold(list []string, s string) bool {
	for _, x := range list {
		if strings.EqualFold(x, s) {
			return true
		}
	}
	return false
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
//
// @{Add=...; Remove=...} on a multi-valued parameter becomes the values
// to add and remove; a PSCredential gives its user name, and its password
// as -Password when the command takes one and it is not given.
func (c *call) manageParams(skip ...string) (manage.Params, error) {
	var ps manage.Params
	for _, n := range c.order {
		if isCommon(n) || containsFold(skip, n) {
			continue
		}
		switch v := c.params[n].(type) {
		case *HashValue:
			if !c.cmd.param(n).multi {
				return nil, fmt.Errorf("-%s takes one value, not @{...}: only multi-valued parameters take @{Add=...; Remove=...}", n)
			}
			p, err := editParam(n, v)
			if err != nil {
				return nil, err
			}
			ps = append(ps, p)
			continue
		case *Credential:
			ps = append(ps, manage.Param{Name: n, Value: v.User})
			if p := c.cmd.param("Password"); p.help != "" && !c.has("Password") {
				ps = append(ps, manage.Param{Name: "Password", Value: v.Password})
			}
			continue
		}
		ps = append(ps, manage.Param{Name: n, Value: toText(c.params[n])})
	}
	return ps, nil
}

// registryCmdlets are the cmdlets of every command the admin registry declares.
func registryCmdlets() []*cmdlet {
	var out []*cmdlet
	for _, k := range registry.Kinds() {
		for _, rc := range k.Commands {
			out = append(out, &cmdlet{name: rc.Cmdlet, aliases: rc.CmdletAliases, synopsis: rc.Synopsis,
				params: fromRegistry(rc.Params), positional: rc.Positional,
				run: func(sh *Shell, c *call) ([]any, error) { return sh.runRegistry(k, rc, c) }})
		}
	}
	return out
}

// runRegistry runs a registry command with the call's parameters and
// pipeline, and passes on what it returns as objects of its type.
func (sh *Shell) runRegistry(k *registry.Kind, rc *registry.Command, c *call) (_ []any, err error) {
	var req registry.Request
	given := false
	for _, p := range rc.IdentityParams {
		if v, ok := c.params[p]; ok {
			given = true
			if v == nil || toText(v) == "" {
				if rc.Pipe {
					return nil, fmt.Errorf("-%s is empty", p)
				}
				break // Get-X -Identity $null: all of them
			}
			req.Identities = append(req.Identities, toText(v))
			break
		}
	}
	if !given && rc.Pipe {
		req.FromPipe = c.fromPipe
		for _, v := range c.input {
			id := toString(v)
			if o, ok := v.(*Object); ok {
				id = o.identity()
				if rc.PipeProperty != "" {
					if t, ok := o.Props.Get(rc.PipeProperty); ok {
						id = t
					}
				}
			}
			if id != "" {
				req.Identities = append(req.Identities, id)
			}
		}
	}
	if req.Params, err = c.manageParams(rc.IdentityParams...); err != nil {
		return nil, err
	}
	env := &registry.Env{Ctx: context.Background(), Manager: sh.Manager, ReadPassword: sh.ReadPassword, Control: sh.Control, Out: sh.Out}
	recs, err := rc.Do(env, req)
	if err != nil {
		return nil, err
	}
	return objects(rc.TypeName(k, req), recs), nil
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
