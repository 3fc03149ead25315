package service

import (
	"bufio"
	"context"
	"crypto/tls"
	"crypto/x509"
	"encoding/base64"
	"fmt"
	"io"
	"log/slog"
	"net"
	"net/netip"
	"os"
	"path/filepath"
	"strconv"
	"strings"
	"testing"
	"time"

	"github.com/transportd/transportd/connector"
	"github.com/transportd/transportd/policies/credentials"
	"github.com/transportd/transportd/policies/iprange"
	"github.com/transportd/transportd/transport/config"
	"github.com/transportd/transportd/transport/value"
)

// testDaemon is a real transportd on loopback ports.
type testDaemon struct {
	t       *testing.T
	svc     *Service
	cfgPath string
	port25  int // stands in for 25 (Default Frontend)
	port587 int // stands in for 587 (Client Frontend)
	reloads chan error
	cancel  context.CancelFunc
	done    chan struct{}
}

const testPassword = "S3cret-pass!"

func freePort(t *testing.T) int {
	t.Helper()
	l, err := net.Listen("tcp4", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	defer l.Close()
	return l.Addr().(*net.TCPAddr).Port
}

// startDaemon writes a config with the default connectors moved to
// loopback ports, the accepted domain contoso.com and the mailbox alice,
// lets mutate change it, and starts the daemon.
func startDaemon(t *testing.T, mutate func(c *config.Config, d *testDaemon)) *testDaemon {
	t.Helper()
	dir := t.TempDir()
	d := &testDaemon{t: t, cfgPath: filepath.Join(dir, "transportd.yaml"), port25: freePort(t), port587: freePort(t), reloads: make(chan error, 16)}
	c, err := config.Load(d.cfgPath) // creates the defaults, as a first start does
	if err != nil {
		t.Fatal(err)
	}
	c.Server.Fqdn = "mail.contoso.com"
	c.ReceiveConnectors = connector.Defaults("mail.contoso.com")
	for i := range c.ReceiveConnectors {
		rc := &c.ReceiveConnectors[i]
		port := d.port25
		if strings.HasPrefix(rc.Name, "Client") {
			port = d.port587
		}
		rc.Bindings = []netip.AddrPort{netip.AddrPortFrom(netip.MustParseAddr("127.0.0.1"), uint16(port))}
		rc.TarpitInterval = value.TimeSpan(10 * time.Millisecond)
		rc.AuthTarpitInterval = value.TimeSpan(10 * time.Millisecond)
	}
	c.AcceptedDomains = []config.AcceptedDomain{
		{Name: "contoso.com", DomainName: "contoso.com", DomainType: "Authoritative", Default: true},
		{Name: "fabrikam relay", DomainName: "fabrikam.com", DomainType: "ExternalRelay"},
	}
	hash, err := credentials.Hash(testPassword)
	if err != nil {
		t.Fatal(err)
	}
	c.Mailboxes = []config.Mailbox{{Name: "alice", PrimarySmtpAddress: "alice@contoso.com", Enabled: true, PasswordHash: hash}}
	if mutate != nil {
		mutate(c, d)
	}
	if err := c.Save(); err != nil {
		t.Fatal(err)
	}
	log := slog.New(slog.NewTextHandler(testWriter{t}, &slog.HandlerOptions{Level: slog.LevelDebug}))
	svc, err := Open(context.Background(), d.cfgPath, log)
	if err != nil {
		t.Fatal(err)
	}
	svc.OnReload = func(gen int, err error) { d.reloads <- err }
	d.svc = svc
	ctx, cancel := context.WithCancel(context.Background())
	d.cancel, d.done = cancel, make(chan struct{})
	go func() { defer close(d.done); svc.Run(ctx) }()
	t.Cleanup(func() { cancel(); <-d.done })
	return d
}

type testWriter struct{ t *testing.T }

func (w testWriter) Write(p []byte) (int, error) {
	w.t.Log(strings.TrimRight(string(p), "\n"))
	return len(p), nil
}

// waitReload waits for the daemon to apply a configuration change.
func (d *testDaemon) waitReload() {
	d.t.Helper()
	select {
	case err := <-d.reloads:
		if err != nil {
			d.t.Fatalf("reload failed: %v", err)
		}
	case <-time.After(10 * time.Second):
		d.t.Fatal("the daemon did not reload within 10 s")
	}
}

func (d *testDaemon) addr25() string  { return fmt.Sprintf("127.0.0.1:%d", d.port25) }
func (d *testDaemon) addr587() string { return fmt.Sprintf("127.0.0.1:%d", d.port587) }

// client is a raw SMTP client that shows every reply exactly.
type client struct {
	t    *testing.T
	conn net.Conn
	r    *bufio.Reader
	// Greeting is the 220 line.
	Greeting string
}

func dial(t *testing.T, addr string) *client {
	return dialFrom(t, "", addr)
}

func dialFrom(t *testing.T, local, addr string) *client {
	t.Helper()
	dl := net.Dialer{Timeout: 5 * time.Second}
	if local != "" {
		dl.LocalAddr = &net.TCPAddr{IP: net.ParseIP(local)}
	}
	conn, err := dl.Dial("tcp", addr)
	if err != nil {
		t.Fatal(err)
	}
	conn.SetDeadline(time.Now().Add(30 * time.Second))
	c := &client{t: t, conn: conn, r: bufio.NewReader(conn)}
	t.Cleanup(func() { conn.Close() })
	c.Greeting = c.reply()
	return c
}

// reply reads one (possibly multi-line) reply and returns it joined by "\n".
func (c *client) reply() string {
	c.t.Helper()
	var lines []string
	for {
		line, err := c.r.ReadString('\n')
		if err != nil {
			if len(lines) == 0 && line == "" {
				return "EOF"
			}
			lines = append(lines, strings.TrimRight(line, "\r\n"))
			return strings.Join(lines, "\n")
		}
		line = strings.TrimRight(line, "\r\n")
		lines = append(lines, line)
		if len(line) < 4 || line[3] != '-' {
			return strings.Join(lines, "\n")
		}
	}
}

func (c *client) cmd(format string, args ...any) string {
	c.t.Helper()
	fmt.Fprintf(c.conn, format+"\r\n", args...)
	return c.reply()
}

func (c *client) expect(prefix, format string, args ...any) string {
	c.t.Helper()
	r := c.cmd(format, args...)
	if !strings.HasPrefix(r, prefix) {
		c.t.Fatalf("%s: got %q, want %s...", fmt.Sprintf(format, args...), r, prefix)
	}
	return r
}

func (c *client) startTLS(serverName string) *tls.ConnectionState {
	c.t.Helper()
	c.expect("220", "STARTTLS")
	return c.handshake(serverName)
}

// startTLSAfterPipelined reads the 220 to a STARTTLS already sent.
func (c *client) startTLSAfterPipelined(serverName string) *tls.ConnectionState {
	c.t.Helper()
	if r := c.reply(); !strings.HasPrefix(r, "220") {
		c.t.Fatalf("STARTTLS: %q", r)
	}
	return c.handshake(serverName)
}

func (c *client) handshake(serverName string) *tls.ConnectionState {
	c.t.Helper()
	tc := tls.Client(c.conn, &tls.Config{InsecureSkipVerify: true, ServerName: serverName})
	if err := tc.Handshake(); err != nil {
		c.t.Fatalf("TLS handshake: %v", err)
	}
	c.conn = tc
	c.r = bufio.NewReader(tc)
	st := tc.ConnectionState()
	return &st
}

func (c *client) authPlain(user, pass string) string {
	c.t.Helper()
	ir := base64.StdEncoding.EncodeToString([]byte("\x00" + user + "\x00" + pass))
	return c.cmd("AUTH PLAIN %s", ir)
}

func (c *client) authLogin(user, pass string) string {
	c.t.Helper()
	if r := c.cmd("AUTH LOGIN"); !strings.HasPrefix(r, "334 ") {
		return r
	}
	if r := c.cmd("%s", base64.StdEncoding.EncodeToString([]byte(user))); !strings.HasPrefix(r, "334 ") {
		return r
	}
	return c.cmd("%s", base64.StdEncoding.EncodeToString([]byte(pass)))
}

// send runs a whole transaction and returns the final reply.
func (c *client) send(from string, to []string, body string) string {
	c.t.Helper()
	if r := c.cmd("MAIL FROM:<%s>", from); !strings.HasPrefix(r, "250") {
		return r
	}
	for _, rc := range to {
		if r := c.cmd("RCPT TO:<%s>", rc); !strings.HasPrefix(r, "250") {
			return r
		}
	}
	if r := c.cmd("DATA"); !strings.HasPrefix(r, "354") {
		return r
	}
	io.WriteString(c.conn, body)
	return c.cmd(".")
}

func (c *client) close() {
	c.cmd("QUIT")
	c.conn.Close()
}

// queued returns the stored message for the queue id in a 250 reply.
func (d *testDaemon) queued(reply string) string {
	d.t.Helper()
	i, j := strings.Index(reply, "<"), strings.Index(reply, ">")
	if i < 0 || j < i {
		d.t.Fatalf("no queue id in %q", reply)
	}
	data, err := os.ReadFile(filepath.Join(d.svc.Config().DataDir(), "queue", "msg", reply[i+1:j]+".eml"))
	if err != nil {
		d.t.Fatalf("queued message: %v", err)
	}
	return string(data)
}

func leafOf(st *tls.ConnectionState) *x509.Certificate { return st.PeerCertificates[0] }

func mustRange(s string) iprange.List {
	l, err := iprange.ParseList(s)
	if err != nil {
		panic(err)
	}
	return l
}

var _ = strconv.Itoa
