// Package service is the transportd daemon: it loads the configuration,
// opens the certificate store and the queue, runs the receive connectors,
// and applies every change to the configuration, the mailbox list or the
// certificates while running, without a restart.
package service

import (
	"context"
	"errors"
	"fmt"
	"log/slog"
	"net"
	"net/http"
	"os"
	"path/filepath"
	"strings"
	"sync"
	"sync/atomic"
	"time"

	"github.com/fsnotify/fsnotify"

	"github.com/transportd/transportd/certs"
	"github.com/transportd/transportd/connector/protolog"
	"github.com/transportd/transportd/connector/protolog/csvlog"
	"github.com/transportd/transportd/connector/smtpd"
	"github.com/transportd/transportd/policies/authqueue"
	"github.com/transportd/transportd/policies/limits"
	"github.com/transportd/transportd/policies/lockout"
	"github.com/transportd/transportd/transport/admin/cluster"
	"github.com/transportd/transportd/transport/admin/config"
	"github.com/transportd/transportd/transport/admin/control"
	"github.com/transportd/transportd/transport/durable"
	"github.com/transportd/transportd/transport/mail/delivery"
	"github.com/transportd/transportd/transport/mail/mailbox"
	"github.com/transportd/transportd/transport/mail/queue"
	"github.com/transportd/transportd/transport/mail/queue/filestore"
	"github.com/transportd/transportd/transport/mail/queue/journal"
	"github.com/transportd/transportd/transport/mail/routing"
	"github.com/transportd/transportd/transport/mail/tlsrpt"
	"github.com/transportd/transportd/transport/mail/tracking"
	"github.com/transportd/transportd/transport/metrics"
)

// Service is a running transportd.
type Service struct {
	// SubmitSocketPath is where `transportd sendmail` submits (set before
	// Run); empty means submit.sock in the data folder.
	SubmitSocketPath string

	path   string
	log    *slog.Logger
	certs  *certs.Store
	store  *journal.Journal
	queue  *queue.Manager
	dir    *liveDirectory
	smtp   *smtpd.Server
	cfg    *config.Config
	cfgMu  sync.Mutex
	gen    int
	reload chan struct{}
	router *router

	// applied is closed (and replaced) whenever a configuration is put in
	// force, for the parts that follow it (pickup folder).
	applied chan struct{}
	// watching is closed once Run watches the configuration files.
	watching chan struct{}

	reportMu sync.Mutex
	reported map[string]string // connector -> what reportTLS last said
	mailbox  *mailbox.Maildir
	control  *control.Server

	recvLog    *protolog.Log
	sendLog    *protolog.Log
	tracking   *tracking.Log
	trackingOn atomic.Bool
	metrics    *metrics.Metrics
	metricsSrv *metrics.Server
	lockout    *lockout.Guard

	// OnReload, when set before Run, is called after every reload attempt
	// with the configuration generation and the error, if any.
	OnReload func(gen int, err error)

	// oauthHTTP is the client for OAuth token requests (SetOAuthHTTPClient).
	oauthHTTP oauthClient

	// tlsReports counts the TLS sessions of MX deliveries under MTA-STS
	// and DANE policies for TLS-RPT (RFC 8460; tlspolicy.go).
	tlsReports *tlsrpt.Collector
	// stsHTTP fetches MTA-STS policies when set (SetMTASTSHTTPClient).
	stsHTTP atomic.Pointer[http.Client]

	// sampler keeps the metrics of the last day for the admin center's
	// dashboard (dashboard.go); set by Run.
	sampler *metrics.Sampler
	// ---- issue 14 (cluster) ----

	// clusterNode is the embedded NATS and JetStream of a cluster member;
	// nil on a single server (cluster.go).
	clusterNode *cluster.Node
	// late is the cluster's shared queue (issue 14), nil on a single
	// server, whose queue is the journal.
	late *lateStore

	// OnLeave, when set before Run, drains this member when the admin
	// runs `transportd cluster leave` (the shared queue's hook).
	OnLeave func(ctx context.Context) error
	// configSync publishes and applies the organization's configuration
	// (set by Run on a cluster member).
	configSync *cluster.ConfigSync
	// clusterPending is the file's Cluster section waiting for a restart
	// (its warning is logged once); under cfgMu.
	clusterPending string
}

