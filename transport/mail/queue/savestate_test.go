package queue

import (
	"context"
	"errors"
	"log/slog"
	"strings"
	"testing"
	"time"

	"github.com/transportd/transportd/transport/mail/delivery"
	"github.com/transportd/transportd/transport/mail/queue/journal"
)

// brokenStateStore is the journal with SaveState failing (a full disk).
type brokenStateStore struct {
	*journal.Journal
	tried chan State
}

func (b brokenStateStore) SaveState(id string, st *State) error {
	b.tried <- *st
	return errors.New("no space left on device")
}

// A delay notification whose DelayNotified flag could not be saved is not
// sent: after a restart the sender would get it a second time (issue 8
// item 11). It goes once the state is durable.
func TestDelayDSNOnlyOnceWhenStateCannotBeSaved(t *testing.T) {
	dir := t.TempDir()
	s := fastSettings()
	s.TransientFailureRetryInterval = time.Hour
	s.MessageRetryInterval = time.Hour
	s.DelayNotificationTimeout = 30 * time.Millisecond
	down := newFakeTarget(func(string, int) error { return delivery.Temporary([3]int{4, 2, 2}, "mailbox full") })
	log := slog.New(slog.DiscardHandler)

	j, err := journal.Open(dir, log)
	if err != nil {
		t.Fatal(err)
	}
	broken := brokenStateStore{Journal: j, tried: make(chan State, 100)}
	n1 := fakeNotifier{sent: make(chan []RecipientState, 10)}
	m, err := NewManager(Options{Store: broken, Router: fakeRouter{down}, Notifier: n1, Settings: s, Logger: log})
	if err != nil {
		t.Fatal(err)
	}
	if _, err := m.Enqueue(context.Background(), Envelope{From: "s@contoso.com", Recipients: []Recipient{{Address: "a@example.org"}}}, strings.NewReader("x\r\n")); err != nil {
		t.Fatal(err)
	}
	for st := waitFor(t, broken.tried); !st.DelayNotified; st = waitFor(t, broken.tried) {
	}
	m.Close() // waits for the scheduler, which sends the DSN right after saving
	if len(n1.sent) != 0 {
		t.Fatal("delay DSN sent although DelayNotified was not saved")
	}
	j.Close()

	// Restart on a working disk: the delay DSN goes, once.
	m2, n2, j2 := newTestManagerStore(t, dir, down, s)
	if got := waitFor(t, n2.sent); len(got) != 1 || got[0].Address != "a@example.org" {
		t.Fatalf("delay DSN for %+v", got)
	}
	m2.Close()
	j2.Close()
	// The flag is durable now: a further restart sends nothing more.
	j3, err := journal.Open(dir, log)
	if err != nil {
		t.Fatal(err)
	}
	defer j3.Close()
	stored, err := j3.Load()
	if err != nil {
		t.Fatal(err)
	}
	var orig *Stored
	for i := range stored {
		if stored[i].Envelope.From != "" { // not the DSN itself
			orig = &stored[i]
		}
	}
	if orig == nil || orig.State == nil || !orig.State.DelayNotified {
		t.Fatalf("DelayNotified not saved after the delay DSN: %+v", orig)
	}
}
