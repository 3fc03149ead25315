package main

import (
	"bufio"
	"fmt"
	"io"
	"log"
	"net"
	"net/netip"
	"os"
	"os/exec"
	"path/filepath"
	"regexp"
	"strings"
	"sync"
	"syscall"
	"testing"
	"time"

	gosmtp "github.com/emersion/go-smtp"

	"github.com/transportd/transportd/policies/iprange"
	"github.com/transportd/transportd/policies/value"
	"github.com/transportd/transportd/transport/admin/config"
	"github.com/transportd/transportd/transport/mail/sendconnector"
)

// TestMain lets the test binary run as the daemon itself, so crash tests
// can kill -9 a real transportd process.
func TestMain(m *testing.M) {
	if os.Getenv("TRANSPORTD_TEST_DAEMON") == "1" {
		os.Exit(runAs(os.Args, os.Stdin, os.Stdout, os.Stderr))
	}
	os.Exit(m.Run())
}

type recordingHost struct {
	mu    sync.Mutex
	ids   map[string]int
	delay time.Duration
}

var receivedID = regexp.MustCompile(`id ([0-9A-F]{25});`)

func (h *recordingHost) NewSession(*gosmtp.Conn) (gosmtp.Session, error) { return &recSession{h}, nil }

type recSession struct{ h *recordingHost }

func (s *recSession) Reset()                                 {}
func (s *recSession) Logout() error                          { return nil }
func (s *recSession) Mail(string, *gosmtp.MailOptions) error { return nil }
func (s *recSession) Rcpt(string, *gosmtp.RcptOptions) error { return nil }
func (s *recSession) Data(r io.Reader) error {
	b, err := io.ReadAll(r)
	if err != nil {
		return err
	}
	time.Sleep(s.h.delay) // a slow smart host, so that the queue fills up
	if m := receivedID.FindSubmatch(b); m != nil {
		s.h.mu.Lock()
		s.h.ids[string(m[1])]++
		s.h.mu.Unlock()
	}
	return nil
}

func startDaemonProcess(t *testing.T, cfg string) *exec.Cmd {
	t.Helper()
	cmd := exec.Command(os.Args[0], "-config", cfg, "run")
	cmd.Env = append(os.Environ(), "TRANSPORTD_TEST_DAEMON=1")
	logf, err := os.OpenFile(cfg+".log", os.O_CREATE|os.O_APPEND|os.O_WRONLY, 0o600)
	if err != nil {
		t.Fatal(err)
	}
	cmd.Stdout, cmd.Stderr = logf, logf
	if err := cmd.Start(); err != nil {
		t.Fatal(err)
	}
	return cmd
}

func waitListening(t *testing.T, addr string) {
	t.Helper()
	deadline := time.Now().Add(20 * time.Second)
	for time.Now().Before(deadline) {
		if c, err := net.DialTimeout("tcp", addr, time.Second); err == nil {
			c.Close()
			return
		}
		time.Sleep(20 * time.Millisecond) // the daemon's port answering is the signal
	}
	t.Fatalf("daemon never listened on %s", addr)
}

// sendOne sends one message and returns the queue id from the 250 reply,
// or "" when the server did not accept it.
func sendOne(addr string, n int) string {
	c, err := net.DialTimeout("tcp", addr, 5*time.Second)
	if err != nil {
		return ""
	}
	defer c.Close()
	c.SetDeadline(time.Now().Add(30 * time.Second))
	r := bufio.NewReader(c)
	read := func() string {
		var last string
		for {
			line, err := r.ReadString('\n')
			if err != nil {
				return ""
			}
			last = line
			if len(line) < 4 || line[3] != '-' {
				return last
			}
		}
	}
	if !strings.HasPrefix(read(), "220") {
		return ""
	}
	for _, cmd := range []string{"EHLO load.test", "MAIL FROM:<app@contoso.com>", "RCPT TO:<ops@example.org>", "DATA"} {
		fmt.Fprintf(c, "%s\r\n", cmd)
		if rep := read(); rep == "" || rep[0] != '2' && rep[0] != '3' {
			return ""
		}
	}
	fmt.Fprintf(c, "Subject: load %d\r\n\r\n%s.\r\n", n, strings.Repeat(strings.Repeat("x", 76)+"\r\n", 52))
	rep := read()
	if m := regexp.MustCompile(`^250 2\.6\.0 <([0-9A-F]+)>`).FindStringSubmatch(rep); m != nil {
		fmt.Fprintf(c, "QUIT\r\n")
		return m[1]
	}
	return ""
}

