package smtpout

import (
	"bytes"
	"context"
	"errors"
	"fmt"
	"io"
	"net"
	"strconv"
	"strings"
	"testing"
	"testing/iotest"
	"time"

	"github.com/emersion/go-smtp"

	"github.com/transportd/transportd/policies/value"
	"github.com/transportd/transportd/transport/mail/delivery"
	"github.com/transportd/transportd/transport/mail/sendconnector"
)

const testBody = "From: a@contoso.com\r\nTo: b@example.test\r\nSubject: test\r\n\r\nHello.\r\n"

func message(body string) *delivery.Message {
	return &delivery.Message{
		ID:   "Q1",
		From: "sender@contoso.com",
		Size: int64(len(body)),
		Open: func() (io.ReadCloser, error) { return io.NopCloser(strings.NewReader(body)), nil },
	}
}

// smartHostConnector routes everything to the given 127.0.0.1 addresses.
func smartHostConnector(t testing.TB, addrs ...string) sendconnector.SendConnector {
	t.Helper()
	c := sendconnector.New("Smart host")
	c.AddressSpaces = sendconnector.AddressSpaces{{Domain: "*", Cost: 1}}
	c.DNSRoutingEnabled = false
	hosts, err := sendconnector.ParseSmartHosts(strings.Join(addrs, ","))
	if err != nil {
		t.Fatal(err)
	}
	c.SmartHosts = hosts
	return c
}

func newSender(t testing.TB, o Options) *Sender {
	t.Helper()
	if o.HeloName == "" {
		o.HeloName = "out.contoso.com"
	}
	if err := o.Connector.Validate(); err != nil {
		t.Fatalf("test connector: %v", err)
	}
	s := New(o)
	t.Cleanup(func() { s.Close() })
	return s
}

// wantResult checks one result: code 0 means delivered.
func wantResult(t *testing.T, r delivery.Result, code int, enhanced string, contains string) {
	t.Helper()
	if code == 0 {
		if r.Err != nil {
			t.Errorf("%s: %v, want delivered", r.Recipient, r.Err)
		}
		return
	}
	var e *delivery.Error
	if !errors.As(r.Err, &e) {
		t.Fatalf("%s: error %v (%T), want *delivery.Error %d %s", r.Recipient, r.Err, r.Err, code, enhanced)
	}
	got := fmt.Sprintf("%d.%d.%d", e.Enhanced[0], e.Enhanced[1], e.Enhanced[2])
	if e.Code != code || got != enhanced || !strings.Contains(e.Message, contains) {
		t.Errorf("%s: %d %s %q, want %d %s containing %q", r.Recipient, e.Code, got, e.Message, code, enhanced, contains)
	}
}

func TestDeliverPerRecipient(t *testing.T) {
	ts := startServer(t, serverOpts{reject: map[string]*smtp.SMTPError{
		"nobody@example.test": {Code: 550, EnhancedCode: smtp.EnhancedCode{5, 1, 1}, Message: "User unknown"},
		"later@example.test":  {Code: 451, Message: "Try again"},
	}})
	s := newSender(t, Options{Connector: smartHostConnector(t, ts.addr)})
	res := s.Deliver(context.Background(), message(testBody), []string{"bob@example.test", "nobody@example.test", "later@example.test"})
	if len(res) != 3 {
		t.Fatalf("got %d results", len(res))
	}
	wantResult(t, res[0], 0, "", "")
	wantResult(t, res[1], 550, "5.1.1", "User unknown")
	wantResult(t, res[2], 451, "4.0.0", "Try again")
	var e *delivery.Error
	if errors.As(res[1].Err, &e) && (e.RemoteMTA != "127.0.0.1" || !delivery.IsPermanent(e)) {
		t.Errorf("RemoteMTA = %q, permanent = %v", e.RemoteMTA, delivery.IsPermanent(e))
	}
	// A 4xx to RCPT is the recipient's: it must not put the queue in Retry.
	if errors.As(res[2].Err, &e) && e.Connection {
		t.Errorf("per-recipient 451 marked as a connection-level failure: %+v", e)
	}
	msgs, _, _ := ts.snapshot()
	if len(msgs) != 1 {
		t.Fatalf("server got %d messages", len(msgs))
	}
	m := msgs[0]
	if m.From != "sender@contoso.com" || strings.Join(m.Rcpts, ",") != "bob@example.test" || string(m.Data) != testBody {
		t.Errorf("server got %+v", m)
	}
	if m.Size != int64(len(testBody)) {
		t.Errorf("MAIL SIZE= %d, want %d", m.Size, len(testBody))
	}
	if m.Helo != "out.contoso.com" {
		t.Errorf("EHLO name %q, want out.contoso.com", m.Helo)
	}
}

