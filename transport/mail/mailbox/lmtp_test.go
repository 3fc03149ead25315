package mailbox

import (
	"bufio"
	"context"
	"errors"
	"io"
	"log/slog"
	"net"
	"path/filepath"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/emersion/go-smtp"

	"github.com/transportd/transportd/transport/mail/delivery"
)

// lmtpBackend is a mailbox server: RCPT refuses unknown users, and after
// DATA each recipient gets its own status, as Dovecot's LMTP gives.
type lmtpBackend struct {
	mu       sync.Mutex
	received []received
}

type received struct {
	from  string
	rcpts []string
	data  string
}

// rcptStatus is the per-recipient reply after DATA; go-smtp's server puts
// "<recipient> " before the text, as Dovecot does.
var rcptStatus = map[string]error{
	"alice@contoso.com": nil,
	"bob@contoso.com":   &smtp.SMTPError{Code: 550, EnhancedCode: smtp.EnhancedCode{5, 2, 1}, Message: "Mailbox disabled"},
	"carol@contoso.com": &smtp.SMTPError{Code: 452, EnhancedCode: smtp.EnhancedCode{4, 2, 2}, Message: "Quota exceeded (mailbox for user is full)"},
	"dave@contoso.com":  &smtp.SMTPError{Code: 554, EnhancedCode: smtp.EnhancedCode{-1, -1, -1}, Message: "no enhanced code here"},
}

func (b *lmtpBackend) NewSession(*smtp.Conn) (smtp.Session, error) {
	return &lmtpSession{b: b}, nil
}

type lmtpSession struct {
	b   *lmtpBackend
	cur received
}

func (s *lmtpSession) Reset()        { s.cur = received{} }
func (s *lmtpSession) Logout() error { return nil }
func (s *lmtpSession) Mail(from string, _ *smtp.MailOptions) error {
	if from == "blocked@example.net" {
		return &smtp.SMTPError{Code: 550, EnhancedCode: smtp.EnhancedCode{5, 7, 1}, Message: "sender blocked"}
	}
	s.cur.from = from
	return nil
}

func (s *lmtpSession) Rcpt(to string, _ *smtp.RcptOptions) error {
	if _, ok := rcptStatus[to]; !ok {
		return &smtp.SMTPError{Code: 550, EnhancedCode: smtp.EnhancedCode{5, 1, 1}, Message: "<" + to + "> User doesn't exist"}
	}
	s.cur.rcpts = append(s.cur.rcpts, to)
	return nil
}

func (s *lmtpSession) Data(io.Reader) error { return errors.New("LMTPData expected") }

func (s *lmtpSession) LMTPData(r io.Reader, status smtp.StatusCollector) error {
	data, err := io.ReadAll(r)
	if err != nil {
		return err
	}
	s.cur.data = string(data)
	s.b.mu.Lock()
	s.b.received = append(s.b.received, s.cur)
	s.b.mu.Unlock()
	for _, rcpt := range s.cur.rcpts {
		status.SetStatus(rcpt, rcptStatus[rcpt])
	}
	return nil
}

// startLMTP serves the backend with go-smtp in LMTP mode on network
// ("tcp" on 127.0.0.1 or "unix") and returns the address.
func startLMTP(t *testing.T, network string) (string, *lmtpBackend) {
	t.Helper()
	be := &lmtpBackend{}
	srv := smtp.NewServer(be)
	srv.LMTP = true
	srv.Domain = "mbx.contoso.com"
	addr := "127.0.0.1:0"
	if network == "unix" {
		addr = filepath.Join(t.TempDir(), "lmtp")
	}
	l, err := net.Listen(network, addr)
	if err != nil {
		t.Fatal(err)
	}
	done := make(chan struct{})
	go func() {
		defer close(done)
		srv.Serve(l)
	}()
	t.Cleanup(func() {
		srv.Close()
		<-done
	})
	return l.Addr().String(), be
}

