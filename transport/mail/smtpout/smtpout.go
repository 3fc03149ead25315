// Package smtpout delivers queued messages through a send connector: to the
// connector's smart hosts in order, or to the MX hosts of the recipient
// domain. It speaks SMTP with github.com/emersion/go-smtp's client, uses
// STARTTLS (RFC 3207) and AUTH PLAIN or LOGIN (RFC 4954) as the connector
// says, and keeps a few idle connections per host for the next message.
//
// A Sender is a delivery.Target: every recipient gets a result carrying the
// reply that decided it, in the form DSNs and logs show.
//
// On MX delivery the recipient domain's TLS policies apply (tlspolicy.go):
// DANE (RFC 7672, package dane) ahead of MTA-STS (RFC 8461, package
// mtasts), with every session's outcome for TLS reports (RFC 8460, package
// tlsrpt); a message with REQUIRETLS (RFC 8689) goes only over validated
// TLS to servers that offer REQUIRETLS.
package smtpout

import (
	"context"
	"crypto/x509"
	"errors"
	"fmt"
	"io"
	"log/slog"
	"net"
	"strings"
	"sync"
	"time"

	"github.com/emersion/go-smtp"

	"github.com/transportd/transportd/connector/protolog"
	"github.com/transportd/transportd/transport/mail/delivery"
	"github.com/transportd/transportd/transport/mail/sendconnector"
)

// MXResolver looks up the MX records of a domain. *net.Resolver implements it.
type MXResolver interface {
	LookupMX(ctx context.Context, domain string) ([]*net.MX, error)
}

// Options configure a Sender.
type Options struct {
	// Connector is the send connector to deliver through; it should be valid
	// (sendconnector.SendConnector.Validate).
	Connector sendconnector.SendConnector
	// HeloName is the EHLO name when Connector.Fqdn is empty: the server FQDN.
	HeloName string
	// Resolver looks up MX records with DNSRoutingEnabled; nil uses net.DefaultResolver.
	Resolver MXResolver
	// RootCAs verify certificates for CertificateValidation and
	// DomainValidation; nil uses the system roots.
	RootCAs *x509.CertPool
	// Logger receives one line per attempt and per outcome; nil discards.
	Logger *slog.Logger
	// DialTimeout bounds each TCP connect; 0 means 30 seconds.
	DialTimeout time.Duration
	// ProtocolLog, when set, receives the send protocol log of every connection.
	ProtocolLog *protolog.Log
	// OnTLS, when set, is called with the version of every TLS session negotiated.
	OnTLS func(version uint16)

	// OAuth serves token requests of a connector with SmartHostAuthMechanism OAuth.
	OAuth OAuthEnv

	// DNS, when set, resolves MX records and host names (the transport
	// service's ExternalDNSServers, see NewResolver) instead of Resolver
	// and the system's resolver.
	DNS *net.Resolver

	// TLSPolicies are the recipient domains' MTA-STS and DANE policies,
	// applied to MX delivery (tlspolicy.go); zero: none.
	TLSPolicies TLSPolicies
}

// Timeouts and limits.
const (
	defaultDialTimeout = 30 * time.Second
	// commandTimeout is RFC 5321 section 4.5.3.2's shortest command timeout
	// (5 minutes, for the greeting, MAIL, RCPT and DATA initiation).
	commandTimeout = 5 * time.Minute
	// dataTimeout is RFC 5321 section 4.5.3.2.6's wait for the reply to
	// the final dot: 10 minutes.
	dataTimeout = 10 * time.Minute
	// quitTimeout bounds the polite QUIT when closing an idle connection.
	quitTimeout = 10 * time.Second
	// maxIdlePerHost is how many idle connections are kept per host for
	// the connector's ConnectionInactivityTimeout.
	maxIdlePerHost = 3
	// maxBurstIdlePerHost is how many more are kept for a short while
	// (burstIdle) after a burst, so that the parallel deliveries of a busy
	// queue (MaxPerQueueConcurrency, 20 by default) reuse their connections
	// instead of opening one per message, as Postfix's connection cache
	// does for destinations with a backlog.
	maxBurstIdlePerHost = 100
)

