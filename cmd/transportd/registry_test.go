package main

import (
	"io"
	"regexp"
	"slices"
	"sort"
	"strings"
	"testing"

	"github.com/transportd/transportd/transport/admin/manage"
	"github.com/transportd/transportd/transport/admin/shell"
)

// The noun-verb commands, the Exchange shell and `transportd help` are
// generated from one registry, so they list exactly the same commands and
// parameters: every command `transportd help` lists is a noun-verb command
// the CLI runs and a cmdlet of the shell (and back), and every command's
// parameters are the same in `transportd NOUN VERB -h`, the shell's
// Get-Help, the shell's Tab completion and what the CLI accepts.
func TestCLIShellAndHelpListTheSameCommands(t *testing.T) {
	lines := func(text string, re *regexp.Regexp) [][]string {
		return re.FindAllStringSubmatch(text, -1)
	}
	// `transportd help`: "  transportd NOUN verb|verb  what".
	helpCmds := map[string]bool{}
	for _, m := range lines(ok(t, "", "", "help"), regexp.MustCompile(`(?m)^  transportd ([a-z]+) ([a-z|]+) `)) {
		for _, v := range strings.Split(m[2], "|") {
			helpCmds[m[1]+" "+v] = true
		}
	}
	// What the CLI dispatches.
	cliCmds := map[string]bool{}
	for _, n := range nouns() {
		for _, v := range n.verbs {
			cliCmds[n.name+" "+v.name] = true
		}
	}
	if !equalSets(helpCmds, cliCmds) {
		t.Errorf("transportd help lists %v; the CLI runs %v", sorted(helpCmds), sorted(cliCmds))
	}

	// `transportd NOUN -h`: "  transportd NOUN verb   Cmdlet", one cmdlet per command.
	cmdletOf := map[string]string{}
	cmdlets := map[string]bool{}
	for nv := range helpCmds {
		noun, verb, _ := strings.Cut(nv, " ")
		out := ok(t, "", "", noun, "-h")
		m := regexp.MustCompile(`(?m)^  transportd ` + noun + ` ` + verb + ` +(\S+)$`).FindStringSubmatch(out)
		if m == nil {
			t.Errorf("transportd %s -h does not name the cmdlet of %s:\n%s", noun, verb, out)
			continue
		}
		if cmdlets[m[1]] {
			t.Errorf("cmdlet %s runs two noun-verb commands", m[1])
		}
		cmdletOf[nv], cmdlets[m[1]] = m[1], true
	}
	// The shell's cmdlets, its Get-Help list and its completion.
	utility := shell.UtilityCmdletNames()
	shellCmdlets := map[string]bool{}
	for _, c := range shell.CmdletNames() {
		if !slices.Contains(utility, c) {
			shellCmdlets[c] = true
		}
	}
	if !equalSets(cmdlets, shellCmdlets) {
		t.Errorf("the noun-verb commands run %v; the shell has %v", sorted(cmdlets), sorted(shellCmdlets))
	}
	all, err := shell.Help("", "")
	if err != nil {
		t.Fatal(err)
	}
	listed := map[string]bool{}
	for _, m := range lines(all, regexp.MustCompile(`(?m)^  (\S+) `)) {
		if !slices.Contains(utility, m[1]) {
			listed[m[1]] = true
		}
	}
	if !equalSets(listed, shellCmdlets) {
		t.Errorf("Get-Help lists %v; the shell has %v", sorted(listed), sorted(shellCmdlets))
	}
	_, completed, _ := shell.Complete("", 0)
	if !equalSets(set(completed), set(shell.CmdletNames())) {
		t.Errorf("Tab completes the cmdlets %v; the shell has %v", completed, shell.CmdletNames())
	}

	common := set([]string{"Confirm", "Verbose", "ErrorAction", "WarningAction", "DomainController"})
	paramRE := regexp.MustCompile(`(?m)^    -(\w+)`)
	section := func(text, title string) string {
		_, rest, ok := strings.Cut(text, "\n"+title+"\n")
		if !ok {
			return ""
		}
		rest, _, _ = strings.Cut(rest, "\n\n")
		return rest
	}
	names := func(text string) map[string]bool {
		out := map[string]bool{}
		for _, m := range paramRE.FindAllStringSubmatch(text, -1) {
			out[m[1]] = true
		}
		return out
	}
	for nv, cmdlet := range cmdletOf {
		noun, verb, _ := strings.Cut(nv, " ")
		cliHelp := ok(t, "", "", noun, verb, "-h")
		cliParams := names(section(cliHelp, "PARAMETERS"))
		shellHelp, err := shell.Help(cmdlet, "")
		if err != nil {
			t.Errorf("Get-Help %s: %v", cmdlet, err)
			continue
		}
		shellParams := names(section(shellHelp, "PARAMETERS"))
		if !equalSets(cliParams, shellParams) {
			t.Errorf("transportd %s -h lists %v; Get-Help %s lists %v", nv, sorted(cliParams), cmdlet, sorted(shellParams))
		}
		line := cmdlet + " -"
		_, comp, _ := shell.Complete(line, len(line))
		completion := map[string]bool{}
		for _, c := range comp {
			if n := strings.TrimPrefix(c, "-"); !common[n] {
				completion[n] = true
			}
		}
		if !equalSets(completion, shellParams) {
			t.Errorf("Tab completes %v after %s; Get-Help lists %v", sorted(completion), cmdlet, sorted(shellParams))
		}
		// What the noun-verb form adds: -Fields and -Format where it shows objects.
		extra := names(section(cliHelp, "TRANSPORTD "+strings.ToUpper(noun)+" "+strings.ToUpper(verb)+" ALSO TAKES"))
		for p := range extra {
			if p != "Fields" && p != "Format" {
				t.Errorf("transportd %s -h: -%s is not a parameter of %s", nv, p, cmdlet)
			}
		}
		// The CLI binds every listed parameter (and the common ones), and
		// refuses one that is not listed.
		spec, _ := findNoun(noun)
		v, _ := spec.verb(verb)
		var ps manage.Params
		for p := range cliParams {
			ps = append(ps, manage.Param{Name: strings.ToLower(p), Value: "x"})
		}
		for p := range common {
			ps = append(ps, manage.Param{Name: p, Switch: true})
		}
		for p := range extra {
			ps = append(ps, manage.Param{Name: p, Value: "list"})
		}
		if len(extra) > 0 {
			if _, err := takeView(&ps, io.Discard); err != nil {
				t.Errorf("transportd %s -fields/-format: %v", nv, err)
			}
		}
		if _, err := request(spec, v, ps); err != nil {
			t.Errorf("transportd %s refuses a parameter its help lists: %v", nv, err)
		}
		if _, err := request(spec, v, manage.Params{{Name: "NoSuchParameter", Value: "x"}}); err == nil || !strings.Contains(err.Error(), "unknown parameter") {
			t.Errorf("transportd %s -NoSuchParameter: err %v", nv, err)
		}
	}
	if len(cmdletOf) < 30 {
		t.Errorf("only %d commands; is the pattern still right?", len(cmdletOf))
	}
}

