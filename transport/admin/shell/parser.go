package shell

import (
	"fmt"
	"strings"
)

// Script is a parsed script: statements run in order.
type Script struct {
	Statements []Statement
}

// Statement is an assignment or a pipeline.
type Statement struct {
	Pos Pos
	// Assign is the variable name of "$name = pipeline", or "".
	Assign   string
	Pipeline *Pipeline
}

// Pipeline is a first element (an expression or a command) and the
// commands its objects flow through.
type Pipeline struct {
	Pos Pos
	// Expr is set when the pipeline starts with an expression ($x, "text").
	Expr     Expr
	Commands []*Command
}

// Command is a cmdlet call with its parameters and arguments in order.
type Command struct {
	Pos  Pos
	Name string
	Args []Arg
}

// Arg is a -Parameter (with the value after a colon, if any) or a value.
type Arg struct {
	Pos Pos
	// Param is the parameter name without the dash, or "" for a value.
	Param string
	// Value is the argument value, or the value after -Param: (nil otherwise).
	Value Expr
}

// Expr is an expression node.
type Expr interface{ exprPos() Pos }

// Word is an unquoted word: a string, or a number such as 35MB.
type Word struct {
	P    Pos
	Text string
}

// Str is a quoted string; Parts are set for a double-quoted string with
// $variables or $( subexpressions ).
type Str struct {
	P     Pos
	Text  string
	Parts []StrPart
}

// StrPart is literal text, a variable or a subexpression inside "...".
type StrPart struct {
	Lit string
	Var string
	Sub *Script
	P   Pos
}

// Var is $name.
type Var struct {
	P    Pos
	Name string
}

// Member is X.Name.
type Member struct {
	P    Pos
	X    Expr
	Name string
}

// SubExpr is $( script ) or ( pipeline ).
type SubExpr struct {
	P      Pos
	Script *Script
}

// List is a,b,c.
type List struct {
	P     Pos
	Items []Expr
}

// Block is a script block { ... }.
type Block struct {
	P      Pos
	Script *Script
	Src    string
}

// Binary is L -op R (comparisons, -and, -or).
type Binary struct {
	P  Pos
	Op string
	L  Expr
	R  Expr
}

// Not is -not X or !X.
type Not struct {
	P Pos
	X Expr
}

// Hashtable is @{Key = value; ...}, keys in the order written.
type Hashtable struct {
	P    Pos
	Keys []string
	Vals []Expr
}

// ArrayExpr is @( script ): its output, always as an array.
type ArrayExpr struct {
	P      Pos
	Script *Script
}

func (e *Hashtable) exprPos() Pos { return e.P }
func (e *ArrayExpr) exprPos() Pos { return e.P }
func (e *Word) exprPos() Pos      { return e.P }
func (e *Str) exprPos() Pos       { return e.P }
func (e *Var) exprPos() Pos       { return e.P }
func (e *Member) exprPos() Pos    { return e.P }
func (e *SubExpr) exprPos() Pos   { return e.P }
func (e *List) exprPos() Pos      { return e.P }
func (e *Block) exprPos() Pos     { return e.P }
func (e *Binary) exprPos() Pos    { return e.P }
func (e *Not) exprPos() Pos       { return e.P }

// comparison operators, as PowerShell spells them (case-insensitive
// variants -ieq and case-sensitive -ceq included).
var compareOps = map[string]bool{
	"eq": true, "ne": true, "like": true, "notlike": true, "match": true, "notmatch": true,
	"gt": true, "lt": true, "ge": true, "le": true, "contains": true, "notcontains": true,
	"in": true, "notin": true,
}

// CompareOps lists the comparison operators Where-Object understands.
func CompareOps() []string {
	return []string{"-eq", "-ne", "-like", "-notlike", "-match", "-notmatch", "-gt", "-lt", "-ge", "-le", "-contains", "-notcontains", "-in", "-notin"}
}

func normalizeOp(name string) (string, bool) {
	n := strings.ToLower(name)
	if compareOps[n] {
		return n, true
	}
	if len(n) > 1 && (n[0] == 'i' || n[0] == 'c') && compareOps[n[1:]] {
		return n, true
	}
	return "", false
}

type parser struct {
	src   string
	toks  []token
	i     int
	depth int
}

// Parse reads a script. Errors are *SyntaxError with the position.
func Parse(src string) (*Script, error) {
	toks, err := tokenize(src)
	if err != nil {
		return nil, err
	}
	p := &parser{src: src, toks: toks}
	s, err := p.script(tEOF)
	if err != nil {
		return nil, err
	}
	return s, nil
}

