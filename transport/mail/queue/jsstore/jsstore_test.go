package jsstore_test

import (
	"bytes"
	"context"
	"errors"
	"fmt"
	"io"
	"log/slog"
	"strings"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/nats-io/nats.go/jetstream"

	"github.com/transportd/transportd/transport/mail/delivery"
	"github.com/transportd/transportd/transport/mail/queue"
	"github.com/transportd/transportd/transport/mail/queue/jsstore"
	"github.com/transportd/transportd/transport/mail/queue/jsstore/jstest"
	"github.com/transportd/transportd/transport/mail/queue/message"
)

// testLogger keeps the warnings and errors of the test's members and
// shows them when the test fails.
func testLogger(t *testing.T) *slog.Logger {
	w := &lockedBuffer{}
	t.Cleanup(func() {
		if t.Failed() {
			w.mu.Lock()
			t.Logf("log:\n%s", w.b.String())
			w.mu.Unlock()
		}
	})
	return slog.New(slog.NewTextHandler(w, &slog.HandlerOptions{Level: slog.LevelWarn}))
}

type lockedBuffer struct {
	mu sync.Mutex
	b  bytes.Buffer
}

func (l *lockedBuffer) Write(p []byte) (int, error) {
	l.mu.Lock()
	defer l.mu.Unlock()
	return l.b.Write(p)
}

func open(t *testing.T, c *jstest.Cluster, i int, name string, lease time.Duration) *jsstore.Store {
	t.Helper()
	js, err := jetstream.New(c.Connect(i))
	if err != nil {
		t.Fatal(err)
	}
	// A node that has just rejoined catches up first (slow under -race).
	ctx, cancel := context.WithTimeout(context.Background(), 90*time.Second)
	defer cancel()
	var s *jsstore.Store
	for {
		s, err = jsstore.Open(ctx, jsstore.Options{JS: js, Server: name, Replicas: 3, LeaseTTL: lease,
			PublishTimeout: 3 * time.Second, ChunkSize: 16 << 10, Logger: testLogger(t)})
		if err == nil {
			return s
		}
		if ctx.Err() != nil {
			t.Fatalf("opening the store of %s: %v", name, err)
		}
		time.Sleep(200 * time.Millisecond) // streams are being placed; no signal for it
	}
}

// TestEnqueueChunksLoadRemove stores a body larger than a chunk, reads it
// back, finds it again after a "restart" (a second store of the same
// member), refuses the same queue id twice and removes it.
func TestEnqueueChunksLoadRemove(t *testing.T) {
	c := jstest.Start(t, 3)
	s := open(t, c, 0, "MAIL1", time.Minute)
	body := strings.Repeat("0123456789abcdef\r\n", 5000) // 90 KB: six chunks of 16 KiB
	env := message.Envelope{From: "a@contoso.com", Recipients: []message.Recipient{{Address: "b@fabrikam.com"}}}
	id, err := s.Enqueue(context.Background(), env, strings.NewReader(body))
	if err != nil {
		t.Fatal(err)
	}
	rc, err := s.Open(id)
	if err != nil {
		t.Fatal(err)
	}
	got, err := io.ReadAll(rc)
	if err != nil || string(got) != body {
		t.Fatalf("body read back: %d bytes (want %d), err %v", len(got), len(body), err)
	}
	st := &message.State{Recipients: []message.RecipientState{{Address: "b@fabrikam.com", Status: message.StatusRetry, Attempts: 2}}}
	if err := s.SaveState(id, st); err != nil {
		t.Fatal(err)
	}
	again := open(t, c, 1, "MAIL1", time.Minute) // the same member after a restart, on another node
	stored, err := again.Load()
	if err != nil || len(stored) != 1 || stored[0].Envelope.ID != id || stored[0].State == nil || stored[0].State.Recipients[0].Attempts != 2 {
		t.Fatalf("Load after restart: %+v, %v", stored, err)
	}
	if stored[0].Envelope.Size != int64(len(body)) {
		t.Errorf("size %d, want %d", stored[0].Envelope.Size, len(body))
	}
	env.ID = id
	if _, err := again.Enqueue(context.Background(), env, strings.NewReader("x")); !errors.Is(err, message.ErrDuplicate) {
		t.Fatalf("second Enqueue of %s: %v, want ErrDuplicate", id, err)
	}
	if err := again.Remove(id); err != nil {
		t.Fatal(err)
	}
	if stored, err := open(t, c, 2, "MAIL1", time.Minute).Load(); err != nil || len(stored) != 0 {
		t.Fatalf("after Remove: %+v, %v", stored, err)
	}
	env.ID, env.MaxMessageLen = "", 1000
	if _, err := s.Enqueue(context.Background(), env, strings.NewReader(body)); !errors.Is(err, message.ErrTooLarge) {
		t.Fatalf("over MaxMessageLen: %v", err)
	}
}

