// Package shell is transportd's Exchange Management Shell: the subset of
// PowerShell that Microsoft's Exchange documentation uses (cmdlets with
// -Parameters, pipelines of objects, variables, strings with
// interpolation, property access, Where-Object script blocks), and the
// Exchange cmdlets over transport/admin/manage, the same implementation the
// noun-verb command line uses.
//
// The language is read by a lexer and a recursive-descent parser that keep
// positions, so every syntax error names its line and column.
package shell

import (
	"fmt"
	"strings"
	"unicode"
	"unicode/utf8"
)

// Pos is a position in a script: a byte offset and its 1-based line and column.
type Pos struct {
	Offset int
	Line   int
	Col    int
}

// String prints "line L, column C".
func (p Pos) String() string { return fmt.Sprintf("line %d, column %d", p.Line, p.Col) }

// SyntaxError is a parse error at a position.
type SyntaxError struct {
	Pos Pos
	Msg string
}

// Error prints the position and the message.
func (e *SyntaxError) Error() string { return fmt.Sprintf("%s: %s", e.Pos, e.Msg) }

// tokKind is the kind of a token.
type tokKind int

const (
	tEOF      tokKind = iota
	tNewline          // newline or ;
	tWord             // bare word: cmdlet names, unquoted arguments, numbers
	tString           // '...' or "..."
	tVariable         // $name
	tMember           // .Name directly after a value
	tParam            // -Name or -Name:
	tPipe             // |
	tComma            // ,
	tAssign           // =
	tLParen           // (
	tRParen           // )
	tSubExpr          // $(
	tLBrace           // {
	tRBrace           // }
	tLBracket         // [ (only to report it as unsupported)
	tAtBrace          // @{ opening a hashtable
	tAtParen          // @( opening an array subexpression
	tType             // [TypeName]: a type cast; Text is the type name
	tStatic           // [TypeName]::Member; Text is "TypeName::Member"
)

var kindNames = map[tokKind]string{
	tEOF: "end of input", tNewline: "end of statement", tWord: "word", tString: "string",
	tVariable: "variable", tMember: "property", tParam: "parameter", tPipe: "'|'", tComma: "','",
	tAssign: "'='", tLParen: "'('", tRParen: "')'", tSubExpr: "'$('", tLBrace: "'{'", tRBrace: "'}'",
	tLBracket: "'['", tAtBrace: "'@{'", tAtParen: "'@('", tType: "type", tStatic: "static member",
}

// strPart is one piece of a double-quoted string: literal text, a $variable
// or a $( subexpression ) given by its source range.
type strPart struct {
	Lit      string
	Var      string
	Sub      bool
	SubStart int // offset of the first byte inside $( )
	SubEnd   int // offset of the closing )
	Pos      Pos
}

// token is one lexical token.
type token struct {
	Kind tokKind
	Pos  Pos
	End  int    // offset just past the token
	Text string // word text, variable or parameter name (without $ or -), member name
	// Colon is set on a -Name: parameter, whose value follows directly.
	Colon bool
	// Expand is set on a double-quoted string; Parts then holds its pieces.
	Expand bool
	Parts  []strPart
	// Space is set when whitespace precedes the token.
	Space bool
}

func (t token) describe() string {
	switch t.Kind {
	case tWord:
		return fmt.Sprintf("%q", t.Text)
	case tVariable:
		return "$" + t.Text
	case tParam:
		return "-" + t.Text
	case tMember:
		return "." + t.Text
	case tString:
		return "string"
	}
	return kindNames[t.Kind]
}

// lexer turns a script into tokens.
type lexer struct {
	src   string
	off   int
	line  int
	col   int
	depth int // nesting of "$( )" inside strings
	// open holds the brackets open at this point, innermost last: '@' for
	// @{ (inside which = ends a bare word, as in @{Add=x}), '{' and '('.
	open []byte
}

// inHash reports whether the innermost open bracket is a hashtable's.
func (l *lexer) inHash() bool { return len(l.open) > 0 && l.open[len(l.open)-1] == '@' }

