package metrics

import (
	"context"
	"sort"
	"sync"
	"time"

	dto "github.com/prometheus/client_model/go"
)

// The admin center's dashboard (issue 15) draws the daemon's counters over
// the last hour and day. Prometheus keeps no history; the Sampler does: it
// reads the counters once a minute into a ring of 24 hours.

// Refused counts a 4xx or 5xx reply of a receive connector
// (smtpd.RefusalObserver).
func (m *Metrics) Refused(connector, reply string) {
	m.refusals.WithLabelValues(connector, reply).Inc()
}

// Sample is the daemon's counters at one time. The counters (messages,
// connections, TLS sessions, refusals) count from the daemon's start; the
// queue figures are the state at that time.
type Sample struct {
	Time time.Time
	// Received counts messages stored in the queue (SMTP, pickup, DSNs).
	Received float64
	// Relayed counts messages accepted by a next hop through a send
	// connector; Delivered those delivered to local mailboxes.
	Relayed, Delivered float64
	// Failed counts messages whose recipients failed for good; Deferred
	// delivery attempts that will be retried.
	Failed, Deferred float64
	// Connections counts SMTP connections taken by receive connectors.
	Connections float64
	// TLS counts the TLS sessions of receive connectors by version ("TLS 1.3").
	TLS map[string]float64
	// Refusals counts 4xx and 5xx replies by reply ("550 5.7.54").
	Refusals map[string]float64
	// QueueDepth is the messages in the queue database; OldestAge the age
	// of the oldest message waiting in a queue.
	QueueDepth float64
	OldestAge  time.Duration
}

// Sent is the messages that left: relayed and delivered.
func (s Sample) Sent() float64 { return s.Relayed + s.Delivered }

// TLSTotal is the TLS sessions of every version.
func (s Sample) TLSTotal() float64 {
	var n float64
	for _, v := range s.TLS {
		n += v
	}
	return n
}

// RefusalTotal is the refusals of every reason.
func (s Sample) RefusalTotal() float64 {
	var n float64
	for _, v := range s.Refusals {
		n += v
	}
	return n
}

// Snapshot reads the metrics now.
func (m *Metrics) Snapshot(now time.Time) Sample {
	s := Sample{Time: now, TLS: map[string]float64{}, Refusals: map[string]float64{}}
	fams, _ := m.reg.Gather() // a collector's error leaves its metrics out; the rest is still worth showing
	for _, f := range fams {
		for _, mt := range f.GetMetric() {
			switch f.GetName() {
			case Namespace + "_messages_received_total":
				s.Received += mt.GetCounter().GetValue()
			case Namespace + "_messages_relayed_total":
				s.Relayed += mt.GetCounter().GetValue()
			case Namespace + "_messages_delivered_total":
				s.Delivered += mt.GetCounter().GetValue()
			case Namespace + "_messages_failed_total":
				s.Failed += mt.GetCounter().GetValue()
			case Namespace + "_messages_deferred_total":
				s.Deferred += mt.GetCounter().GetValue()
			case Namespace + "_smtp_connections_total":
				s.Connections += mt.GetCounter().GetValue()
			case Namespace + "_tls_handshakes_total":
				if label(mt, "direction") == "receive" {
					s.TLS[label(mt, "version")] += mt.GetCounter().GetValue()
				}
			case Namespace + "_smtp_refusals_total":
				s.Refusals[label(mt, "reply")] += mt.GetCounter().GetValue()
			case Namespace + "_queue_total_messages":
				s.QueueDepth = mt.GetGauge().GetValue()
			case Namespace + "_queue_oldest_message_age_seconds":
				if d := time.Duration(mt.GetGauge().GetValue() * float64(time.Second)); d > s.OldestAge {
					s.OldestAge = d
				}
			}
		}
	}
	return s
}

func label(m *dto.Metric, name string) string {
	for _, l := range m.GetLabel() {
		if l.GetName() == name {
			return l.GetValue()
		}
	}
	return ""
}

// Sampler keeps a Sample a minute (Every) for a day (Keep) in a ring.
type Sampler struct {
	m     *Metrics
	every time.Duration
	now   func() time.Time

	mu   sync.Mutex
	ring []Sample
	next int // where the next sample goes
	full bool
}

// DefaultSampleInterval and DefaultSampleKeep are the dashboard's
// resolution and reach.
const (
	DefaultSampleInterval = time.Minute
	DefaultSampleKeep     = 24 * time.Hour
)

// NewSampler returns a sampler of m taking a sample every interval and
// keeping those of the last keep. now nil is time.Now.
func NewSampler(m *Metrics, every, keep time.Duration, now func() time.Time) *Sampler {
	if now == nil {
		now = time.Now
	}
	n := int(keep/every) + 1
	return &Sampler{m: m, every: every, now: now, ring: make([]Sample, n)}
}

// Run takes a sample at once and then every interval until ctx is done.
func (s *Sampler) Run(ctx context.Context) {
	t := time.NewTicker(s.every)
	defer t.Stop()
	for {
		s.Take()
		select {
		case <-ctx.Done():
			return
		case <-t.C:
		}
	}
}

// Take takes one sample now and keeps it.
func (s *Sampler) Take() {
	smp := s.m.Snapshot(s.now())
	s.mu.Lock()
	defer s.mu.Unlock()
	s.ring[s.next] = smp
	s.next = (s.next + 1) % len(s.ring)
	if s.next == 0 {
		s.full = true
	}
}

// Current reads the metrics now (not kept).
func (s *Sampler) Current() Sample { return s.m.Snapshot(s.now()) }

// Since returns the samples kept taken at or after t, oldest first, and
// the newest one taken before t (zero Time when there is none: the daemon
// started after t, and its counters started at zero).
func (s *Sampler) Since(t time.Time) (before Sample, since []Sample) {
	s.mu.Lock()
	defer s.mu.Unlock()
	var all []Sample
	if s.full {
		all = append(all, s.ring[s.next:]...)
	}
	all = append(all, s.ring[:s.next]...)
	i := sort.Search(len(all), func(i int) bool { return !all[i].Time.Before(t) })
	if i > 0 {
		before = all[i-1]
	}
	return before, append([]Sample(nil), all[i:]...)
}
