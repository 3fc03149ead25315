package service

import (
	"bytes"
	"context"
	"net"
	"net/netip"
	"os"
	"os/exec"
	"path/filepath"
	"slices"
	"strconv"
	"strings"
	"testing"
	"time"

	"github.com/transportd/transportd/connector"
	"github.com/transportd/transportd/policies/permissions"
	"github.com/transportd/transportd/transport/admin/config"
)

// needTool returns the path of an interop peer, which Debian ships in
// package pkg. Missing peers skip the test, unless TRANSPORTD_INTEROP=require
// (as in CI), where they fail it.
func needTool(t *testing.T, name, pkg string) string {
	t.Helper()
	p, err := exec.LookPath(name)
	if err != nil {
		interopMissing(t, "interop peer "+name+" is not installed", pkg)
	}
	return p
}

// interopMissing skips the test for the reason given, or fails it when
// TRANSPORTD_INTEROP=require, naming the apt command that fixes it.
func interopMissing(t *testing.T, reason, pkgs string) {
	t.Helper()
	if fatal, msg := interopVerdict(os.Getenv("TRANSPORTD_INTEROP"), reason, pkgs); fatal {
		t.Fatal(msg)
	} else {
		t.Skip(msg)
	}
}

// interopVerdict says whether a missing peer or capability fails the test
// (TRANSPORTD_INTEROP=require) and with which message.
func interopVerdict(mode, reason, pkgs string) (fatal bool, msg string) {
	if mode == "require" {
		return true, reason + " and TRANSPORTD_INTEROP=require: apt-get install " + pkgs
	}
	return false, reason + " (apt-get install " + pkgs + "; TRANSPORTD_INTEROP=require makes this a failure)"
}

// swaksTLSPackages are the Perl modules swaks needs for --tls. Debian's
// swaks only recommends them, so apt-get --no-install-recommends drops them.
const swaksTLSPackages = "libnet-ssleay-perl libio-socket-ssl-perl"

// swaksTLSMissing asks swaks whether it can speak TLS ("swaks --support"
// prints "=== TLS supported" or "*** TLS not available: requires ...") and
// returns why not, or "" when it can.
func swaksTLSMissing(swaks string) string {
	out, _ := exec.Command(swaks, "--support").CombinedOutput()
	for _, line := range strings.Split(string(out), "\n") {
		line = strings.TrimSpace(line)
		if line == "=== TLS supported" {
			return ""
		}
		if strings.HasPrefix(line, "*** TLS ") {
			return "swaks cannot speak TLS (" + strings.TrimPrefix(line, "*** ") + ")"
		}
	}
	return "swaks --support does not list TLS"
}

// needSwaksTLS skips (or, when required, fails) a test that runs swaks --tls
// on a machine where swaks lacks its TLS modules.
func needSwaksTLS(t *testing.T, swaks string) {
	t.Helper()
	if reason := swaksTLSMissing(swaks); reason != "" {
		interopMissing(t, reason, swaksTLSPackages)
	}
}

func runTool(t *testing.T, stdin string, name string, args ...string) (string, error) {
	t.Helper()
	ctx, cancel := context.WithTimeout(context.Background(), 60*time.Second)
	defer cancel()
	cmd := exec.CommandContext(ctx, name, args...)
	cmd.Stdin = strings.NewReader(stdin)
	var out bytes.Buffer
	cmd.Stdout, cmd.Stderr = &out, &out
	err := cmd.Run()
	return out.String(), err
}

