// Package smtpd serves the receive connectors: it listens on their
// bindings, hands each connection to the connector chosen by local and
// remote address, and runs the SMTP session with that connector's limits,
// TLS certificate and permissions.
//
// The server side of SMTP is ours, in one state machine (conn.go), as
// chasquid does it, rather than github.com/emersion/go-smtp's server under
// a shim that rewrote its byte stream. go-smtp's server cannot be told per
// connector what Exchange shows and what the coming work needs: Exchange's
// reply texts, the banner and the first EHLO line, a switch for every
// ESMTP extension (CHUNKING/BDAT, SIZE without a value, SMTPUTF8,
// BINARYMIME, PIPELINING, ENHANCEDSTATUSCODES), implicit TLS and the PROXY
// protocol. The shim that made it fit ran STARTTLS itself, matched
// go-smtp's exact texts, injected commands and kept a second copy of the
// DATA state machine; a go-smtp upgrade could silently break it, and its
// per-connection byte proxy cost throughput. Now one place decides the
// session state, the protocol log is written from it, and
// testdata/golden holds every reply as the client sees it. go-smtp stays
// for the client side (transport/mail/smtpout) and, here, only for its
// SMTPError type, which the policy code and the queue return.
//
// The configuration can change at any time (Apply): new sessions see the new
// settings at once, open sessions finish with the settings they started
// with, and no open session is dropped.
package smtpd

import (
	"context"
	"crypto/tls"
	"errors"
	"fmt"
	"io"
	"log/slog"
	"net"
	"net/netip"
	"runtime"
	"strings"
	"sync"
	"sync/atomic"
	"syscall"
	"time"

	"github.com/emersion/go-smtp"

	"github.com/transportd/transportd/certs"
	"github.com/transportd/transportd/connector"
	"github.com/transportd/transportd/connector/protolog"
	"github.com/transportd/transportd/policies/authqueue"
	"github.com/transportd/transportd/policies/connfilter"
	"github.com/transportd/transportd/policies/domains"
	"github.com/transportd/transportd/policies/limits"
	"github.com/transportd/transportd/policies/lockout"
	"github.com/transportd/transportd/policies/permissions"
)

// Directory answers questions about mailboxes.
type Directory interface {
	// MailboxExists reports whether address (lower-case local@domain) has a mailbox.
	MailboxExists(address string) bool
	// Authenticate checks a user name (address or alias) and password and
	// returns the canonical user name.
	Authenticate(ctx context.Context, user, password string) (string, error)
	// MaySendAs reports whether the authenticated user owns address (its
	// primary or a proxy address).
	MaySendAs(user, address string) bool
}

// Queue takes accepted messages: Enqueue returns only when the message is
// on stable storage. The daemon's queue manager is one, through a small
// adapter in the composition root (package service).
type Queue interface {
	// NewID reserves the queue id, so that our Received header can name it.
	NewID() string
	// Enqueue stores the message read from body and returns its queue
	// id. A body longer than msg.MaxMessageLen is refused with
	// ErrMessageTooLarge; an *smtp.SMTPError from body (the normalizer's
	// refusals) is returned as it is.
	Enqueue(ctx context.Context, msg Message, body io.Reader) (string, error)
}

// Message is the envelope of an accepted message as a session hands it to
// the Queue.
type Message struct {
	// ID is the id Queue.NewID reserved (our Received header names it).
	ID string
	// From is the reverse-path; "" is the null sender.
	From       string
	Recipients []Recipient
	// Connector is the receive connector's name.
	Connector string
	// SessionID is the session's id in the protocol log.
	SessionID  string
	RemoteAddr netip.AddrPort
	LocalAddr  netip.AddrPort
	HeloName   string
	// AuthUser is the authenticated mailbox, "" when anonymous.
	AuthUser   string
	TLS        bool
	ReceivedAt time.Time
	// MaxMessageLen is the connector's MaxMessageSize (0: none).
	MaxMessageLen int64
	// SMTPUTF8 tells that MAIL carried SMTPUTF8 (RFC 6531): the message
	// may be relayed only to servers that offer it.
	SMTPUTF8 bool
	// Body is MAIL's BODY parameter: "", 7BIT, 8BITMIME or BINARYMIME.
	Body string
	// Ret and EnvID are MAIL's RET (FULL or HDRS) and decoded ENVID
	// (RFC 3461 sections 4.3 and 4.4), for the DSNs of this message.
	Ret, EnvID string

	// MessageID and Subject are the message's, as the session read them
	// from its header section (package header's Summary; empty when the
	// header has none): the queue need not read the header again.
	MessageID, Subject string

	// BypassAntiSpam tells that the session holds ms-Exch-Bypass-Anti-Spam:
	// sender authentication verdicts are not acted on.
	BypassAntiSpam bool

	// RequireTLS tells that MAIL carried REQUIRETLS (RFC 8689): the
	// message may be relayed only over validated TLS to servers that
	// offer REQUIRETLS.
	RequireTLS bool
}