// track keeps l.open up to date with the token t.
func (l *lexer) track(t token) {
	switch t.Kind {
	case tAtBrace:
		l.open = append(l.open, '@')
	case tLBrace:
		l.open = append(l.open, '{')
	case tLParen, tSubExpr, tAtParen:
		l.open = append(l.open, '(')
	case tRBrace, tRParen:
		if len(l.open) > 0 {
			l.open = l.open[:len(l.open)-1]
		}
	}
}

// maxDepth bounds nesting of strings, parentheses and blocks, so that no
// input can exhaust the stack.
const maxDepth = 100

func newLexer(src string) *lexer { return &lexer{src: src, line: 1, col: 1} }

// newLexerAt reads src[start:end] keeping offsets, lines and columns of src.
func newLexerAt(src string, start, end int) *lexer {
	p := posAt(src, start)
	return &lexer{src: src[:end], off: start, line: p.Line, col: p.Col}
}

func (l *lexer) pos() Pos { return Pos{Offset: l.off, Line: l.line, Col: l.col} }

// posAt computes the position of an offset (used for subexpressions).
func posAt(src string, off int) Pos {
	p := Pos{Line: 1, Col: 1}
	for i, r := range src {
		if i >= off {
			break
		}
		if r == '\n' {
			p.Line++
			p.Col = 1
		} else {
			p.Col++
		}
	}
	p.Offset = off
	return p
}

func (l *lexer) peekRune() rune {
	if l.off >= len(l.src) {
		return -1
	}
	r, _ := utf8.DecodeRuneInString(l.src[l.off:])
	return r
}

func (l *lexer) peekAt(n int) byte {
	if l.off+n >= len(l.src) {
		return 0
	}
	return l.src[l.off+n]
}

func (l *lexer) next() rune {
	if l.off >= len(l.src) {
		return -1
	}
	r, n := utf8.DecodeRuneInString(l.src[l.off:])
	l.off += n
	if r == '\n' {
		l.line++
		l.col = 1
	} else {
		l.col++
	}
	return r
}

func (l *lexer) errf(p Pos, format string, args ...any) error {
	return &SyntaxError{Pos: p, Msg: fmt.Sprintf(format, args...)}
}

// isWordStop reports runes that end a bare word.
func isWordStop(r rune) bool {
	switch r {
	case '|', ';', ',', '(', ')', '{', '}', '"', '\'', '\n', '\r', '#', -1:
		return true
	}
	return unicode.IsSpace(r)
}

func isNameRune(r rune) bool {
	return r == '_' || r == '-' || r == '?' || unicode.IsLetter(r) || unicode.IsDigit(r)
}

func isVarRune(r rune) bool {
	return r == '_' || r == ':' || unicode.IsLetter(r) || unicode.IsDigit(r)
}

// skipSpace skips blanks, comments and line continuations (` at line end);
// it reports whether anything was skipped.
func (l *lexer) skipSpace() bool {
	skipped := false
	for {
		r := l.peekRune()
		switch {
		case r == '\n':
			return skipped
		case r == '`' && (l.peekAt(1) == '\n' || (l.peekAt(1) == '\r' && l.peekAt(2) == '\n')):
			l.next()
			for l.peekRune() != '\n' {
				l.next()
			}
			l.next()
		case r == '<' && l.peekAt(1) == '#':
			for l.off < len(l.src) && !strings.HasPrefix(l.src[l.off:], "#>") {
				l.next()
			}
			l.next()
			l.next()
		case r == '#':
			for l.off < len(l.src) && l.peekRune() != '\n' {
				l.next()
			}
		case r >= 0 && unicode.IsSpace(r):
			l.next()
		default:
			return skipped
		}
		skipped = true
	}
}

