package queue

import (
	"context"
	"io"
	"log/slog"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/transportd/transportd/transport/mail/delivery"
	"github.com/transportd/transportd/transport/mail/queue/journal"
)

// fakeTarget answers per recipient from a function and reports deliveries.
type fakeTarget struct {
	mu        sync.Mutex
	answer    func(rcpt string, attempt int) error
	attempts  map[string]int
	delivered chan string
	bodies    map[string]string
}

func newFakeTarget(answer func(string, int) error) *fakeTarget {
	return &fakeTarget{answer: answer, attempts: map[string]int{}, delivered: make(chan string, 100), bodies: map[string]string{}}
}

func (f *fakeTarget) Deliver(ctx context.Context, msg *delivery.Message, rcpts []string) []delivery.Result {
	rc, err := msg.Open()
	if err != nil {
		panic(err)
	}
	body, _ := io.ReadAll(rc)
	rc.Close()
	var out []delivery.Result
	for _, r := range rcpts {
		f.mu.Lock()
		f.attempts[r]++
		n := f.attempts[r]
		f.bodies[r] = string(body)
		f.mu.Unlock()
		err := f.answer(r, n)
		out = append(out, delivery.Result{Recipient: r, Err: err})
		if err == nil {
			f.delivered <- r
		}
	}
	return out
}

func (f *fakeTarget) attemptsOf(r string) int {
	f.mu.Lock()
	defer f.mu.Unlock()
	return f.attempts[r]
}

// waitEmpty waits until the manager has finished every message.
func waitEmpty(t *testing.T, m *Manager) {
	t.Helper()
	deadline := time.Now().Add(10 * time.Second)
	for m.Len() > 0 {
		if time.Now().After(deadline) {
			t.Fatalf("queue still holds %d messages", m.Len())
		}
		time.Sleep(5 * time.Millisecond) // polling the observable queue length
	}
}

type fakeRouter struct{ t delivery.Target }

func (r fakeRouter) Route(rcpt string, size int64) Route {
	if strings.HasSuffix(rcpt, "@nowhere.example") {
		return Route{Fail: delivery.Permanentf([3]int{5, 4, 4}, "no route to nowhere.example")}
	}
	return Route{Queue: "smarthost", DeliveryType: "SmartHostConnectorDelivery", Target: r.t}
}

type fakeNotifier struct{ sent chan []RecipientState }

func (n fakeNotifier) DSN(env Envelope, original io.Reader, rcpts []RecipientState, delayed bool, now time.Time) []byte {
	n.sent <- rcpts
	return []byte("Subject: DSN\r\n\r\nfailed\r\n")
}

func newTestManager(t *testing.T, dir string, target delivery.Target, s Settings) (*Manager, fakeNotifier) {
	t.Helper()
	m, n, _ := newTestManagerStore(t, dir, target, s)
	return m, n
}

// newTestManagerStore also returns the store, for tests that stop the
// manager and its store to start them again (a restart).
func newTestManagerStore(t *testing.T, dir string, target delivery.Target, s Settings) (*Manager, fakeNotifier, *journal.Journal) {
	t.Helper()
	// The journal: the store the daemon runs on.
	store, err := journal.Open(dir, slog.New(slog.DiscardHandler))
	if err != nil {
		t.Fatal(err)
	}
	n := fakeNotifier{sent: make(chan []RecipientState, 10)}
	m, err := NewManager(Options{Store: store, Router: fakeRouter{target}, Notifier: n, Settings: s,
		Logger: slog.New(slog.DiscardHandler), InflightDir: dir + "/inflight"})
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { m.Close(); store.Close() })
	return m, n, store
}

func fastSettings() Settings {
	s := DefaultSettings()
	s.TransientFailureRetryInterval = 20 * time.Millisecond
	s.MessageRetryInterval = 40 * time.Millisecond
	s.TransientFailureRetryAttempts = 2
	s.MaxConcurrencyPerQueue = 4
	return s
}

func waitFor[T any](t *testing.T, ch <-chan T) T {
	t.Helper()
	select {
	case v := <-ch:
		return v
	case <-time.After(30 * time.Second):
		t.Fatal("timed out")
	}
	var zero T
	return zero
}

func TestManagerDeliversRetriesAndBounces(t *testing.T) {
	target := newFakeTarget(func(rcpt string, attempt int) error {
		switch {
		case strings.HasPrefix(rcpt, "flaky") && attempt < 3:
			return delivery.Temporary([3]int{4, 4, 1}, "connection refused")
		case strings.HasPrefix(rcpt, "gone"):
			return &delivery.Error{Code: 550, Enhanced: [3]int{5, 1, 1}, Message: "user unknown", RemoteMTA: "smarthost"}
		}
		return nil
	})
	m, n := newTestManager(t, t.TempDir(), target, fastSettings())
	env := Envelope{From: "sender@contoso.com", Recipients: []Recipient{{Address: "ok@example.org"}, {Address: "flaky@example.org"}, {Address: "gone@example.org"}, {Address: "x@nowhere.example"}}}
	if _, err := m.Enqueue(context.Background(), env, strings.NewReader("Subject: hi\r\n\r\nbody\r\n")); err != nil {
		t.Fatal(err)
	}
	got := map[string]bool{}
	for len(got) < 2 {
		got[waitFor(t, target.delivered)] = true
	}
	if !got["ok@example.org"] || !got["flaky@example.org"] {
		t.Fatalf("delivered %v", got)
	}
	failed := waitFor(t, n.sent)
	if len(failed) != 2 {
		t.Fatalf("DSN for %+v, want gone@ and x@nowhere", failed)
	}
	for _, f := range failed {
		if f.Reply == nil || f.Reply.Code/100 != 5 {
			t.Fatalf("failed recipient without a 5xx reply: %+v", f)
		}
	}
	if target.attemptsOf("flaky@example.org") != 3 {
		t.Fatalf("flaky attempts = %d, want 3", target.attemptsOf("flaky@example.org"))
	}
	// The DSN itself is queued to the sender and delivered like any message.
	if r := waitFor(t, target.delivered); r != "sender@contoso.com" {
		t.Fatalf("DSN went to %s", r)
	}
	waitEmpty(t, m)
}

