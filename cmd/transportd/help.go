package main

import (
	"fmt"
	"io"
	"strings"

	"github.com/transportd/transportd/transport/admin/manage"
	"github.com/transportd/transportd/transport/admin/shell"
)

// nounSpec is one noun of the noun-verb commands with its actions. It is
// the one list that `transportd help`, `transportd NOUN -h`, the "unknown
// command" and "which action?" messages are built from.
type nounSpec struct {
	name    string
	aliases []string
	what    string // shown in `transportd help`
	verbs   []verbSpec
}

// verbSpec is one action of a noun.
type verbSpec struct {
	name    string
	aliases []string
	cmdlet  string // the Exchange shell cmdlet with the same parameters, or ""
	usage   string // the parameters, for commands without a cmdlet
	extra   string // parameters the noun-verb command adds to the cmdlet's
}

const getExtra = "    -Fields a,b                     only these properties\n" +
	"    -Format list|table|json         list, table, or a JSON array (always an array, also for one object or none)\n"

const pipeExtra = "    (without -Identity)             the identities are read from a JSON pipe: ... get -format json | transportd NOUN set ...\n"

// nouns lists every noun-verb command, in the order `transportd help` shows them.
func nouns() []nounSpec {
	return []nounSpec{
		{name: "connector", aliases: []string{"receiveconnector"}, what: "receive connectors (Get/Set/New/Remove-ReceiveConnector)", verbs: []verbSpec{
			{name: "get", cmdlet: "Get-ReceiveConnector", extra: getExtra + "    -ClientSettings                 what a POP3/IMAP user needs to submit through the connector\n"},
			{name: "set", cmdlet: "Set-ReceiveConnector", extra: pipeExtra},
			{name: "new", cmdlet: "New-ReceiveConnector"},
			{name: "remove", cmdlet: "Remove-ReceiveConnector", extra: pipeExtra},
		}},
		{name: "sendconnector", what: "send connectors to smart hosts or by MX (Get/Set/New/Remove-SendConnector)", verbs: []verbSpec{
			{name: "get", cmdlet: "Get-SendConnector", extra: getExtra},
			{name: "set", cmdlet: "Set-SendConnector", extra: pipeExtra},
			{name: "new", cmdlet: "New-SendConnector"},
			{name: "remove", cmdlet: "Remove-SendConnector", extra: pipeExtra},
		}},
		{name: "cert", aliases: []string{"certificate", "exchangecertificate"}, what: "certificates (Get/New/Import/Enable/Remove-ExchangeCertificate)", verbs: []verbSpec{
			{name: "get", cmdlet: "Get-ExchangeCertificate", extra: getExtra},
			{name: "new", cmdlet: "New-ExchangeCertificate"},
			{name: "import", cmdlet: "Import-ExchangeCertificate"},
			{name: "enable", cmdlet: "Enable-ExchangeCertificate"},
			{name: "remove", cmdlet: "Remove-ExchangeCertificate"},
		}},
		{name: "accepteddomain", what: "accepted domains (Get/Set/New/Remove-AcceptedDomain)", verbs: []verbSpec{
			{name: "get", cmdlet: "Get-AcceptedDomain", extra: getExtra},
			{name: "set", cmdlet: "Set-AcceptedDomain", extra: pipeExtra},
			{name: "new", cmdlet: "New-AcceptedDomain"},
			{name: "remove", cmdlet: "Remove-AcceptedDomain", extra: pipeExtra},
		}},
		{name: "mailbox", what: "mailboxes; -Password - reads the password from stdin (Get/Set/New/Remove-Mailbox)", verbs: []verbSpec{
			{name: "get", cmdlet: "Get-Mailbox", extra: getExtra},
			{name: "set", cmdlet: "Set-Mailbox", extra: pipeExtra},
			{name: "new", cmdlet: "New-Mailbox"},
			{name: "remove", cmdlet: "Remove-Mailbox", extra: pipeExtra},
		}},
		{name: "transportconfig", what: "retries, expiry, delivery settings (Get/Set-TransportConfig)", verbs: []verbSpec{
			{name: "get", cmdlet: "Get-TransportConfig", extra: getExtra},
			{name: "set", cmdlet: "Set-TransportConfig"},
		}},
		{name: "queue", what: "delivery queues of the running daemon (Get-Queue, Retry-Queue)", verbs: []verbSpec{
			{name: "get", cmdlet: "Get-Queue", extra: getExtra},
			{name: "retry", cmdlet: "Retry-Queue"},
		}},
		{name: "message", what: "queued messages of the running daemon (Get/Suspend/Resume/Remove-Message)", verbs: []verbSpec{
			{name: "get", cmdlet: "Get-Message", extra: getExtra},
			{name: "suspend", cmdlet: "Suspend-Message"},
			{name: "resume", cmdlet: "Resume-Message"},
			{name: "remove", cmdlet: "Remove-Message"},
		}},
		{name: "trackinglog", aliases: []string{"messagetrackinglog"}, what: "message tracking search (Get-MessageTrackingLog)", verbs: []verbSpec{
			{name: "get", cmdlet: "Get-MessageTrackingLog", extra: getExtra},
		}},
		{name: "test", what: "check submission end to end (Test-SmtpConnectivity)", verbs: []verbSpec{
			{name: "smtp", aliases: []string{"smtpconnectivity"}, usage: "transportd test smtp: connects as a client and checks the greeting name, STARTTLS, the served\n" +
				"certificate, AUTH, a test submission and its delivery; one PASS/FAIL/WARN line per step, exit 1 on failure.\n\n" +
				"PARAMETERS\n" +
				"    -Identity NAME                  a receive connector of this server (wildcards * allowed)\n" +
				"    -Server HOST:PORT               any server instead of a connector\n" +
				"    -Fqdn NAME                      the name the greeting and certificate must carry (default: the connector's Fqdn)\n" +
				"    -Mailbox USER                   log on and submit a test message as this mailbox\n" +
				"    -Password -                     the mailbox password, read from standard input\n"},
		}},
	}
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
	out := []string{"run", "help", "shell"}
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
		if what == "" {
			what = "see transportd " + n.name + " " + v.name + " -h"
		}
		fmt.Fprintf(&sb, "  transportd %s %-10s %s\n", n.name, v.name, what)
	}
	fmt.Fprintf(&sb, "\ntransportd %s VERB -h shows the parameters of one action.\n", n.name)
	return sb.String()
}

// verbHelp is `transportd NOUN VERB -h`: the parameters, from the shell
// cmdlet that runs the same operation, plus those the noun-verb form adds.
func verbHelp(n nounSpec, v verbSpec) (string, error) {
	if v.cmdlet == "" {
		return v.usage, nil
	}
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
	if v.extra != "" {
		fmt.Fprintf(&sb, "\nTRANSPORTD %s %s ALSO TAKES\n", strings.ToUpper(n.name), strings.ToUpper(v.name))
		sb.WriteString(strings.ReplaceAll(v.extra, "NOUN", n.name))
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
