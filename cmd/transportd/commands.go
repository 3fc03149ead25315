package main

import (
	"context"
	"fmt"
	"io"
	"strings"

	"github.com/transportd/transportd/transport/admin/manage"
	"github.com/transportd/transportd/transport/admin/registry"
	"github.com/transportd/transportd/transport/admin/shell"
)

// view is the output of a get with -fields a,b and -format list|table|json.
type view struct {
	io.Writer
	fields []string
	format string
}

// takeView removes -fields and -format from ps; it returns out unchanged
// when neither is given.
func takeView(ps *manage.Params, out io.Writer) (io.Writer, error) {
	fields, hasFields := ps.Take("fields")
	format, hasFormat := ps.Take("format")
	if !hasFields && !hasFormat {
		return out, nil
	}
	v := &view{Writer: out, format: strings.ToLower(strings.TrimSpace(format))}
	switch v.format {
	case "", "list", "table", "json":
	default:
		return nil, fmt.Errorf("-format %q: use list, table or json", format)
	}
	for _, f := range strings.Split(fields, ",") {
		if f = strings.TrimSpace(f); f != "" {
			v.fields = append(v.fields, f)
		}
	}
	return v, nil
}

// show prints records with the chosen fields and format.
func (v *view) show(recs []manage.Record, list bool, columns []string) error {
	if len(v.fields) > 0 && len(recs) > 0 {
		var names []string
		for _, p := range recs[0] {
			names = append(names, p.Name)
		}
		for _, f := range v.fields {
			if strings.ContainsAny(f, "*?") {
				continue
			}
			if _, err := manage.ResolveName(names, f); err != nil || !containsFold(names, f) {
				if s := manage.Closest(names, f); s != "" {
					return fmt.Errorf("-fields %s: no such property; did you mean %s?", f, s)
				}
				return fmt.Errorf("-fields %s: no such property (the properties are %s)", f, strings.Join(names, ", "))
			}
		}
		sel := make([]manage.Record, len(recs))
		for i, r := range recs {
			sel[i] = shell.SelectProperties(r, v.fields)
		}
		recs = sel
		if len(recs) > 0 {
			columns = nil
			for _, p := range recs[0] {
				columns = append(columns, p.Name)
			}
		}
	}
	switch v.format {
	case "json":
		fmt.Fprintln(v.Writer, shell.RecordsJSON(recs))
		return nil
	case "list":
		list = true
	case "table":
		list = false
		if len(columns) == 0 && len(recs) > 0 {
			for _, p := range recs[0] {
				columns = append(columns, p.Name)
			}
		}
	default:
		if len(v.fields) > 0 && len(recs) > 1 {
			list = false
		}
	}
	return show(v.Writer, recs, list, nil, columns...)
}

// nothing reports an empty result: the sentence for people, an empty JSON
// array for -format json, so that scripts always parse an array.
func nothing(out io.Writer, sentence string) error {
	if v, ok := out.(*view); ok && v.format == "json" {
		fmt.Fprintln(v.Writer, "[]")
		return nil
	}
	fmt.Fprintln(out, sentence)
	return nil
}

func containsFold(list []string, s string) bool {
	for _, x := range list {
		if strings.EqualFold(x, s) {
			return true
		}
	}
	return false
}

// pipedIdentities reads the identities of a JSON pipe (the output of a get
// with -format json) for a set or remove without -Identity.
func pipedIdentities(stdin io.Reader) ([]string, error) {
	if stdin == nil || isTerminal(stdin) {
		return nil, nil
	}
	b, err := io.ReadAll(stdin)
	if err != nil {
		return nil, fmt.Errorf("reading standard input: %w", err)
	}
	if strings.TrimSpace(string(b)) == "" {
		return nil, nil
	}
	return shell.IdentitiesFromJSON(b)
}

// request turns the parameters of `transportd NOUN VERB ...` into the
// registry command's request: each name resolved (abbreviations as in
// PowerShell) against the parameters the command declares, the identity
// apart, the common parameters dropped. A parameter the command does not
// take is refused, on every command, get and remove included: a misspelt
// -Identity must not widen a get to every object.
func request(n nounSpec, v verbSpec, ps manage.Params) (registry.Request, error) {
	var req registry.Request
	cmd := v.cmd
	names := cmd.ParamNames()
	for _, p := range registry.CommonParams {
		names = append(names, p.Name)
	}
	seen := map[string]bool{}
	var rest manage.Params
	for _, p := range ps {
		if p.Name == "Identity" && !containsFold(cmd.ParamNames(), "Identity") && len(cmd.Positional) > 0 {
			p.Name = cmd.Positional[0] // the bare first value: Name for new
		}
		name, err := manage.ResolveName(names, p.Name)
		if err != nil {
			command := n.name + " " + v.name
			switch {
			case len(cmd.Params) == 0:
				return req, fmt.Errorf("%w (%s takes no parameters)", err, command)
			case len(cmd.Params) > 8:
				return req, fmt.Errorf("%w (transportd %s -h lists the parameters)", err, command)
			}
			return req, fmt.Errorf("%w (%s takes -%s)", err, command, strings.Join(cmd.ParamNames(), ", -"))
		}
		if seen[name] {
			return req, fmt.Errorf("parameter -%s given twice", name)
		}
		seen[name] = true
		if registry.IsCommon(name) && registry.CommonWarning(name) == "" {
			continue // the command warns about the others
		}
		p.Name = name
		rest = append(rest, p)
	}
	for _, id := range cmd.IdentityParams {
		if v, ok := rest.TakeExact(id); ok {
			if len(req.Identities) == 0 && v != "" {
				req.Identities = []string{v}
			}
		}
	}
	req.Params = rest
	return req, nil
}

// execute runs one noun-verb command and prints what it returns.
func execute(ctx context.Context, m *manage.Manager, n nounSpec, v verbSpec, req registry.Request, readPw func() (string, error), out io.Writer) error {
	env := &registry.Env{Ctx: ctx, Manager: m, ReadPassword: readPw, Out: out}
	recs, err := v.cmd.Do(env, req)
	if err != nil || !v.cmd.Records {
		return err
	}
	if v.cmd.Print != "" {
		for _, r := range recs {
			val, _ := r.Get(v.cmd.Print)
			fmt.Fprintln(out, val)
		}
		return nil
	}
	if len(recs) == 0 && v.cmd.Empty != "" {
		return nothing(out, v.cmd.Empty)
	}
	list := v.cmd.List != nil && v.cmd.List(req)
	var columns []string
	if !list {
		columns = shell.DefaultColumns(v.cmd.TypeName(n.kind, req))
	}
	return show(out, recs, list, nil, columns...)
}

// show prints records as a list (all properties) or a table (the given columns).
func show(out io.Writer, recs []manage.Record, list bool, err error, columns ...string) error {
	if err != nil {
		return err
	}
	if v, ok := out.(*view); ok {
		return v.show(recs, list, columns)
	}
	if list || len(columns) == 0 {
		FormatList(out, recs)
		return nil
	}
	FormatTable(out, recs, columns)
	return nil
}

// FormatList prints records as Format-List does (the shell's printer).
func FormatList(out io.Writer, recs []manage.Record) { shell.FormatList(out, recs) }

// FormatTable prints records as Format-Table does (the shell's printer).
func FormatTable(out io.Writer, recs []manage.Record, columns []string) {
	shell.FormatTable(out, recs, columns)
}
