package main

import (
	"fmt"
	"io"
	"strings"

	"github.com/transportd/transportd/transport/admin/manage"
	"github.com/transportd/transportd/transport/admin/registry"
	"github.com/transportd/transportd/transport/admin/shell"
)

// nounSpec is one noun of the noun-verb commands with its actions: a kind
// of the admin registry, from which `transportd help`, `transportd NOUN -h`,
// the "unknown command" and "which action?" messages are built.
type nounSpec struct {
	name    string
	aliases []string
	what    string // shown in `transportd help`
	verbs   []verbSpec
	kind    *registry.Kind
}

// verbSpec is one action of a noun.
type verbSpec struct {
	name    string
	aliases []string
	cmdlet  string // the Exchange shell cmdlet with the same parameters
	cmd     *registry.Command
}

// nouns lists every noun-verb command, in the order `transportd help` shows them.
func nouns() []nounSpec {
	var out []nounSpec
	for _, k := range registry.Kinds() {
		n := nounSpec{name: k.Noun, aliases: k.Aliases, what: k.What, kind: k}
		for _, c := range k.Commands {
			n.verbs = append(n.verbs, verbSpec{name: c.Verb, aliases: c.VerbAliases, cmdlet: c.Cmdlet, cmd: c})
		}
		out = append(out, n)
	}
	return out
}

// findNoun returns the noun called name (or one of its aliases).
func findNoun(name string) (nounSpec, bool) {
	for _, n := range nouns() {
		if strings.EqualFold(n.name, name) || containsFold(n.aliases, name) {
			return n, true
		}
	}
	return nounSpec{}, false
}

func (n nounSpec) verb(name string) (verbSpec, bool) {
	for _, v := range n.verbs {
		if strings.EqualFold(v.name, name) || containsFold(v.aliases, name) {
			return v, true
		}
	}
	return verbSpec{}, false
}

func (n nounSpec) verbNames() []string {
	var out []string
	for _, v := range n.verbs {
		out = append(out, v.name)
	}
	return out
}

// commandNames are the first words transportd knows.
func commandNames() []string {
	out := []string{"run", "help", "shell", "sendmail", "install", "install-sendmail"}
	for _, n := range nouns() {
		out = append(out, n.name)
	}
	return out
}

// unknownCommand is the error for a first word that is no command.
func unknownCommand(word string) error {
	if s := manage.Closest(commandNames(), word); s != "" {
		return fmt.Errorf("unknown command %q; did you mean %q? (transportd help lists the commands)", word, s)
	}
	return fmt.Errorf("unknown command %q (transportd help lists the commands: %s)", word, strings.Join(commandNames(), ", "))
}

// unknownVerb is the error for an action the noun does not have.
func unknownVerb(n nounSpec, verb string) error {
	hint := ""
	if s := manage.Closest(n.verbNames(), verb); s != "" {
		hint = fmt.Sprintf("; did you mean %q?", s)
	}
	what := "action"
	if n.name == "test" {
		what = "test"
	}
	return fmt.Errorf("unknown %s %q for %s%s (%s takes %s)", what, verb, n.name, hint, n.name, strings.Join(n.verbNames(), ", "))
}

// isHelpFlag reports whether a is -h, -?, -Help or --help.
func isHelpFlag(a string) bool {
	switch strings.ToLower(a) {
	case "-h", "--h", "-?", "-help", "--help":
		return true
	}
	return false
}

