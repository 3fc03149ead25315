package queue

import (
	"math/rand/v2"
	"time"

	"github.com/transportd/transportd/transport/mail/delivery"
)

// Delivery queues and the delivery pool.
//
// There is one delivery queue per next hop (a send connector, a domain
// for DNS routing, the mailbox store), as in Exchange. A queue owns no
// goroutines: deliveries run on goroutines started on demand, at most
// MaxConcurrencyPerQueue per queue and MaxConcurrentDeliveries in all,
// each of which goes on with the next message of its queue and ends when
// the queue has nothing ready. A queue that has been idle for
// Options.IdleQueueTimeout is forgotten. So mail to 10,000 domains costs
// goroutines only while it is being delivered, and nothing afterwards.
//
// A queue keeps the retry state of its next hop, like Exchange's queue
// Retry status: when a delivery fails at connection level (no connection,
// greeting refused, TLS or AUTH failure; delivery.Error.Connection), the
// queue goes to Retry until NextRetryTime. Its messages then wait in the
// scheduler, and at NextRetryTime a single message goes as the probe; the
// others wait for its outcome. A dead host costs one connection attempt
// per retry interval, not one per message. Per-recipient refusals (452
// mailbox full) stay per message.

// defaultMaxConcurrentDeliveries is the pool size when
// Settings.MaxConcurrentDeliveries is 0: Exchange's MaxOutboundConnections.
const defaultMaxConcurrentDeliveries = 1000

// defaultIdleQueueTimeout is how long an empty, idle queue is kept when
// Options.IdleQueueTimeout is 0.
const defaultIdleQueueTimeout = 3 * time.Minute

// workItem is one delivery: some recipients of one message, to one next hop.
type workItem struct {
	e      *entry
	rcpts  []int
	target delivery.Target
	// probe marks the one delivery let through a queue in Retry.
	probe bool
}

// deliveryQueue is the queue of one next hop. Its fields are guarded by
// Manager.qmu.
type deliveryQueue struct {
	name         string
	deliveryType string
	items        []workItem // ready, waiting for a delivery slot
	active       int        // deliveries running
	lastError    string
	lastReply    *delivery.Error
	lastErrorAt  time.Time
	lastUsed     time.Time
	starved      bool      // in Manager.starved, waiting for room in the pool
	suspended    bool      // Suspend-Queue: no delivery starts (suspend.go)
	lastAttempt  time.Time // the next hop last answered (LastRetryTime)
	failedAt     time.Time // the first connection failure of this Retry

	// Retry state of the next hop.
	held     bool      // Retry status: the next hop failed at connection level
	retryAt  time.Time // when the probe may go
	failures int       // connection-level failures in a row
	probing  bool      // the probe is out
}

// jitter spreads d by ±10%, so that messages deferred together do not
// all come back at the same instant.
func jitter(d time.Duration) time.Duration {
	if d <= 0 {
		return d
	}
	return d - d/10 + rand.N(d/5+1)
}

// retryWait is the wait before attempt n+1 after n transient failures:
// TransientFailureRetryInterval for the first TransientFailureRetryAttempts,
// then MessageRetryInterval (Exchange's schedule).
func retryWait(cfg Settings, n int) time.Duration {
	if n <= cfg.TransientFailureRetryAttempts {
		return cfg.TransientFailureRetryInterval
	}
	return cfg.MessageRetryInterval
}

// perQueueLimit is how many deliveries q may run at once on this server.
// When several servers share the queue and say how many they are
// (MemberCounter), MaxConcurrencyPerQueue is the cluster's: each member
// runs its share, rounded up, so a next hop sees about the limit in all.
func (m *Manager) perQueueLimit(cfg Settings, q *deliveryQueue) int {
	if cfg.MailboxQueueConcurrency > 0 && q.name == cfg.MailboxQueue {
		return cfg.MailboxQueueConcurrency
	}
	limit := max(cfg.MaxConcurrencyPerQueue, 1)
	if mc, ok := m.shared.(MemberCounter); ok {
		if n := mc.LiveMembers(); n > 1 {
			limit = (limit + n - 1) / n
		}
	}
	return limit
}

// connectionRetryWait is the wait before the probe after n connection-level
// failures of a next hop: TransientFailureRetryInterval for the first
// TransientFailureRetryAttempts, then OutboundConnectionFailureRetryInterval
// (Exchange's Set-TransportService), or MessageRetryInterval when unset.
func connectionRetryWait(cfg Settings, n int) time.Duration {
	if n > cfg.TransientFailureRetryAttempts && cfg.OutboundConnectionFailureRetryInterval > 0 {
		return cfg.OutboundConnectionFailureRetryInterval
	}
	return retryWait(cfg, n)
}

