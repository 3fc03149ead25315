package service

import (
	"bufio"
	"net"
	"strconv"
	"strings"
	"testing"
	"time"

	"github.com/transportd/transportd/policies/permissions"
	"github.com/transportd/transportd/transport/admin/config"
)

// AUTH on port 25 (issue 11 item 5): the Default Frontend offers no AUTH
// by default; configured as Exchange allows it (Tls, BasicAuth,
// BasicAuthRequireTLS with ExchangeUsers), it offers AUTH after STARTTLS
// and an authenticated user may relay, checked with swaks.
func TestInteropSwaksAuthOnPort25(t *testing.T) {
	swaks := needTool(t, "swaks", "swaks")
	needSwaksTLS(t, swaks)
	args := func(port int) []string {
		return []string{"--server", "127.0.0.1", "--port", strconv.Itoa(port), "--tls", "--auth", "LOGIN",
			"--auth-user", "alice@contoso.com", "--auth-password", testPassword, "--from", "alice@contoso.com", "--to", "friend@example.org"}
	}

	d := startDaemon(t, nil)
	out, err := runTool(t, "", swaks, args(d.port25)...)
	if err == nil || !strings.Contains(out, "Host did not advertise authentication") {
		t.Fatalf("default port 25 must not offer AUTH (err %v):\n%s", err, out)
	}

	d = startDaemon(t, func(c *config.Config, _ *testDaemon) {
		rc := &c.ReceiveConnectors[0] // Default Frontend
		rc.AuthMechanism = permissions.Mechanisms{permissions.MechTLS, permissions.MechBasicAuth, permissions.MechBasicAuthRequireTLS}
		rc.PermissionGroups = append(rc.PermissionGroups, permissions.GroupExchangeUsers)
	})
	out, err = runTool(t, "", swaks, args(d.port25)...)
	if err != nil || !strings.Contains(out, "235 2.7.0") || !strings.Contains(out, "250 2.6.0") {
		t.Fatalf("AUTH on a port-25 connector configured for it (err %v):\n%s", err, out)
	}
	if got := waitSink(t, d.sink); got.from != "alice@contoso.com" || !strings.Contains(got.data, "with ESMTPSA") {
		t.Fatalf("smart host got %+v", got)
	}
}

// BDAT end to end through the daemon with a raw client on the Default
// Frontend: pipelined chunks, the last one with LAST, queued for a local
// mailbox.
func TestBDATEndToEnd(t *testing.T) {
	d := startDaemon(t, nil)
	c, err := net.DialTimeout("tcp", "127.0.0.1:"+strconv.Itoa(d.port25), 5*time.Second)
	if err != nil {
		t.Fatal(err)
	}
	defer c.Close()
	c.SetDeadline(time.Now().Add(30 * time.Second))
	r := bufio.NewReader(c)
	read := func() string {
		var last string
		for {
			line, err := r.ReadString('\n')
			if err != nil {
				t.Fatalf("read: %v (after %q)", err, last)
			}
			last = line
			if len(line) < 4 || line[3] != '-' {
				return strings.TrimRight(line, "\r\n")
			}
		}
	}
	read() // greeting
	head := "Subject: chunked\r\n\r\n"
	body := "first part\r\nsecond part\r\n"
	script := "EHLO client.example\r\nMAIL FROM:<partner@fabrikam.com>\r\nRCPT TO:<alice@contoso.com>\r\n" +
		"BDAT " + strconv.Itoa(len(head)) + "\r\n" + head +
		"BDAT " + strconv.Itoa(len(body)) + " LAST\r\n" + body + "QUIT\r\n"
	if _, err := c.Write([]byte(script)); err != nil {
		t.Fatal(err)
	}
	var replies []string
	for range 6 {
		replies = append(replies, read())
	}
	if !strings.Contains(replies[0], "CHUNKING") && !strings.HasPrefix(replies[0], "250 ") {
		t.Fatalf("EHLO: %q", replies)
	}
	if !strings.HasPrefix(replies[3], "250 2.0.0 ") || !strings.HasPrefix(replies[4], "250 2.6.0 ") || !strings.HasPrefix(replies[5], "221 ") {
		t.Fatalf("BDAT replies: %q", replies)
	}
}

// SMTPUTF8 end to end with Python's smtplib (mail_options=["SMTPUTF8"]):
// a UTF-8 sender is taken on a connector with SmtpUtf8Enabled and relayed
// to a smart host.
func TestInteropSmtplibSMTPUTF8(t *testing.T) {
	python := needTool(t, "python3", "python3")
	d := startDaemon(t, func(c *config.Config, _ *testDaemon) {
		c.ReceiveConnectors[0].SmtpUtf8Enabled = true
	})
	script := `import smtplib, sys
s = smtplib.SMTP("127.0.0.1", int(sys.argv[1]), timeout=30)
s.ehlo("client.example")
assert s.has_extn("smtputf8"), s.esmtp_features
msg = "From: jürgen@fabrikam.com\r\nTo: alice@contoso.com\r\nSubject: Grüße\r\n\r\nHallo\r\n".encode("utf-8")
refused = s.sendmail("jürgen@fabrikam.com", ["alice@contoso.com"], msg, mail_options=["SMTPUTF8"])
assert not refused, refused
try:
    s.sendmail("jürgen@fabrikam.com", ["alice@contoso.com"], msg)
    print("accepted without SMTPUTF8")
    sys.exit(1)
except (smtplib.SMTPSenderRefused, UnicodeEncodeError, smtplib.SMTPNotSupportedError) as e:
    print("refused without SMTPUTF8:", e)
s.quit()
print("OK")
`
	out, err := runTool(t, "", python, "-c", script, strconv.Itoa(d.port25))
	if err != nil || !strings.Contains(out, "OK") {
		t.Fatalf("smtplib (err %v):\n%s", err, out)
	}
}
