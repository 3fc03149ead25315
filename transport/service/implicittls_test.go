package service

import (
	"net/netip"
	"os"
	"path/filepath"
	"strconv"
	"strings"
	"testing"

	"github.com/transportd/transportd/connector"
	"github.com/transportd/transportd/connector/protolog"
	"github.com/transportd/transportd/transport/admin/config"
)

// startSubmissionsDaemon runs the daemon with a Submissions connector
// (-Usage Submissions: implicit TLS, as on 465) on a free loopback port.
func startSubmissionsDaemon(t *testing.T) (*testDaemon, int) {
	t.Helper()
	port := freePort(t)
	d := startDaemon(t, func(c *config.Config, d *testDaemon) {
		rc := connector.New("Submissions", connector.UsageSubmissions, "mail.contoso.com")
		rc.Bindings = []netip.AddrPort{netip.AddrPortFrom(netip.MustParseAddr("127.0.0.1"), uint16(port))}
		rc.ProtocolLoggingLevel = protolog.LevelVerbose
		c.ReceiveConnectors = append(c.ReceiveConnectors, rc)
	})
	return d, port
}

// swaks --tlsc (TLS on connect) submits with AUTH on the implicit TLS
// connector; the smart host gets the message, received with ESMTPSA.
func TestInteropSwaksImplicitTLS(t *testing.T) {
	swaks := needTool(t, "swaks", "swaks")
	needSwaksTLS(t, swaks)
	d, port := startSubmissionsDaemon(t)
	out, err := runTool(t, "", swaks, "--server", "127.0.0.1", "--port", strconv.Itoa(port), "--tlsc",
		"--auth", "PLAIN", "--auth-user", "alice@contoso.com", "--auth-password", testPassword,
		"--from", "alice@contoso.com", "--to", "friend@example.org", "--header", "Subject: swaks over 465")
	if err != nil || !strings.Contains(out, "220 mail.contoso.com") || !strings.Contains(out, "235 2.7.0") ||
		!strings.Contains(out, "250 2.6.0") || strings.Contains(out, "STARTTLS") {
		t.Fatalf("swaks --tlsc (err %v):\n%s", err, out)
	}
	got := waitSink(t, d.sink)
	if got.from != "alice@contoso.com" || !strings.Contains(got.data, "with ESMTPSA") {
		t.Fatalf("smart host got %+v", got)
	}
	// The protocol log has the session as on 587: the TLS line first, then
	// the greeting and the commands.
	recvLog, _ := d.svc.ProtocolLogs()
	var text strings.Builder
	for _, r := range protocolRecords(t, recvLog, "RECV") {
		if strings.Contains(r[1], "Submissions") {
			text.WriteString(r[6] + " " + r[7] + "\n")
		}
	}
	tlsAt, greetAt := strings.Index(text.String(), "* TLS protocol TLS 1.3 negotiated"), strings.Index(text.String(), "> 220 mail.contoso.com")
	if tlsAt < 0 || greetAt < tlsAt || !strings.Contains(text.String(), "> 235 2.7.0") {
		t.Errorf("protocol log of the Submissions connector:\n%s", text.String())
	}
	// Without TLS the same port gives no greeting: swaks waits for a 220
	// that never comes in the clear.
	out, err = runTool(t, "", swaks, "--server", "127.0.0.1", "--port", strconv.Itoa(port), "--timeout", "2",
		"--from", "alice@contoso.com", "--to", "friend@example.org")
	if err == nil || strings.Contains(out, "<- 220") {
		t.Fatalf("plain-text swaks on the implicit TLS port (err %v):\n%s", err, out)
	}
}

// msmtp with tls on and tls_starttls off (TLS on connect, its setting for
// port 465) submits through the implicit TLS connector.
func TestInteropMsmtpImplicitTLS(t *testing.T) {
	msmtp := needTool(t, "msmtp", "msmtp")
	d, port := startSubmissionsDaemon(t)
	dir := t.TempDir()
	rc := filepath.Join(dir, "msmtprc")
	conf := "account default\nhost 127.0.0.1\nport " + strconv.Itoa(port) + "\n" +
		"tls on\ntls_starttls off\ntls_certcheck off\nauth plain\nuser alice@contoso.com\npassword " + testPassword + "\n" +
		"from alice@contoso.com\nlogfile " + filepath.Join(dir, "msmtp.log") + "\n"
	if err := os.WriteFile(rc, []byte(conf), 0o600); err != nil {
		t.Fatal(err)
	}
	out, err := runTool(t, "Subject: from msmtp over 465\n\nHello over implicit TLS.\n", msmtp, "-C", rc, "friend@example.org")
	if err != nil {
		t.Fatalf("msmtp: %v\n%s", err, out)
	}
	got := waitSink(t, d.sink)
	if got.from != "alice@contoso.com" || !strings.Contains(got.data, "with ESMTPSA") || !strings.Contains(got.data, "Hello over implicit TLS.\r\n") {
		t.Fatalf("smart host got %+v", got)
	}
}