func TestDeliverDataReplyAppliesToAccepted(t *testing.T) {
	ts := startServer(t, serverOpts{reject: map[string]*smtp.SMTPError{
		"nobody@example.test": {Code: 550, EnhancedCode: smtp.EnhancedCode{5, 1, 1}, Message: "User unknown"},
	}})
	s := newSender(t, Options{Connector: smartHostConnector(t, ts.addr)})
	res := s.Deliver(context.Background(), message(testBody+"REJECT-AT-DATA\r\n"), []string{"a@example.test", "nobody@example.test", "b@example.test"})
	wantResult(t, res[0], 554, "5.6.0", "Content refused")
	wantResult(t, res[1], 550, "5.1.1", "User unknown")
	wantResult(t, res[2], 554, "5.6.0", "Content refused")
}

func TestNullSenderAndFqdn(t *testing.T) {
	ts := startServer(t, serverOpts{})
	c := smartHostConnector(t, ts.addr)
	c.Fqdn = "relay-out.contoso.com"
	s := newSender(t, Options{Connector: c})
	m := message(testBody)
	m.From = ""
	wantResult(t, s.Deliver(context.Background(), m, []string{"bob@example.test"})[0], 0, "", "")
	msgs, _, _ := ts.snapshot()
	if len(msgs) != 1 || msgs[0].From != "" || msgs[0].Helo != "relay-out.contoso.com" {
		t.Errorf("server got %+v, want MAIL FROM:<> after EHLO relay-out.contoso.com", msgs)
	}
}