// Open loads the configuration at path (creating it with the defaults when
// missing), prepares the data folder and starts the receive connectors.
func Open(ctx context.Context, path string, log *slog.Logger) (_ *Service, err error) {
	if log == nil {
		log = slog.Default()
	}
	cfg, err := config.Load(path)
	if err != nil {
		return nil, err
	}
	warnUnqualified(log, cfg)
	store, err := certs.Open(filepath.Join(cfg.DataDir(), "certs"), durable.WriteFile, log)
	if err != nil {
		return nil, fmt.Errorf("certificate store: %w", err)
	}
	if cert, created, err := store.EnsureDefault(cfg.Server.Fqdn); err != nil {
		return nil, fmt.Errorf("creating the default self-signed certificate: %w", err)
	} else if created {
		log.Info("created a self-signed certificate for STARTTLS, as Exchange setup does; import a CA-issued one for clients (transportd cert import)",
			"thumbprint", cert.Thumbprint, "subject", cert.Subject)
	}
	if err := makePickupDirs(cfg); err != nil {
		return nil, err
	}
	// issue 14: a cluster member's NATS and JetStream come first, for the
	// parts that keep their state there.
	node, err := startCluster(ctx, cfg, log)
	if err != nil {
		return nil, err
	}
	defer func() {
		if err != nil && node != nil {
			node.Close()
		}
	}()
	disk, err := journal.Open(filepath.Join(cfg.DataDir(), "queue"), log.With("component", "queue"))
	if err != nil {
		return nil, err
	}
	// Messages left by the per-file queue of earlier versions move into
	// the journal before anything is delivered.
	if _, err := filestore.Migrate(context.Background(), filepath.Join(cfg.DataDir(), "queue"), disk, log.With("component", "queue")); err != nil {
		disk.Close()
		return nil, err
	}
	// issue 14: a cluster member queues in the shared queue on JetStream,
	// opened by Run (runSharedQueue); its local journal, if it holds mail,
	// moves there first.
	var qstore queue.Store = disk
	var late *lateStore
	if node != nil {
		late = newLateStore(disk, cfg.ClusterDir())
		qstore = late
	}
	s := &Service{path: cfg.Path(), log: log, certs: store, store: disk, dir: newLiveDirectory(), cfg: cfg, reload: make(chan struct{}, 1), applied: make(chan struct{}), watching: make(chan struct{})}
	s.clusterNode = node
	if node != nil { // issue 14: the heartbeat names the certificates served here
		node.SetServing(s.servedCertificates)
	}
	s.late = late
	s.dir.set(cfg)
	s.tlsReports = tlsrpt.NewCollector(filepath.Join(cfg.DataDir(), tlsReportsFile), nil)
	s.mailbox = &mailbox.Maildir{Root: filepath.Join(cfg.DataDir(), "mailboxes"), Resolve: s.dir.resolveFolder, Hostname: cfg.Server.Fqdn, Logger: log}
	owner, err := maildirOwner(cfg.Transport)
	if err != nil {
		disk.Close()
		return nil, err
	}
	if err := s.mailbox.UseOwner(owner); err != nil {
		disk.Close()
		return nil, fmt.Errorf("Transport.MaildirOwner %s: %w", cfg.Transport.MaildirOwner, err)
	}
	rt, err := newRouter(cfg, s.dir.cur.Load(), s.forwardingTarget(cfg, s.mailboxTarget(cfg)), time.Time{}, log, s.tlsPolicyEnv())
	if err != nil {
		disk.Close()
		return nil, err
	}
	if err := s.openLogs(cfg); err != nil {
		disk.Close()
		return nil, err
	}
	s.setSendLog(cfg, rt)
	s.setOAuth(rt)
	s.router = rt
	s.queue, err = queue.NewManager(queue.Options{
		Store: qstore, Router: rt, Settings: settingsOf(cfg), Logger: log.With("component", "queue"),
		Notifier:            &notifier{config: s.Config, log: log},
		InflightDir:         filepath.Join(cfg.DataDir(), "queue", "inflight"),
		SuspendedQueuesFile: filepath.Join(cfg.DataDir(), "queue", "suspended-queues.json"),
		OnEvent:             s.queueEvent,
	})
	if err != nil {
		s.closeLogs()
		disk.Close()
		return nil, err
	}
	s.metrics.SetQueues(s.queue)
	s.lockout = lockout.New(lockoutPolicy(cfg), time.Now)
	authQueue := smtpd.NewAuthQueue()
	s.metrics.SetAuth(authState{s.lockout, authQueue})
	s.smtp = smtpd.New(smtpd.Deps{
		Queue: smtpIntake{s.queue, mailAuth{s}}, Certs: store, Directory: s.dir, Logger: log,
		Limiter: limits.NewConnLimiter(), Rates: limits.NewRateLimiter(time.Now),
		ProtocolLog: s.recvLog, Observer: s.metrics,
		Lockout: s.lockout, AuthQueue: authQueue,
	})
	s.control, err = control.Listen(filepath.Join(cfg.DataDir(), control.SocketName), s.handleControl, log)
	if err != nil {
		s.queue.Close()
		s.closeLogs()
		disk.Close()
		return nil, err
	}
	if err := s.apply(cfg); err != nil {
		s.smtp.Close()
		s.queue.Close()
		s.closeLogs()
		disk.Close()
		return nil, err
	}
	s.keepApplied(cfg)
	return s, nil
}

