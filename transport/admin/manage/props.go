// Package manage is the one implementation of the management commands
// (get, set, new, remove on connectors, accepted domains, mailboxes and
// certificates) under both front ends: the noun-verb command line and the
// Exchange-style shell. Objects are addressed by Exchange's parameter names,
// case-insensitively, and every change goes through config.Update, so it is
// validated as a whole and applied completely or not at all.
package manage

import (
	"encoding"
	"fmt"
	"reflect"
	"sort"
	"strconv"
	"strings"
)

// Property is one named value of an object, formatted for people.
type Property struct {
	Name  string
	Value string
}

// Record is one object as a list of properties in display order.
type Record []Property

// Get returns the value of the named property, case-insensitively.
func (r Record) Get(name string) (string, bool) {
	for _, p := range r {
		if strings.EqualFold(p.Name, name) {
			return p.Value, true
		}
	}
	return "", false
}

var textMarshaler = reflect.TypeOf((*encoding.TextMarshaler)(nil)).Elem()
var textUnmarshaler = reflect.TypeOf((*encoding.TextUnmarshaler)(nil)).Elem()
var stringer = reflect.TypeOf((*fmt.Stringer)(nil)).Elem()

// Properties lists the exported fields of the struct v points to (or is),
// skipping those tagged yaml:"-" and those in hide.
func Properties(v any, hide ...string) Record {
	rv := reflect.Indirect(reflect.ValueOf(v))
	rt := rv.Type()
	var out Record
	for i := range rt.NumField() {
		f := rt.Field(i)
		if !f.IsExported() || strings.HasPrefix(f.Tag.Get("yaml"), "-") || contains(hide, f.Name) {
			continue
		}
		out = append(out, Property{Name: f.Name, Value: FormatValue(rv.Field(i))})
	}
	return out
}

func contains(list []string, s string) bool {
	for _, x := range list {
		if strings.EqualFold(x, s) {
			return true
		}
	}
	return false
}

// FormatValue prints a value the way Exchange's Format-List does: lists in
// braces, booleans as True/False, sizes and time spans in Exchange form.
// A slice type with its own String method whose elements have none is a
// set of flags (AuthMechanism, PermissionGroups): Exchange prints those as
// "Tls, BasicAuth" and an empty set as "None", so its String is used.
func FormatValue(v reflect.Value) string {
	if v.Type().Implements(stringer) && (v.Kind() != reflect.Slice || !v.Type().Elem().Implements(stringer)) {
		return v.Interface().(fmt.Stringer).String()
	}
	switch v.Kind() {
	case reflect.Bool:
		if v.Bool() {
			return "True"
		}
		return "False"
	case reflect.Slice:
		parts := make([]string, v.Len())
		for i := range v.Len() {
			parts[i] = FormatValue(v.Index(i))
		}
		return "{" + strings.Join(parts, ", ") + "}"
	}
	if v.Type().Implements(textMarshaler) {
		b, err := v.Interface().(encoding.TextMarshaler).MarshalText()
		if err == nil {
			return string(b)
		}
	}
	return fmt.Sprint(v.Interface())
}

// FieldNames returns the settable parameter names of the struct type of v.
func FieldNames(v any) []string {
	rt := reflect.Indirect(reflect.ValueOf(v)).Type()
	var out []string
	for i := range rt.NumField() {
		f := rt.Field(i)
		if f.IsExported() && !strings.HasPrefix(f.Tag.Get("yaml"), "-") {
			out = append(out, f.Name)
		}
	}
	return out
}

// ResolveName finds the field a parameter names: exact match first, then
// a unique prefix as PowerShell accepts. The error lists the candidates or
// suggests the closest name.
func ResolveName(names []string, param string) (string, error) {
	var prefix []string
	for _, n := range names {
		if strings.EqualFold(n, param) {
			return n, nil
		}
		if len(param) > 0 && strings.HasPrefix(strings.ToLower(n), strings.ToLower(param)) {
			prefix = append(prefix, n)
		}
	}
	if len(prefix) == 1 {
		return prefix[0], nil
	}
	if len(prefix) > 1 {
		sort.Strings(prefix)
		return "", fmt.Errorf("parameter -%s is ambiguous: it could be -%s", param, strings.Join(prefix, ", -"))
	}
	if s := Closest(names, param); s != "" {
		return "", fmt.Errorf("unknown parameter -%s; did you mean -%s?", param, s)
	}
	return "", fmt.Errorf("unknown parameter -%s", param)
}

