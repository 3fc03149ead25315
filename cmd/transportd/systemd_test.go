package main

import (
	"bufio"
	"fmt"
	"net"
	"net/netip"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"syscall"
	"testing"
	"time"

	"github.com/transportd/transportd/transport/admin/config"
)

// lowPort returns a free loopback port below 1024, which only a process
// with CAP_NET_BIND_SERVICE may bind.
func lowPort(t *testing.T) int {
	t.Helper()
	for p := 1000; p > 600; p-- {
		l, err := net.Listen("tcp4", fmt.Sprintf("127.0.0.1:%d", p))
		if err == nil {
			l.Close()
			return p
		}
	}
	t.Skip("no free port below 1024")
	return 0
}

// The daemon as the unit starts it: an unprivileged user whose only
// capability is CAP_NET_BIND_SERVICE, no new privileges, sd_notify on a
// NOTIFY_SOCKET. It must bind a port below 1024, accept and queue mail in
// its data folder, say READY=1, keep the watchdog fed, reload on SIGHUP
// with RELOADING=1/READY=1, serve sendmail from its runtime folder, and
// stop cleanly on SIGTERM: it drops no right it needs.
func TestDaemonRunsAsTheUnitStartsIt(t *testing.T) {
	if os.Geteuid() != 0 {
		t.Skip("needs root to start the daemon as another user")
	}
	sp, err := exec.LookPath("setpriv")
	if err != nil {
		t.Skip("setpriv (util-linux) is not installed")
	}
	root := t.TempDir()
	os.Chmod(root, 0o755)
	os.Chmod(filepath.Dir(root), 0o755)
	cfgDir, dataDir, runDir := filepath.Join(root, "etc"), filepath.Join(root, "data"), filepath.Join(root, "run")
	cfg := filepath.Join(cfgDir, "transportd.yaml")
	port := lowPort(t)
	if _, err := config.Load(cfg); err != nil {
		t.Fatal(err)
	}
	if _, err := config.Update(cfg, func(c *config.Config) error {
		c.Server.Name, c.Server.Fqdn, c.Server.DataPath = "MAIL", "mail.contoso.com", dataDir
		c.AcceptedDomains = config.Defaults("mail.contoso.com").AcceptedDomains
		c.ReceiveConnectors = c.ReceiveConnectors[:1] // Default Frontend
		c.ReceiveConnectors[0].Bindings = []netip.AddrPort{netip.MustParseAddrPort(fmt.Sprintf("127.0.0.1:%d", port))}
		c.ReceiveConnectors[0].Fqdn = "mail.contoso.com"
		c.Logging.MetricsAddress = ""
		c.ClientSettings.HttpBindings = nil
		return nil
	}); err != nil {
		t.Fatal(err)
	}
	ok(t, cfg, "Pa55word!\n", "mailbox", "new", "-name", "alice", "-primarysmtpaddress", "alice@contoso.com", "-password", "-")
	// What `transportd install` does: the folders belong to the service user.
	if err := installFolders(cfg, dataDir, 65534, 65534); err != nil {
		t.Fatal(err)
	}
	if err := os.MkdirAll(runDir, 0o755); err != nil {
		t.Fatal(err)
	}
	os.Chown(runDir, 65534, 65534)

	notifyPath := filepath.Join(root, "notify.sock")
	notify, err := net.ListenUnixgram("unixgram", &net.UnixAddr{Name: notifyPath, Net: "unixgram"})
	if err != nil {
		t.Fatal(err)
	}
	defer notify.Close()
	os.Chmod(notifyPath, 0o666)
	states := make(chan string, 256)
	go func() {
		buf := make([]byte, 4096)
		for {
			n, err := notify.Read(buf)
			if err != nil {
				close(states)
				return
			}
			states <- string(buf[:n])
		}
	}()
	exited := make(chan error, 1)
	waitState := func(want string) {
		t.Helper()
		timeout := time.After(30 * time.Second)
		for {
			select {
			case err := <-exited:
				exited <- err
				t.Fatalf("the daemon exited (%v) before saying %q", err, want)
			case s, ok := <-states:
				if !ok {
					t.Fatalf("notify socket closed before %q", want)
				}
				if strings.Contains(s, want) {
					return
				}
			case <-timeout:
				t.Fatalf("no %q from the daemon", want)
			}
		}
	}

	exe, _ := os.Executable()
	bin := filepath.Join(root, "transportd")
	data, err := os.ReadFile(exe)
	if err != nil {
		t.Fatal(err)
	}
	if err := os.WriteFile(bin, data, 0o755); err != nil {
		t.Fatal(err)
	}
	cmd := exec.Command(sp, "--reuid=nobody", "--regid=nogroup", "--clear-groups",
		"--inh-caps=-all,+net_bind_service", "--ambient-caps=-all,+net_bind_service",
		"--bounding-set=-all,+net_bind_service", "--no-new-privs",
		bin, "-config", cfg, "run")
	cmd.Env = []string{"TRANSPORTD_TEST_DAEMON=1", "PATH=/usr/bin:/bin", "NOTIFY_SOCKET=" + notifyPath,
		"WATCHDOG_USEC=400000", "RUNTIME_DIRECTORY=" + runDir}
	logf, err := os.Create(filepath.Join(root, "daemon.log"))
	if err != nil {
		t.Fatal(err)
	}
	defer logf.Close()
	cmd.Stdout, cmd.Stderr = logf, logf
	if err := cmd.Start(); err != nil {
		t.Fatal(err)
	}
	go func() { exited <- cmd.Wait() }()
	defer func() {
		if cmd.ProcessState == nil {
			cmd.Process.Kill()
			<-exited
		}
		if t.Failed() {
			b, _ := os.ReadFile(filepath.Join(root, "daemon.log"))
			t.Logf("daemon log:\n%s", b)
		}
	}()

	waitState("READY=1")
	// It bound the low port and queues mail in its own data folder.
	c, err := net.DialTimeout("tcp", fmt.Sprintf("127.0.0.1:%d", port), 5*time.Second)
	if err != nil {
		t.Fatal(err)
	}
	r := bufio.NewReader(c)
	say := func(line string) string {
		if line != "" {
			fmt.Fprintf(c, "%s\r\n", line)
		}
		var last string
		for {
			l, err := r.ReadString('\n')
			if err != nil {
				t.Fatalf("after %q: %v", line, err)
			}
			if len(l) < 4 || l[3] != '-' {
				return l
			}
			last = l
			_ = last
		}
	}
	for _, step := range [][2]string{{"", "220 "}, {"EHLO client.example", "250 "},
		{"MAIL FROM:<sender@example.org>", "250 "}, {"RCPT TO:<alice@contoso.com>", "250 "},
		{"DATA", "354 "}, {"Subject: unit\r\n\r\nqueued by an unprivileged daemon\r\n.", "250 "}, {"QUIT", "221 "}} {
		if got := say(step[0]); !strings.HasPrefix(got, step[1]) {
			t.Fatalf("%q: %q, want %s", step[0], got, step[1])
		}
	}
	c.Close()
	waitState("WATCHDOG=1")
	cmd.Process.Signal(syscall.SIGHUP)
	waitState("RELOADING=1")
	waitState("READY=1")

	// sendmail from another unprivileged user reaches it through /run/transportd.
	code, out := asUser(t, "daemon", "daemon", "sendmail", []string{"TRANSPORTD_SUBMIT_SOCKET=" + filepath.Join(runDir, "submit.sock")},
		"Subject: via sendmail\n\nbody\n", "alice@contoso.com")
	if code != 0 {
		t.Errorf("sendmail as daemon: exit %d: %s", code, out)
	}

	// Both reach the mailbox: the daemon can write its Maildirs.
	deadline := time.Now().Add(20 * time.Second)
	for delivered := 0; delivered < 2; {
		delivered = 0
		filepath.WalkDir(dataDir, func(p string, d os.DirEntry, err error) error {
			if err == nil && !d.IsDir() && filepath.Base(filepath.Dir(p)) == "new" {
				delivered++
			}
			return nil
		})
		if time.Now().After(deadline) {
			t.Fatalf("%d of 2 messages delivered", delivered)
		}
		time.Sleep(20 * time.Millisecond)
	}

	cmd.Process.Signal(syscall.SIGTERM)
	waitState("STOPPING=1")
	select {
	case err := <-exited:
		if err != nil {
			t.Fatalf("the daemon stopped with %v", err)
		}
	case <-time.After(30 * time.Second):
		t.Fatal("the daemon did not stop on SIGTERM")
	}
}

