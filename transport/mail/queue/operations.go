package queue

import (
	"container/heap"
	"fmt"
	"maps"
	"sort"
	"strings"
	"time"

	"github.com/transportd/transportd/transport/mail/delivery"
	"github.com/transportd/transportd/transport/mail/queue/message"
)

// QueueInfo describes one delivery queue as Get-Queue shows it.
type QueueInfo struct {
	Identity      string
	DeliveryType  string
	NextHopDomain string
	Status        string
	MessageCount  int
	LastError     string
	NextRetryTime time.Time

	// LastRetryTime is when the next hop last answered or failed to.
	LastRetryTime time.Time
	// FirstRetryTime is when the queue went to Retry (zero when it is not).
	FirstRetryTime time.Time
	// RetryCount is how many connection attempts failed in a row.
	RetryCount int
}

// MessageInfo describes one queued message as Get-Message shows it.
type MessageInfo struct {
	Identity       string
	FromAddress    string
	Recipients     []RecipientState
	Status         string
	Size           int64
	DateReceived   time.Time
	Queue          []string
	LastError      string
	Subject        string
	SourceIP       string
	NextRetryTime  time.Time
	RetryCount     int
	ExpirationTime time.Time

	// InternetMessageID is the Message-ID header; MessageSourceName where
	// the message came from (the receive connector, Pickup, DSN).
	InternetMessageID string
	MessageSourceName string
}

// Queues lists the delivery queues with their counts, plus Poison when it
// holds messages.
func (m *Manager) Queues() []QueueInfo {
	m.mu.Lock()
	entries := make([]*entry, 0, len(m.entries))
	for _, e := range m.entries {
		entries = append(entries, e)
	}
	m.mu.Unlock()
	counts := map[string]int{}
	retry := map[string]time.Time{}
	poison := 0
	for _, e := range entries {
		e.mu.Lock()
		if e.state.Poison {
			poison++
			e.mu.Unlock()
			continue
		}
		seen := map[string]bool{}
		for _, r := range e.state.Recipients {
			if r.Status == StatusDelivered || r.Status == StatusFailed || r.Queue == "" || seen[r.Queue] {
				continue
			}
			seen[r.Queue] = true
			counts[r.Queue]++
			if r.Status == StatusRetry && (retry[r.Queue].IsZero() || r.NextRetry.Before(retry[r.Queue])) {
				retry[r.Queue] = r.NextRetry
			}
		}
		e.mu.Unlock()
	}
	var out []QueueInfo
	m.qmu.Lock()
	suspended := maps.Clone(m.suspendedQ)
	for name, q := range m.queues {
		// Retry: the next hop failed at connection level and the queue
		// waits for NextRetryTime (Exchange's queue Retry status).
		info := QueueInfo{Identity: name, DeliveryType: q.deliveryType, NextHopDomain: name, Status: "Ready",
			MessageCount: counts[name], LastError: q.lastError, NextRetryTime: retry[name]}
		info.LastRetryTime, info.RetryCount = q.lastAttempt, q.failures
		switch {
		case q.suspended:
			info.Status = "Suspended"
			if q.held {
				info.NextRetryTime, info.FirstRetryTime = q.retryAt, q.failedAt
			}
		case q.held:
			info.Status, info.NextRetryTime, info.FirstRetryTime = "Retry", q.retryAt, q.failedAt
		case q.active > 0:
			info.Status = "Active"
		}
		out = append(out, info)
		delete(counts, name)
		delete(suspended, name)
	}
	m.qmu.Unlock()
	for name, n := range counts { // a queue being created or reaped just now
		info := QueueInfo{Identity: name, NextHopDomain: name, Status: "Ready", MessageCount: n, NextRetryTime: retry[name]}
		if dt, ok := suspended[name]; ok {
			info.Status, info.DeliveryType = "Suspended", dt
			delete(suspended, name)
		}
		out = append(out, info)
	}
	for _, name := range sortedNames(suspended) { // suspended, and no message for it since
		out = append(out, QueueInfo{Identity: name, DeliveryType: suspended[name], NextHopDomain: name, Status: "Suspended"})
	}
	if poison > 0 {
		out = append(out, QueueInfo{Identity: "Poison", DeliveryType: "Poison", NextHopDomain: "Poison Message", Status: "Ready", MessageCount: poison})
	}
	sort.Slice(out, func(i, j int) bool { return out[i].Identity < out[j].Identity })
	return out
}