// token reads the next token.
func (l *lexer) token() (token, error) {
	space := l.skipSpace()
	p := l.pos()
	t := token{Pos: p, Space: space}
	r := l.peekRune()
	single := func(k tokKind) (token, error) {
		l.next()
		t.Kind = k
		t.End = l.off
		return t, nil
	}
	switch r {
	case -1:
		t.Kind = tEOF
		t.End = l.off
		return t, nil
	case '\n', ';':
		return single(tNewline)
	case '|':
		if l.peekAt(1) == '|' {
			return t, l.errf(p, "'||' is not supported: use one '|' to pipe objects")
		}
		return single(tPipe)
	case ',':
		return single(tComma)
	case '(':
		return single(tLParen)
	case ')':
		return single(tRParen)
	case '{':
		return single(tLBrace)
	case '}':
		return single(tRBrace)
	case '[':
		if name, n := typeLiteral(l.src[l.off:]); n > 0 {
			for range n {
				l.next()
			}
			t.Kind, t.Text = tType, name
			if strings.HasPrefix(l.src[l.off:], "::") {
				l.next()
				l.next()
				member := l.takeWhile(func(r rune) bool { return r == '_' || unicode.IsLetter(r) || unicode.IsDigit(r) })
				if member == "" {
					return t, l.errf(p, "missing member name after [%s]::", name)
				}
				t.Kind, t.Text = tStatic, name+"::"+member
			}
			t.End = l.off
			return t, nil
		}
		return single(tLBracket)
	case '=':
		if l.peekAt(1) == '=' {
			return t, l.errf(p, "'==' is not an operator here: compare with -eq")
		}
		return single(tAssign)
	case '@':
		switch l.peekAt(1) {
		case '{':
			l.next()
			return single(tAtBrace)
		case '(':
			l.next()
			return single(tAtParen)
		}
	case '\'':
		return l.singleQuoted(t)
	case '"':
		return l.doubleQuoted(t)
	case '$':
		if l.peekAt(1) == '(' {
			l.next()
			return single(tSubExpr)
		}
		l.next()
		name := l.takeWhile(isVarRune)
		if name == "" {
			if l.peekRune() == '{' {
				return t, l.errf(p, "${name} variables are not supported: use $name")
			}
			return t, l.errf(p, "'$' must be followed by a variable name, like $TLSCert")
		}
		t.Kind = tVariable
		t.Text = name
		t.End = l.off
		return t, nil
	case '.':
		nr, _ := utf8.DecodeRuneInString(l.src[min(l.off+1, len(l.src)):])
		if !space && l.off+1 < len(l.src) && (unicode.IsLetter(nr) || nr == '_') {
			l.next()
			t.Kind = tMember
			t.Text = l.takeWhile(func(r rune) bool { return r == '_' || unicode.IsLetter(r) || unicode.IsDigit(r) })
			t.End = l.off
			return t, nil
		}
	case '-':
		nr, _ := utf8.DecodeRuneInString(l.src[min(l.off+1, len(l.src)):])
		if l.off+1 < len(l.src) && (unicode.IsLetter(nr) || nr == '_') {
			l.next()
			t.Kind = tParam
			t.Text = l.takeWhile(func(r rune) bool { return r == '_' || unicode.IsLetter(r) || unicode.IsDigit(r) })
			if l.peekRune() == ':' {
				l.next()
				t.Colon = true
			}
			t.End = l.off
			return t, nil
		}
	}
	// A bare word runs to whitespace or punctuation.
	var sb strings.Builder
	for {
		r := l.peekRune()
		if isWordStop(r) || (r == '=' && l.inHash()) {
			break
		}
		if r == '`' {
			l.next()
			if e := l.next(); e >= 0 {
				sb.WriteRune(e)
			}
			continue
		}
		if r == '$' && sb.Len() > 0 {
			break
		}
		sb.WriteRune(l.next())
	}
	if sb.Len() == 0 {
		return t, l.errf(p, "unexpected character %q", r)
	}
	t.Kind = tWord
	t.Text = sb.String()
	t.End = l.off
	return t, nil
}

func (l *lexer) takeWhile(f func(rune) bool) string {
	start := l.off
	for {
		r := l.peekRune()
		if r < 0 || !f(r) {
			break
		}
		l.next()
	}
	return l.src[start:l.off]
}

// singleQuoted reads a literal string; ” is one quote.
func (l *lexer) singleQuoted(t token) (token, error) {
	l.next()
	var sb strings.Builder
	for {
		r := l.next()
		switch r {
		case -1:
			return t, l.errf(t.Pos, "string is not terminated: missing closing '")
		case '\'':
			if l.peekRune() == '\'' {
				l.next()
				sb.WriteByte('\'')
				continue
			}
			t.Kind = tString
			t.Text = sb.String()
			t.End = l.off
			return t, nil
		}
		sb.WriteRune(r)
	}
}