// Recipient is one accepted recipient.
type Recipient struct {
	// Address is the recipient address as accepted.
	Address string
	// Local is true when the address belongs to a mailbox here.
	Local bool
	// Notify is the RFC 3461 NOTIFY parameter ("NEVER", "FAILURE,DELAY"), empty = default.
	Notify string
}

// ErrMessageTooLarge is what Queue.Enqueue returns when the body exceeds
// Message.MaxMessageLen (RFC 5321 section 4.5.3.1.10; RFC 3463 5.3.4).
var ErrMessageTooLarge = &smtp.SMTPError{Code: 552, EnhancedCode: smtp.EnhancedCode{5, 3, 4},
	Message: "Message size exceeds the fixed maximum message size (MaxMessageSize)"}

// Deps are the parts the server works with.
type Deps struct {
	Queue     Queue
	Certs     *certs.Store
	Directory Directory
	Logger    *slog.Logger
	Limiter   *limits.ConnLimiter
	Rates     *limits.RateLimiter
	// ProtocolLog, when set, receives the protocol log of every connector
	// whose ProtocolLoggingLevel is Verbose.
	ProtocolLog *protolog.Log
	// Observer, when set, is told of connections, TLS and failed logons.
	Observer Observer
	// Lockout counts failed logons across connections and blocks sources
	// and accounts for a while; nil means one with lockout.DefaultPolicy.
	Lockout *lockout.Guard
	// AuthQueue schedules password checks; nil means one from
	// NewAuthQueue.
	AuthQueue *authqueue.Scheduler
}

// NewAuthQueue returns the password-check scheduler the server uses by
// default. An argon2id check (package credentials) runs on 2 threads and
// holds 64 MiB, so NumCPU/2 checks at once keep every core busy; at least
// 2, so that one can stay free for users without recent failures, and at
// most MaxAuthChecks, so that a flood on a big machine cannot take more
// than 512 MiB. AuthQueuePerSlot checks may wait per running check,
// AuthQueuePerSource of them from one source.
func NewAuthQueue() *authqueue.Scheduler {
	n := min(max(runtime.NumCPU()/2, 2), MaxAuthChecks)
	return authqueue.New(n, n*AuthQueuePerSlot, AuthQueuePerSource)
}

// Bounds of the default password-check queue.
const (
	// AuthQueuePerSlot is how many checks may wait per check running.
	AuthQueuePerSlot = 8
	// AuthQueuePerSource is how many checks of one source may wait.
	AuthQueuePerSource = 4
	// MaxAuthChecks caps the password checks running at once.
	MaxAuthChecks = 8
)

// AuthObserver is implemented by an Observer that also counts logons
// refused before their password was checked, and lockouts.
type AuthObserver interface {
	// AuthRefused counts an AUTH refused with 454 4.7.0 without checking
	// the password; reason is "locked_out" or "busy".
	AuthRefused(connector, reason string)
	// AuthLockout counts a source or account blocked; scope is "source"
	// or "account".
	AuthLockout(scope string)
}

// Observer is told of connection events, for metrics. Its methods must
// be quick and safe for concurrent use.
type Observer interface {
	// ConnectionOpened is called when a connector takes a connection.
	ConnectionOpened(connector string)
	// ConnectionClosed is called when that connection ends.
	ConnectionClosed(connector string)
	// AuthFailed is called for every failed AUTH.
	AuthFailed(connector string)
	// TLSNegotiated is called after a successful STARTTLS handshake.
	TLSNegotiated(connector string, version uint16)
}

