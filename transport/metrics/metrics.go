// Package metrics exposes transportd's Prometheus metrics: connections
// per receive connector, messages received, relayed, delivered and failed,
// failed logons, lockouts and the password-check queue, queue depth and age, delivery latency and TLS handshakes.
// Every metric lives in the Metrics' own registry (never Prometheus' global
// default one), served at /metrics by Handler or Server.
package metrics

import (
	"context"
	"crypto/tls"
	"errors"
	"fmt"
	"log/slog"
	"net"
	"net/http"
	"sync"
	"time"

	"github.com/prometheus/client_golang/prometheus"
	"github.com/prometheus/client_golang/prometheus/collectors"
	"github.com/prometheus/client_golang/prometheus/promhttp"

	"github.com/transportd/transportd/transport/mail/queue"
)

// Namespace prefixes every metric name.
const Namespace = "transportd"

// mailboxDelivery is the queue manager's delivery type for local mailboxes.
const mailboxDelivery = "SmtpDeliveryToMailbox"

// QueueSource reports the queues (the queue manager).
type QueueSource interface {
	Queues() []queue.QueueInfo
	Messages(queue string) []queue.MessageInfo
}

// Metrics holds the metrics of one daemon. Its methods are safe for
// concurrent use.
type Metrics struct {
	reg *prometheus.Registry

	connections       *prometheus.CounterVec
	activeConnections *prometheus.GaugeVec
	authFailures      *prometheus.CounterVec
	authRefused       *prometheus.CounterVec
	authLockouts      *prometheus.CounterVec
	tlsHandshakes     *prometheus.CounterVec
	received          *prometheus.CounterVec
	relayed           *prometheus.CounterVec
	delivered         *prometheus.CounterVec
	failed            *prometheus.CounterVec
	deferred          *prometheus.CounterVec
	dsns              *prometheus.CounterVec
	latency           *prometheus.HistogramVec
	attempt           *prometheus.HistogramVec

	// The admin center's dashboard (dashboard.go).
	refusals *prometheus.CounterVec

	mu     sync.Mutex
	queues QueueSource
	auth   AuthSource
}

// AuthSource reports the state of the logon defences (the lockout guard
// and the password-check queue) at each scrape.
type AuthSource interface {
	// Blocked returns the sources and accounts blocked now.
	Blocked() (sources, accounts int)
	// Stats returns the password checks running and waiting now.
	Stats() (running, waiting int)
}

