package web

import (
	"bytes"
	"context"
	"errors"
	"fmt"
	"regexp"
	"strings"
	"time"

	"github.com/transportd/transportd/transport/admin/manage"
	"github.com/transportd/transportd/transport/admin/registry"
	"github.com/transportd/transportd/transport/admin/shell"
)

// Cmd is one shell command line a page runs: a cmdlet and its parameters,
// in the order given. String prints it as an admin would type it in
// `transportd shell`, quoted so that it runs as shown.
type Cmd struct {
	Cmdlet string
	// Pipe, when set, is a command whose objects are piped into this one
	// (Get-ReceiveConnector X | Add-ADPermission ...).
	Pipe *Cmd
	args []arg
	// secrets answer the line's "-Password -" parameters (see Secret).
	secrets []string
}

type argKind int

const (
	argText argKind = iota
	argRaw          // $true, $false, a number
	argList
	argSwitch
)

type arg struct {
	name  string
	kind  argKind
	value string
	list  []string
}

// NewCmd starts a command line for cmdlet.
func NewCmd(cmdlet string) *Cmd { return &Cmd{Cmdlet: cmdlet} }

// Id adds -Identity.
func (c *Cmd) Id(identity string) *Cmd { return c.Text("Identity", identity) }

// Text adds a parameter with a text value.
func (c *Cmd) Text(name, value string) *Cmd {
	c.args = append(c.args, arg{name: name, kind: argText, value: value})
	return c
}

// Bool adds a parameter with $true or $false.
func (c *Cmd) Bool(name string, b bool) *Cmd {
	v := "$false"
	if b {
		v = "$true"
	}
	c.args = append(c.args, arg{name: name, kind: argRaw, value: v})
	return c
}

// List adds a multi-valued parameter ('a','b').
func (c *Cmd) List(name string, values []string) *Cmd {
	c.args = append(c.args, arg{name: name, kind: argList, list: values})
	return c
}

// Switch adds a switch parameter (-Force).
func (c *Cmd) Switch(name string) *Cmd {
	c.args = append(c.args, arg{name: name, kind: argSwitch})
	return c
}

// Empty reports whether the command has no parameters besides -Identity.
func (c *Cmd) Empty() bool {
	for _, a := range c.args {
		if !strings.EqualFold(a.name, "Identity") {
			return false
		}
	}
	return true
}

// Identity returns the -Identity value, or "".
func (c *Cmd) Identity() string {
	for _, a := range c.args {
		if strings.EqualFold(a.name, "Identity") || strings.EqualFold(a.name, "Name") {
			return a.value
		}
	}
	if c.Pipe != nil {
		return c.Pipe.Identity()
	}
	return ""
}

var numberRE = regexp.MustCompile(`^[0-9]+$`)

// Quote quotes s for the shell: single quotes, a quote inside doubled
// ('O”Brien'), so that nothing in it ($, `, ") is expanded.
func Quote(s string) string {
	return "'" + strings.ReplaceAll(s, "'", "''") + "'"
}

// String is the line as typed in the shell.
func (c *Cmd) String() string {
	var b strings.Builder
	if c.Pipe != nil {
		b.WriteString(c.Pipe.String())
		b.WriteString(" | ")
	}
	b.WriteString(c.Cmdlet)
	for _, a := range c.args {
		b.WriteString(" -")
		b.WriteString(a.name)
		switch a.kind {
		case argText:
			b.WriteByte(' ')
			if numberRE.MatchString(a.value) {
				b.WriteString(a.value)
			} else {
				b.WriteString(Quote(a.value))
			}
		case argRaw:
			b.WriteByte(' ')
			b.WriteString(a.value)
		case argList:
			b.WriteByte(' ')
			if len(a.list) == 0 {
				b.WriteString("$null")
			}
			for i, v := range a.list {
				if i > 0 {
					b.WriteByte(',')
				}
				b.WriteString(Quote(v))
			}
		}
	}
	return b.String()
}

