package smtpout

import (
	"bufio"
	"context"
	"fmt"
	"net"
	"path/filepath"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/transportd/transportd/connector/protolog"
	"github.com/transportd/transportd/connector/protolog/csvlog"
)

// rawServer is a scripted SMTP server on 127.0.0.1: serve runs for every
// connection with the connection's reader and writer. What serve reports
// through fail ends the test.
type rawServer struct {
	addr     string
	mu       sync.Mutex
	accepted int
	fails    []string
}

func startRaw(t *testing.T, serve func(rs *rawServer, r *bufio.Reader, w net.Conn)) *rawServer {
	t.Helper()
	l, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	rs := &rawServer{addr: l.Addr().String()}
	var wg sync.WaitGroup
	wg.Add(1)
	go func() {
		defer wg.Done()
		for {
			c, err := l.Accept()
			if err != nil {
				return
			}
			rs.mu.Lock()
			rs.accepted++
			rs.mu.Unlock()
			wg.Add(1)
			go func() {
				defer wg.Done()
				defer c.Close()
				_ = c.SetDeadline(time.Now().Add(30 * time.Second))
				serve(rs, bufio.NewReader(c), c)
			}()
		}
	}()
	t.Cleanup(func() {
		l.Close()
		wg.Wait()
		rs.mu.Lock()
		defer rs.mu.Unlock()
		for _, f := range rs.fails {
			t.Error(f)
		}
	})
	return rs
}

func (rs *rawServer) fail(format string, args ...any) {
	rs.mu.Lock()
	defer rs.mu.Unlock()
	rs.fails = append(rs.fails, fmt.Sprintf(format, args...))
}

// line reads one command line without its CRLF; "" at the end.
func line(r *bufio.Reader) string {
	l, err := r.ReadString('\n')
	if err != nil {
		return ""
	}
	return strings.TrimSuffix(l, "\r\n")
}

// ehloReply is the reply to EHLO offering exts (and 8BITMIME).
func ehloReply(exts ...string) string {
	reply := "250-mx.test.example\r\n"
	for _, e := range exts {
		reply += "250-" + e + "\r\n"
	}
	return reply + "250 8BITMIME\r\n"
}

// command reads the next command, answering every EHLO (the client sends
// one before deciding on STARTTLS and go-smtp one more) and RSET on the way.
func command(r *bufio.Reader, w net.Conn, ehlo string) string {
	for {
		l := line(r)
		switch {
		case strings.HasPrefix(l, "EHLO "):
			fmt.Fprint(w, ehlo)
		case l == "RSET":
			fmt.Fprint(w, "250 2.0.0 reset\r\n")
		default:
			return l
		}
	}
}

// group reads a pipelined group up to DATA before answering anything: a
// client that waits for the reply to MAIL never gets there. It returns
// nil at QUIT or the end of the connection.
func group(rs *rawServer, r *bufio.Reader, w net.Conn, ehlo string) []string {
	var cmds []string
	for {
		l := command(r, w, ehlo)
		if l == "" || (l == "QUIT" && len(cmds) == 0) {
			if len(cmds) > 0 {
				rs.fail("connection ended after %q, before DATA", cmds)
			}
			return nil
		}
		cmds = append(cmds, l)
		if l == "DATA" {
			return cmds
		}
	}
}

// data reads message data up to the final dot, without undoing the dot
// stuffing.
func data(r *bufio.Reader) string {
	var b strings.Builder
	for {
		l, err := r.ReadString('\n')
		if err != nil || l == ".\r\n" {
			return b.String()
		}
		b.WriteString(l)
	}
}

func TestPipelinedTransaction(t *testing.T) {
	var got []string
	var body string
	rs := startRaw(t, func(rs *rawServer, r *bufio.Reader, w net.Conn) {
		fmt.Fprintf(w, "220 mx.test.example ESMTP\r\n")
		for {
			cmds := group(rs, r, w, ehloReply("PIPELINING", "SIZE 100000"))
			if cmds == nil {
				fmt.Fprintf(w, "221 bye\r\n")
				return
			}
			got = append(got, cmds...)
			var replies strings.Builder
			for _, c := range cmds {
				switch c {
				case "RCPT TO:<nobody@example.test>":
					replies.WriteString("550-5.1.1 no such\r\n550 5.1.1 user\r\n")
				case "RCPT TO:<b@example.test>":
					replies.WriteString("251 2.1.5 forwarded\r\n")
				case "DATA":
					replies.WriteString("354 go\r\n")
				default:
					replies.WriteString("250 2.1.0 ok\r\n")
				}
			}
			fmt.Fprint(w, replies.String())
			body = data(r)
			fmt.Fprintf(w, "250 2.0.0 queued as 42\r\n")
		}
	})
	s := newSender(t, Options{Connector: smartHostConnector(t, rs.addr)})
	ctx, cancel := context.WithTimeout(context.Background(), 20*time.Second)
	defer cancel()
	msg := "Subject: dots\r\n\r\n.hidden\r\n..two\r\nend" // no CRLF at the end
	res := s.Deliver(ctx, message(msg), []string{"a@example.test", "nobody@example.test", "b@example.test"})
	wantResult(t, res[0], 0, "", "")
	wantResult(t, res[1], 550, "5.1.1", "no such user")
	wantResult(t, res[2], 0, "", "")
	want := []string{"MAIL FROM:<sender@contoso.com> BODY=8BITMIME SIZE=36", "RCPT TO:<a@example.test>",
		"RCPT TO:<nobody@example.test>", "RCPT TO:<b@example.test>", "DATA"}
	if len(got) < len(want) || strings.Join(got[:len(want)], "|") != strings.Join(want, "|") {
		t.Errorf("server got %q\nwant %q", got, want)
	}
	if want := "Subject: dots\r\n\r\n..hidden\r\n...two\r\nend\r\n"; body != want {
		t.Errorf("data %q, want %q (dot-stuffed, ending with CRLF)", body, want)
	}
	// The connection is reused for the next message.
	wantResult(t, s.Deliver(ctx, message(testBody), []string{"a@example.test"})[0], 0, "", "")
	rs.mu.Lock()
	defer rs.mu.Unlock()
	if rs.accepted != 1 {
		t.Errorf("%d connections, want 1", rs.accepted)
	}
}

