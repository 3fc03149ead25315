package authqueue

import (
	"context"
	"errors"
	"fmt"
	"testing"
	"time"
)

// pending starts Acquire in a goroutine and delivers its outcome.
type pending struct {
	name string
	done chan result
}

type result struct {
	release func()
	err     error
}

func start(s *Scheduler, ctx context.Context, name, source string, c Class) *pending {
	p := &pending{name: name, done: make(chan result, 1)}
	go func() {
		r, err := s.Acquire(ctx, source, c)
		p.done <- result{r, err}
	}()
	return p
}

// waitQueued waits until n checks are waiting: the scheduler's own count
// is the only signal there is.
func waitQueued(t *testing.T, s *Scheduler, n int) {
	t.Helper()
	deadline := time.Now().Add(5 * time.Second)
	for {
		if _, w := s.Stats(); w == n {
			return
		}
		if time.Now().After(deadline) {
			_, w := s.Stats()
			t.Fatalf("%d waiting, want %d", w, n)
		}
		time.Sleep(time.Millisecond)
	}
}

func (p *pending) granted(t *testing.T) func() {
	t.Helper()
	select {
	case r := <-p.done:
		if r.err != nil {
			t.Fatalf("%s: %v", p.name, r.err)
		}
		return r.release
	case <-time.After(5 * time.Second):
		t.Fatalf("%s was not granted", p.name)
	}
	return nil
}

func (p *pending) refused(t *testing.T, want error) {
	t.Helper()
	select {
	case r := <-p.done:
		if !errors.Is(r.err, want) {
			t.Fatalf("%s: err %v, want %v", p.name, r.err, want)
		}
	case <-time.After(5 * time.Second):
		t.Fatalf("%s was not refused", p.name)
	}
}

func (p *pending) waiting(t *testing.T) {
	t.Helper()
	select {
	case r := <-p.done:
		t.Fatalf("%s should still wait, got %v", p.name, r.err)
	default:
	}
}

func TestPriorityAndTurns(t *testing.T) {
	s := New(1, 100, 0)
	ctx := context.Background()
	hold, err := s.Acquire(ctx, "x", Normal)
	if err != nil {
		t.Fatal(err)
	}
	// A flood from two suspect sources, one with many more connections,
	// then a normal source and a known one.
	var order []*pending
	for i := 0; i < 6; i++ {
		order = append(order, start(s, ctx, fmt.Sprintf("busy-%d", i), "busy", Suspect))
		waitQueued(t, s, len(order))
	}
	order = append(order, start(s, ctx, "quiet-0", "quiet", Suspect))
	waitQueued(t, s, 7)
	normal := start(s, ctx, "normal", "user", Normal)
	waitQueued(t, s, 8)
	known := start(s, ctx, "known", "home", Known)
	waitQueued(t, s, 9)

	hold()
	known.granted(t)()
	normal.granted(t)()
	// Then the suspects in turn by source: busy, quiet, busy, busy...
	want := []string{"busy-0", "quiet-0", "busy-1", "busy-2", "busy-3", "busy-4", "busy-5"}
	for _, name := range want {
		var got *pending
		for got == nil {
			for _, p := range order {
				select {
				case r := <-p.done:
					if r.err != nil {
						t.Fatal(r.err)
					}
					got = p
					if p.name != name {
						t.Fatalf("granted %s, want %s", p.name, name)
					}
					r.release()
				default:
				}
				if got != nil {
					break
				}
			}
		}
	}
}

func TestBoundedQueuePushesOutLowerClass(t *testing.T) {
	s := New(1, 3, 2)
	ctx := context.Background()
	hold, _ := s.Acquire(ctx, "x", Normal)
	a := start(s, ctx, "a", "s1", Suspect)
	waitQueued(t, s, 1)
	b := start(s, ctx, "b", "s1", Suspect)
	waitQueued(t, s, 2)
	// Per-source limit 2.
	start(s, ctx, "c", "s1", Suspect).refused(t, ErrBusy)
	d := start(s, ctx, "d", "s2", Suspect)
	waitQueued(t, s, 3)
	// Full: another suspect is refused at once...
	start(s, ctx, "e", "s3", Suspect).refused(t, ErrBusy)
	// ...a normal one pushes out the newest check of the busiest suspect source.
	n := start(s, ctx, "n", "user", Normal)
	b.refused(t, ErrBusy)
	waitQueued(t, s, 3)
	a.waiting(t)
	d.waiting(t)
	hold()
	n.granted(t)()
	a.granted(t)()
	d.granted(t)()
	if r, w := s.Stats(); r != 0 || w != 0 {
		t.Fatalf("running %d waiting %d after all released", r, w)
	}
}

func TestContextEndsWait(t *testing.T) {
	s := New(1, 10, 0)
	hold, _ := s.Acquire(context.Background(), "x", Normal)
	ctx, cancel := context.WithCancel(context.Background())
	p := start(s, ctx, "p", "s", Normal)
	waitQueued(t, s, 1)
	cancel()
	p.refused(t, context.Canceled)
	if _, w := s.Stats(); w != 0 {
		t.Fatalf("%d still waiting", w)
	}
	hold()
	hold() // twice is harmless
	r, err := s.Acquire(context.Background(), "y", Suspect)
	if err != nil {
		t.Fatal(err)
	}
	r()
	if run, _ := s.Stats(); run != 0 {
		t.Fatalf("running %d", run)
	}
}

func TestSuspectsLeaveOneSlotFree(t *testing.T) {
	s := New(2, 10, 0)
	ctx := context.Background()
	guess, err := s.Acquire(ctx, "bot", Suspect)
	if err != nil {
		t.Fatal(err)
	}
	// A second guess waits although a slot is free...
	next := start(s, ctx, "bot-2", "bot2", Suspect)
	waitQueued(t, s, 1)
	next.waiting(t)
	// ...which the user gets at once.
	user, err := s.Acquire(ctx, "user", Normal)
	if err != nil {
		t.Fatal(err)
	}
	if r, w := s.Stats(); r != 2 || w != 1 {
		t.Fatalf("running %d waiting %d, want 2 and 1", r, w)
	}
	user()
	next.waiting(t) // still only one suspect at a time
	guess()
	next.granted(t)()
}
