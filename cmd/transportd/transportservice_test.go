package main

import (
	"bufio"
	"errors"
	"fmt"
	"net"
	"os"
	"strings"
	"testing"
	"time"

	"github.com/transportd/transportd/transport/admin/config"
	"github.com/transportd/transportd/transport/service"
)

// greetAndEhlo connects to addr and returns the 220 greeting and the first
// line of the EHLO reply.
func greetAndEhlo(t *testing.T, addr string) (string, string) {
	t.Helper()
	conn, err := net.DialTimeout("tcp", addr, 5*time.Second)
	if err != nil {
		t.Fatal(err)
	}
	defer conn.Close()
	conn.SetDeadline(time.Now().Add(10 * time.Second))
	r := bufio.NewReader(conn)
	line := func() string {
		s, err := r.ReadString('\n')
		if err != nil {
			t.Fatalf("reading from %s: %v", addr, err)
		}
		return strings.TrimRight(s, "\r\n")
	}
	greeting := line()
	fmt.Fprintf(conn, "EHLO client.example\r\n")
	ehlo := line()
	for l := ehlo; strings.HasPrefix(l, "250-"); {
		l = line()
	}
	fmt.Fprintf(conn, "QUIT\r\n")
	return greeting, ehlo
}

// waitWatching waits until the daemon applies changes to its files.
func waitWatching(t *testing.T, svc *service.Service) {
	t.Helper()
	select {
	case <-svc.Watching():
	case <-time.After(10 * time.Second):
		t.Fatal("the daemon does not watch its configuration")
	}
}

// waitApplied waits for the daemon's next reload and fails on an error.
func waitApplied(t *testing.T, reloads <-chan error) {
	t.Helper()
	select {
	case err := <-reloads:
		if err != nil {
			t.Fatalf("reload: %v", err)
		}
	case <-time.After(10 * time.Second):
		t.Fatal("the daemon did not reload within 10 s")
	}
}

// waitRefused waits for the daemon's next reload and returns its error,
// failing when it applied.
func waitRefused(t *testing.T, reloads <-chan error) error {
	t.Helper()
	select {
	case err := <-reloads:
		if err == nil {
			t.Fatal("the daemon applied a file it must refuse")
		}
		return err
	case <-time.After(10 * time.Second):
		t.Fatal("the daemon did not try the file within 10 s")
	}
	return nil
}

// Set-TransportService -Fqdn sets the server's name once for every default:
// the running daemon's connectors without their own Fqdn greet with it at
// once, a connector with its own Fqdn keeps it, and a name without a dot is
// warned about at set time and by the daemon when it applies it.
func TestTransportServiceFqdnAppliesLive(t *testing.T) {
	var log lockedBuffer
	svc, path, addr, reloads := startServiceLog(t, &log)
	waitWatching(t, svc)
	if g, _ := greetAndEhlo(t, addr); !strings.HasPrefix(g, "220 mail.contoso.com ") {
		t.Fatalf("greeting %q", g)
	}
	out := ok(t, path, "", "transportservice", "get")
	if listValue(t, out, "Name") != "MAIL" || listValue(t, out, "Fqdn") != "mail.contoso.com" || listValue(t, out, "DataPath") == "" {
		t.Fatalf("transportservice get:\n%s", out)
	}

	r := tdrun(t, path, "", "transportservice", "set", "-fqdn", "smtp.fabrikam.com")
	if r.code != 0 || !strings.Contains(r.stdout, "Changed the transport service") {
		t.Fatalf("set -fqdn: %+v", r)
	}
	// No certificate covers the new name yet: said at once, with the fix.
	if !strings.Contains(r.stderr, "WARNING") || !strings.Contains(r.stderr, "cert new -subjectname CN=smtp.fabrikam.com") {
		t.Errorf("no certificate warning: %q", r.stderr)
	}
	waitApplied(t, reloads)
	g, e := greetAndEhlo(t, addr)
	if !strings.HasPrefix(g, "220 smtp.fabrikam.com ") || !strings.HasPrefix(e, "250-smtp.fabrikam.com ") {
		t.Fatalf("after Set-TransportService: greeting %q, EHLO %q", g, e)
	}
	if got := listValue(t, ok(t, path, "", "connector", "get", "Client*"), "Fqdn"); got != "smtp.fabrikam.com" {
		t.Errorf("connector Fqdn = %q", got)
	}
	// The connector still follows the server: the file names the FQDN once.
	if data, _ := os.ReadFile(path); strings.Count(string(data), "smtp.fabrikam.com") != 1 {
		t.Errorf("the file names the FQDN %d times:\n%s", strings.Count(string(data), "smtp.fabrikam.com"), data)
	}

	// Refused at set time, the file unchanged: not a host name, another server.
	before, _ := os.ReadFile(path)
	for _, tc := range []struct {
		args []string
		want string
	}{
		{[]string{"-fqdn", "mail_1.contoso.com"}, `"mail_1.contoso.com" is not a host name`},
		{[]string{"-identity", "EX01", "-fqdn", "a.contoso.com"}, "no transport service matches identity \"EX01\""},
		{nil, "give -Fqdn"},
	} {
		r := tdrun(t, path, "", append([]string{"transportservice", "set"}, tc.args...)...)
		if r.code != 1 || !strings.Contains(r.stderr, tc.want) {
			t.Errorf("set %q: exit %d, stderr %q; want %q", tc.args, r.code, r.stderr, tc.want)
		}
	}
	if after, _ := os.ReadFile(path); string(after) != string(before) {
		t.Error("a refused set changed the file")
	}

	// A name without a dot: warned by the command and by the daemon.
	r = tdrun(t, path, "", "transportservice", "set", "MAIL", "-fqdn", "vm")
	if r.code != 0 || !strings.Contains(r.stderr, "has no dot") {
		t.Fatalf("set -fqdn vm: %+v", r)
	}
	waitApplied(t, reloads)
	if g, _ := greetAndEhlo(t, addr); !strings.HasPrefix(g, "220 vm ") {
		t.Fatalf("greeting %q", g)
	}
	if l := log.String(); !strings.Contains(l, "NOT FULLY QUALIFIED") || !strings.Contains(l, "level=WARN") {
		t.Errorf("the daemon did not warn about the unqualified name at reload:\n%s", l)
	}

	// The shell, with Exchange's pipeline.
	if r := tdrun(t, path, "", "shell", "-c", "Get-TransportService | Set-TransportService -Fqdn mail.contoso.com"); r.code != 0 {
		t.Fatalf("shell: %+v", r)
	}
	waitApplied(t, reloads)
	if g, _ := greetAndEhlo(t, addr); !strings.HasPrefix(g, "220 mail.contoso.com ") {
		t.Fatalf("greeting %q", g)
	}
}