// The unit in the repository passes systemd's own check.
func TestUnitVerifies(t *testing.T) {
	unit := renderUnit("/usr/local/sbin/transportd", "/etc/transportd/transportd.yaml", "/var/lib/transportd", "transportd")
	for _, want := range []string{"Type=notify", "WatchdogSec=", "ExecReload=/bin/kill -HUP $MAINPID", "User=transportd",
		"AmbientCapabilities=CAP_NET_BIND_SERVICE", "NoNewPrivileges=yes", "ProtectSystem=strict", "PrivateTmp=yes",
		"ReadWritePaths=/etc/transportd /var/lib/transportd", "RuntimeDirectory=transportd"} {
		if !strings.Contains(unit, want) {
			t.Errorf("unit lacks %q", want)
		}
	}
	sa, err := exec.LookPath("systemd-analyze")
	if err != nil {
		t.Skip("systemd-analyze is not installed; checked the unit's settings only")
	}
	dir := t.TempDir()
	p := filepath.Join(dir, "transportd.service")
	bin, _ := os.Executable()
	if err := os.WriteFile(p, []byte(renderUnit(bin, "/etc/transportd/transportd.yaml", "/var/lib/transportd", "root")), 0o644); err != nil {
		t.Fatal(err)
	}
	out, err := exec.Command(sa, "verify", p).CombinedOutput()
	if err != nil {
		t.Fatalf("systemd-analyze verify: %v\n%s", err, out)
	}
}