func (p *parser) peek() token { return p.toks[p.i] }

func (p *parser) advance() token {
	t := p.toks[p.i]
	if t.Kind != tEOF {
		p.i++
	}
	return t
}

func (p *parser) errf(pos Pos, format string, args ...any) error {
	return &SyntaxError{Pos: pos, Msg: fmt.Sprintf(format, args...)}
}

func (p *parser) enter(pos Pos) error {
	p.depth++
	if p.depth > maxDepth {
		return p.errf(pos, "expression is nested too deeply")
	}
	return nil
}

func (p *parser) leave() { p.depth-- }

// script reads statements up to the end token (EOF, ')' or '}').
func (p *parser) script(end tokKind) (*Script, error) {
	s := &Script{}
	for {
		for p.peek().Kind == tNewline {
			p.advance()
		}
		t := p.peek()
		if t.Kind == end {
			return s, nil
		}
		if t.Kind == tEOF {
			want := map[tokKind]string{tRParen: "')'", tRBrace: "'}'"}[end]
			return nil, p.errf(t.Pos, "missing %s", want)
		}
		st, err := p.statement()
		if err != nil {
			return nil, err
		}
		s.Statements = append(s.Statements, st)
		switch n := p.peek(); n.Kind {
		case tNewline, end:
		case tEOF:
			want := map[tokKind]string{tRParen: "')'", tRBrace: "'}'"}[end]
			return nil, p.errf(n.Pos, "missing %s", want)
		default:
			return nil, p.errf(n.Pos, "unexpected %s: a statement ends with a new line or ';'", n.describe())
		}
	}
}

func (p *parser) statement() (Statement, error) {
	t := p.peek()
	st := Statement{Pos: t.Pos}
	if t.Kind == tVariable && p.toks[p.i+1].Kind == tAssign {
		p.advance()
		p.advance()
		st.Assign = t.Text
		if k := p.peek().Kind; k == tNewline || k == tEOF || k == tRParen || k == tRBrace {
			return st, p.errf(p.peek().Pos, "missing value after '$%s ='", t.Text)
		}
	}
	pl, err := p.pipeline()
	if err != nil {
		return st, err
	}
	st.Pipeline = pl
	return st, nil
}

func (p *parser) pipeline() (*Pipeline, error) {
	t := p.peek()
	pl := &Pipeline{Pos: t.Pos}
	if t.Kind == tWord && !isNumberWord(t.Text) {
		c, err := p.command()
		if err != nil {
			return nil, err
		}
		pl.Commands = append(pl.Commands, c)
	} else {
		e, err := p.expr()
		if err != nil {
			return nil, err
		}
		pl.Expr = e
	}
	for p.peek().Kind == tPipe {
		pp := p.advance()
		for p.peek().Kind == tNewline && p.peek().Pos.Offset < len(p.src) && p.src[p.peek().Pos.Offset] == '\n' {
			p.advance() // a pipe at the end of a line continues on the next
		}
		n := p.peek()
		if n.Kind != tWord {
			return nil, p.errf(n.Pos, "expected a cmdlet after '|' (at %s), found %s", pp.Pos, n.describe())
		}
		c, err := p.command()
		if err != nil {
			return nil, err
		}
		pl.Commands = append(pl.Commands, c)
	}
	return pl, nil
}

func (p *parser) command() (*Command, error) {
	t := p.advance()
	c := &Command{Pos: t.Pos, Name: t.Text}
	for {
		n := p.peek()
		switch n.Kind {
		case tNewline, tEOF, tPipe, tRParen, tRBrace:
			return c, nil
		case tParam:
			p.advance()
			a := Arg{Pos: n.Pos, Param: n.Text}
			if n.Colon {
				v, err := p.argValue()
				if err != nil {
					return nil, err
				}
				a.Value = v
			}
			c.Args = append(c.Args, a)
		case tAssign:
			return nil, p.errf(n.Pos, "unexpected '=': to assign, write $name = value at the start of a statement")
		default:
			v, err := p.argValue()
			if err != nil {
				return nil, err
			}
			c.Args = append(c.Args, Arg{Pos: n.Pos, Value: v})
		}
	}
}

