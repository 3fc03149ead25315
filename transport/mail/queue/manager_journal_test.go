package queue

import (
	"bytes"
	"context"
	"fmt"
	"log/slog"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/transportd/transportd/transport/mail/delivery"
	"github.com/transportd/transportd/transport/mail/queue/journal"
)

// The manager on its production store, the journal.

var _ Store = (*journal.Journal)(nil)

func openTestJournal(t *testing.T, dir string) *journal.Journal {
	t.Helper()
	j, err := journal.Open(dir, slog.New(slog.DiscardHandler))
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { j.Close() })
	return j
}

func loadIDs(t *testing.T, s Store) []string {
	t.Helper()
	stored, err := s.Load()
	if err != nil {
		t.Fatal(err)
	}
	var ids []string
	for _, m := range stored {
		ids = append(ids, m.Envelope.ID)
	}
	return ids
}

func TestManagerOnJournal(t *testing.T) {
	dir := t.TempDir()
	target := newFakeTarget(func(rcpt string, attempt int) error {
		switch {
		case strings.HasPrefix(rcpt, "flaky") && attempt < 3:
			return delivery.Temporary([3]int{4, 4, 1}, "connection refused")
		case strings.HasPrefix(rcpt, "gone"):
			return &delivery.Error{Code: 550, Enhanced: [3]int{5, 1, 1}, Message: "user unknown"}
		}
		return nil
	})
	j := openTestJournal(t, dir)
	n := fakeNotifier{sent: make(chan []RecipientState, 10)}
	m, err := NewManager(Options{Store: j, Router: fakeRouter{target}, Notifier: n, Settings: fastSettings(), Logger: slog.New(slog.DiscardHandler)})
	if err != nil {
		t.Fatal(err)
	}
	defer m.Close()
	if id := m.NewID(); len(id) != 25 {
		t.Fatalf("manager id %q does not come from the journal", id)
	}
	env := Envelope{From: "sender@contoso.com", Recipients: []Recipient{{Address: "ok@example.org"}, {Address: "flaky@example.org"}, {Address: "gone@example.org"}}}
	body := "Subject: hi\r\n\r\nbody\r\n"
	if _, err := m.Enqueue(context.Background(), env, strings.NewReader(body)); err != nil {
		t.Fatal(err)
	}
	got := map[string]bool{}
	for len(got) < 2 {
		got[waitFor(t, target.delivered)] = true
	}
	if failed := waitFor(t, n.sent); len(failed) != 1 || failed[0].Address != "gone@example.org" {
		t.Fatalf("DSN for %+v", failed)
	}
	if r := waitFor(t, target.delivered); r != "sender@contoso.com" {
		t.Fatalf("DSN went to %s", r)
	}
	waitEmpty(t, m)
	target.mu.Lock()
	gotBody := target.bodies["ok@example.org"]
	target.mu.Unlock()
	if target.attemptsOf("flaky@example.org") != 3 || gotBody != body {
		t.Fatalf("flaky attempts %d, body %q", target.attemptsOf("flaky@example.org"), gotBody)
	}
	m.Close()
	j.Close()
	j2 := openTestJournal(t, dir)
	if ids := loadIDs(t, j2); len(ids) != 0 {
		t.Fatalf("finished messages still stored: %v", ids)
	}
}

// TestManagerOnJournalRecovers: messages deferred before a restart are
// delivered exactly once after it.
func TestManagerOnJournalRecovers(t *testing.T) {
	dir := t.TempDir()
	s := fastSettings()
	s.TransientFailureRetryInterval = time.Hour
	down := newFakeTarget(func(string, int) error { return delivery.Temporary([3]int{4, 4, 1}, "down") })
	j := openTestJournal(t, dir)
	m, err := NewManager(Options{Store: j, Router: fakeRouter{down}, Settings: s, Logger: slog.New(slog.DiscardHandler)})
	if err != nil {
		t.Fatal(err)
	}
	for range 5 {
		m.Enqueue(context.Background(), Envelope{From: "s@contoso.com", Recipients: []Recipient{{Address: "a@example.org"}}}, strings.NewReader("x\r\n"))
	}
	for down.attemptsOf("a@example.org") < 5 {
		time.Sleep(5 * time.Millisecond) // polling the fake target's attempt count
	}
	m.Close()
	j.Close()

	ok := newFakeTarget(func(string, int) error { return nil })
	j2 := openTestJournal(t, dir)
	m2, err := NewManager(Options{Store: j2, Router: fakeRouter{ok}, Settings: fastSettings(), Logger: slog.New(slog.DiscardHandler)})
	if err != nil {
		t.Fatal(err)
	}
	defer m2.Close()
	m2.Retry(func(string) bool { return true })
	waitEmpty(t, m2)
	if ok.attemptsOf("a@example.org") != 5 {
		t.Fatalf("attempts after restart %d, want 5", ok.attemptsOf("a@example.org"))
	}
}

// The journal's index holds locations, not bodies: a queued 4 KB message
// costs the manager and the journal together far less than 4 KB of heap.
func TestJournalMemoryDoesNotHoldBodies(t *testing.T) {
	j := openTestJournal(t, t.TempDir())
	m, err := NewManager(Options{Store: j, Router: fakeRouter{deferAll{}}, Settings: DefaultSettings(), Logger: slog.New(slog.DiscardHandler)})
	if err != nil {
		t.Fatal(err)
	}
	defer m.Close()
	const n = 3000
	before := heapInUse()
	var wg sync.WaitGroup
	for w := range 50 {
		wg.Go(func() {
			for range n / 50 {
				env := Envelope{From: "app@contoso.com", Recipients: []Recipient{{Address: fmt.Sprintf("ops%d@example.org", w)}}}
				if _, err := m.Enqueue(context.Background(), env, bytes.NewReader(body4k)); err != nil {
					t.Error(err)
					return
				}
			}
		})
	}
	wg.Wait()
	if m.Len() != n {
		t.Fatalf("queue holds %d messages, want %d", m.Len(), n)
	}
	per := float64(int64(heapInUse())-int64(before)) / n
	t.Logf("heap per queued message: %.0f bytes", per)
	if per > 2048 {
		t.Fatalf("each queued message costs %.0f bytes of heap", per)
	}
}