// keepApplied saves a copy of the config file in force beside it
// (config.AppliedFile), which the management commands judge an edit
// against and an admin restores a cut-off file from. Mail does not depend
// on it: a copy that cannot be written is logged.
func (s *Service) keepApplied(cfg *config.Config) {
	if err := cfg.WriteApplied(); err != nil {
		s.log.Warn("could not keep a copy of the configuration in force; management commands cannot tell a cut-off file from an intended change",
			"file", config.AppliedFile(cfg.Path()), "err", err)
	}
}

// maildirOwner looks up Transport.MaildirOwner ("" = nobody in particular)
// with the function the management commands check it with at set time.
func maildirOwner(t config.TransportConfig) (*mailbox.Owner, error) {
	uid, gid, ok, err := t.MaildirOwnerIDs()
	if err != nil || !ok {
		return nil, err
	}
	return &mailbox.Owner{UID: uid, GID: gid}, nil
}

// mailboxTarget is Maildir delivery, or LMTP when the config names a server.
func (s *Service) mailboxTarget(cfg *config.Config) delivery.Target {
	if addr := cfg.Transport.MailboxDeliveryLmtpServer; addr != "" {
		return &mailbox.LMTP{Addr: addr, HeloName: cfg.Server.Fqdn, Logger: s.log}
	}
	return s.mailbox
}

// lockoutPolicy is the logon lockout policy of the Transport settings.
func lockoutPolicy(cfg *config.Config) lockout.Policy {
	t := cfg.Transport
	return lockout.Policy{Threshold: t.AuthFailureLockoutThreshold, Window: t.AuthFailureWindow.Duration(), Duration: t.AuthFailureLockoutDuration.Duration()}
}

// authState shows the logon defences to the metrics.
type authState struct {
	guard *lockout.Guard
	queue *authqueue.Scheduler
}

// The metrics count logons refused before the password check and lockouts.
var _ smtpd.AuthObserver = (*metrics.Metrics)(nil)

func (a authState) Blocked() (int, int) { return a.guard.Blocked() }
func (a authState) Stats() (int, int)   { return a.queue.Stats() }

func settingsOf(cfg *config.Config) queue.Settings {
	t := cfg.Transport
	return queue.Settings{
		TransientFailureRetryInterval: t.TransientFailureRetryInterval.Duration(),
		TransientFailureRetryAttempts: t.TransientFailureRetryAttempts,
		MessageRetryInterval:          t.MessageRetryInterval.Duration(),
		MessageExpirationTimeout:      t.MessageExpirationTimeout.Duration(),
		DelayNotificationTimeout:      t.DelayNotificationTimeout.Duration(),
		MaxConcurrencyPerQueue:        t.MaxPerQueueConcurrency,
		// Set-TransportService names (issue 10).
		OutboundConnectionFailureRetryInterval: t.OutboundConnectionFailureRetryInterval.Duration(),
		MaxConcurrentDeliveries:                int(max(t.MaxOutboundConnections, 0)),
		MailboxQueue:                           routing.MailboxQueue,
		MailboxQueueConcurrency:                t.MaxConcurrentMailboxDeliveries,
	}
}

