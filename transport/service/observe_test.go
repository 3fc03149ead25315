package service

import (
	"encoding/base64"
	"fmt"
	"io"
	"net/http"
	"os"
	"path/filepath"
	"strconv"
	"strings"
	"testing"
	"time"

	gosmtp "github.com/emersion/go-smtp"

	"github.com/transportd/transportd/connector/protolog"
	"github.com/transportd/transportd/connector/protolog/csvlog"
	"github.com/transportd/transportd/transport/admin/config"
	"github.com/transportd/transportd/transport/mail/tracking"
)

// startObservedDaemon is startDaemon with every connector, the send side
// included, logging the protocol, metrics on a free loopback port, and a
// smart host that refuses bounce@fabrikam.com for good.
func startObservedDaemon(t *testing.T) *testDaemon {
	t.Helper()
	metricsPort := freePort(t)
	return startDaemon(t, func(c *config.Config, d *testDaemon) {
		for i := range c.ReceiveConnectors {
			c.ReceiveConnectors[i].ProtocolLoggingLevel = "Verbose"
		}
		c.Logging.SendProtocolLoggingLevel = "Verbose"
		c.Logging.MetricsAddress = fmt.Sprintf("127.0.0.1:%d", metricsPort)
		d.sink.fail = func(rcpt string) error {
			if strings.HasPrefix(rcpt, "bounce@") {
				return &gosmtp.SMTPError{Code: 550, EnhancedCode: gosmtp.EnhancedCode{5, 1, 1}, Message: "No such user here"}
			}
			return nil
		}
	})
}

// protocolRecords flushes the log and returns its records.
func protocolRecords(t *testing.T, l *protolog.Log, prefix string) [][]string {
	t.Helper()
	if err := l.Flush(); err != nil {
		t.Fatal(err)
	}
	files, err := csvlog.Files(l.Dir(), prefix)
	if err != nil {
		t.Fatal(err)
	}
	var out [][]string
	for _, f := range files {
		b, _ := os.ReadFile(f)
		for _, h := range []string{"#Software: transportd\r\n", "#Version: 15.0.0.0\r\n", "#Fields: " + strings.Join(protolog.Fields, ",") + "\r\n"} {
			if !strings.Contains(string(b), h) {
				t.Errorf("%s lacks the header line %q", filepath.Base(f), h)
			}
		}
		if err := csvlog.ReadFile(f, func(_, rec []string) bool {
			out = append(out, rec)
			return true
		}); err != nil {
			t.Fatal(err)
		}
	}
	return out
}

// waitTracking polls the tracking log until want events match f.
func waitTracking(t *testing.T, d *testDaemon, f tracking.Filter, want ...string) []tracking.Event {
	t.Helper()
	deadline := time.Now().Add(10 * time.Second)
	var got []string
	for {
		d.svc.Tracking().Flush()
		evs, err := tracking.Search(d.svc.Config().MessageTrackingLogDir(), f)
		if err != nil {
			t.Fatal(err)
		}
		got = got[:0]
		seen := map[string]bool{}
		for _, ev := range evs {
			got = append(got, ev.EventID)
			seen[ev.EventID] = true
		}
		all := true
		for _, w := range want {
			all = all && seen[w]
		}
		if all {
			return evs
		}
		if time.Now().After(deadline) {
			t.Fatalf("tracking for %+v: events %v, want %v", f, got, want)
		}
		time.Sleep(20 * time.Millisecond) // the tracking log is written as the queue works
	}
}

