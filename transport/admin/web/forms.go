package web

import (
	"slices"
	"strings"

	"github.com/transportd/transportd/transport/admin/manage"
)

// formField is one setting of an edit form that maps to one parameter of
// a Set- cmdlet: the form shows the record's value, and setChanges puts
// on the Set- line only what the admin changed.
type formField struct {
	Name, Label, Help string
	// Kind is text, bool, list (a textarea, one value a line) or select.
	Kind    string
	Options []string
	Value   string
	Checked bool
}

// fill returns fields with the values of rec.
func fill(fields []formField, rec manage.Record) []formField {
	out := make([]formField, 0, len(fields))
	for _, f := range fields {
		v, _ := rec.Get(f.Name)
		switch f.Kind {
		case "bool":
			f.Checked = v == "True"
		case "list":
			f.Value = strings.Join(listValue(v), "\n")
		default:
			f.Value = v
		}
		out = append(out, f)
	}
	return out
}

// setChanges adds to set the fields whose form value differs from rec.
func setChanges(c *Context, set *Cmd, fields []formField, rec manage.Record) {
	for _, f := range fields {
		cur, _ := rec.Get(f.Name)
		switch f.Kind {
		case "bool":
			if on := c.Form(f.Name) != ""; on != (cur == "True") {
				set.Bool(f.Name, on)
			}
		case "list":
			if want := formLines(c.Form(f.Name)); !slices.Equal(want, listValue(cur)) {
				set.List(f.Name, want)
			}
		default:
			if v := c.Form(f.Name); v != cur {
				set.Text(f.Name, v)
			}
		}
	}
}

// runAll runs cmds in order until one fails.
func runAll(c *Context, cmds ...*Cmd) []Result {
	var results []Result
	for _, cmd := range cmds {
		if cmd == nil || cmd.Empty() && cmd.Pipe == nil && strings.HasPrefix(cmd.Cmdlet, "Set-") {
			continue
		}
		res := c.Run(cmd)
		results = append(results, res)
		if !res.OK {
			break
		}
	}
	return results
}

// allOK reports whether every result succeeded.
func allOK(rs []Result) bool {
	for _, r := range rs {
		if !r.OK {
			return false
		}
	}
	return true
}
