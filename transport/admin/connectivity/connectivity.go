// Package connectivity is Exchange's Test-ImapConnectivity and
// Test-PopConnectivity: it connects to a POP3 or IMAP4 server as a mail
// client does (SSL, STARTTLS or plain), checks the certificate, logs on
// with a mailbox's credential, and, unless in light mode, has a test
// message sent (through the advertised SMTP connector) and finds it in the
// mailbox, then deletes it. Each step is one result row with Exchange's
// columns: Scenario, Result (Success, Failure, Skipped), Latency and Error.
package connectivity

import (
	"context"
	"crypto/rand"
	"crypto/tls"
	"crypto/x509"
	"encoding/hex"
	"errors"
	"fmt"
	"net"
	"time"

	"github.com/transportd/transportd/transport/admin/config"
)

// Protocol is IMAP4 or POP3.
type Protocol string

// The protocols.
const (
	IMAP4 Protocol = "IMAP4"
	POP3  Protocol = "POP3"
)

// Exchange's result values.
const (
	Success = "Success"
	Failure = "Failure"
	Skipped = "Skipped"
)

// Options says what to test.
type Options struct {
	// Protocol is IMAP4 or POP3.
	Protocol Protocol
	// Address is host:port to connect to.
	Address string
	// Host is the server's name: the certificate must cover it unless
	// TrustAnyCertificate. Empty: the host of Address.
	Host string
	// Encryption is SSL (TLS from the first byte), TLS (STARTTLS) or None.
	Encryption config.Encryption
	// LoginType is how to log on; SecureLogin (the default) sends the
	// password only inside TLS.
	LoginType config.LoginType
	// User and Password are the mailbox credential; an empty User skips
	// the logon and what follows.
	User, Password string
	// TrustAnyCertificate accepts any certificate (Exchange's
	// -TrustAnySSLCertificate); CertificateName is still checked.
	TrustAnyCertificate bool
	// CertificateName, when set, is a name the served certificate must
	// cover (Set-ImapSettings -X509CertificateName).
	CertificateName string
	// Roots are the trusted CAs; nil: the system roots.
	Roots *x509.CertPool
	// LightMode only logs on (Exchange's -LightMode).
	LightMode bool
	// Send sends the test message with this Subject to the mailbox; nil
	// skips sending and finding it.
	Send func(ctx context.Context, subject string) error
	// NoSend says why Send is nil.
	NoSend string
	// Timeout bounds connecting and each reply (30 s when zero).
	Timeout time.Duration
	// FindTimeout bounds the wait for the test message (60 s when zero).
	FindTimeout time.Duration
	// Now gives the time for the certificate check (time.Now when nil).
	Now func() time.Time
}

// Result is one row of Test-ImapConnectivity's output.
type Result struct {
	// Scenario names the step: Connect, Logon, Send test message, Find test message.
	Scenario string
	// Result is Success, Failure or Skipped.
	Result string
	// Latency is how long the step took.
	Latency time.Duration
	// Error says why the step failed or was skipped.
	Error string
}

// Failed reports whether any step failed.
func Failed(rs []Result) bool {
	for _, r := range rs {
		if r.Result == Failure {
			return true
		}
	}
	return false
}

// session is one logged-on (or not yet logged-on) client connection.
type session interface {
	// logon authenticates as the login type says.
	logon(ctx context.Context) error
	// find looks for a message with subject once, deleting it when found.
	find(ctx context.Context, subject string) (bool, error)
	close()
}

// dialer opens a session of the protocol over conn (already in TLS when
// implicit); it does STARTTLS itself when asked.
type dialer func(ctx context.Context, o *Options, conn net.Conn) (session, error)