// New creates the metrics in a registry of their own, with the Go runtime
// and process collectors.
func New() *Metrics {
	m := &Metrics{reg: prometheus.NewRegistry()}
	counter := func(name, help string, labels ...string) *prometheus.CounterVec {
		c := prometheus.NewCounterVec(prometheus.CounterOpts{Namespace: Namespace, Name: name, Help: help}, labels)
		m.reg.MustRegister(c)
		return c
	}
	m.connections = counter("smtp_connections_total", "SMTP connections taken by a receive connector.", "connector")
	m.activeConnections = prometheus.NewGaugeVec(prometheus.GaugeOpts{Namespace: Namespace, Name: "smtp_connections_active",
		Help: "SMTP connections open now, by receive connector."}, []string{"connector"})
	m.reg.MustRegister(m.activeConnections)
	m.authFailures = counter("smtp_auth_failures_total", "Failed AUTH attempts, by receive connector.", "connector")
	m.authRefused = counter("smtp_auth_refused_total", "AUTH attempts refused with 454 4.7.0 before their password was checked, by receive connector and reason (locked_out: the source or account is blocked after repeated failures; busy: the password-check queue is full).", "connector", "reason")
	m.authLockouts = counter("smtp_auth_lockouts_total", "Sources and accounts blocked after repeated failed logons, by scope (source, account).", "scope")
	m.tlsHandshakes = counter("tls_handshakes_total", "TLS sessions negotiated with STARTTLS, by direction (receive, send) and version.", "direction", "version")
	m.received = counter("messages_received_total", "Messages stored in the queue, by source (SMTP, PICKUP, DSN) and receive connector.", "source", "connector")
	m.relayed = counter("messages_relayed_total", "Messages (per next hop) accepted by a remote server through a send connector.", "delivery_type")
	m.delivered = counter("messages_delivered_total", "Messages (per next hop) delivered to local mailboxes.", "delivery_type")
	m.failed = counter("messages_failed_total", "Messages (per next hop or routing step) whose recipients failed for good, by reason.", "reason")
	m.deferred = counter("messages_deferred_total", "Delivery attempts that failed transiently and will be retried.", "delivery_type")
	m.dsns = counter("dsns_total", "Delivery status notifications queued, by kind (failed, delayed).", "kind")
	m.refusals = counter("smtp_refusals_total", "4xx and 5xx replies sent by receive connectors, by connector and reply (code and enhanced status code, e.g. \"550 5.7.54\").", "connector", "reply")
	buckets := []float64{.01, .05, .1, .25, .5, 1, 2.5, 5, 10, 30, 60, 300, 900, 3600, 4 * 3600, 24 * 3600}
	m.latency = prometheus.NewHistogramVec(prometheus.HistogramOpts{Namespace: Namespace, Name: "delivery_latency_seconds",
		Help: "Time from receipt to acceptance by the next hop, by delivery type.", Buckets: buckets}, []string{"delivery_type"})
	m.attempt = prometheus.NewHistogramVec(prometheus.HistogramOpts{Namespace: Namespace, Name: "delivery_attempt_duration_seconds",
		Help: "Duration of one delivery attempt, by delivery type and result.", Buckets: prometheus.DefBuckets}, []string{"delivery_type", "result"})
	m.reg.MustRegister(m.latency, m.attempt, &queueCollector{m: m}, &authCollector{m: m},
		collectors.NewGoCollector(), collectors.NewProcessCollector(collectors.ProcessCollectorOpts{}))
	return m
}

// Registry returns the registry holding every metric.
func (m *Metrics) Registry() *prometheus.Registry { return m.reg }

// SetQueues sets where queue depth and age are read at each scrape.
func (m *Metrics) SetQueues(q QueueSource) {
	m.mu.Lock()
	m.queues = q
	m.mu.Unlock()
}

// Handler serves the metrics in the Prometheus text format.
func (m *Metrics) Handler() http.Handler {
	return promhttp.HandlerFor(m.reg, promhttp.HandlerOpts{Registry: m.reg})
}

// ConnectionOpened counts a connection taken by connector.
func (m *Metrics) ConnectionOpened(connector string) {
	m.connections.WithLabelValues(connector).Inc()
	m.activeConnections.WithLabelValues(connector).Inc()
}

// ConnectionClosed counts the end of a connection of connector.
func (m *Metrics) ConnectionClosed(connector string) {
	m.activeConnections.WithLabelValues(connector).Dec()
}

// AuthFailed counts a failed AUTH on connector.
func (m *Metrics) AuthFailed(connector string) { m.authFailures.WithLabelValues(connector).Inc() }

// AuthRefused counts an AUTH refused before its password was checked
// (smtpd.AuthObserver).
func (m *Metrics) AuthRefused(connector, reason string) {
	m.authRefused.WithLabelValues(connector, reason).Inc()
}

// AuthLockout counts a source or account blocked (smtpd.AuthObserver).
func (m *Metrics) AuthLockout(scope string) { m.authLockouts.WithLabelValues(scope).Inc() }

// SetAuth sets where the blocked sources and accounts and the
// password-check queue are read at each scrape.
func (m *Metrics) SetAuth(a AuthSource) {
	m.mu.Lock()
	m.auth = a
	m.mu.Unlock()
}

// TLSNegotiated counts a TLS session taken by connector.
func (m *Metrics) TLSNegotiated(connector string, version uint16) {
	m.tlsHandshakes.WithLabelValues("receive", tls.VersionName(version)).Inc()
}