// argValue reads a command argument: a primary value, or a comma list.
func (p *parser) argValue() (Expr, error) {
	first, err := p.argElement()
	if err != nil {
		return nil, err
	}
	if p.peek().Kind != tComma {
		return first, nil
	}
	l := &List{P: first.exprPos(), Items: []Expr{first}}
	for p.peek().Kind == tComma {
		p.advance()
		for p.peek().Kind == tNewline && p.src[p.peek().Pos.Offset] == '\n' {
			p.advance()
		}
		e, err := p.argElement()
		if err != nil {
			return nil, err
		}
		l.Items = append(l.Items, e)
	}
	return l, nil
}

// argElement reads one element of a parameter's value. Where a value must
// come (after -Name: or a comma), a word starting with a dash is a word, as
// in PowerShell: -SortOrder: -Size,+Subject, or +FromAddress,-Size.
func (p *parser) argElement() (Expr, error) {
	if t := p.peek(); t.Kind == tParam {
		p.advance()
		text := "-" + t.Text
		if t.Colon {
			text += ":"
		}
		return &Word{P: t.Pos, Text: text}, nil
	}
	e, err := p.postfix()
	if err != nil {
		return nil, err
	}
	return p.adjacent(e)
}

// adjacent joins strings and words written without space between them
// into one argument, as PowerShell does: "a "b" c" is the one argument
// a b c (Microsoft's Suspend-Queue example quotes its filter so).
func (p *parser) adjacent(e Expr) (Expr, error) {
	parts := func(x Expr) ([]StrPart, bool) {
		switch v := x.(type) {
		case *Word:
			return []StrPart{{Lit: v.Text}}, true
		case *Str:
			if v.Parts == nil {
				return []StrPart{{Lit: v.Text}}, true
			}
			return v.Parts, true
		}
		return nil, false
	}
	all, ok := parts(e)
	if !ok {
		return e, nil
	}
	joined := false
	for p.i > 0 {
		n := p.peek()
		if (n.Kind != tString && n.Kind != tWord) || n.Pos.Offset != p.toks[p.i-1].End {
			break
		}
		x, err := p.postfix()
		if err != nil {
			return nil, err
		}
		more, ok := parts(x)
		if !ok {
			return nil, p.errf(n.Pos, "cannot join %s to the text before it", n.describe())
		}
		all, joined = append(all, more...), true
	}
	if !joined {
		return e, nil
	}
	s := &Str{P: e.exprPos()}
	literal := true
	for _, part := range all {
		literal = literal && part.Var == "" && part.Sub == nil
	}
	if literal {
		for _, part := range all {
			s.Text += part.Lit
		}
		return s, nil
	}
	s.Parts = all
	return s, nil
}

// expr reads an expression with -and/-or, comparisons and -not.
func (p *parser) expr() (Expr, error) {
	if err := p.enter(p.peek().Pos); err != nil {
		return nil, err
	}
	defer p.leave()
	return p.orExpr()
}

func (p *parser) isOp(names ...string) (token, bool) {
	t := p.peek()
	if t.Kind != tParam || t.Colon {
		return t, false
	}
	for _, n := range names {
		if strings.EqualFold(t.Text, n) {
			return t, true
		}
	}
	return t, false
}

func (p *parser) orExpr() (Expr, error) {
	l, err := p.andExpr()
	if err != nil {
		return nil, err
	}
	for {
		t, ok := p.isOp("or", "xor")
		if !ok {
			return l, nil
		}
		p.advance()
		r, err := p.andExpr()
		if err != nil {
			return nil, err
		}
		l = &Binary{P: t.Pos, Op: strings.ToLower(t.Text), L: l, R: r}
	}
}

func (p *parser) andExpr() (Expr, error) {
	l, err := p.cmpExpr()
	if err != nil {
		return nil, err
	}
	for {
		t, ok := p.isOp("and")
		if !ok {
			return l, nil
		}
		p.advance()
		r, err := p.cmpExpr()
		if err != nil {
			return nil, err
		}
		l = &Binary{P: t.Pos, Op: "and", L: l, R: r}
	}
}

func (p *parser) cmpExpr() (Expr, error) {
	l, err := p.unary()
	if err != nil {
		return nil, err
	}
	for {
		t := p.peek()
		if t.Kind != tParam {
			return l, nil
		}
		op, ok := normalizeOp(t.Text)
		if !ok {
			if strings.EqualFold(t.Text, "and") || strings.EqualFold(t.Text, "or") || strings.EqualFold(t.Text, "xor") {
				return l, nil
			}
			return nil, p.errf(t.Pos, "unknown operator -%s (use %s, -and, -or, -not)", t.Text, strings.Join(CompareOps(), " "))
		}
		p.advance()
		r, err := p.unary()
		if err != nil {
			return nil, err
		}
		l = &Binary{P: t.Pos, Op: op, L: l, R: r}
	}
}