func TestProtocolLogTrackingAndMetrics(t *testing.T) {
	d := startObservedDaemon(t)
	recvLog, sendLog := d.svc.ProtocolLogs()

	// A submission on 587: STARTTLS, AUTH PLAIN, a message to a relayed
	// domain (through the smart host), then AUTH LOGIN on a second session.
	c := dial(t, d.addr587())
	c.expect("250", "EHLO client.test")
	c.startTLS("mail.contoso.com")
	c.expect("250", "EHLO client.test")
	if r := c.authPlain("alice@contoso.com", testPassword); !strings.HasPrefix(r, "235") {
		t.Fatalf("AUTH PLAIN: %s", r)
	}
	msg := "From: alice@contoso.com\r\nTo: bob@fabrikam.com\r\nSubject: Quarterly numbers\r\nMessage-ID: <relay-1@contoso.com>\r\n\r\nHello Bob\r\n"
	relayReply := c.send("alice@contoso.com", []string{"bob@fabrikam.com"}, msg)
	if !strings.HasPrefix(relayReply, "250") {
		t.Fatalf("relay: %s", relayReply)
	}
	bounceMsg := "From: alice@contoso.com\r\nTo: bounce@fabrikam.com\r\nSubject: Will bounce\r\nMessage-ID: <bounce-1@contoso.com>\r\n\r\nHi\r\n"
	if r := c.send("alice@contoso.com", []string{"bounce@fabrikam.com"}, bounceMsg); !strings.HasPrefix(r, "250") {
		t.Fatalf("bounce: %s", r)
	}
	c.close()

	c2 := dial(t, d.addr587())
	c2.expect("250", "EHLO client.test")
	c2.startTLS("mail.contoso.com")
	c2.expect("250", "EHLO client.test")
	if r := c2.authLogin("alice@contoso.com", "wrong-"+testPassword); !strings.HasPrefix(r, "535") {
		t.Fatalf("AUTH LOGIN with a wrong password: %s", r)
	}
	if r := c2.authLogin("alice@contoso.com", testPassword); !strings.HasPrefix(r, "235") {
		t.Fatalf("AUTH LOGIN: %s", r)
	}
	c2.close()

	// Message tracking: RECEIVE and SEND for the relayed message, RECEIVE,
	// FAIL and DSN for the bounced one.
	evs := waitTracking(t, d, tracking.Filter{MessageID: "<relay-1@contoso.com>"}, "RECEIVE", "SEND")
	for _, ev := range evs {
		if ev.Sender != "alice@contoso.com" || len(ev.Recipients) != 1 || ev.Recipients[0] != "bob@fabrikam.com" {
			t.Errorf("%s: sender %q recipients %v", ev.EventID, ev.Sender, ev.Recipients)
		}
		switch ev.EventID {
		case "RECEIVE":
			if ev.Source != "SMTP" || ev.ConnectorID != "Client Frontend MAIL" || ev.ClientIP != "127.0.0.1" || ev.ServerIP != "127.0.0.1" ||
				ev.MessageSubject != "Quarterly numbers" || ev.TotalBytes == 0 || len(ev.SourceContext) != 16 || ev.Directionality != "Originating" {
				t.Errorf("RECEIVE event: %+v", ev)
			}
		case "SEND":
			if ev.Source != "SMTP" || ev.ConnectorID != "Outbound" {
				t.Errorf("SEND event: %+v", ev)
			}
		}
	}
	waitTracking(t, d, tracking.Filter{MessageID: "bounce-1@contoso.com"}, "RECEIVE", "FAIL", "DSN")
	if evs := waitTracking(t, d, tracking.Filter{Recipients: []string{"bounce@fabrikam.com"}, EventID: "FAIL"}, "FAIL"); !strings.Contains(evs[0].RecipientStatus[0], "550 5.1.1") {
		t.Errorf("FAIL status %q", evs[0].RecipientStatus)
	}
	if evs, _ := tracking.Search(d.svc.Config().MessageTrackingLogDir(), tracking.Filter{Sender: "alice@contoso.com", EventID: "RECEIVE"}); len(evs) != 2 {
		t.Errorf("RECEIVE events from alice: %d, want 2", len(evs))
	}

	// The receive protocol log.
	d.cancel() // close the sessions and flush everything
	<-d.done
	recs := protocolRecords(t, recvLog, "RECV")
	sessions := map[string][][]string{}
	var order []string
	for _, r := range recs {
		if len(r) != len(protolog.Fields) {
			t.Fatalf("record with %d fields: %q", len(r), r)
		}
		if _, err := time.Parse("2006-01-02T15:04:05.000Z", r[0]); err != nil {
			t.Errorf("date-time %q", r[0])
		}
		if len(r[2]) != 16 {
			t.Errorf("session id %q", r[2])
		}
		if _, ok := sessions[r[2]]; !ok {
			order = append(order, r[2])
		}
		sessions[r[2]] = append(sessions[r[2]], r)
	}
	if len(order) != 2 {
		t.Fatalf("%d receive sessions logged, want 2", len(order))
	}
	for _, id := range order {
		rs := sessions[id]
		for i, r := range rs {
			if r[3] != strconv.Itoa(i) {
				t.Errorf("session %s record %d has sequence-number %s", id, i, r[3])
			}
			if r[1] != "Client Frontend MAIL" || r[4] != d.addr587() || !strings.HasPrefix(r[5], "127.0.0.1:") {
				t.Errorf("session %s record %d: %q", id, i, r)
			}
		}
		if rs[0][6] != "+" || rs[len(rs)-1][6] != "-" {
			t.Errorf("session %s does not start with + and end with -", id)
		}
	}
	var lines []string
	for _, id := range order {
		for _, r := range sessions[id] {
			lines = append(lines, r[6]+" "+r[7])
		}
	}
	text := strings.Join(lines, "\n")
	for _, want := range []string{"> 220 mail.contoso.com", "< EHLO client.test", "< STARTTLS", "> 220 2.0.0 SMTP server ready",
		"* TLS protocol TLS 1.3 negotiated", "< AUTH PLAIN ****", "> 235 2.7.0 Authentication successful", "* alice@contoso.com authenticated",
		"< MAIL FROM:<alice@contoso.com>", "< RCPT TO:<bob@fabrikam.com>", "< DATA", "> 354", "> 250 2.6.0 <", "< AUTH LOGIN", "< ****",
		`* authentication failed for "alice@contoso.com"`, "< QUIT"} {
		if !strings.Contains(text, want) {
			t.Errorf("receive protocol log lacks %q:\n%s", want, text)
		}
	}
	if strings.Contains(text, "Hello Bob") || strings.Contains(text, "Quarterly numbers") {
		t.Errorf("message data was logged:\n%s", text)
	}
	// Never a credential, in any form, in any log file.
	plain := base64.StdEncoding.EncodeToString([]byte("\x00alice@contoso.com\x00" + testPassword))
	secrets := []string{testPassword, plain, base64.StdEncoding.EncodeToString([]byte(testPassword)),
		base64.StdEncoding.EncodeToString([]byte("wrong-" + testPassword))}
	filepath.WalkDir(d.svc.Config().LogDir(), func(p string, e os.DirEntry, err error) error {
		if err != nil || e.IsDir() {
			return nil
		}
		b, _ := os.ReadFile(p)
		for _, s := range secrets {
			if strings.Contains(string(b), s) {
				t.Errorf("%s contains the credential %q", p, s)
			}
		}
		return nil
	})

	// The send protocol log: the smart host session.
	send := protocolRecords(t, sendLog, "SEND")
	var sendLines []string
	for _, r := range send {
		sendLines = append(sendLines, r[6]+" "+r[7])
		if r[1] != "Outbound" || r[5] != d.sink.addr {
			t.Errorf("send record %q", r)
		}
	}
	stext := strings.Join(sendLines, "\n")
	for _, want := range []string{"+ ", "< 220 smarthost.test", "> EHLO mail.contoso.com", "> MAIL FROM:<alice@contoso.com>", "> RCPT TO:<bob@fabrikam.com>",
		"> DATA", "< 354", "< 550 5.1.1 No such user here", "> QUIT", "- "} {
		if !strings.Contains(stext, want) {
			t.Errorf("send protocol log lacks %q:\n%s", want, stext)
		}
	}
	if strings.Contains(stext, "Hello Bob") {
		t.Errorf("message data in the send log:\n%s", stext)
	}
}

