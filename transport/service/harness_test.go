package service

import (
	"bufio"
	"context"
	"crypto/tls"
	"crypto/x509"
	"encoding/base64"
	"fmt"
	"io"
	"log"
	"log/slog"
	"net"
	"net/netip"
	"os"
	"path/filepath"
	"strconv"
	"strings"
	"sync"
	"testing"
	"time"

	gosmtp "github.com/emersion/go-smtp"

	"github.com/transportd/transportd/connector"
	"github.com/transportd/transportd/policies/credentials"
	"github.com/transportd/transportd/policies/iprange"
	"github.com/transportd/transportd/policies/value"
	"github.com/transportd/transportd/transport/admin/config"
	"github.com/transportd/transportd/transport/mail/sendconnector"
)

// testDaemon is a real transportd on loopback ports.
type testDaemon struct {
	t       *testing.T
	sink    *sink
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
	for {
		l, err := net.Listen("tcp4", "127.0.0.1:0")
		if err != nil {
			t.Fatal(err)
		}
		port := l.Addr().(*net.TCPAddr).Port
		l.Close()
		// The kernel may hand a port just closed out again: never give one
		// twice in this test binary, or two connectors of one daemon could
		// get the same binding.
		if _, taken := handedOut.LoadOrStore(port, true); !taken {
			return port
		}
	}
}

// handedOut holds the ports freePort has given in this test binary.
var handedOut sync.Map

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
	c.Server.Name = "MAIL"
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
	// Everything that is not local leaves through a smart host: an SMTP
	// server in the test on loopback.
	d.sink = startSink(t)
	out := sendconnector.New("Outbound")
	out.AddressSpaces = mustSpaces("*")
	out.SmartHosts = mustSmartHosts(d.sink.addr)
	out.DNSRoutingEnabled = false
	c.SendConnectors = []sendconnector.SendConnector{out}
	c.Transport.TransientFailureRetryInterval = value.TimeSpan(100 * time.Millisecond)
	c.Transport.MessageRetryInterval = value.TimeSpan(200 * time.Millisecond)
	c.Logging.MetricsAddress = "" // tests that scrape metrics pick a free port
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
	d.waitWatching()
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

// queued finds the message with the queue id of a 250 reply wherever the
// pipeline has taken it: still in the queue, at the smart host, or in a
// Maildir (where line endings are LF, as Maildir wants).
func (d *testDaemon) queued(reply string) string {
	d.t.Helper()
	i, j := strings.Index(reply, "<"), strings.Index(reply, ">")
	if i < 0 || j < i {
		d.t.Fatalf("no queue id in %q", reply)
	}
	id := reply[i+1 : j]
	mark := "id " + id + ";"
	deadline := time.Now().Add(10 * time.Second)
	for time.Now().Before(deadline) {
		if m, ok := d.sink.find(mark); ok {
			return m.data
		}
		if found := d.findInMaildirs(mark); found != "" {
			return found
		}
		if rc, err := d.svc.Store().Open(id); err == nil {
			data, _ := io.ReadAll(rc)
			rc.Close()
			return string(data)
		}
		time.Sleep(10 * time.Millisecond) // polling three places the message may be
	}
	d.t.Fatalf("message %s not found in the queue, at the smart host or in a Maildir", id)
	return ""
}

// findInMaildirs returns the first delivered Maildir file containing mark.
func (d *testDaemon) findInMaildirs(mark string) string {
	root := filepath.Join(d.svc.Config().DataDir(), "mailboxes")
	var found string
	filepath.WalkDir(root, func(p string, e os.DirEntry, err error) error {
		if err == nil && !e.IsDir() && strings.Contains(p, string(filepath.Separator)+"new"+string(filepath.Separator)) {
			if b, err := os.ReadFile(p); err == nil && strings.Contains(string(b), mark) {
				found = string(b)
			}
		}
		return nil
	})
	return found
}

// delivered waits for the message of a 250 reply in a Maildir.
func (d *testDaemon) delivered(reply string) string {
	d.t.Helper()
	i, j := strings.Index(reply, "<"), strings.Index(reply, ">")
	mark := "id " + reply[i+1:j] + ";"
	deadline := time.Now().Add(10 * time.Second)
	for time.Now().Before(deadline) {
		if found := d.findInMaildirs(mark); found != "" {
			return found
		}
		time.Sleep(10 * time.Millisecond) // polling the Maildir as a mail client would
	}
	d.t.Fatalf("message %s never reached a Maildir", reply)
	return ""
}

// sink is a smart host in the test: a real go-smtp server on loopback that
// keeps what it receives.
type sink struct {
	addr string
	mu   sync.Mutex
	msgs []sinkMsg
	got  chan sinkMsg
	// fail, when set, answers RCPT for matching recipients with this error.
	fail func(rcpt string) error
}

type sinkMsg struct {
	helo string // the name the client said in EHLO/HELO
	from string
	to   []string
	data string
}

func startSink(t *testing.T) *sink {
	t.Helper()
	s := &sink{got: make(chan sinkMsg, 1000)}
	srv := gosmtp.NewServer(gosmtp.BackendFunc(func(c *gosmtp.Conn) (gosmtp.Session, error) { return &sinkSession{s: s, conn: c}, nil }))
	srv.Domain = "smarthost.test"
	srv.ErrorLog = log.New(io.Discard, "", 0)
	l, err := net.Listen("tcp4", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	s.addr = l.Addr().String()
	go srv.Serve(l)
	t.Cleanup(func() { srv.Close() })
	return s
}

func (s *sink) find(mark string) (sinkMsg, bool) {
	s.mu.Lock()
	defer s.mu.Unlock()
	for _, m := range s.msgs {
		if strings.Contains(m.data, mark) {
			return m, true
		}
	}
	return sinkMsg{}, false
}

func (s *sink) count() int {
	s.mu.Lock()
	defer s.mu.Unlock()
	return len(s.msgs)
}

type sinkSession struct {
	s    *sink
	conn *gosmtp.Conn
	cur  sinkMsg
}

func (ss *sinkSession) Reset()        { ss.cur = sinkMsg{} }
func (ss *sinkSession) Logout() error { return nil }
func (ss *sinkSession) Mail(from string, _ *gosmtp.MailOptions) error {
	ss.cur.from = from
	if ss.conn != nil {
		ss.cur.helo = ss.conn.Hostname()
	}
	return nil
}
func (ss *sinkSession) Rcpt(to string, _ *gosmtp.RcptOptions) error {
	if ss.s.fail != nil {
		if err := ss.s.fail(to); err != nil {
			return err
		}
	}
	ss.cur.to = append(ss.cur.to, to)
	return nil
}
func (ss *sinkSession) Data(r io.Reader) error {
	b, err := io.ReadAll(r)
	if err != nil {
		return err
	}
	ss.cur.data = string(b)
	ss.s.mu.Lock()
	ss.s.msgs = append(ss.s.msgs, ss.cur)
	ss.s.mu.Unlock()
	ss.s.got <- ss.cur
	return nil
}

func mustSpaces(s string) sendconnector.AddressSpaces {
	v, err := sendconnector.ParseAddressSpaces(s)
	if err != nil {
		panic(err)
	}
	return v
}

func mustSmartHosts(s string) sendconnector.SmartHosts {
	var v sendconnector.SmartHosts
	if err := v.UnmarshalText([]byte("[" + strings.Replace(s, ":", "]:", 1))); err != nil {
		panic(err)
	}
	return v
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
