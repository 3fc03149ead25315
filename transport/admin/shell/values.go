package shell

import (
	"fmt"
	"math"
	"regexp"
	"sort"
	"strconv"
	"strings"
	"time"

	"github.com/transportd/transportd/policies/value"
	"github.com/transportd/transportd/transport/admin/manage"
)

// Values in the shell are string, bool, nil, Number, *Object, []any and
// *Block (a script block).

// Number is a numeric value; Text is how it was written (35MB), so that a
// parameter receives exactly what the admin typed.
type Number struct {
	Val  float64
	Text string
}

// Object is one management object: a type name (ReceiveConnector,
// ExchangeCertificate, ...) and its properties with Exchange's names.
type Object struct {
	TypeName string
	Props    manage.Record
}

// Get returns the property value, typed: True/False become booleans,
// {a, b} lists, plain whole numbers numbers.
func (o *Object) Get(name string) (any, bool) {
	v, ok := o.Props.Get(name)
	if !ok {
		return nil, false
	}
	return inferValue(v), true
}

// identity is the value that names the object to another cmdlet.
func (o *Object) identity() string {
	for _, n := range []string{"Identity", "Thumbprint", "Name"} {
		if v, ok := o.Props.Get(n); ok && v != "" {
			return v
		}
	}
	return ""
}

var plainInt = regexp.MustCompile(`^(0|-?[1-9][0-9]{0,14})$`)

// inferValue types a formatted property value.
func inferValue(s string) any {
	switch s {
	case "True":
		return true
	case "False":
		return false
	}
	if strings.HasPrefix(s, "{") && strings.HasSuffix(s, "}") {
		inner := strings.TrimSpace(s[1 : len(s)-1])
		out := []any{}
		if inner != "" {
			for _, p := range strings.Split(inner, ", ") {
				out = append(out, p)
			}
		}
		return out
	}
	if plainInt.MatchString(s) {
		f, _ := strconv.ParseFloat(s, 64)
		return Number{Val: f, Text: s}
	}
	return s
}

var numberRe = regexp.MustCompile(`^([+-]?(?:[0-9]+(?:\.[0-9]*)?|\.[0-9]+))(kb|mb|gb|tb|pb)?$`)

// parseNumber reads 42, -1, 1.5, 35MB (PowerShell's size suffixes).
func parseNumber(s string) (Number, bool) {
	m := numberRe.FindStringSubmatch(strings.ToLower(s))
	if m == nil {
		return Number{}, false
	}
	f, err := strconv.ParseFloat(m[1], 64)
	if err != nil || math.IsInf(f, 0) {
		return Number{}, false
	}
	switch m[2] {
	case "kb":
		f *= 1 << 10
	case "mb":
		f *= 1 << 20
	case "gb":
		f *= 1 << 30
	case "tb":
		f *= 1 << 40
	case "pb":
		f *= 1 << 50
	}
	return Number{Val: f, Text: s}, true
}

// formatNumber prints a computed number.
func formatNumber(f float64) Number {
	if f == math.Trunc(f) && math.Abs(f) < 1e15 {
		return Number{Val: f, Text: strconv.FormatInt(int64(f), 10)}
	}
	return Number{Val: f, Text: strconv.FormatFloat(f, 'f', -1, 64)}
}

// toText converts a value to the text a parameter receives.
func toText(v any) string {
	switch x := v.(type) {
	case nil:
		return "$null"
	case bool:
		if x {
			return "$true"
		}
		return "$false"
	case []any:
		parts := make([]string, len(x))
		for i, e := range x {
			parts[i] = toText(e)
		}
		return strings.Join(parts, ",")
	case *Object:
		return x.identity()
	case *SecureString:
		return x.text // only a parameter receives the secret
	case *Credential:
		return x.User
	case Bytes:
		return string(x) // -FileData receives the bytes unchanged
	case time.Time:
		return x.Format(dateText)
	}
	return toString(v)
}

// toString converts a value to a string as PowerShell does inside "...".
func toString(v any) string {
	switch x := v.(type) {
	case nil:
		return ""
	case string:
		return x
	case bool:
		return manage.FormatBool(x)
	case Number:
		return x.Text
	case []any:
		parts := make([]string, len(x))
		for i, e := range x {
			parts[i] = toString(e)
		}
		return strings.Join(parts, " ")
	case *Object:
		if id := x.identity(); id != "" {
			return id
		}
		return x.TypeName
	case *Block:
		return x.Src
	case time.Time:
		return x.Format(dateText)
	case *SecureString, *Credential, *HashValue:
		return x.(fmt.Stringer).String()
	}
	return fmt.Sprint(v)
}

// display formats a value for a table cell or a list line.
func display(v any) string {
	switch x := v.(type) {
	case []any:
		parts := make([]string, len(x))
		for i, e := range x {
			parts[i] = display(e)
		}
		return "{" + strings.Join(parts, ", ") + "}"
	}
	return toString(v)
}