// Sender delivers through one send connector. It is safe for concurrent
// use; each delivery uses its own connection.
type Sender struct {
	conn     sendconnector.SendConnector
	helo     string
	resolver MXResolver
	roots    *x509.CertPool
	log      *slog.Logger
	dialer   net.Dialer
	idleTTL  time.Duration
	// burstIdle is how long connections beyond maxIdlePerHost stay idle
	// (freshIdle; tests shorten it).
	burstIdle time.Duration
	cmdTTL    time.Duration
	dataTTL   time.Duration
	plog      *protolog.Log
	onTLS     func(version uint16)
	// oauth caches the access token of an OAuth connector (nil otherwise).
	oauth *tokenCache
	// implicitPort is the port reached with implicit TLS; "": 465.
	implicitPort string

	clientCert ClientCertificateFunc // TlsCertificateName; nil: none

	policies TLSPolicies // MTA-STS and DANE on MX delivery

	mu     sync.Mutex
	idle   map[string][]*session // by host key, most recently used last
	closed bool
	wg     sync.WaitGroup // idle connections being closed by their timers
}

// New returns a Sender for o.Connector. It opens nothing until Deliver.
func New(o Options) *Sender {
	s := &Sender{
		conn:      o.Connector,
		helo:      o.Connector.Fqdn,
		resolver:  o.Resolver,
		roots:     o.RootCAs,
		log:       o.Logger,
		idle:      make(map[string][]*session),
		plog:      o.ProtocolLog,
		onTLS:     o.OnTLS,
		burstIdle: freshIdle,
		policies:  o.TLSPolicies,
	}
	if s.helo == "" {
		s.helo = o.HeloName
	}
	s.SetOAuth(o.OAuth)
	if s.helo == "" {
		s.helo = "localhost"
	}
	if o.DNS != nil {
		s.resolver, s.dialer.Resolver = o.DNS, o.DNS
	}
	if s.resolver == nil {
		s.resolver = net.DefaultResolver
	}
	if a, ok := o.Connector.SourceAddr(); ok {
		// SourceIPAddress: every connection leaves from this address; the
		// dialer then only tries remote addresses of its family.
		s.dialer.LocalAddr = &net.TCPAddr{IP: a.AsSlice()}
	}
	if s.log == nil {
		s.log = slog.New(slog.DiscardHandler)
	}
	s.log = s.log.With("connector", o.Connector.Name)
	s.dialer.Timeout = o.DialTimeout
	if s.dialer.Timeout <= 0 {
		s.dialer.Timeout = defaultDialTimeout
	}
	s.idleTTL = o.Connector.ConnectionInactivityTimeout.Duration()
	if s.idleTTL <= 0 {
		s.idleTTL = sendconnector.DefaultConnectionInactivityTimeout.Duration()
	}
	// A server silent for longer than the connector's inactivity timeout
	// is given up on, even within the RFC's longer command timeouts.
	s.cmdTTL, s.dataTTL = min(commandTimeout, s.idleTTL), min(dataTimeout, s.idleTTL)
	return s
}

// SetProtocolLog makes the Sender write the send protocol log to l (nil:
// none) and report negotiated TLS versions to onTLS. Call it before the
// first Deliver.
func (s *Sender) SetProtocolLog(l *protolog.Log, onTLS func(version uint16)) {
	s.plog, s.onTLS = l, onTLS
}