func TestPipelinedRefusals(t *testing.T) {
	tests := []struct {
		name     string
		replies  string // to MAIL, two RCPTs and DATA
		endEmpty string // reply to the lone "." after an unexpected 354; "" when none is expected
		code     int
		enhanced string
		contains string
		reuse    bool
	}{
		{name: "MAIL refused", replies: "550 5.7.1 sender refused\r\n503 5.5.1 no MAIL\r\n503 5.5.1 no MAIL\r\n503 5.5.1 no valid recipients\r\n",
			code: 550, enhanced: "5.7.1", contains: "sender refused", reuse: true},
		{name: "all recipients refused", replies: "250 ok\r\n550 5.1.1 unknown\r\n550 5.1.1 unknown\r\n554 5.5.1 no valid recipients\r\n",
			code: 550, enhanced: "5.1.1", contains: "unknown", reuse: true},
		{name: "all refused, 354 anyway", replies: "250 ok\r\n550 5.1.1 unknown\r\n550 5.1.1 unknown\r\n354 go\r\n", endEmpty: "554 5.5.1 empty\r\n",
			code: 550, enhanced: "5.1.1", contains: "unknown", reuse: true},
		{name: "421 to RCPT", replies: "250 ok\r\n421 4.3.2 shutting down\r\n",
			code: 421, enhanced: "4.3.2", contains: "shutting down"},
		{name: "421 to MAIL", replies: "421 4.3.2 shutting down\r\n",
			code: 421, enhanced: "4.3.2", contains: "shutting down"},
		{name: "DATA refused", replies: "250 ok\r\n250 ok\r\n250 ok\r\n451 4.3.0 try later\r\n",
			code: 451, enhanced: "4.3.0", contains: "try later", reuse: true},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			var mu sync.Mutex
			refused := false // the first transaction gets tt.replies, later ones are accepted
			rs := startRaw(t, func(rs *rawServer, r *bufio.Reader, w net.Conn) {
				fmt.Fprintf(w, "220 mx.test.example ESMTP\r\n")
				for {
					cmds := group(rs, r, w, ehloReply("PIPELINING"))
					if cmds == nil {
						fmt.Fprintf(w, "221 bye\r\n")
						return
					}
					mu.Lock()
					first := !refused
					refused = true
					mu.Unlock()
					if !first {
						fmt.Fprintf(w, "250 ok\r\n250 ok\r\n354 go\r\n")
						data(r)
						fmt.Fprintf(w, "250 queued\r\n")
						continue
					}
					fmt.Fprint(w, tt.replies)
					if tt.endEmpty != "" {
						if l := line(r); l != "." {
							rs.fail("after a 354 with no recipient: %q, want a lone dot", l)
						}
						fmt.Fprint(w, tt.endEmpty)
					}
					if !tt.reuse {
						return
					}
				}
			})
			s := newSender(t, Options{Connector: smartHostConnector(t, rs.addr)})
			ctx, cancel := context.WithTimeout(context.Background(), 20*time.Second)
			defer cancel()
			res := s.Deliver(ctx, message(testBody), []string{"a@example.test", "b@example.test"})
			for _, r := range res {
				wantResult(t, r, tt.code, tt.enhanced, tt.contains)
			}
			wantResult(t, s.Deliver(ctx, message(testBody), []string{"c@example.test"})[0], 0, "", "")
			rs.mu.Lock()
			defer rs.mu.Unlock()
			if want := map[bool]int{true: 1, false: 2}[tt.reuse]; rs.accepted != want {
				t.Errorf("%d connections, want %d", rs.accepted, want)
			}
		})
	}
}