func TestSTARTTLS(t *testing.T) {
	ca := newCA(t)
	cert := ca.leaf(t, "mx.test.example")
	tests := []struct {
		name     string
		server   serverOpts
		change   func(*sendconnector.SendConnector)
		roots    bool // pass the test CA as RootCAs
		code     int
		enhanced string
		contains string
		wantTLS  bool
	}{
		{name: "opportunistic, unknown CA", server: serverOpts{cert: &cert}, wantTLS: true},
		{name: "no STARTTLS offered, clear", server: serverOpts{}},
		{name: "IgnoreSTARTTLS", server: serverOpts{cert: &cert},
			change: func(c *sendconnector.SendConnector) { c.IgnoreSTARTTLS = true }},
		{name: "RequireTLS without STARTTLS", server: serverOpts{},
			change: func(c *sendconnector.SendConnector) { c.RequireTLS = true },
			code:   451, enhanced: "4.7.10", contains: "127.0.0.1 does not offer STARTTLS"},
		{name: "RequireTLS with STARTTLS", server: serverOpts{cert: &cert},
			change: func(c *sendconnector.SendConnector) { c.RequireTLS = true }, wantTLS: true},
		{name: "CertificateValidation, test CA", server: serverOpts{cert: &cert}, roots: true, wantTLS: true,
			change: func(c *sendconnector.SendConnector) {
				c.RequireTLS, c.TlsAuthLevel = true, sendconnector.TLSCertificateValidation
			}},
		{name: "CertificateValidation, unknown CA", server: serverOpts{cert: &cert},
			change: func(c *sendconnector.SendConnector) {
				c.RequireTLS, c.TlsAuthLevel = true, sendconnector.TLSCertificateValidation
			}, code: 451, enhanced: "4.7.5", contains: "does not verify"},
		{name: "DomainValidation, right name", server: serverOpts{cert: &cert}, roots: true, wantTLS: true,
			change: func(c *sendconnector.SendConnector) {
				c.RequireTLS, c.TlsAuthLevel, c.TlsDomain = true, sendconnector.TLSDomainValidation, "mx.test.example"
			}},
		{name: "DomainValidation, wildcard TlsDomain", server: serverOpts{cert: &cert}, roots: true, wantTLS: true,
			change: func(c *sendconnector.SendConnector) {
				c.RequireTLS, c.TlsAuthLevel, c.TlsDomain = true, sendconnector.TLSDomainValidation, "*.test.example"
			}},
		{name: "DomainValidation, smart host IP", server: serverOpts{cert: &cert}, roots: true, wantTLS: true,
			change: func(c *sendconnector.SendConnector) {
				c.RequireTLS, c.TlsAuthLevel = true, sendconnector.TLSDomainValidation
			}},
		{name: "DomainValidation, wrong name", server: serverOpts{cert: &cert}, roots: true,
			change: func(c *sendconnector.SendConnector) {
				c.RequireTLS, c.TlsAuthLevel, c.TlsDomain = true, sendconnector.TLSDomainValidation, "relay.fabrikam.com"
			}, code: 451, enhanced: "4.7.5", contains: "does not cover relay.fabrikam.com"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			ts := startServer(t, tt.server)
			c := smartHostConnector(t, ts.addr)
			if tt.change != nil {
				tt.change(&c)
			}
			o := Options{Connector: c}
			if tt.roots {
				o.RootCAs = ca.pool
			}
			s := newSender(t, o)
			res := s.Deliver(context.Background(), message(testBody), []string{"bob@example.test"})
			wantResult(t, res[0], tt.code, tt.enhanced, tt.contains)
			msgs, mails, _ := ts.snapshot()
			if tt.code != 0 {
				if mails != 0 {
					t.Errorf("server saw %d MAIL commands after a TLS failure", mails)
				}
				return
			}
			if len(msgs) != 1 || msgs[0].TLS != tt.wantTLS {
				t.Errorf("server got %d messages, TLS %v; want 1, TLS %v", len(msgs), len(msgs) == 1 && msgs[0].TLS, tt.wantTLS)
			}
		})
	}
}

func TestAuth(t *testing.T) {
	ca := newCA(t)
	cert := ca.leaf(t, "mx.test.example")
	tests := []struct {
		name      string
		server    serverOpts
		mech      string
		pass      string
		code      int
		enhanced  string
		contains  string
		wantMails int
	}{
		{name: "PLAIN", server: serverOpts{cert: &cert, authMechs: []string{"PLAIN"}}, mech: sendconnector.AuthBasicRequireTLS, pass: "right"},
		{name: "LOGIN only", server: serverOpts{cert: &cert, authMechs: []string{"LOGIN"}}, mech: sendconnector.AuthBasicRequireTLS, pass: "right"},
		{name: "both, in clear with BasicAuth", server: serverOpts{authMechs: []string{"LOGIN", "PLAIN"}, insecure: true}, mech: sendconnector.AuthBasic, pass: "right"},
		{name: "wrong password PLAIN", server: serverOpts{cert: &cert, authMechs: []string{"PLAIN"}}, mech: sendconnector.AuthBasicRequireTLS, pass: "wrong",
			code: 451, enhanced: "4.7.8", contains: "535 5.7.8 Authentication failed"},
		{name: "wrong password LOGIN", server: serverOpts{cert: &cert, authMechs: []string{"LOGIN"}}, mech: sendconnector.AuthBasic, pass: "wrong",
			code: 451, enhanced: "4.7.8", contains: "535 5.7.8 Authentication failed"},
		{name: "RequireTLS auth never in clear", server: serverOpts{authMechs: []string{"PLAIN"}, insecure: true}, mech: sendconnector.AuthBasicRequireTLS, pass: "right",
			code: 451, enhanced: "4.7.10", contains: "never authenticates in clear"},
		{name: "no AUTH offered", server: serverOpts{cert: &cert}, mech: sendconnector.AuthBasic, pass: "right",
			code: 451, enhanced: "4.7.0", contains: "offers no AUTH"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			tt.server.user, tt.server.pass = "relay@contoso.com", "right"
			ts := startServer(t, tt.server)
			c := smartHostConnector(t, ts.addr)
			c.SmartHostAuthMechanism = tt.mech
			c.AuthenticationCredential = sendconnector.Credential{UserName: "relay@contoso.com", Password: tt.pass}
			s := newSender(t, Options{Connector: c})
			res := s.Deliver(context.Background(), message(testBody), []string{"bob@example.test", "carol@example.test"})
			for _, r := range res {
				wantResult(t, r, tt.code, tt.enhanced, tt.contains)
				if r.Err != nil && delivery.IsPermanent(r.Err) {
					t.Errorf("%v is permanent; auth trouble must wait for the admin", r.Err)
				}
				// AUTH trouble is the next hop's, not the recipient's: the
				// queue goes to Retry as a whole.
				if e, ok := r.Err.(*delivery.Error); ok && !e.Connection {
					t.Errorf("%v is not marked as a connection-level failure", r.Err)
				}
				if r.Err != nil && strings.Contains(r.Err.Error(), tt.pass) {
					t.Errorf("error reveals the password: %v", r.Err)
				}
			}
			msgs, _, _ := ts.snapshot()
			if tt.code == 0 && (len(msgs) != 1 || msgs[0].AuthUser != "relay@contoso.com") {
				t.Errorf("server got %+v, want one message from an authenticated session", msgs)
			}
			if tt.code != 0 && len(msgs) != 0 {
				t.Errorf("server got %d messages, want none", len(msgs))
			}
		})
	}
}

