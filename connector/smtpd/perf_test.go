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

	"github.com/emersion/go-smtp"

	"github.com/transportd/transportd/connector"
	"github.com/transportd/transportd/policies/domains"
	"github.com/transportd/transportd/policies/value"
)

// TestInactivityTimeoutWithSharedDeadlines: the read and write deadlines
// are moved only now and then (extendDeadline), yet a client that keeps
// talking is never dropped, however long the session, and a silent one is
// dropped with 421 4.4.2 no sooner than ConnectionInactivityTimeout after
// its last command and no later than the slack after that (plus the
// scheduling margin of a busy test machine).
func TestInactivityTimeoutWithSharedDeadlines(t *testing.T) {
	const idle = 400 * time.Millisecond
	tbl, err := domains.NewTable([]domains.AcceptedDomain{{Name: "contoso.com", DomainName: "contoso.com", DomainType: domains.Authoritative, Default: true}})
	if err != nil {
		t.Fatal(err)
	}
	srv := New(Deps{Queue: openTestQueue(t, t.TempDir()), Directory: stubDirectory{}, Logger: slog.New(slog.DiscardHandler)})
	t.Cleanup(func() { srv.Close() })
	cs := connector.Defaults("mail.contoso.com")[:1]
	ap, l := loopbackAddr(t)
	l.Close()
	cs[0].Bindings = []netip.AddrPort{ap}
	cs[0].TarpitInterval = 0
	cs[0].ConnectionInactivityTimeout = value.TimeSpan(idle)
	if err := srv.Apply(Snapshot{Connectors: cs, Domains: tbl}); err != nil {
		t.Fatal(err)
	}
	c, err := net.DialTimeout("tcp", ap.String(), 5*time.Second)
	if err != nil {
		t.Fatal(err)
	}
	defer c.Close()
	c.SetDeadline(time.Now().Add(30 * time.Second))
	r := bufio.NewReader(c)
	reply := func() string {
		for {
			line, err := r.ReadString('\n')
			if err != nil {
				return "error: " + err.Error()
			}
			if len(line) < 4 || line[3] != '-' {
				return strings.TrimSpace(line)
			}
		}
	}
	if g := reply(); !strings.HasPrefix(g, "220 ") {
		t.Fatalf("greeting: %q", g)
	}
	// Busy for three timeouts, a command every quarter of one.
	start := time.Now()
	for i := 0; time.Since(start) < 3*idle; i++ {
		fmt.Fprintf(c, "NOOP\r\n")
		if got := reply(); !strings.HasPrefix(got, "250 ") {
			t.Fatalf("NOOP %d after %v: %q", i, time.Since(start), got)
		}
		time.Sleep(idle / 4)
	}
	fmt.Fprintf(c, "NOOP\r\n")
	if got := reply(); !strings.HasPrefix(got, "250 ") {
		t.Fatalf("last NOOP: %q", got)
	}
	last := time.Now()
	got := reply() // silence from here
	waited := time.Since(last)
	if !strings.HasPrefix(got, "421 4.4.2") {
		t.Fatalf("silent client got %q after %v, want 421 4.4.2", got, waited)
	}
	if waited < idle {
		t.Errorf("silent client dropped after %v, sooner than ConnectionInactivityTimeout %v", waited, idle)
	}
	if limit := idle + deadlineSlack(idle) + 2*time.Second; waited > limit {
		t.Errorf("silent client dropped after %v, later than %v", waited, limit)
	}
}

// TestDeadlineSlack: 1/64 of the timeout, at most a second.
func TestDeadlineSlack(t *testing.T) {
	for _, c := range []struct{ idle, want time.Duration }{
		{5 * time.Minute, time.Second},
		{2 * time.Second, 31250 * time.Microsecond},
		{64 * time.Millisecond, time.Millisecond},
	} {
		if got := deadlineSlack(c.idle); got != c.want {
			t.Errorf("deadlineSlack(%v) = %v, want %v", c.idle, got, c.want)
		}
	}
}

// TestReceivedHeaderText: the Received: field is the text it always was
// (fmt.Sprintf's), with the HELO name and connector name sanitised, an
// IPv6 address in brackets, and the date last.
func TestReceivedHeaderText(t *testing.T) {
	for _, c := range []struct {
		helo, remote, user string
	}{
		{"client.example", "192.0.2.7:4000", ""},
		{"", "[2001:db8::1]:25", "alice@contoso.com"},
		{"bad(helo)\x01", "[::ffff:192.0.2.9]:25", ""},
	} {
		rc := connector.New("Relay (apps)", connector.UsageCustom, "mail.contoso.com")
		s := &session{rc: &rc, conn: &conn{}, helo: c.helo, user: c.user, remote: netip.MustParseAddrPort(c.remote)}
		got := s.receivedHeader("0123456789ABCDEF")
		proto, helo := "ESMTP", c.helo
		if c.user != "" {
			proto += "A"
		}
		if helo == "" {
			helo = "unknown"
		}
		head, date, ok := strings.Cut(got, "; ")
		want := fmt.Sprintf("Received: from %s ([%s])\r\n\tby %s (transportd) with %s%s\r\n\tvia %s id %s",
			sanitizeHeader(helo), s.remote.Addr(), rc.Fqdn, proto, "", sanitizeHeader(rc.Name), "0123456789ABCDEF")
		if !ok || head != want {
			t.Errorf("got %q, want %q; <date>", got, want)
			continue
		}
		if _, err := time.Parse(time.RFC1123Z+"\r\n", date); err != nil {
			t.Errorf("date %q: %v", date, err)
		}
	}
}

// TestEnhancedString: the enhanced status code as fmt writes it.
func TestEnhancedString(t *testing.T) {
	for _, c := range []struct {
		code int
		e    smtp.EnhancedCode
		want string
	}{
		{250, smtp.EnhancedCode{2, 6, 0}, "2.6.0"},
		{550, smtp.EnhancedCode{5, 7, 54}, "5.7.54"},
		{451, smtp.EnhancedCode{4, 100, 999}, "4.100.999"},
		{554, smtp.EnhancedCodeNotSet, "5.0.0"},
		{354, smtp.EnhancedCodeNotSet, ""},
		{250, smtp.NoEnhancedCode, ""},
	} {
		if got := enhancedString(c.code, c.e); got != c.want {
			t.Errorf("enhancedString(%d, %v) = %q, want %q", c.code, c.e, got, c.want)
		}
	}
}