func (p *parser) unary() (Expr, error) {
	t := p.peek()
	if (t.Kind == tParam && strings.EqualFold(t.Text, "not") && !t.Colon) || (t.Kind == tWord && t.Text == "!") {
		p.advance()
		if err := p.enter(t.Pos); err != nil {
			return nil, err
		}
		defer p.leave()
		x, err := p.unary()
		if err != nil {
			return nil, err
		}
		return &Not{P: t.Pos, X: x}, nil
	}
	return p.listExpr()
}

func (p *parser) listExpr() (Expr, error) {
	return p.argValue()
}

// postfix reads a primary value and any .Property accesses after it.
func (p *parser) postfix() (Expr, error) {
	e, err := p.primary()
	if err != nil {
		return nil, err
	}
	for p.peek().Kind == tMember {
		t := p.advance()
		if t.Text == "" {
			return nil, p.errf(t.Pos, "missing property name after '.'")
		}
		if p.peek().Kind == tLParen && !p.peek().Space {
			args, err := p.callArgs()
			if err != nil {
				return nil, err
			}
			e = &MethodCall{P: t.Pos, X: e, Name: t.Text, Args: args}
			continue
		}
		e = &Member{P: t.Pos, X: e, Name: t.Text}
	}
	return e, nil
}

func (p *parser) primary() (Expr, error) {
	t := p.peek()
	if err := p.enter(t.Pos); err != nil {
		return nil, err
	}
	defer p.leave()
	switch t.Kind {
	case tWord:
		p.advance()
		return &Word{P: t.Pos, Text: t.Text}, nil
	case tString:
		p.advance()
		s := &Str{P: t.Pos, Text: t.Text}
		literal := true
		for _, part := range t.Parts {
			literal = literal && part.Var == "" && !part.Sub
		}
		if t.Expand && !literal {
			for _, part := range t.Parts {
				sp := StrPart{Lit: part.Lit, Var: part.Var, P: part.Pos}
				if part.Sub {
					sub, err := p.subScript(part.SubStart, part.SubEnd)
					if err != nil {
						return nil, err
					}
					sp.Sub = sub
				}
				s.Parts = append(s.Parts, sp)
			}
		}
		return s, nil
	case tVariable:
		p.advance()
		return &Var{P: t.Pos, Name: t.Text}, nil
	case tLParen:
		p.advance()
		for p.peek().Kind == tNewline {
			p.advance()
		}
		if p.peek().Kind == tRParen {
			return nil, p.errf(p.peek().Pos, "empty '()': put an expression or a command inside")
		}
		pl, err := p.pipeline()
		if err != nil {
			return nil, err
		}
		for p.peek().Kind == tNewline {
			p.advance()
		}
		if n := p.peek(); n.Kind != tRParen {
			return nil, p.errf(n.Pos, "missing ')' to close '(' at %s, found %s", t.Pos, n.describe())
		}
		p.advance()
		return &SubExpr{P: t.Pos, Script: &Script{Statements: []Statement{{Pos: pl.Pos, Pipeline: pl}}}}, nil
	case tSubExpr:
		p.advance()
		s, err := p.script(tRParen)
		if err != nil {
			return nil, err
		}
		p.advance()
		return &SubExpr{P: t.Pos, Script: s}, nil
	case tLBrace:
		p.advance()
		s, err := p.script(tRBrace)
		if err != nil {
			return nil, err
		}
		end := p.advance()
		return &Block{P: t.Pos, Script: s, Src: p.src[t.End:end.Pos.Offset]}, nil
	case tAtParen:
		p.advance()
		s, err := p.script(tRParen)
		if err != nil {
			return nil, err
		}
		p.advance()
		return &ArrayExpr{P: t.Pos, Script: s}, nil
	case tAtBrace:
		p.advance()
		return p.hashtable(t)
	case tType:
		p.advance()
		if k := p.peek().Kind; k == tNewline || k == tEOF || k == tRParen || k == tPipe {
			return nil, p.errf(t.Pos, "a type such as [%s] stands only before a value to convert or ::Member", t.Text)
		}
		x, err := p.postfix()
		if err != nil {
			return nil, err
		}
		return &Cast{P: t.Pos, Type: t.Text, X: x}, nil
	case tStatic:
		p.advance()
		typ, name, _ := strings.Cut(t.Text, "::")
		s := &StaticCall{P: t.Pos, Type: typ, Name: name}
		if p.peek().Kind == tLParen && !p.peek().Space {
			args, err := p.callArgs()
			if err != nil {
				return nil, err
			}
			s.Args, s.Call = args, true
		}
		return s, nil
	case tLBracket:
		return nil, p.errf(t.Pos, "'[' starts a type such as [Byte[]] or [System.IO.File]::ReadAllBytes(...); indexing with [n] is not supported")
	case tEOF, tNewline:
		return nil, p.errf(t.Pos, "missing value at %s", t.describe())
	case tParam:
		return nil, p.errf(t.Pos, "expected a value, found parameter -%s", t.Text)
	}
	return nil, p.errf(t.Pos, "unexpected %s", t.describe())
}