// truthy is PowerShell's conversion to boolean.
func truthy(v any) bool {
	switch x := v.(type) {
	case nil:
		return false
	case bool:
		return x
	case string:
		return x != ""
	case Number:
		return x.Val != 0
	case []any:
		if len(x) == 1 {
			return truthy(x[0])
		}
		return len(x) > 0
	}
	return true
}

// toNumber reads a value as a number: numbers, numeric strings, and
// Exchange's sizes ("36 MB (37,748,736 bytes)") and time spans.
func toNumber(v any) (float64, bool) {
	switch x := v.(type) {
	case Number:
		return x.Val, true
	case bool:
		if x {
			return 1, true
		}
		return 0, true
	case string:
		if n, ok := parseNumber(strings.TrimSpace(x)); ok {
			return n.Val, true
		}
		if b, err := value.ParseByteSize(x); err == nil && strings.ContainsAny(x, "0123456789") {
			return float64(b), true
		}
		if t, err := value.ParseTimeSpan(x); err == nil {
			return float64(t.Duration()), true
		}
	}
	return 0, false
}

// equal compares as PowerShell does: the right side converts to the type
// of the left; strings compare case-insensitively.
func equal(l, r any) bool {
	switch x := l.(type) {
	case nil:
		return r == nil
	case bool:
		switch y := r.(type) {
		case bool:
			return x == y
		case string:
			b, err := manage.ParseBool(y)
			return err == nil && b == x
		}
		return x == truthy(r)
	case Number:
		y, ok := toNumber(r)
		return ok && x.Val == y
	}
	return strings.EqualFold(toString(l), toString(r))
}

func wildcard(pattern, s string) bool { return manage.MatchIdentity(pattern, s) }

// compare applies a comparison operator.
func compare(op string, l, r any) (bool, error) {
	cs := false
	if len(op) > 2 && op[0] == 'c' && compareOps[op[1:]] {
		cs, op = true, op[1:]
	} else if len(op) > 2 && op[0] == 'i' && compareOps[op[1:]] {
		op = op[1:]
	}
	if list, ok := l.([]any); ok && op != "contains" && op != "notcontains" {
		// Comparing a list filters it: true when any element matches
		// (for -ne and -notlike: when any element differs).
		for _, e := range list {
			if ok, err := compare(op, e, r); err != nil || ok {
				return ok, err
			}
		}
		return false, nil
	}
	switch op {
	case "eq", "ne":
		eq := equal(l, r)
		if cs {
			eq = toString(l) == toString(r)
		}
		return eq == (op == "eq"), nil
	case "like", "notlike":
		m := wildcard(toString(r), toString(l))
		if cs {
			m = wildcard(toString(r), toString(l)) && strings.Contains(toString(l), strings.Trim(toString(r), "*?"))
		}
		return m == (op == "like"), nil
	case "match", "notmatch":
		expr := toString(r)
		if !cs {
			expr = "(?i)" + expr
		}
		re, err := regexp.Compile(expr)
		if err != nil {
			return false, fmt.Errorf("-%s %q: not a valid regular expression: %w", op, toString(r), err)
		}
		return re.MatchString(toString(l)) == (op == "match"), nil
	case "gt", "lt", "ge", "le":
		c := order(l, r)
		switch op {
		case "gt":
			return c > 0, nil
		case "lt":
			return c < 0, nil
		case "ge":
			return c >= 0, nil
		}
		return c <= 0, nil
	case "contains", "notcontains":
		list, _ := l.([]any)
		if list == nil && l != nil {
			list = []any{l}
		}
		found := false
		for _, e := range list {
			found = found || equal(e, r)
		}
		return found == (op == "contains"), nil
	case "in", "notin":
		return compare(map[string]string{"in": "contains", "notin": "notcontains"}[op], r, l)
	}
	return false, fmt.Errorf("unknown operator -%s", op)
}

// order compares two values: numerically when both read as numbers, as
// times when both read as dates (ISO 8601 or month first, as Microsoft's
// examples write them), otherwise as case-insensitive strings.
func order(l, r any) int {
	if a, ok := toNumber(l); ok {
		if b, ok := toNumber(r); ok {
			switch {
			case a < b:
				return -1
			case a > b:
				return 1
			}
			return 0
		}
	}
	if a, err := manage.ParseWhen(toString(l)); err == nil && strings.ContainsAny(toString(l), "-/") {
		if b, err := manage.ParseWhen(toString(r)); err == nil && strings.ContainsAny(toString(r), "-/") {
			return a.Compare(b) // dates: "2026-05-04 09:30:00" against "03/13/2018 09:00:00"
		}
	}
	return strings.Compare(strings.ToLower(toString(l)), strings.ToLower(toString(r)))
}

// sortValues sorts values by key in place, stably.
func sortValues(vals []any, key func(any) any, desc bool) {
	sort.SliceStable(vals, func(i, j int) bool {
		c := order(key(vals[i]), key(vals[j]))
		if desc {
			return c > 0
		}
		return c < 0
	})
}
