package shell

import (
	"context"
	"errors"
	"fmt"
	"io"
	"sort"
	"strings"

	"github.com/transportd/transportd/transport/admin/manage"
)

// Shell runs scripts against one transportd configuration. A Shell keeps
// its variables between calls to Run, as an interactive session does; it
// is not safe for concurrent use.
type Shell struct {
	// Manager changes the configuration (the same code as the noun-verb commands).
	Manager *manage.Manager
	// Out receives the formatted output of each statement.
	Out io.Writer
	// ReadPassword answers -Password - (from standard input); nil refuses it.
	ReadPassword func() (string, error)
	// Control calls the running daemon (Get-Queue, Get-Message, ...); nil
	// uses the control socket in the configuration's data folder.
	Control func(ctx context.Context, op string, args, out any) error

	// ReadLine reads one line the admin types, for Read-Host and
	// Get-Credential: prompt is shown on a terminal, and the line is not
	// echoed when hidden. nil: they fail, saying how to give the value.
	ReadLine func(prompt string, hidden bool) (string, error)

	vars map[string]any
}

// New returns a shell for the configuration file at configPath that writes to out.
func New(configPath string, out io.Writer) *Shell {
	sh := &Shell{Manager: &manage.Manager{ConfigPath: configPath}, Out: out}
	// As PowerShell's WARNING: lines, on the host's output.
	sh.Manager.Warn = func(msg string) { sh.say("WARNING: %s", msg) }
	return sh
}

// Error is a runtime error with the position of the command or value that
// caused it.
type Error struct {
	Pos Pos
	// Cmdlet is the command that failed, or "".
	Cmdlet string
	Err    error
}

// Error prints "line L, column C: Cmdlet: message".
func (e *Error) Error() string {
	if e.Cmdlet != "" {
		return fmt.Sprintf("%s: %s: %v", e.Pos, e.Cmdlet, e.Err)
	}
	return fmt.Sprintf("%s: %v", e.Pos, e.Err)
}

// Unwrap returns the underlying error.
func (e *Error) Unwrap() error { return e.Err }

// Var returns a variable's value.
func (sh *Shell) Var(name string) (any, bool) {
	v, ok := sh.vars[strings.ToLower(name)]
	return v, ok
}

// SetVar sets a variable.
func (sh *Shell) SetVar(name string, v any) {
	if sh.vars == nil {
		sh.vars = map[string]any{}
	}
	sh.vars[strings.ToLower(name)] = v
}

// Run parses and runs a script, printing each statement's output. Like
// PowerShell it goes on after a failed statement; the error returned joins
// every statement's error (a syntax error stops before anything runs).
func (sh *Shell) Run(src string) error {
	s, err := Parse(src)
	if err != nil {
		return err
	}
	var errs []error
	for _, st := range s.Statements {
		if err := sh.runStatement(st, nil); err != nil {
			errs = append(errs, err)
		}
	}
	return errors.Join(errs...)
}

// RunStatements runs a parsed script and stops at the first error,
// returning the output values instead of printing them.
func (sh *Shell) eval(s *Script, scope map[string]any) ([]any, error) {
	var out []any
	for _, st := range s.Statements {
		vals, err := sh.pipeline(st.Pipeline, scope)
		if err != nil {
			return nil, err
		}
		if st.Assign != "" {
			if err := sh.assign(st, vals, scope); err != nil {
				return nil, err
			}
			continue
		}
		out = append(out, vals...)
	}
	return out, nil
}

func (sh *Shell) runStatement(st Statement, scope map[string]any) error {
	vals, err := sh.pipeline(st.Pipeline, scope)
	if err != nil {
		return err
	}
	if st.Assign != "" {
		return sh.assign(st, vals, scope)
	}
	if sh.Out != nil {
		outDefault(sh.Out, vals)
	}
	return nil
}

func (sh *Shell) assign(st Statement, vals []any, scope map[string]any) error {
	switch strings.ToLower(st.Assign) {
	case "true", "false", "null", "_":
		return &Error{Pos: st.Pos, Err: fmt.Errorf("$%s cannot be assigned", st.Assign)}
	}
	v := collapse(vals)
	if scope != nil {
		if _, ok := scope[strings.ToLower(st.Assign)]; ok {
			scope[strings.ToLower(st.Assign)] = v
			return nil
		}
	}
	sh.SetVar(st.Assign, v)
	return nil
}

