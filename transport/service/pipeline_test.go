package service

import (
	"context"
	"errors"
	"net"
	"net/mail"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"

	gosmtp "github.com/emersion/go-smtp"

	"github.com/transportd/transportd/transport/admin/config"
	"github.com/transportd/transportd/transport/admin/control"
	"github.com/transportd/transportd/transport/mail/tracking"
)

// submit sends one message as alice through the Client Frontend (587).
func (d *testDaemon) submit(t *testing.T, to []string, body string) string {
	t.Helper()
	c := dial(t, d.addr587())
	c.expect("250", "EHLO client.example")
	c.startTLS("mail.contoso.com")
	c.expect("250", "EHLO client.example")
	c.expect("235", "AUTH PLAIN %s", "AGFsaWNlAFMzY3JldC1wYXNzIQ==")
	r := c.send("alice@contoso.com", to, body)
	if !strings.HasPrefix(r, "250 2.6.0") {
		t.Fatalf("submission: %q", r)
	}
	c.close()
	return r
}

func (d *testDaemon) control(t *testing.T, op string, sel control.Selector, out any) error {
	t.Helper()
	ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
	defer cancel()
	return control.Call(ctx, filepath.Join(d.svc.Config().DataDir(), control.SocketName), op, sel, out)
}

func TestRelayThroughSmartHost(t *testing.T) {
	d := startDaemon(t, nil)
	d.submit(t, []string{"friend@example.org", "other@example.org"}, msg)
	got := waitSink(t, d.sink)
	if got.from != "alice@contoso.com" || len(got.to) != 2 || !strings.HasSuffix(got.data, msg) {
		t.Fatalf("smart host got %+v", got)
	}
	if strings.Contains(strings.ReplaceAll(got.data, "\r\n", ""), "\n") {
		t.Fatal("bare LF left our server")
	}
}