func poolLimit(cfg Settings) int {
	if cfg.MaxConcurrentDeliveries <= 0 {
		return defaultMaxConcurrentDeliveries
	}
	return cfg.MaxConcurrentDeliveries
}

// push hands a delivery to the queue of rt, creating the queue if needed.
// A queue in Retry lets the first delivery due at NextRetryTime through as
// the probe, keeps the others until the probe's outcome, and sends back
// to the scheduler those that come before NextRetryTime.
func (m *Manager) push(rt Route, it workItem) {
	now := m.now()
	m.qmu.Lock()
	q, ok := m.queues[rt.Queue]
	if !ok {
		q = &deliveryQueue{name: rt.Queue, deliveryType: rt.DeliveryType}
		_, q.suspended = m.suspendedQ[rt.Queue]
		m.queues[rt.Queue] = q
		m.queuesPeak = max(m.queuesPeak, len(m.queues))
	}
	q.lastUsed = now
	if q.suspended {
		q.items = append(q.items, it)
		m.qmu.Unlock()
		return
	}
	if q.held {
		switch {
		case !q.probing && !now.Before(q.retryAt) && m.ctx.Err() == nil:
			q.probing, it.probe = true, true
			q.active++
			m.running++ // a probe may exceed the pool: at most one per queue
			m.spawn(q, it)
			m.qmu.Unlock()
			return
		case q.probing:
			q.items = append(q.items, it)
			m.qmu.Unlock()
			return
		}
		until, reply := q.retryAt, q.lastReply
		m.qmu.Unlock()
		m.park(it, until, reply)
		return
	}
	q.items = append(q.items, it)
	m.startLocked(q, m.cfg())
	m.qmu.Unlock()
}

// startLocked starts deliveries for the ready items of q while the queue
// and the pool have room; a queue left waiting for the pool joins
// m.starved. Call with m.qmu held.
func (m *Manager) startLocked(q *deliveryQueue, cfg Settings) {
	limit, pool := m.perQueueLimit(cfg, q), poolLimit(cfg)
	for len(q.items) > 0 && !q.held && !q.suspended && q.active < limit && m.ctx.Err() == nil {
		if m.running >= pool {
			if !q.starved {
				q.starved = true
				m.starved = append(m.starved, q)
			}
			return
		}
		it := q.items[0]
		q.items[0] = workItem{}
		q.items = q.items[1:]
		q.active++
		m.running++
		m.spawn(q, it)
	}
}

// runTask is a delivery run: item it of queue q, then what run takes.
type runTask struct {
	q  *deliveryQueue
	it workItem
}

// runnerIdle is how long a delivery goroutine waits for another run after
// its run ended.
const runnerIdle = time.Second

// spawn starts a delivery run: on a delivery goroutine waiting for one, or
// on a new one. Reusing goroutines spares each run the goroutine start and
// the stack growth of the delivery path (smtpout's is deep), which a busy
// queue that keeps running empty and filling again would pay for every
// few messages.
func (m *Manager) spawn(q *deliveryQueue, it workItem) {
	select {
	case m.runners <- runTask{q, it}:
	default:
		m.wg.Add(1)
		go m.runner(runTask{q, it})
	}
}

// runner runs t, then the runs spawn hands it, until none comes for
// runnerIdle or the manager closes.
func (m *Manager) runner(t runTask) {
	defer m.wg.Done()
	idle := time.NewTimer(runnerIdle)
	defer idle.Stop()
	for {
		m.run(t.q, t.it)
		idle.Reset(runnerIdle)
		select {
		case t = <-m.runners:
		case <-idle.C:
			return
		case <-m.ctx.Done():
			return
		}
	}
}

// run delivers it, then the next ready items of q, until q has none or
// another queue waits for room in the pool.
func (m *Manager) run(q *deliveryQueue, it workItem) {
	for {
		m.deliver(q, it)
		var ok bool
		if it, ok = m.next(q); !ok {
			return
		}
	}
}

// next takes the next item of q for a delivery goroutine that just
// finished one, or gives its slot up (ok false).
func (m *Manager) next(q *deliveryQueue) (workItem, bool) {
	cfg := m.cfg()
	m.qmu.Lock()
	defer m.qmu.Unlock()
	if len(q.items) > 0 && !q.held && !q.suspended && q.active <= m.perQueueLimit(cfg, q) && m.running <= poolLimit(cfg) &&
		len(m.starved) == 0 && m.ctx.Err() == nil {
		it := q.items[0]
		q.items[0] = workItem{}
		q.items = q.items[1:]
		return it, true
	}
	q.active--
	m.running--
	q.lastUsed = m.now()
	if len(q.items) > 0 && !q.held && !q.suspended && !q.starved {
		q.starved = true
		m.starved = append(m.starved, q) // round robin: behind those waiting
	}
	for len(m.starved) > 0 && m.running < poolLimit(cfg) {
		s := m.starved[0]
		m.starved[0] = nil
		m.starved = m.starved[1:]
		s.starved = false
		m.startLocked(s, cfg)
	}
	if len(m.starved) == 0 {
		m.starved = nil // let the array go
	}
	return workItem{}, false
}