// collapse turns pipeline output into one value: nothing is $null, one
// object is itself, several are a list.
func collapse(vals []any) any {
	switch len(vals) {
	case 0:
		return nil
	case 1:
		return vals[0]
	}
	return append([]any(nil), vals...)
}

// pipeline runs a pipeline and returns its output objects.
func (sh *Shell) pipeline(pl *Pipeline, scope map[string]any) ([]any, error) {
	var vals []any
	fromPipe := false
	if pl.Expr != nil {
		v, err := sh.expr(pl.Expr, scope)
		if err != nil {
			return nil, err
		}
		vals = flatten(v)
		fromPipe = true
	}
	for _, c := range pl.Commands {
		out, err := sh.command(c, vals, fromPipe, scope)
		if err != nil {
			return nil, err
		}
		vals, fromPipe = out, true
	}
	return vals, nil
}

// flatten enumerates a list into pipeline objects.
func flatten(v any) []any {
	switch x := v.(type) {
	case nil:
		return nil
	case []any:
		return x
	}
	return []any{v}
}

// expr evaluates an expression.
// exprs evaluates a method call's arguments.
func (sh *Shell) exprs(es []Expr, scope map[string]any) ([]any, error) {
	out := make([]any, 0, len(es))
	for _, e := range es {
		v, err := sh.expr(e, scope)
		if err != nil {
			return nil, err
		}
		out = append(out, v)
	}
	return out, nil
}

func (sh *Shell) expr(e Expr, scope map[string]any) (any, error) {
	switch x := e.(type) {
	case *Word:
		if n, ok := parseNumber(x.Text); ok {
			return n, nil
		}
		return x.Text, nil
	case *Str:
		if x.Parts == nil {
			return x.Text, nil
		}
		var sb strings.Builder
		for _, p := range x.Parts {
			switch {
			case p.Sub != nil:
				vals, err := sh.eval(p.Sub, scope)
				if err != nil {
					return nil, err
				}
				sb.WriteString(toString(collapse(vals)))
			case p.Var != "":
				v, err := sh.variable(p.Var, p.P, scope)
				if err != nil {
					return nil, err
				}
				sb.WriteString(toString(v))
			default:
				sb.WriteString(p.Lit)
			}
		}
		return sb.String(), nil
	case *Var:
		return sh.variable(x.Name, x.P, scope)
	case *Member:
		v, err := sh.expr(x.X, scope)
		if err != nil {
			return nil, err
		}
		return member(v, x.Name, x.P)
	case *SubExpr:
		vals, err := sh.eval(x.Script, scope)
		if err != nil {
			return nil, err
		}
		return collapse(vals), nil
	case *Cast:
		v, err := sh.expr(x.X, scope)
		if err != nil {
			return nil, err
		}
		out, err := cast(x.Type, v)
		if err != nil {
			return nil, &Error{Pos: x.P, Err: err}
		}
		return out, nil
	case *StaticCall:
		args, err := sh.exprs(x.Args, scope)
		if err != nil {
			return nil, err
		}
		out, err := sh.static(x, args)
		if err != nil {
			return nil, &Error{Pos: x.P, Err: err}
		}
		return out, nil
	case *MethodCall:
		v, err := sh.expr(x.X, scope)
		if err != nil {
			return nil, err
		}
		args, err := sh.exprs(x.Args, scope)
		if err != nil {
			return nil, err
		}
		out, err := method(v, x.Name, args)
		if err != nil {
			return nil, &Error{Pos: x.P, Err: err}
		}
		return out, nil
	case *List:
		out := make([]any, 0, len(x.Items))
		for _, it := range x.Items {
			v, err := sh.expr(it, scope)
			if err != nil {
				return nil, err
			}
			out = append(out, v)
		}
		return out, nil
	case *Block:
		return x, nil
	case *ArrayExpr:
		vals, err := sh.eval(x.Script, scope)
		if err != nil {
			return nil, err
		}
		return append([]any{}, vals...), nil
	case *Hashtable:
		h := &HashValue{}
		for i, k := range x.Keys {
			v, err := sh.expr(x.Vals[i], scope)
			if err != nil {
				return nil, err
			}
			if _, dup := h.Get(k); dup {
				return nil, &Error{Pos: x.P, Err: fmt.Errorf("key %q is given twice in '@{'", k)}
			}
			h.Keys, h.Vals = append(h.Keys, k), append(h.Vals, v)
		}
		return h, nil
	case *Not:
		v, err := sh.expr(x.X, scope)
		if err != nil {
			return nil, err
		}
		return !truthy(v), nil
	case *Binary:
		l, err := sh.expr(x.L, scope)
		if err != nil {
			return nil, err
		}
		switch x.Op {
		case "and":
			if !truthy(l) {
				return false, nil
			}
			r, err := sh.expr(x.R, scope)
			return truthy(r), err
		case "or":
			if truthy(l) {
				return true, nil
			}
			r, err := sh.expr(x.R, scope)
			return truthy(r), err
		}
		r, err := sh.expr(x.R, scope)
		if err != nil {
			return nil, err
		}
		if x.Op == "xor" {
			return truthy(l) != truthy(r), nil
		}
		ok, err := compare(x.Op, l, r)
		if err != nil {
			return nil, &Error{Pos: x.P, Err: err}
		}
		return ok, nil
	}
	return nil, fmt.Errorf("unknown expression %T", e)
}

