package queue

import (
	"bytes"
	"container/heap"
	"context"
	"errors"
	"fmt"
	"io"
	"log/slog"
	"mime"
	"net/textproto"
	"runtime/debug"
	"sort"
	"strings"
	"sync"
	"sync/atomic"
	"time"

	"github.com/transportd/transportd/transport/mail/delivery"
	"github.com/transportd/transportd/transport/mail/header"
)

// RecipientStatus is where one recipient of a message stands.
type RecipientStatus string

// Recipient statuses.
const (
	StatusReady     RecipientStatus = "Ready"
	StatusRetry     RecipientStatus = "Retry"
	StatusDelivered RecipientStatus = "Delivered"
	StatusFailed    RecipientStatus = "Failed"
)

// RecipientState is the delivery progress of one recipient.
type RecipientState struct {
	Address   string          `json:"address"`
	Status    RecipientStatus `json:"status"`
	Attempts  int             `json:"attempts,omitempty"`
	NextRetry time.Time       `json:"next_retry,omitempty"`
	LastError string          `json:"last_error,omitempty"`
	Queue     string          `json:"queue,omitempty"`
	// Reply is the final reply for a failed recipient (for the DSN).
	Reply *delivery.Error `json:"reply,omitempty"`
	// LastReply is the reply of the last failed attempt (or the next
	// hop's, while its queue is in Retry), for Get-Message and the DSNs.
	LastReply *delivery.Error `json:"last_reply,omitempty"`
	// LastAttempt is when delivery to the recipient was last tried.
	LastAttempt time.Time `json:"last_attempt,omitempty"`
	// Expired marks a recipient failed because the message expired; Reply
	// then says so and LastReply is the last real error.
	Expired bool `json:"expired,omitempty"`
	// RetryUntil is when the queue gives up on the recipient (the
	// message's expiry); set in what Notifier.DSN receives.
	RetryUntil time.Time `json:"-"`
}

// State is the delivery progress of a message.
type State struct {
	Recipients    []RecipientState `json:"recipients"`
	DelayNotified bool             `json:"delay_notified,omitempty"`
	Suspended     bool             `json:"suspended,omitempty"`
	Poison        bool             `json:"poison,omitempty"`
	Crashes       int              `json:"crashes,omitempty"`
}

// Settings are the retry and expiry rules (Exchange's Set-TransportConfig
// and Set-TransportService values).
type Settings struct {
	// TransientFailureRetryInterval is the wait between the first quick retries.
	TransientFailureRetryInterval time.Duration
	// TransientFailureRetryAttempts is how many quick retries come first.
	TransientFailureRetryAttempts int
	// MessageRetryInterval is the wait between later retries.
	MessageRetryInterval time.Duration
	// MessageExpirationTimeout is how long a message may wait before it bounces.
	MessageExpirationTimeout time.Duration
	// DelayNotificationTimeout is when the sender is told once that delivery is late.
	DelayNotificationTimeout time.Duration
	// MaxConcurrencyPerQueue caps parallel deliveries per next hop.
	MaxConcurrencyPerQueue int
	// MaxConcurrentDeliveries caps parallel deliveries in all (Exchange's
	// MaxOutboundConnections); 0 means 1000.
	MaxConcurrentDeliveries int
}

// DefaultSettings are Exchange's defaults.
func DefaultSettings() Settings {
	return Settings{
		TransientFailureRetryInterval: 5 * time.Minute,
		TransientFailureRetryAttempts: 6,
		MessageRetryInterval:          15 * time.Minute,
		MessageExpirationTimeout:      48 * time.Hour,
		DelayNotificationTimeout:      4 * time.Hour,
		MaxConcurrencyPerQueue:        20,
	}
}