func TestLMTPDeliver(t *testing.T) {
	type want struct {
		code     int
		enhanced [3]int
		text     string
	}
	ok := want{}
	for _, network := range []string{"tcp", "unix"} {
		for _, tc := range []struct {
			name   string
			from   string
			rcpts  []string
			want   map[string]want
			stored []string // recipients the server got the message for
		}{
			{
				name:  "per-recipient replies after DATA",
				from:  "partner@example.net",
				rcpts: []string{"alice@contoso.com", "bob@contoso.com", "nobody@contoso.com", "carol@contoso.com", "alice@contoso.com"},
				want: map[string]want{
					"alice@contoso.com":  ok,
					"bob@contoso.com":    {550, [3]int{5, 2, 1}, "<bob@contoso.com> Mailbox disabled"},
					"nobody@contoso.com": {550, [3]int{5, 1, 1}, "<nobody@contoso.com> User doesn't exist"},
					"carol@contoso.com":  {452, [3]int{4, 2, 2}, "<carol@contoso.com> Quota exceeded (mailbox for user is full)"},
				},
				stored: []string{"alice@contoso.com", "bob@contoso.com", "carol@contoso.com"},
			},
			{
				name:  "reply without enhanced code",
				from:  "",
				rcpts: []string{"dave@contoso.com", "alice@contoso.com"},
				want: map[string]want{
					"dave@contoso.com":  {554, [3]int{5, 0, 0}, "<dave@contoso.com> no enhanced code here"},
					"alice@contoso.com": ok,
				},
				stored: []string{"dave@contoso.com", "alice@contoso.com"},
			},
			{
				name:  "no recipient accepted",
				from:  "partner@example.net",
				rcpts: []string{"x@contoso.com"},
				want:  map[string]want{"x@contoso.com": {550, [3]int{5, 1, 1}, "<x@contoso.com> User doesn't exist"}},
			},
			{
				name:  "sender refused",
				from:  "blocked@example.net",
				rcpts: []string{"alice@contoso.com", "bob@contoso.com"},
				want: map[string]want{
					"alice@contoso.com": {550, [3]int{5, 7, 1}, "sender blocked"},
					"bob@contoso.com":   {550, [3]int{5, 7, 1}, "sender blocked"},
				},
			},
		} {
			t.Run(network+"/"+tc.name, func(t *testing.T) {
				addr, be := startLMTP(t, network)
				l := &LMTP{Addr: addr, HeloName: "mail.contoso.com", Logger: slog.New(slog.NewTextHandler(testWriter{t}, nil))}
				res := l.Deliver(context.Background(), newMessage(tc.from, testMessage), tc.rcpts)
				if len(res) != len(tc.rcpts) {
					t.Fatalf("got %d results for %d recipients", len(res), len(tc.rcpts))
				}
				for i, r := range res {
					if r.Recipient != tc.rcpts[i] {
						t.Errorf("result %d is for %q, want %q", i, r.Recipient, tc.rcpts[i])
					}
					w := tc.want[r.Recipient]
					if w == ok {
						if r.Err != nil {
							t.Errorf("%s: %v, want delivered", r.Recipient, r.Err)
						}
						continue
					}
					var de *delivery.Error
					if !errors.As(r.Err, &de) {
						t.Fatalf("%s: error %v (%T), want *delivery.Error", r.Recipient, r.Err, r.Err)
					}
					if de.Code != w.code || de.Enhanced != w.enhanced || de.Message != w.text || de.RemoteMTA != addr {
						t.Errorf("%s: got %+v, want %+v from %s", r.Recipient, *de, w, addr)
					}
					if de.Permanent() != (w.code >= 500) {
						t.Errorf("%s: Permanent() = %v", r.Recipient, de.Permanent())
					}
				}
				be.mu.Lock()
				defer be.mu.Unlock()
				if len(tc.stored) == 0 {
					if len(be.received) != 0 {
						t.Fatalf("server got %d messages, want none", len(be.received))
					}
					return
				}
				if len(be.received) != 1 {
					t.Fatalf("server got %d messages, want 1", len(be.received))
				}
				got := be.received[0]
				if got.from != tc.from || strings.Join(got.rcpts, ",") != strings.Join(tc.stored, ",") {
					t.Errorf("envelope %q -> %v, want %q -> %v", got.from, got.rcpts, tc.from, tc.stored)
				}
				// go-smtp's server hands over the message with CRLF and the
				// dot-stuffing undone: it must be exactly the stored message.
				if got.data != testMessage {
					t.Errorf("server got\n%q\nwant\n%q", got.data, testMessage)
				}
			})
		}
	}
}

