package shell

import (
	"encoding/json"
	"fmt"
	"io"
	"strings"

	"github.com/transportd/transportd/transport/admin/manage"
	"github.com/transportd/transportd/transport/admin/registry"
)

// DefaultColumns returns the default table columns of an object type, as
// the admin registry declares them (Exchange's where it has one), or nil
// when the type is shown as a list.
func DefaultColumns(typeName string) []string {
	for _, k := range registry.Kinds() {
		if k.TypeName == typeName {
			return k.Columns
		}
	}
	return nil
}

// FormatList prints "Name : value" lines aligned, one block per record,
// exactly as the noun-verb commands do.
func FormatList(out io.Writer, recs []manage.Record) {
	for i, r := range recs {
		if i > 0 {
			fmt.Fprintln(out)
		}
		w := 0
		for _, p := range r {
			w = max(w, len(p.Name))
		}
		for _, p := range r {
			fmt.Fprintf(out, "%-*s : %s\n", w, p.Name, p.Value)
		}
	}
}

// FormatTable prints the columns with a dashed header row, as Format-Table
// does, exactly as the noun-verb commands do.
func FormatTable(out io.Writer, recs []manage.Record, columns []string) {
	columns = serverColumn(recs, columns)
	widths := make([]int, len(columns))
	for i, c := range columns {
		widths[i] = len(c)
	}
	cells := make([][]string, len(recs))
	for r, rec := range recs {
		cells[r] = make([]string, len(columns))
		for i, c := range columns {
			v, _ := rec.Get(c)
			cells[r][i] = v
			widths[i] = max(widths[i], len(v))
		}
	}
	line := func(vals []string) {
		var sb strings.Builder
		for i, v := range vals {
			if i == len(vals)-1 {
				sb.WriteString(v)
			} else {
				fmt.Fprintf(&sb, "%-*s ", widths[i], v)
			}
		}
		fmt.Fprintln(out, strings.TrimRight(sb.String(), " "))
	}
	line(columns)
	dashes := make([]string, len(columns))
	for i, c := range columns {
		dashes[i] = strings.Repeat("-", len(c))
	}
	line(dashes)
	for _, row := range cells {
		line(row)
	}
}

// selectProps picks properties by name or wildcard, in the order asked,
// with each property's canonical name. Unknown names give an empty value,
// as PowerShell does.
func selectProps(r manage.Record, names []string) manage.Record {
	if len(names) == 0 {
		return r
	}
	var out manage.Record
	seen := map[string]bool{}
	for _, n := range names {
		if strings.ContainsAny(n, "*?") {
			for _, p := range r {
				if manage.MatchIdentity(n, p.Name) && !seen[p.Name] {
					seen[p.Name] = true
					out = append(out, p)
				}
			}
			continue
		}
		name, val := n, ""
		for _, p := range r {
			if strings.EqualFold(p.Name, n) {
				name, val = p.Name, p.Value
				break
			}
		}
		if !seen[name] {
			seen[name] = true
			out = append(out, manage.Property{Name: name, Value: val})
		}
	}
	return out
}

// columnsFor expands wildcards in table columns against the first record.
func columnsFor(recs []manage.Record, names []string) []string {
	if len(recs) == 0 {
		return names
	}
	var out []string
	for _, p := range selectProps(recs[0], names) {
		out = append(out, p.Name)
	}
	return out
}

// record turns any value into a record for formatting.
func record(v any) manage.Record {
	switch x := v.(type) {
	case *Object:
		return x.Props
	case *Credential:
		return credentialRecord(x)
	case *HashValue:
		var r manage.Record
		for i, k := range x.Keys {
			r = append(r, manage.Property{Name: k, Value: display(x.Vals[i])})
		}
		return r
	}
	return manage.Record{{Name: "Value", Value: display(v)}}
}

// ToJSON encodes values as ConvertTo-Json does: one value as itself, several
// as an array; objects keep their property order and typed values.
func ToJSON(vals []any) string {
	var sb strings.Builder
	if len(vals) == 1 {
		writeJSON(&sb, vals[0], "")
	} else {
		writeJSON(&sb, vals, "")
	}
	return sb.String()
}