// Route is where the router sends one recipient.
type Route struct {
	// Queue is the delivery queue's next hop ("Mailbox", a send connector
	// name, a domain for DNS routing). Recipients with the same Queue share
	// a delivery queue and are delivered together.
	Queue string
	// DeliveryType is Exchange's name: SmtpDeliveryToMailbox,
	// SmartHostConnectorDelivery, DnsConnectorDelivery.
	DeliveryType string
	// Target delivers to this next hop.
	Target delivery.Target
	// Fail, when set, means the recipient cannot be routed: it bounces.
	Fail *delivery.Error
}

// Router decides the next hop of a recipient (the categorizer).
type Router interface {
	Route(recipient string, size int64) Route
}

// Notifier builds a DSN for a message (nil when none is due) and is told
// of each recipient's end. The manager queues the DSN like any message.
type Notifier interface {
	// DSN returns the DSN message for the given recipients, or nil.
	DSN(env Envelope, original io.Reader, rcpts []RecipientState, delayed bool, now time.Time) []byte
}

// EventKind names a step of a message's life reported to Options.OnEvent.
type EventKind string

// Event kinds.
const (
	// EventEnqueued: the message is stored durably (Envelope.ID is set).
	EventEnqueued EventKind = "Enqueued"
	// EventDelivered: the next hop accepted the recipients.
	EventDelivered EventKind = "Delivered"
	// EventDeferred: a transient failure; the recipients wait for a retry.
	EventDeferred EventKind = "Deferred"
	// EventFailed: the recipients failed for good (see FailReason).
	EventFailed EventKind = "Failed"
	// EventDSN: a delivery status notification was queued (Related is its id).
	EventDSN EventKind = "DSN"
	// EventPoison: the message was moved to the poison queue.
	EventPoison EventKind = "Poison"
)

// Reasons of EventFailed.
const (
	FailRouting  = "Routing"  // no route: unknown mailbox, no send connector
	FailDelivery = "Delivery" // the next hop refused for good
	FailExpired  = "Expired"  // MessageExpirationTimeout passed
	FailRemoved  = "Removed"  // an administrator removed the message
)

// Event is one step of a message's life, for message tracking and metrics.
type Event struct {
	Kind     EventKind
	Time     time.Time
	Envelope Envelope
	// Recipients are the recipients concerned, with their status and reply.
	Recipients []RecipientState
	// Queue and DeliveryType name the next hop of a delivery attempt.
	Queue        string
	DeliveryType string
	// FailReason says why recipients failed (EventFailed).
	FailReason string
	// Attempt is how long the delivery attempt took.
	Attempt time.Duration
	// Related is the queue id of the DSN (EventDSN).
	Related string
	// Delayed marks a delay notification (EventDSN).
	Delayed bool
}

// Manager runs the transport pipeline: it stores accepted messages, routes
// their recipients, delivers them per next hop, retries transient
// failures, expires and bounces.
type Manager struct {
	store    Store
	log      *slog.Logger
	settings atomic.Pointer[Settings]
	router   atomic.Value // Router
	notifier Notifier
	now      func() time.Time

	mu          sync.Mutex
	entries     map[string]*entry
	entriesPeak int
	due         dueHeap
	wake        chan struct{}
	ctx         context.Context
	cancel      context.CancelFunc
	wg          sync.WaitGroup

	// The delivery queues and the delivery pool (nexthop.go).
	qmu        sync.Mutex
	queues     map[string]*deliveryQueue
	queuesPeak int
	running    int              // deliveries running, all queues
	starved    []*deliveryQueue // queues waiting for room in the pool
	idleQueue  time.Duration
	nextReap   time.Time

	inflightDir string
	inflight    *inflightLog
	onEvent     func(context.Context, Event)
}

type entry struct {
	mu      sync.Mutex
	env     Envelope
	state   State
	working int // work items in flight
	done    bool
	dirty   bool      // state changed since it was last saved
	saveErr time.Time // when saving DelayNotified last failed
	due     time.Time // next time the scheduler looks at it
	heapIdx int       // position in Manager.due, -1 when not there
}