func TestLMTPTransientFailures(t *testing.T) {
	// A port nobody listens on: bind, note the address, close.
	l, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	closedAddr := l.Addr().String()
	l.Close()

	// A server that accepts and then hangs up after the greeting.
	hangup, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { hangup.Close() })
	go func() {
		for {
			c, err := hangup.Accept()
			if err != nil {
				return
			}
			io.WriteString(c, "220 mbx.contoso.com LMTP ready\r\n")
			c.Close()
		}
	}()

	// A server that refuses the session.
	refuse, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { refuse.Close() })
	go func() {
		for {
			c, err := refuse.Accept()
			if err != nil {
				return
			}
			io.WriteString(c, "554 5.3.2 not accepting mail\r\n")
			io.Copy(io.Discard, c)
			c.Close()
		}
	}()

	// A server that greets, reads LHLO and never answers it, for cancellation.
	silent, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	var conns sync.WaitGroup
	t.Cleanup(conns.Wait) // after the Close below: cleanups run last-in first-out
	t.Cleanup(func() { silent.Close() })
	accepted := make(chan net.Conn, 1)
	conns.Go(func() {
		c, err := silent.Accept()
		if err == nil {
			accepted <- c
		}
	})

	for _, tc := range []struct {
		name     string
		addr     string
		ctx      func(t *testing.T) context.Context
		enhanced [3]int
		text     string
	}{
		{"connection refused", closedAddr, nil, [3]int{4, 4, 1}, "cannot connect to LMTP server"},
		{"missing unix socket", filepath.Join(t.TempDir(), "none"), nil, [3]int{4, 4, 1}, "cannot connect to LMTP server"},
		{"hang-up after greeting", hangup.Addr().String(), nil, [3]int{4, 4, 2}, "LHLO failed"},
		{"session refused", refuse.Addr().String(), nil, [3]int{4, 3, 2}, "not accepting mail"},
		{"cancelled while waiting", silent.Addr().String(), func(t *testing.T) context.Context {
			ctx, cancel := context.WithCancel(context.Background())
			go func() {
				// Cancel once the server has read LHLO: Deliver is then
				// blocked waiting for its reply.
				c := <-accepted
				t.Cleanup(func() { c.Close() })
				io.WriteString(c, "220 mbx.contoso.com LMTP ready\r\n")
				bufio.NewReader(c).ReadString('\n')
				cancel()
			}()
			t.Cleanup(cancel)
			return ctx
		}, [3]int{4, 4, 2}, "context canceled"},
	} {
		t.Run(tc.name, func(t *testing.T) {
			ctx := context.Background()
			if tc.ctx != nil {
				ctx = tc.ctx(t)
			}
			l := &LMTP{Addr: tc.addr, DialTimeout: 10 * time.Second, Logger: slog.New(slog.NewTextHandler(testWriter{t}, nil))}
			rcpts := []string{"alice@contoso.com", "bob@contoso.com"}
			res := l.Deliver(ctx, newMessage("p@example.net", testMessage), rcpts)
			for _, r := range res {
				var de *delivery.Error
				if !errors.As(r.Err, &de) || de.Permanent() || de.Enhanced != tc.enhanced || !strings.Contains(de.Message, tc.text) {
					t.Errorf("%s: got %v, want transient %v containing %q", r.Recipient, r.Err, tc.enhanced, tc.text)
				}
			}
		})
	}
}
