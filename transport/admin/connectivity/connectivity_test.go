package connectivity

import (
	"context"
	"crypto/x509"
	"os"
	"path/filepath"
	"strings"
	"testing"

	"github.com/transportd/transportd/transport/admin/config"
)

func results(rs []Result) string {
	var b strings.Builder
	for _, r := range rs {
		b.WriteString(r.Scenario + ": " + r.Result + " " + r.Error + "\n")
	}
	return b.String()
}

func want(t *testing.T, rs []Result, scenario, result, errText string) {
	t.Helper()
	for _, r := range rs {
		if r.Scenario == scenario {
			if r.Result != result || !strings.Contains(r.Error, errText) {
				t.Errorf("%s = %s %q, want %s %q\n%s", scenario, r.Result, r.Error, result, errText, results(rs))
			}
			return
		}
	}
	t.Errorf("no %s row\n%s", scenario, results(rs))
}

// Against a real Dovecot, over IMAP4 and POP3, plain, SSL and STARTTLS:
// the test logs on, has the test message delivered, finds it and deletes
// it; a wrong password, a password in the clear under SecureLogin, an
// untrusted certificate and an X509CertificateName the certificate does
// not cover are each a Failure row saying so.
func TestAgainstDovecot(t *testing.T) {
	d := startDovecot(t)
	roots := x509.NewCertPool()
	roots.AppendCertsFromPEM(d.CertPEM)
	send := func(ctx context.Context, subject string) error { return d.deliver(t, subject) }
	ctx := context.Background()
	for _, tc := range []struct {
		name      string
		proto     Protocol
		addr      string
		enc       config.Encryption
		login     config.LoginType
		trustAny  bool
		certName  string
		password  string
		scenario  string
		result    string
		errorText string
	}{
		{name: "imap plain login", proto: IMAP4, addr: d.IMAP, enc: config.EncryptionNone, login: config.LoginPlainTextLogin, scenario: "Find test message", result: Success},
		{name: "imap ssl", proto: IMAP4, addr: d.IMAPS, enc: config.EncryptionSSL, scenario: "Find test message", result: Success},
		{name: "imap starttls authenticate", proto: IMAP4, addr: d.IMAP, enc: config.EncryptionTLS, login: config.LoginPlainTextAuthentication, certName: "imap.contoso.com", scenario: "Find test message", result: Success},
		{name: "pop3 plain", proto: POP3, addr: d.POP3, enc: config.EncryptionNone, login: config.LoginPlainTextLogin, scenario: "Find test message", result: Success},
		{name: "pop3 ssl", proto: POP3, addr: d.POP3S, enc: config.EncryptionSSL, scenario: "Find test message", result: Success},
		{name: "pop3 stls auth plain", proto: POP3, addr: d.POP3, enc: config.EncryptionTLS, login: config.LoginPlainTextAuthentication, scenario: "Find test message", result: Success},
		{name: "imap wrong password", proto: IMAP4, addr: d.IMAPS, enc: config.EncryptionSSL, password: "wrong", scenario: "Logon", result: Failure, errorText: "LOGIN as alice@contoso.com"},
		{name: "pop3 wrong password", proto: POP3, addr: d.POP3S, enc: config.EncryptionSSL, password: "wrong", scenario: "Logon", result: Failure, errorText: "-ERR"},
		{name: "imap secure login in the clear", proto: IMAP4, addr: d.IMAP, enc: config.EncryptionNone, scenario: "Logon", result: Failure, errorText: "LoginType SecureLogin"},
		{name: "pop3 secure login in the clear", proto: POP3, addr: d.POP3, enc: config.EncryptionNone, scenario: "Logon", result: Failure, errorText: "Set-PopSettings -LoginType PlainTextLogin"},
		{name: "untrusted certificate", proto: IMAP4, addr: d.IMAPS, enc: config.EncryptionSSL, scenario: "Connect", result: Failure, errorText: "-TrustAnySSLCertificate"},
		{name: "trust any", proto: POP3, addr: d.POP3S, enc: config.EncryptionSSL, trustAny: true, scenario: "Find test message", result: Success},
		{name: "certificate name", proto: IMAP4, addr: d.IMAPS, enc: config.EncryptionSSL, trustAny: true, certName: "mail.fabrikam.com", scenario: "Connect", result: Failure, errorText: "X509CertificateName mail.fabrikam.com"},
	} {
		t.Run(tc.name, func(t *testing.T) {
			o := Options{Protocol: tc.proto, Address: tc.addr, Host: "imap.contoso.com", Encryption: tc.enc, LoginType: tc.login,
				User: "alice@contoso.com", Password: testPassword, TrustAnyCertificate: tc.trustAny, CertificateName: tc.certName, Send: send}
			if !tc.trustAny && tc.name != "untrusted certificate" {
				o.Roots = roots
			}
			if tc.password != "" {
				o.Password = tc.password
			}
			rs := Run(ctx, o)
			want(t, rs, tc.scenario, tc.result, tc.errorText)
			if tc.result == Success && Failed(rs) {
				t.Errorf("a step failed:\n%s", results(rs))
			}
		})
	}
	// Every test message found was deleted.
	for _, sub := range []string{"new", "cur"} {
		left, _ := os.ReadDir(filepath.Join(d.maildir, sub))
		if len(left) != 0 {
			t.Errorf("%d test messages left in %s/", len(left), sub)
		}
	}
	// -LightMode logs on only; no credential: Skipped, saying what to give.
	rs := Run(ctx, Options{Protocol: IMAP4, Address: d.IMAP, Encryption: config.EncryptionNone, LoginType: config.LoginPlainTextLogin, User: "alice@contoso.com", Password: testPassword, LightMode: true, Send: send})
	want(t, rs, "Logon", Success, "")
	want(t, rs, "Send test message", Skipped, "-LightMode")
	rs = Run(ctx, Options{Protocol: POP3, Address: d.POP3, Encryption: config.EncryptionNone})
	want(t, rs, "Connect", Success, "")
	want(t, rs, "Logon", Skipped, "-MailboxCredential")
}

func TestParseStatus(t *testing.T) {
	for line, ok := range map[string]bool{"+OK": true, "+OK ready": true, "-ERR no": false, "* OK": false, "": false} {
		_, err := parseStatus(line)
		if (err == nil) != ok {
			t.Errorf("%q: %v", line, err)
		}
	}
	if got := subjectOf([]string{"From: a", "Subject: Test-PopConnectivity", " 0123", "X: y", "", "Subject: body"}); got != "Test-PopConnectivity 0123" {
		t.Errorf("subjectOf = %q", got)
	}
}

// FuzzPOP3Reply: the POP3 reply parsers never panic on what a server sends.
func FuzzPOP3Reply(f *testing.F) {
	f.Add("+OK 2 320")
	f.Add("-ERR [AUTH] Authentication failed.")
	f.Add("1 120\n2 -5\nx")
	f.Fuzz(func(t *testing.T, s string) {
		parseStatus(s)
		lines := strings.Split(s, "\n")
		parseList(lines)
		subjectOf(lines)
	})
}