// hashtable reads the entries of @{ Key = value; Key2 = value2 } after
// the opening @{ (open); entries are separated by ';' or new lines.
func (p *parser) hashtable(open token) (Expr, error) {
	h := &Hashtable{P: open.Pos}
	for {
		for p.peek().Kind == tNewline {
			p.advance()
		}
		k := p.peek()
		switch k.Kind {
		case tRBrace:
			p.advance()
			return h, nil
		case tEOF:
			return nil, p.errf(open.Pos, "missing '}' to close '@{'")
		case tWord, tString:
		default:
			return nil, p.errf(k.Pos, "expected a key such as Add = \"value\" in '@{', found %s", k.describe())
		}
		p.advance()
		if n := p.peek(); n.Kind != tAssign {
			return nil, p.errf(n.Pos, "expected '=' after the key %q in '@{', found %s", k.Text, n.describe())
		}
		p.advance()
		v, err := p.expr()
		if err != nil {
			return nil, err
		}
		h.Keys = append(h.Keys, k.Text)
		h.Vals = append(h.Vals, v)
		switch n := p.peek(); n.Kind {
		case tNewline, tRBrace:
		case tEOF:
			return nil, p.errf(open.Pos, "missing '}' to close '@{'")
		default:
			return nil, p.errf(n.Pos, "unexpected %s in '@{': separate entries with ';'", n.describe())
		}
	}
}

// subScript parses the $( ) inside a string at src[start:end].
func (p *parser) subScript(start, end int) (*Script, error) {
	if err := p.enter(posAt(p.src, start)); err != nil {
		return nil, err
	}
	defer p.leave()
	toks, err := tokenizeLexer(newLexerAt(p.src, start, end))
	if err != nil {
		return nil, err
	}
	sub := &parser{src: p.src, toks: toks, depth: p.depth}
	return sub.script(tEOF)
}

// isNumberWord reports whether a word is a number such as 42, 1.5 or 35MB.
func isNumberWord(s string) bool {
	_, ok := parseNumber(s)
	return ok
}

// callArgs reads the arguments of a method call, "(a, b)", at the '('.
func (p *parser) callArgs() ([]Expr, error) {
	open := p.advance()
	for p.peek().Kind == tNewline {
		p.advance()
	}
	if p.peek().Kind == tRParen {
		p.advance()
		return nil, nil
	}
	e, err := p.expr()
	if err != nil {
		return nil, err
	}
	for p.peek().Kind == tNewline {
		p.advance()
	}
	if n := p.peek(); n.Kind != tRParen {
		return nil, p.errf(n.Pos, "missing ')' to close the arguments opened at %s, found %s", open.Pos, n.describe())
	}
	p.advance()
	if l, ok := e.(*List); ok {
		return l.Items, nil
	}
	return []Expr{e}, nil
}

// Cast is [Type]value.
type Cast struct {
	P    Pos
	Type string
	X    Expr
}

// StaticCall is [Type]::Name or [Type]::Name(args).
type StaticCall struct {
	P    Pos
	Type string
	Name string
	Call bool
	Args []Expr
}

// MethodCall is value.Name(args).
type MethodCall struct {
	P    Pos
	X    Expr
	Name string
	Args []Expr
}

func (e *Cast) exprPos() Pos       { return e.P }
func (e *StaticCall) exprPos() Pos { return e.P }
func (e *MethodCall) exprPos() Pos { return e.P }