// TestKill9DuringLoadLosesNothing kills the daemon with SIGKILL in the
// middle of a 600-message load; after a restart every message that got 250
// reaches the smart host.
func TestKill9DuringLoadLosesNothing(t *testing.T) {
	if testing.Short() {
		t.Skip("crash test")
	}
	host := &recordingHost{ids: map[string]int{}, delay: 5 * time.Millisecond}
	srv := gosmtp.NewServer(host)
	srv.ErrorLog = log.New(io.Discard, "", 0)
	hl, err := net.Listen("tcp4", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	go srv.Serve(hl)
	defer srv.Close()

	dir := t.TempDir()
	cfgPath := filepath.Join(dir, "transportd.yaml")
	pl, _ := net.Listen("tcp4", "127.0.0.1:0")
	port := pl.Addr().(*net.TCPAddr).Port
	pl.Close()
	addr := fmt.Sprintf("127.0.0.1:%d", port)
	c := config.Defaults("mail.contoso.com")
	c.ReceiveConnectors = c.ReceiveConnectors[:1]
	rc := &c.ReceiveConnectors[0]
	rc.Bindings[0], rc.Bindings = mustAddrPort(addr), rc.Bindings[:1]
	rc.RemoteIPRanges, _ = iprange.ParseList("127.0.0.1")
	rc.AnonymousRelay = true
	rc.MaxInboundConnectionPerSource = 0
	rc.TarpitInterval = 0
	out := sendconnector.New("Outbound")
	out.AddressSpaces, _ = sendconnector.ParseAddressSpaces("*")
	if err := out.SmartHosts.UnmarshalText([]byte("[127.0.0.1]:" + fmt.Sprint(hl.Addr().(*net.TCPAddr).Port))); err != nil {
		t.Fatal(err)
	}
	out.DNSRoutingEnabled = false
	c.SendConnectors = append(c.SendConnectors, out)
	c.Transport.TransientFailureRetryInterval = value.TimeSpan(200 * time.Millisecond)
	if _, err := config.Load(cfgPath); err != nil {
		t.Fatal(err)
	}
	if _, err := config.Update(cfgPath, func(x *config.Config) error {
		x.Server, x.ReceiveConnectors, x.SendConnectors, x.Transport, x.AcceptedDomains = c.Server, c.ReceiveConnectors, c.SendConnectors, c.Transport, c.AcceptedDomains
		x.Server.DataPath = ""
		return nil
	}); err != nil {
		t.Fatal(err)
	}

	daemon := startDaemonProcess(t, cfgPath)
	waitListening(t, addr)

	var mu sync.Mutex
	var accepted []string
	load := func(from, to int) {
		var wg sync.WaitGroup
		work := make(chan int)
		for w := 0; w < 20; w++ {
			wg.Add(1)
			go func() {
				defer wg.Done()
				for n := range work {
					if id := sendOne(addr, n); id != "" {
						mu.Lock()
						accepted = append(accepted, id)
						mu.Unlock()
					}
				}
			}()
		}
		for n := from; n < to; n++ {
			work <- n
		}
		close(work)
		wg.Wait()
	}
	killed := make(chan struct{})
	go func() {
		defer close(killed)
		for {
			mu.Lock()
			n := len(accepted)
			mu.Unlock()
			if n >= 250 {
				daemon.Process.Signal(syscall.SIGKILL)
				daemon.Wait()
				return
			}
			time.Sleep(2 * time.Millisecond) // watching the load's progress
		}
	}()
	load(0, 400)
	<-killed
	mu.Lock()
	beforeKill := len(accepted)
	mu.Unlock()

	daemon = startDaemonProcess(t, cfgPath)
	defer func() { daemon.Process.Signal(syscall.SIGTERM); daemon.Wait() }()
	waitListening(t, addr)
	load(400, 600)

	deadline := time.Now().Add(60 * time.Second)
	for {
		host.mu.Lock()
		missing := 0
		for _, id := range accepted {
			if host.ids[id] == 0 {
				missing++
			}
		}
		dups := 0
		for _, n := range host.ids {
			if n > 1 {
				dups++
			}
		}
		host.mu.Unlock()
		if missing == 0 {
			t.Logf("%d messages got 250 (%d before the kill); all reached the smart host; %d delivered twice", len(accepted), beforeKill, dups)
			if len(accepted)-beforeKill != 200 {
				t.Fatalf("after the restart %d of 200 messages were accepted", len(accepted)-beforeKill)
			}
			if beforeKill < 250 {
				t.Fatalf("only %d messages accepted before the kill", beforeKill)
			}
			return
		}
		if time.Now().After(deadline) {
			log, _ := os.ReadFile(cfgPath + ".log")
			t.Fatalf("%d of %d accepted messages never reached the smart host\n%s", missing, len(accepted), tail(string(log), 30000))
		}
		time.Sleep(50 * time.Millisecond) // polling the smart host's tally
	}
}

func mustAddrPort(s string) netip.AddrPort { return netip.MustParseAddrPort(s) }

func tail(s string, n int) string {
	if len(s) > n {
		return s[len(s)-n:]
	}
	return s
}