// Options configure a Manager.
type Options struct {
	Store    Store
	Router   Router
	Notifier Notifier
	Settings Settings
	Logger   *slog.Logger
	// InflightDir, when set, holds a marker per message being delivered,
	// so a message that was in flight in several crashes goes to the
	// poison queue instead of taking the daemon down again.
	InflightDir string
	Now         func() time.Time
	// OnEvent, when set, is told of every step of every message's life
	// (message tracking, metrics). It is called synchronously and must be
	// quick; ctx is the Enqueue caller's for EventEnqueued.
	OnEvent func(ctx context.Context, ev Event)
	// IdleQueueTimeout is how long a delivery queue with nothing to do is
	// kept before it is forgotten; 0 means 3 minutes.
	IdleQueueTimeout time.Duration
}

// NewManager loads the queue and starts delivering.
func NewManager(o Options) (*Manager, error) {
	if o.Logger == nil {
		o.Logger = slog.Default()
	}
	if o.Now == nil {
		o.Now = time.Now
	}
	ctx, cancel := context.WithCancel(context.Background())
	m := &Manager{
		store: o.Store, log: o.Logger, notifier: o.Notifier, now: o.Now,
		entries: map[string]*entry{}, queues: map[string]*deliveryQueue{},
		wake: make(chan struct{}, 1), ctx: ctx, cancel: cancel, inflightDir: o.InflightDir, onEvent: o.OnEvent,
		idleQueue: o.IdleQueueTimeout,
	}
	if m.idleQueue <= 0 {
		m.idleQueue = defaultIdleQueueTimeout
	}
	s := o.Settings
	m.settings.Store(&s)
	m.router.Store(routerBox{o.Router})
	crashed := map[string]bool{}
	if m.inflightDir != "" {
		l, c, err := openInflightLog(m.inflightDir)
		if err != nil {
			return nil, err
		}
		m.inflight, crashed = l, c
	}
	stored, err := o.Store.Load()
	if err != nil {
		return nil, err
	}
	for _, s := range stored {
		e := &entry{env: s.Envelope, heapIdx: -1}
		if s.State != nil {
			e.state = *s.State
		} else {
			e.state = freshState(s.Envelope)
		}
		if crashed[e.env.ID] {
			e.state.Crashes++
			if e.state.Crashes >= 2 {
				e.state.Poison = true
				m.log.Error("message moved to the poison queue: it was being delivered during repeated crashes", "queue_id", e.env.ID)
				m.emit(ctx, Event{Kind: EventPoison, Envelope: e.env, Recipients: e.state.Recipients})
			}
			if err := o.Store.SaveState(e.env.ID, &e.state); err != nil {
				cancel()
				if m.inflight != nil {
					m.inflight.close()
				}
				return nil, fmt.Errorf("recording the crash count of message %s: %w", e.env.ID, err)
			}
		}
		m.entries[e.env.ID] = e
	}
	if len(stored) > 0 {
		m.log.Info("queue recovered", "messages", len(stored))
	}
	for _, e := range m.entries {
		m.schedule(e)
	}
	m.wg.Add(1)
	go m.scheduler()
	m.kick()
	return m, nil
}

type routerBox struct{ Router }

// SetRouter replaces the router (after a configuration change); queued
// recipients are routed anew at their next attempt.
func (m *Manager) SetRouter(r Router) { m.router.Store(routerBox{r}) }

// SetSettings replaces the retry settings.
func (m *Manager) SetSettings(s Settings) {
	old := m.settings.Swap(&s)
	if old == nil || *old != s {
		m.rescheduleAll()
	}
	m.kick()
}

func (m *Manager) cfg() Settings { return *m.settings.Load() }

