// Package registry declares, once, every kind of object transportd manages
// (receive connector, send connector, accepted domain, mailbox, certificate,
// transport configuration, transport service, queue, message, permission, tracking log, the
// SMTP self-test): its noun, its Exchange type and cmdlet names, its
// parameters with their help, its default table columns and its
// operations.
//
// The Exchange shell's cmdlets (transport/admin/shell), the noun-verb
// commands of cmd/transportd (`transportd connector set ...`), Get-Help,
// `transportd NOUN VERB -h`, `transportd help` and tab completion are all
// generated from Kinds, so that adding a parameter or a command is one
// declaration here.
package registry

import (
	"context"
	"fmt"
	"io"
	"reflect"
	"slices"
	"strings"

	"github.com/transportd/transportd/policies/value"
	"github.com/transportd/transportd/transport/admin/manage"
)

// Param is one parameter of a command.
type Param struct {
	// Name is Exchange's parameter name, e.g. "TlsCertificateName".
	Name string
	// Switch marks a parameter that takes no value (-Force).
	Switch bool
	// Help says what the parameter takes, for Get-Help and -h.
	Help string
	// Value, when set, shows the form of the value in help ("a,b").
	Value string

	// Multi marks a multi-valued parameter, which also takes Exchange's
	// @{Add="x"; Remove="y"} to change the current value.
	Multi bool
}

// Env is what an operation runs with: the configuration, the daemon, the
// admin's terminal.
type Env struct {
	// Ctx bounds long-running operations (the SMTP self-test, daemon calls).
	Ctx context.Context
	// Manager edits the configuration file.
	Manager *manage.Manager
	// ReadPassword reads a password given as "-" (standard input), or is nil.
	ReadPassword func() (string, error)
	// Control calls the running daemon; nil dials its control socket.
	Control func(ctx context.Context, op string, args, out any) error
	// Out receives sentences for the admin ("Changed 1 receive connector.").
	Out io.Writer
}

func (e *Env) ctx() context.Context {
	if e.Ctx != nil {
		return e.Ctx
	}
	return context.Background()
}

func (e *Env) say(format string, args ...any) {
	if e.Out != nil {
		fmt.Fprintf(e.Out, format+"\n", args...)
	}
}

// Request is one invocation of a command.
type Request struct {
	// Identities name the objects: the identity parameter's value, or the
	// identities of the objects piped in. Empty when neither was given.
	Identities []string
	// FromPipe tells that Identities came from a pipeline.
	FromPipe bool
	// Params are the other parameters given, with their declared names, in
	// the order given (the common parameters are left out).
	Params manage.Params

	// Server is the cluster member -Server named (issue 14), for the
	// daemon's queue and message operations; "" for every member, and
	// always "" on a single server.
	Server string
}

// Identity is the single identity of a command that takes at most one, or "".
func (r Request) Identity() string {
	if len(r.Identities) == 0 {
		return ""
	}
	return r.Identities[0]
}

// Command is one operation: an Exchange cmdlet and the noun-verb command
// that runs it.
type Command struct {
	// Verb is the noun-verb command's action ("get"); VerbAliases others.
	Verb        string
	VerbAliases []string
	// Cmdlet is the Exchange cmdlet ("Get-ReceiveConnector").
	Cmdlet        string
	CmdletAliases []string
	// Synopsis is one sentence for Get-Help and transportd NOUN -h.
	Synopsis string
	// Params are the parameters, identity first.
	Params []Param
	// Positional are the parameters that may be given by position, in order.
	Positional []string
	// IdentityParams carry Request.Identities (Identity, or Thumbprint and
	// Identity for certificates); the first one given wins.
	IdentityParams []string
	// PipeProperty is the property of a piped object that names it, when
	// not its Identity (Thumbprint for certificates).
	PipeProperty string
	// Pipe tells that the command acts on objects piped into it when no
	// identity parameter is given (Set-X, Remove-X, Retry-Queue, ...).
	Pipe bool
	// Records tells that the command returns objects (get, new, ...);
	// the noun-verb form then takes -Fields and -Format.
	Records bool
	// List tells the noun-verb form to print the records as a list (every
	// property) rather than the kind's table; nil: a table.
	List func(r Request) bool
	// Print, when set, makes the noun-verb form print only this property
	// of each record (New-ExchangeCertificate prints the thumbprint).
	Print string
	// Empty is what the noun-verb form prints when nothing matched.
	Empty string
	// Type, when set, names the object type of the records for this
	// request when it is not the kind's (connector get -ClientSettings).
	Type func(r Request) string
	// Run does it.
	Run func(env *Env, r Request) ([]manage.Record, error)

	// sharedServer and sharedWhatIf are set when withShared added -Server
	// and -WhatIf, which Do then acts on.
	sharedServer, sharedWhatIf bool
}

// ParamNames lists the command's parameters, without the common ones.
func (c *Command) ParamNames() []string {
	out := make([]string, 0, len(c.Params))
	for _, p := range c.Params {
		out = append(out, p.Name)
	}
	return out
}

