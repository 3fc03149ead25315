package main

import (
	"encoding/json"
	"os"
	"os/user"
	"path/filepath"
	"regexp"
	"strings"
	"testing"

	"github.com/transportd/transportd/transport/shell"
)

// A get or remove with a misspelt parameter is refused as set refuses it;
// before, `connector get -idnetity x` printed every connector with exit 0,
// and a remove would have acted on what the positional value named.
func TestGetAndRemoveRefuseUnknownParameters(t *testing.T) {
	path := newConfig(t)
	before, _ := os.ReadFile(path)
	tests := []struct {
		args []string
		want []string
	}{
		{[]string{"connector", "get", "-idnetity", "x"}, []string{"unknown parameter -idnetity", "did you mean -Identity?"}},
		{[]string{"connector", "get", "Client*", "-clientsetings"}, []string{"unknown parameter -clientsetings", "-ClientSettings"}},
		{[]string{"accepteddomain", "get", "-domainname", "x"}, []string{"unknown parameter -domainname", "accepteddomain get takes -Identity"}},
		{[]string{"mailbox", "get", "-idnetity", "x"}, []string{"did you mean -Identity?"}},
		{[]string{"sendconnector", "get", "-idnetity", "x"}, []string{"did you mean -Identity?"}},
		{[]string{"cert", "get", "-thumprint", "x"}, []string{"did you mean -Thumbprint?"}},
		{[]string{"transportconfig", "get", "-maildirowner"}, []string{"unknown parameter -maildirowner"}},
		{[]string{"connector", "remove", "Client*", "-idnetity", "Default*"}, []string{"did you mean -Identity?"}},
		{[]string{"cert", "remove", "-thumbprint", "x", "-servics", "SMTP"}, []string{"unknown parameter -servics"}},
	}
	for _, tt := range tests {
		r := tdrun(t, path, "", tt.args...)
		if r.code != 1 || r.stdout != "" {
			t.Errorf("%q: exit %d, stdout %q; want exit 1 and nothing printed", tt.args, r.code, r.stdout)
		}
		for _, w := range tt.want {
			if !strings.Contains(r.stderr, w) {
				t.Errorf("%q: stderr %q does not contain %q", tt.args, r.stderr, w)
			}
		}
	}
	if after, _ := os.ReadFile(path); string(after) != string(before) {
		t.Error("a refused command changed the config file")
	}
	// Abbreviations still work, as in PowerShell.
	if out := ok(t, path, "", "connector", "get", "-ident", "Client*"); listValue(t, out, "Identity") != "Client Frontend MAIL" {
		t.Errorf("-ident abbreviation:\n%s", out)
	}
}

func TestUnknownCommandsAndOptions(t *testing.T) {
	path := newConfig(t)
	tests := []struct {
		args   []string
		code   int
		want   []string
		absent []string
	}{
		{[]string{"rnu"}, 1, []string{`unknown command "rnu"`, `did you mean "run"?`}, []string{"which action"}},
		{[]string{"frobnicate", "get"}, 1, []string{`unknown command "frobnicate"`, "transportd help"}, nil},
		{[]string{"queue"}, 2, []string{"which action? (get, retry;"}, []string{"set", "new"}},
		{[]string{"message"}, 2, []string{"which action? (get, suspend, resume, remove;"}, nil},
		{[]string{"queue", "set"}, 1, []string{`unknown action "set" for queue`, "queue takes get, retry"}, nil},
		{[]string{"connector", "gte"}, 1, []string{`unknown action "gte"`, `did you mean "get"?`}, nil},
		{[]string{"-confg", "x", "connector", "get"}, 2, []string{"unknown option -confg", "did you mean -config PATH?"}, []string{"unknown command"}},
		{[]string{"--verbose", "connector", "get"}, 2, []string{"unknown option --verbose"}, nil},
		{[]string{"run", "now"}, 2, []string{`unexpected "now"`}, nil},
	}
	for _, tt := range tests {
		r := tdrun(t, path, "", tt.args...)
		if r.code != tt.code {
			t.Errorf("%q: exit %d, want %d (stderr %q)", tt.args, r.code, tt.code, r.stderr)
		}
		for _, w := range tt.want {
			if !strings.Contains(r.stderr, w) {
				t.Errorf("%q: stderr %q does not contain %q", tt.args, r.stderr, w)
			}
		}
		for _, w := range tt.absent {
			if strings.Contains(r.stderr, w) {
				t.Errorf("%q: stderr %q contains %q", tt.args, r.stderr, w)
			}
		}
	}
}

