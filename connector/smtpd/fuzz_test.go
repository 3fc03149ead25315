package smtpd

import (
	"bufio"
	"context"
	"errors"
	"io"
	"log/slog"
	"net"
	"net/netip"
	"regexp"
	"strings"
	"testing"
	"time"

	"github.com/transportd/transportd/connector"
	"github.com/transportd/transportd/policies/permissions"
)

type stubDirectory struct{}

func (stubDirectory) MailboxExists(a string) bool { return a == "alice@contoso.com" }
func (stubDirectory) Authenticate(_ context.Context, u, p string) (string, error) {
	if u == "alice" && p == "pw" {
		return "alice@contoso.com", nil
	}
	return "", errors.New("wrong user name or password")
}
func (stubDirectory) MaySendAs(u, a string) bool { return u == a }

// startTestServer runs the real SMTP server code with one connector of
// each kind on loopback.
func startTestServer(tb testing.TB, dir string) (addr25, addr587 string) {
	tb.Helper()
	store := testCerts(tb, dir+"/certs")
	q := openTestQueue(tb, dir+"/queue")
	tbl := testDomains(tb)
	srv := New(Deps{Queue: q, Certs: store, Directory: stubDirectory{}, Logger: slog.New(slog.DiscardHandler)})
	cs := connector.Defaults("mail.contoso.com")
	for i := range cs {
		l, err := net.Listen("tcp4", "127.0.0.1:0")
		if err != nil {
			tb.Fatal(err)
		}
		cs[i].Bindings = []netip.AddrPort{l.Addr().(*net.TCPAddr).AddrPort()}
		l.Close()
		cs[i].TarpitInterval, cs[i].AuthTarpitInterval = 0, 0
		cs[i].ConnectionInactivityTimeout = 2e9
		cs[i].MaxInboundConnectionPerSource = 0
		cs[i].PermissionGroups = append(cs[i].PermissionGroups, permissions.Group("AnonymousUsers"))
	}
	if err := srv.Apply(Snapshot{Connectors: cs, Domains: tbl}); err != nil {
		tb.Fatal(err)
	}
	tb.Cleanup(func() { srv.Close() })
	return cs[0].Bindings[0].String(), cs[1].Bindings[0].String()
}

var replyLine = regexp.MustCompile(`^[2-5][0-9][0-9][ -]`)
var enhanced = regexp.MustCompile(`^[45][0-9][0-9][ -][245]\.[0-9]{1,3}\.[0-9]{1,3} \S`)

// FuzzSession sends arbitrary bytes to a live connector. The server must
// answer in SMTP, give every refusal an enhanced status code and a reason,
// close the connection when the client does, and keep serving.
func FuzzSession(f *testing.F) {
	for _, s := range []string{
		"EHLO x\r\nMAIL FROM:<a@b.example>\r\nRCPT TO:<alice@contoso.com>\r\nDATA\r\nSubject: x\r\n\r\nhi\r\n.\r\nQUIT\r\n",
		"EHLO x\r\nSTARTTLS\r\nMAIL FROM:<a@b>\r\n",
		"HELO x\r\nAUTH LOGIN\r\nYWxpY2U=\r\ncHc=\r\n",
		"EHLO x\r\nBDAT 5 LAST\r\nhello",
		"EHLO x\r\nMAIL FROM:<a@b.example> SIZE=999999999999\r\n",
		"EHLO x\r\nMAIL FROM:<a@b.example>\r\nRCPT TO:<x%y@contoso.com>\r\nRCPT TO:<Postmaster>\r\n",
		"\x00\xff\r\n\n\n\r.\r\n",
		"EHLO x\nMAIL FROM:<a@b.example>\nRCPT TO:<alice@contoso.com>\nDATA\nx\n.\nRSET\n.\r\n",
	} {
		f.Add(s, false)
		f.Add(s, true)
	}
	addr25, addr587 := startTestServer(f, f.TempDir())
	f.Fuzz(func(t *testing.T, input string, client bool) {
		addr := addr25
		if client {
			addr = addr587
		}
		conn, err := net.DialTimeout("tcp", addr, 5*time.Second)
		if err != nil {
			t.Fatalf("server no longer accepts connections: %v", err)
		}
		defer conn.Close()
		conn.SetDeadline(time.Now().Add(10 * time.Second))
		go func() {
			io.WriteString(conn, input)
			conn.(*net.TCPConn).CloseWrite()
		}()
		r := bufio.NewReader(conn)
		for {
			line, err := r.ReadString('\n')
			if line != "" && !strings.HasSuffix(line, "\r\n") && err == nil {
				t.Fatalf("reply line without CRLF: %q", line)
			}
			line = strings.TrimRight(line, "\r\n")
			if line != "" {
				if !replyLine.MatchString(line) {
					if strings.HasPrefix(line, "\x16") || !isPrintable(line) {
						return // TLS bytes after STARTTLS
					}
					t.Fatalf("not an SMTP reply: %q", line)
				}
				if (line[0] == '4' || line[0] == '5') && line[3] == ' ' && !enhanced.MatchString(line) {
					t.Fatalf("refusal without enhanced status code or reason: %q", line)
				}
				if strings.HasPrefix(line, "220 2.0.0 SMTP server ready") {
					return // the rest is a TLS handshake with our garbage
				}
			}
			if err != nil {
				if ne, ok := err.(net.Error); ok && ne.Timeout() {
					t.Fatalf("server did not close after the client finished")
				}
				return
			}
		}
	})
}

func isPrintable(s string) bool {
	for _, r := range s {
		if r < 0x20 || r > 0x7e {
			return false
		}
	}
	return true
}
