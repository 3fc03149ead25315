package shell

import (
	"fmt"
	"strconv"
	"strings"

	"github.com/transportd/transportd/transport/admin/manage"
)

// propertyNames reads -Property (names, comma lists or wildcards).
func propertyNames(v any) []string {
	var out []string
	for _, x := range flatten(v) {
		for _, p := range strings.Split(toString(x), ",") {
			if p = strings.TrimSpace(p); p != "" {
				out = append(out, p)
			}
		}
	}
	return out
}

// runBlock runs a script block with $_ set to the current object.
func (sh *Shell) runBlock(b *Block, current any, outer map[string]any) ([]any, error) {
	scope := map[string]any{}
	for k, v := range outer {
		scope[k] = v
	}
	scope["_"] = current
	scope["psitem"] = current
	return sh.eval(b.Script, scope)
}

func intParam(c *call, name string) (int, bool, error) {
	v, ok := c.params[name]
	if !ok {
		return 0, false, nil
	}
	n, err := strconv.Atoi(toText(v))
	if err != nil || n < 0 {
		return 0, false, fmt.Errorf("-%s %q: give a whole number, 0 or more", name, toText(v))
	}
	return n, true, nil
}

var whereOps = []string{"EQ", "NE", "Like", "NotLike", "Match", "NotMatch", "GT", "LT", "GE", "LE", "Contains", "NotContains", "In", "NotIn"}