// The smart host is down: mail waits in a Retry queue with the reason;
// when it comes back, Retry-Queue sends it at once.
func TestSmartHostDownThenBack(t *testing.T) {
	l, err := net.Listen("tcp4", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	addr := l.Addr().String()
	l.Close() // nothing listens there now
	d := startDaemon(t, func(c *config.Config, d *testDaemon) {
		c.SendConnectors[0].SmartHosts = mustSmartHosts(addr)
		c.Transport.TransientFailureRetryInterval = 1 << 40 // retries only when asked
		c.Transport.MessageRetryInterval = 1 << 40
	})
	d.submit(t, []string{"friend@example.org"}, msg)

	var qs []control.Queue
	deadline := time.Now().Add(10 * time.Second)
	for {
		if err := d.control(t, control.OpQueueGet, control.Selector{}, &qs); err != nil {
			t.Fatal(err)
		}
		if len(qs) == 1 && qs[0].Status == "Retry" {
			break
		}
		if time.Now().After(deadline) {
			t.Fatalf("queue never went to Retry: %+v", qs)
		}
		time.Sleep(20 * time.Millisecond) // polling Get-Queue as an admin would
	}
	if qs[0].Identity != "MAIL\\Outbound" || qs[0].DeliveryType != "SmartHostConnectorDelivery" || qs[0].MessageCount != 1 ||
		!strings.Contains(qs[0].LastError, addr) {
		t.Fatalf("Get-Queue: %+v", qs[0])
	}
	var ms []control.Message
	if err := d.control(t, control.OpMessageGet, control.Selector{Queue: "MAIL\\Outbound"}, &ms); err != nil || len(ms) != 1 || ms[0].Status != "Retry" {
		t.Fatalf("Get-Message: %+v %v", ms, err)
	}

	// The smart host comes back on the same address.
	back, err := net.Listen("tcp4", addr)
	if err != nil {
		t.Skipf("could not reuse %s: %v", addr, err)
	}
	s := &sink{got: make(chan sinkMsg, 10)}
	srv := gosmtp.NewServer(gosmtp.BackendFunc(func(c *gosmtp.Conn) (gosmtp.Session, error) { return &sinkSession{s: s}, nil }))
	go srv.Serve(back)
	defer srv.Close()
	var ch control.Changed
	if err := d.control(t, control.OpQueueRetry, control.Selector{Identity: "MAIL\\Out*"}, &ch); err != nil || ch.Count != 1 {
		t.Fatalf("Retry-Queue: %+v %v", ch, err)
	}
	got := waitSink(t, s)
	if len(got.to) != 1 || got.to[0] != "friend@example.org" {
		t.Fatalf("after retry: %+v", got)
	}
}

// A 550 at the smart host bounces: the DSN lands in the sender's Maildir.
func TestSmartHostRejectionBouncesToSendersMaildir(t *testing.T) {
	d := startDaemon(t, nil)
	d.sink.fail = func(rcpt string) error {
		if strings.HasPrefix(rcpt, "nobody@") {
			return &gosmtp.SMTPError{Code: 550, EnhancedCode: gosmtp.EnhancedCode{5, 1, 1}, Message: "no such user here"}
		}
		return nil
	}
	d.submit(t, []string{"nobody@example.org"}, "Subject: will bounce\r\n\r\nhello\r\n")
	box := filepath.Join(d.svc.Mailboxes().Path("alice@contoso.com"), "new")
	deadline := time.Now().Add(15 * time.Second)
	for time.Now().Before(deadline) {
		entries, _ := os.ReadDir(box)
		if len(entries) == 1 {
			data, err := os.ReadFile(filepath.Join(box, entries[0].Name()))
			if err != nil {
				t.Fatal(err)
			}
			dsn := string(data)
			for _, want := range []string{"Return-Path: <>", "multipart/report", "report-type=delivery-status",
				"Final-Recipient: rfc822; nobody@example.org", "Action: failed", "Status: 5.1.1", "no such user here", "Subject: will bounce"} {
				if !strings.Contains(dsn, want) {
					t.Fatalf("DSN lacks %q:\n%s", want, dsn)
				}
			}
			return
		}
		time.Sleep(20 * time.Millisecond) // polling the Maildir as a mail client would
	}
	t.Fatal("no DSN in alice's Maildir")
}

func TestLocalDeliveryToMaildir(t *testing.T) {
	d := startDaemon(t, nil)
	c := dial(t, d.addr25())
	c.expect("250", "EHLO partner.example")
	r := c.send("someone@example.net", []string{"alice@contoso.com"}, "Subject: for alice\r\n\r\nhi alice\r\n")
	if !strings.HasPrefix(r, "250") {
		t.Fatal(r)
	}
	stored := d.delivered(r)
	if !strings.Contains(stored, "Delivered-To: alice@contoso.com\n") || !strings.Contains(stored, "Return-Path: <someone@example.net>\n") || !strings.HasSuffix(stored, "hi alice\n") {
		t.Fatalf("Maildir copy:\n%q", stored)
	}
}

func TestNoSendConnectorBounces(t *testing.T) {
	d := startDaemon(t, func(c *config.Config, d *testDaemon) { c.SendConnectors = nil })
	d.submit(t, []string{"friend@example.org"}, "Subject: nowhere\r\n\r\nx\r\n")
	box := filepath.Join(d.svc.Mailboxes().Path("alice@contoso.com"), "new")
	deadline := time.Now().Add(10 * time.Second)
	for time.Now().Before(deadline) {
		if entries, _ := os.ReadDir(box); len(entries) == 1 {
			data, _ := os.ReadFile(filepath.Join(box, entries[0].Name()))
			if !strings.Contains(string(data), "Status: 5.4.4") || !strings.Contains(string(data), "no enabled send connector") {
				t.Fatalf("DSN:\n%s", data)
			}
			return
		}
		time.Sleep(20 * time.Millisecond)
	}
	t.Fatal("no DSN for an unroutable recipient")
}

func TestPickupDirectory(t *testing.T) {
	d := startDaemon(t, nil)
	pk := filepath.Join(d.svc.Config().DataDir(), "pickup")
	tmp := filepath.Join(pk, ".alert.tmp")
	if err := os.WriteFile(tmp, []byte("From: monitor@contoso.com\r\nTo: ops@example.org\r\nSubject: disk full\r\n\r\nserver01 disk C: 99%\r\n"), 0o600); err != nil {
		t.Fatal(err)
	}
	if err := os.Rename(tmp, filepath.Join(pk, "alert.eml")); err != nil {
		t.Fatal(err)
	}
	got := waitSink(t, d.sink)
	if got.from != "monitor@contoso.com" || len(got.to) != 1 || got.to[0] != "ops@example.org" || !strings.Contains(got.data, "server01 disk C: 99%") {
		t.Fatalf("pickup message at the smart host: %+v", got)
	}
	if _, err := os.Stat(filepath.Join(pk, "alert.eml")); !errors.Is(err, os.ErrNotExist) {
		t.Fatal("pickup file not removed")
	}
}

// A malformed pickup file goes to badmail with its reason, and message
// tracking records BADMAIL.
func TestPickupBadmail(t *testing.T) {
	d := startDaemon(t, nil)
	pk := filepath.Join(d.svc.Config().DataDir(), "pickup")
	if err := os.WriteFile(filepath.Join(pk, ".broken.tmp"), []byte("Subject: no recipients at all\r\n\r\nbody\r\n"), 0o600); err != nil {
		t.Fatal(err)
	}
	if err := os.Rename(filepath.Join(pk, ".broken.tmp"), filepath.Join(pk, "broken.eml")); err != nil {
		t.Fatal(err)
	}
	bad := filepath.Join(d.svc.Config().DataDir(), "badmail")
	deadline := time.Now().Add(15 * time.Second)
	for time.Now().Before(deadline) {
		if _, err := os.Stat(filepath.Join(bad, "broken.BAD")); err == nil {
			reason, _ := os.ReadFile(filepath.Join(bad, "broken.BDR"))
			if !strings.Contains(string(reason), "Reason: malformed message") {
				t.Fatalf("badmail reason: %s", reason)
			}
			d.svc.Tracking().Flush()
			evs, err := tracking.Search(d.svc.Tracking().Dir(), tracking.Filter{EventID: "BADMAIL"})
			if err != nil || len(evs) != 1 || evs[0].Source != "PICKUP" {
				t.Fatalf("BADMAIL tracking: %+v %v", evs, err)
			}
			return
		}
		time.Sleep(20 * time.Millisecond) // polling the badmail folder
	}
	t.Fatal("malformed pickup file never reached badmail")
}

// A message dropped without Date and Message-ID gets both, as from a
// submission server (RFC 6409 section 8), and our Received field names its
// queue id.
func TestPickupAddsDateMessageIDAndQueueID(t *testing.T) {
	d := startDaemon(t, nil)
	pk := filepath.Join(d.svc.Config().DataDir(), "pickup")
	tmp := filepath.Join(pk, ".bare.tmp")
	if err := os.WriteFile(tmp, []byte("From: monitor@contoso.com\nTo: ops@example.org\nSubject: bare\n\nno Date, no Message-ID\n"), 0o600); err != nil {
		t.Fatal(err)
	}
	if err := os.Rename(tmp, filepath.Join(pk, "bare.eml")); err != nil {
		t.Fatal(err)
	}
	got := waitSink(t, d.sink)
	m, err := mail.ReadMessage(strings.NewReader(got.data))
	if err != nil {
		t.Fatalf("relayed message: %v\n%s", err, got.data)
	}
	if _, err := m.Header.Date(); err != nil {
		t.Fatalf("Date: %v\n%s", err, got.data)
	}
	fqdn := d.svc.Config().Server.Fqdn
	mid := m.Header.Get("Message-ID")
	id, ok := strings.CutSuffix(strings.TrimPrefix(mid, "<"), "@"+fqdn+">")
	if !ok || id == "" || !strings.HasPrefix(mid, "<") {
		t.Fatalf("Message-ID %q, want <queue id@%s>", mid, fqdn)
	}
	if rcv := m.Header.Get("Received"); !strings.Contains(rcv, "id "+id+";") {
		t.Fatalf("Received %q does not name queue id %s", rcv, id)
	}
}

// An identity that matches nothing (here one written for another server
// name, as the README's MAIL\... on a host called vm) lists what exists.
func TestNoMatchListsWhatExists(t *testing.T) {
	l, err := net.Listen("tcp4", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	addr := l.Addr().String()
	l.Close() // the smart host is down: the message stays queued
	d := startDaemon(t, func(c *config.Config, d *testDaemon) {
		c.SendConnectors[0].SmartHosts = mustSmartHosts(addr)
		c.Transport.TransientFailureRetryInterval = 1 << 40
		c.Transport.MessageRetryInterval = 1 << 40
	})
	var ch control.Changed
	err = d.control(t, control.OpQueueRetry, control.Selector{Identity: `VM\Outbound`}, &ch)
	if err == nil || !strings.Contains(err.Error(), "there are no queues") {
		t.Fatalf("Retry-Queue on an empty server: %v", err)
	}
	d.submit(t, []string{"friend@example.org"}, msg)
	var qs []control.Queue
	deadline := time.Now().Add(10 * time.Second)
	for len(qs) == 0 {
		if err := d.control(t, control.OpQueueGet, control.Selector{}, &qs); err != nil {
			t.Fatal(err)
		}
		if time.Now().After(deadline) {
			t.Fatal("the message never showed in a queue")
		}
		time.Sleep(20 * time.Millisecond) // polling Get-Queue as an admin would
	}
	for _, op := range []string{control.OpQueueGet, control.OpQueueRetry} {
		err := d.control(t, op, control.Selector{Identity: `VM\Outbound`}, &qs)
		if err == nil || !strings.Contains(err.Error(), `existing queues: MAIL\Outbound`) {
			t.Fatalf("%s VM\\Outbound: %v", op, err)
		}
	}
	var ms []control.Message
	err = d.control(t, control.OpMessageGet, control.Selector{Identity: "0000000000000"}, &ms)
	if err == nil || !strings.Contains(err.Error(), `existing messages: MAIL\Outbound\`) {
		t.Fatalf("Get-Message of an unknown id: %v", err)
	}
}