func TestFailover(t *testing.T) {
	ts := startServer(t, serverOpts{})
	dead := closedPort(t)
	s := newSender(t, Options{Connector: smartHostConnector(t, dead, ts.addr)})
	wantResult(t, s.Deliver(context.Background(), message(testBody), []string{"bob@example.test"})[0], 0, "", "")
	if msgs, _, _ := ts.snapshot(); len(msgs) != 1 {
		t.Fatalf("second smart host got %d messages", len(msgs))
	}

	// Only dead hosts: the last failure is reported, transient, naming the host.
	s2 := newSender(t, Options{Connector: smartHostConnector(t, dead)})
	res := s2.Deliver(context.Background(), message(testBody), []string{"bob@example.test"})
	wantResult(t, res[0], 451, "4.4.1", "refused")
	var e *delivery.Error
	if errors.As(res[0].Err, &e) && e.RemoteMTA != "127.0.0.1" {
		t.Errorf("RemoteMTA = %q", e.RemoteMTA)
	}
	if e == nil || !e.Connection {
		t.Errorf("a refused connection is not marked as a connection-level failure: %+v", e)
	}
}

// TestFailoverOnTransientGreeting: a 421 greeting sends the message to the next host.
func TestFailoverOnTransientGreeting(t *testing.T) {
	l, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { l.Close() })
	go func() {
		for {
			c, err := l.Accept()
			if err != nil {
				return
			}
			fmt.Fprintf(c, "421 4.3.2 busy, try later\r\n")
			c.Close()
		}
	}()
	ts := startServer(t, serverOpts{})
	s := newSender(t, Options{Connector: smartHostConnector(t, l.Addr().String(), ts.addr)})
	wantResult(t, s.Deliver(context.Background(), message(testBody), []string{"bob@example.test"})[0], 0, "", "")

	s2 := newSender(t, Options{Connector: smartHostConnector(t, l.Addr().String())})
	wantResult(t, s2.Deliver(context.Background(), message(testBody), []string{"bob@example.test"})[0], 421, "4.3.2", "127.0.0.1 answered the greeting with 421 4.3.2 busy, try later")
}