// Messages lists queued messages, optionally only those with a recipient in queue.
func (m *Manager) Messages(queue string) []MessageInfo {
	cfg := m.cfg()
	m.mu.Lock()
	entries := make([]*entry, 0, len(m.entries))
	for _, e := range m.entries {
		entries = append(entries, e)
	}
	m.mu.Unlock()
	suspendedQ := m.suspendedQueues()
	var out []MessageInfo
	for _, e := range entries {
		e.mu.Lock()
		info := MessageInfo{Identity: e.env.ID, FromAddress: e.env.From, Size: e.env.Size, DateReceived: e.env.ReceivedAt,
			Subject: e.env.Subject, SourceIP: e.env.RemoteAddr, ExpirationTime: e.env.ReceivedAt.Add(cfg.MessageExpirationTimeout)}
		info.InternetMessageID, info.MessageSourceName = e.env.MessageID, messageSource(e.env)
		info.Recipients = append(info.Recipients, e.state.Recipients...)
		status := "Ready"
		qset := map[string]bool{}
		for _, r := range e.state.Recipients {
			if r.Queue != "" && r.Status != StatusDelivered && r.Status != StatusFailed {
				qset[r.Queue] = true
			}
			if r.Status == StatusRetry {
				status = "Retry"
				info.LastError = r.LastError
				info.NextRetryTime = r.NextRetry
			}
			info.RetryCount = max(info.RetryCount, r.Attempts)
		}
		switch {
		case e.state.Poison:
			status = "PendingRemove"
			qset = map[string]bool{"Poison": true}
		case e.state.Suspended:
			status = "Suspended"
		case e.working > 0 && !allSuspended(qset, suspendedQ):
			status = "Active"
		}
		info.Status = status
		for q := range qset {
			info.Queue = append(info.Queue, q)
		}
		sort.Strings(info.Queue)
		e.mu.Unlock()
		if queue != "" && !containsFold(info.Queue, queue) {
			continue
		}
		out = append(out, info)
	}
	sort.Slice(out, func(i, j int) bool { return out[i].Identity < out[j].Identity })
	return out
}

// messageSource is Exchange's MessageSourceName: the receive connector
// (SMTP), Pickup, or DSN.
func messageSource(env Envelope) string {
	switch {
	case env.Connector != "":
		return env.Connector
	case strings.EqualFold(env.Source, "PICKUP"):
		return "Pickup"
	}
	return env.Source
}

// allSuspended reports whether every queue of a message is suspended.
func allSuspended(qset map[string]bool, suspended map[string]string) bool {
	if len(qset) == 0 || len(suspended) == 0 {
		return false
	}
	for q := range qset {
		if _, ok := suspended[q]; !ok {
			return false
		}
	}
	return true
}

func containsFold(list []string, s string) bool {
	for _, x := range list {
		if strings.EqualFold(x, s) {
			return true
		}
	}
	return false
}

// Retry makes every waiting recipient in queues matching match due now
// (Retry-Queue). It returns how many queues matched.
func (m *Manager) Retry(match func(queue string) bool) int {
	now := m.now()
	m.qmu.Lock()
	n := 0
	for name, q := range m.queues {
		if match(name) {
			n++
			if q.held && !q.probing {
				q.retryAt = now // the next delivery due goes as the probe
			}
		}
	}
	m.qmu.Unlock()
	m.mu.Lock()
	entries := make([]*entry, 0, len(m.entries))
	for _, e := range m.entries {
		entries = append(entries, e)
	}
	m.mu.Unlock()
	for _, e := range entries {
		e.mu.Lock()
		changed := false
		for i := range e.state.Recipients {
			r := &e.state.Recipients[i]
			if r.Status == StatusRetry && match(r.Queue) {
				r.NextRetry, changed = now, true
			}
		}
		e.mu.Unlock()
		if changed {
			m.schedule(e)
		}
	}
	m.kick()
	return n
}

