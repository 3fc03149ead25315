package tracking

import (
	"context"
	"testing"
	"time"

	"github.com/transportd/transportd/transport/mail/delivery"
	"github.com/transportd/transportd/transport/mail/queue"
)

func TestWriteAndSearch(t *testing.T) {
	dir := t.TempDir()
	l, err := Open(Options{Dir: dir, ServerHostname: "mail.contoso.com", SubjectLogging: true})
	if err != nil {
		t.Fatal(err)
	}
	t0 := time.Date(2026, 5, 4, 9, 0, 0, 0, time.UTC)
	env := queue.Envelope{ID: "Q1", From: "alice@contoso.com", Recipients: []queue.Recipient{{Address: "bob@fabrikam.com"}, {Address: "carol@fabrikam.com"}},
		MessageID: "<m1@contoso.com>", Subject: `Numbers, "Q3"`, Size: 1234, Source: "SMTP", Connector: "Client Frontend MAIL",
		RemoteAddr: "127.0.0.1:5000", AuthUser: "alice"}
	ctx := WithOrigin(context.Background(), Origin{SessionID: "08DE000000000001", ClientIP: "127.0.0.1", ServerIP: "127.0.0.2", ClientHostname: "pc"})
	l.QueueEvent(ctx, queue.Event{Kind: queue.EventEnqueued, Time: t0, Envelope: env,
		Recipients: []queue.RecipientState{{Address: "bob@fabrikam.com"}, {Address: "carol@fabrikam.com"}}})
	l.QueueEvent(context.Background(), queue.Event{Kind: queue.EventFailed, Time: t0.Add(time.Minute), Envelope: env, FailReason: queue.FailDelivery,
		Queue: "Outbound", DeliveryType: "SmartHostConnectorDelivery",
		Recipients: []queue.RecipientState{{Address: "carol@fabrikam.com", Status: queue.StatusFailed, Reply: &delivery.Error{Code: 550, Enhanced: [3]int{5, 1, 1}, Message: "no"}}}})
	l.Close()

	all, err := Search(dir, Filter{})
	if err != nil || len(all) != 2 {
		t.Fatalf("Search: %d events, %v", len(all), err)
	}
	rc := all[0]
	if rc.EventID != EventReceive || rc.Source != SourceSMTP || rc.MessageSubject != `Numbers, "Q3"` || rc.SourceContext != "08DE000000000001" ||
		rc.ServerIP != "127.0.0.2" || rc.ClientHostname != "pc" || rc.RecipientCount != 2 || rc.TotalBytes != 1234 || rc.ServerHostname != "mail.contoso.com" {
		t.Errorf("RECEIVE: %+v", rc)
	}
	if f := all[1]; f.EventID != EventFail || f.Source != SourceSMTP || f.ConnectorID != "Outbound" || f.RecipientStatus[0] != "550 5.1.1 no" {
		t.Errorf("FAIL: %+v", f)
	}
	for _, c := range []struct {
		f    Filter
		want int
	}{
		{Filter{Sender: "ALICE@contoso.com"}, 2},
		{Filter{Recipients: []string{"carol@fabrikam.com"}}, 2},
		{Filter{Recipients: []string{"bob@fabrikam.com"}, EventID: "fail"}, 0},
		{Filter{MessageID: "m1@contoso.com"}, 2},
		{Filter{Start: t0.Add(time.Second)}, 1},
		{Filter{End: t0.Add(time.Second)}, 1},
		{Filter{Sender: "nobody@contoso.com"}, 0},
	} {
		got, err := Search(dir, c.f)
		if err != nil || len(got) != c.want {
			t.Errorf("Search(%+v) = %d events, %v; want %d", c.f, len(got), err, c.want)
		}
	}
	if evs, err := Search(t.TempDir()+"/missing", Filter{}); err != nil || len(evs) != 0 {
		t.Errorf("missing folder: %v, %v", evs, err)
	}
}
