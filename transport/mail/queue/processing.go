package queue

import (
	"bytes"
	"container/heap"
	"context"
	"errors"
	"fmt"
	"io"
	"net/textproto"
	"strings"
	"time"

	"github.com/transportd/transportd/policies/header"
	"github.com/transportd/transportd/transport/mail/delivery"
)

func freshState(env Envelope) State {
	st := State{Recipients: make([]RecipientState, len(env.Recipients))}
	for i, r := range env.Recipients {
		st.Recipients[i] = RecipientState{Address: r.Address, Status: StatusReady}
	}
	return st
}

// NewID reserves a queue id for a message about to be enqueued.
func (m *Manager) NewID() string {
	if d, ok := m.store.(interface{ NewID() string }); ok {
		return d.NewID()
	}
	return fmt.Sprintf("%X", time.Now().UnixNano())
}

// Enqueue stores a message durably and schedules its delivery.
func (m *Manager) Enqueue(ctx context.Context, env Envelope, body io.Reader) (string, error) {
	if env.ReceivedAt.IsZero() {
		env.ReceivedAt = m.now().UTC()
	}
	if !env.HeaderRead && env.MessageID == "" && env.Subject == "" {
		var err error
		if body, err = sniffHeader(&env, body); err != nil {
			return "", err
		}
	}
	cr := &countingReader{r: body}
	id, err := m.store.Enqueue(ctx, env, cr)
	if err != nil {
		return "", err
	}
	env.ID = id
	env.Size = cr.n
	e := &entry{env: env, state: freshState(env), heapIdx: -1}
	m.mu.Lock()
	m.entries[id] = e
	m.entriesPeak = max(m.entriesPeak, len(m.entries))
	m.mu.Unlock()
	m.emit(ctx, Event{Kind: EventEnqueued, Envelope: env, Recipients: e.state.Recipients})
	m.dispatch(e)
	return id, nil
}

type countingReader struct {
	r io.Reader
	n int64
}

func (c *countingReader) Read(p []byte) (int, error) {
	n, err := c.r.Read(p)
	c.n += int64(n)
	return n, err
}

// dispatch routes the ready recipients of e and hands them to their queues.
func (m *Manager) dispatch(e *entry) {
	now := m.now()
	router := m.router.Load().(routerBox).Router
	groups := map[string][]int{}
	routes := map[string]Route{}
	var failed bool
	var unroutable []RecipientState
	e.mu.Lock()
	if e.done || e.state.Suspended || e.state.Poison {
		e.mu.Unlock()
		return
	}
	for i := range e.state.Recipients {
		r := &e.state.Recipients[i]
		if r.Status != StatusReady && !(r.Status == StatusRetry && !r.NextRetry.After(now)) {
			continue
		}
		rt := router.Route(r.Address, e.env.Size)
		if rt.Fail != nil {
			r.Status, r.Reply, r.LastError = StatusFailed, rt.Fail, rt.Fail.Error()
			failed, e.dirty = true, true
			unroutable = append(unroutable, *r)
			m.log.Warn("recipient cannot be routed", "queue_id", e.env.ID, "rcpt", r.Address, "reason", rt.Fail.Error())
			continue
		}
		r.Status = StatusReady
		r.Queue = rt.Queue
		r.NextRetry = time.Time{}
		groups[rt.Queue] = append(groups[rt.Queue], i)
		routes[rt.Queue] = rt
	}
	e.working += len(groups)
	env := e.env
	e.mu.Unlock()
	if len(unroutable) > 0 {
		m.emit(m.ctx, Event{Kind: EventFailed, Envelope: env, Recipients: unroutable, FailReason: FailRouting})
	}
	for q, idx := range groups {
		m.push(routes[q], workItem{e: e, rcpts: idx, target: routes[q].Target})
	}
	if failed && len(groups) == 0 {
		m.finishIfDone(e)
	}
}

// kick wakes the scheduler.
func (m *Manager) kick() {
	select {
	case m.wake <- struct{}{}:
	default:
	}
}

// scheduler retries due recipients, expires old messages and sends delay
// notifications.
func (m *Manager) scheduler() {
	defer m.wg.Done()
	t := time.NewTimer(time.Second)
	defer t.Stop()
	for {
		select {
		case <-m.ctx.Done():
			return
		case <-m.wake:
		case <-t.C:
		}
		next := m.sweep()
		wait := time.Second
		if !next.IsZero() {
			if d := time.Until(next); d < wait {
				wait = max(d, 10*time.Millisecond)
			}
		}
		if !t.Stop() {
			select {
			case <-t.C:
			default:
			}
		}
		t.Reset(wait)
	}
}