// TestRefusingGreetingIsTransient: a 554 greeting is about us, not the
// recipients; the message waits.
func TestRefusingGreetingIsTransient(t *testing.T) {
	l, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { l.Close() })
	go func() {
		for {
			c, err := l.Accept()
			if err != nil {
				return
			}
			fmt.Fprintf(c, "554 5.7.1 no service for you\r\n")
			c.Close()
		}
	}()
	s := newSender(t, Options{Connector: smartHostConnector(t, l.Addr().String())})
	wantResult(t, s.Deliver(context.Background(), message(testBody), []string{"bob@example.test"})[0], 451, "4.7.1", "554 5.7.1 no service for you")
}

func TestConnectionReuse(t *testing.T) {
	ca := newCA(t)
	cert := ca.leaf(t, "mx.test.example")
	ts := startServer(t, serverOpts{cert: &cert, authMechs: []string{"PLAIN"}, user: "u", pass: "p"})
	c := smartHostConnector(t, ts.addr)
	c.SmartHostAuthMechanism = sendconnector.AuthBasicRequireTLS
	c.AuthenticationCredential = sendconnector.Credential{UserName: "u", Password: "p"}
	s := newSender(t, Options{Connector: c})
	ctx := context.Background()
	for i := range 3 {
		wantResult(t, s.Deliver(ctx, message(testBody), []string{"bob" + strconv.Itoa(i) + "@example.test"})[0], 0, "", "")
	}
	msgs, _, accepted := ts.snapshot()
	if len(msgs) != 3 || accepted != 1 {
		t.Fatalf("server got %d messages over %d connections, want 3 over 1", len(msgs), accepted)
	}
	for _, m := range msgs {
		if !m.TLS || m.AuthUser != "u" {
			t.Errorf("reused connection lost TLS or AUTH: %+v", m)
		}
	}

	// The server drops the idle connection: the next message goes over a
	// fresh one without the caller noticing.
	ts.dropConnections()
	wantResult(t, s.Deliver(ctx, message(testBody), []string{"dave@example.test"})[0], 0, "", "")
	if msgs, _, accepted = ts.snapshot(); len(msgs) != 4 || accepted != 2 {
		t.Fatalf("after a dropped connection: %d messages over %d connections, want 4 over 2", len(msgs), accepted)
	}

	// Close sends QUIT and the server closes its side.
	drain(ts.closed)
	if err := s.Close(); err != nil {
		t.Fatal(err)
	}
	select {
	case <-ts.closed:
	case <-time.After(10 * time.Second):
		t.Fatal("server connection still open after Close")
	}
}

func drain(ch chan struct{}) {
	for {
		select {
		case <-ch:
		default:
			return
		}
	}
}

func TestIdleConnectionExpires(t *testing.T) {
	ts := startServer(t, serverOpts{})
	c := smartHostConnector(t, ts.addr)
	c.ConnectionInactivityTimeout = value.TimeSpan(50 * time.Millisecond)
	s := newSender(t, Options{Connector: c})
	wantResult(t, s.Deliver(context.Background(), message(testBody), []string{"bob@example.test"})[0], 0, "", "")
	select {
	case <-ts.closed: // the pool's timer sent QUIT
	case <-time.After(10 * time.Second):
		t.Fatal("idle connection not closed after ConnectionInactivityTimeout")
	}
	wantResult(t, s.Deliver(context.Background(), message(testBody), []string{"bob@example.test"})[0], 0, "", "")
	if _, _, accepted := ts.snapshot(); accepted != 2 {
		t.Errorf("%d connections, want 2", accepted)
	}
}

func TestConcurrentDeliveries(t *testing.T) {
	ts := startServer(t, serverOpts{})
	s := newSender(t, Options{Connector: smartHostConnector(t, ts.addr)})
	const n = 8
	errs := make(chan error, n)
	for i := range n {
		go func() {
			res := s.Deliver(context.Background(), message(testBody), []string{fmt.Sprintf("u%d@example.test", i)})
			errs <- res[0].Err
		}()
	}
	for range n {
		if err := <-errs; err != nil {
			t.Error(err)
		}
	}
	if msgs, _, _ := ts.snapshot(); len(msgs) != n {
		t.Errorf("server got %d messages, want %d", len(msgs), n)
	}
}