// Every command answers -h, -Help and --help with its parameters, without
// touching the configuration.
func TestHelpFlagOnEveryCommand(t *testing.T) {
	path := filepath.Join(t.TempDir(), "absent.yaml")
	for _, n := range nouns() {
		for _, flag := range []string{"-h", "-Help", "--help"} {
			r := tdrun(t, path, "", n.name, flag)
			if r.code != 0 {
				t.Errorf("%s %s: exit %d, stderr %q", n.name, flag, r.code, r.stderr)
			}
			for _, v := range n.verbs {
				if !strings.Contains(r.stdout, "transportd "+n.name+" "+v.name) {
					t.Errorf("%s %s does not list %s:\n%s", n.name, flag, v.name, r.stdout)
				}
			}
		}
		for _, v := range n.verbs {
			for _, flag := range []string{"-h", "-Help", "--help", "-?"} {
				r := tdrun(t, path, "", n.name, v.name, flag)
				if r.code != 0 || r.stderr != "" {
					t.Errorf("%s %s %s: exit %d, stderr %q", n.name, v.name, flag, r.code, r.stderr)
					continue
				}
				names := shell.ParamNames(v.cmdlet)
				if v.cmdlet == "" {
					names = []string{"Identity", "Server", "Mailbox", "Password"}
				}
				for _, p := range names {
					if !strings.Contains(r.stdout, "-"+p) {
						t.Errorf("%s %s %s does not explain -%s:\n%s", n.name, v.name, flag, p, r.stdout)
					}
				}
				if v.name == "get" && !strings.Contains(r.stdout, "-Format list|table|json") {
					t.Errorf("%s get %s does not explain -Format:\n%s", n.name, flag, r.stdout)
				}
			}
		}
		// -h after other parameters, as an admin adds it to a failing line.
		if r := tdrun(t, path, "", n.name, n.verbs[0].name, "-identity", "x", "-h"); r.code != 0 || !strings.Contains(r.stdout, "PARAMETERS") {
			t.Errorf("%s %s -identity x -h: exit %d\n%s%s", n.name, n.verbs[0].name, r.code, r.stdout, r.stderr)
		}
	}
	if _, err := os.Stat(path); err == nil {
		t.Error("a help command created the config file")
	}
	for _, args := range [][]string{{"shell", "-h"}, {"run", "-h"}, {"help", "connector", "set"}, {"-help"}} {
		if r := tdrun(t, path, "", args...); r.code != 0 || r.stdout == "" {
			t.Errorf("%q: exit %d, stdout %q, stderr %q", args, r.code, r.stdout, r.stderr)
		}
	}
}

// `transportd help` lists every noun-verb command README.md shows.
func TestHelpListsEveryREADMECommand(t *testing.T) {
	readme, err := os.ReadFile("../../README.md")
	if err != nil {
		t.Fatal(err)
	}
	help := ok(t, "", "", "help")
	listed := map[string]bool{} // "noun verb" and bare nouns that help lists
	for _, m := range regexp.MustCompile(`(?m)^  transportd ([a-z]+)(?: ([a-z|]+))?`).FindAllStringSubmatch(help, -1) {
		listed[m[1]] = true
		for _, v := range strings.Split(m[2], "|") {
			if v != "" {
				listed[m[1]+" "+v] = true
			}
		}
	}
	// Commands appear in code blocks and `inline code`: "transportd NOUN VERB".
	var code strings.Builder
	inBlock := false
	for _, line := range strings.Split(string(readme), "\n") {
		if strings.HasPrefix(line, "```") {
			inBlock = !inBlock
			continue
		}
		if inBlock {
			code.WriteString(line + "\n")
			continue
		}
		for _, m := range regexp.MustCompile("`([^`]*)`").FindAllStringSubmatch(line, -1) {
			code.WriteString(m[1] + "\n")
		}
	}
	// A command starts a line or follows a pipe; "A running transportd applies ..." is prose.
	re := regexp.MustCompile(`(?:^\s*|\|\s*)transportd ([a-z]+)(?: ([a-z]+)\b)?`)
	found := 0
	for _, line := range strings.Split(code.String(), "\n") {
		for _, m := range re.FindAllStringSubmatch(line, -1) {
			noun, verb := m[1], m[2]
			found++
			if noun == "shell" || noun == "help" || noun == "run" || verb == "" {
				if !listed[noun] {
					t.Errorf("README shows `transportd %s`; transportd help does not list it", noun)
				}
				continue
			}
			if !listed[noun+" "+verb] {
				t.Errorf("README shows `transportd %s %s`; transportd help does not list it:\n%s", noun, verb, help)
			}
		}
	}
	if found < 20 {
		t.Fatalf("found only %d commands in README.md; is the pattern still right?", found)
	}
}

