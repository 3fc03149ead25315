package main

import (
	"strings"
	"testing"
	"time"

	"github.com/transportd/transportd/transport/admin/config"
	"github.com/transportd/transportd/transport/mail/tracking"
)

func TestTrackingLogGet(t *testing.T) {
	path := newConfig(t)
	c, err := config.Load(path)
	if err != nil {
		t.Fatal(err)
	}
	l, err := tracking.Open(tracking.Options{Dir: c.MessageTrackingLogDir(), SubjectLogging: true})
	if err != nil {
		t.Fatal(err)
	}
	t0 := time.Now().Add(-time.Hour)
	l.Write(tracking.Event{Time: t0, EventID: "RECEIVE", Source: "SMTP", Sender: "alice@contoso.com", Recipients: []string{"bob@fabrikam.com"},
		MessageID: "<m1@contoso.com>", InternalMessageID: "Q1", MessageSubject: "Hello"})
	l.Write(tracking.Event{Time: t0.Add(time.Minute), EventID: "SEND", Source: "SMTP", Sender: "alice@contoso.com", Recipients: []string{"bob@fabrikam.com"},
		MessageID: "<m1@contoso.com>", InternalMessageID: "Q1", MessageSubject: "Hello"})
	l.Write(tracking.Event{Time: t0.Add(2 * time.Minute), EventID: "RECEIVE", Source: "SMTP", Sender: "eve@fabrikam.com", Recipients: []string{"alice@contoso.com"}})
	l.Close()

	out := ok(t, path, "", "trackinglog", "get", "-sender", "alice@contoso.com")
	lines := strings.Split(strings.TrimSpace(out), "\n")
	if len(lines) != 4 || !strings.HasPrefix(lines[0], "Timestamp") || !strings.Contains(lines[0], "MessageSubject") ||
		!strings.Contains(lines[2], "RECEIVE") || !strings.Contains(lines[3], "SEND") {
		t.Errorf("table:\n%s", out)
	}
	out = ok(t, path, "", "trackinglog", "get", "-messageid", "m1@contoso.com", "-eventid", "send")
	if listValue(t, out, "EventId") != "SEND" || listValue(t, out, "InternalMessageId") != "Q1" {
		t.Errorf("list:\n%s", out)
	}
	out = ok(t, path, "", "trackinglog", "get", "-recipients", "alice@contoso.com", "-start", t0.Add(time.Minute).Format(time.RFC3339))
	if !strings.Contains(out, "eve@fabrikam.com") || strings.Contains(out, "SEND") {
		t.Errorf("by recipient and start:\n%s", out)
	}
	if r := tdrun(t, path, "", "trackinglog", "get", "-start", "yesterday"); r.code == 0 || !strings.Contains(r.stderr, "-Start") {
		t.Errorf("bad -start: %+v", r)
	}
	if r := tdrun(t, path, "", "trackinglog", "get", "-color", "red"); r.code == 0 || !strings.Contains(r.stderr, "unknown parameter") {
		t.Errorf("unknown parameter: %+v", r)
	}
}