// Run runs the test and returns one result per step. It never returns an
// error: a step that cannot be done is a Failure row saying why, and the
// steps after it are Skipped.
func Run(ctx context.Context, o Options) []Result {
	if o.Timeout == 0 {
		o.Timeout = 30 * time.Second
	}
	if o.FindTimeout == 0 {
		o.FindTimeout = 60 * time.Second
	}
	if o.LoginType == "" {
		o.LoginType = config.LoginSecureLogin
	}
	if o.Host == "" {
		o.Host, _, _ = net.SplitHostPort(o.Address)
	}
	dial := dialIMAP
	if o.Protocol == POP3 {
		dial = dialPOP3
	}
	var out []Result
	step := func(name string, f func() error) bool {
		start := time.Now()
		err := f()
		r := Result{Scenario: name, Result: Success, Latency: time.Since(start)}
		if err != nil {
			r.Result, r.Error = Failure, err.Error()
		}
		out = append(out, r)
		return err == nil
	}
	skip := func(why string, names ...string) []Result {
		for _, n := range names {
			out = append(out, Result{Scenario: n, Result: Skipped, Error: why})
		}
		return out
	}
	var s session
	if !step("Connect", func() (err error) { s, err = o.connect(ctx, dial); return err }) {
		return skip("cannot connect", "Logon", "Send test message", "Find test message")
	}
	defer func() {
		if s != nil {
			s.close()
		}
	}()
	if o.User == "" {
		return skip("no -MailboxCredential: give the mailbox to log on as", "Logon", "Send test message", "Find test message")
	}
	if !step("Logon", func() error { return s.logon(ctx) }) {
		return skip("cannot log on", "Send test message", "Find test message")
	}
	if o.LightMode {
		return skip("-LightMode: logon only", "Send test message", "Find test message")
	}
	if o.Send == nil {
		why := o.NoSend
		if why == "" {
			why = "no SMTP connector to send the test message through"
		}
		return skip(why, "Send test message", "Find test message")
	}
	var id [8]byte
	rand.Read(id[:])
	subject := fmt.Sprintf("Test-%sConnectivity %s", map[Protocol]string{IMAP4: "Imap", POP3: "Pop"}[o.Protocol], hex.EncodeToString(id[:]))
	if !step("Send test message", func() error { return o.Send(ctx, subject) }) {
		return skip("the test message was not sent", "Find test message")
	}
	step("Find test message", func() error {
		ctx, cancel := context.WithTimeout(ctx, o.FindTimeout)
		defer cancel()
		tick := time.NewTicker(250 * time.Millisecond) // polling: the server is another program
		defer tick.Stop()
		for {
			found, err := s.find(ctx, subject)
			if err != nil {
				return err
			}
			if found {
				return nil
			}
			select {
			case <-ctx.Done():
				return fmt.Errorf("no message %q in the mailbox of %s after %s: look at the message tracking log (Get-MessageTrackingLog) and the delivery queue (Get-Queue)", subject, o.User, o.FindTimeout)
			case <-tick.C:
			}
		}
	})
	return out
}

// connect dials, does SSL or STARTTLS, and reads the greeting.
func (o *Options) connect(ctx context.Context, dial dialer) (session, error) {
	d := net.Dialer{Timeout: o.Timeout}
	conn, err := d.DialContext(ctx, "tcp", o.Address)
	if err != nil {
		return nil, fmt.Errorf("connecting to %s: %w", o.Address, err)
	}
	if o.Encryption == config.EncryptionSSL {
		tc := tls.Client(conn, o.tlsConfig())
		hctx, cancel := context.WithTimeout(ctx, o.Timeout)
		defer cancel()
		if err := tc.HandshakeContext(hctx); err != nil {
			conn.Close()
			return nil, fmt.Errorf("SSL to %s: %w", o.Address, err)
		}
		conn = tc
	}
	s, err := dial(ctx, o, conn)
	if err != nil {
		conn.Close()
		return nil, err
	}
	return s, nil
}

// tlsConfig verifies the certificate itself, so that the error says what
// is wrong and the fix, and so that CertificateName is checked even with
// TrustAnyCertificate.
func (o *Options) tlsConfig() *tls.Config {
	return &tls.Config{
		ServerName:         o.Host,
		MinVersion:         tls.VersionTLS12,
		InsecureSkipVerify: true, // verified in VerifyConnection
		VerifyConnection: func(cs tls.ConnectionState) error {
			if len(cs.PeerCertificates) == 0 {
				return errors.New("the server sent no certificate")
			}
			leaf := cs.PeerCertificates[0]
			if o.CertificateName != "" {
				if err := leaf.VerifyHostname(o.CertificateName); err != nil {
					return fmt.Errorf("the certificate does not cover X509CertificateName %s (it covers %v): %w", o.CertificateName, leaf.DNSNames, err)
				}
			}
			if o.TrustAnyCertificate {
				return nil
			}
			now := time.Now
			if o.Now != nil {
				now = o.Now
			}
			inter := x509.NewCertPool()
			for _, c := range cs.PeerCertificates[1:] {
				inter.AddCert(c)
			}
			if _, err := leaf.Verify(x509.VerifyOptions{DNSName: o.Host, Roots: o.Roots, Intermediates: inter, CurrentTime: now()}); err != nil {
				return fmt.Errorf("certificate of %s not trusted: %w (give the server a certificate from a trusted CA, or add -TrustAnySSLCertificate)", o.Host, err)
			}
			return nil
		},
	}
}

// secure reports whether conn is inside TLS.
func secure(conn net.Conn) bool {
	_, ok := conn.(*tls.Conn)
	return ok
}

// errSecureLogin refuses to send a password in the clear.
func errSecureLogin(proto Protocol) error {
	p := map[Protocol]string{IMAP4: "Imap", POP3: "Pop"}[proto]
	return fmt.Errorf("LoginType SecureLogin sends the password only inside TLS, and this connection is not encrypted: use -ConnectionType Ssl or Tls, or Set-%sSettings -LoginType PlainTextLogin", p)
}