// doubleQuoted reads an expandable string: $var and $(expr) are kept as
// parts; `x escapes and "" is one quote.
func (l *lexer) doubleQuoted(t token) (token, error) {
	l.next()
	var lit strings.Builder
	var parts []strPart
	litPos := l.pos()
	flush := func() {
		if lit.Len() > 0 {
			parts = append(parts, strPart{Lit: lit.String(), Pos: litPos})
			lit.Reset()
		}
	}
	for {
		p := l.pos()
		r := l.next()
		switch r {
		case -1:
			return t, l.errf(t.Pos, "string is not terminated: missing closing \"")
		case '"':
			if l.peekRune() == '"' {
				l.next()
				lit.WriteByte('"')
				continue
			}
			flush()
			t.Kind = tString
			t.Expand = true
			t.Parts = parts
			var sb strings.Builder
			for _, pt := range parts {
				sb.WriteString(pt.Lit)
			}
			t.Text = sb.String()
			t.End = l.off
			return t, nil
		case '`':
			e := l.next()
			switch e {
			case -1:
				return t, l.errf(t.Pos, "string is not terminated: missing closing \"")
			case 'n':
				lit.WriteByte('\n')
			case 't':
				lit.WriteByte('\t')
			case 'r':
				lit.WriteByte('\r')
			case '0':
				lit.WriteByte(0)
			default:
				lit.WriteRune(e)
			}
		case '$':
			if l.peekRune() == '(' {
				l.next()
				start := l.off
				end, err := l.matchParen(p)
				if err != nil {
					return t, err
				}
				flush()
				parts = append(parts, strPart{Sub: true, SubStart: start, SubEnd: end, Pos: p})
				litPos = l.pos()
				continue
			}
			name := l.takeWhile(isVarRune)
			if name == "" {
				lit.WriteByte('$')
				continue
			}
			flush()
			parts = append(parts, strPart{Var: name, Pos: p})
			litPos = l.pos()
		default:
			if lit.Len() == 0 {
				litPos = p
			}
			lit.WriteRune(r)
		}
	}
}

// matchParen reads tokens up to the ) closing a $( opened at open and
// returns the offset of that ).
func (l *lexer) matchParen(open Pos) (int, error) {
	l.depth++
	defer func() { l.depth-- }()
	if l.depth > maxDepth {
		return 0, l.errf(open, "strings and subexpressions are nested too deeply")
	}
	depth := 0
	for {
		t, err := l.token()
		if err != nil {
			return 0, err
		}
		switch t.Kind {
		case tEOF:
			return 0, l.errf(open, "'$(' is not closed: missing ')'")
		case tLParen, tSubExpr, tAtParen:
			depth++
		case tRParen:
			if depth == 0 {
				return t.Pos.Offset, nil
			}
			depth--
		}
	}
}

// tokenize reads all tokens of src.
func tokenize(src string) ([]token, error) { return tokenizeLexer(newLexer(src)) }

func tokenizeLexer(l *lexer) ([]token, error) {
	var out []token
	for {
		t, err := l.token()
		if err != nil {
			return nil, err
		}
		l.track(t)
		out = append(out, t)
		if t.Kind == tEOF {
			return out, nil
		}
	}
}

// typeLiteral matches a .NET type literal at the start of s: "[Name]",
// "[Name.Space.Type]" or "[Type[]]" (ASCII only). It returns the name and
// the length of the literal, or 0.
func typeLiteral(s string) (string, int) {
	if len(s) < 3 || s[0] != '[' {
		return "", 0
	}
	i := 1
	for i < len(s) && (s[i] == '.' || s[i] == '_' || (s[i] >= 'a' && s[i] <= 'z') || (s[i] >= 'A' && s[i] <= 'Z') || (i > 1 && s[i] >= '0' && s[i] <= '9')) {
		i++
	}
	if i == 1 {
		return "", 0
	}
	if strings.HasPrefix(s[i:], "[]") {
		i += 2
	}
	if i >= len(s) || s[i] != ']' {
		return "", 0
	}
	return s[1:i], i + 1
}