// -format json prints a JSON array for no object, one and several, so that
// scripts parse one shape; before, one object came bare and an empty result
// was a sentence.
func TestFormatJSONIsAlwaysAnArray(t *testing.T) {
	path := newConfig(t)
	count := func(args ...string) int {
		t.Helper()
		out := ok(t, path, "", append(args, "-format", "json")...)
		var arr []map[string]any
		if err := json.Unmarshal([]byte(out), &arr); err != nil {
			t.Fatalf("%q -format json is not a JSON array: %v\n%s", args, err, out)
		}
		return len(arr)
	}
	if n := count("accepteddomain", "get"); n != 1 {
		t.Errorf("one accepted domain: %d objects", n)
	}
	ok(t, path, "", "accepteddomain", "new", "-name", "fabrikam", "-domainname", "fabrikam.com")
	if n := count("accepteddomain", "get"); n != 2 {
		t.Errorf("two accepted domains: %d objects", n)
	}
	if n := count("accepteddomain", "get", "fabrikam"); n != 1 {
		t.Errorf("one accepted domain by identity: %d objects", n)
	}
	ok(t, path, "", "accepteddomain", "remove", "*")
	if n := count("accepteddomain", "get"); n != 0 {
		t.Errorf("no accepted domain: %d objects", n)
	}
	if n := count("connector", "get", "Client*"); n != 1 {
		t.Errorf("one connector: %d objects", n)
	}
	if n := count("transportconfig", "get"); n != 1 {
		t.Errorf("transportconfig: %d objects", n)
	}
	if n := count("mailbox", "get"); n != 0 {
		t.Errorf("no mailbox: %d objects", n)
	}
	if n := count("trackinglog", "get"); n != 0 {
		t.Errorf("no tracking events: %d objects", n)
	}
	// The array of one still feeds a set through the pipe.
	js := ok(t, path, "", "connector", "get", "Client*", "-format", "json")
	if out := ok(t, path, js, "connector", "set", "-maxhopcount", "40"); !strings.Contains(out, "Changed 1 receive connector.") {
		t.Errorf("piped set: %q", out)
	}
}

// transportconfig set refuses what the daemon would refuse when it applies
// the change; before, -maildirowner nosuchuser printed "Changed" with exit 0
// and the daemon then kept the old configuration.
func TestTransportConfigSetRefusesWhatTheDaemonRefuses(t *testing.T) {
	path := newConfig(t)
	before, _ := os.ReadFile(path)
	file := filepath.Join(t.TempDir(), "a-file")
	if err := os.WriteFile(file, nil, 0o600); err != nil {
		t.Fatal(err)
	}
	tests := []struct {
		args []string
		want []string
	}{
		{[]string{"-maildirowner", "nosuchuser-transportd"}, []string{"MaildirOwner", `"nosuchuser-transportd" does not exist`, "useradd"}},
		{[]string{"-maildirowner", "4000000000"}, []string{"MaildirOwner", "does not exist"}},
		{[]string{"-pickupdirectorypath", file}, []string{"PickupDirectoryPath", "is a file, not a folder"}},
		{[]string{"-badmaildirectorypath", filepath.Join(file, "sub")}, []string{"BadMailDirectoryPath", "cannot be created", "is a file"}},
		{[]string{"-badmaildirectorypath", "pickup"}, []string{"is the pickup folder too"}},
	}
	for _, tt := range tests {
		r := tdrun(t, path, "", append([]string{"transportconfig", "set"}, tt.args...)...)
		if r.code != 1 || strings.Contains(r.stdout, "Changed") {
			t.Errorf("%q: exit %d, stdout %q; want a refusal", tt.args, r.code, r.stdout)
		}
		for _, w := range tt.want {
			if !strings.Contains(r.stderr, w) {
				t.Errorf("%q: stderr %q does not contain %q", tt.args, r.stderr, w)
			}
		}
		// The shell's Set-TransportConfig runs the same check.
		sr := tdrun(t, path, "", "shell", "-c", "Set-TransportConfig "+strings.Join(quoteAll(tt.args), " "))
		if sr.code != 1 || !strings.Contains(sr.stderr, tt.want[0]) {
			t.Errorf("shell %q: exit %d, stderr %q", tt.args, sr.code, sr.stderr)
		}
	}
	if after, _ := os.ReadFile(path); string(after) != string(before) {
		t.Error("a refused transportconfig set changed the config file")
	}
	// Users that exist (by name and by uid) are taken.
	me, err := user.Current()
	if err != nil {
		t.Fatal(err)
	}
	for _, owner := range []string{me.Username, me.Uid} {
		if out := ok(t, path, "", "transportconfig", "set", "-maildirowner", owner); !strings.Contains(out, "Changed the transport configuration") {
			t.Errorf("-maildirowner %s: %q", owner, out)
		}
	}
}

func quoteAll(args []string) []string {
	out := make([]string, len(args))
	for i, a := range args {
		if strings.HasPrefix(a, "-") {
			out[i] = a
		} else {
			out[i] = "'" + a + "'"
		}
	}
	return out
}