// connectionFailure returns the failure when every result is the same
// transient connection-level failure of the next hop, else nil.
func connectionFailure(results []delivery.Result) *delivery.Error {
	if len(results) == 0 {
		return nil
	}
	de, ok := results[0].Err.(*delivery.Error)
	if !ok || !de.Connection || de.Permanent() {
		return nil
	}
	for _, r := range results[1:] {
		if x, ok := r.Err.(*delivery.Error); !ok || !x.Connection || x.Permanent() {
			return nil
		}
	}
	return de
}

// holdQueue puts q in Retry after a connection-level failure and returns
// when its probe may go. A failed probe (or the first failure) sets the
// next retry time; deliveries already out when the queue went to Retry
// leave it as it is. The items waiting in q go back to the scheduler.
func (m *Manager) holdQueue(q *deliveryQueue, probe bool, err *delivery.Error, now time.Time, cfg Settings) time.Time {
	m.qmu.Lock()
	q.lastError, q.lastReply, q.lastErrorAt = err.Error(), err, now
	var parked []workItem
	q.lastAttempt = now
	if probe || !q.held {
		if !q.held {
			q.failedAt = now
		}
		q.failures++
		q.held, q.probing = true, false
		q.retryAt = now.Add(jitter(connectionRetryWait(cfg, q.failures)))
		parked, q.items = q.items, nil
	}
	until := q.retryAt
	m.qmu.Unlock()
	if len(parked) > 0 {
		m.log.Warn("next hop unreachable; queue in Retry", "queue", q.name, "next_retry", until, "waiting", len(parked), "err", err.Error())
	}
	for _, it := range parked {
		m.park(it, until, err)
	}
	return until
}

// nextHopAnswered ends the Retry status of q: its next hop took a
// connection and answered, whatever it said about the recipients.
func (m *Manager) nextHopAnswered(q *deliveryQueue) {
	m.qmu.Lock()
	defer m.qmu.Unlock()
	q.lastAttempt = m.now()
	if !q.held {
		return
	}
	q.held, q.probing, q.failures, q.retryAt = false, false, 0, time.Time{}
	m.startLocked(q, m.cfg())
}

// park sends a delivery that was not attempted back to the scheduler
// until the queue's retry time, with the queue's last error.
func (m *Manager) park(it workItem, until time.Time, reply *delivery.Error) {
	e := it.e
	e.mu.Lock()
	for _, idx := range it.rcpts {
		r := &e.state.Recipients[idx]
		if r.Status != StatusReady {
			continue
		}
		r.Status, r.NextRetry = StatusRetry, until
		if reply != nil {
			r.LastError, r.LastReply = reply.Error(), reply
		}
	}
	e.working--
	e.mu.Unlock()
	m.finishIfDone(e)
}

// reapIdle forgets the queues that have had nothing to do since now minus
// the idle timeout: no message waiting for them, no deliveries.
// It returns how many it removed.
func (m *Manager) reapIdle(now time.Time) int {
	idle := m.idleQueue
	// The queues some waiting message is for are kept, with their retry
	// state, however long their retry interval.
	m.mu.Lock()
	entries := make([]*entry, 0, len(m.entries))
	for _, e := range m.entries {
		entries = append(entries, e)
	}
	m.mu.Unlock()
	used := map[string]bool{}
	for _, e := range entries {
		e.mu.Lock()
		for _, r := range e.state.Recipients {
			if r.Queue != "" && (r.Status == StatusReady || r.Status == StatusRetry) {
				used[r.Queue] = true
			}
		}
		e.mu.Unlock()
	}
	m.qmu.Lock()
	defer m.qmu.Unlock()
	n := 0
	for name, q := range m.queues {
		if len(q.items) > 0 || q.active > 0 || q.starved || q.probing || used[name] || now.Sub(q.lastUsed) < idle {
			continue
		}
		delete(m.queues, name)
		n++
	}
	// A Go map keeps its buckets when emptied: after a burst to many
	// next hops, copy what is left into a map of the right size.
	if m.queuesPeak > 64 && len(m.queues) < m.queuesPeak/4 {
		fresh := make(map[string]*deliveryQueue, len(m.queues))
		for k, v := range m.queues {
			fresh[k] = v
		}
		m.queues, m.queuesPeak = fresh, len(fresh)
	}
	return n
}
