package jsstore_test

import (
	"context"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/nats-io/nats.go"
	"github.com/nats-io/nats.go/jetstream"

	"github.com/transportd/transportd/transport/mail/delivery"
	"github.com/transportd/transportd/transport/mail/queue"
	"github.com/transportd/transportd/transport/mail/queue/jsstore"
	"github.com/transportd/transportd/transport/mail/queue/jsstore/jstest"
	"github.com/transportd/transportd/transport/mail/queue/message"
)

// TestClaimMarksInFlight: Claim leaves the record marked in flight until
// the save after the attempt, so the same member loading the queue after a
// restart in between finds the message Interrupted; once the attempt ended
// and was saved, it does not.
func TestClaimMarksInFlight(t *testing.T) {
	c := jstest.Start(t, 3)
	s := open(t, c, 0, "MAIL1", time.Minute)
	env := message.Envelope{From: "a@contoso.com", Recipients: []message.Recipient{{Address: "b@fabrikam.com"}}}
	id, err := s.Enqueue(context.Background(), env, strings.NewReader("Subject: x\r\n\r\nx\r\n"))
	if err != nil {
		t.Fatal(err)
	}
	if stored, err := open(t, c, 1, "MAIL1", time.Minute).Load(); err != nil || len(stored) != 1 || stored[0].Interrupted {
		t.Fatalf("before any attempt: %+v, %v (want one message, not interrupted)", stored, err)
	}
	if err := s.Claim(id); err != nil {
		t.Fatal(err)
	}
	// The process "dies" here: a restart finds the mark.
	if stored, err := open(t, c, 1, "MAIL1", time.Minute).Load(); err != nil || len(stored) != 1 || !stored[0].Interrupted {
		t.Fatalf("after Claim, no save: %+v, %v (want interrupted)", stored, err)
	}
	st := &message.State{Recipients: []message.RecipientState{{Address: "b@fabrikam.com", Status: message.StatusRetry, Attempts: 1}}}
	// A save while the attempt is still under way keeps the mark.
	if err := s.SaveState(id, st); err != nil {
		t.Fatal(err)
	}
	if stored, err := open(t, c, 2, "MAIL1", time.Minute).Load(); err != nil || len(stored) != 1 || !stored[0].Interrupted {
		t.Fatalf("save during the attempt: %+v, %v (want still interrupted)", stored, err)
	}
	s.EndDelivery(id)
	if err := s.SaveState(id, st); err != nil {
		t.Fatal(err)
	}
	if stored, err := open(t, c, 2, "MAIL1", time.Minute).Load(); err != nil || len(stored) != 1 || stored[0].Interrupted {
		t.Fatalf("after the attempt ended and was saved: %+v, %v (want not interrupted)", stored, err)
	}
}

// stuckTarget is a delivery target that never finishes: it reports each
// attempt on started (which member) and waits until the attempt is
// cancelled — the member "crashes" meanwhile.
type stuckTarget struct {
	name    string
	started chan string
}

func (s stuckTarget) Deliver(ctx context.Context, msg *delivery.Message, rcpts []string) []delivery.Result {
	s.started <- s.name
	<-ctx.Done()
	var out []delivery.Result
	for _, a := range rcpts {
		out = append(out, delivery.Result{Recipient: a, Err: delivery.Temporary([3]int{4, 3, 0}, "cancelled")})
	}
	return out
}

// crashable is a member on its own NATS connection: closing it first is
// the process dying — nothing its manager does afterwards reaches
// JetStream (the save after the cancelled attempt fails), and its lease
// expires.
type crashable struct {
	nc     *nats.Conn
	store  *jsstore.Store
	m      *queue.Manager
	cancel context.CancelFunc
	done   chan struct{}
	once   sync.Once
}

