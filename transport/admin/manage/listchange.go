package manage

import (
	"fmt"
	"reflect"
	"strings"
)

// ListChange is a change of a multi-valued property that keeps what is not
// named: PowerShell's @{Add="a","b"; Remove="c"} as Exchange's Set-*
// cmdlets take it (Set-Mailbox -EmailAddresses @{add="x@y";remove="z@y"}).
type ListChange struct {
	Add, Remove []string
}

// ParseListChange reads the text form of a ListChange, as the shell passes
// a hashtable: @{Add=a,b;Remove=c} (keys Add and Remove in any case,
// separated by ; or a line break; values comma-separated, optionally
// quoted). ok is false when text is not such a change (a whole list).
func ParseListChange(text string) (ch ListChange, ok bool, err error) {
	s := strings.TrimSpace(text)
	if !strings.HasPrefix(s, "@{") || !strings.HasSuffix(s, "}") {
		return ListChange{}, false, nil
	}
	body := s[2 : len(s)-1]
	for _, entry := range splitUnquoted(body, ";\n") {
		entry = strings.TrimSpace(entry)
		if entry == "" {
			continue
		}
		key, vals, found := strings.Cut(entry, "=")
		if !found {
			return ListChange{}, true, fmt.Errorf("%q: each entry of @{...} is Add=values or Remove=values", entry)
		}
		var list []string
		for _, v := range splitUnquoted(vals, ",") {
			if v = strings.Trim(strings.TrimSpace(v), `"'`); v != "" {
				list = append(list, v)
			}
		}
		switch strings.ToLower(strings.TrimSpace(key)) {
		case "add":
			ch.Add = append(ch.Add, list...)
		case "remove":
			ch.Remove = append(ch.Remove, list...)
		default:
			return ListChange{}, true, fmt.Errorf("%q: the keys of @{...} are Add and Remove", strings.TrimSpace(key))
		}
	}
	return ch, true, nil
}

// splitUnquoted splits s at any of seps outside single or double quotes.
func splitUnquoted(s, seps string) []string {
	var out []string
	var quote rune
	start := 0
	for i, r := range s {
		switch {
		case quote != 0:
			if r == quote {
				quote = 0
			}
		case r == '"' || r == '\'':
			quote = r
		case strings.ContainsRune(seps, r):
			out = append(out, s[start:i])
			start = i + 1
		}
	}
	return append(out, s[start:])
}

// applyListChange changes the slice f by ch: values to add that it holds
// already (compared as Format-List shows them, any case) and values to
// remove that it does not hold are left alone, as in Exchange.
func applyListChange(f reflect.Value, ch ListChange) error {
	parse := func(texts []string) (reflect.Value, error) {
		out := reflect.MakeSlice(f.Type(), len(texts), len(texts))
		for i, t := range texts {
			if err := setValue(out.Index(i), t); err != nil {
				return out, err
			}
		}
		return out, nil
	}
	add, err := parse(ch.Add)
	if err != nil {
		return err
	}
	remove, err := parse(ch.Remove)
	if err != nil {
		return err
	}
	key := func(v reflect.Value) string { return strings.ToLower(FormatValue(v)) }
	gone := map[string]bool{}
	for i := range remove.Len() {
		gone[key(remove.Index(i))] = true
	}
	out := reflect.MakeSlice(f.Type(), 0, f.Len()+add.Len())
	have := map[string]bool{}
	for i := range f.Len() {
		if k := key(f.Index(i)); !gone[k] && !have[k] {
			have[k] = true
			out = reflect.Append(out, f.Index(i))
		}
	}
	for i := range add.Len() {
		if k := key(add.Index(i)); !gone[k] && !have[k] {
			have[k] = true
			out = reflect.Append(out, add.Index(i))
		}
	}
	f.Set(out)
	return nil
}