// recorder is the smart host of the test: it counts deliveries per
// message; hang makes it block until the delivery is cancelled.
type recorder struct {
	mu   sync.Mutex
	got  map[string]int // X-Test-Seq -> deliveries
	hang atomic.Bool
}

func (r *recorder) Deliver(ctx context.Context, msg *delivery.Message, rcpts []string) []delivery.Result {
	res := func(err error) []delivery.Result {
		var out []delivery.Result
		for _, a := range rcpts {
			out = append(out, delivery.Result{Recipient: a, Err: err})
		}
		return out
	}
	if r.hang.Load() {
		<-ctx.Done()
		return res(delivery.Temporary([3]int{4, 4, 2}, "connection dropped"))
	}
	rc, err := msg.Open()
	if err != nil {
		return res(delivery.Temporary([3]int{4, 3, 0}, "%v", err))
	}
	b, err := io.ReadAll(rc)
	rc.Close()
	if err != nil {
		return res(delivery.Temporary([3]int{4, 3, 0}, "%v", err))
	}
	line, _, _ := bytes.Cut(b, []byte("\r\n"))
	r.mu.Lock()
	r.got[string(line)]++
	r.mu.Unlock()
	return res(nil)
}

type router struct{ t delivery.Target }

func (r router) Route(string, int64) queue.Route {
	return queue.Route{Queue: "smarthost", DeliveryType: "SmartHostConnectorDelivery", Target: r.t}
}

type member struct {
	store  *jsstore.Store
	m      *queue.Manager
	cancel context.CancelFunc
	done   chan struct{}
}

func startMember(t *testing.T, c *jstest.Cluster, i int, name string, target delivery.Target) *member {
	t.Helper()
	s := open(t, c, i, name, 5*time.Second)
	// A body that cannot be read while the streams elect new leaders is a
	// failed attempt, retried after TransientFailureRetryInterval.
	set := queue.DefaultSettings()
	set.TransientFailureRetryInterval = time.Second
	m, err := queue.NewManager(queue.Options{Store: s, Router: router{target}, Settings: set, Logger: testLogger(t)})
	if err != nil {
		t.Fatal(err)
	}
	ctx, cancel := context.WithCancel(context.Background())
	mb := &member{store: s, m: m, cancel: cancel, done: make(chan struct{})}
	go func() {
		defer close(mb.done)
		s.Run(ctx, m.Adopt, m.Forget)
	}()
	t.Cleanup(mb.stop)
	return mb
}

func (mb *member) stop() {
	mb.cancel()
	<-mb.done
	mb.m.Close()
}

