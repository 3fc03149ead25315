package queue

import (
	"context"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/transportd/transportd/transport/mail/delivery"
)

// hopTarget is one next hop that is down (every delivery fails at
// connection level, as smtpout reports a refused connection) or up.
type hopTarget struct {
	mu    sync.Mutex
	down  bool
	calls int
	seen  chan int // the call count after each call
}

func (h *hopTarget) Deliver(ctx context.Context, msg *delivery.Message, rcpts []string) []delivery.Result {
	h.mu.Lock()
	h.calls++
	down, n := h.down, h.calls
	h.mu.Unlock()
	out := make([]delivery.Result, len(rcpts))
	for i, r := range rcpts {
		out[i].Recipient = r
		if down {
			e := delivery.Temporary([3]int{4, 4, 1}, "connection to smarthost (127.0.0.1:2525) refused")
			e.RemoteMTA, e.Connection = "smarthost", true
			out[i].Err = e
		}
	}
	h.seen <- n
	return out
}

func (h *hopTarget) set(down bool) { h.mu.Lock(); h.down = down; h.mu.Unlock() }
func (h *hopTarget) count() int    { h.mu.Lock(); defer h.mu.Unlock(); return h.calls }

// waitUntil polls an observable condition of the manager (Get-Queue,
// Get-Message) as an admin would; the manager gives no other signal.
func waitUntil(t *testing.T, what string, cond func() bool) {
	t.Helper()
	deadline := time.Now().Add(10 * time.Second)
	for !cond() {
		if time.Now().After(deadline) {
			t.Fatalf("timed out waiting for %s", what)
		}
		time.Sleep(2 * time.Millisecond)
	}
}

func smarthostQueue(m *Manager) QueueInfo {
	for _, q := range m.Queues() {
		if q.Identity == "smarthost" {
			return q
		}
	}
	return QueueInfo{}
}

// allWaitUntil reports whether every queued message is in Retry until t.
func allWaitUntil(m *Manager, n int, t time.Time) bool {
	ms := m.Messages("smarthost")
	if len(ms) != n {
		return false
	}
	for _, msg := range ms {
		if msg.Status != "Retry" || !msg.NextRetryTime.Equal(t) {
			return false
		}
	}
	return true
}

// A dead next hop costs one connection attempt per retry interval, not one
// per message: the queue goes to Retry, its messages wait, one probe goes
// at NextRetryTime (or at Retry-Queue), and when the probe gets through
// the queue drains (issue 8 item 10).
func TestDeadNextHopIsProbedOncePerInterval(t *testing.T) {
	target := &hopTarget{down: true, seen: make(chan int, 100)}
	s := fastSettings()
	s.TransientFailureRetryInterval = time.Hour // no retry unless asked
	s.MessageRetryInterval = time.Hour
	s.MaxConcurrencyPerQueue = 20
	m, _ := newTestManager(t, t.TempDir(), target, s)
	ctx := context.Background()
	enqueue := func() {
		if _, err := m.Enqueue(ctx, Envelope{From: "s@contoso.com", Recipients: []Recipient{{Address: "a@example.org"}}}, strings.NewReader("x\r\n")); err != nil {
			t.Fatal(err)
		}
	}
	started := time.Now()
	enqueue()
	waitFor(t, target.seen)
	waitUntil(t, "the queue to go to Retry", func() bool { return smarthostQueue(m).Status == "Retry" })
	q := smarthostQueue(m)
	if d := q.NextRetryTime.Sub(started); d < 54*time.Minute || d > 67*time.Minute {
		t.Fatalf("NextRetryTime %s from now, want one hour ±10%%", d)
	}
	if !strings.Contains(q.LastError, "refused") {
		t.Fatalf("LastError %q", q.LastError)
	}
	for range 49 {
		enqueue()
	}
	waitUntil(t, "50 messages waiting for the queue's retry time", func() bool { return allWaitUntil(m, 50, q.NextRetryTime) })
	if n := target.count(); n != 1 {
		t.Fatalf("%d connection attempts to a next hop in Retry, want 1", n)
	}
	for _, msg := range m.Messages("smarthost") {
		if !strings.Contains(msg.LastError, "refused") {
			t.Fatalf("waiting message without the next hop's error: %+v", msg)
		}
	}

	// Retry-Queue while the host is still down: one probe, not 50.
	retried := time.Now()
	if n := m.Retry(func(q string) bool { return q == "smarthost" }); n != 1 {
		t.Fatalf("Retry matched %d queues", n)
	}
	waitFor(t, target.seen)
	waitUntil(t, "a new retry time after the failed probe", func() bool {
		nq := smarthostQueue(m)
		// An hour ±10% from the failed probe (the first retry time was
		// drawn the same way from the first failure: the two can be 12
		// minutes apart either way, so the new one is checked against the
		// time of the probe, not against the old one).
		d := nq.NextRetryTime.Sub(retried)
		return nq.Status == "Retry" && d >= 54*time.Minute && d <= 67*time.Minute && !nq.NextRetryTime.Equal(q.NextRetryTime) &&
			allWaitUntil(m, 50, nq.NextRetryTime)
	})
	if n := target.count(); n != 2 {
		t.Fatalf("%d connection attempts after one Retry-Queue, want 2", n)
	}

	// The host is back: the probe gets through and the queue drains.
	target.set(false)
	m.Retry(func(string) bool { return true })
	waitEmpty(t, m)
	if n := target.count(); n != 2+50 {
		t.Fatalf("%d deliveries, want 2 failed probes and 50 deliveries", n)
	}
	if st := smarthostQueue(m).Status; st == "Retry" {
		t.Fatalf("queue still in Retry after it drained")
	}
}

