package smtpd

import (
	"encoding/base64"
	"fmt"
	"strings"
	"testing"
	"time"

	"github.com/transportd/transportd/connector"
	"github.com/transportd/transportd/connector/protolog"
	"github.com/transportd/transportd/connector/protolog/csvlog"
	"github.com/transportd/transportd/transport/mail/tracking"
)

// The protocol log is written by the state machine: every command and
// reply line as on the wire, credentials masked (also the SASL responses,
// which only the state machine knows to be credentials), the TLS
// handshake as an information event, and no message data.
func TestProtocolLogFromStateMachine(t *testing.T) {
	dir := t.TempDir()
	plog, err := protolog.Open(protolog.Receive, protolog.Options{Dir: dir})
	if err != nil {
		t.Fatal(err)
	}
	gs := startGoldenServerWith(t, func(d *Deps, cs []connector.ReceiveConnector) {
		d.ProtocolLog = plog
		cs[1].ProtocolLoggingLevel = protolog.LevelVerbose
	})
	g := &goldenConn{t: t, addr: gs.addrs["client"]}
	g.dial()
	user, pass := base64.StdEncoding.EncodeToString([]byte("alice")), base64.StdEncoding.EncodeToString([]byte("pw"))
	steps := []struct {
		lines   []string
		replies int // final reply lines to read
	}{
		{[]string{"EHLO client.example", "STARTTLS"}, 2},
		{[]string{"<tls>", "EHLO client.example", "AUTH LOGIN"}, 2},
		{[]string{user}, 1},
		{[]string{pass}, 1},
		{[]string{"MAIL FROM:<alice@contoso.com>", "RCPT TO:<bob@fabrikam.com>", "DATA"}, 3},
		{[]string{"From: alice@contoso.com", "", "secret body line", ".", "QUIT"}, 2},
	}
	for _, st := range steps {
		g.send(st.lines)
		for n := 0; n < st.replies; {
			l := g.readLine(5 * time.Second)
			if l == "<closed>" || l == "" {
				t.Fatalf("after %q: %q", st.lines, l)
			}
			if len(l) > 3 && l[3] == ' ' {
				n++
			}
		}
	}
	for g.readLine(5*time.Second) != "<closed>" {
	}
	g.c.Close()
	srvDone := func() bool { // the session's Disconnect is written when the server sees the close
		for _, r := range protologRecords(t, plog, dir) {
			if r[6] == protolog.EventDisconnect {
				return true
			}
		}
		return false
	}
	// No signal says the server has written Disconnect; poll the file.
	deadline := time.Now().Add(10 * time.Second)
	for !srvDone() {
		if time.Now().After(deadline) {
			t.Fatal("no disconnect event in the protocol log")
		}
		time.Sleep(10 * time.Millisecond)
	}
	var events []string
	for _, r := range protologRecords(t, plog, dir) {
		events = append(events, r[6]+" "+r[7])
	}
	all := strings.Join(events, "\n")
	for _, want := range []string{
		"< EHLO client.example", "> 220 2.0.0 SMTP server ready", "< AUTH LOGIN", "> 334 VXNlcm5hbWU6",
		"< " + protolog.Masked, "> 235 2.7.0 Authentication successful", "> 250 2.1.0 Sender OK",
		"> 250 2.1.5 Recipient OK", "> 354 Start mail input; end with <CRLF>.<CRLF>", "* alice@contoso.com authenticated",
		"> 221 2.0.0 Service closing transmission channel",
	} {
		if !strings.Contains(all, want) {
			t.Errorf("protocol log lacks %q:\n%s", want, all)
		}
	}
	for _, leak := range []string{user, pass, "secret body line"} {
		if strings.Contains(all, leak) {
			t.Errorf("protocol log holds %q:\n%s", leak, all)
		}
	}
	if strings.Count(all, "< "+protolog.Masked) != 2 {
		t.Errorf("want both SASL responses masked:\n%s", all)
	}
	if !strings.Contains(all, "* TLS protocol TLS 1.3 negotiated") {
		t.Errorf("no TLS information event:\n%s", all)
	}
}

func protologRecords(t *testing.T, l *protolog.Log, dir string) [][]string {
	t.Helper()
	if err := l.Flush(); err != nil {
		t.Fatal(err)
	}
	files, err := csvlog.Files(dir, "RECV")
	if err != nil {
		t.Fatal(err)
	}
	var out [][]string
	for _, f := range files {
		if err := csvlog.ReadFile(f, func(_, rec []string) bool { out = append(out, rec); return true }); err != nil {
			t.Fatal(err)
		}
	}
	return out
}

// The tracking log's RECEIVE event records, as each recipient's status,
// the reply RCPT got on the wire (testdata/golden holds that reply).
func TestRecipientReplyIsTrackingStatus(t *testing.T) {
	wire := fmt.Sprintf("%d %s %s", replyRcptOK.code, replyRcptOK.enh, replyRcptOK.text)
	if wire != tracking.RecipientAccepted {
		t.Fatalf("RCPT answers %q on the wire, the tracking log records %q", wire, tracking.RecipientAccepted)
	}
}