func utilityCmdlets() []*cmdlet {
	prop := val("Property", "property names, comma-separated; wildcards * allowed")
	var whereParams []paramSpec
	whereParams = append(whereParams, val("FilterScript", "{ $_.Enabled -eq $true }"), prop, val("Value", "the value to compare with"))
	for _, op := range whereOps {
		whereParams = append(whereParams, sw(op, "compare -Property with -Value"))
	}
	return []*cmdlet{
		{name: "Format-List", aliases: []string{"fl"}, synopsis: "Shows each object as \"Name : value\" lines.",
			params: params(prop), positional: []string{"Property"},
			run: func(sh *Shell, c *call) ([]any, error) {
				names := propertyNames(c.params["Property"])
				var recs []manage.Record
				for _, v := range c.input {
					recs = append(recs, selectProps(record(v), names))
				}
				var sb strings.Builder
				FormatList(&sb, recs)
				return []any{formatted{sb.String()}}, nil
			}},
		{name: "Format-Table", aliases: []string{"ft"}, synopsis: "Shows objects as a table of the given (or the default) columns.",
			params: params(prop, sw("AutoSize", "accepted; columns always fit")), positional: []string{"Property"},
			run: func(sh *Shell, c *call) ([]any, error) {
				names := propertyNames(c.params["Property"])
				var recs []manage.Record
				for _, v := range c.input {
					recs = append(recs, record(v))
				}
				if len(recs) == 0 {
					return nil, nil
				}
				if len(names) == 0 {
					if o, ok := c.input[0].(*Object); ok {
						names = DefaultColumns(o.TypeName)
					}
					if len(names) == 0 {
						for _, p := range recs[0] {
							names = append(names, p.Name)
						}
					}
				}
				var sb strings.Builder
				FormatTable(&sb, recs, columnsFor(recs, names))
				return []any{formatted{sb.String()}}, nil
			}},
		{name: "Select-Object", aliases: []string{"select"}, synopsis: "Keeps some properties, or the first or last objects.",
			params:     params(prop, val("ExpandProperty", "a property whose value to pass on"), val("First", "a number"), val("Last", "a number")),
			positional: []string{"Property"},
			run: func(sh *Shell, c *call) ([]any, error) {
				in := c.input
				if n, ok, err := intParam(c, "First"); err != nil {
					return nil, err
				} else if ok && n < len(in) {
					in = in[:n]
				}
				if n, ok, err := intParam(c, "Last"); err != nil {
					return nil, err
				} else if ok && n < len(in) {
					in = in[len(in)-n:]
				}
				if ep, ok := c.text("ExpandProperty"); ok {
					var out []any
					for _, v := range in {
						x, err := member(v, ep, c.argPos["ExpandProperty"])
						if err != nil {
							return nil, err
						}
						out = append(out, flatten(x)...)
					}
					return out, nil
				}
				names := propertyNames(c.params["Property"])
				if len(names) == 0 {
					return in, nil
				}
				out := make([]any, 0, len(in))
				for _, v := range in {
					out = append(out, &Object{TypeName: "Selected", Props: selectProps(record(v), names)})
				}
				return out, nil
			}},
		{name: "Where-Object", aliases: []string{"where", "?"}, synopsis: "Keeps the objects for which { $_.Prop -eq value } is true.",
			params: whereParams, positional: []string{"FilterScript", "Value"},
			run: func(sh *Shell, c *call) ([]any, error) {
				keep, err := whereFilter(sh, c)
				if err != nil {
					return nil, err
				}
				var out []any
				for _, v := range c.input {
					ok, err := keep(v)
					if err != nil {
						return nil, err
					}
					if ok {
						out = append(out, v)
					}
				}
				return out, nil
			}},
		{name: "ForEach-Object", aliases: []string{"foreach", "%"}, synopsis: "Runs { ... } for each object, with $_ set to it.",
			params: params(val("Process", "{ $_.Name }")), positional: []string{"Process"},
			run: func(sh *Shell, c *call) ([]any, error) {
				b, ok := c.params["Process"].(*Block)
				if !ok {
					return nil, fmt.Errorf("-Process needs a script block such as { $_.Name }")
				}
				var out []any
				for _, v := range c.input {
					vals, err := sh.runBlock(b, v, c.scope)
					if err != nil {
						return nil, err
					}
					out = append(out, vals...)
				}
				return out, nil
			}},
		{name: "Sort-Object", aliases: []string{"sort"}, synopsis: "Sorts objects by properties.",
			params: params(prop, sw("Descending", "largest first"), sw("Unique", "drop duplicates")), positional: []string{"Property"},
			run: func(sh *Shell, c *call) ([]any, error) {
				names := propertyNames(c.params["Property"])
				out := append([]any(nil), c.input...)
				desc := truthy(c.params["Descending"])
				key := func(v any) any { return display(v) }
				if len(names) > 0 {
					key = func(v any) any {
						if o, ok := v.(*Object); ok {
							x, _ := o.Get(names[0])
							return x
						}
						return v
					}
				}
				sortValues(out, key, desc)
				if truthy(c.params["Unique"]) {
					var u []any
					for i, v := range out {
						if i == 0 || order(key(out[i-1]), key(v)) != 0 {
							u = append(u, v)
						}
					}
					out = u
				}
				return out, nil
			}},
		{name: "Measure-Object", aliases: []string{"measure"}, synopsis: "Counts objects (and sums a numeric property).",
			params: params(prop, sw("Sum", "add up -Property"), sw("Average", "average of -Property"),
				sw("Maximum", "largest -Property"), sw("Minimum", "smallest -Property")),
			positional: []string{"Property"},
			run: func(sh *Shell, c *call) ([]any, error) {
				return []any{measure(c)}, nil
			}},
		{name: "ConvertTo-Json", synopsis: "Writes objects as JSON (an array when there are several).",
			params: params(val("Depth", "accepted for scripts"), sw("Compress", "accepted for scripts")),
			run: func(sh *Shell, c *call) ([]any, error) {
				if len(c.input) == 0 {
					return nil, nil
				}
				return []any{ToJSON(c.input)}, nil
			}},
		{name: "Write-Output", aliases: []string{"echo", "write"}, synopsis: "Passes values down the pipeline.",
			params: params(val("InputObject", "values")), positional: []string{"InputObject"},
			run: func(sh *Shell, c *call) ([]any, error) {
				return append(c.input, flatten(c.params["InputObject"])...), nil
			}},
		{name: "Write-Host", synopsis: "Prints text.",
			params: params(val("Object", "text")), positional: []string{"Object"},
			run: func(sh *Shell, c *call) ([]any, error) {
				sh.say("%s", toString(c.params["Object"]))
				return nil, nil
			}},
		{name: "Get-Command", aliases: []string{"gcm"}, synopsis: "Lists the cmdlets.",
			params: params(val("Name", "cmdlet names; wildcards * allowed"), val("Noun", "only cmdlets with this noun, e.g. ReceiveConnector; wildcards * allowed"),
				val("Verb", "only cmdlets with this verb, e.g. Set; wildcards * allowed"), val("Module", "accepted for scripts; every cmdlet is transportd's")),
			positional: []string{"Name"},
			run: func(sh *Shell, c *call) ([]any, error) {
				var out []any
				for _, n := range CmdletNames() {
					if commandMatches(c, n) {
						cl, _ := lookupCmdlet(n)
						out = append(out, &Object{TypeName: "Command", Props: manage.Record{{Name: "Name", Value: n}, {Name: "Synopsis", Value: cl.synopsis}}})
					}
				}
				return out, nil
			}},
		{name: "Get-Help", aliases: []string{"help", "man"}, synopsis: "Explains a cmdlet and its parameters.",
			params: params(val("Name", "a cmdlet"), sw("Full", "every section: parameters in detail (position, switch), examples"),
				sw("Detailed", "parameters in detail and the examples"), sw("Examples", "only the examples, Microsoft's documented ones that run here"),
				val("Parameter", "only this parameter; wildcards * allowed")),
			positional: []string{"Name"},
			run: func(sh *Shell, c *call) ([]any, error) {
				name, _ := c.text("Name")
				p, _ := c.text("Parameter")
				text, err := HelpWith(name, HelpOptions{Parameter: p, Full: truthy(c.params["Full"]),
					Detailed: truthy(c.params["Detailed"]), Examples: truthy(c.params["Examples"])})
				if err != nil {
					return nil, err
				}
				return []any{formatted{text}}, nil
			}},
	}
}