// sweep handles the messages that are due and returns the next due time.
// Every idle-queue timeout it also forgets the idle delivery queues.
func (m *Manager) sweep() time.Time {
	now := m.now()
	cfg := m.cfg()
	if !now.Before(m.nextReap) {
		m.nextReap = now.Add(m.idleQueue)
		if n := m.reapIdle(now); n > 0 {
			m.log.Debug("idle delivery queues removed", "queues", n)
		}
		m.shrinkEntries()
	}
	seen := map[*entry]bool{}
	for {
		e, next := m.popDue(now)
		if e == nil {
			return next
		}
		if seen[e] {
			// Still due after being handled in this pass: look again in a
			// second rather than spin (the sweep must end).
			m.log.Warn("message still due after processing; retrying in a second", "queue_id", e.env.ID)
			m.scheduleAt(e, now.Add(time.Second))
			continue
		}
		seen[e] = true
		m.process(e, now, cfg)
		m.schedule(e)
	}
}

// process retries, expires or sends the delay notification for one due message.
func (m *Manager) process(e *entry, now time.Time, cfg Settings) {
	e.mu.Lock()
	if e.done || e.state.Suspended || e.state.Poison || e.working > 0 {
		e.mu.Unlock()
		return
	}
	age := now.Sub(e.env.ReceivedAt)
	expired := cfg.MessageExpirationTimeout > 0 && age > cfg.MessageExpirationTimeout
	due, pending := false, false
	var expiredRcpts []RecipientState
	for i := range e.state.Recipients {
		r := &e.state.Recipients[i]
		switch r.Status {
		case StatusReady, StatusRetry:
			pending = true
			if r.Status == StatusReady && !expired {
				due = true
				continue
			}
			// An expired message fails every recipient that waits, a ready
			// one too (none is in flight: working is zero): left Ready, it
			// would be due again at once and the sweep would never end.
			if expired {
				r.Status, r.Expired = StatusFailed, true
				r.Reply = &delivery.Error{Code: 550, Enhanced: [3]int{4, 4, 7},
					Message: fmt.Sprintf("Message expired: could not be delivered within %s; last error: %s", cfg.MessageExpirationTimeout, r.LastError)}
				e.dirty = true
				expiredRcpts = append(expiredRcpts, *r)
				continue
			}
			if !r.NextRetry.After(now) {
				due = true
			}
		}
	}
	delay := pending && !expired && !e.state.DelayNotified && cfg.DelayNotificationTimeout > 0 && age > cfg.DelayNotificationTimeout &&
		(e.saveErr.IsZero() || !now.Before(e.saveErr.Add(saveErrBackoff)))
	if delay {
		e.state.DelayNotified = true
	}
	env := e.env
	e.mu.Unlock()
	if len(expiredRcpts) > 0 {
		m.emit(m.ctx, Event{Kind: EventFailed, Envelope: env, Recipients: expiredRcpts, FailReason: FailExpired})
	}
	if expired {
		m.finishIfDone(e)
		return
	}
	if delay {
		m.notifyDelay(e)
	}
	if due {
		m.dispatch(e)
	}
}

// saveErrBackoff is how long the scheduler waits before trying again to
// record a delay notification whose state could not be saved.
const saveErrBackoff = time.Minute

// notifyDelay sends the delay DSN once DelayNotified is durable: when it
// cannot be saved, no DSN goes now (it would go a second time after a
// restart) and the notification is tried again later.
func (m *Manager) notifyDelay(e *entry) {
	until := e.env.ReceivedAt.Add(m.cfg().MessageExpirationTimeout)
	e.mu.Lock()
	var late []RecipientState
	for _, r := range e.state.Recipients {
		if r.Status == StatusRetry || r.Status == StatusReady {
			r.RetryUntil = until
			late = append(late, r)
		}
	}
	st := e.state
	st.Recipients = append([]RecipientState(nil), e.state.Recipients...)
	e.mu.Unlock()
	if err := m.store.SaveState(e.env.ID, &st); err != nil {
		m.log.Error("cannot save delivery state; delay notification postponed", "queue_id", e.env.ID, "err", err)
		e.mu.Lock()
		e.state.DelayNotified, e.saveErr = false, m.now()
		e.mu.Unlock()
		return
	}
	m.sendDSN(e.env, late, true)
}

// shrinkEntries copies m.entries into a map of the right size after a
// burst has left it mostly empty (a Go map keeps its buckets).
func (m *Manager) shrinkEntries() {
	m.mu.Lock()
	defer m.mu.Unlock()
	if m.entriesPeak > 1024 && len(m.entries) < m.entriesPeak/4 {
		fresh := make(map[string]*entry, len(m.entries))
		for k, v := range m.entries {
			fresh[k] = v
		}
		m.entries, m.entriesPeak = fresh, len(fresh)
	}
}