// TestConnectionReuseUnderLoad: parallel deliveries to one host keep their
// connections between bursts, not just the few kept for the long idle
// time, and the connections beyond those close soon after a burst.
func TestConnectionReuseUnderLoad(t *testing.T) {
	const n = 8
	arrived, open := make(chan struct{}, n), make(chan chan struct{}, 1)
	ts := startServer(t, serverOpts{dataGate: func() {
		arrived <- struct{}{}
		g := <-open
		open <- g
		<-g
	}})
	s := newSender(t, Options{Connector: smartHostConnector(t, ts.addr)})
	// burst delivers n messages in parallel, over n sessions open at once:
	// no reply to the data comes before all n have sent theirs.
	burst := func() {
		gate := make(chan struct{})
		open <- gate
		errs := make(chan error, n)
		for i := range n {
			go func() {
				res := s.Deliver(context.Background(), message(testBody), []string{fmt.Sprintf("u%d@example.test", i)})
				errs <- res[0].Err
			}()
		}
		for range n {
			<-arrived
		}
		close(gate)
		for range n {
			if err := <-errs; err != nil {
				t.Error(err)
			}
		}
		<-open
	}
	burst()
	drain(ts.closed)
	s.mu.Lock()
	s.burstIdle = 20 * time.Millisecond // for the connections the second burst gives back
	s.mu.Unlock()
	burst()
	if msgs, _, accepted := ts.snapshot(); len(msgs) != 2*n || accepted != n {
		t.Fatalf("%d messages over %d connections, want %d over %d", len(msgs), accepted, 2*n, n)
	}
	// All but maxIdlePerHost close after burstIdle.
	for range n - maxIdlePerHost {
		select {
		case <-ts.closed:
		case <-time.After(10 * time.Second):
			t.Fatal("connections beyond the idle pool still open after the burst")
		}
	}
	s.mu.Lock()
	idle := len(s.idle[host{name: "127.0.0.1", addr: ts.addr}.key()])
	s.mu.Unlock()
	if idle != maxIdlePerHost {
		t.Errorf("%d idle connections kept, want %d", idle, maxIdlePerHost)
	}
}

func TestBareLineEndings(t *testing.T) {
	ts := startServer(t, serverOpts{})
	s := newSender(t, Options{Connector: smartHostConnector(t, ts.addr)})
	body := "Subject: smuggle\n\nline1\n.\nMAIL FROM:<evil@example.test>\rline3\r\n.\r\nend"
	wantResult(t, s.Deliver(context.Background(), message(body), []string{"bob@example.test"})[0], 0, "", "")
	msgs, _, _ := ts.snapshot()
	if len(msgs) != 1 {
		t.Fatalf("server got %d messages", len(msgs))
	}
	got := msgs[0].Data
	want := "Subject: smuggle\r\n\r\nline1\r\n.\r\nMAIL FROM:<evil@example.test>\r\nline3\r\n.\r\nend\r\n"
	if string(got) != want {
		t.Errorf("server got %q\nwant %q", got, want)
	}
	if bytes.Count(got, []byte("\n")) != bytes.Count(got, []byte("\r\n")) || bytes.Count(got, []byte("\r")) != bytes.Count(got, []byte("\r\n")) {
		t.Errorf("bare CR or LF arrived: %q", got)
	}
}

func TestSizeLimit(t *testing.T) {
	ts := startServer(t, serverOpts{maxSize: 100})
	s := newSender(t, Options{Connector: smartHostConnector(t, ts.addr)})
	big := testBody + strings.Repeat("x", 200) + "\r\n"
	wantResult(t, s.Deliver(context.Background(), message(big), []string{"bob@example.test"})[0], 552, "5.3.4", "advertised by 127.0.0.1")
	if _, mails, _ := ts.snapshot(); mails != 0 {
		t.Errorf("MAIL sent for a message over the advertised SIZE")
	}
	wantResult(t, s.Deliver(context.Background(), message("Subject: s\r\n\r\nsmall\r\n"), []string{"bob@example.test"})[0], 0, "", "")

	// The connector's own MaxMessageSize.
	c := smartHostConnector(t, ts.addr)
	c.MaxMessageSize = 10
	s2 := newSender(t, Options{Connector: c})
	wantResult(t, s2.Deliver(context.Background(), message(testBody), []string{"bob@example.test"})[0], 552, "5.3.4", "send connector")
}