// SendTLSNegotiated counts a TLS session opened by a send connector.
func (m *Metrics) SendTLSNegotiated(version uint16) {
	m.tlsHandshakes.WithLabelValues("send", tls.VersionName(version)).Inc()
}

// QueueEvent counts one step reported by the queue manager
// (queue.Options.OnEvent).
func (m *Metrics) QueueEvent(_ context.Context, ev queue.Event) {
	switch ev.Kind {
	case queue.EventEnqueued:
		src := ev.Envelope.Source
		if src == "" {
			src = "SMTP"
		}
		m.received.WithLabelValues(src, ev.Envelope.Connector).Inc()
	case queue.EventDelivered:
		if ev.DeliveryType == mailboxDelivery {
			m.delivered.WithLabelValues(ev.DeliveryType).Inc()
		} else {
			m.relayed.WithLabelValues(ev.DeliveryType).Inc()
		}
		if !ev.Envelope.ReceivedAt.IsZero() {
			m.latency.WithLabelValues(ev.DeliveryType).Observe(max(0, ev.Time.Sub(ev.Envelope.ReceivedAt).Seconds()))
		}
		m.attempt.WithLabelValues(ev.DeliveryType, "delivered").Observe(ev.Attempt.Seconds())
	case queue.EventDeferred:
		m.deferred.WithLabelValues(ev.DeliveryType).Inc()
		m.attempt.WithLabelValues(ev.DeliveryType, "deferred").Observe(ev.Attempt.Seconds())
	case queue.EventFailed:
		m.failed.WithLabelValues(ev.FailReason).Inc()
		if ev.FailReason == queue.FailDelivery {
			m.attempt.WithLabelValues(ev.DeliveryType, "failed").Observe(ev.Attempt.Seconds())
		}
	case queue.EventDSN:
		kind := "failed"
		if ev.Delayed {
			kind = "delayed"
		}
		m.dsns.WithLabelValues(kind).Inc()
	}
}

// queueCollector reads the queues at each scrape.
type queueCollector struct{ m *Metrics }

var (
	queueDepthDesc = prometheus.NewDesc(Namespace+"_queue_messages", "Messages waiting in a delivery queue (Get-Queue MessageCount).",
		[]string{"queue", "delivery_type", "status"}, nil)
	queueOldestDesc = prometheus.NewDesc(Namespace+"_queue_oldest_message_age_seconds", "Age of the oldest message with recipients in a queue.",
		[]string{"queue"}, nil)
	queueTotalDesc = prometheus.NewDesc(Namespace+"_queue_total_messages", "Messages in the queue database, all queues together.", nil, nil)
)

// Describe implements prometheus.Collector.
func (c *queueCollector) Describe(ch chan<- *prometheus.Desc) {
	ch <- queueDepthDesc
	ch <- queueOldestDesc
	ch <- queueTotalDesc
}

// Collect implements prometheus.Collector.
func (c *queueCollector) Collect(ch chan<- prometheus.Metric) {
	c.m.mu.Lock()
	q := c.m.queues
	c.m.mu.Unlock()
	if q == nil {
		return
	}
	now := time.Now()
	for _, qi := range q.Queues() {
		ch <- prometheus.MustNewConstMetric(queueDepthDesc, prometheus.GaugeValue, float64(qi.MessageCount), qi.Identity, qi.DeliveryType, qi.Status)
	}
	msgs := q.Messages("")
	oldest := map[string]time.Time{}
	for _, mi := range msgs {
		for _, name := range mi.Queue {
			if t, ok := oldest[name]; !ok || mi.DateReceived.Before(t) {
				oldest[name] = mi.DateReceived
			}
		}
	}
	for name, t := range oldest {
		ch <- prometheus.MustNewConstMetric(queueOldestDesc, prometheus.GaugeValue, max(0, now.Sub(t).Seconds()), name)
	}
	ch <- prometheus.MustNewConstMetric(queueTotalDesc, prometheus.GaugeValue, float64(len(msgs)))
}

// authCollector reads the logon defences at each scrape.
type authCollector struct{ m *Metrics }