// Param returns the declared parameter called name (exact, any case).
func (c *Command) Param(name string) (Param, bool) {
	for _, p := range c.Params {
		if strings.EqualFold(p.Name, name) {
			return p, true
		}
	}
	for _, p := range CommonParams {
		if strings.EqualFold(p.Name, name) {
			return p, true
		}
	}
	return Param{}, false
}

// Do runs the command. The request stays as it was (operations take their
// parameters from a copy), so that List and TypeName can look at it after.
func (c *Command) Do(env *Env, r Request) ([]manage.Record, error) {
	r.Params = slices.Clone(r.Params)
	r.Identities = slices.Clone(r.Identities)
	if _, ok := r.Params.TakeExact("DomainController"); ok {
		env.warn("%s", DomainControllerWarning)
	}
	if done, err := c.shared(env, &r); done || err != nil {
		return nil, err
	}
	oc := c.beforeOrgChange(env) // issue 14: a cluster member's change
	recs, err := c.Run(env, r)
	if err == nil && oc != nil {
		err = oc.confirm(env)
	}
	return recs, err
}

// TypeName is the object type of what c returns for r in kind k.
func (c *Command) TypeName(k *Kind, r Request) string {
	if c.Type != nil {
		return c.Type(r)
	}
	return k.TypeName
}

// Kind is one kind of object with its commands.
type Kind struct {
	// Noun is the noun-verb command's noun ("connector"); Aliases others.
	Noun    string
	Aliases []string
	// What is the line `transportd help` shows for the noun.
	What string
	// TypeName is the Exchange object type ("ReceiveConnector").
	TypeName string
	// Columns are the default table columns (Format-Table, and the
	// noun-verb get); none: the objects are shown as a list.
	Columns []string
	// Commands are the operations, in the order help shows them.
	Commands []*Command
}

// Command returns the command whose verb (or alias) is verb.
func (k *Kind) Command(verb string) (*Command, bool) {
	for _, c := range k.Commands {
		if strings.EqualFold(c.Verb, verb) || containsFold(c.VerbAliases, verb) {
			return c, true
		}
	}
	return nil, false
}

// Verbs lists the kind's verbs in order.
func (k *Kind) Verbs() []string {
	out := make([]string, 0, len(k.Commands))
	for _, c := range k.Commands {
		out = append(out, c.Verb)
	}
	return out
}

// CommonParams are accepted by every command, as in PowerShell, and ignored.
var CommonParams = []Param{
	{Name: "Confirm", Switch: true, Help: "accepted for scripts; transportd does not ask"},
	{Name: "Verbose", Switch: true, Help: "accepted for scripts"},
	{Name: "ErrorAction", Help: "accepted for scripts"},
	{Name: "WarningAction", Help: "accepted for scripts"},
	{Name: "DomainController", Help: "accepted with a warning; there is no Active Directory"},
}

// DomainControllerWarning is the one line -DomainController gets: the
// parameter is accepted, so that Microsoft's scripts run, but has no
// meaning on Linux.
const DomainControllerWarning = "there is no Active Directory; -DomainController ignored"

// CommonWarning returns the warning a common parameter gets when given,
// or "" for one that is silently accepted.
func CommonWarning(name string) string {
	if strings.EqualFold(name, "DomainController") {
		return DomainControllerWarning
	}
	return ""
}

// IsCommon reports whether name is one of CommonParams (exact, any case).
func IsCommon(name string) bool {
	for _, p := range CommonParams {
		if strings.EqualFold(p.Name, name) {
			return true
		}
	}
	return false
}

// ViewParams are the output parameters every noun-verb command that
// returns objects adds (the shell has Format-List and Select-Object).
var ViewParams = []Param{
	{Name: "Fields", Value: "a,b", Help: "only these properties"},
	{Name: "Format", Value: "list|table|json", Help: "list, table, or a JSON array (always an array, also for one object or none)"},
}

// Kinds returns every kind, in the order `transportd help` shows them. It
// is built on each call (microseconds), so there is no package state.
func Kinds() []*Kind {
	return withShared([]*Kind{
		receiveConnectorKind(),
		sendConnectorKind(),
		certificateKind(),
		acceptedDomainKind(),
		mailboxKind(),
		transportConfigKind(),
		transportServiceKind(),
		queueKind(),
		messageKind(),
		trackingLogKind(),
		permissionKind(),
		testKind(),
		protocolSettingsKind(manage.ProtocolPop),
		protocolSettingsKind(manage.ProtocolImap),
		dkimKind(),                   // issue 13
		dnsKind(),                    // issue 13
		blockListProviderKind(),      // issue 13: connection filtering
		ipListKind(manage.BlockList), // issue 13: connection filtering
		ipListKind(manage.AllowList), // issue 13: connection filtering
		blockListConfigKind(),        // issue 13: connection filtering
		allowListConfigKind(),        // issue 13: connection filtering
		providersConfigKind(),        // issue 13: connection filtering
		adminKind(),                  // issue 15: the admin center
		roleGroupKind(),              // issue 15: the admin center
		clusterKind(),                // issue 14: cluster
	})
}