func (sh *Shell) variable(name string, p Pos, scope map[string]any) (any, error) {
	switch strings.ToLower(name) {
	case "true":
		return true, nil
	case "false":
		return false, nil
	case "null":
		return nil, nil
	}
	if scope != nil {
		if v, ok := scope[strings.ToLower(name)]; ok {
			return v, nil
		}
	}
	if v, ok := sh.Var(name); ok {
		return v, nil
	}
	if strings.EqualFold(name, "_") {
		return nil, &Error{Pos: p, Err: errors.New("$_ is the current object only inside a script block such as Where-Object { $_.Enabled }")}
	}
	var names []string
	for k := range sh.vars {
		names = append(names, k)
	}
	sort.Strings(names)
	hint := ""
	if s := manage.Closest(names, name); s != "" {
		hint = fmt.Sprintf("; did you mean $%s?", s)
	}
	return nil, &Error{Pos: p, Err: fmt.Errorf("variable $%s is not set%s", name, hint)}
}

// member reads a property; on a list it reads it from every element, as
// PowerShell's member enumeration does.
func member(v any, name string, p Pos) (any, error) {
	switch x := v.(type) {
	case *Object:
		if val, ok := x.Get(name); ok {
			return val, nil
		}
		var names []string
		for _, pr := range x.Props {
			names = append(names, pr.Name)
		}
		hint := ""
		if s := manage.Closest(names, name); s != "" {
			hint = fmt.Sprintf("; did you mean .%s?", s)
		}
		return nil, &Error{Pos: p, Err: fmt.Errorf("%s %q has no property %s%s", x.TypeName, x.identity(), name, hint)}
	case []any:
		if strings.EqualFold(name, "Count") || strings.EqualFold(name, "Length") {
			return formatNumber(float64(len(x))), nil
		}
		var out []any
		for _, e := range x {
			val, err := member(e, name, p)
			if err != nil {
				return nil, err
			}
			out = append(out, flatten(val)...)
		}
		return out, nil
	case string:
		if strings.EqualFold(name, "Length") {
			return formatNumber(float64(len(x))), nil
		}
	case *HashValue:
		if val, ok := x.Get(name); ok {
			return val, nil
		}
		if strings.EqualFold(name, "Count") {
			return formatNumber(float64(len(x.Keys))), nil
		}
		return nil, nil // as PowerShell: a missing key is $null
	case *SecureString:
		if strings.EqualFold(name, "Length") {
			return formatNumber(float64(len(x.text))), nil
		}
	case Bytes:
		if strings.EqualFold(name, "Length") || strings.EqualFold(name, "Count") {
			return formatNumber(float64(len(x))), nil
		}
	case *Credential:
		switch strings.ToLower(name) {
		case "username":
			return x.User, nil
		case "password":
			return &SecureString{text: x.Password}, nil
		}
		return nil, &Error{Pos: p, Err: fmt.Errorf("a PSCredential has the properties UserName and Password, not %s", name)}
	case nil:
		return nil, &Error{Pos: p, Err: fmt.Errorf("cannot read .%s of $null (the command that set the variable returned nothing)", name)}
	}
	if strings.EqualFold(name, "Count") {
		return formatNumber(1), nil
	}
	return nil, &Error{Pos: p, Err: fmt.Errorf("%s has no property %s", display(v), name)}
}