func (m *Manager) sendDSN(env Envelope, rcpts []RecipientState, delayed bool) {
	if m.notifier == nil || env.From == "" || len(rcpts) == 0 {
		return // RFC 3461 section 6.2: never a DSN to the null sender
	}
	rc, err := m.store.Open(env.ID)
	if err != nil {
		m.log.Error("cannot read message for its DSN", "queue_id", env.ID, "err", err)
		return
	}
	msg := m.notifier.DSN(env, rc, rcpts, delayed, m.now())
	rc.Close()
	if msg == nil {
		return
	}
	dsnEnv := Envelope{From: "", Recipients: []Recipient{{Address: env.From}}, Source: "DSN", ReceivedAt: m.now().UTC()}
	if m.shared != nil {
		dsnEnv.ID = dsnID(env.ID, delayed)
	}
	id, err := m.Enqueue(m.ctx, dsnEnv, strings.NewReader(string(msg)))
	if errors.Is(err, ErrDuplicate) {
		m.log.Info("DSN already queued by another server", "queue_id", env.ID, "dsn_id", dsnEnv.ID)
		return
	}
	if err != nil {
		m.log.Error("cannot queue DSN", "queue_id", env.ID, "err", err)
		return
	}
	m.log.Info("DSN queued", "queue_id", env.ID, "dsn_id", id, "to", env.From, "delayed", delayed)
	m.emit(m.ctx, Event{Kind: EventDSN, Envelope: env, Recipients: rcpts, Related: id, Delayed: delayed})
}

// finishIfDone removes a message whose recipients are all delivered or
// failed, after queueing the DSN for the failed ones; otherwise it saves
// the progress.
func (m *Manager) finishIfDone(e *entry) {
	e.mu.Lock()
	if e.done || e.working > 0 {
		e.mu.Unlock()
		return
	}
	var failed []RecipientState
	for _, r := range e.state.Recipients {
		switch r.Status {
		case StatusFailed:
			failed = append(failed, r)
		case StatusDelivered:
		default:
			if !e.dirty {
				e.mu.Unlock()
				m.schedule(e)
				return
			}
			st := e.state
			st.Recipients = append([]RecipientState(nil), e.state.Recipients...)
			e.dirty = false
			e.mu.Unlock()
			if err := m.store.SaveState(e.env.ID, &st); err != nil {
				// Kept dirty: the next change saves it again.
				m.log.Error("cannot save delivery state", "queue_id", e.env.ID, "err", err)
				e.mu.Lock()
				e.dirty = true
				e.mu.Unlock()
			}
			m.schedule(e)
			return
		}
	}
	e.done = true
	env := e.env
	e.mu.Unlock()
	m.sendDSN(env, notifyFailures(env, failed), false)
	if err := m.store.Remove(env.ID); err != nil {
		m.log.Error("cannot remove finished message", "queue_id", env.ID, "err", err)
	}
	m.mu.Lock()
	delete(m.entries, env.ID)
	if e.heapIdx >= 0 {
		heap.Remove(&m.due, e.heapIdx)
	}
	m.mu.Unlock()
}

// notifyFailures drops recipients that asked for no failure DSN (RFC 3461 NOTIFY).
func notifyFailures(env Envelope, failed []RecipientState) []RecipientState {
	var out []RecipientState
	for _, r := range failed {
		notify := ""
		for _, er := range env.Recipients {
			if er.Address == r.Address {
				notify = strings.ToUpper(er.Notify)
			}
		}
		if notify != "" && (strings.Contains(notify, "NEVER") || !strings.Contains(notify, "FAILURE")) {
			continue
		}
		out = append(out, r)
	}
	return out
}

// HeaderOf reads the header section of a stored message (for DSN checks),
// with package header.
func HeaderOf(r io.Reader) textproto.MIMEHeader {
	h, _ := header.ReadHeader(r, maxSniff)
	return textproto.MIMEHeader(h.Map())
}

// maxSniff bounds the header section read at Enqueue for Message-ID and
// Subject; a longer header section is stored without them.
const maxSniff = 256 << 10

// sniffHeader reads the header section of body to fill env.MessageID and
// env.Subject, and returns a reader of the whole message.
func sniffHeader(env *Envelope, body io.Reader) (io.Reader, error) {
	section, rest, err := header.Read(body, maxSniff)
	if err != nil && !errors.Is(err, header.ErrTooLarge) {
		return nil, err
	}
	if err == nil {
		h, _ := header.Parse(section)
		env.MessageID, env.Subject = header.Summary(h)
	}
	return io.MultiReader(bytes.NewReader(section), rest), nil
}
