// Package opath parses and evaluates Exchange's OPATH filters, the
// -Filter of Get-Queue, Get-Message and the cmdlets that act on queues
// and messages:
//
//	MessageCount -gt 100
//	NextHopDomain -eq 'contoso.com' -and Status -eq 'Retry'
//	FromAddress -like '*@contoso.com' -and -not (Size -lt 1MB)
//	ExpirationTime -lt '1/5/2018 3:00 PM'
//
// A filter is checked against a Schema, the properties of the objects it
// selects with their types, when it is parsed: an unknown property, a
// value that is not a number, date or one of an enumeration's values is an
// error that says what is valid. Operators and property names are
// case-insensitive, as are string comparisons.
package opath

import (
	"fmt"
	"slices"
	"strings"
	"time"
)

// Type is the type of a property.
type Type int

// Property types.
const (
	// String compares case-insensitively; -like takes * and ? wildcards.
	String Type = iota
	// Number is a whole number; values may carry KB, MB, GB or TB.
	Number
	// Time is a date and time; values in en-US (3/13/2018 9:00 AM) or
	// ISO 8601 (2018-03-13T09:00:00) form, in the local time zone unless
	// they say otherwise.
	Time
	// Enum is a string with a closed set of values (Status).
	Enum
	// Bool is $true or $false.
	Bool
)

func (t Type) String() string {
	switch t {
	case Number:
		return "number"
	case Time:
		return "date"
	case Enum:
		return "enumeration"
	case Bool:
		return "boolean"
	}
	return "string"
}

// Property is one filterable property.
type Property struct {
	Name string
	Type Type
	// Values are the valid values of an Enum.
	Values []string
	// Multi marks a multi-valued property (Recipients, Queue): a
	// comparison holds when it holds for one of the values; -ne and
	// -notlike hold when no value is equal or alike.
	Multi bool
}

// Schema lists the properties of one kind of object.
type Schema struct {
	// Kind names the objects in errors ("queue", "message").
	Kind       string
	Properties []Property
}

// Lookup finds a property by name, case-insensitively.
func (s Schema) Lookup(name string) (Property, bool) {
	for _, p := range s.Properties {
		if strings.EqualFold(p.Name, name) {
			return p, true
		}
	}
	return Property{}, false
}

// Names lists the property names.
func (s Schema) Names() []string {
	out := make([]string, len(s.Properties))
	for i, p := range s.Properties {
		out[i] = p.Name
	}
	return out
}

// Getter returns an object's value of a property of the schema: a string
// (String, Enum), an int64 (Number), a time.Time (Time), a bool (Bool),
// or a []string for a Multi property.
type Getter func(name string) any

// Filter is a parsed filter.
type Filter struct {
	root node
}

// Match reports whether the object whose properties get returns matches.
// A nil filter matches everything.
func (f *Filter) Match(get Getter) bool {
	if f == nil || f.root == nil {
		return true
	}
	return f.root.eval(get)
}

// String is the filter in a canonical form: properties with the schema's
// spelling, operators in lower case, values quoted, every binary
// operation in parentheses.
func (f *Filter) String() string {
	if f == nil || f.root == nil {
		return ""
	}
	var b strings.Builder
	f.root.write(&b)
	return b.String()
}

// Op is a comparison operator.
type Op string

// The comparison operators.
const (
	Eq      Op = "-eq"
	Ne      Op = "-ne"
	Lt      Op = "-lt"
	Gt      Op = "-gt"
	Le      Op = "-le"
	Ge      Op = "-ge"
	Like    Op = "-like"
	NotLike Op = "-notlike"
)

var compareOps = []Op{Eq, Ne, Lt, Gt, Le, Ge, Like, NotLike}

type node interface {
	eval(get Getter) bool
	write(b *strings.Builder)
}

type andNode struct{ l, r node }
type orNode struct{ l, r node }
type notNode struct{ x node }

func (n andNode) eval(g Getter) bool { return n.l.eval(g) && n.r.eval(g) }
func (n orNode) eval(g Getter) bool  { return n.l.eval(g) || n.r.eval(g) }
func (n notNode) eval(g Getter) bool { return !n.x.eval(g) }

func (n andNode) write(b *strings.Builder) { writeBinary(b, n.l, "-and", n.r) }
func (n orNode) write(b *strings.Builder)  { writeBinary(b, n.l, "-or", n.r) }
func (n notNode) write(b *strings.Builder) {
	b.WriteString("-not (")
	n.x.write(b)
	b.WriteString(")")
}