// Closest returns the candidate nearest to s by edit distance, or "" when
// nothing is reasonably close.
func Closest(cands []string, s string) string {
	best, bestD := "", 1<<30
	ls := strings.ToLower(s)
	for _, c := range cands {
		d := editDistance(strings.ToLower(c), ls)
		if d < bestD {
			best, bestD = c, d
		}
	}
	if bestD <= max(2, len(s)/3) {
		return best
	}
	return ""
}

func editDistance(a, b string) int {
	prev := make([]int, len(b)+1)
	cur := make([]int, len(b)+1)
	for j := range prev {
		prev[j] = j
	}
	for i := 1; i <= len(a); i++ {
		cur[0] = i
		for j := 1; j <= len(b); j++ {
			cost := 1
			if a[i-1] == b[j-1] {
				cost = 0
			}
			cur[j] = min(prev[j]+1, cur[j-1]+1, prev[j-1]+cost)
		}
		prev, cur = cur, prev
	}
	return prev[len(b)]
}

// SetField sets the named field of the struct ptr points to from text, the
// way a shell parameter arrives. Booleans take $true/$false/true/false;
// lists take comma-separated values; other types parse their own text.
// The error names the parameter, the value and what is allowed.
func SetField(ptr any, name, text string) error {
	rv := reflect.ValueOf(ptr).Elem()
	f := rv.FieldByName(name)
	if !f.IsValid() {
		return fmt.Errorf("unknown parameter -%s", name)
	}
	if err := setValue(f, text); err != nil {
		if strings.Contains(strings.ToLower(name), "password") || strings.Contains(strings.ToLower(name), "credential") {
			return fmt.Errorf("-%s: %w", name, err) // never repeat a secret
		}
		return fmt.Errorf("-%s %q: %w", name, text, err)
	}
	return nil
}

func setValue(f reflect.Value, text string) error {
	if reflect.PointerTo(f.Type()).Implements(textUnmarshaler) {
		return f.Addr().Interface().(encoding.TextUnmarshaler).UnmarshalText([]byte(text))
	}
	switch f.Kind() {
	case reflect.String:
		if strings.EqualFold(text, "$null") {
			text = ""
		}
		f.SetString(text)
		return nil
	case reflect.Bool:
		b, err := ParseBool(text)
		if err != nil {
			return err
		}
		f.SetBool(b)
		return nil
	case reflect.Int, reflect.Int64, reflect.Int32:
		n, err := strconv.ParseInt(strings.TrimSpace(text), 10, 64)
		if err != nil {
			return fmt.Errorf("not a whole number")
		}
		f.SetInt(n)
		return nil
	case reflect.Slice:
		s := strings.TrimSpace(text)
		if strings.EqualFold(s, "$null") {
			s = ""
		}
		parts := []string{}
		if s != "" {
			for _, p := range strings.Split(s, ",") {
				parts = append(parts, strings.Trim(strings.TrimSpace(p), `"'`))
			}
		}
		out := reflect.MakeSlice(f.Type(), len(parts), len(parts))
		for i, p := range parts {
			if err := setValue(out.Index(i), p); err != nil {
				return err
			}
		}
		f.Set(out)
		return nil
	}
	return fmt.Errorf("parameter type %s cannot be set from text", f.Type())
}

// ParseBool reads $true/$false, true/false, yes/no and 1/0.
func ParseBool(s string) (bool, error) {
	switch strings.ToLower(strings.TrimSpace(s)) {
	case "$true", "true", "yes", "1":
		return true, nil
	case "$false", "false", "no", "0":
		return false, nil
	}
	return false, fmt.Errorf("not a boolean: use $true or $false")
}

// MatchIdentity matches name against an -Identity pattern with * and ?
// wildcards, case-insensitively.
func MatchIdentity(pattern, name string) bool {
	return glob(strings.ToLower(pattern), strings.ToLower(name))
}

func glob(p, s string) bool {
	for len(p) > 0 {
		switch p[0] {
		case '*':
			for i := 0; i <= len(s); i++ {
				if glob(p[1:], s[i:]) {
					return true
				}
			}
			return false
		case '?':
			if s == "" {
				return false
			}
			p, s = p[1:], s[1:]
		default:
			if s == "" || p[0] != s[0] {
				return false
			}
			p, s = p[1:], s[1:]
		}
	}
	return s == ""
}
