package smtpout

import (
	"bufio"
	"context"
	"crypto/tls"
	"fmt"
	"net"
	"strings"
	"testing"
	"time"

	"github.com/transportd/transportd/transport/mail/sendconnector"
)

// Why the STARTTLS handshake is ours and not go-smtp's: in go-smtp v0.25
// (and v0.26) the client has no StartTLS method, by design, only
// NewClientStartTLS, which greets with "EHLO localhost" (it cannot be told
// the name before STARTTLS), and fails and closes the connection when the
// server does not offer STARTTLS or refuses it. A send connector must
// introduce itself with its FQDN (strict relays such as
// smtp-relay.gmail.com refuse "localhost" before STARTTLS), fall back to
// clear on the same connection for opportunistic TLS (RFC 3207 section 4.1)
// and refuse plaintext injected before the handshake (RFC 3207 section
// 4.2). These tests hold the handshake to that.

// tlsServer answers a session on a scripted server: the EHLO before
// STARTTLS must carry the connector's name (a strict server refuses
// "localhost"), then starttls is the reply to STARTTLS. After a 220 the
// session goes on in TLS, else in clear; either way one message is taken.
func tlsServer(t *testing.T, cert tls.Certificate, starttls string) (*rawServer, *[]string) {
	t.Helper()
	var seen []string
	rs := startRaw(t, func(rs *rawServer, r *bufio.Reader, w net.Conn) {
		see := func(s string) { rs.mu.Lock(); seen = append(seen, s); rs.mu.Unlock() }
		fmt.Fprintf(w, "220 mx.test.example ESMTP\r\n")
		for {
			l := line(r)
			see(l)
			switch {
			case l == "EHLO localhost":
				fmt.Fprintf(w, "550 5.7.1 localhost is not a name\r\n")
				continue
			case strings.HasPrefix(l, "EHLO "):
				fmt.Fprint(w, ehloReply("STARTTLS", "PIPELINING"))
				continue
			case l == "STARTTLS":
				fmt.Fprint(w, starttls)
			default:
				rs.fail("before STARTTLS: %q", l)
				return
			}
			break
		}
		conn, ehlo := w, ehloReply("PIPELINING")
		if strings.HasPrefix(starttls, "220 ") {
			if strings.Contains(starttls, "\n250") {
				line(r) // the client hangs up
				return
			}
			tc := tls.Server(w, &tls.Config{Certificates: []tls.Certificate{cert}, MinVersion: tls.VersionTLS12})
			if err := tc.Handshake(); err != nil {
				rs.fail("TLS handshake: %v", err)
				return
			}
			conn, r = tc, bufio.NewReader(tc)
			see("TLS")
		}
		for {
			cmds := group(rs, r, conn, ehlo)
			if cmds == nil {
				fmt.Fprintf(conn, "221 bye\r\n")
				return
			}
			see(cmds[0])
			fmt.Fprint(conn, strings.Repeat("250 ok\r\n", len(cmds)-1)+"354 go\r\n")
			data(r)
			fmt.Fprintf(conn, "250 queued\r\n")
		}
	})
	return rs, &seen
}

func TestSTARTTLSHandshake(t *testing.T) {
	ca := newCA(t)
	cert := ca.leaf(t, "mx.test.example")
	tests := []struct {
		name       string
		starttls   string // the reply to STARTTLS
		requireTLS bool
		code       int
		enhanced   string
		contains   string
		want       string // what the server saw, | separated
	}{
		{name: "the FQDN before STARTTLS", starttls: "220 2.0.0 go ahead\r\n",
			want: "EHLO out.contoso.com|STARTTLS|TLS|MAIL FROM:<sender@contoso.com> BODY=8BITMIME"},
		{name: "refused STARTTLS goes on in clear", starttls: "454 4.7.0 TLS not available\r\n",
			want: "EHLO out.contoso.com|STARTTLS|MAIL FROM:<sender@contoso.com> BODY=8BITMIME"},
		{name: "refused STARTTLS with RequireTLS", starttls: "454 4.7.0 TLS not available\r\n", requireTLS: true,
			code: 451, enhanced: "4.7.5", contains: "refused STARTTLS: 454 4.7.0 TLS not available",
			want: "EHLO out.contoso.com|STARTTLS"},
		{name: "plaintext injected after the 220", starttls: "220 2.0.0 go ahead\r\n250 2.1.0 injected\r\n",
			code: 451, enhanced: "4.7.5", contains: "sent data before the TLS handshake",
			want: "EHLO out.contoso.com|STARTTLS"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			rs, seen := tlsServer(t, cert, tt.starttls)
			c := smartHostConnector(t, rs.addr)
			c.RequireTLS = tt.requireTLS
			if tt.requireTLS {
				c.TlsAuthLevel = sendconnector.TLSEncryptionOnly
			}
			s := newSender(t, Options{Connector: c})
			ctx, cancel := context.WithTimeout(context.Background(), 20*time.Second)
			defer cancel()
			wantResult(t, s.Deliver(ctx, message(testBody), []string{"a@example.test"})[0], tt.code, tt.enhanced, tt.contains)
			s.Close()
			rs.mu.Lock()
			defer rs.mu.Unlock()
			got := strings.Join(*seen, "|")
			if !strings.HasPrefix(got, tt.want) {
				t.Errorf("server saw %q, want %q", got, tt.want)
			}
		})
	}
}