func startCrashable(t *testing.T, c *jstest.Cluster, i int, name string, target delivery.Target) *crashable {
	t.Helper()
	nc := c.Connect(i)
	js, err := jetstream.New(nc)
	if err != nil {
		t.Fatal(err)
	}
	ctx, cancel := context.WithTimeout(context.Background(), 90*time.Second)
	defer cancel()
	var s *jsstore.Store
	for {
		s, err = jsstore.Open(ctx, jsstore.Options{JS: js, Server: name, Replicas: 3, LeaseTTL: 3 * time.Second,
			PublishTimeout: 3 * time.Second, Logger: testLogger(t)})
		if err == nil {
			break
		}
		if ctx.Err() != nil {
			t.Fatalf("opening the store of %s: %v", name, err)
		}
		time.Sleep(200 * time.Millisecond) // streams are being placed; no signal for it
	}
	set := queue.DefaultSettings()
	set.TransientFailureRetryInterval = time.Second
	m, err := queue.NewManager(queue.Options{Store: s, Router: router{target}, Settings: set, Logger: testLogger(t)})
	if err != nil {
		t.Fatal(err)
	}
	rctx, rcancel := context.WithCancel(context.Background())
	mb := &crashable{nc: nc, store: s, m: m, cancel: rcancel, done: make(chan struct{})}
	go func() {
		defer close(mb.done)
		s.Run(rctx, m.Adopt, m.Forget)
	}()
	t.Cleanup(mb.crash)
	return mb
}

func (mb *crashable) crash() {
	mb.once.Do(func() {
		mb.nc.Close()
		mb.cancel()
		<-mb.done
		mb.m.Close()
	})
}

// TestPoisonCountsAcrossMembers: a message whose delivery "crashes" the
// member that delivers it, then the member that took it over, is in the
// poison queue of the third member that takes it over — the crash count
// travels with the message in the shared queue — and the third member
// does not try it again.
func TestPoisonCountsAcrossMembers(t *testing.T) {
	c := jstest.Start(t, 3)
	started := make(chan string, 10)
	names := []string{"MAIL1", "MAIL2", "MAIL3"}
	members := map[string]*crashable{}
	for i, n := range names {
		members[n] = startCrashable(t, c, i, n, stuckTarget{name: n, started: started})
	}
	env := queue.Envelope{From: "app@contoso.com", Recipients: []queue.Recipient{{Address: "user@fabrikam.com"}}, HeaderRead: true}
	id, err := members["MAIL1"].m.Enqueue(context.Background(), env, strings.NewReader("Subject: poison\r\n\r\nx\r\n"))
	if err != nil {
		t.Fatal(err)
	}
	wait := func(what string) string {
		t.Helper()
		select {
		case n := <-started:
			return n
		case <-time.After(90 * time.Second):
			t.Fatalf("no delivery attempt %s", what)
			return ""
		}
	}
	crashed := map[string]bool{}
	first := wait("by the member that accepted the message")
	if first != "MAIL1" {
		t.Fatalf("first attempt by %s, want MAIL1", first)
	}
	members[first].crash()
	crashed[first] = true
	second := wait("after the first crash (a takeover)")
	if crashed[second] {
		t.Fatalf("second attempt by %s, which crashed", second)
	}
	members[second].crash()
	crashed[second] = true
	var third string
	for _, n := range names {
		if !crashed[n] {
			third = n
		}
	}
	// The third member takes the message over and puts it in its poison
	// queue without an attempt.
	deadline := time.Now().Add(90 * time.Second)
	for {
		poison := 0
		for _, q := range members[third].m.Queues() {
			if q.Identity == queue.PoisonQueue {
				poison = q.MessageCount
			}
		}
		if poison == 1 {
			break
		}
		select {
		case n := <-started:
			t.Fatalf("%s attempted the message a third time instead of moving it to the poison queue", n)
		default:
		}
		if time.Now().After(deadline) {
			t.Fatalf("%s has no poison message (queues %+v)", third, members[third].m.Queues())
		}
		time.Sleep(50 * time.Millisecond) // polling the manager's queues
	}
	all, err := members[third].store.Messages(context.Background())
	if err != nil || len(all) != 1 {
		t.Fatalf("shared queue: %+v, %v", all, err)
	}
	got := all[0]
	if got.Envelope.ID != id || got.Owner != third || got.State == nil || !got.State.Poison || got.State.Crashes != queue.PoisonThreshold {
		t.Fatalf("shared record of %s: owner %s, state %+v; want owner %s, poison, %d crashes", id, got.Owner, got.State, third, queue.PoisonThreshold)
	}
	if want := []string{first, second, third}; strings.Join(got.Servers, ",") != strings.Join(want, ",") {
		t.Errorf("servers %v, want %v", got.Servers, want)
	}
	select {
	case n := <-started:
		t.Fatalf("%s attempted the poison message", n)
	default:
	}
}
