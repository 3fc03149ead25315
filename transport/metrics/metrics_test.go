package metrics

import (
	"context"
	"crypto/tls"
	"io"
	"net/http"
	"strings"
	"testing"
	"time"

	"github.com/transportd/transportd/transport/mail/queue"
)

type fakeQueues struct{ received time.Time }

func (f fakeQueues) Queues() []queue.QueueInfo {
	return []queue.QueueInfo{{Identity: "Outbound", DeliveryType: "SmartHostConnectorDelivery", Status: "Retry", MessageCount: 2}}
}

func (f fakeQueues) Messages(string) []queue.MessageInfo {
	return []queue.MessageInfo{{Identity: "1", Queue: []string{"Outbound"}, DateReceived: f.received},
		{Identity: "2", Queue: []string{"Outbound"}, DateReceived: f.received.Add(time.Minute)}}
}

type fakeAuth struct{}

func (fakeAuth) Blocked() (int, int) { return 3, 1 }
func (fakeAuth) Stats() (int, int)   { return 2, 5 }

func TestMetrics(t *testing.T) {
	m := New()
	m.SetQueues(fakeQueues{received: time.Now().Add(-time.Hour)})
	m.ConnectionOpened("Client Frontend MAIL")
	m.ConnectionOpened("Client Frontend MAIL")
	m.ConnectionClosed("Client Frontend MAIL")
	m.AuthFailed("Client Frontend MAIL")
	m.AuthRefused("Client Frontend MAIL", "locked_out")
	m.AuthLockout("source")
	m.SetAuth(fakeAuth{})
	m.TLSNegotiated("Client Frontend MAIL", tls.VersionTLS13)
	m.SendTLSNegotiated(tls.VersionTLS12)
	now := time.Now()
	env := queue.Envelope{Source: "SMTP", Connector: "Client Frontend MAIL", ReceivedAt: now.Add(-2 * time.Second)}
	ctx := context.Background()
	m.QueueEvent(ctx, queue.Event{Kind: queue.EventEnqueued, Envelope: env, Time: now})
	m.QueueEvent(ctx, queue.Event{Kind: queue.EventDelivered, Envelope: env, Time: now, DeliveryType: "SmartHostConnectorDelivery", Attempt: time.Second})
	m.QueueEvent(ctx, queue.Event{Kind: queue.EventDelivered, Envelope: env, Time: now, DeliveryType: "SmtpDeliveryToMailbox"})
	m.QueueEvent(ctx, queue.Event{Kind: queue.EventFailed, Envelope: env, FailReason: queue.FailRouting})
	m.QueueEvent(ctx, queue.Event{Kind: queue.EventDSN, Envelope: env})

	srv := NewServer(m, nil)
	if err := srv.SetAddress("127.0.0.1:0"); err != nil {
		t.Fatal(err)
	}
	defer srv.Close()
	resp, err := http.Get("http://" + srv.Addr().String() + "/metrics")
	if err != nil {
		t.Fatal(err)
	}
	b, _ := io.ReadAll(resp.Body)
	resp.Body.Close()
	body := string(b)
	for _, want := range []string{
		`transportd_smtp_connections_total{connector="Client Frontend MAIL"} 2`,
		`transportd_smtp_connections_active{connector="Client Frontend MAIL"} 1`,
		`transportd_smtp_auth_failures_total{connector="Client Frontend MAIL"} 1`,
		`transportd_smtp_auth_refused_total{connector="Client Frontend MAIL",reason="locked_out"} 1`,
		`transportd_smtp_auth_lockouts_total{scope="source"} 1`,
		`transportd_smtp_auth_blocked{scope="source"} 3`,
		`transportd_smtp_auth_blocked{scope="account"} 1`,
		`transportd_smtp_auth_checks{state="running"} 2`,
		`transportd_smtp_auth_checks{state="waiting"} 5`,
		`transportd_tls_handshakes_total{direction="receive",version="TLS 1.3"} 1`,
		`transportd_tls_handshakes_total{direction="send",version="TLS 1.2"} 1`,
		`transportd_messages_received_total{connector="Client Frontend MAIL",source="SMTP"} 1`,
		`transportd_messages_relayed_total{delivery_type="SmartHostConnectorDelivery"} 1`,
		`transportd_messages_delivered_total{delivery_type="SmtpDeliveryToMailbox"} 1`,
		`transportd_messages_failed_total{reason="Routing"} 1`,
		`transportd_dsns_total{kind="failed"} 1`,
		`transportd_queue_messages{delivery_type="SmartHostConnectorDelivery",queue="Outbound",status="Retry"} 2`,
		`transportd_queue_oldest_message_age_seconds{queue="Outbound"} 36`,
		`transportd_queue_total_messages 2`,
		`transportd_delivery_latency_seconds_count{delivery_type="SmartHostConnectorDelivery"} 1`,
		`transportd_delivery_attempt_duration_seconds_count{delivery_type="SmartHostConnectorDelivery",result="delivered"} 1`,
	} {
		if !strings.Contains(body, want) {
			t.Errorf("scrape lacks %q", want)
		}
	}
	if err := srv.SetAddress(""); err != nil || srv.Addr() != nil {
		t.Errorf("SetAddress(\"\"): %v, %v", err, srv.Addr())
	}
}
