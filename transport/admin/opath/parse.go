package opath

import (
	"errors"
	"fmt"
	"math"
	"regexp"
	"strconv"
	"strings"
	"time"
	"unicode"
	"unicode/utf8"
)

// The grammar, with -not binding tightest and -or loosest (use
// parentheses where it matters):
//
//	filter     = or
//	or         = and { "-or" and }
//	and        = unary { "-and" unary }
//	unary      = ( "-not" | "!" ) unary | "(" or ")" | comparison
//	comparison = property operator value
//	operator   = -eq | -ne | -lt | -gt | -le | -ge | -like | -notlike
//	             (also with an i prefix: -ieq, -ilike, ...)
//	value      = 'single quoted' | "double quoted" | bareword | $null | $true | $false
//
// A property may be written $_.Name, as in a Where-Object script block.

type tokKind int

const (
	tEOF tokKind = iota
	tLParen
	tRParen
	tOp     // -eq, -and, -not, ...
	tNot    // !
	tWord   // a bareword
	tString // a quoted string
	tVar    // $null, $true, $false, $_.Name
)

type token struct {
	kind tokKind
	text string // the word, the string's value, the operator in lower case, the variable without $
	pos  int
}

func (t token) String() string {
	switch t.kind {
	case tEOF:
		return "the end of the filter"
	case tString:
		return strconv.Quote(t.text)
	case tVar:
		return "$" + t.text
	}
	return "'" + t.text + "'"
}

// lex splits src into tokens.
func lex(src string) ([]token, error) {
	var out []token
	i := 0
	for {
		for i < len(src) && isSpace(src[i]) {
			i++
		}
		if i == len(src) {
			return append(out, token{kind: tEOF, pos: i}), nil
		}
		start := i
		switch c := src[i]; {
		case c == '(':
			out = append(out, token{kind: tLParen, text: "(", pos: i})
			i++
		case c == ')':
			out = append(out, token{kind: tRParen, text: ")", pos: i})
			i++
		case c == '!':
			out = append(out, token{kind: tNot, text: "!", pos: i})
			i++
		case c == '\'' || c == '"' || strings.HasPrefix(src[i:], "\u2018") || strings.HasPrefix(src[i:], "\u201c"):
			s, n, err := quoted(src[i:])
			if err != nil {
				return nil, fmt.Errorf("at position %d: %w", i+1, err)
			}
			out = append(out, token{kind: tString, text: s, pos: i})
			i += n
		case c == '-' && i+1 < len(src) && isLetter(src[i+1]):
			j := i + 1
			for j < len(src) && isLetter(src[j]) {
				j++
			}
			out = append(out, token{kind: tOp, text: strings.ToLower(src[i:j]), pos: i})
			i = j
		case c == '$':
			j := i + 1
			for j < len(src) && !isSpace(src[j]) && src[j] != '(' && src[j] != ')' {
				j++
			}
			out = append(out, token{kind: tVar, text: src[i+1 : j], pos: i})
			i = j
		default:
			j := i
			for j < len(src) && !isSpace(src[j]) && src[j] != '(' && src[j] != ')' && src[j] != '\'' && src[j] != '"' {
				j++
			}
			if j == i { // a quote character of another kind, say
				j = i + 1
			}
			out = append(out, token{kind: tWord, text: src[i:j], pos: start})
			i = j
		}
	}
}

func isSpace(c byte) bool  { return c == ' ' || c == '\t' || c == '\r' || c == '\n' }
func isLetter(c byte) bool { return c >= 'a' && c <= 'z' || c >= 'A' && c <= 'Z' }

// quoted reads a quoted string at the start of s: 'it”s' or "say ""hi""" or
// "say `"hi`"" (PowerShell's escapes), and returns its value and length.
func quoted(s string) (string, int, error) {
	open, size := firstRune(s)
	closeQ := open
	switch open {
	case '\u2018':
		closeQ = '\u2019'
	case '\u201c':
		closeQ = '\u201d'
	}
	var b strings.Builder
	i := size
	for i < len(s) {
		r, n := firstRune(s[i:])
		switch {
		case r == '`' && open == '"' && i+n < len(s):
			_, n2 := firstRune(s[i+n:])
			b.WriteString(s[i+n : i+n+n2])
			i += n + n2
			continue
		case r == closeQ || (open == '\'' && r == '\u2019') || (open == '"' && r == '\u201d'):
			if i+n < len(s) {
				if r2, n2 := firstRune(s[i+n:]); r2 == r {
					b.WriteString(s[i : i+n])
					i += n + n2
					continue
				}
			}
			return b.String(), i + n, nil
		}
		b.WriteString(s[i : i+n])
		i += n
	}
	return "", 0, fmt.Errorf("the string %s has no closing quote", s)
}

