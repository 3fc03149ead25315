package queue

import (
	"context"
	"fmt"
	"log/slog"
	"sync"
	"sync/atomic"
	"time"
)

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

	// Suspended delivery queues (suspend.go): name -> delivery type,
	// guarded by qmu; suspendMu orders the writes of suspendedFile.
	suspendedQ    map[string]string
	suspendedFile string
	suspendMu     sync.Mutex

	// runners hands a delivery run to a delivery goroutine that finished
	// its last one and waits (nexthop.go, spawn).
	runners chan runTask
	// shared is the store when several servers share it (shared.go).
	shared SharedStore
	// ender is told when a delivery attempt Claim marked ends (shared.go).
	ender DeliveryEnder
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
		runners:   make(chan runTask),
	}
	m.shared, _ = o.Store.(SharedStore)
	m.ender, _ = o.Store.(DeliveryEnder)
	if m.idleQueue <= 0 {
		m.idleQueue = defaultIdleQueueTimeout
	}
	if err := m.loadSuspended(o.SuspendedQueuesFile); err != nil {
		cancel()
		return nil, err
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
		if crashed[e.env.ID] || s.Interrupted {
			e.state.Crashes++
			if e.state.Crashes >= PoisonThreshold {
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
