package queue

import (
	"context"
	"fmt"
	"io"
	"runtime/debug"
	"strings"
	"time"

	"github.com/transportd/transportd/transport/mail/delivery"
)

// deliver runs one delivery attempt and records the results.
func (m *Manager) deliver(q *deliveryQueue, it workItem) {
	e := it.e
	e.mu.Lock()
	if e.done || e.state.Suspended || e.state.Poison {
		// Removed or suspended while it waited in its queue (a suspended
		// queue, say): it goes when it is resumed, or not at all.
		e.working--
		e.mu.Unlock()
		m.finishIfDone(e)
		return
	}
	id := e.env.ID
	addrs := make([]string, len(it.rcpts))
	for i, idx := range it.rcpts {
		addrs[i] = e.state.Recipients[idx].Address
	}
	msg := &delivery.Message{ID: id, From: e.env.From, Size: e.env.Size, SMTPUTF8: e.env.SMTPUTF8,
		Open: func() (io.ReadCloser, error) { return m.store.Open(id) }}
	msg.RequireTLS = e.env.RequireTLS
	e.mu.Unlock()
	if m.shared != nil {
		if err := m.shared.Claim(id); err != nil {
			m.unclaimed(e, it, err)
			return
		}
	}

	slot := inflightSlot(-1)
	if m.inflight != nil {
		slot = m.inflight.begin(id)
	}
	started := m.now()
	results := m.safeDeliver(it.target, msg, addrs)
	attempt := m.now().Sub(started)
	if m.inflight != nil {
		m.inflight.end(slot)
	}
	if m.ender != nil {
		m.ender.EndDelivery(id) // the save that follows clears the mark
	}

	now := m.now()
	cfg := m.cfg()
	byAddr := make(map[string]error, len(results))
	for _, r := range results {
		byAddr[strings.ToLower(r.Recipient)] = r.Err
	}
	// A connection-level failure puts the whole queue in Retry; anything
	// else means the next hop answered.
	var holdUntil time.Time
	if ce := connectionFailure(results); ce != nil && len(results) >= len(addrs) {
		holdUntil = m.holdQueue(q, it.probe, ce, now, cfg)
	} else {
		m.nextHopAnswered(q)
	}
	e.mu.Lock()
	e.dirty = true
	var lastErr string
	var okRcpts, failRcpts, retryRcpts []RecipientState
	for _, idx := range it.rcpts {
		r := &e.state.Recipients[idx]
		err, ok := byAddr[strings.ToLower(r.Address)]
		if !ok {
			err = delivery.Temporary([3]int{4, 3, 0}, "no result from the delivery target")
		}
		r.Attempts++
		r.LastAttempt = now
		switch {
		case err == nil:
			r.Status, r.LastError, r.LastReply = StatusDelivered, "", nil
			m.log.Debug("delivered", "queue_id", id, "queue", q.name, "rcpt", r.Address)
		case delivery.IsPermanent(err):
			de := err.(*delivery.Error)
			r.Status, r.Reply, r.LastError = StatusFailed, de, de.Error()
			m.log.Warn("delivery failed", "queue_id", id, "queue", q.name, "rcpt", r.Address, "reason", de.Error())
		default:
			r.Status, r.LastError = StatusRetry, err.Error()
			r.LastReply, _ = err.(*delivery.Error)
			lastErr = err.Error()
			if holdUntil.IsZero() {
				r.NextRetry = now.Add(jitter(retryWait(cfg, r.Attempts)))
			} else {
				r.NextRetry = holdUntil // with its queue
			}
		}
		switch r.Status {
		case StatusDelivered:
			okRcpts = append(okRcpts, *r)
		case StatusFailed:
			failRcpts = append(failRcpts, *r)
		default:
			retryRcpts = append(retryRcpts, *r)
		}
	}
	e.working--
	env := e.env
	poison := e.state.Poison
	e.mu.Unlock()
	ev := Event{Envelope: env, Queue: q.name, DeliveryType: q.deliveryType, Attempt: attempt}
	for _, r := range results {
		if r.Info != "" {
			ev.Info = r.Info
			break
		}
	}
	for _, x := range []struct {
		kind  EventKind
		rcpts []RecipientState
	}{{EventDelivered, okRcpts}, {EventFailed, failRcpts}, {EventDeferred, retryRcpts}} {
		if len(x.rcpts) > 0 {
			ev.Kind, ev.Recipients, ev.FailReason = x.kind, x.rcpts, ""
			if x.kind == EventFailed {
				ev.FailReason = FailDelivery
			}
			m.emit(m.ctx, ev)
		}
	}
	if poison {
		m.emit(m.ctx, Event{Kind: EventPoison, Envelope: env, Recipients: retryRcpts, Queue: q.name, DeliveryType: q.deliveryType})
	}
	m.qmu.Lock()
	if lastErr != "" {
		q.lastError, q.lastErrorAt = lastErr, now
	} else {
		q.lastError, q.lastReply = "", nil
	}
	m.qmu.Unlock()
	if lastErr != "" {
		m.log.Warn("delivery deferred", "queue_id", id, "queue", q.name, "err", lastErr)
	}
	m.finishIfDone(e)
}

// safeDeliver calls the target and turns a panic into a transient failure,
// marking the message poison after repeated panics.
func (m *Manager) safeDeliver(t delivery.Target, msg *delivery.Message, addrs []string) (res []delivery.Result) {
	defer func() {
		if p := recover(); p != nil {
			m.log.Error("delivery crashed", "queue_id", msg.ID, "panic", fmt.Sprint(p), "stack", string(debug.Stack()))
			m.mu.Lock()
			e := m.entries[msg.ID]
			m.mu.Unlock()
			if e != nil {
				e.mu.Lock()
				e.state.Crashes++
				if e.state.Crashes >= PoisonThreshold {
					e.state.Poison = true
				}
				e.mu.Unlock()
			}
			res = nil
			for _, a := range addrs {
				res = append(res, delivery.Result{Recipient: a, Err: delivery.Temporary([3]int{4, 3, 0}, "internal error while delivering")})
			}
		}
	}()
	ctx, cancel := context.WithTimeout(m.ctx, 30*time.Minute)
	defer cancel()
	return t.Deliver(ctx, msg, addrs)
}