// Snapshot is one version of the configuration the server applies.
type Snapshot struct {
	Connectors []connector.ReceiveConnector
	Domains    *domains.Table

	// Filter is the connection filtering (IP allow and block lists, block
	// list providers) of connectors with ConnectionFilteringEnabled; nil:
	// none.
	Filter *connfilter.Filter
}

type state struct {
	connectors []connector.ReceiveConnector
	domains    *domains.Table
	servers    map[string]*connServer

	filter *connfilter.Filter // connfilter.go
}

// connServer is one connector in one configuration version.
type connServer struct {
	st  *state
	rc  *connector.ReceiveConnector
	tls *tls.Config
}

// Server runs the receive connectors.
type Server struct {
	deps Deps
	ctx  context.Context
	stop context.CancelFunc

	cur atomic.Pointer[state]

	mu        sync.Mutex
	listeners map[netip.AddrPort]net.Listener
	conns     map[net.Conn]struct{} // open connections, closed by Close
	wg        sync.WaitGroup
	closed    bool

	sessionSeq atomic.Uint64 // session ids when the protocol is not logged

	buffers sync.Pool // *connBuffers of connections that ended
	// handoff passes an accepted connection to an idle worker.
	handoff chan net.Conn
	dnsbl   *connfilter.Cache // block list providers' answers (connfilter.go)

	// draining refuses mail with 421/451 4.3.2 (draining.go).
	draining atomic.Bool
}

// New returns a server that does nothing until Apply.
func New(deps Deps) *Server {
	if deps.Logger == nil {
		deps.Logger = slog.Default()
	}
	if deps.Limiter == nil {
		deps.Limiter = limits.NewConnLimiter()
	}
	if deps.Rates == nil {
		deps.Rates = limits.NewRateLimiter(time.Now)
	}
	if deps.Lockout == nil {
		deps.Lockout = lockout.New(lockout.DefaultPolicy(), time.Now)
	}
	if deps.AuthQueue == nil {
		deps.AuthQueue = NewAuthQueue()
	}
	ctx, cancel := context.WithCancel(context.Background())
	s := &Server{deps: deps, ctx: ctx, stop: cancel, listeners: map[netip.AddrPort]net.Listener{}, conns: map[net.Conn]struct{}{}}
	s.sessionSeq.Store(uint64(time.Now().UnixNano()))
	s.buffers.New = newConnBuffers
	s.handoff = make(chan net.Conn)
	s.dnsbl = connfilter.NewCache(connfilter.DefaultCacheTTL, dnsblCacheSize)
	return s
}

// Addrs returns the addresses the server listens on.
func (s *Server) Addrs() []net.Addr {
	s.mu.Lock()
	defer s.mu.Unlock()
	var out []net.Addr
	for _, l := range s.listeners {
		out = append(out, l.Addr())
	}
	return out
}

