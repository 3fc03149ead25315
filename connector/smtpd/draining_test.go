package smtpd

import (
	"bufio"
	"fmt"
	"log/slog"
	"net"
	"net/netip"
	"strings"
	"testing"
	"time"

	"github.com/transportd/transportd/connector"
)

// smtpClient is a line-level SMTP client for the draining test.
type smtpClient struct {
	t *testing.T
	c net.Conn
	r *bufio.Reader
}

func dialSMTP(t *testing.T, addr string) *smtpClient {
	t.Helper()
	c, err := net.DialTimeout("tcp", addr, 5*time.Second)
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { c.Close() })
	c.SetDeadline(time.Now().Add(30 * time.Second))
	return &smtpClient{t: t, c: c, r: bufio.NewReader(c)}
}

// reply reads one (possibly multi-line) reply and returns its last line.
func (s *smtpClient) reply() string {
	s.t.Helper()
	for {
		line, err := s.r.ReadString('\n')
		if err != nil {
			return "read error: " + err.Error()
		}
		if len(line) < 4 || line[3] != '-' {
			return strings.TrimRight(line, "\r\n")
		}
	}
}

func (s *smtpClient) cmd(line string) string {
	s.t.Helper()
	fmt.Fprintf(s.c, "%s\r\n", line)
	return s.reply()
}

// A draining server keeps listening and answers with SMTP: a new
// connection gets 421 4.3.2 naming the server, a session under way gets
// 451 4.3.2 at its next MAIL FROM, and a message past MAIL FROM when
// draining began is accepted. Ending the draining takes mail again.
func TestDrainingRefusesWithSMTPReplies(t *testing.T) {
	dir := t.TempDir()
	q := openTestQueue(t, dir+"/queue")
	srv := New(Deps{Queue: q, Certs: testCerts(t, dir+"/certs"), Directory: stubDirectory{}, Logger: slog.New(slog.DiscardHandler)})
	t.Cleanup(func() { srv.Close() })
	cs := connector.Defaults("mail.contoso.com")[:1]
	ap, l := loopbackAddr(t)
	l.Close()
	cs[0].Bindings = []netip.AddrPort{ap}
	cs[0].TarpitInterval = 0
	cs[0].MaxInboundConnectionPerSource = 0
	if err := srv.Apply(Snapshot{Connectors: cs, Domains: testDomains(t)}); err != nil {
		t.Fatal(err)
	}
	addr := ap.String()

	inData := dialSMTP(t, addr)
	idle := dialSMTP(t, addr)
	for _, s := range []*smtpClient{inData, idle} {
		if g := s.reply(); !strings.HasPrefix(g, "220 ") {
			t.Fatalf("greeting: %q", g)
		}
		if r := s.cmd("EHLO client.example"); !strings.HasPrefix(r, "250 ") {
			t.Fatalf("EHLO: %q", r)
		}
	}
	if r := inData.cmd("MAIL FROM:<app@fabrikam.example>"); !strings.HasPrefix(r, "250 ") {
		t.Fatalf("MAIL FROM: %q", r)
	}
	if r := inData.cmd("RCPT TO:<alice@contoso.com>"); !strings.HasPrefix(r, "250 ") {
		t.Fatalf("RCPT TO: %q", r)
	}

	srv.SetDraining(true)
	if !srv.Draining() {
		t.Fatal("Draining() is false after SetDraining(true)")
	}
	fresh := dialSMTP(t, addr)
	if g := fresh.reply(); g != "421 4.3.2 mail.contoso.com Service not active, closing transmission channel" {
		t.Errorf("new connection while draining: %q", g)
	}
	if _, err := fresh.r.ReadString('\n'); err == nil {
		t.Error("the connection stays open after the 421")
	}
	if r := idle.cmd("MAIL FROM:<app@fabrikam.example>"); !strings.HasPrefix(r, "451 4.3.2 mail.contoso.com Service not active") {
		t.Errorf("MAIL FROM in a session under way while draining: %q", r)
	}
	if r := inData.cmd("DATA"); !strings.HasPrefix(r, "354 ") {
		t.Fatalf("DATA of the message under way: %q", r)
	}
	if r := inData.cmd("Subject: under way\r\n\r\nsent before draining began\r\n."); !strings.HasPrefix(r, "250 2.6.0 ") {
		t.Errorf("end of DATA of the message under way: %q", r)
	}
	if r := inData.cmd("MAIL FROM:<app@fabrikam.example>"); !strings.HasPrefix(r, "451 4.3.2 ") {
		t.Errorf("the next MAIL FROM of that session: %q", r)
	}

	srv.SetDraining(false)
	back := dialSMTP(t, addr)
	if g := back.reply(); !strings.HasPrefix(g, "220 ") {
		t.Errorf("new connection after draining ended: %q", g)
	}
}