// postmasterOf is the DSN sender: ExternalPostmasterAddress, else
// postmaster@<default accepted domain>, else postmaster@<server FQDN>.
func postmasterOf(cfg *config.Config) string {
	if a := cfg.Transport.ExternalPostmasterAddress; a != "" {
		return a
	}
	for _, d := range cfg.AcceptedDomains {
		if d.Default && !strings.HasPrefix(d.DomainName, "*") {
			return "postmaster@" + d.DomainName
		}
	}
	return "postmaster@" + cfg.Server.Fqdn
}

// Config returns the configuration in force.
func (s *Service) Config() *config.Config {
	s.cfgMu.Lock()
	defer s.cfgMu.Unlock()
	return s.cfg
}

// Addrs returns the addresses the receive connectors listen on.
func (s *Service) Addrs() []net.Addr { return s.smtp.Addrs() }

// Certs returns the certificate store.
func (s *Service) Certs() *certs.Store { return s.certs }

// Queue returns the transport pipeline's queue manager.
func (s *Service) Queue() *queue.Manager { return s.queue }

// Store returns the message store.
func (s *Service) Store() queue.Store { return s.store }

// Mailboxes returns the Maildir delivery target (for finding delivered mail).
func (s *Service) Mailboxes() *mailbox.Maildir { return s.mailbox }

// apply puts cfg in force, all of it or nothing: everything that can fail
// (the domain table, the Maildir owner, the send connectors, binding the
// receive connectors' sockets) is done before anything changes, so that a
// configuration that fails leaves the previous one in force entirely.
func (s *Service) apply(cfg *config.Config) error { return s.applyAt(cfg, time.Time{}) }

// applyAt is apply for a configuration that a reload at changed brings
// (zero: the one the daemon starts with); see routing.Grace.
func (s *Service) applyAt(cfg *config.Config, changed time.Time) error {
	tbl, err := cfg.DomainTable()
	if err != nil {
		return err
	}
	owner, err := maildirOwner(cfg.Transport)
	if err != nil {
		return err
	}
	dir := newDirectory(cfg)
	rt, err := newRouter(cfg, dir, s.forwardingTarget(cfg, s.mailboxTarget(cfg)), changed, s.log, s.tlsPolicyEnv())
	if err != nil {
		return err
	}
	if err := s.smtp.Apply(smtpd.Snapshot{Connectors: cfg.ReceiveConnectors, Domains: tbl, Filter: connectionFilter(cfg)}); err != nil {
		rt.close()
		return err
	}
	if err := s.mailbox.UseOwner(owner); err != nil {
		s.log.Error("Transport.MaildirOwner: the mailboxes could not all be handed over; a mailbox server running as that user may not read them",
			"owner", cfg.Transport.MaildirOwner, "err", err)
	}
	s.dir.cur.Store(dir)
	s.setSendLog(cfg, rt)
	s.setOAuth(rt)
	s.applyLogging(cfg)
	old := s.router
	s.router = rt
	s.queue.SetRouter(rt)
	s.queue.SetSettings(settingsOf(cfg))
	s.lockout.SetPolicy(lockoutPolicy(cfg))
	if old != nil && old != rt {
		old.close()
	}
	s.cfgMu.Lock()
	s.cfg = cfg
	close(s.applied)
	s.applied = make(chan struct{})
	s.cfgMu.Unlock()
	s.reportTLS(cfg)
	return nil
}

// configApplied returns the configuration in force and a channel closed
// when another one is put in force.
func (s *Service) configApplied() (*config.Config, <-chan struct{}) {
	s.cfgMu.Lock()
	defer s.cfgMu.Unlock()
	return s.cfg, s.applied
}

// reportTLS logs, for every connector, which certificate it serves, and
// says loudly when STARTTLS is missing or the certificate is wrong
// (Exchange's silent event 12014 is a classic support case).
func (s *Service) reportTLS(cfg *config.Config) {
	now := time.Now()
	s.reportMu.Lock()
	defer s.reportMu.Unlock()
	if s.reported == nil {
		s.reported = map[string]string{}
	}
	for i := range cfg.ReceiveConnectors {
		rc := &cfg.ReceiveConnectors[i]
		if !rc.Enabled {
			continue
		}
		status, ok := rc.TLSStatus(s.certs, now)
		key := fmt.Sprint(rc.Name, rc.Bindings, rc.Fqdn, status)
		if s.reported[rc.Name] == key {
			continue // said already; say it again only when it changes
		}
		s.reported[rc.Name] = key
		if ok {
			s.log.Info("receive connector", "connector", rc.Name, "bindings", fmt.Sprint(rc.Bindings), "fqdn", rc.Fqdn, "tls", status)
		} else {
			s.log.Error("receive connector certificate problem", "connector", rc.Name, "fqdn", rc.Fqdn, "tls", status)
		}
	}
}