func writeBinary(b *strings.Builder, l node, op string, r node) {
	b.WriteString("(")
	l.write(b)
	b.WriteString(" " + op + " ")
	r.write(b)
	b.WriteString(")")
}

// compare is one comparison: Property Op Value.
type compare struct {
	prop Property
	op   Op
	null bool // the value is $null
	text string
	num  int64
	when time.Time
	flag bool
}

func (c compare) write(b *strings.Builder) {
	b.WriteString(c.prop.Name + " " + string(c.op) + " ")
	switch {
	case c.null:
		b.WriteString("$null")
	case c.prop.Type == Number && c.op != Like && c.op != NotLike:
		fmt.Fprint(b, c.num)
	case c.prop.Type == Time && c.op != Like && c.op != NotLike:
		b.WriteString("'" + c.when.Format(time.RFC3339Nano) + "'")
	case c.prop.Type == Bool && c.op != Like && c.op != NotLike:
		if c.flag {
			b.WriteString("$true")
		} else {
			b.WriteString("$false")
		}
	default:
		b.WriteString("'" + strings.ReplaceAll(c.text, "'", "''") + "'")
	}
}

func (c compare) eval(get Getter) bool {
	v := get(c.prop.Name)
	if list, ok := v.([]string); ok {
		// A multi-valued property: negative operators hold when no value
		// is equal or alike, the others when one value matches.
		switch c.op {
		case Ne:
			return !slices.ContainsFunc(list, func(s string) bool { return c.one(s, Eq) }) && !(c.null && len(list) == 0)
		case NotLike:
			return !slices.ContainsFunc(list, func(s string) bool { return c.one(s, Like) })
		}
		if c.null {
			return (c.op == Eq) == (len(list) == 0)
		}
		return slices.ContainsFunc(list, func(s string) bool { return c.one(s, c.op) })
	}
	return c.one(v, c.op)
}

// one compares a single value.
func (c compare) one(v any, op Op) bool {
	if c.null {
		empty := isEmpty(v)
		switch op {
		case Eq, Like:
			return empty
		case Ne, NotLike:
			return !empty
		}
		return false
	}
	if op == Like || op == NotLike {
		return (op == Like) == wildcard(strings.ToLower(c.text), strings.ToLower(text(v)))
	}
	var cmp int
	switch x := v.(type) {
	case int64:
		cmp = compareOrdered(x, c.num)
	case int:
		cmp = compareOrdered(int64(x), c.num)
	case time.Time:
		if x.IsZero() {
			// No time (a queue never retried): only -ne holds.
			return op == Ne
		}
		cmp = x.Compare(c.when)
	case bool:
		if op != Eq && op != Ne {
			return false
		}
		return (x == c.flag) == (op == Eq)
	default:
		cmp = strings.Compare(strings.ToLower(text(v)), strings.ToLower(c.text))
	}
	switch op {
	case Eq:
		return cmp == 0
	case Ne:
		return cmp != 0
	case Lt:
		return cmp < 0
	case Gt:
		return cmp > 0
	case Le:
		return cmp <= 0
	case Ge:
		return cmp >= 0
	}
	return false
}

func compareOrdered(a, b int64) int {
	switch {
	case a < b:
		return -1
	case a > b:
		return 1
	}
	return 0
}

func isEmpty(v any) bool {
	switch x := v.(type) {
	case nil:
		return true
	case string:
		return x == ""
	case time.Time:
		return x.IsZero()
	case []string:
		return len(x) == 0
	}
	return false
}

// text is a value as -like sees it.
func text(v any) string {
	switch x := v.(type) {
	case nil:
		return ""
	case string:
		return x
	case time.Time:
		if x.IsZero() {
			return ""
		}
		return x.Format("1/2/2006 3:04:05 PM")
	case bool:
		if x {
			return "True"
		}
		return "False"
	}
	return fmt.Sprint(v)
}

// wildcard matches s against a pattern with * (any run) and ? (one
// character), in time proportional to len(p)*len(s) at worst.
func wildcard(p, s string) bool {
	pr, sr := []rune(p), []rune(s)
	pi, si := 0, 0
	star, mark := -1, 0
	for si < len(sr) {
		switch {
		case pi < len(pr) && (pr[pi] == '?' || pr[pi] == sr[si]):
			pi++
			si++
		case pi < len(pr) && pr[pi] == '*':
			star, mark = pi, si
			pi++
		case star >= 0:
			pi = star + 1
			mark++
			si = mark
		default:
			return false
		}
	}
	for pi < len(pr) && pr[pi] == '*' {
		pi++
	}
	return pi == len(pr)
}