func TestInteropSwaks(t *testing.T) {
	swaks := needTool(t, "swaks", "swaks")
	d := startDaemon(t, nil)
	port587 := strconv.Itoa(d.port587)
	port25 := strconv.Itoa(d.port25)
	for _, tc := range []struct {
		name    string
		args    []string
		wantOK  bool
		wantOut string
	}{
		{"STARTTLS + AUTH LOGIN on 587", []string{"--server", "127.0.0.1", "--port", port587, "--tls", "--auth", "LOGIN",
			"--auth-user", "alice@contoso.com", "--auth-password", testPassword, "--from", "alice@contoso.com", "--to", "friend@example.org"}, true, "250 2.6.0"},
		{"STARTTLS + AUTH PLAIN on 587", []string{"--server", "127.0.0.1", "--port", port587, "--tls", "--auth", "PLAIN",
			"--auth-user", "alice", "--auth-password", testPassword, "--from", "alice@contoso.com", "--to", "friend@example.org"}, true, "235 2.7.0"},
		{"wrong password", []string{"--server", "127.0.0.1", "--port", port587, "--tls", "--auth", "LOGIN",
			"--auth-user", "alice@contoso.com", "--auth-password", "nope", "--from", "alice@contoso.com", "--to", "friend@example.org"}, false, "535 5.7.8"},
		{"AUTH without TLS is not offered", []string{"--server", "127.0.0.1", "--port", port587, "--auth", "LOGIN",
			"--auth-user", "alice@contoso.com", "--auth-password", testPassword, "--from", "alice@contoso.com", "--to", "friend@example.org"}, false, "Host did not advertise authentication"},
		{"relay refused on 25", []string{"--server", "127.0.0.1", "--port", port25, "--tls",
			"--from", "spammer@example.net", "--to", "victim@example.org"}, false, "550 5.7.54"},
		{"local delivery accepted on 25", []string{"--server", "127.0.0.1", "--port", port25, "--tls",
			"--from", "partner@example.net", "--to", "alice@contoso.com"}, true, "250 2.6.0"},
	} {
		t.Run(tc.name, func(t *testing.T) {
			if slices.Contains(tc.args, "--tls") {
				needSwaksTLS(t, swaks)
			}
			out, err := runTool(t, "", swaks, tc.args...)
			if (err == nil) != tc.wantOK || !strings.Contains(out, tc.wantOut) {
				t.Fatalf("swaks ok=%v (want %v), output lacks %q:\n%s", err == nil, tc.wantOK, tc.wantOut, out)
			}
		})
	}
}

func TestInteropMsmtp(t *testing.T) {
	msmtp := needTool(t, "msmtp", "msmtp")
	d := startDaemon(t, nil)
	dir := t.TempDir()
	rc := filepath.Join(dir, "msmtprc")
	conf := "account default\nhost 127.0.0.1\nport " + strconv.Itoa(d.port587) + "\n" +
		"tls on\ntls_starttls on\ntls_certcheck off\nauth login\nuser alice@contoso.com\npassword " + testPassword + "\n" +
		"from alice@contoso.com\nlogfile " + filepath.Join(dir, "msmtp.log") + "\n"
	if err := os.WriteFile(rc, []byte(conf), 0o600); err != nil {
		t.Fatal(err)
	}
	out, err := runTool(t, "Subject: from msmtp\n\nHello from msmtp with bare LF line endings.\n", msmtp, "-C", rc, "friend@example.org")
	if err != nil {
		t.Fatalf("msmtp: %v\n%s", err, out)
	}
	log, _ := os.ReadFile(filepath.Join(dir, "msmtp.log"))
	if !strings.Contains(string(log), "exitcode=EX_OK") {
		t.Fatalf("msmtp log: %s", log)
	}
	got := waitSink(t, d.sink)
	if got.from != "alice@contoso.com" || len(got.to) != 1 || got.to[0] != "friend@example.org" ||
		!strings.Contains(got.data, "with ESMTPSA") || !strings.Contains(got.data, "Hello from msmtp with bare LF line endings.\r\n") {
		t.Fatalf("smart host got %+v", got)
	}
}

// swaks from 127.0.0.2 reaches a relay connector scoped to that address
// and may relay; from 127.0.0.1 it reaches the Default Frontend and may not.
func TestInteropSwaksRelayByIPRange(t *testing.T) {
	swaks := needTool(t, "swaks", "swaks")
	d := startDaemon(t, func(c *config.Config, d *testDaemon) {
		relay := connector.New("Anonymous Relay", connector.UsageCustom, "relay.contoso.com")
		relay.Bindings = []netip.AddrPort{netip.MustParseAddrPort(d.addr25())}
		relay.RemoteIPRanges = mustRange("127.0.0.2")
		relay.PermissionGroups = permissions.Groups{permissions.GroupAnonymousUsers}
		relay.AnonymousRelay = true
		relay.Banner = "220 Contoso relay for devices"
		c.ReceiveConnectors = append(c.ReceiveConnectors, relay)
	})
	port := strconv.Itoa(d.port25)
	out, err := runTool(t, "", swaks, "--server", "127.0.0.1", "--port", port, "--local-interface", "127.0.0.2",
		"--from", "scanner@contoso.com", "--to", "someone@example.org")
	if err != nil || !strings.Contains(out, "220 Contoso relay for devices") || !strings.Contains(out, "250 2.6.0") {
		t.Fatalf("relay from 127.0.0.2 (err %v):\n%s", err, out)
	}
	out, err = runTool(t, "", swaks, "--server", "127.0.0.1", "--port", port, "--local-interface", "127.0.0.1",
		"--from", "scanner@contoso.com", "--to", "someone@example.org")
	if err == nil || !strings.Contains(out, "220 mail.contoso.com") || !strings.Contains(out, "550 5.7.54") {
		t.Fatalf("relay from 127.0.0.1 must be refused (err %v):\n%s", err, out)
	}
}

