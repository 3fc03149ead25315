// Package authqueue schedules password checks. An argon2id check costs
// tens of milliseconds of CPU and 64 MiB of memory (see package
// credentials), so only a few may run at once; this package decides who
// runs next when more are waiting, so that a flood of wrong passwords
// cannot starve the users who know theirs.
//
// Waiting checks are served by class first (Known, then Normal, then
// Suspect), and within a class in turn by source, one check per source
// per round, so a source with many connections gets no more turns than a
// source with one. Suspect checks never take the last free slot: one is
// kept for the others, so a user who knows the password does not even
// wait for a guess to finish. The queue is bounded, in total and per source: a check
// that finds it full is refused at once (ErrBusy) instead of piling up,
// unless it can push out a waiting check of a lower class, which is then
// refused instead.
package authqueue

import (
	"container/list"
	"context"
	"errors"
	"sync"
)

// Class is the priority of a check; lower is served first.
type Class int

// Classes, highest priority first.
const (
	// Known: the source has logged on to this account successfully before.
	Known Class = iota
	// Normal: a source without recent failed logons.
	Normal
	// Suspect: a source with recent failed logons.
	Suspect
	numClasses
)

// String names the class.
func (c Class) String() string {
	switch c {
	case Known:
		return "known"
	case Normal:
		return "normal"
	case Suspect:
		return "suspect"
	}
	return "invalid"
}

// ErrBusy refuses a check when the queue is full.
var ErrBusy = errors.New("too many authentication attempts waiting")

// Scheduler runs at most a fixed number of checks at once. It is safe for
// concurrent use.
type Scheduler struct {
	slots, maxWaiting, maxPerSource int

	mu      sync.Mutex
	running int
	suspect int // of running, how many are Suspect
	waiting int
	classes [numClasses]classQueue
}

// suspectSlots is how many slots Suspect checks may use: all but one.
func (s *Scheduler) suspectSlots() int { return max(s.slots-1, 1) }

// mayRun reports whether a check of class c may take a slot now.
// s.mu must be held.
func (s *Scheduler) mayRun(c Class) bool {
	return s.running < s.slots && (c != Suspect || s.suspect < s.suspectSlots())
}

// classQueue holds the waiting checks of one class: per source, in
// arrival order, and the sources in turn order.
type classQueue struct {
	bySource map[string]*list.List // of *waiter
	turns    *list.List            // of source keys, next first
	turnOf   map[string]*list.Element
}

type waiter struct {
	source string
	class  Class
	ready  chan struct{} // closed when granted or refused
	err    error         // ErrBusy when pushed out
	el     *list.Element // in its source's list
}

// New returns a Scheduler running at most slots checks at once (at least
// 1), with at most maxWaiting checks waiting (0 or less: none wait) and at
// most maxPerSource of them from one source (0 or less: no limit but
// maxWaiting).
func New(slots, maxWaiting, maxPerSource int) *Scheduler {
	s := &Scheduler{slots: max(slots, 1), maxWaiting: max(maxWaiting, 0), maxPerSource: maxPerSource}
	if s.maxPerSource <= 0 {
		s.maxPerSource = s.maxWaiting
	}
	for i := range s.classes {
		s.classes[i] = classQueue{bySource: map[string]*list.List{}, turns: list.New(), turnOf: map[string]*list.Element{}}
	}
	return s
}

// Acquire waits for a slot to check a password of source in class c. It
// returns the function that gives the slot back (call it exactly once),
// or ErrBusy when the queue is full, or ctx's error when ctx ends first.
func (s *Scheduler) Acquire(ctx context.Context, source string, c Class) (release func(), err error) {
	if c < 0 || c >= numClasses {
		c = Suspect
	}
	s.mu.Lock()
	if s.mayRun(c) && s.queuedAhead(c) == 0 {
		s.start(c)
		s.mu.Unlock()
		return s.releaser(c), nil
	}
	if !s.makeRoom(source, c) {
		s.mu.Unlock()
		return nil, ErrBusy
	}
	w := &waiter{source: source, class: c, ready: make(chan struct{})}
	s.enqueue(w)
	s.mu.Unlock()

	select {
	case <-w.ready:
		if w.err != nil {
			return nil, w.err
		}
		return s.releaser(c), nil
	case <-ctx.Done():
		s.mu.Lock()
		defer s.mu.Unlock()
		select {
		case <-w.ready:
			if w.err == nil {
				// Granted just now: hand the slot on.
				s.stop(c)
				s.grant()
			}
		default:
			s.dequeue(w)
		}
		return nil, ctx.Err()
	}
}