func TestMetricsEndpoint(t *testing.T) {
	d := startObservedDaemon(t)
	c := dial(t, d.addr25())
	c.expect("250", "EHLO client.test")
	c.startTLS("mail.contoso.com")
	c.expect("250", "EHLO client.test")
	r := c.send("sender@fabrikam.com", []string{"alice@contoso.com"}, "Subject: hi\r\n\r\nhi\r\n")
	c.close()
	d.delivered(r)
	c = dial(t, d.addr587())
	c.expect("250", "EHLO client.test")
	c.startTLS("mail.contoso.com")
	c.expect("250", "EHLO client.test")
	c.authPlain("alice@contoso.com", "bad password")
	c.close()

	addr := d.svc.MetricsAddr()
	if addr == nil {
		t.Fatal("no metrics endpoint")
	}
	var body string
	deadline := time.Now().Add(10 * time.Second)
	for {
		resp, err := http.Get("http://" + addr.String() + "/metrics")
		if err != nil {
			t.Fatal(err)
		}
		b, _ := io.ReadAll(resp.Body)
		resp.Body.Close()
		body = string(b)
		if resp.StatusCode != 200 {
			t.Fatalf("GET /metrics: %s", resp.Status)
		}
		if strings.Contains(body, `transportd_messages_delivered_total{delivery_type="SmtpDeliveryToMailbox"} 1`) &&
			strings.Contains(body, `transportd_smtp_connections_active{connector="Client Frontend MAIL"} 0`) {
			break
		}
		if time.Now().After(deadline) {
			break
		}
		time.Sleep(20 * time.Millisecond) // delivery and session end run in the background
	}
	for _, want := range []string{
		`transportd_smtp_connections_total{connector="Default Frontend MAIL"} 1`,
		`transportd_smtp_connections_total{connector="Client Frontend MAIL"} 1`,
		`transportd_smtp_connections_active{connector="Client Frontend MAIL"} 0`,
		`transportd_messages_received_total{connector="Default Frontend MAIL",source="SMTP"} 1`,
		`transportd_messages_delivered_total{delivery_type="SmtpDeliveryToMailbox"} 1`,
		`transportd_smtp_auth_failures_total{connector="Client Frontend MAIL"} 1`,
		`transportd_tls_handshakes_total{direction="receive",version="TLS 1.3"} 2`,
		`transportd_delivery_latency_seconds_count{delivery_type="SmtpDeliveryToMailbox"} 1`,
		`transportd_queue_total_messages 0`,
		`go_goroutines`,
	} {
		if !strings.Contains(body, want) {
			t.Errorf("metrics lack %q", want)
		}
	}
	if t.Failed() {
		t.Log(body)
	}
}