// Apply switches to a new configuration: it opens listeners for new
// bindings, closes those no connector uses any more, and routes new
// connections with the new connector settings.
//
// Listener changes are make-before-break: every new socket is bound before
// any old one is closed. When a binding cannot be opened (a port in use,
// no permission), Apply changes nothing at all: every old listener keeps
// accepting with the old connector settings, and the error names each
// binding that failed. The one socket that cannot be bound first is one
// overlapping an old socket of ours that the new configuration drops
// (0.0.0.0:25 replacing 127.0.0.1:25): that old socket is closed just
// before, and bound again if the new one still fails.
func (s *Server) Apply(snap Snapshot) error {
	s.mu.Lock()
	defer s.mu.Unlock()
	if s.closed {
		return errors.New("server is closed")
	}
	wantList := connector.ListenAddrs(snap.Connectors)
	want := make(map[netip.AddrPort]bool, len(wantList))
	for _, ap := range wantList {
		want[ap] = true
	}
	opened := map[netip.AddrPort]net.Listener{}
	var overlapping []netip.AddrPort
	var errs []error
	for _, ap := range wantList {
		if _, ok := s.listeners[ap]; ok {
			continue
		}
		l, err := listen(s.ctx, ap)
		if err != nil {
			if ap.Addr().Is6() && ap.Addr().IsUnspecified() && (errors.Is(err, syscall.EAFNOSUPPORT) || errors.Is(err, syscall.EADDRNOTAVAIL)) {
				// A host without IPv6 still serves IPv4: say so, go on.
				s.deps.Logger.Warn("IPv6 is not available; serving IPv4 only", "addr", ap.String(), "err", err)
				continue
			}
			if errors.Is(err, syscall.EADDRINUSE) && len(s.droppedOverlapping(ap, want)) > 0 {
				overlapping = append(overlapping, ap)
				continue
			}
			errs = append(errs, err)
			continue
		}
		opened[ap] = l
	}
	released := map[netip.AddrPort]bool{}
	for _, ap := range overlapping {
		if len(errs) > 0 {
			break
		}
		for _, old := range s.droppedOverlapping(ap, want) {
			s.listeners[old].Close()
			delete(s.listeners, old)
			released[old] = true
		}
		l, err := listen(s.ctx, ap)
		if err != nil {
			errs = append(errs, err)
			break
		}
		opened[ap] = l
	}
	if len(errs) > 0 {
		for _, l := range opened {
			l.Close()
		}
		for ap := range released {
			l, err := listen(s.ctx, ap)
			if err != nil {
				s.deps.Logger.Error("could not listen again on a binding given up for an overlapping one", "addr", ap.String(), "err", err)
				errs = append(errs, fmt.Errorf("and listening again on %s failed: %w", ap, err))
				continue
			}
			s.serveListener(ap, l)
		}
		return fmt.Errorf("receive connectors not changed, every listener kept: %w", errors.Join(errs...))
	}
	for ap, l := range opened {
		s.serveListener(ap, l)
		s.deps.Logger.Info("listening", "addr", l.Addr().String())
	}
	for ap, l := range s.listeners {
		if !want[ap] {
			l.Close()
			delete(s.listeners, ap)
			s.deps.Logger.Info("stopped listening", "addr", ap.String())
		}
	}
	for ap := range released {
		s.deps.Logger.Info("stopped listening", "addr", ap.String())
	}

	st := &state{connectors: snap.Connectors, domains: snap.Domains, servers: map[string]*connServer{}, filter: snap.Filter}
	for i := range st.connectors {
		rc := &st.connectors[i]
		if !rc.Enabled {
			continue
		}
		st.servers[rc.Name] = s.newConnServer(st, rc)
	}
	// Open sessions go on with the connector they started with; new ones
	// get st.
	s.cur.Store(st)
	return nil
}

// serveListener records l as the listener of ap and starts accepting on
// it. s.mu is held.
func (s *Server) serveListener(ap netip.AddrPort, l net.Listener) {
	s.listeners[ap] = l
	s.wg.Add(1)
	go func() {
		defer s.wg.Done()
		s.acceptLoop(l)
	}()
}

// droppedOverlapping returns our listeners that want no longer has and
// that keep ap from being bound: same port and family, and one of the two
// is the wildcard address. s.mu is held.
func (s *Server) droppedOverlapping(ap netip.AddrPort, want map[netip.AddrPort]bool) []netip.AddrPort {
	var out []netip.AddrPort
	for old := range s.listeners {
		if want[old] || old.Port() != ap.Port() || old.Addr().Is4() != ap.Addr().Is4() {
			continue
		}
		if old.Addr().IsUnspecified() || ap.Addr().IsUnspecified() || old.Addr() == ap.Addr() {
			out = append(out, old)
		}
	}
	return out
}

func listen(ctx context.Context, ap netip.AddrPort) (net.Listener, error) {
	network := "tcp4"
	if ap.Addr().Is6() {
		network = "tcp6"
	}
	// No TCP keepalive on accepted connections: every connector closes a
	// connection idle for ConnectionInactivityTimeout (never 0), sooner
	// than keepalive would find a dead peer, and the probes' settings cost
	// four system calls per connection.
	lc := net.ListenConfig{KeepAlive: -1}
	l, err := lc.Listen(ctx, network, ap.String())
	if err != nil {
		if errors.Is(err, syscall.EACCES) {
			return nil, fmt.Errorf("cannot listen on %s: %w (ports below 1024 need root or CAP_NET_BIND_SERVICE: setcap cap_net_bind_service=+ep transportd)", ap, err)
		}
		return nil, fmt.Errorf("cannot listen on %s: %w", ap, err)
	}
	return l, nil
}