// makeRoom reports whether a check of source in class c may wait, pushing
// out a waiting check of a lower class if the queue is full. s.mu must be
// held.
func (s *Scheduler) makeRoom(source string, c Class) bool {
	if l := s.classes[c].bySource[source]; l != nil && l.Len() >= s.maxPerSource {
		return false
	}
	if s.waiting < s.maxWaiting {
		return true
	}
	for low := numClasses - 1; low > c; low-- {
		if v := s.classes[low].victim(); v != nil {
			s.dequeue(v)
			v.err = ErrBusy
			close(v.ready)
			return true
		}
	}
	return false
}

// victim is the check to push out of q: the newest of the source with
// the most waiting checks.
func (q *classQueue) victim() *waiter {
	var longest *list.List
	for _, l := range q.bySource {
		if longest == nil || l.Len() > longest.Len() {
			longest = l
		}
	}
	if longest == nil {
		return nil
	}
	return longest.Back().Value.(*waiter)
}

func (s *Scheduler) enqueue(w *waiter) {
	q := &s.classes[w.class]
	l := q.bySource[w.source]
	if l == nil {
		l = list.New()
		q.bySource[w.source] = l
		q.turnOf[w.source] = q.turns.PushBack(w.source)
	}
	w.el = l.PushBack(w)
	s.waiting++
}

func (s *Scheduler) dequeue(w *waiter) {
	q := &s.classes[w.class]
	l := q.bySource[w.source]
	l.Remove(w.el)
	s.waiting--
	if l.Len() == 0 {
		delete(q.bySource, w.source)
		q.turns.Remove(q.turnOf[w.source])
		delete(q.turnOf, w.source)
	}
}

// queuedAhead counts the waiting checks of class c or higher priority.
// s.mu must be held.
func (s *Scheduler) queuedAhead(c Class) int {
	n := 0
	for i := Known; i <= c; i++ {
		n += s.classes[i].len()
	}
	return n
}

func (q *classQueue) len() int {
	n := 0
	for _, l := range q.bySource {
		n += l.Len()
	}
	return n
}

func (s *Scheduler) start(c Class) {
	s.running++
	if c == Suspect {
		s.suspect++
	}
}

func (s *Scheduler) stop(c Class) {
	s.running--
	if c == Suspect {
		s.suspect--
	}
}

// grant hands free slots to the next waiting checks. s.mu must be held.
func (s *Scheduler) grant() {
	for s.waiting > 0 {
		granted := false
		for c := range s.classes {
			q := &s.classes[c]
			front := q.turns.Front()
			if front == nil || !s.mayRun(Class(c)) {
				continue
			}
			src := front.Value.(string)
			w := q.bySource[src].Front().Value.(*waiter)
			s.dequeue(w)
			if next, ok := q.turnOf[src]; ok {
				q.turns.MoveToBack(next) // its next check waits for the others' turns
			}
			s.start(Class(c))
			close(w.ready)
			granted = true
			break
		}
		if !granted {
			return
		}
	}
}

func (s *Scheduler) releaser(c Class) func() {
	var once sync.Once
	return func() {
		once.Do(func() {
			s.mu.Lock()
			s.stop(c)
			s.grant()
			s.mu.Unlock()
		})
	}
}

// Stats returns the checks running and waiting now.
func (s *Scheduler) Stats() (running, waiting int) {
	s.mu.Lock()
	defer s.mu.Unlock()
	return s.running, s.waiting
}