// Deliver sends msg to rcpts, which must share one next hop (the caller
// groups recipients by domain). Hosts are tried in order until one gives
// replies for the recipients; the result for each recipient is nil when the
// next hop accepted it, or a *delivery.Error.
func (s *Sender) Deliver(ctx context.Context, msg *delivery.Message, rcpts []string) []delivery.Result {
	if len(rcpts) == 0 {
		return nil
	}
	log := protolog.LoggerWith(s.log, "msg", msg.ID)
	if limit := int64(s.conn.MaxMessageSize); limit > 0 && msg.Size > limit {
		return all(rcpts, &delivery.Error{Code: 552, Enhanced: [3]int{5, 3, 4},
			Message: fmt.Sprintf("message size %d bytes exceeds the limit of send connector %q (%s)", msg.Size, s.conn.Name, s.conn.MaxMessageSize)})
	}
	hosts, herr := s.hosts(ctx, domainOf(rcpts[0]))
	if herr != nil {
		herr = s.downgradeDNS(herr)
		herr.Connection = !herr.Permanent() // no host to try: the next hop is down
		log.Warn("no route", "domain", domainOf(rcpts[0]), "err", herr)
		return all(rcpts, herr)
	}
	if hosts, herr = s.applyTLSPolicies(ctx, log, msg, domainOf(rcpts[0]), hosts); herr != nil {
		herr.Connection = true
		log.Warn("no host allowed by the TLS policy", "domain", domainOf(rcpts[0]), "err", herr)
		return all(rcpts, herr)
	}
	if msg.RequireTLS {
		for i := range hosts {
			hosts[i].requireTLS = true
		}
	}
	var last *delivery.Error
	for _, h := range hosts {
		if err := ctx.Err(); err != nil {
			last = tempf(h.name, [3]int{4, 4, 2}, "delivery through %s interrupted: %v", h.name, err)
			break
		}
		res, herr := s.attempt(ctx, log, h, msg, rcpts)
		if herr == nil {
			return res
		}
		herr = s.downgradeDNS(herr)
		log.Warn("host failed, trying the next one", "host", h.name, "addr", h.addr, "err", herr)
		last = herr
	}
	return all(rcpts, last)
}

// attempt runs one transaction on h. It returns the results when h decided
// them, or a host error when the next host should be tried.
func (s *Sender) attempt(ctx context.Context, log *slog.Logger, h host, msg *delivery.Message, rcpts []string) ([]delivery.Result, *delivery.Error) {
	if h.policy != nil && h.policy.err != nil {
		return nil, h.policy.err
	}
	for fresh := false; ; fresh = true {
		sess, herr := s.acquire(ctx, log, h, fresh)
		if herr != nil {
			// No session: connect, greeting, TLS or AUTH failed, before
			// any recipient was named. The queue waits for the host.
			herr.Connection = !herr.Permanent() && ctx.Err() == nil
			return nil, herr
		}
		stop := context.AfterFunc(ctx, func() { sess.raw.Close() })
		out := s.transact(log, sess, msg, rcpts)
		for i := range out.results {
			out.results[i].Info = sess.policyInfo
		}
		sess.sent++
		if !stop() {
			out.keep = false
			if out.hostErr != nil {
				out.hostErr = tempf(h.name, [3]int{4, 4, 2}, "delivery to %s interrupted: %v", h.name, ctx.Err())
			}
		}
		switch {
		case out.keep && sess.sent >= s.conn.MaxMessagesPerConnection():
			// SmtpMaxMessagesPerConnection: this connection has carried
			// its share; QUIT, and the next message opens a new one.
			sess.quit()
		case out.keep:
			s.release(sess)
		default:
			sess.close()
		}
		if out.retryFresh && !fresh && ctx.Err() == nil {
			log.Debug("reused connection failed; opening a new one", "host", h.name, "err", out.hostErr)
			continue
		}
		return out.results, out.hostErr
	}
}

// outcome is what one transaction on a session came to.
type outcome struct {
	results    []delivery.Result
	hostErr    *delivery.Error // try the next host
	keep       bool            // the connection is clean and may be reused
	retryFresh bool            // a reused connection broke before MAIL was answered
}