// FindNoun returns the kind whose noun (or alias) is name.
func FindNoun(name string) (*Kind, bool) {
	for _, k := range Kinds() {
		if strings.EqualFold(k.Noun, name) || containsFold(k.Aliases, name) {
			return k, true
		}
	}
	return nil, false
}

// FindCmdlet returns the command whose cmdlet name (or alias) is name,
// with its kind.
func FindCmdlet(name string) (*Kind, *Command, bool) {
	for _, k := range Kinds() {
		for _, c := range k.Commands {
			if strings.EqualFold(c.Cmdlet, name) || containsFold(c.CmdletAliases, name) {
				return k, c, true
			}
		}
	}
	return nil, nil, false
}

// Nouns lists the nouns in order.
func Nouns() []string {
	var out []string
	for _, k := range Kinds() {
		out = append(out, k.Noun)
	}
	return out
}

func containsFold(list []string, s string) bool {
	for _, x := range list {
		if strings.EqualFold(x, s) {
			return true
		}
	}
	return false
}

// ---- declaring parameters ----

func sw(name, help string) Param  { return Param{Name: name, Switch: true, Help: help} }
func val(name, help string) Param { return Param{Name: name, Help: help} }

func params(list ...any) []Param {
	var out []Param
	for _, x := range list {
		switch v := x.(type) {
		case Param:
			out = append(out, v)
		case []Param:
			out = append(out, v...)
		}
	}
	return out
}

// FieldParams turns the exported fields of a configuration struct into
// parameters, with what each accepts: a field added to the struct is a
// parameter of Set-X and New-X without another edit.
func FieldParams(v any, skip ...string) []Param {
	rt := reflect.Indirect(reflect.ValueOf(v)).Type()
	var out []Param
	for i := range rt.NumField() {
		f := rt.Field(i)
		if !f.IsExported() || strings.HasPrefix(f.Tag.Get("yaml"), "-") || containsFold(skip, f.Name) {
			continue
		}
		help := f.Tag.Get("help") // a field may say what it takes and does
		if help == "" {
			help = typeHelp(f.Type)
		}
		out = append(out, Param{Name: f.Name, Help: help, Multi: multiType(f.Type)})
	}
	return out
}

// typeHelp says what a parameter of type t accepts.
func typeHelp(t reflect.Type) string {
	switch t {
	case reflect.TypeOf(value.ByteSize(0)):
		return "a size such as 36MB or 35840KB"
	case reflect.TypeOf(value.TimeSpan(0)):
		return "a time span [d.]hh:mm:ss such as 00:10:00 or 2.00:00:00"
	case reflect.TypeOf(value.Unlimited(0)):
		return "a whole number or Unlimited"
	}
	switch t.Kind() {
	case reflect.Bool:
		return "$true or $false"
	case reflect.Int, reflect.Int32, reflect.Int64:
		return "a whole number"
	case reflect.Slice:
		return "a comma-separated list, or @{Add=\"x\"; Remove=\"y\"} to change the current one"
	}
	switch t.Name() {
	case "Groups":
		return "None, AnonymousUsers, ExchangeUsers, ExchangeServers, ExchangeLegacyServers, Partners"
	case "Mechanisms":
		return "None, Tls, BasicAuth, BasicAuthRequireTLS, ..."
	case "Secret":
		return "a secret; - reads it from standard input; never shown"
	}
	return "text"
}

// ---- helpers for operations ----

func plural(n int, kind string) string {
	if n == 1 {
		return fmt.Sprintf("1 %s", kind)
	}
	return fmt.Sprintf("%d %ss", n, kind)
}

// needIdentities is the error for a command that acts on objects and got none.
func needIdentities(r Request, param, cmdlet string) error {
	if r.FromPipe {
		return fmt.Errorf("nothing came down the pipeline to act on")
	}
	return fmt.Errorf("-%s is required (wildcards * allowed), or pipe objects into %s", param, cmdlet)
}

// byIdentity shows the records as a list when an identity was given (one
// object asked for: every property), else as a table.
func byIdentity(r Request) bool { return len(r.Identities) > 0 }

func always(Request) bool { return true }

// localIdentity accepts Exchange's "SERVER\Name" form for this server.
func localIdentity(m *manage.Manager, id string) string {
	srv, rest, ok := strings.Cut(id, `\`)
	if !ok {
		return id
	}
	cfg, err := m.Load()
	if err == nil && strings.EqualFold(cfg.Server.Name, srv) {
		return rest
	}
	return id
}

func localIdentities(m *manage.Manager, ids []string) []string {
	out := make([]string, len(ids))
	for i, id := range ids {
		out[i] = localIdentity(m, id)
	}
	return out
}