// emit reports ev to Options.OnEvent.
func (m *Manager) emit(ctx context.Context, ev Event) {
	if m.onEvent == nil {
		return
	}
	if ev.Time.IsZero() {
		ev.Time = m.now().UTC()
	}
	ev.Recipients = append([]RecipientState(nil), ev.Recipients...)
	m.onEvent(ctx, ev)
}

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
	if env.MessageID == "" && env.Subject == "" {
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
	for {
		e, next := m.popDue(now)
		if e == nil {
			return next
		}
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
		case StatusReady:
			due, pending = true, true
		case StatusRetry:
			pending = true
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
	id, err := m.Enqueue(m.ctx, dsnEnv, strings.NewReader(string(msg)))
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

// deliver runs one delivery attempt and records the results.
func (m *Manager) deliver(q *deliveryQueue, it workItem) {
	e := it.e
	e.mu.Lock()
	id := e.env.ID
	addrs := make([]string, len(it.rcpts))
	for i, idx := range it.rcpts {
		addrs[i] = e.state.Recipients[idx].Address
	}
	msg := &delivery.Message{ID: id, From: e.env.From, Size: e.env.Size,
		Open: func() (io.ReadCloser, error) { return m.store.Open(id) }}
	e.mu.Unlock()

	if m.inflight != nil {
		m.inflight.begin(id)
	}
	started := m.now()
	results := m.safeDeliver(it.target, msg, addrs)
	attempt := m.now().Sub(started)
	if m.inflight != nil {
		m.inflight.end(id)
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
				if e.state.Crashes >= 2 {
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

// Close stops delivering; queued messages stay on disk.
func (m *Manager) Close() error {
	m.cancel()
	m.wg.Wait()
	if m.inflight != nil {
		m.inflight.close()
	}
	return nil
}

// ---- inspection and operations (Get-Queue, Get-Message, ...) ----

// QueueInfo describes one delivery queue as Get-Queue shows it.
type QueueInfo struct {
	Identity      string
	DeliveryType  string
	NextHopDomain string
	Status        string
	MessageCount  int
	LastError     string
	NextRetryTime time.Time
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
	for name, q := range m.queues {
		// Retry: the next hop failed at connection level and the queue
		// waits for NextRetryTime (Exchange's queue Retry status).
		info := QueueInfo{Identity: name, DeliveryType: q.deliveryType, NextHopDomain: name, Status: "Ready",
			MessageCount: counts[name], LastError: q.lastError, NextRetryTime: retry[name]}
		switch {
		case q.held:
			info.Status, info.NextRetryTime = "Retry", q.retryAt
		case q.active > 0:
			info.Status = "Active"
		}
		out = append(out, info)
		delete(counts, name)
	}
	m.qmu.Unlock()
	for name, n := range counts { // a queue being created or reaped just now
		out = append(out, QueueInfo{Identity: name, NextHopDomain: name, Status: "Ready", MessageCount: n, NextRetryTime: retry[name]})
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
	var out []MessageInfo
	for _, e := range entries {
		e.mu.Lock()
		info := MessageInfo{Identity: e.env.ID, FromAddress: e.env.From, Size: e.env.Size, DateReceived: e.env.ReceivedAt,
			Subject: e.env.Subject, SourceIP: e.env.RemoteAddr, ExpirationTime: e.env.ReceivedAt.Add(cfg.MessageExpirationTimeout)}
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
		case e.working > 0:
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
var ErrNoSuchMessage = errors.New("no such message in the queue")

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
	e.mu.Unlock()
	return m.store.SaveState(id, &st)
}

// Resume restarts delivery of a suspended (or poison) message now.
func (m *Manager) Resume(id string) error {
	e, err := m.entry(id)
	if err != nil {
		return err
	}
	e.mu.Lock()
	e.state.Suspended, e.state.Poison, e.state.Crashes = false, false, 0
	for i := range e.state.Recipients {
		if e.state.Recipients[i].Status == StatusRetry {
			e.state.Recipients[i].NextRetry = m.now()
		}
	}
	st := e.state
	e.mu.Unlock()
	if err := m.store.SaveState(id, &st); err != nil {
		return err
	}
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
		env.MessageID = h.Get("Message-Id")
		subj := h.Get("Subject")
		if dec, err := new(mime.WordDecoder).DecodeHeader(subj); err == nil {
			subj = dec
		}
		env.Subject = subj
	}
	return io.MultiReader(bytes.NewReader(section), rest), nil
}
