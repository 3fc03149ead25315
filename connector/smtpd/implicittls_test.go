package smtpd

import (
	"bufio"
	"crypto/tls"
	"crypto/x509"
	"errors"
	"io"
	"net"
	"net/smtp"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/transportd/transportd/connector"
)

// tlsRecorder counts TLSNegotiated calls per connector.
type tlsRecorder struct {
	mu  sync.Mutex
	got map[string]uint16
}

func (r *tlsRecorder) ConnectionOpened(string) {}
func (r *tlsRecorder) ConnectionClosed(string) {}
func (r *tlsRecorder) AuthFailed(string)       {}
func (r *tlsRecorder) TLSNegotiated(c string, v uint16) {
	r.mu.Lock()
	r.got[c] = v
	r.mu.Unlock()
}

// startImplicitServer runs the golden server with the client connector
// switched to implicit TLS (as -Usage Submissions creates it) and returns
// its address and the certificate pool that trusts the served certificate.
func startImplicitServer(t *testing.T, noCerts bool) (string, *x509.CertPool, *tlsRecorder) {
	t.Helper()
	return startImplicitServerWith(t, noCerts, nil)
}

func startImplicitServerWith(t *testing.T, noCerts bool, tune func(rc *connector.ReceiveConnector)) (string, *x509.CertPool, *tlsRecorder) {
	t.Helper()
	rec := &tlsRecorder{got: map[string]uint16{}}
	pool := x509.NewCertPool()
	gs := startGoldenServerWith(t, func(d *Deps, cs []connector.ReceiveConnector) {
		cs[1].ImplicitTls = true
		if tune != nil {
			tune(&cs[1])
		}
		d.Observer = rec
		if noCerts {
			d.Certs = nil
			return
		}
		for _, c := range d.Certs.List() {
			pool.AddCert(c.X509())
		}
	})
	return gs.addrs["client"], pool, rec
}

// A real TLS client (Go's crypto/tls, verifying the certificate by SNI
// name) gets the 220 greeting inside TLS, an EHLO without STARTTLS and with
// AUTH, logs on and submits, as on 587 after STARTTLS.
func TestImplicitTLSSubmission(t *testing.T) {
	addr, pool, rec := startImplicitServer(t, false)
	tc, err := tls.DialWithDialer(&net.Dialer{Timeout: 5 * time.Second}, "tcp", addr,
		&tls.Config{ServerName: "mail.contoso.com", RootCAs: pool})
	if err != nil {
		t.Fatalf("TLS from the first byte: %v", err)
	}
	defer tc.Close()
	tc.SetDeadline(time.Now().Add(10 * time.Second))
	br := bufio.NewReader(tc)
	greet, err := br.ReadString('\n')
	if err != nil || !strings.HasPrefix(greet, "220 mail.contoso.com") {
		t.Fatalf("greeting inside TLS = %q, %v", greet, err)
	}
	// The raw EHLO and STARTTLS here; net/smtp, which reads the greeting
	// itself, submits on a second connection below.
	io.WriteString(tc, "EHLO client.example\r\n")
	var ehlo []string
	for {
		l, err := br.ReadString('\n')
		if err != nil {
			t.Fatal(err)
		}
		ehlo = append(ehlo, strings.TrimSpace(l))
		if l[3] == ' ' {
			break
		}
	}
	all := strings.Join(ehlo, "\n")
	if strings.Contains(all, "STARTTLS") || !strings.Contains(all, "AUTH") {
		t.Fatalf("EHLO on implicit TLS must offer AUTH and no STARTTLS:\n%s", all)
	}
	io.WriteString(tc, "STARTTLS\r\n")
	if l, _ := br.ReadString('\n'); strings.TrimSpace(l) != "503 5.5.1 TLS is already active" {
		t.Errorf("STARTTLS inside implicit TLS = %q, want 503 5.5.1 TLS is already active", l)
	}

	c2, err := tls.Dial("tcp", addr, &tls.Config{ServerName: "mail.contoso.com", RootCAs: pool})
	if err != nil {
		t.Fatal(err)
	}
	cl, err := smtp.NewClient(c2, "mail.contoso.com")
	if err != nil {
		t.Fatal(err)
	}
	defer cl.Close()
	if ok, _ := cl.Extension("STARTTLS"); ok {
		t.Error("STARTTLS offered on an implicit TLS connection")
	}
	if err := cl.Auth(smtp.PlainAuth("", "alice", "pw", "mail.contoso.com")); err != nil {
		t.Fatalf("AUTH PLAIN inside implicit TLS: %v", err)
	}
	if err := cl.Mail("alice@contoso.com"); err != nil {
		t.Fatal(err)
	}
	if err := cl.Rcpt("friend@example.org"); err != nil {
		t.Fatalf("an authenticated user may relay: %v", err)
	}
	w, err := cl.Data()
	if err != nil {
		t.Fatal(err)
	}
	io.WriteString(w, "From: alice@contoso.com\r\nTo: friend@example.org\r\nSubject: 465\r\n\r\nover implicit TLS\r\n")
	if err := w.Close(); err != nil {
		t.Fatalf("end of data: %v", err)
	}
	cl.Quit()
	rec.mu.Lock()
	v := rec.got["Client Frontend MAIL"]
	rec.mu.Unlock()
	if v < tls.VersionTLS12 {
		t.Errorf("observer saw TLS version %x, want TLS 1.2 or later", v)
	}
}