func set(list []string) map[string]bool {
	out := map[string]bool{}
	for _, s := range list {
		out[s] = true
	}
	return out
}

func equalSets(a, b map[string]bool) bool {
	if len(a) != len(b) {
		return false
	}
	for k := range a {
		if !b[k] {
			return false
		}
	}
	return true
}

func sorted(m map[string]bool) []string {
	var out []string
	for k := range m {
		out = append(out, k)
	}
	sort.Strings(out)
	return out
}

// Commands the shell had and the noun-verb form lacked now exist in both:
// Add/Get/Remove-ADPermission are `transportd permission add|get|remove`,
// and `transportd test smtp` is Test-SmtpConnectivity in the shell.
func TestPermissionCommands(t *testing.T) {
	path := newConfig(t)
	for _, name := range []string{"noreply", "app"} {
		ok(t, path, "", "mailbox", "new", "-name", name, "-primarysmtpaddress", name+"@contoso.com")
	}
	out := ok(t, path, "", "permission", "add", "-identity", "noreply", "-user", "app", "-extendedrights", "Send As")
	if !strings.Contains(out, "app") || !strings.Contains(out, "Send As") {
		t.Errorf("permission add:\n%s", out)
	}
	if got := listValue(t, ok(t, path, "", "mailbox", "get", "noreply"), "GrantSendAsTo"); got != "{app}" {
		t.Errorf("GrantSendAsTo = %q", got)
	}
	if out := ok(t, path, "", "permission", "get", "noreply"); !regexp.MustCompile(`(?m)^noreply +app +\{Send As\}`).MatchString(out) {
		t.Errorf("permission get:\n%s", out)
	}
	out = ok(t, path, "", "permission", "remove", "noreply", "-user", "app", "-extendedrights", "Send As")
	if !strings.Contains(out, "Removed Send As from 1 mailbox for app.") {
		t.Errorf("permission remove: %q", out)
	}
	// The relay right on a receive connector, with Exchange's SERVER\Name identity.
	ok(t, path, "", "permission", "add", `MAIL\Client Frontend MAIL`, "-user", `NT AUTHORITY\ANONYMOUS LOGON`, "-extendedrights", "Ms-Exch-SMTP-Accept-Any-Recipient")
	if got := listValue(t, ok(t, path, "", "connector", "get", `MAIL\Client*`), "AnonymousRelay"); got != "True" {
		t.Errorf("AnonymousRelay = %q", got)
	}
	if r := tdrun(t, path, "", "permission", "add", "-user", "app"); r.code != 1 || !strings.Contains(r.stderr, "-Identity is required") {
		t.Errorf("permission add without -Identity: exit %d, %q", r.code, r.stderr)
	}
	// The same in the shell.
	var sout strings.Builder
	sh := shell.New(path, &sout)
	if err := sh.Run(`Get-ADPermission -Identity noreply | Format-List User`); err != nil {
		t.Fatal(err)
	}
	if strings.Contains(sout.String(), "app") {
		t.Errorf("Send As still granted after remove:\n%s", sout.String())
	}
	if err := sh.Run(`Test-SmtpConnectivity -Server 127.0.0.1:1 -Mailbox alice`); err == nil || !strings.Contains(err.Error(), "-Mailbox needs -Password -") {
		t.Errorf("Test-SmtpConnectivity: %v", err)
	}
}

// The CLI knows a command's switches from the registry: a switch does not
// swallow the next word, so the identity may follow it, and it still takes
// an explicit $true or $false. Before, `connector get -ClientSettings
// "Client*"` read "Client*" as the switch's value and showed every connector.
func TestSwitchesDoNotTakeTheNextWord(t *testing.T) {
	path := newConfig(t)
	ok(t, path, "", "connector", "new", "Relay", "-usage", "Custom", "-bindings", "0.0.0.0:2526")
	out := ok(t, path, "", "connector", "get", "-clientsettings", "Client*")
	if strings.Contains(out, "Relay") || strings.Contains(out, "Default Frontend") || !strings.Contains(out, "Client Frontend MAIL") {
		t.Errorf("connector get -clientsettings Client*:\n%s", out)
	}
	out = ok(t, path, "", "connector", "get", "-clientsettings", "$false", "Client*")
	if listValue(t, out, "Identity") != "Client Frontend MAIL" {
		t.Errorf("connector get -clientsettings $false Client*:\n%s", out)
	}
}