// A per-recipient 4xx (452 mailbox full) is the recipient's trouble: it
// waits alone, the queue stays Ready and other mail goes on.
func TestPerRecipientDeferralStaysWithTheMessage(t *testing.T) {
	gate := make(chan struct{})
	target := newFakeTarget(func(rcpt string, attempt int) error {
		if strings.HasPrefix(rcpt, "full@") {
			return &delivery.Error{Code: 452, Enhanced: [3]int{4, 2, 2}, Message: "mailbox full", RemoteMTA: "smarthost"}
		}
		if strings.HasPrefix(rcpt, "slow@") {
			<-gate
		}
		return nil
	})
	s := fastSettings()
	s.TransientFailureRetryInterval = time.Hour
	m, _ := newTestManager(t, t.TempDir(), target, s)
	ctx := context.Background()
	m.Enqueue(ctx, Envelope{From: "s@contoso.com", Recipients: []Recipient{{Address: "full@example.org"}}}, strings.NewReader("x\r\n"))
	waitUntil(t, "the full mailbox to wait", func() bool { ms := m.Messages(""); return len(ms) == 1 && ms[0].Status == "Retry" })
	m.Enqueue(ctx, Envelope{From: "s@contoso.com", Recipients: []Recipient{{Address: "slow@example.org"}}}, strings.NewReader("x\r\n"))
	waitUntil(t, "the queue to be Active", func() bool { return smarthostQueue(m).Status == "Active" })
	close(gate)
	if r := waitFor(t, target.delivered); r != "slow@example.org" {
		t.Fatalf("delivered %s", r)
	}
	waitUntil(t, "the queue to be Ready", func() bool { return smarthostQueue(m).Status == "Ready" })
	if q := smarthostQueue(m); q.MessageCount != 1 {
		t.Fatalf("Get-Queue: %+v", q)
	}
	ms := m.Messages("")
	if len(ms) != 1 || ms[0].Status != "Retry" || ms[0].Recipients[0].LastReply == nil || ms[0].Recipients[0].LastReply.Enhanced != [3]int{4, 2, 2} {
		t.Fatalf("Get-Message: %+v", ms)
	}
}

// Retry times are spread by ±10% so that mail deferred together does not
// come back together.
func TestRetryJitter(t *testing.T) {
	seen := map[time.Duration]bool{}
	for range 200 {
		d := jitter(time.Hour)
		if d < 54*time.Minute || d > 66*time.Minute {
			t.Fatalf("jitter(1h) = %s, outside ±10%%", d)
		}
		seen[d] = true
	}
	if len(seen) < 150 {
		t.Fatalf("only %d distinct retry times in 200", len(seen))
	}
}

// The DSNs get what Get-Message shows: the last real reply, when it came,
// and the expiry the queue applies (issue 12 item 10).
func TestDSNsGetTheLastReplyAndTheQueueDates(t *testing.T) {
	authErr := &delivery.Error{Code: 451, Enhanced: [3]int{4, 7, 8}, RemoteMTA: "smarthost", Connection: true,
		Message: "authentication as relay to smarthost failed: 535 5.7.8 Authentication credentials invalid"}
	target := newFakeTarget(func(string, int) error { return authErr })
	s := fastSettings()
	s.DelayNotificationTimeout = 50 * time.Millisecond
	s.MessageExpirationTimeout = 300 * time.Millisecond
	m, n := newTestManager(t, t.TempDir(), target, s)
	received := time.Now().UTC()
	m.Enqueue(context.Background(), Envelope{From: "s@contoso.com", ReceivedAt: received, Recipients: []Recipient{{Address: "a@example.org"}}}, strings.NewReader("x\r\n"))
	delayed := waitFor(t, n.sent)
	if len(delayed) != 1 || delayed[0].LastReply == nil || delayed[0].LastReply.Enhanced != [3]int{4, 7, 8} ||
		!delayed[0].RetryUntil.Equal(received.Add(s.MessageExpirationTimeout)) || delayed[0].LastAttempt.IsZero() {
		t.Fatalf("delay DSN for %+v", delayed)
	}
	expired := waitFor(t, n.sent)
	if len(expired) != 1 || !expired[0].Expired || expired[0].LastReply == nil || expired[0].LastReply.Enhanced != [3]int{4, 7, 8} {
		t.Fatalf("expiry DSN for %+v", expired)
	}
}