// A client that speaks plain SMTP to an implicit TLS port gets no greeting
// in the clear; the server closes after the failed handshake.
func TestImplicitTLSRefusesPlainText(t *testing.T) {
	addr, _, _ := startImplicitServer(t, false)
	c, err := net.DialTimeout("tcp", addr, 5*time.Second)
	if err != nil {
		t.Fatal(err)
	}
	defer c.Close()
	c.SetDeadline(time.Now().Add(10 * time.Second))
	io.WriteString(c, "EHLO client.example\r\n")
	b, err := io.ReadAll(c)
	if strings.Contains(string(b), "220 ") || strings.Contains(string(b), "250") {
		t.Fatalf("plain-text client got SMTP replies on an implicit TLS port: %q", b)
	}
	var ne net.Error
	if errors.As(err, &ne) && ne.Timeout() {
		t.Fatalf("the server kept the connection open after a failed handshake")
	}
}

// Without a certificate the connector cannot serve implicit TLS: the
// connection is closed without a plain-text greeting.
func TestImplicitTLSWithoutCertificateCloses(t *testing.T) {
	addr, _, _ := startImplicitServer(t, true)
	c, err := tls.DialWithDialer(&net.Dialer{Timeout: 5 * time.Second}, "tcp", addr, &tls.Config{InsecureSkipVerify: true})
	if err == nil {
		c.Close()
		t.Fatal("TLS handshake succeeded on a connector without a certificate")
	}
	raw, err := net.DialTimeout("tcp", addr, 5*time.Second)
	if err != nil {
		t.Fatal(err)
	}
	defer raw.Close()
	raw.SetDeadline(time.Now().Add(10 * time.Second))
	b, _ := io.ReadAll(raw)
	if len(b) != 0 {
		t.Fatalf("got %q in the clear from an implicit TLS connector without a certificate", b)
	}
}

// A connection over the connector's limit gets Exchange's 421 inside TLS,
// as a client on 587 gets it in the clear, not plain text in the middle
// of its handshake.
func TestImplicitTLSLimitRefusalInsideTLS(t *testing.T) {
	addr, pool, _ := startImplicitServerWith(t, false, func(rc *connector.ReceiveConnector) { rc.MaxInboundConnectionPerSource = 1 })
	cfg := &tls.Config{ServerName: "mail.contoso.com", RootCAs: pool}
	first, err := tls.Dial("tcp", addr, cfg)
	if err != nil {
		t.Fatal(err)
	}
	defer first.Close()
	first.SetDeadline(time.Now().Add(10 * time.Second))
	if g, err := bufio.NewReader(first).ReadString('\n'); err != nil || !strings.HasPrefix(g, "220 ") {
		t.Fatalf("first connection: %q %v", g, err)
	}
	second, err := tls.Dial("tcp", addr, cfg)
	if err != nil {
		t.Fatalf("the refused connection gets no TLS: %v", err)
	}
	defer second.Close()
	second.SetDeadline(time.Now().Add(10 * time.Second))
	if l, err := bufio.NewReader(second).ReadString('\n'); err != nil || !strings.HasPrefix(l, "421 4.3.2 ") {
		t.Fatalf("over the limit: %q %v, want 421 4.3.2 inside TLS", l, err)
	}
}