func (s *Sender) transact(log *slog.Logger, sess *session, msg *delivery.Message, rcpts []string) outcome {
	h, c := sess.host, sess.c
	sess.clean = false // until this transaction has ended with the final reply
	results := make([]delivery.Result, len(rcpts))
	for i, r := range rcpts {
		results[i].Recipient = r
	}
	final := func(err *delivery.Error, keep bool) outcome {
		for i := range results {
			results[i].Err = err
		}
		return outcome{results: results, keep: keep}
	}
	if bad := strings.ContainsAny(msg.From, "\r\n\x00<>"); bad {
		return final(delivery.Permanentf([3]int{5, 1, 7}, "sender address %q is not valid", msg.From), true)
	}
	// RFC 1870 section 6: a message larger than the advertised SIZE
	// would be refused; say so without sending it.
	if sess.maxSize > 0 && msg.Size > sess.maxSize {
		return final(&delivery.Error{Code: 552, Enhanced: [3]int{5, 3, 4}, RemoteMTA: h.name,
			Message: fmt.Sprintf("message size %d bytes exceeds the limit of %d bytes advertised by %s", msg.Size, sess.maxSize, h.name)}, true)
	}
	opts := &smtp.MailOptions{Size: msg.Size, RequireTLS: msg.RequireTLS}
	if msg.SMTPUTF8 || !isASCII(msg.From) || !allASCII(rcpts) {
		// RFC 6531 section 3.4: an address in UTF-8, or a message that came
		// with SMTPUTF8 (its header may carry UTF-8), needs SMTPUTF8; a next
		// hop without it gets nothing (RFC 6531 section 3.7.5's choice of
		// rejecting rather than downgrading).
		if ok, _ := c.Extension("SMTPUTF8"); !ok {
			return final(delivery.Permanentf([3]int{5, 6, 7}, "%s does not support SMTPUTF8, which this internationalized message needs", h.name), true)
		}
		opts.UTF8 = true
	}
	body, err := msg.Open()
	if err != nil {
		return final(delivery.Temporary([3]int{4, 3, 0}, "cannot read message %s: %v", msg.ID, err), true)
	}
	defer body.Close()

	if sess.pipelining {
		var valid []int
		for i, r := range rcpts {
			if strings.ContainsAny(r, "\r\n\x00<>") {
				results[i].Err = delivery.Permanentf([3]int{5, 1, 3}, "recipient address %q is not valid", r)
				continue
			}
			valid = append(valid, i)
		}
		return s.pipelined(log, sess, msg, body, opts.UTF8, results, valid)
	}
	if err := c.Mail(msg.From, opts); err != nil {
		if e, ok := replyOf(err, h.name); ok {
			return final(e, !closing(err))
		}
		return outcome{hostErr: lost(h, "MAIL", err), retryFresh: sess.reused}
	}
	var accepted []int
	for i, r := range rcpts {
		if strings.ContainsAny(r, "\r\n\x00<>") {
			results[i].Err = delivery.Permanentf([3]int{5, 1, 3}, "recipient address %q is not valid", r)
			continue
		}
		err := c.Rcpt(r, nil)
		if err == nil {
			accepted = append(accepted, i)
			continue
		}
		e, ok := replyOf(err, h.name)
		if !ok {
			return outcome{hostErr: lost(h, "RCPT", err)}
		}
		results[i].Err = e
		if closing(err) { // 421: the server is going away; nobody is delivered
			for j := range results {
				if j > i || results[j].Err == nil {
					results[j].Err = e
				}
			}
			return outcome{results: results}
		}
	}
	if len(accepted) == 0 {
		// The open transaction is reset before the connection's next use.
		return outcome{results: results, keep: true}
	}
	forAccepted := func(e *delivery.Error) {
		for _, i := range accepted {
			results[i].Err = e
		}
	}
	w, err := c.Data()
	if err != nil {
		e, ok := replyOf(err, h.name)
		if !ok {
			return outcome{hostErr: lost(h, "DATA", err)}
		}
		forAccepted(e)
		return outcome{results: results, keep: !closing(err)}
	}
	src := &readTracker{r: body}
	data := newCRLFReader(src)
	defer data.release()
	if _, err := io.Copy(w, data); err != nil {
		if src.err != nil {
			// Ending DATA now would send a truncated message: drop the
			// connection instead, which makes the server discard it.
			forAccepted(delivery.Temporary([3]int{4, 3, 0}, "cannot read message %s: %v", msg.ID, src.err))
			return outcome{results: results}
		}
		return outcome{hostErr: lost(h, "message data", err)}
	}
	resp, err := w.CloseWithResponse()
	if err != nil {
		e, ok := replyOf(err, h.name)
		if !ok {
			// The message may have arrived (RFC 1047): retry later, but not
			// elsewhere now.
			e = tempf(h.name, [3]int{4, 4, 2}, "connection to %s lost after the end of data, the message may have been delivered: %v", h.name, err)
			forAccepted(e)
			return outcome{results: results}
		}
		forAccepted(e)
		sess.clean = true
		return outcome{results: results, keep: !closing(err)}
	}
	sess.clean = true
	log.Debug("delivered", "host", h.name, "tls", sess.tls, "reused", sess.reused, "accepted", len(accepted), "of", len(rcpts), "reply", resp.StatusText)
	return outcome{results: results, keep: true}
}