func waitSink(t *testing.T, s *sink) sinkMsg {
	t.Helper()
	select {
	case m := <-s.got:
		return m
	case <-time.After(15 * time.Second):
		t.Fatal("nothing reached the smart host")
	}
	return sinkMsg{}
}

// Postfix's smtp-sink is the smart host: mail submitted on 587 is relayed
// to it, and the message it dumps is ours, with CRLF line endings.
func TestInteropSmtpSinkAsSmartHost(t *testing.T) {
	sinkTool := needTool(t, "smtp-sink", "postfix")
	// As root smtp-sink runs as nobody, who must reach the dump folder:
	// t.TempDir's parent is private, so make one directly in /tmp.
	dir, err := os.MkdirTemp("", "smtp-sink-")
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { os.RemoveAll(dir) })
	if err := os.Chmod(dir, 0o777); err != nil {
		t.Fatal(err)
	}
	l, err := net.Listen("tcp4", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	addr := l.Addr().String()
	l.Close()
	args := []string{"-d", filepath.Join(dir, "msg-%Y%m%d%H%M%S."), addr, "10"}
	if os.Geteuid() == 0 {
		args = append([]string{"-u", "nobody"}, args...)
	}
	cmd := exec.Command(sinkTool, args...)
	if err := cmd.Start(); err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { cmd.Process.Kill(); cmd.Wait() })
	waitDial(t, addr)

	d := startDaemon(t, func(c *config.Config, d *testDaemon) {
		c.SendConnectors[0].SmartHosts = mustSmartHosts(addr)
	})
	d.submit(t, []string{"friend@example.org"}, "Subject: via smtp-sink\r\n\r\nrelayed through Postfix's smtp-sink\r\n")
	deadline := time.Now().Add(15 * time.Second)
	for time.Now().Before(deadline) {
		entries, _ := os.ReadDir(dir)
		for _, e := range entries {
			data, err := os.ReadFile(filepath.Join(dir, e.Name()))
			if err != nil || !strings.Contains(string(data), "relayed through Postfix's smtp-sink") {
				continue
			}
			if !strings.Contains(string(data), "friend@example.org") || !strings.Contains(string(data), "with ESMTPSA") {
				t.Fatalf("smtp-sink dump:\n%s", data)
			}
			return
		}
		time.Sleep(20 * time.Millisecond) // polling smtp-sink's dump folder
	}
	t.Fatal("smtp-sink never received the message")
}

func waitDial(t *testing.T, addr string) {
	t.Helper()
	deadline := time.Now().Add(10 * time.Second)
	for time.Now().Before(deadline) {
		if c, err := net.DialTimeout("tcp", addr, time.Second); err == nil {
			c.Close()
			return
		}
		time.Sleep(10 * time.Millisecond) // the peer's port answering is the signal
	}
	t.Fatalf("%s never answered", addr)
}

// A swaks without its TLS modules is detected from "swaks --support", and
// the test that needs TLS is skipped with the reason, or fails under
// TRANSPORTD_INTEROP=require naming the apt command that fixes it.
func TestSwaksTLSCapability(t *testing.T) {
	dir := t.TempDir()
	fake := filepath.Join(dir, "swaks")
	// What Debian's swaks prints without libnet-ssleay-perl.
	script := "#!/bin/sh\necho '=== Basic AUTH supported'\necho '*** TLS not available: requires Net::SSLeay'\n"
	if err := os.WriteFile(fake, []byte(script), 0o755); err != nil {
		t.Fatal(err)
	}
	reason := swaksTLSMissing(fake)
	if !strings.Contains(reason, "TLS not available: requires Net::SSLeay") {
		t.Fatalf("swaks without TLS modules: reason %q", reason)
	}
	fatal, msg := interopVerdict("require", reason, swaksTLSPackages)
	if !fatal || !strings.Contains(msg, "apt-get install libnet-ssleay-perl libio-socket-ssl-perl") {
		t.Fatalf("required: fatal=%v %q", fatal, msg)
	}
	if fatal, msg := interopVerdict("", reason, swaksTLSPackages); fatal || !strings.Contains(msg, "Net::SSLeay") {
		t.Fatalf("not required: fatal=%v %q", fatal, msg)
	}
	if err := os.WriteFile(fake, []byte("#!/bin/sh\necho '=== TLS supported'\n"), 0o755); err != nil {
		t.Fatal(err)
	}
	if reason := swaksTLSMissing(fake); reason != "" {
		t.Fatalf("swaks with TLS: %q", reason)
	}
	if real, err := exec.LookPath("swaks"); err == nil {
		t.Logf("installed swaks: TLS missing reason %q", swaksTLSMissing(real))
	}
}