// TestTakeOverAfterMemberDies submits messages to three members sharing
// the queue on a three-node JetStream cluster (R3); the third member
// stops answering mid-delivery and its NATS server dies. Every message
// that was acknowledged is delivered by the two others, and the dead
// member's node rejoins and catches up.
func TestTakeOverAfterMemberDies(t *testing.T) {
	c := jstest.Start(t, 3)
	rec := &recorder{got: map[string]int{}}
	dying := &recorder{got: map[string]int{}}
	dying.hang.Store(true)
	members := []*member{
		startMember(t, c, 0, "MAIL1", rec),
		startMember(t, c, 1, "MAIL2", rec),
		startMember(t, c, 2, "MAIL3", dying),
	}
	const n = 600
	var acked atomic.Int64
	var wg sync.WaitGroup
	start := time.Now()
	for w := 0; w < 12; w++ {
		wg.Add(1)
		go func() {
			defer wg.Done()
			for k := w; k < n; k += 12 {
				mb := members[k%3]
				env := queue.Envelope{From: "app@contoso.com", Recipients: []queue.Recipient{{Address: "user@fabrikam.com"}},
					MessageID: fmt.Sprint(k), HeaderRead: true}
				body := fmt.Sprintf("X-Test-Seq: %d\r\nSubject: test\r\n\r\n%s\r\n", k, strings.Repeat("x", 4000))
				if _, err := mb.m.Enqueue(context.Background(), env, strings.NewReader(body)); err != nil {
					t.Errorf("message %d refused: %v", k, err)
					continue
				}
				acked.Add(1)
			}
		}()
	}
	wg.Wait()
	t.Logf("%d messages acknowledged (R3) in %s", acked.Load(), time.Since(start))
	// MAIL3 dies: its deliveries hang, then its node goes away and its
	// manager with it (nothing it does after this reaches JetStream).
	c.Kill(2)
	members[2].stop()
	deadline := time.Now().Add(60 * time.Second)
	for {
		rec.mu.Lock()
		delivered := len(rec.got)
		rec.mu.Unlock()
		if delivered == n && members[0].m.Len() == 0 && members[1].m.Len() == 0 {
			break
		}
		if time.Now().After(deadline) {
			t.Fatalf("%d of %d messages delivered after MAIL3 died (MAIL1 holds %d, MAIL2 %d)", delivered, n, members[0].m.Len(), members[1].m.Len())
		}
		time.Sleep(50 * time.Millisecond) // polling the recorder
	}
	dups := 0
	rec.mu.Lock()
	for _, k := range rec.got {
		dups += k - 1
	}
	rec.mu.Unlock()
	t.Logf("all %d delivered %s after the first submission; %d duplicates", n, time.Since(start), dups)
	// MAIL3's node rejoins and catches up; MAIL3 itself owns nothing any more.
	c.Restart(2)
	rejoin := time.Now()
	back := startMember(t, c, 2, "MAIL3", rec)
	t.Logf("MAIL3's node restarted and its store open again in %s", time.Since(rejoin))
	if back.m.Len() != 0 {
		t.Errorf("MAIL3 recovered %d messages that the others delivered", back.m.Len())
	}
	all, err := back.store.Messages(context.Background())
	if err != nil || len(all) != 0 {
		t.Errorf("shared queue seen from the rejoined member: %d messages, %v", len(all), err)
	}
}

// TestCutOffMemberRefuses cuts one member's node off from the two others:
// it refuses mail with 451 4.3.0 and takes nothing, while the two others
// go on accepting. Healed, it accepts again.
func TestCutOffMemberRefuses(t *testing.T) {
	c := jstest.Start(t, 3)
	stores := []*jsstore.Store{open(t, c, 0, "MAIL1", 5*time.Second), open(t, c, 1, "MAIL2", 5*time.Second), open(t, c, 2, "MAIL3", 5*time.Second)}
	ctx, cancel := context.WithCancel(context.Background())
	var wg sync.WaitGroup
	for _, s := range stores {
		wg.Add(1)
		go func() {
			defer wg.Done()
			s.Run(ctx, func(message.Stored) {}, func(string) {})
		}()
	}
	defer wg.Wait()
	defer cancel()
	env := message.Envelope{From: "a@contoso.com", Recipients: []message.Recipient{{Address: "b@fabrikam.com"}}}
	for i, s := range stores {
		if _, err := s.Enqueue(context.Background(), env, strings.NewReader("Subject: x\r\n\r\nx\r\n")); err != nil {
			t.Fatalf("member %d before the cut: %v", i+1, err)
		}
	}
	c.Cut(2)
	_, err := stores[2].Enqueue(context.Background(), env, strings.NewReader("Subject: x\r\n\r\nx\r\n"))
	var de *delivery.Error
	if !errors.As(err, &de) || de.Code != 451 || de.Enhanced != [3]int{4, 3, 0} {
		t.Fatalf("cut-off member: %v, want 451 4.3.0", err)
	}
	t.Logf("cut-off member answers: %v", err)
	for i := 0; i < 2; i++ {
		ok := false
		var err error
		// The majority elects new leaders for the streams MAIL3 led first.
		for deadline := time.Now().Add(30 * time.Second); !ok && time.Now().Before(deadline); {
			_, err = stores[i].Enqueue(context.Background(), env, strings.NewReader("Subject: x\r\n\r\nx\r\n"))
			if ok = err == nil; !ok {
				time.Sleep(200 * time.Millisecond) // no signal for a leader election seen from the client
			}
		}
		if !ok {
			t.Fatalf("member %d of the majority refuses mail while MAIL3 is cut off: %v", i+1, err)
		}
	}
	c.Heal(2)
}
