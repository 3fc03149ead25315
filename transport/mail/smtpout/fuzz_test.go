package smtpout

import (
	"errors"
	"io"
	"log/slog"
	"net"
	"strings"
	"testing"

	"github.com/transportd/transportd/transport/mail/delivery"
	"github.com/transportd/transportd/transport/mail/sendconnector"
)

// FuzzServerReplies feeds arbitrary server output to a whole client session
// (greeting, EHLO, STARTTLS, AUTH, MAIL, RCPT, DATA): whatever a server
// says, the client must not panic or hang, and every recipient must get
// either success or a *delivery.Error with a 4xx or 5xx code.
func FuzzServerReplies(f *testing.F) {
	ok := "220 mx ESMTP\r\n250-mx\r\n250-SIZE 1000\r\n250 AUTH PLAIN LOGIN\r\n250 mx\r\n235 ok\r\n250 ok\r\n250 ok\r\n550 5.1.1 no\r\n354 go\r\n250 queued\r\n"
	f.Add(ok, false)
	f.Add(ok, true)
	f.Add("220 mx\r\n250-mx\r\n250 STARTTLS\r\n220 go ahead\r\n\x16\x03\x01", false)
	f.Add("421 4.3.2 busy\r\n", false)
	f.Add("220 mx\r\n500 what\r\n250 helo\r\n250 mx\r\n334 VXNlcm5hbWU6\r\n334 UGFzc3dvcmQ6\r\n535 5.7.8 no\r\n", true)
	f.Add("220-a\r\n220 b\r\n250 x\r\n250 x\r\n250 x\r\n250 x\r\n354 x\r\n", false)
	// PIPELINING: MAIL, RCPT, RCPT and DATA answered together (RFC 2920).
	pipe := "220 mx\r\n250-mx\r\n250 PIPELINING\r\n250-mx\r\n250-SIZE 1000\r\n250 PIPELINING\r\n"
	f.Add(pipe+"250 ok\r\n250 ok\r\n550 5.1.1 no\r\n354 go\r\n250 queued\r\n", false)
	f.Add(pipe+"550 5.7.1 no\r\n503 x\r\n503 x\r\n354 x\r\n554 x\r\n", false)
	f.Add(pipe+"250 ok\r\n421 4.3.2 bye\r\n", false)
	f.Fuzz(func(t *testing.T, script string, auth bool) {
		c := sendconnector.New("Fuzz")
		c.DNSRoutingEnabled = false
		c.SmartHosts = sendconnector.SmartHosts{{Host: "mx.test.example"}}
		if auth {
			c.SmartHostAuthMechanism = sendconnector.AuthBasic
			c.AuthenticationCredential = sendconnector.Credential{UserName: "u", Password: "p"}
		}
		s := New(Options{Connector: c, HeloName: "out.test.example"})
		defer s.Close()
		client, server := net.Pipe()
		go func() { _, _ = io.Copy(io.Discard, server) }()
		go func() {
			_, _ = server.Write([]byte(script))
			server.Close()
		}()
		defer client.Close()
		h := host{name: "mx.test.example", addr: "mx.test.example:25"}
		log := slog.New(slog.DiscardHandler)
		rcpts := []string{"a@example.test", "b@example.test"}
		ss, herr := s.handshake(log, h, client)
		if herr != nil {
			checkErr(t, herr)
			return
		}
		body := "Subject: x\r\n\r\nbody\r\n"
		msg := &delivery.Message{ID: "F", From: "s@example.test", Size: int64(len(body)),
			Open: func() (io.ReadCloser, error) { return io.NopCloser(strings.NewReader(body)), nil }}
		out := s.transact(log, ss, msg, rcpts)
		if out.hostErr != nil {
			checkErr(t, out.hostErr)
			return
		}
		if len(out.results) != len(rcpts) {
			t.Fatalf("%d results for %d recipients", len(out.results), len(rcpts))
		}
		for _, r := range out.results {
			if r.Err != nil {
				checkErr(t, r.Err)
			}
		}
	})
}

func checkErr(t *testing.T, err error) {
	t.Helper()
	var e *delivery.Error
	if !errors.As(err, &e) {
		t.Fatalf("error %v is %T, not *delivery.Error", err, err)
	}
	if e.Code < 400 || e.Code > 599 || e.Enhanced[0] != e.Code/100 {
		t.Fatalf("error %q: code %d with enhanced %v", e, e.Code, e.Enhanced)
	}
}