func (s *Server) newConnServer(st *state, rc *connector.ReceiveConnector) *connServer {
	cs := &connServer{st: st, rc: rc}
	if rc.AuthMechanism.Has(permissions.MechTLS) && s.deps.Certs != nil {
		// The connector's settings of this configuration version: a session
		// keeps the name and FQDN it started with, while the certificate
		// itself is looked up in the store at every handshake, so a
		// renewed certificate is served without a restart.
		cs.tls = s.deps.Certs.ServerTLSConfig(func() (string, string) { return rc.TlsCertificateName, rc.Fqdn })
		if rc.AllowLegacyTLSClients {
			certs.AllowLegacyClients(cs.tls)
		}
	}
	if w := rc.LegacyTLSWarning(); w != "" {
		// Said at every start and reload, so that an opening for old
		// devices is never forgotten.
		s.deps.Logger.Warn(w, "connector", rc.Name, "remoteIPRanges", rc.RemoteIPRanges.String())
	}
	return cs
}

func (s *Server) acceptLoop(l net.Listener) {
	var delay time.Duration
	for {
		c, err := l.Accept()
		if err != nil {
			if errors.Is(err, net.ErrClosed) {
				return
			}
			if delay == 0 {
				delay = 5 * time.Millisecond
			} else if delay *= 2; delay > time.Second {
				delay = time.Second
			}
			s.deps.Logger.Warn("accept failed", "err", err, "retry_in", delay)
			select {
			case <-time.After(delay):
			case <-s.ctx.Done():
				return
			}
			continue
		}
		delay = 0
		if !s.track(c) {
			c.Close()
			return
		}
		select {
		case s.handoff <- c: // a worker whose connection ended takes it
		default:
			s.wg.Add(1)
			go s.worker(c)
		}
	}
}

// workerIdle is how long a worker waits for another connection after its
// connection ended.
const workerIdle = 10 * time.Second

// worker serves connection c, then the connections the accept loops hand
// it, until none comes for workerIdle. Serving connections one after
// another on one goroutine spares each the goroutine start and the stack
// growth that a session's first message costs (a connection per message
// is common: applications and smtp-source send so). Its goroutine is
// counted in s.wg, apart from the connections it serves.
func (s *Server) worker(c net.Conn) {
	defer s.wg.Done()
	idle := time.NewTimer(workerIdle)
	defer idle.Stop()
	for {
		s.dispatch(c)
		idle.Reset(workerIdle)
		select {
		case c = <-s.handoff:
		case <-idle.C:
			return
		case <-s.ctx.Done():
			return
		}
	}
}