// whereFilter builds Where-Object's test: a script block, or the
// simplified "Property -Op Value" form.
func whereFilter(sh *Shell, c *call) (func(any) (bool, error), error) {
	if b, ok := c.params["FilterScript"].(*Block); ok {
		return func(v any) (bool, error) {
			vals, err := sh.runBlock(b, v, c.scope)
			if err != nil {
				return false, err
			}
			return truthy(collapse(vals)), nil
		}, nil
	}
	propName := ""
	if v, ok := c.params["Property"]; ok {
		propName = toString(v)
	} else if v, ok := c.params["FilterScript"]; ok {
		propName = toString(v)
	}
	if propName == "" {
		return nil, fmt.Errorf("give a script block such as { $_.Enabled -eq $true }, or Property -EQ value")
	}
	op := ""
	for _, o := range whereOps {
		if c.has(o) {
			op = strings.ToLower(o)
		}
	}
	want, hasValue := c.params["Value"]
	if op == "" {
		if hasValue {
			return nil, fmt.Errorf("give an operator between the property and the value: %s", strings.Join(CompareOps(), " "))
		}
		return func(v any) (bool, error) {
			x, err := member(v, propName, c.pos)
			return err == nil && truthy(x), nil
		}, nil
	}
	return func(v any) (bool, error) {
		x, err := member(v, propName, c.pos)
		if err != nil {
			return false, err
		}
		return compare(op, x, want)
	}, nil
}