// Reload re-reads the configuration and applies it. An invalid
// configuration is logged and the running one is kept.
func (s *Service) Reload() error {
	prev := s.Config()
	cfg, err := config.Read(s.path)
	if err == nil {
		// An empty, cut-off or half-written file must not close every
		// listener and bounce every queued message.
		err = config.CheckReplacement(prev, cfg)
	}
	if hint := config.RestoreHint(s.path); err != nil && hint != "" &&
		(errors.Is(err, config.ErrLooksTruncated) || errors.Is(err, os.ErrNotExist)) {
		err = fmt.Errorf("%w; %s", err, hint)
	}
	if err == nil && cfg.DataDir() != prev.DataDir() {
		// The queue, mailboxes, certificates and control socket live there.
		err = fmt.Errorf("Server.DataPath: the data folder cannot move while transportd runs; restart transportd to use %s (or set DataPath back to %q)",
			cfg.DataDir(), prev.Server.DataPath)
	}
	if err == nil {
		s.keepRunningCluster(prev, cfg) // issue 14
	}
	if err == nil {
		err = s.applyAt(cfg, time.Now())
	}
	if err == nil {
		s.keepApplied(cfg)
		if s.configSync != nil { // issue 14: the cluster gets the change
			s.configSync.Applied(cfg)
		}
		if !strings.EqualFold(cfg.Server.Fqdn, prev.Server.Fqdn) {
			s.log.Info("server FQDN changed; receive connectors without their own Fqdn greet with it, send connectors without their own Fqdn say it in HELO",
				"from", prev.Server.Fqdn, "to", cfg.Server.Fqdn)
			warnUnqualified(s.log, cfg)
		}
		// Recipients that waited for a route try the new one at once.
		s.queue.Retry(func(q string) bool { return q == routing.UnreachableQueue })
	}
	s.cfgMu.Lock()
	s.gen++
	gen := s.gen
	s.cfgMu.Unlock()
	if err != nil {
		s.log.Error("configuration not applied; the previous one stays in force", "err", err)
	} else {
		s.log.Info("configuration applied", "generation", gen)
	}
	if s.OnReload != nil {
		s.OnReload(gen, err)
	}
	return err
}

// Run watches the configuration, the mailbox list and the certificate
// folder, applying changes within about a second, until ctx is done; then
// it closes every listener and session.
//
// Run owns the goroutines it starts (control socket, pickup folder, client
// settings endpoint, certificate watch) and waits for them before it
// closes the receive connectors and the queue, so that nothing enqueues
// into a closed queue.
func (s *Service) Run(ctx context.Context) error {
	ctx, stop := context.WithCancel(ctx)
	var wg sync.WaitGroup
	defer func() {
		stop()
		wg.Wait()
		s.smtp.Close()
		s.queue.Close()
		s.router.close()
		s.store.Close()
		s.closeLogs()
		if s.clusterNode != nil {
			s.clusterNode.Close()
		}
	}()
	wg.Add(4)
	go func() {
		defer wg.Done()
		s.runSubmit(ctx)
	}()
	go func() {
		defer wg.Done()
		if err := s.control.Serve(ctx); err != nil {
			s.log.Error("control socket stopped", "err", err)
		}
	}()
	go func() {
		defer wg.Done()
		s.runPickup(ctx)
	}()
	go func() {
		defer wg.Done()
		s.runHTTP(ctx)
	}()
	wg.Add(1)
	go func() {
		defer wg.Done()
		s.runTLSReports(ctx, tlsReportsInterval)
	}()
	s.startSampler(ctx, &wg) // issue 15: the dashboard's history
	wg.Add(1)                // issue 15: the admin center
	go func() {
		defer wg.Done()
		s.runAdminCenter(ctx)
	}()
	if s.late != nil { // issue 14: the shared queue
		wg.Add(1)
		go func() {
			defer wg.Done()
			s.runSharedQueue(ctx)
		}()
	}
	if s.clusterNode != nil { // issue 14: queue and tracking operations of other members
		wg.Add(1)
		go func() {
			defer wg.Done()
			s.serveClusterAdmin(ctx)
		}()
	}
	if s.clusterNode != nil { // issue 14: one configuration for the cluster
		s.configSync = s.clusterNode.NewConfigSync(s.path)
		s.configSync.Applied(s.Config())
		wg.Add(1)
		go func() {
			defer wg.Done()
			s.configSync.Run(ctx)
		}()
	}
	w, err := fsnotify.NewWatcher()
	if err != nil {
		return fmt.Errorf("watching configuration: %w", err)
	}
	defer w.Close()
	cfg := s.Config()
	watched := map[string]bool{s.path: true, cfg.MailboxFile(): true, cfg.SecretsFile(): true}
	for _, d := range []string{filepath.Dir(s.path), cfg.DataDir()} {
		if err := w.Add(d); err != nil {
			return fmt.Errorf("watching %s: %w", d, err)
		}
	}
	s.certs.OnChange(func() {
		s.log.Info("certificate store changed")
		s.reportTLS(s.Config())
		if s.configSync != nil { // issue 14: the store is the organization's
			s.configSync.Applied(s.Config())
		}
	})
	close(s.watching)
	certErr := make(chan error, 1)
	wg.Add(1)
	go func() {
		defer wg.Done()
		certErr <- s.certs.Watch(ctx)
	}()

	var debounce <-chan time.Time
	for {
		select {
		case <-ctx.Done():
			return nil
		case err := <-certErr:
			if err != nil && !errors.Is(err, context.Canceled) {
				s.log.Error("certificate hot reload stopped", "err", err)
			}
		case ev := <-w.Events:
			if watched[ev.Name] && ev.Op&(fsnotify.Write|fsnotify.Create|fsnotify.Rename|fsnotify.Remove) != 0 {
				debounce = time.After(150 * time.Millisecond)
			}
		case err := <-w.Errors:
			s.log.Warn("configuration watch", "err", err)
		case <-s.reload:
			debounce = time.After(0)
		case <-debounce:
			debounce = nil
			s.Reload()
		}
	}
}