func TestReadErrorDoesNotSendTruncatedMessage(t *testing.T) {
	ts := startServer(t, serverOpts{})
	s := newSender(t, Options{Connector: smartHostConnector(t, ts.addr)})
	m := message(testBody)
	m.Open = func() (io.ReadCloser, error) {
		return io.NopCloser(io.MultiReader(strings.NewReader("Subject: half\r\n"), iotest.ErrReader(errors.New("disk on fire")))), nil
	}
	wantResult(t, s.Deliver(context.Background(), m, []string{"bob@example.test"})[0], 451, "4.3.0", "disk on fire")
	if msgs, _, _ := ts.snapshot(); len(msgs) != 0 {
		t.Errorf("server got a truncated message: %q", msgs[0].Data)
	}
}

func TestContextCancelled(t *testing.T) {
	ts := startServer(t, serverOpts{})
	s := newSender(t, Options{Connector: smartHostConnector(t, ts.addr)})
	ctx, cancel := context.WithCancel(context.Background())
	cancel()
	res := s.Deliver(ctx, message(testBody), []string{"bob@example.test"})
	if res[0].Err == nil || delivery.IsPermanent(res[0].Err) {
		t.Errorf("cancelled delivery: %v, want a transient failure", res[0].Err)
	}
}

// fakeResolver answers MX queries from a table.
type fakeResolver map[string][]*net.MX

func (f fakeResolver) LookupMX(_ context.Context, domain string) ([]*net.MX, error) {
	if domain == "broken.test" {
		return nil, &net.DNSError{Err: "server misbehaving", Name: domain, IsTemporary: true}
	}
	mx, ok := f[domain]
	if !ok {
		return nil, &net.DNSError{Err: "no such host", Name: domain, IsNotFound: true}
	}
	return mx, nil
}

func dnsConnector(t *testing.T, port int) sendconnector.SendConnector {
	c := sendconnector.New("Internet")
	c.AddressSpaces = sendconnector.AddressSpaces{{Domain: "*", Cost: 1}}
	c.Port = port
	return c
}

func TestMXDelivery(t *testing.T) {
	ts := startServer(t, serverOpts{})
	r := fakeResolver{
		"example.test": {{Host: "127.0.0.1.", Pref: 10}},
		"nullmx.test":  {{Host: ".", Pref: 0}},
	}
	s := newSender(t, Options{Connector: dnsConnector(t, ts.port), Resolver: r})
	ctx := context.Background()
	wantResult(t, s.Deliver(ctx, message(testBody), []string{"bob@example.test"})[0], 0, "", "")
	wantResult(t, s.Deliver(ctx, message(testBody), []string{"bob@[127.0.0.1]"})[0], 0, "", "")
	if msgs, _, _ := ts.snapshot(); len(msgs) != 2 {
		t.Errorf("server got %d messages, want 2", len(msgs))
	}
	res := s.Deliver(ctx, message(testBody), []string{"a@nullmx.test", "b@nullmx.test"})
	for _, x := range res {
		wantResult(t, x, 556, "5.1.10", "null MX")
	}
	wantResult(t, s.Deliver(ctx, message(testBody), []string{"a@broken.test"})[0], 451, "4.4.3", "MX lookup")
}