// readTracker remembers the error of the message reader, to tell a local
// read failure from a broken connection.
type readTracker struct {
	r   io.Reader
	err error
}

func (t *readTracker) Read(p []byte) (int, error) {
	n, err := t.r.Read(p)
	if err != nil && err != io.EOF {
		t.err = err
	}
	return n, err
}

func all(rcpts []string, err error) []delivery.Result {
	out := make([]delivery.Result, len(rcpts))
	for i, r := range rcpts {
		out[i] = delivery.Result{Recipient: r, Err: err}
	}
	return out
}

func domainOf(addr string) string {
	if i := strings.LastIndexByte(addr, '@'); i >= 0 {
		return addr[i+1:]
	}
	return ""
}

func isASCII(s string) bool {
	for i := range len(s) {
		if s[i] >= 0x80 {
			return false
		}
	}
	return true
}

func allASCII(ss []string) bool {
	for _, s := range ss {
		if !isASCII(s) {
			return false
		}
	}
	return true
}

// tempf builds a transient failure of ours about host.
func tempf(host string, enhanced [3]int, format string, args ...any) *delivery.Error {
	e := delivery.Temporary(enhanced, format, args...)
	e.RemoteMTA = host
	return e
}

// lost describes a connection that broke during a command.
func lost(h host, during string, err error) *delivery.Error {
	var ne net.Error
	if errors.As(err, &ne) && ne.Timeout() {
		return tempf(h.name, [3]int{4, 4, 2}, "%s did not answer %s in time: %v", h.name, during, err)
	}
	return tempf(h.name, [3]int{4, 4, 2}, "connection to %s lost during %s: %v", h.name, during, err)
}

// replyOf turns a server reply into a delivery error. ok is false when err
// is not a reply (a broken connection).
func replyOf(err error, host string) (*delivery.Error, bool) {
	var se *smtp.SMTPError
	if !errors.As(err, &se) {
		return nil, false
	}
	return fromReply(se.Code, [3]int(se.EnhancedCode), se.Message, host), true
}

// fromReply builds the delivery error for a reply. The enhanced code
// (RFC 3463) must share the reply's class; when it is missing or does not,
// X.0.0 of the reply's class is used (RFC 3463 section 3.1).
func fromReply(code int, enhanced [3]int, text, host string) *delivery.Error {
	text = strings.Join(strings.Fields(strings.ReplaceAll(text, "\n", " ")), " ")
	if code < 400 || code > 599 {
		return &delivery.Error{Code: 451, Enhanced: [3]int{4, 5, 0}, RemoteMTA: host,
			Message: fmt.Sprintf("unexpected reply from %s: %d %s", host, code, text)}
	}
	class := code / 100
	if enhanced[0] != class || enhanced[1] < 0 || enhanced[2] < 0 {
		enhanced = [3]int{class, 0, 0}
	}
	return &delivery.Error{Code: code, Enhanced: enhanced, Message: text, RemoteMTA: host}
}

// closing reports a 421 reply: the server closes the connection (RFC 5321
// section 3.8).
func closing(err error) bool {
	var se *smtp.SMTPError
	return errors.As(err, &se) && se.Code == 421
}

// downgradeDNS applies ErrorPolicies DowngradeDnsFailures: a permanent
// failure that comes from DNS (the domain does not exist, has no address,
// or has a null MX, RFC 7505) becomes transient, so the message waits and
// is retried instead of bouncing at once.
func (s *Sender) downgradeDNS(e *delivery.Error) *delivery.Error {
	if e == nil || !e.Permanent() || !s.conn.HasErrorPolicy(sendconnector.ErrorPolicyDowngradeDnsFailures) {
		return e
	}
	switch e.Enhanced {
	case [3]int{5, 1, 2}, [3]int{5, 1, 10}, [3]int{5, 4, 4}:
	default:
		return e
	}
	d := *e
	d.Code, d.Enhanced = 451, [3]int{4, e.Enhanced[1], e.Enhanced[2]}
	d.Message = e.Message + " (treated as transient: send connector " + s.conn.Name + " has ErrorPolicies DowngradeDnsFailures)"
	return &d
}