// firstRune returns the first rune of s and its length in bytes: 1 for a
// byte that is not UTF-8 (which then passes through unchanged).
func firstRune(s string) (rune, int) {
	if s == "" {
		return 0, 0
	}
	return utf8.DecodeRuneInString(s)
}

// Parse parses an OPATH filter for the objects of schema s. Dates without
// a zone are in the local time zone.
func Parse(src string, s Schema) (*Filter, error) {
	return ParseInLocation(src, s, time.Local)
}

// ParseInLocation is Parse with dates without a zone read in loc.
func ParseInLocation(src string, s Schema, loc *time.Location) (*Filter, error) {
	f, err := parse(src, s, loc)
	if err != nil {
		return nil, fmt.Errorf("-Filter %q: %w", src, err)
	}
	return f, nil
}

func parse(src string, s Schema, loc *time.Location) (*Filter, error) {
	toks, err := lex(src)
	if err != nil {
		return nil, err
	}
	if len(toks) == 1 {
		return nil, errors.New("the filter is empty; write Property -Operator Value, e.g. " + example(s))
	}
	p := &parser{toks: toks, schema: s, loc: loc}
	root, err := p.or(0)
	if err != nil {
		return nil, err
	}
	if t := p.peek(); t.kind != tEOF {
		return nil, fmt.Errorf("unexpected %s at position %d; join conditions with -and or -or", t, t.pos+1)
	}
	return &Filter{root: root}, nil
}

func example(s Schema) string {
	if s.Kind == "message" {
		return "\"FromAddress -like '*@contoso.com'\""
	}
	return "{MessageCount -gt 100}"
}

type parser struct {
	toks   []token
	i      int
	schema Schema
	loc    *time.Location
}

// maxDepth bounds nesting, so that no filter can exhaust the stack.
const maxDepth = 100

func (p *parser) peek() token { return p.toks[p.i] }
func (p *parser) next() token {
	t := p.toks[p.i]
	if t.kind != tEOF {
		p.i++
	}
	return t
}

func (p *parser) or(depth int) (node, error) {
	l, err := p.and(depth)
	if err != nil {
		return nil, err
	}
	for t := p.peek(); t.kind == tOp && t.text == "-or"; t = p.peek() {
		p.next()
		r, err := p.and(depth)
		if err != nil {
			return nil, err
		}
		l = orNode{l, r}
	}
	return l, nil
}

func (p *parser) and(depth int) (node, error) {
	l, err := p.unary(depth)
	if err != nil {
		return nil, err
	}
	for t := p.peek(); t.kind == tOp && t.text == "-and"; t = p.peek() {
		p.next()
		r, err := p.unary(depth)
		if err != nil {
			return nil, err
		}
		l = andNode{l, r}
	}
	return l, nil
}

func (p *parser) unary(depth int) (node, error) {
	if depth > maxDepth {
		return nil, fmt.Errorf("the filter nests deeper than %d levels", maxDepth)
	}
	t := p.peek()
	switch {
	case t.kind == tNot || t.kind == tOp && t.text == "-not":
		p.next()
		x, err := p.unary(depth + 1)
		if err != nil {
			return nil, err
		}
		return notNode{x}, nil
	case t.kind == tLParen:
		p.next()
		x, err := p.or(depth + 1)
		if err != nil {
			return nil, err
		}
		if c := p.next(); c.kind != tRParen {
			return nil, fmt.Errorf("expected ')' at position %d, found %s", c.pos+1, c)
		}
		return x, nil
	}
	return p.comparison()
}

func (p *parser) comparison() (node, error) {
	t := p.next()
	name := t.text
	switch t.kind {
	case tWord:
	case tVar:
		if after, ok := strings.CutPrefix(name, "_."); ok {
			name = after
			break
		}
		fallthrough
	default:
		return nil, fmt.Errorf("expected a property name at position %d, found %s (properties: %s)", t.pos+1, t, strings.Join(p.schema.Names(), ", "))
	}
	prop, ok := p.schema.Lookup(name)
	if !ok {
		return nil, fmt.Errorf("%s is not a property of a %s; valid properties: %s", name, p.schema.Kind, strings.Join(p.schema.Names(), ", "))
	}
	ot := p.next()
	op, ok := operator(ot)
	if !ok {
		return nil, fmt.Errorf("expected an operator after %s at position %d, found %s (operators: %s)", prop.Name, ot.pos+1, ot, opList())
	}
	vt := p.next()
	c := compare{prop: prop, op: op}
	switch vt.kind {
	case tString, tWord:
		c.text = vt.text
	case tVar:
		switch strings.ToLower(vt.text) {
		case "null":
			c.null = true
			return c, nil
		case "true", "false":
			c.text = strings.ToLower(vt.text)
		default:
			return nil, fmt.Errorf("%s: a filter cannot use variables; write the value itself", vt)
		}
	default:
		return nil, fmt.Errorf("expected a value after %s %s at position %d, found %s", prop.Name, op, vt.pos+1, vt)
	}
	if op == Like || op == NotLike {
		return c, nil // a pattern, matched against the value's text
	}
	var err error
	switch prop.Type {
	case Number:
		c.num, err = ParseNumber(c.text)
	case Time:
		c.when, err = ParseTime(c.text, p.loc)
	case Bool:
		c.flag, err = parseBool(c.text)
	case Enum:
		c.text, err = enumValue(prop, c.text)
	}
	if err != nil {
		return nil, fmt.Errorf("%s %s %s: %w", prop.Name, op, vt, err)
	}
	return c, nil
}