// A management command judges the file as the daemon does: an editor left
// it cut off but parseable, the daemon refused it, and `connector set`
// refuses it too, naming the copy of the configuration in force and the cp
// that restores it. Before, it rewrote the file without the lost sections
// and said "Changed".
func TestCommandsRefuseACutOffFileAsTheDaemonDoes(t *testing.T) {
	svc, path, addr, reloads := startService(t)
	waitWatching(t, svc)
	applied := config.AppliedFile(path)
	full, err := os.ReadFile(path)
	if err != nil {
		t.Fatal(err)
	}
	// The daemon keeps the file in force, owner-only.
	st, err := os.Stat(applied)
	if err != nil {
		t.Fatalf("no copy of the configuration in force: %v", err)
	}
	if kept, _ := os.ReadFile(applied); string(kept) != string(full) || st.Mode().Perm() != 0o600 {
		t.Fatalf("%s: mode %v, contents differ from the file in force: %v", applied, st.Mode().Perm(), string(kept) != string(full))
	}

	i := strings.Index(string(full), "\nAcceptedDomains:")
	if i < 0 {
		t.Fatalf("no AcceptedDomains in:\n%s", full)
	}
	cut := full[:i+1] // still parses: Server, ReceiveConnectors, Transport, SendConnectors
	if err := os.WriteFile(path, cut, 0o600); err != nil {
		t.Fatal(err)
	}
	err = waitRefused(t, reloads)
	if !errors.Is(err, config.ErrLooksTruncated) || !strings.Contains(err.Error(), "cp "+applied+" "+path) {
		t.Fatalf("daemon: %v", err)
	}

	for _, args := range [][]string{
		{"connector", "set", "Client*", "-fqdn", "smtp.contoso.com"},
		{"shell", "-c", "Set-ReceiveConnector 'Client*' -Fqdn smtp.contoso.com"},
		{"transportservice", "set", "-fqdn", "smtp.contoso.com"},
	} {
		r := tdrun(t, path, "", args...)
		if r.code != 1 || strings.Contains(r.stdout, "Changed") {
			t.Errorf("%q: exit %d, stdout %q; want a refusal", args, r.code, r.stdout)
		}
		for _, want := range []string{"looks empty or cut off", "AcceptedDomains", "Logging", "Nothing was changed", "cp " + applied + " " + path} {
			if !strings.Contains(r.stderr, want) {
				t.Errorf("%q: stderr lacks %q:\n%s", args, want, r.stderr)
			}
		}
	}
	if now, _ := os.ReadFile(path); string(now) != string(cut) {
		t.Fatalf("a refused command rewrote the file:\n%s", now)
	}
	if len(svc.Config().AcceptedDomains) != 1 {
		t.Fatalf("the daemon left the configuration in force: %+v", svc.Config().AcceptedDomains)
	}
	if g, _ := greetAndEhlo(t, addr); !strings.HasPrefix(g, "220 mail.contoso.com ") {
		t.Fatalf("greeting %q", g)
	}

	// The recovery the message names, then the command works.
	kept, _ := os.ReadFile(applied)
	if err := os.WriteFile(path, kept, 0o600); err != nil {
		t.Fatal(err)
	}
	waitApplied(t, reloads)
	if out := ok(t, path, "", "connector", "set", "Client*", "-fqdn", "smtp.contoso.com", "-Force"); !strings.Contains(out, "Changed 1 receive connector") {
		t.Fatalf("after the restore: %q", out)
	}
	waitApplied(t, reloads)
	if g, _ := greetAndEhlo(t, addr); !strings.HasPrefix(g, "220 smtp.contoso.com ") {
		t.Fatalf("greeting %q", g)
	}
	// Removing the last object on purpose writes "[]", which both accept.
	ok(t, path, "", "accepteddomain", "remove", "contoso.com")
	waitApplied(t, reloads)
	if n := len(svc.Config().AcceptedDomains); n != 0 {
		t.Fatalf("%d accepted domains after removing the last", n)
	}

	// A deleted file: no command writes the defaults in its place.
	if err := os.Remove(path); err != nil {
		t.Fatal(err)
	}
	waitRefused(t, reloads)
	for _, args := range [][]string{{"connector", "get"}, {"connector", "set", "Client*", "-fqdn", "x.contoso.com"}} {
		r := tdrun(t, path, "", args...)
		if r.code != 1 || !strings.Contains(r.stderr, "cp "+applied+" "+path) {
			t.Errorf("%q on a deleted file: exit %d, stderr %q", args, r.code, r.stderr)
		}
	}
	if _, err := os.Stat(path); !errors.Is(err, os.ErrNotExist) {
		t.Fatalf("a command wrote a config file in place of the deleted one: %v", err)
	}
}