// measure is Measure-Object's result.
func measure(c *call) *Object {
	names := propertyNames(c.params["Property"])
	rec := manage.Record{{Name: "Count", Value: strconv.Itoa(len(c.input))}}
	if len(names) == 0 {
		return &Object{TypeName: "GenericMeasureInfo", Props: append(rec,
			manage.Property{Name: "Average"}, manage.Property{Name: "Sum"}, manage.Property{Name: "Maximum"},
			manage.Property{Name: "Minimum"}, manage.Property{Name: "Property"})}
	}
	var sum, mx, mn float64
	n := 0
	for _, v := range c.input {
		var x any = v
		if o, ok := v.(*Object); ok {
			x, _ = o.Get(names[0])
		}
		f, ok := toNumber(x)
		if !ok {
			continue
		}
		if n == 0 || f > mx {
			mx = f
		}
		if n == 0 || f < mn {
			mn = f
		}
		sum += f
		n++
	}
	show := func(name string, f float64) manage.Property {
		if !truthy(c.params[name]) || n == 0 {
			return manage.Property{Name: name}
		}
		return manage.Property{Name: name, Value: formatNumber(f).Text}
	}
	avg := 0.0
	if n > 0 {
		avg = sum / float64(n)
	}
	rec[0].Value = strconv.Itoa(n)
	return &Object{TypeName: "GenericMeasureInfo", Props: append(rec, show("Average", avg), show("Sum", sum),
		show("Maximum", mx), show("Minimum", mn), manage.Property{Name: "Property", Value: names[0]})}
}

// Help explains a cmdlet (or lists the cmdlets when name is empty); with
// param it explains only that parameter.
func Help(name, param string) (string, error) { return HelpWith(name, HelpOptions{Parameter: param}) }

// helpSummary is Get-Help's default view: synopsis, syntax, the
// parameters each with its description.
func helpSummary(name, param string) (string, error) {
	var sb strings.Builder
	if name == "" {
		sb.WriteString("transportd shell: Exchange Management Shell cmdlets for transportd.\n\n")
		for _, n := range CmdletNames() {
			cl, _ := lookupCmdlet(n)
			fmt.Fprintf(&sb, "  %-28s %s\n", n, cl.synopsis)
		}
		sb.WriteString("\nGet-Help NAME shows a cmdlet's parameters. Parameters take unique prefixes; -Identity takes * wildcards;\n")
		sb.WriteString("booleans are $true and $false; lists are a,b; pipe objects with |, e.g.\n")
		sb.WriteString("  Get-ReceiveConnector -Identity \"Client Frontend*\" | Format-List Name,Fqdn\n")
		return sb.String(), nil
	}
	cl, err := lookupCmdlet(name)
	if err != nil {
		return "", err
	}
	if param != "" {
		n, err := manage.ResolveName(cl.paramNames(), param)
		if err != nil {
			return "", err
		}
		p := cl.param(n)
		fmt.Fprintf(&sb, "-%s%s\n    %s\n", p.name, paramSyntax(p), p.help)
		return sb.String(), nil
	}
	fmt.Fprintf(&sb, "NAME\n    %s\n\nSYNOPSIS\n    %s\n\nSYNTAX\n    %s", cl.name, cl.synopsis, cl.name)
	for i, p := range cl.params {
		pos := ""
		for _, q := range cl.positional {
			if q == p.name && i == 0 {
				pos = "positional"
			}
		}
		if pos != "" {
			fmt.Fprintf(&sb, " [[-%s]%s]", p.name, paramSyntax(p))
		} else {
			fmt.Fprintf(&sb, " [-%s%s]", p.name, paramSyntax(p))
		}
	}
	sb.WriteString("\n\nPARAMETERS\n")
	w := 0
	for _, p := range cl.params {
		w = max(w, len(p.name)+1)
	}
	for _, p := range cl.params {
		help := p.help
		if p.isSwitch {
			help = "switch: " + help
		}
		fmt.Fprintf(&sb, "    %-*s  %s\n", w, "-"+p.name, help)
	}
	sb.WriteString("\n    Every cmdlet also accepts -Confirm, -Verbose, -ErrorAction and -WarningAction, and ignores them; -DomainController is accepted with a warning (there is no Active Directory).\n")
	return sb.String(), nil
}

func paramSyntax(p paramSpec) string {
	if p.isSwitch {
		return ""
	}
	return " <value>"
}