// Watching returns a channel closed once Run watches the configuration
// files: from then on, a change to them is applied (or refused) within
// about a second.
func (s *Service) Watching() <-chan struct{} { return s.watching }

// RequestReload asks Run to reload now (as on SIGHUP).
func (s *Service) RequestReload() {
	select {
	case s.reload <- struct{}{}:
	default:
	}
}

// openLogs opens the protocol logs, the message tracking log and the
// metrics, under <data>/logs.
func (s *Service) openLogs(cfg *config.Config) error {
	var err error
	lim := protocolLimits(cfg)
	if s.recvLog, err = protolog.Open(protolog.Receive, protolog.Options{Dir: cfg.ProtocolLogDir(false), Limits: lim, Logger: s.log}); err != nil {
		return err
	}
	if s.sendLog, err = protolog.Open(protolog.Send, protolog.Options{Dir: cfg.ProtocolLogDir(true), Limits: sendProtocolLimits(cfg), Logger: s.log}); err != nil {
		s.recvLog.Close()
		return err
	}
	s.tracking, err = tracking.Open(tracking.Options{Dir: cfg.MessageTrackingLogDir(), Limits: trackingLimits(cfg),
		ServerHostname: cfg.Server.Fqdn, SubjectLogging: cfg.Logging.MessageTrackingLogSubjectLoggingEnabled, Logger: s.log})
	if err != nil {
		s.recvLog.Close()
		s.sendLog.Close()
		return err
	}
	s.trackingOn.Store(cfg.Logging.MessageTrackingLogEnabled)
	s.metrics = metrics.New()
	s.metricsSrv = metrics.NewServer(s.metrics, s.log.With("component", "metrics"))
	return nil
}

// closeLogs stops the metrics endpoint and flushes and closes the logs.
func (s *Service) closeLogs() {
	s.metricsSrv.Close()
	for _, c := range []interface{ Close() error }{s.recvLog, s.sendLog, s.tracking} {
		if err := c.Close(); err != nil {
			s.log.Error("closing log", "err", err)
		}
	}
}

func protocolLimits(cfg *config.Config) csvlog.Limits {
	l := cfg.Logging
	return csvlog.Limits{MaxFileSize: int64(l.ProtocolLogMaxFileSize), MaxDirectorySize: int64(l.ProtocolLogMaxDirectorySize), MaxAge: l.ProtocolLogMaxAge.Duration()}
}