// ErrNoSuchMessage is returned for an unknown queue id.
var ErrNoSuchMessage = message.ErrNoSuchMessage

func (m *Manager) entry(id string) (*entry, error) {
	m.mu.Lock()
	defer m.mu.Unlock()
	e, ok := m.entries[id]
	if !ok {
		return nil, fmt.Errorf("%w: %s", ErrNoSuchMessage, id)
	}
	return e, nil
}

// Suspend stops delivery of a message until Resume.
func (m *Manager) Suspend(id string) error {
	e, err := m.entry(id)
	if err != nil {
		return err
	}
	e.mu.Lock()
	e.state.Suspended = true
	st := e.state
	st.Recipients = append([]RecipientState(nil), e.state.Recipients...) // a delivery may be writing them
	e.mu.Unlock()
	return m.store.SaveState(id, &st)
}

// Resume restarts delivery of a suspended (or poison) message now.
func (m *Manager) Resume(id string) error {
	e, err := m.entry(id)
	if err != nil {
		return err
	}
	// The resumed state is saved before the message in memory says so:
	// once it does, the scheduler may deliver and remove it at once, and
	// a save after that would find no message (and report a failure for a
	// message that went).
	e.mu.Lock()
	st := e.state
	st.Suspended, st.Poison, st.Crashes = false, false, 0
	st.Recipients = append([]RecipientState(nil), e.state.Recipients...) // a delivery may be writing them
	now := m.now()
	for i := range st.Recipients {
		if st.Recipients[i].Status == StatusRetry {
			st.Recipients[i].NextRetry = now
		}
	}
	e.mu.Unlock()
	if err := m.store.SaveState(id, &st); err != nil {
		return err
	}
	e.mu.Lock()
	e.state.Suspended, e.state.Poison, e.state.Crashes = false, false, 0
	for i := range e.state.Recipients {
		if e.state.Recipients[i].Status == StatusRetry {
			e.state.Recipients[i].NextRetry = now
		}
	}
	e.mu.Unlock()
	m.dispatch(e)
	return nil
}

// Remove deletes a message from the queue; withNDR sends the sender a
// failure DSN for the recipients not yet delivered (Remove-Message -WithNDR).
func (m *Manager) Remove(id string, withNDR bool) error {
	e, err := m.entry(id)
	if err != nil {
		return err
	}
	e.mu.Lock()
	if e.done {
		e.mu.Unlock()
		return fmt.Errorf("%w: %s", ErrNoSuchMessage, id)
	}
	var pending []RecipientState
	for i := range e.state.Recipients {
		r := &e.state.Recipients[i]
		if r.Status != StatusDelivered && r.Status != StatusFailed {
			r.Status = StatusFailed
			r.Reply = &delivery.Error{Code: 550, Enhanced: [3]int{5, 3, 0}, Message: "Message deleted by an administrator"}
			pending = append(pending, *r)
		}
	}
	e.done = true
	env := e.env
	e.mu.Unlock()
	if len(pending) > 0 {
		m.emit(m.ctx, Event{Kind: EventFailed, Envelope: env, Recipients: pending, FailReason: FailRemoved})
	}
	if withNDR {
		m.sendDSN(env, pending, false)
	}
	m.mu.Lock()
	delete(m.entries, id)
	if e.heapIdx >= 0 {
		heap.Remove(&m.due, e.heapIdx)
	}
	m.mu.Unlock()
	return m.store.Remove(id)
}

// Len returns the number of queued messages.
func (m *Manager) Len() int {
	m.mu.Lock()
	defer m.mu.Unlock()
	return len(m.entries)
}