// command resolves, binds and runs one cmdlet.
func (sh *Shell) command(c *Command, input []any, fromPipe bool, scope map[string]any) ([]any, error) {
	cl, err := lookupCmdlet(c.Name)
	if err != nil {
		return nil, &Error{Pos: c.Pos, Err: err}
	}
	call, err := sh.bind(cl, c, scope)
	if err != nil {
		return nil, err
	}
	call.input, call.fromPipe, call.scope = input, fromPipe, scope
	for _, n := range call.order {
		if w := commonWarning(n); w != "" {
			sh.say("WARNING: %s", w)
		}
	}
	out, err := cl.run(sh, call)
	if err != nil {
		var e *Error
		if errors.As(err, &e) {
			return nil, err
		}
		return nil, &Error{Pos: call.errPos(err), Cmdlet: cl.name, Err: err}
	}
	return out, nil
}

// errPos points an error about "-Param ..." at that parameter.
func (c *call) errPos(err error) Pos {
	msg := err.Error()
	for name, p := range c.argPos {
		if len(msg) > len(name)+1 && msg[0] == '-' && strings.EqualFold(msg[1:len(name)+1], name) &&
			strings.ContainsRune(" :", rune(msg[len(name)+1])) {
			return p
		}
	}
	return c.pos
}

// call is one bound cmdlet invocation.
type call struct {
	cmd      *cmdlet
	pos      Pos
	params   map[string]any // canonical name -> value
	order    []string       // parameters in the order given
	argPos   map[string]Pos
	input    []any
	fromPipe bool
	scope    map[string]any
}

func (c *call) has(name string) bool { _, ok := c.params[name]; return ok }

func (c *call) text(name string) (string, bool) {
	v, ok := c.params[name]
	if !ok {
		return "", false
	}
	return toText(v), true
}

// bind matches the arguments to the cmdlet's parameters.
func (sh *Shell) bind(cl *cmdlet, c *Command, scope map[string]any) (*call, error) {
	k := &call{cmd: cl, pos: c.Pos, params: map[string]any{}, argPos: map[string]Pos{}}
	names := cl.paramNames()
	var positional []Arg
	for i := 0; i < len(c.Args); i++ {
		a := c.Args[i]
		if a.Param == "" {
			positional = append(positional, a)
			continue
		}
		name, err := manage.ResolveName(names, a.Param)
		if err != nil {
			return nil, &Error{Pos: a.Pos, Cmdlet: cl.name, Err: err}
		}
		if _, dup := k.params[name]; dup {
			return nil, &Error{Pos: a.Pos, Cmdlet: cl.name, Err: fmt.Errorf("parameter -%s is given twice", name)}
		}
		spec := cl.param(name)
		var v any
		switch {
		case a.Value != nil:
			var err error
			if v, err = sh.expr(a.Value, scope); err != nil {
				return nil, err
			}
		case spec.isSwitch:
			v = true
		default:
			if i+1 >= len(c.Args) || c.Args[i+1].Param != "" {
				return nil, &Error{Pos: a.Pos, Cmdlet: cl.name, Err: fmt.Errorf("parameter -%s needs a value%s", name, spec.example())}
			}
			i++
			var err error
			if v, err = sh.expr(c.Args[i].Value, scope); err != nil {
				return nil, err
			}
		}
		k.params[name] = v
		k.order = append(k.order, name)
		k.argPos[name] = a.Pos
	}
	slots := 0
	for _, a := range positional {
		for slots < len(cl.positional) && k.has(cl.positional[slots]) {
			slots++
		}
		if slots >= len(cl.positional) {
			what := "no value by position"
			if len(cl.positional) > 0 {
				what = "only -" + strings.Join(cl.positional, ", -") + " by position"
			}
			v, _ := sh.expr(a.Value, scope)
			return nil, &Error{Pos: a.Pos, Cmdlet: cl.name, Err: fmt.Errorf("unexpected argument %q: %s takes %s; name the parameter, e.g. -Name value", display(v), cl.name, what)}
		}
		v, err := sh.expr(a.Value, scope)
		if err != nil {
			return nil, err
		}
		name := cl.positional[slots]
		k.params[name] = v
		k.order = append(k.order, name)
		k.argPos[name] = a.Pos
	}
	return k, nil
}