// request is the registry request of a command without a pipe (for reads).
func (c *Cmd) request(cmd *registry.Command) registry.Request {
	var r registry.Request
	for _, a := range c.args {
		if containsFold(cmd.IdentityParams, a.name) && a.kind == argText {
			r.Identities = append(r.Identities, a.value)
			continue
		}
		p := manage.Param{Name: a.name}
		switch a.kind {
		case argSwitch:
			p.Switch = true
		case argList:
			p.Value = strings.Join(a.list, ",")
		default:
			p.Value = a.value
		}
		r.Params = append(r.Params, p)
	}
	return r
}

func containsFold(list []string, s string) bool {
	for _, x := range list {
		if strings.EqualFold(x, s) {
			return true
		}
	}
	return false
}

// Result is the outcome of one command line run for the admin.
type Result struct {
	Line string
	OK   bool
	// Output is what the command printed (WARNING: lines included).
	Output string
	// Error is the error, when the command failed.
	Error string
}

// Warnings are the WARNING: lines of the output.
func (r Result) Warnings() []string {
	var out []string
	for _, l := range strings.Split(r.Output, "\n") {
		if strings.HasPrefix(l, "WARNING:") {
			out = append(out, l)
		}
	}
	return out
}

// Run runs the command line through the shell engine, as the signed-in
// user: the same parsing, validation, warnings and errors as
// `transportd shell`. The line goes to the session's command log and,
// as a change, to the admin audit log.
func (c *Context) Run(cmd *Cmd) Result {
	line := cmd.String()
	var out bytes.Buffer
	sh := shell.New(c.srv.opt.ConfigPath, &out)
	sh.Control = c.srv.opt.Control
	cmd.feedSecrets(sh)
	err := sh.Run(line)
	res := Result{Line: line, OK: err == nil, Output: strings.TrimRight(out.String(), "\n")}
	if err != nil {
		res.Error = shellError(err)
	}
	now := c.srv.opt.Now()
	c.srv.sessions.logLine(c.sess, Logged{Time: now, Line: line, OK: res.OK, Output: res.Output + res.Error})
	entry := manage.AuditEntry{RunDate: now.UTC(), Caller: c.User, ClientIP: clientIP(c.R), CmdletName: cmd.Cmdlet,
		CommandLine: line, ObjectModified: cmd.Identity(), Succeeded: res.OK, Error: res.Error, Source: "AdminCenter"}
	if cfg := c.srv.opt.Config(); cfg != nil {
		if aerr := manage.AppendAudit(manage.AuditFile(cfg), entry); aerr != nil {
			c.srv.opt.Log.Error("admin center: the admin audit log could not be written", "err", aerr, "line", line)
		}
	}
	c.srv.opt.Log.Info("admin center change", "user", c.User, "line", line, "ok", res.OK, "err", res.Error)
	return res
}

// shellError is the text of a shell error without the "line 1, column N:" position.
func shellError(err error) string {
	var msgs []string
	var multi interface{ Unwrap() []error }
	errs := []error{err}
	if errors.As(err, &multi) {
		errs = multi.Unwrap()
	}
	for _, e := range errs {
		var se *shell.Error
		if errors.As(e, &se) && se.Err != nil {
			if se.Cmdlet != "" {
				msgs = append(msgs, se.Cmdlet+": "+se.Err.Error())
			} else {
				msgs = append(msgs, se.Err.Error())
			}
			continue
		}
		msgs = append(msgs, e.Error())
	}
	return strings.Join(msgs, "\n")
}

// Query runs a reading command (Get-...) through the admin registry and
// returns its records. It is not logged: it changes nothing.
func (c *Context) Query(cmd *Cmd) ([]manage.Record, error) {
	_, rc, ok := registry.FindCmdlet(cmd.Cmdlet)
	if !ok {
		return nil, fmt.Errorf("no cmdlet %s", cmd.Cmdlet)
	}
	ctx, cancel := context.WithTimeout(c.R.Context(), 30*time.Second)
	defer cancel()
	var out bytes.Buffer
	m := c.Manager()
	m.Warn = func(string) {}
	env := &registry.Env{Ctx: ctx, Manager: m, Control: c.srv.opt.Control, Out: &out}
	return rc.Do(env, cmd.request(rc))
}
