package main

import (
	"context"
	"encoding/json"
	"fmt"
	"net"
	"os"
	"os/user"
	"path/filepath"
	"regexp"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/transportd/transportd/transport/admin/shell"
	"github.com/transportd/transportd/transport/mail/queue"
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
		{[]string{"queue"}, 2, []string{"which action? (get, retry, suspend, resume;"}, []string{"set", "new"}},
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

// lockedBuffer collects the daemon's log across goroutines.
type lockedBuffer struct {
	mu sync.Mutex
	b  strings.Builder
}

func (l *lockedBuffer) Write(p []byte) (int, error) {
	l.mu.Lock()
	defer l.mu.Unlock()
	return l.b.Write(p)
}

func (l *lockedBuffer) String() string {
	l.mu.Lock()
	defer l.mu.Unlock()
	return l.b.String()
}

const readmeThumbprint = "434AC224C8459924B26521298CE8834C514856AB" // README's sample, in no store

// A -TlsCertificateName that would take STARTTLS, and with it AUTH, away
// from the Client Frontend is refused with the consequence and the fix,
// unless -Force (a new -Fqdn only warns: Microsoft's procedure sets it
// before creating the certificate);
// before, the README's own sample thumbprint returned "Changed" and the
// connector silently accepted nobody.
func TestConnectorSetRefusesWithdrawingSTARTTLS(t *testing.T) {
	path := newConfig(t)
	ok(t, path, "", "cert", "new", "-subjectname", "CN=mail.contoso.com", "-domainname", "mail.contoso.com")
	before, _ := os.ReadFile(path)
	consequence := []string{`receive connector "Client Frontend MAIL"`, "STARTTLS NOT OFFERED", "AUTH is not offered either (BasicAuthRequireTLS)"}
	for _, tt := range []struct {
		args []string
		fix  string
	}{
		{[]string{"-tlscertificatename", readmeThumbprint}, readmeThumbprint + " (TlsCertificateName) not found"},
	} {
		r := tdrun(t, path, "", append([]string{"connector", "set", "Client*"}, tt.args...)...)
		if r.code != 1 || strings.Contains(r.stdout, "Changed") {
			t.Errorf("%q: exit %d, stdout %q: want a refusal", tt.args, r.code, r.stdout)
		}
		for _, w := range append(consequence, tt.fix, "add -Force") {
			if !strings.Contains(r.stderr, w) {
				t.Errorf("%q: stderr %q does not contain %q", tt.args, r.stderr, w)
			}
		}
		// The shell's Set-ReceiveConnector refuses the same change.
		sr := tdrun(t, path, "", "shell", "-c", "Set-ReceiveConnector 'Client*' "+strings.Join(quoteAll(tt.args), " "))
		if sr.code != 1 || !strings.Contains(sr.stderr, "AUTH is not offered either") || !strings.Contains(sr.stderr, "-Force") {
			t.Errorf("shell %q: exit %d, stderr %q", tt.args, sr.code, sr.stderr)
		}
	}
	if after, _ := os.ReadFile(path); string(after) != string(before) {
		t.Fatal("a refused set changed the config file")
	}

	// A connector without BasicAuthRequireTLS gets the warning, not a refusal.
	r := tdrun(t, path, "", "connector", "set", "Default*", "-fqdn", "other.contoso.com")
	if r.code != 0 || !strings.Contains(r.stderr, `WARNING: receive connector "Default Frontend MAIL": STARTTLS NOT OFFERED`) ||
		!strings.Contains(r.stderr, "Fix: create a certificate for other.contoso.com") {
		t.Errorf("Default Frontend -fqdn: exit %d, stderr %q", r.code, r.stderr)
	}
	if strings.Contains(r.stderr, "AUTH is not offered") {
		t.Errorf("Default Frontend has no AUTH to lose: %q", r.stderr)
	}

	// -Force saves it, with the warning; connector get says the same.
	r = tdrun(t, path, "", "connector", "set", "Client*", "-tlscertificatename", readmeThumbprint, "-Force")
	if r.code != 0 || !strings.Contains(r.stdout, "Changed 1 receive connector.") || !strings.Contains(r.stderr, "WARNING: ") {
		t.Fatalf("-Force: exit %d, stdout %q, stderr %q", r.code, r.stdout, r.stderr)
	}
	status := listValue(t, ok(t, path, "", "connector", "get", "Client*"), "CertificateStatus")
	if !strings.Contains(status, "AUTH is not offered either") || !strings.Contains(r.stderr, strings.TrimPrefix(status, "WARNING: ")) {
		t.Errorf("connector get CertificateStatus %q differs from the set warning %q", status, r.stderr)
	}
	// Already without STARTTLS: another change warns and is saved.
	r = tdrun(t, path, "", "connector", "set", "Client*", "-maxhopcount", "20")
	if r.code != 0 || !strings.Contains(r.stderr, "WARNING: ") {
		t.Errorf("later set: exit %d, stderr %q", r.code, r.stderr)
	}
	// The fix the message names works: the thumbprint of a covering certificate.
	thumb := strings.TrimSpace(ok(t, path, "", "cert", "new", "-subjectname", "CN=mail.contoso.com", "-domainname", "mail.contoso.com"))
	if r := tdrun(t, path, "", "connector", "set", "Client*", "-tlscertificatename", thumb); r.code != 0 || r.stderr != "" {
		t.Errorf("the fix: exit %d, stderr %q", r.code, r.stderr)
	}
	// A new -Fqdn no certificate covers yet is Microsoft's first step
	// (the certificate comes next): saved, with the consequence and the fix.
	path = newConfig(t)
	ok(t, path, "", "cert", "new", "-subjectname", "CN=mail.contoso.com", "-domainname", "mail.contoso.com")
	r = tdrun(t, path, "", "connector", "set", "Client*", "-fqdn", "other.contoso.com")
	if r.code != 0 || !strings.Contains(r.stdout, "Changed 1 receive connector.") {
		t.Errorf("-fqdn: exit %d, stdout %q, stderr %q", r.code, r.stdout, r.stderr)
	}
	for _, w := range append(consequence, "transportd cert new -subjectname CN=other.contoso.com -domainname other.contoso.com") {
		if !strings.Contains(r.stderr, w) {
			t.Errorf("-fqdn: stderr %q does not contain %q", r.stderr, w)
		}
	}
}

// connector get, the daemon's log and transportd test smtp say the same
// about a connector that cannot offer STARTTLS.
func TestCertificateStatusAgreesEverywhere(t *testing.T) {
	var log lockedBuffer
	_, path, _, reloads := startServiceLog(t, &log)
	r := tdrun(t, path, "", "connector", "set", "Client*", "-fqdn", "other.contoso.com", "-Force")
	if r.code != 0 {
		t.Fatalf("set -Force: %+v", r)
	}
	select {
	case err := <-reloads:
		if err != nil {
			t.Fatalf("reload: %v", err)
		}
	case <-time.After(10 * time.Second):
		t.Fatal("the daemon did not reload")
	}
	status := strings.TrimPrefix(listValue(t, ok(t, path, "", "connector", "get", "Client*"), "CertificateStatus"), "WARNING: ")
	if !strings.Contains(status, "AUTH is not offered either") {
		t.Fatalf("CertificateStatus = %q", status)
	}
	if !strings.Contains(r.stderr, status) {
		t.Errorf("set warning %q lacks the CertificateStatus %q", r.stderr, status)
	}
	if !strings.Contains(log.String(), "no client can log on and submit mail here") {
		t.Errorf("the daemon log does not say it:\n%s", log.String())
	}
	tr := tdrun(t, path, "", "test", "smtp", "-identity", "Client*")
	if tr.code != 1 || !strings.Contains(tr.stdout, "FAIL") || !strings.Contains(tr.stdout, status) {
		t.Errorf("test smtp: exit %d\n%s%s\nwant FAIL with %q", tr.code, tr.stdout, tr.stderr, status)
	}
}

// A binding another program holds is warned about at set and new time; a
// port the daemon itself listens on is not "in use".
func TestConnectorBindingInUseWarns(t *testing.T) {
	busy, err := net.Listen("tcp4", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	defer busy.Close()
	port := busy.Addr().(*net.TCPAddr).Port
	free := freePort(t)

	path := newConfig(t)
	ok(t, path, "", "cert", "new", "-subjectname", "CN=mail.contoso.com", "-domainname", "mail.contoso.com") // no STARTTLS warning here
	r := tdrun(t, path, "", "connector", "set", "Default*", "-bindings", busy.Addr().String())
	want := fmt.Sprintf(`WARNING: receive connector "Default Frontend MAIL": binding %s: the port is in use by another program`, busy.Addr())
	if r.code != 0 || !strings.Contains(r.stdout, "Changed 1") || !strings.Contains(r.stderr, want) || !strings.Contains(r.stderr, fmt.Sprintf("sport = :%d", port)) {
		t.Errorf("set -bindings <busy>: exit %d, stdout %q, stderr %q; want %q", r.code, r.stdout, r.stderr, want)
	}
	busy2, err := net.Listen("tcp4", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	defer busy2.Close()
	sr := tdrun(t, path, "", "shell", "-c", "New-ReceiveConnector -Name Apps -Custom -Bindings "+busy2.Addr().String()+" -RemoteIPRanges 192.0.2.1")
	if sr.code != 0 || !strings.Contains(sr.stdout, "WARNING: receive connector \"Apps\": binding") {
		t.Errorf("shell New-ReceiveConnector on a busy port: exit %d, stdout %q, stderr %q", sr.code, sr.stdout, sr.stderr)
	}
	if r := tdrun(t, path, "", "connector", "set", "Default*", "-bindings", fmt.Sprintf("127.0.0.1:%d", free)); r.code != 0 || strings.Contains(r.stderr, "WARNING") {
		t.Errorf("set -bindings <free>: exit %d, stderr %q", r.code, r.stderr)
	}

	// The running daemon's own port, kept or shared, is not in use by another program.
	_, live, addr, _ := startService(t)
	other := freePort(t)
	r = tdrun(t, live, "", "connector", "set", "Client*", "-bindings", addr+","+fmt.Sprintf("127.0.0.1:%d", other))
	if r.code != 0 || strings.Contains(r.stderr, "in use") {
		t.Errorf("set keeping the daemon's own port: exit %d, stderr %q", r.code, r.stderr)
	}
	r = tdrun(t, live, "", "connector", "new", "-name", "Apps", "-custom", "-bindings", addr, "-remoteipranges", "192.0.2.1")
	if r.code != 0 || strings.Contains(r.stderr, "in use") {
		t.Errorf("new connector sharing the daemon's port: exit %d, stderr %q", r.code, r.stderr)
	}
}

func freePort(t *testing.T) int {
	t.Helper()
	l, err := net.Listen("tcp4", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	defer l.Close()
	return l.Addr().(*net.TCPAddr).Port
}

// queue get and message get against the running daemon print a JSON array
// for none, one and several; before, an empty queue printed the sentence
// "The queue is empty." and one queue a bare object.
func TestQueueFormatJSONIsAlwaysAnArray(t *testing.T) {
	svc, path, _, reloads := startService(t)
	count := func(args ...string) int {
		t.Helper()
		out := ok(t, path, "", append(args, "-format", "json")...)
		var arr []map[string]any
		if err := json.Unmarshal([]byte(out), &arr); err != nil {
			t.Fatalf("%q -format json is not a JSON array: %v\n%s", args, err, out)
		}
		return len(arr)
	}
	if n := count("queue", "get"); n != 0 {
		t.Errorf("empty: %d queues", n)
	}
	if n := count("message", "get"); n != 0 {
		t.Errorf("empty: %d messages", n)
	}
	// Two smart hosts that do not answer (a closed loopback port), one per
	// domain: the messages wait in one queue per next hop.
	dead := fmt.Sprintf("127.0.0.1:%d", freePort(t))
	ok(t, path, "", "sendconnector", "new", "-name", "To Fabrikam", "-addressspaces", "fabrikam.com", "-smarthosts", dead)
	ok(t, path, "", "sendconnector", "new", "-name", "To Tailspin", "-addressspaces", "tailspin.com", "-smarthosts", dead)
	select {
	case err := <-reloads:
		if err != nil {
			t.Fatal(err)
		}
	case <-time.After(10 * time.Second):
		t.Fatal("no reload")
	}
	enqueue := func(rcpt string) {
		t.Helper()
		env := queue.Envelope{From: "alice@contoso.com", Recipients: []queue.Recipient{{Address: rcpt}}}
		if _, err := svc.Queue().Enqueue(context.Background(), env, strings.NewReader("Subject: x\r\n\r\nx\r\n")); err != nil {
			t.Fatal(err)
		}
	}
	enqueue("bob@fabrikam.com")
	if n := count("message", "get"); n != 1 {
		t.Errorf("one message: %d objects", n)
	}
	if n := count("queue", "get"); n != 1 {
		t.Errorf("one queue: %d objects", n)
	}
	enqueue("carol@tailspin.com")
	if n := count("queue", "get"); n != 2 {
		t.Errorf("two queues: %d objects", n)
	}
	if n := count("message", "get"); n != 2 {
		t.Errorf("two messages: %d objects", n)
	}
}