func TestMXHosts(t *testing.T) {
	r := fakeResolver{
		"multi.test": {{Host: "b.multi.test.", Pref: 20}, {Host: "a.multi.test.", Pref: 10}, {Host: "c.multi.test.", Pref: 20}, {Host: "A.multi.test", Pref: 30}},
		"mixed.test": {{Host: ".", Pref: 0}, {Host: "mx.mixed.test.", Pref: 10}},
		"empty.test": {},
	}
	tests := []struct {
		domain string
		want   string // host names in order, or the error's status
	}{
		{"multi.test", "a.multi.test:25 b.multi.test:25 c.multi.test:25"},
		{"mixed.test", "mx.mixed.test:25"},
		{"empty.test", "empty.test:25 (implicit)"},
		{"nomx.test", "nomx.test:25 (implicit)"}, // RFC 5321 section 5.1: the domain's own address records
		{"[IPv6:::1]", "[::1]:25"},
		{"[not-an-ip]", "5.1.2"},
		{"", "5.1.3"},
	}
	for _, tt := range tests {
		t.Run(tt.domain, func(t *testing.T) {
			hs, err := mxHosts(context.Background(), r, tt.domain, 25)
			var got []string
			if err != nil {
				got = append(got, fmt.Sprintf("%d.%d.%d", err.Enhanced[0], err.Enhanced[1], err.Enhanced[2]))
			}
			for _, h := range hs {
				s := h.addr
				if h.implicit {
					s += " (implicit)"
				}
				got = append(got, s)
			}
			if strings.Join(got, " ") != tt.want {
				t.Errorf("mxHosts(%q) = %v, want %s", tt.domain, got, tt.want)
			}
		})
	}
}

func TestImplicitMXNonexistentDomainIsPermanent(t *testing.T) {
	h := host{name: "nx.test", addr: "nx.test:25", implicit: true}
	e := dialError(h, &net.OpError{Op: "dial", Err: &net.DNSError{Err: "no such host", Name: "nx.test", IsNotFound: true}}, time.Second)
	if !e.Permanent() || e.Enhanced != [3]int{5, 1, 2} {
		t.Errorf("dialError = %v, want permanent 5.1.2", e)
	}
	h.implicit = false
	if e := dialError(h, &net.DNSError{Err: "no such host", Name: "nx.test", IsNotFound: true}, time.Second); e.Permanent() {
		t.Errorf("smart host name that does not resolve: %v, want transient", e)
	}
}

func TestFromReply(t *testing.T) {
	tests := []struct {
		code     int
		enhanced [3]int
		text     string
		want     string
	}{
		{550, [3]int{5, 1, 1}, "User unknown", "550 5.1.1 User unknown"},
		{451, [3]int{0, 0, 0}, "later", "451 4.0.0 later"},
		{550, [3]int{4, 2, 2}, "class mismatch", "550 5.0.0 class mismatch"},
		{552, [3]int{-1, -1, -1}, "multi\nline", "552 5.0.0 multi line"},
		{250, [3]int{2, 0, 0}, "odd", "451 4.5.0 unexpected reply from h: 250 odd"},
	}
	for _, tt := range tests {
		if got := fromReply(tt.code, tt.enhanced, tt.text, "h").Error(); got != tt.want {
			t.Errorf("fromReply(%d, %v, %q) = %q, want %q", tt.code, tt.enhanced, tt.text, got, tt.want)
		}
	}
}

// TestLongLineReachesStrictServer: go-smtp's server refuses lines over 2000
// octets; a 4000-octet line is wrapped (CRLF SPACE) and gets through.
func TestLongLineReachesStrictServer(t *testing.T) {
	ts := startServer(t, serverOpts{})
	s := newSender(t, Options{Connector: smartHostConnector(t, ts.addr)})
	body := "Subject: long\r\n\r\n" + strings.Repeat("x", 4000) + "\r\n"
	wantResult(t, s.Deliver(context.Background(), message(body), []string{"bob@example.test"})[0], 0, "", "")
	msgs, _, _ := ts.snapshot()
	if len(msgs) != 1 {
		t.Fatalf("server got %d messages", len(msgs))
	}
	for _, l := range strings.Split(string(msgs[0].Data), "\r\n") {
		if len(l) > 998 {
			t.Errorf("a line of %d octets arrived", len(l))
		}
	}
	if got := strings.Count(string(msgs[0].Data), "x"); got != 4000 {
		t.Errorf("%d x's arrived, want 4000", got)
	}
}
