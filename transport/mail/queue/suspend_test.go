package queue

import (
	"context"
	"log/slog"
	"path/filepath"
	"strings"
	"testing"

	"github.com/transportd/transportd/transport/mail/queue/journal"
)

// openSuspendable opens a manager on dir that keeps its suspended queues
// in dir; stop closes it and its store (a restart).
func openSuspendable(t *testing.T, dir string, target *fakeTarget) (m *Manager, stop func()) {
	t.Helper()
	store, err := journal.Open(dir, slog.New(slog.DiscardHandler))
	if err != nil {
		t.Fatal(err)
	}
	m, err = NewManager(Options{Store: store, Router: fakeRouter{target}, Notifier: fakeNotifier{sent: make(chan []RecipientState, 10)},
		Settings: fastSettings(), Logger: slog.New(slog.DiscardHandler), SuspendedQueuesFile: filepath.Join(dir, "suspended-queues.json")})
	if err != nil {
		t.Fatal(err)
	}
	stopped := false
	stop = func() {
		if !stopped {
			stopped = true
			m.Close()
			store.Close()
		}
	}
	t.Cleanup(stop)
	return m, stop
}

func messageTo(t *testing.T, m *Manager, rcpt string) string {
	t.Helper()
	id, err := m.Enqueue(context.Background(), Envelope{From: "s@contoso.com", Recipients: []Recipient{{Address: rcpt}}}, strings.NewReader("Subject: x\r\n\r\nx\r\n"))
	if err != nil {
		t.Fatal(err)
	}
	return id
}

func messageInfo(m *Manager, id string) (MessageInfo, bool) {
	for _, mi := range m.Messages("") {
		if mi.Identity == id {
			return mi, true
		}
	}
	return MessageInfo{}, false
}

// A suspended queue delivers nothing, says Suspended, keeps its messages
// Ready, stays suspended across a restart, and delivers them on Resume.
func TestSuspendQueueHoldsDeliveryAcrossRestart(t *testing.T) {
	dir := t.TempDir()
	target := newFakeTarget(func(string, int) error { return nil })
	m, stop := openSuspendable(t, dir, target)
	messageTo(t, m, "first@example.org")
	if r := waitFor(t, target.delivered); r != "first@example.org" {
		t.Fatalf("delivered %s", r)
	}
	if err := m.SuspendQueue("smarthost"); err != nil {
		t.Fatal(err)
	}
	if err := m.SuspendQueue("nosuch"); err == nil || !strings.Contains(err.Error(), "no such queue") {
		t.Fatalf("suspending a queue that does not exist: %v", err)
	}
	if err := m.SuspendQueue(PoisonQueue); err == nil {
		t.Fatal("the Poison queue was suspended")
	}
	held := messageTo(t, m, "held@example.org")
	removed := messageTo(t, m, "removed@example.org")
	waitUntil(t, "both messages waiting in the suspended queue", func() bool {
		q := smarthostQueue(m)
		return q.Status == "Suspended" && q.MessageCount == 2
	})
	for _, id := range []string{held, removed} {
		if mi, _ := messageInfo(m, id); mi.Status != "Ready" || len(mi.Queue) != 1 || mi.Queue[0] != "smarthost" {
			t.Fatalf("message in a suspended queue: %+v", mi)
		}
	}
	if err := m.Remove(removed, false); err != nil {
		t.Fatal(err)
	}

	stop() // the daemon restarts
	m, _ = openSuspendable(t, dir, target)
	waitUntil(t, "the message routed to the suspended queue again", func() bool {
		q := smarthostQueue(m)
		return q.Status == "Suspended" && q.MessageCount == 1
	})
	if target.attemptsOf("held@example.org") != 0 {
		t.Fatal("a message of a suspended queue was delivered")
	}
	if ok, err := m.ResumeQueue("smarthost"); !ok || err != nil {
		t.Fatalf("ResumeQueue: %v %v", ok, err)
	}
	if r := waitFor(t, target.delivered); r != "held@example.org" {
		t.Fatalf("delivered %s after Resume-Queue", r)
	}
	waitEmpty(t, m)
	if q := smarthostQueue(m); q.Status == "Suspended" {
		t.Fatalf("still suspended: %+v", q)
	}
	if target.attemptsOf("removed@example.org") != 0 {
		t.Fatal("a removed message was delivered")
	}
	if ok, _ := m.ResumeQueue("smarthost"); ok {
		t.Fatal("resumed a queue that was not suspended")
	}
}

// Removing or suspending a message that waits in a suspended queue keeps
// it from going when the queue resumes (it was still in the queue's list).
func TestMessageRemovedFromSuspendedQueueIsNotDelivered(t *testing.T) {
	target := newFakeTarget(func(string, int) error { return nil })
	m, _ := openSuspendable(t, t.TempDir(), target)
	messageTo(t, m, "first@example.org")
	waitFor(t, target.delivered)
	if err := m.SuspendQueue("smarthost"); err != nil {
		t.Fatal(err)
	}
	gone, kept := messageTo(t, m, "gone@example.org"), messageTo(t, m, "kept@example.org")
	messageTo(t, m, "goes@example.org")
	waitUntil(t, "three messages in the suspended queue", func() bool { return smarthostQueue(m).MessageCount == 3 })
	if err := m.Remove(gone, false); err != nil {
		t.Fatal(err)
	}
	if err := m.Suspend(kept); err != nil {
		t.Fatal(err)
	}
	if _, err := m.ResumeQueue("smarthost"); err != nil {
		t.Fatal(err)
	}
	if r := waitFor(t, target.delivered); r != "goes@example.org" {
		t.Fatalf("delivered %s", r)
	}
	waitUntil(t, "only the suspended message left", func() bool { return m.Len() == 1 })
	if mi, ok := messageInfo(m, kept); !ok || mi.Status != "Suspended" {
		t.Fatalf("suspended message: %+v", mi)
	}
	if target.attemptsOf("gone@example.org")+target.attemptsOf("kept@example.org") != 0 {
		t.Fatal("a removed or suspended message was delivered")
	}
	if err := m.Resume(kept); err != nil {
		t.Fatal(err)
	}
	if r := waitFor(t, target.delivered); r != "kept@example.org" {
		t.Fatalf("delivered %s", r)
	}
}