// TestNoPipeliningWithoutTheExtension: a server that does not offer
// PIPELINING gets one command at a time.
func TestNoPipeliningWithoutTheExtension(t *testing.T) {
	rs := startRaw(t, func(rs *rawServer, r *bufio.Reader, w net.Conn) {
		fmt.Fprintf(w, "220 mx.test.example ESMTP\r\n")
		for _, reply := range []string{"250 ok", "250 ok", "354 go"} {
			l := command(r, w, ehloReply())
			if r.Buffered() > 0 {
				rs.fail("the client sent more after %q before its reply", l)
			}
			fmt.Fprintf(w, "%s\r\n", reply)
		}
		data(r)
		fmt.Fprintf(w, "250 queued\r\n")
		if command(r, w, ehloReply()) == "QUIT" {
			fmt.Fprintf(w, "221 bye\r\n")
		}
	})
	s := newSender(t, Options{Connector: smartHostConnector(t, rs.addr)})
	ctx, cancel := context.WithTimeout(context.Background(), 20*time.Second)
	defer cancel()
	wantResult(t, s.Deliver(ctx, message(testBody), []string{"a@example.test"})[0], 0, "", "")
}

// TestPipelinedProtocolLog: with the replies to MAIL and RCPT between
// DATA and its 354, the send protocol log still leaves the message out.
func TestPipelinedProtocolLog(t *testing.T) {
	ts := startServer(t, serverOpts{})
	dir := filepath.Join(t.TempDir(), "send")
	plog, err := protolog.Open(protolog.Send, protolog.Options{Dir: dir})
	if err != nil {
		t.Fatal(err)
	}
	s := newSender(t, Options{Connector: smartHostConnector(t, ts.addr), ProtocolLog: plog})
	body := testBody + "SECRET-CONTENT\r\n"
	wantResult(t, s.Deliver(context.Background(), message(body), []string{"a@example.test", "b@example.test"})[0], 0, "", "")
	s.Close()
	if err := plog.Close(); err != nil {
		t.Fatal(err)
	}
	files, err := csvlog.Files(dir, "SEND")
	if err != nil {
		t.Fatal(err)
	}
	var events []string
	for _, f := range files {
		if err := csvlog.ReadFile(f, func(_, rec []string) bool {
			events = append(events, rec[6]+" "+rec[7])
			return true
		}); err != nil {
			t.Fatal(err)
		}
	}
	all := strings.Join(events, "\n")
	if strings.Contains(all, "SECRET-CONTENT") || strings.Contains(all, "Subject: test") {
		t.Errorf("message data in the protocol log:\n%s", all)
	}
	for _, want := range []string{"> RCPT TO:<b@example.test>", "> DATA", "< 354 "} {
		if !strings.Contains(all, want) {
			t.Errorf("no %q in the protocol log:\n%s", want, all)
		}
	}
}

// BenchmarkDeliver delivers 4 KB messages over a reused connection to a
// go-smtp server on 127.0.0.1 (whose work is counted too), pipelined and
// one command at a time.
func BenchmarkDeliver(b *testing.B) {
	body := "Subject: bench\r\n\r\n" + strings.Repeat("Some text of a message line, 60 octets or so, as usual.\r\n", 70)
	for _, tt := range []struct {
		name string
		o    serverOpts
	}{{"pipelined", serverOpts{discard: true}}, {"lockstep", serverOpts{noPipelining: true, discard: true}}} {
		b.Run(tt.name, func(b *testing.B) {
			ts := startServer(b, tt.o)
			c := smartHostConnector(b, ts.addr)
			// One connection for the whole run, as the name says: the
			// default of 20 messages per connection (added later) made
			// this benchmark reconnect, and the test server's closed-
			// connection notices, which nobody reads here, filled up and
			// hung it after a few hundred messages.
			c.SmtpMaxMessagesPerConnection = 1000000
			s := newSender(b, Options{Connector: c})
			b.SetBytes(int64(len(body)))
			b.ReportAllocs()
			for b.Loop() {
				if res := s.Deliver(context.Background(), message(body), []string{"a@example.test"}); res[0].Err != nil {
					b.Fatal(res[0].Err)
				}
			}
			if _, _, accepted := ts.snapshot(); accepted != 1 {
				b.Errorf("%d connections, want 1", accepted)
			}
		})
	}
}

// TestNoPipeliningOption: the test server's noPipelining does hide the
// extension, so the lockstep benchmark and tests measure what they say.
func TestNoPipeliningOption(t *testing.T) {
	ts := startServer(t, serverOpts{noPipelining: true})
	s := newSender(t, Options{Connector: smartHostConnector(t, ts.addr)})
	wantResult(t, s.Deliver(context.Background(), message(testBody), []string{"a@example.test"})[0], 0, "", "")
	s.mu.Lock()
	defer s.mu.Unlock()
	for _, l := range s.idle {
		for _, ss := range l {
			if ss.pipelining {
				t.Error("the session believes the server pipelines")
			}
		}
	}
}