var (
	authBlockedDesc = prometheus.NewDesc(Namespace+"_smtp_auth_blocked", "Sources and accounts blocked now after repeated failed logons, by scope (source, account).",
		[]string{"scope"}, nil)
	authChecksDesc = prometheus.NewDesc(Namespace+"_smtp_auth_checks", "Password checks (argon2id) now, by state (running, waiting).",
		[]string{"state"}, nil)
)

// Describe implements prometheus.Collector.
func (c *authCollector) Describe(ch chan<- *prometheus.Desc) {
	ch <- authBlockedDesc
	ch <- authChecksDesc
}

// Collect implements prometheus.Collector.
func (c *authCollector) Collect(ch chan<- prometheus.Metric) {
	c.m.mu.Lock()
	a := c.m.auth
	c.m.mu.Unlock()
	if a == nil {
		return
	}
	src, acc := a.Blocked()
	ch <- prometheus.MustNewConstMetric(authBlockedDesc, prometheus.GaugeValue, float64(src), "source")
	ch <- prometheus.MustNewConstMetric(authBlockedDesc, prometheus.GaugeValue, float64(acc), "account")
	run, wait := a.Stats()
	ch <- prometheus.MustNewConstMetric(authChecksDesc, prometheus.GaugeValue, float64(run), "running")
	ch <- prometheus.MustNewConstMetric(authChecksDesc, prometheus.GaugeValue, float64(wait), "waiting")
}

// Server serves /metrics on one address, which can change while running.
type Server struct {
	m   *Metrics
	log *slog.Logger

	mu   sync.Mutex
	addr string
	srv  *http.Server
	ln   net.Listener
	done chan struct{}
}

// NewServer returns a server for m that listens nowhere until SetAddress.
func NewServer(m *Metrics, log *slog.Logger) *Server {
	if log == nil {
		log = slog.New(slog.DiscardHandler)
	}
	return &Server{m: m, log: log}
}

// SetAddress listens on addr (host:port) and serves /metrics there,
// closing the previous listener; "" stops serving. The same address again
// changes nothing.
func (s *Server) SetAddress(addr string) error {
	s.mu.Lock()
	defer s.mu.Unlock()
	if addr == s.addr && (addr == "" || s.srv != nil) {
		return nil
	}
	s.stopLocked()
	s.addr = addr
	if addr == "" {
		return nil
	}
	ln, err := net.Listen("tcp", addr)
	if err != nil {
		return fmt.Errorf("metrics: cannot listen on %s: %w", addr, err)
	}
	mux := http.NewServeMux()
	mux.Handle("GET /metrics", s.m.Handler())
	srv := &http.Server{Handler: mux, ReadHeaderTimeout: 10 * time.Second, WriteTimeout: 30 * time.Second,
		ErrorLog: slog.NewLogLogger(s.log.Handler(), slog.LevelDebug)}
	done := make(chan struct{})
	go func() {
		defer close(done)
		if err := srv.Serve(ln); err != nil && !errors.Is(err, http.ErrServerClosed) {
			s.log.Error("metrics endpoint stopped", "addr", addr, "err", err)
		}
	}()
	s.srv, s.ln, s.done = srv, ln, done
	s.log.Info("serving metrics", "url", "http://"+ln.Addr().String()+"/metrics")
	return nil
}

// Addr returns the address served, nil when none.
func (s *Server) Addr() net.Addr {
	s.mu.Lock()
	defer s.mu.Unlock()
	if s.ln == nil {
		return nil
	}
	return s.ln.Addr()
}

func (s *Server) stopLocked() {
	if s.srv == nil {
		return
	}
	ctx, cancel := context.WithTimeout(context.Background(), 5*time.Second)
	defer cancel()
	if err := s.srv.Shutdown(ctx); err != nil {
		s.srv.Close()
	}
	<-s.done
	s.srv, s.ln, s.done = nil, nil, nil
}

// Close stops serving.
func (s *Server) Close() error {
	s.mu.Lock()
	defer s.mu.Unlock()
	s.stopLocked()
	s.addr = ""
	return nil
}
