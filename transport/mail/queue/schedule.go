package queue

import (
	"container/heap"
	"time"
)

// The scheduler keeps every waiting message in a heap ordered by the next
// time something is due for it: a retry, the delay notification or the
// expiry. A pass touches only the messages that are due, so a queue of
// 100,000 deferred messages costs nothing until their retry time comes.

// dueHeap is a min-heap of entries by due time.
type dueHeap []*entry

func (h dueHeap) Len() int           { return len(h) }
func (h dueHeap) Less(i, j int) bool { return h[i].due.Before(h[j].due) }
func (h dueHeap) Swap(i, j int) {
	h[i], h[j] = h[j], h[i]
	h[i].heapIdx, h[j].heapIdx = i, j
}
func (h *dueHeap) Push(x any) {
	e := x.(*entry)
	e.heapIdx = len(*h)
	*h = append(*h, e)
}
func (h *dueHeap) Pop() any {
	old := *h
	e := old[len(old)-1]
	old[len(old)-1] = nil
	*h = old[:len(old)-1]
	e.heapIdx = -1
	return e
}

// nextDue computes when the scheduler must next look at e (zero: never,
// while it is delivered, done, suspended or poison). Call with e.mu held.
func (m *Manager) nextDue(e *entry, cfg Settings) time.Time {
	if e.done || e.state.Suspended || e.state.Poison || e.working > 0 {
		return time.Time{}
	}
	var due time.Time
	earlier := func(t time.Time) {
		if !t.IsZero() && (due.IsZero() || t.Before(due)) {
			due = t
		}
	}
	pending := false
	for _, r := range e.state.Recipients {
		switch r.Status {
		case StatusReady:
			pending = true
			earlier(e.env.ReceivedAt) // due now
		case StatusRetry:
			pending = true
			earlier(r.NextRetry)
		}
	}
	if !pending {
		return time.Time{}
	}
	if cfg.MessageExpirationTimeout > 0 {
		earlier(e.env.ReceivedAt.Add(cfg.MessageExpirationTimeout))
	}
	if !e.state.DelayNotified && cfg.DelayNotificationTimeout > 0 {
		t := e.env.ReceivedAt.Add(cfg.DelayNotificationTimeout)
		if retry := e.saveErr.Add(saveErrBackoff); !e.saveErr.IsZero() && t.Before(retry) {
			t = retry // saving DelayNotified failed: try again later
		}
		earlier(t)
	}
	return due
}

// schedule puts e in the heap at its next due time (or takes it out).
func (m *Manager) schedule(e *entry) {
	cfg := m.cfg()
	e.mu.Lock()
	due := m.nextDue(e, cfg)
	e.mu.Unlock()
	m.mu.Lock()
	switch {
	case due.IsZero() && e.heapIdx >= 0:
		heap.Remove(&m.due, e.heapIdx)
	case due.IsZero():
	case e.heapIdx >= 0:
		e.due = due
		heap.Fix(&m.due, e.heapIdx)
	default:
		e.due = due
		heap.Push(&m.due, e)
	}
	first := len(m.due) > 0 && m.due[0] == e
	m.mu.Unlock()
	if first {
		m.kick()
	}
}

// scheduleAt puts e in the heap at due, whatever its state says.
func (m *Manager) scheduleAt(e *entry, due time.Time) {
	m.mu.Lock()
	defer m.mu.Unlock()
	e.due = due
	if e.heapIdx >= 0 {
		heap.Fix(&m.due, e.heapIdx)
	} else {
		heap.Push(&m.due, e)
	}
}

// popDue takes the first entry due at now, or returns the next due time.
func (m *Manager) popDue(now time.Time) (*entry, time.Time) {
	m.mu.Lock()
	defer m.mu.Unlock()
	if len(m.due) == 0 {
		return nil, time.Time{}
	}
	if e := m.due[0]; !e.due.After(now) {
		heap.Pop(&m.due)
		return e, time.Time{}
	}
	return nil, m.due[0].due
}

// rescheduleAll recomputes every due time (after the settings changed).
func (m *Manager) rescheduleAll() {
	m.mu.Lock()
	list := make([]*entry, 0, len(m.entries))
	for _, e := range m.entries {
		list = append(list, e)
	}
	m.mu.Unlock()
	for _, e := range list {
		m.schedule(e)
	}
}