func TestNoDSNForNullSender(t *testing.T) {
	target := newFakeTarget(func(string, int) error { return delivery.Permanentf([3]int{5, 1, 1}, "no") })
	m, n := newTestManager(t, t.TempDir(), target, fastSettings())
	m.Enqueue(context.Background(), Envelope{From: "", Recipients: []Recipient{{Address: "a@example.org"}}}, strings.NewReader("x\r\n"))
	waitEmpty(t, m)
	select {
	case d := <-n.sent:
		t.Fatalf("DSN sent for a null sender: %+v", d)
	default:
	}
}

func TestExpiryAndDelayNotification(t *testing.T) {
	target := newFakeTarget(func(string, int) error { return delivery.Temporary([3]int{4, 4, 1}, "smart host down") })
	s := fastSettings()
	s.DelayNotificationTimeout = 50 * time.Millisecond
	s.MessageExpirationTimeout = 300 * time.Millisecond
	m, n := newTestManager(t, t.TempDir(), target, s)
	m.Enqueue(context.Background(), Envelope{From: "s@contoso.com", Recipients: []Recipient{{Address: "a@example.org"}}}, strings.NewReader("x\r\n"))
	delayed := waitFor(t, n.sent)
	if len(delayed) != 1 || delayed[0].Status != StatusRetry {
		t.Fatalf("delay DSN for %+v", delayed)
	}
	expired := waitFor(t, n.sent)
	if len(expired) != 1 || expired[0].Reply == nil || expired[0].Reply.Enhanced != [3]int{4, 4, 7} {
		t.Fatalf("expiry DSN for %+v", expired)
	}
}

func TestRecoveryAfterRestartDeliversOnce(t *testing.T) {
	dir := t.TempDir()
	block := newFakeTarget(func(string, int) error { return delivery.Temporary([3]int{4, 4, 1}, "down") })
	s := fastSettings()
	s.TransientFailureRetryInterval = time.Hour
	m, _, store := newTestManagerStore(t, dir, block, s)
	for i := 0; i < 5; i++ {
		m.Enqueue(context.Background(), Envelope{From: "s@contoso.com", Recipients: []Recipient{{Address: "a@example.org"}, {Address: "b@example.org"}}}, strings.NewReader("x\r\n"))
	}
	m.Close()
	store.Close()
	ok := newFakeTarget(func(string, int) error { return nil })
	m2, _ := newTestManager(t, dir, ok, fastSettings())
	m2.Retry(func(string) bool { return true })
	for i := 0; i < 10; i++ {
		waitFor(t, ok.delivered)
	}
	waitEmpty(t, m2)
	if ok.attemptsOf("a@example.org") != 5 || ok.attemptsOf("b@example.org") != 5 {
		t.Fatalf("attempts after restart: a=%d b=%d", ok.attemptsOf("a@example.org"), ok.attemptsOf("b@example.org"))
	}
}

func TestSuspendResumeRemove(t *testing.T) {
	gate := make(chan struct{})
	target := newFakeTarget(func(string, int) error { <-gate; return nil })
	m, n := newTestManager(t, t.TempDir(), target, fastSettings())
	close(gate)
	s := fastSettings()
	s.TransientFailureRetryInterval = time.Hour
	m.SetSettings(s)
	down := newFakeTarget(func(string, int) error { return delivery.Temporary([3]int{4, 4, 1}, "down") })
	m.SetRouter(fakeRouter{down})
	id, _ := m.Enqueue(context.Background(), Envelope{From: "s@contoso.com", Recipients: []Recipient{{Address: "a@example.org"}}}, strings.NewReader("x\r\n"))
	for {
		msgs := m.Messages("")
		if len(msgs) == 1 && msgs[0].Status == "Retry" {
			break
		}
		time.Sleep(5 * time.Millisecond)
	}
	if err := m.Suspend(id); err != nil {
		t.Fatal(err)
	}
	if st := m.Messages("smarthost")[0].Status; st != "Suspended" {
		t.Fatalf("status %s", st)
	}
	if err := m.Remove(id, true); err != nil {
		t.Fatal(err)
	}
	ndr := waitFor(t, n.sent)
	if len(ndr) != 1 || ndr[0].Reply.Enhanced != [3]int{5, 3, 0} {
		t.Fatalf("NDR on removal: %+v", ndr)
	}
	if err := m.Resume(id); err == nil {
		t.Fatal("resuming a removed message succeeded")
	}
}

func TestPanickingTargetGoesToPoison(t *testing.T) {
	target := newFakeTarget(func(string, int) error { panic("boom") })
	m, _ := newTestManager(t, t.TempDir(), target, fastSettings())
	m.Enqueue(context.Background(), Envelope{From: "s@contoso.com", Recipients: []Recipient{{Address: "a@example.org"}}}, strings.NewReader("x\r\n"))
	deadline := time.Now().Add(10 * time.Second)
	for time.Now().Before(deadline) {
		for _, q := range m.Queues() {
			if q.Identity == "Poison" && q.MessageCount == 1 {
				return
			}
		}
		time.Sleep(10 * time.Millisecond)
	}
	t.Fatalf("poison queue never got the message: %+v", m.Queues())
}