// usage is `transportd help`: every command, built from nouns().
func usage() string {
	var sb strings.Builder
	sb.WriteString("transportd: an Exchange-style mail transfer agent.\n\n")
	line := func(cmd, what string) {
		fmt.Fprintf(&sb, "  %-48s %s\n", cmd, what)
	}
	line("transportd [run] [-config PATH]", "run the daemon")
	for _, n := range nouns() {
		line("transportd "+n.name+" "+strings.Join(n.verbNames(), "|"), n.what)
	}
	line("transportd shell [-c SCRIPT | FILE.ps1]", "the Exchange Management Shell (Get-ReceiveConnector | Format-List ...)")
	line("transportd sendmail [-t] [-i] [-f ADDR] [RCPT...]", "the sendmail command line (cron, PHP mail(), git send-email)")
	line("transportd install-sendmail [-force]", "link /usr/sbin/sendmail to transportd")
	line("transportd install [-user transportd]", "create the service user, folders and systemd unit")
	line("transportd help", "this text; transportd NOUN VERB -h shows a command's parameters")
	sb.WriteString(`
Every get takes -fields a,b and -format list|table|json (json is always an array); set and
remove read the identities from a JSON pipe: transportd connector get -format json | transportd connector set -fqdn x

Parameters are Exchange's names with one dash, in any case: -Identity "Client Frontend*" -Fqdn mail.contoso.com.
Booleans take $true/$false. The config file is -config PATH, else $TRANSPORTD_CONFIG, else
/etc/transportd/transportd.yaml (root) or ~/.config/transportd/transportd.yaml.
`)
	return sb.String()
}

// nounHelp is `transportd NOUN -h`: the noun's actions.
func nounHelp(n nounSpec) string {
	var sb strings.Builder
	fmt.Fprintf(&sb, "transportd %s: %s\n\n", n.name, n.what)
	for _, v := range n.verbs {
		what := v.cmdlet
		fmt.Fprintf(&sb, "  transportd %s %-10s %s\n", n.name, v.name, what)
	}
	fmt.Fprintf(&sb, "\ntransportd %s VERB -h shows the parameters of one action.\n", n.name)
	return sb.String()
}

// verbHelp is `transportd NOUN VERB -h`: the parameters, from the shell
// cmdlet that runs the same operation, plus those the noun-verb form adds.
func verbHelp(n nounSpec, v verbSpec) (string, error) {
	text, err := shell.Help(v.cmdlet, "")
	if err != nil {
		return "", err
	}
	var sb strings.Builder
	fmt.Fprintf(&sb, "transportd %s %s: the shell's %s, with the same parameters.\n\n", n.name, v.name, v.cmdlet)
	sb.WriteString(text)
	if !strings.HasSuffix(text, "\n") {
		sb.WriteString("\n")
	}
	var extra []string
	if v.cmd.Records {
		for _, p := range registry.ViewParams {
			extra = append(extra, fmt.Sprintf("    %-31s %s\n", "-"+p.Name+" "+p.Value, p.Help))
		}
	}
	if v.cmd.Pipe && !v.cmd.Records {
		extra = append(extra, fmt.Sprintf("    %-31s %s\n", "(without -Identity)",
			"the identities are read from a JSON pipe: ... get -format json | transportd "+n.name+" "+v.name+" ..."))
	}
	if len(extra) > 0 {
		fmt.Fprintf(&sb, "\nTRANSPORTD %s %s ALSO TAKES\n", strings.ToUpper(n.name), strings.ToUpper(v.name))
		sb.WriteString(strings.Join(extra, ""))
	}
	return sb.String(), nil
}

// printHelp writes the help for args (a noun and perhaps a verb).
func printHelp(out io.Writer, args []string) error {
	if len(args) == 0 {
		fmt.Fprint(out, usage())
		return nil
	}
	if strings.EqualFold(args[0], "shell") {
		fmt.Fprint(out, shellUsage)
		return nil
	}
	switch strings.ToLower(args[0]) {
	case "sendmail":
		fmt.Fprint(out, sendmailUsage)
		return nil
	case "install":
		fmt.Fprint(out, installUsage)
		return nil
	case "install-sendmail":
		fmt.Fprint(out, installSendmailUsage)
		return nil
	}
	if strings.EqualFold(args[0], "run") {
		fmt.Fprint(out, "transportd [run] [-config PATH]: runs the daemon on the configuration file (created with the defaults when missing).\n")
		return nil
	}
	n, ok := findNoun(args[0])
	if !ok {
		return unknownCommand(args[0])
	}
	if len(args) == 1 {
		fmt.Fprint(out, nounHelp(n))
		return nil
	}
	v, ok := n.verb(args[1])
	if !ok {
		return unknownVerb(n, args[1])
	}
	text, err := verbHelp(n, v)
	if err != nil {
		return err
	}
	fmt.Fprint(out, text)
	return nil
}
