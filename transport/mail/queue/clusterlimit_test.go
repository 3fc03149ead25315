package queue

import (
	"context"
	"fmt"
	"log/slog"
	"strings"
	"sync"
	"testing"

	"github.com/transportd/transportd/transport/mail/delivery"
	"github.com/transportd/transportd/transport/mail/queue/journal"
)

// sharedJournal is a journal posing as a store several servers share, that
// says how many they are (MemberCounter).
type sharedJournal struct {
	*journal.Journal
	members int
}

func (s sharedJournal) Claim(string) error { return nil }
func (s sharedJournal) LiveMembers() int   { return s.members }

// gateTarget holds every delivery until release is closed and records the
// most deliveries it saw at once.
type gateTarget struct {
	mu          sync.Mutex
	now, most   int
	started     chan struct{}
	release     chan struct{}
	deliveredCh chan string
}

func (g *gateTarget) Deliver(ctx context.Context, msg *delivery.Message, rcpts []string) []delivery.Result {
	g.mu.Lock()
	g.now++
	g.most = max(g.most, g.now)
	g.mu.Unlock()
	g.started <- struct{}{}
	<-g.release
	g.mu.Lock()
	g.now--
	g.mu.Unlock()
	out := make([]delivery.Result, 0, len(rcpts))
	for _, r := range rcpts {
		out = append(out, delivery.Result{Recipient: r})
		g.deliveredCh <- r
	}
	return out
}

// TestConcurrencyPerQueueIsTheClusters checks that MaxConcurrencyPerQueue
// applies to the cluster (issue 14): with three members sharing the queue
// and a limit of 6, a member runs at most 2 deliveries to a next hop; a
// single server runs 6.
func TestConcurrencyPerQueueIsTheClusters(t *testing.T) {
	for _, tc := range []struct {
		members, want int
	}{{1, 6}, {3, 2}, {4, 2}} {
		t.Run(fmt.Sprintf("%d members", tc.members), func(t *testing.T) {
			dir := t.TempDir()
			j, err := journal.Open(dir, slog.New(slog.DiscardHandler))
			if err != nil {
				t.Fatal(err)
			}
			g := &gateTarget{started: make(chan struct{}, 100), release: make(chan struct{}), deliveredCh: make(chan string, 100)}
			s := fastSettings()
			s.MaxConcurrencyPerQueue = 6
			m, err := NewManager(Options{Store: sharedJournal{j, tc.members}, Router: fakeRouter{g}, Notifier: fakeNotifier{sent: make(chan []RecipientState, 10)},
				Settings: s, Logger: slog.New(slog.DiscardHandler), InflightDir: dir + "/inflight"})
			if err != nil {
				t.Fatal(err)
			}
			t.Cleanup(func() { m.Close(); j.Close() })
			const n = 12
			for i := range n {
				env := Envelope{From: "sender@contoso.com", Recipients: []Recipient{{Address: fmt.Sprintf("r%d@example.org", i)}}}
				if _, err := m.Enqueue(context.Background(), env, strings.NewReader("Subject: hi\r\n\r\nbody\r\n")); err != nil {
					t.Fatal(err)
				}
			}
			// Wait until the limit's worth of deliveries has started; the
			// others wait for a slot.
			for range tc.want {
				waitFor(t, g.started)
			}
			close(g.release)
			for range n {
				waitFor(t, g.deliveredCh)
			}
			g.mu.Lock()
			defer g.mu.Unlock()
			if g.most != tc.want {
				t.Fatalf("at most %d deliveries at once to one next hop, want %d (MaxConcurrencyPerQueue 6 over %d members)", g.most, tc.want, tc.members)
			}
		})
	}
}