// sendProtocolLimits are the send protocol log's limits: the
// SendProtocolLog* settings, or the common ones where they are not set.
func sendProtocolLimits(cfg *config.Config) csvlog.Limits {
	ts := cfg.TransportService()
	return csvlog.Limits{MaxFileSize: int64(ts.SendProtocolLogMaxFileSize), MaxDirectorySize: int64(ts.SendProtocolLogMaxDirectorySize), MaxAge: ts.SendProtocolLogMaxAge.Duration()}
}

func trackingLimits(cfg *config.Config) csvlog.Limits {
	l := cfg.Logging
	return csvlog.Limits{MaxFileSize: int64(l.MessageTrackingLogMaxFileSize), MaxDirectorySize: int64(l.MessageTrackingLogMaxDirectorySize), MaxAge: l.MessageTrackingLogMaxAge.Duration()}
}

// setSendLog gives the send connectors of rt the send protocol log when
// SendProtocolLoggingLevel is Verbose, and the TLS metric either way.
//
// A connector's own ProtocolLoggingLevel (None or Verbose) wins over
// SendProtocolLoggingLevel.
func (s *Service) setSendLog(cfg *config.Config, rt *router) {
	verbose := strings.EqualFold(cfg.Logging.SendProtocolLoggingLevel, protolog.LevelVerbose)
	for _, sc := range cfg.SendConnectors {
		snd, ok := rt.senders[sc.Name]
		if !ok {
			continue
		}
		var l *protolog.Log
		if lvl := strings.TrimSpace(sc.ProtocolLoggingLevel); (lvl == "" && verbose) || strings.EqualFold(lvl, protolog.LevelVerbose) {
			l = s.sendLog
		}
		snd.SetProtocolLog(l, s.metrics.SendTLSNegotiated)
	}
	s.setClientCertificates(cfg, rt)
}

// applyLogging applies the Logging section: limits, tracking on or off,
// and the metrics address. A metrics address that cannot be bound is
// logged; mail flow does not depend on it.
func (s *Service) applyLogging(cfg *config.Config) {
	s.recvLog.SetLimits(protocolLimits(cfg))
	s.sendLog.SetLimits(sendProtocolLimits(cfg))
	s.tracking.SetLimits(trackingLimits(cfg))
	// ReceiveProtocolLogPath, SendProtocolLogPath, MessageTrackingLogPath:
	// the next record goes to the new folder; a folder that cannot be
	// made keeps the old one.
	for _, d := range []struct {
		name string
		set  func(string) error
		dir  string
	}{{"ReceiveProtocolLogPath", s.recvLog.SetDir, cfg.ProtocolLogDir(false)}, {"SendProtocolLogPath", s.sendLog.SetDir, cfg.ProtocolLogDir(true)},
		{"MessageTrackingLogPath", s.tracking.SetDir, cfg.MessageTrackingLogDir()}} {
		if err := d.set(d.dir); err != nil {
			s.log.Error("log folder not changed", "setting", d.name, "dir", d.dir, "err", err)
		}
	}
	s.tracking.SetServer(cfg.Server.Fqdn, cfg.Logging.MessageTrackingLogSubjectLoggingEnabled)
	s.trackingOn.Store(cfg.Logging.MessageTrackingLogEnabled)
	if !cfg.Logging.MetricsOnLoopback() && cfg.Logging.MetricsAddress != "" {
		s.log.Warn("metrics are served beyond loopback; make sure a firewall guards them", "addr", cfg.Logging.MetricsAddress)
	}
	if err := s.metricsSrv.SetAddress(cfg.Logging.MetricsAddress); err != nil {
		s.log.Error("metrics endpoint not available", "err", err)
	}
}

// queueEvent feeds message tracking and metrics from the queue manager.
func (s *Service) queueEvent(ctx context.Context, ev queue.Event) {
	if s.trackingOn.Load() {
		s.tracking.QueueEvent(ctx, ev)
	}
	s.metrics.QueueEvent(ctx, ev)
}

// Tracking returns the message tracking log.
func (s *Service) Tracking() *tracking.Log { return s.tracking }

// ProtocolLogs returns the receive and send protocol logs.
func (s *Service) ProtocolLogs() (recv, send *protolog.Log) { return s.recvLog, s.sendLog }

// MetricsAddr returns the address of the metrics endpoint, nil when none.
func (s *Service) MetricsAddr() net.Addr { return s.metricsSrv.Addr() }
