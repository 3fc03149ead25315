package queue

import (
	"container/heap"
	"errors"
	"fmt"
	"time"

	"github.com/transportd/transportd/transport/mail/queue/message"
)

// SharedStore is a Store several servers share (package jsstore): each
// message has one owning server, which delivers it; when a server dies,
// another one takes its messages over (Manager.Adopt). The manager asks
// Claim before each delivery attempt, so a server that lost a message (it
// was cut off long enough for another to take it) stops delivering it.
type SharedStore interface {
	Store
	// Claim confirms that this server still holds the message: nil, or
	// ErrLost when another server took it over, or another error when it
	// cannot tell now (it cannot reach the cluster). A store that is also
	// a DeliveryEnder marks the message in flight with it.
	Claim(id string) error
}

// DeliveryEnder is what a SharedStore may also do: keep poison detection's
// in-flight mark with the message instead of on this server's disk, so
// that the crash count is the cluster's. Claim marks the message in flight
// durably (on a quorum); EndDelivery says the attempt ended, and the next
// SaveState (or Remove) clears the mark. A server that loads or takes
// over a message whose mark is still set (its holder stopped mid-attempt)
// gets it with Stored.Interrupted, and the manager counts a crash: a
// message that crashes one member after another reaches PoisonThreshold
// on the members combined, as on a single server.
type DeliveryEnder interface {
	EndDelivery(id string)
}

// PoisonThreshold is how many crashes during a message's delivery move it
// to the poison queue: Exchange's default PoisonThreshold, 2 (its
// Set-TransportService parameter is accepted and inert here). In a cluster
// the crashes of every member count together (DeliveryEnder).
const PoisonThreshold = 2

// MemberCounter is what a SharedStore may also say: how many servers
// share the queue now. The manager then applies MaxConcurrencyPerQueue to
// the whole cluster, each server running its share (perQueueLimit).
type MemberCounter interface {
	LiveMembers() int
}

// ErrLost is returned by a shared store for a message another server took over.
var ErrLost = message.ErrLost

// claimRetry is how long a message waits when its server could not
// confirm it still holds it.
const claimRetry = 10 * time.Second

// unclaimed handles a work item whose message Claim did not confirm: lost,
// it is forgotten; otherwise its recipients wait claimRetry, without
// counting an attempt.
func (m *Manager) unclaimed(e *entry, it workItem, err error) {
	if errors.Is(err, ErrLost) {
		e.mu.Lock()
		e.working--
		e.mu.Unlock()
		m.Forget(e.env.ID)
		return
	}
	now := m.now()
	e.mu.Lock()
	for _, idx := range it.rcpts {
		r := &e.state.Recipients[idx]
		r.Status, r.NextRetry = StatusRetry, now.Add(claimRetry)
		r.LastError = "this server cannot confirm with the cluster that it still holds the message: " + err.Error()
	}
	e.working--
	e.mu.Unlock()
	m.log.Warn("delivery postponed: cannot confirm with the cluster that this server still holds the message", "queue_id", e.env.ID, "err", err)
	m.schedule(e)
}

// ErrDuplicate is returned by a shared store's Enqueue for a queue id that
// is already stored: the DSN another server queued before it died.
var ErrDuplicate = message.ErrDuplicate

// Adopt takes over a message whose owner died: it joins this manager's
// queue with the delivery state the owner last saved, and is delivered
// from there (retry count, next retry, per-recipient status).
func (m *Manager) Adopt(s Stored) {
	e := &entry{env: s.Envelope, heapIdx: -1}
	if s.State != nil {
		e.state = *s.State
	} else {
		e.state = freshState(s.Envelope)
	}
	m.mu.Lock()
	if _, ok := m.entries[e.env.ID]; ok {
		m.mu.Unlock()
		return
	}
	m.entries[e.env.ID] = e
	m.entriesPeak = max(m.entriesPeak, len(m.entries))
	m.mu.Unlock()
	if s.Interrupted {
		m.countInterrupted(e)
	}
	if e.state.Poison {
		m.log.Error("adopted message is in the poison queue", "queue_id", e.env.ID)
	}
	m.schedule(e)
	m.kick()
}

// countInterrupted counts a crash for a message whose holder stopped
// mid-attempt (Stored.Interrupted): past PoisonThreshold it goes to the
// poison queue. The count is saved before the message is scheduled, so
// the next member to take it over sees it.
func (m *Manager) countInterrupted(e *entry) {
	e.mu.Lock()
	e.state.Crashes++
	poison := e.state.Crashes >= PoisonThreshold && !e.state.Poison
	if poison {
		e.state.Poison = true
	}
	st := e.state
	st.Recipients = append([]RecipientState(nil), e.state.Recipients...)
	e.mu.Unlock()
	m.log.Warn("message taken over from a server that stopped while delivering it: counted as a crash", "queue_id", e.env.ID, "crashes", st.Crashes, "threshold", PoisonThreshold)
	if poison {
		m.log.Error("message moved to the poison queue: it was being delivered during repeated crashes", "queue_id", e.env.ID)
		m.emit(m.ctx, Event{Kind: EventPoison, Envelope: e.env, Recipients: st.Recipients})
	}
	if err := m.store.SaveState(e.env.ID, &st); err != nil {
		m.log.Error("cannot save the crash count of a message taken over", "queue_id", e.env.ID, "err", err)
		e.mu.Lock()
		e.dirty = true
		e.mu.Unlock()
	}
}

// Forget drops a message this server no longer holds (another server took
// it over), without touching the store.
func (m *Manager) Forget(id string) {
	if m.release(id) {
		m.log.Warn("message taken over by another server; this one stops delivering it", "queue_id", id)
	}
}

// Release drops a message whose record moves to another store (a cluster
// member's local journal moving into the shared queue, which then hands it
// back with Adopt), without touching the store or warning.
func (m *Manager) Release(id string) { m.release(id) }

// release drops the message from the manager; false when it had none.
func (m *Manager) release(id string) bool {
	m.mu.Lock()
	e := m.entries[id]
	if e == nil {
		m.mu.Unlock()
		return false
	}
	delete(m.entries, id)
	if e.heapIdx >= 0 {
		heap.Remove(&m.due, e.heapIdx)
	}
	m.mu.Unlock()
	e.mu.Lock()
	e.done = true
	e.mu.Unlock()
	return true
}

// dsnID is the queue id of the DSN about message id in a shared store: the
// same on every server, so that the server that takes a message over
// after its owner died does not send the sender a second DSN.
func dsnID(id string, delayed bool) string {
	if delayed {
		return fmt.Sprintf("%sD", id)
	}
	return fmt.Sprintf("%sN", id)
}