func operator(t token) (Op, bool) {
	if t.kind != tOp {
		return "", false
	}
	text := t.text
	if len(text) > 2 && text[1] == 'i' {
		text = "-" + text[2:] // -ieq: PowerShell's explicit case-insensitive form
	}
	for _, op := range compareOps {
		if string(op) == text {
			return op, true
		}
	}
	return "", false
}

func opList() string {
	var s []string
	for _, op := range compareOps {
		s = append(s, string(op))
	}
	return strings.Join(append(s, "-and", "-or", "-not"), " ")
}

func enumValue(p Property, v string) (string, error) {
	for _, x := range p.Values {
		if strings.EqualFold(x, v) {
			return x, nil
		}
	}
	return "", fmt.Errorf("%q is not a %s value; valid values: %s", v, p.Name, strings.Join(p.Values, ", "))
}

func parseBool(v string) (bool, error) {
	switch strings.ToLower(strings.TrimPrefix(v, "$")) {
	case "true", "1":
		return true, nil
	case "false", "0":
		return false, nil
	}
	return false, fmt.Errorf("%q is not $true or $false", v)
}

var (
	numberRe   = regexp.MustCompile(`^(?i)\s*([+-]?[0-9][0-9,]*(?:\.[0-9]+)?)\s*(b|bytes|kb|mb|gb|tb|pb)?\s*$`)
	exchSizeRe = regexp.MustCompile(`(?i)\(([0-9,]+) bytes\)\s*$`)
)

// ParseNumber reads a whole number, with PowerShell's size suffixes (1KB is
// 1024) and Exchange's size form ("36 MB (37,748,736 bytes)").
func ParseNumber(s string) (int64, error) {
	if m := exchSizeRe.FindStringSubmatch(s); m != nil {
		s = m[1]
	}
	m := numberRe.FindStringSubmatch(s)
	if m == nil {
		return 0, fmt.Errorf("%q is not a number (write 100, 10KB or 1.5MB)", s)
	}
	f, err := strconv.ParseFloat(strings.ReplaceAll(m[1], ",", ""), 64)
	if err != nil {
		return 0, fmt.Errorf("%q is not a number: %w", s, err)
	}
	mult := map[string]float64{"": 1, "b": 1, "bytes": 1, "kb": 1 << 10, "mb": 1 << 20, "gb": 1 << 30, "tb": 1 << 40, "pb": 1 << 50}[strings.ToLower(m[2])]
	v := math.Round(f * mult)
	if v > math.MaxInt64/2 || v < math.MinInt64/2 {
		return 0, fmt.Errorf("%q is too large", s)
	}
	return int64(v), nil
}

// timeLayouts are the date forms a filter takes: en-US, as Microsoft's
// examples write them, and ISO 8601.
var timeLayouts = []string{
	"1/2/2006 3:04:05 PM", "1/2/2006 3:04 PM", "1/2/2006 3 PM",
	"1/2/2006 15:04:05", "1/2/2006 15:04", "1/2/2006",
	"2006-01-02T15:04:05.999999999", "2006-01-02T15:04:05", "2006-01-02T15:04",
	"2006-01-02 15:04:05.999999999", "2006-01-02 15:04:05", "2006-01-02 15:04", "2006-01-02",
}

// ParseTime reads a date and time in en-US (3/13/2018 9:00 AM,
// 03/13/2018 09:00:00) or ISO 8601 form; without a zone, in loc.
func ParseTime(s string, loc *time.Location) (time.Time, error) {
	v := strings.Join(strings.FieldsFunc(s, unicode.IsSpace), " ")
	if t, err := time.Parse(time.RFC3339Nano, v); err == nil {
		return t, nil
	}
	up := strings.ToUpper(v)
	up = strings.Replace(strings.Replace(up, "AM", " AM", 1), "PM", " PM", 1)
	up = strings.Join(strings.Fields(up), " ")
	for _, layout := range timeLayouts {
		if t, err := time.ParseInLocation(layout, up, loc); err == nil {
			return t, nil
		}
	}
	return time.Time{}, fmt.Errorf("%q is not a date (write '1/5/2018 3:00 PM', '03/13/2018 09:00:00' or 2018-03-13T09:00:00)", s)
}