func writeJSON(sb *strings.Builder, v any, indent string) {
	in := indent + "  "
	switch x := v.(type) {
	case nil:
		sb.WriteString("null")
	case bool:
		if x {
			sb.WriteString("true")
		} else {
			sb.WriteString("false")
		}
	case Number:
		fmt.Fprint(sb, formatNumber(x.Val).Text)
	case []any:
		if len(x) == 0 {
			sb.WriteString("[]")
			return
		}
		sb.WriteString("[\n")
		for i, e := range x {
			sb.WriteString(in)
			writeJSON(sb, e, in)
			if i < len(x)-1 {
				sb.WriteByte(',')
			}
			sb.WriteByte('\n')
		}
		sb.WriteString(indent + "]")
	case *Object:
		if len(x.Props) == 0 {
			sb.WriteString("{}")
			return
		}
		sb.WriteString("{\n")
		for i, p := range x.Props {
			sb.WriteString(in)
			writeJSONString(sb, p.Name)
			sb.WriteString(": ")
			writeJSON(sb, inferValue(p.Value), in)
			if i < len(x.Props)-1 {
				sb.WriteByte(',')
			}
			sb.WriteByte('\n')
		}
		sb.WriteString(indent + "}")
	default:
		writeJSONString(sb, toString(v))
	}
}

// IdentitiesFromJSON reads the identities out of ConvertTo-Json or
// `-format json` output: an object or an array of objects with Identity
// (or Thumbprint, or Name), or plain strings.
func IdentitiesFromJSON(data []byte) ([]string, error) {
	var raw any
	if err := json.Unmarshal(data, &raw); err != nil {
		return nil, fmt.Errorf("reading objects from standard input: not JSON: %w", err)
	}
	items, ok := raw.([]any)
	if !ok {
		items = []any{raw}
	}
	var out []string
	for i, it := range items {
		switch x := it.(type) {
		case string:
			out = append(out, x)
		case map[string]any:
			id := ""
			for _, k := range []string{"Identity", "Thumbprint", "Name"} {
				if s, ok := x[k].(string); ok && s != "" {
					id = s
					break
				}
			}
			if id == "" {
				return nil, fmt.Errorf("reading objects from standard input: object %d has no Identity", i+1)
			}
			out = append(out, id)
		default:
			return nil, fmt.Errorf("reading objects from standard input: item %d is not an object", i+1)
		}
	}
	return out, nil
}

// formatted is text already laid out by a Format-* cmdlet.
type formatted struct{ text string }

// outDefault prints values as the shell does at the end of a pipeline:
// runs of objects of one type as that type's table (or a list when it has
// no table view), other values one per line.
func outDefault(w io.Writer, vals []any) {
	for i := 0; i < len(vals); {
		if c, ok := vals[i].(*Credential); ok {
			vals = append([]any(nil), vals...)
			vals[i] = &Object{TypeName: "PSCredential", Props: credentialRecord(c)}
		}
		o, ok := vals[i].(*Object)
		if !ok {
			switch x := vals[i].(type) {
			case formatted:
				io.WriteString(w, x.text)
			case nil:
			default:
				fmt.Fprintln(w, display(x))
			}
			i++
			continue
		}
		j := i
		var recs []manage.Record
		for j < len(vals) {
			p, ok := vals[j].(*Object)
			if !ok || p.TypeName != o.TypeName {
				break
			}
			recs = append(recs, p.Props)
			j++
		}
		if cols := DefaultColumns(o.TypeName); cols != nil {
			FormatTable(w, recs, cols)
		} else if len(o.Props) <= 4 { // PowerShell's rule for types without a view
			var names []string
			for _, p := range o.Props {
				names = append(names, p.Name)
			}
			FormatTable(w, recs, names)
		} else {
			FormatList(w, recs)
		}
		if j < len(vals) {
			fmt.Fprintln(w)
		}
		i = j
	}
}

// writeJSONString writes s as a JSON string without escaping <, > and &
// (TlsCertificateName is "<I>issuer<S>subject").
func writeJSONString(sb *strings.Builder, s string) {
	var b strings.Builder
	enc := json.NewEncoder(&b)
	enc.SetEscapeHTML(false)
	_ = enc.Encode(s) // a string always encodes
	sb.WriteString(strings.TrimSuffix(b.String(), "\n"))
}

// SelectProperties picks properties by name or wildcard, in the order asked.
func SelectProperties(r manage.Record, names []string) manage.Record { return selectProps(r, names) }

// RecordsJSON encodes records as a JSON array, also for one record or none
// (unlike ConvertTo-Json, which prints one object bare), so that scripts
// reading `transportd ... get -format json` always parse an array.
func RecordsJSON(recs []manage.Record) string {
	vals := make([]any, len(recs))
	for i, r := range recs {
		vals[i] = &Object{Props: r}
	}
	var sb strings.Builder
	writeJSON(&sb, vals, "")
	return sb.String()
}