// dispatch picks the connector for a new connection and hands it over.
func (s *Server) dispatch(c net.Conn) {
	defer s.untrack(c)
	defer func() {
		// Nothing a client sends may take the daemon down.
		if p := recover(); p != nil {
			s.deps.Logger.Error("internal error while accepting a connection", "panic", fmt.Sprint(p), "remote", c.RemoteAddr().String())
			c.Close()
		}
	}()
	local := addrPort(c.LocalAddr())
	remote := addrPort(c.RemoteAddr())
	st := s.cur.Load()
	if connector.ProxyTrusted(st.connectors, local, remote) { // PROXY protocol (proxy.go)
		pc, ok := s.readProxyHeader(c, local, remote)
		if !ok {
			c.Close()
			return
		}
		c, remote = pc, addrPort(pc.RemoteAddr())
	}
	rc := connector.Select(st.connectors, local, remote)
	if rc == nil {
		s.deps.Logger.Info("connection refused: no receive connector for this address", "local", local.String(), "remote", remote.String())
		c.SetWriteDeadline(time.Now().Add(10 * time.Second))
		fmt.Fprintf(c, "554 5.7.1 %s is not allowed to connect: no receive connector accepts connections from this address\r\n", remote.Addr())
		c.Close()
		return
	}
	cs := st.servers[rc.Name]
	if s.refuseDraining(c, cs) {
		return
	}
	release, refusal := s.deps.Limiter.AcquireShare(rc.Name, remote.Addr(), int(rc.MaxInboundConnection), int(rc.MaxInboundConnectionPerSource), rc.MaxInboundConnectionPercentagePerSource)
	if refusal != nil {
		s.deps.Logger.Info("connection refused", "connector", rc.Name, "remote", remote.String(), "reply", refusal.Error())
		c.SetWriteDeadline(time.Now().Add(10 * time.Second))
		if rc.ImplicitTls {
			c = s.implicitTLSForRefusal(c, cs)
		}
		fmt.Fprintf(c, "%s\r\n", refusal.Error())
		c.Close()
		return
	}
	tlsCfg := cs.tls
	if tlsCfg != nil {
		if cert, problem := s.deps.Certs.Select(rc.TlsCertificateName, rc.Fqdn, time.Now()); cert == nil {
			if !rc.ImplicitTls { // implicitTLS logs its own refusal
				s.deps.Logger.Error("STARTTLS not offered", "connector", rc.Name, "problem", string(problem))
			}
			tlsCfg = nil
		}
	}
	obs, name := s.deps.Observer, rc.Name
	cn := &conn{srv: s, cs: cs, raw: c, tlsCfg: tlsCfg, idle: rc.ConnectionInactivityTimeout.Duration(), remoteIP: remote.Addr().String()}
	if ta, ok := c.RemoteAddr().(*net.TCPAddr); ok {
		cn.remoteIP = ta.IP.String()
	}
	if rc.ProtocolLoggingLevel == protolog.LevelVerbose {
		cn.plog = s.deps.ProtocolLog.Session(rc.Name, local.String(), remote.String())
	}
	cn.sessionID = cn.plog.ID()
	if cn.sessionID == "" {
		cn.sessionID = fmt.Sprintf("%016X", s.sessionSeq.Add(1))
	}
	if obs != nil {
		cn.onTLS = func(st *tls.ConnectionState) { obs.TLSNegotiated(name, st.Version) }
		obs.ConnectionOpened(name)
	}
	if d, ok := st.domains.Default(); ok && !strings.HasPrefix(d.DomainName, "*") {
		cn.postmaster = "postmaster@" + d.DomainName
	}
	if d := rc.ConnectionTimeout.Duration(); d > 0 {
		t := time.AfterFunc(d, func() { c.Close() })
		defer t.Stop()
	}
	defer func() {
		c.Close()
		cn.releaseBuffers()
		cn.plog.Disconnect()
		release()
		if obs != nil {
			obs.ConnectionClosed(name)
		}
	}()
	cn.setStream(c)
	cn.sess = s.newSession(cn)
	cn.plog.Connect()
	if rc.ImplicitTls && !cn.implicitTLS() {
		return
	}
	cn.serve()
}

// track records an open connection, for Close; false when the server is
// closing. The connection is counted in s.wg until its dispatch ends.
func (s *Server) track(c net.Conn) bool {
	s.mu.Lock()
	defer s.mu.Unlock()
	if s.closed {
		return false
	}
	s.conns[c] = struct{}{}
	s.wg.Add(1)
	return true
}

func (s *Server) untrack(c net.Conn) {
	s.mu.Lock()
	delete(s.conns, c)
	s.mu.Unlock()
	s.wg.Done()
}

func addrPort(a net.Addr) netip.AddrPort {
	if ta, ok := a.(*net.TCPAddr); ok {
		return ta.AddrPort()
	}
	ap, _ := netip.ParseAddrPort(a.String())
	return ap
}

// newSession starts the session state of a connection, at its start and
// again after STARTTLS.
func (s *Server) newSession(c *conn) *session {
	sess := &session{
		srv: s, st: c.cs.st, rc: c.cs.rc, conn: c,
		remote: addrPort(c.raw.RemoteAddr()), local: addrPort(c.raw.LocalAddr()),
		id: c.sessionID,
	}
	sess.log = protolog.LoggerWith(s.deps.Logger, "connector", c.cs.rc.Name, "remote", sess.remote.String(), "session", sess.id)
	return sess
}

// Close stops listening, closes every session and waits for their
// goroutines.
func (s *Server) Close() error {
	s.mu.Lock()
	s.closed = true
	for ap, l := range s.listeners {
		l.Close()
		delete(s.listeners, ap)
	}
	for c := range s.conns {
		c.Close()
	}
	s.mu.Unlock()
	s.stop()
	s.wg.Wait()
	return nil
}
