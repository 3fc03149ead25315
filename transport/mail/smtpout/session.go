package smtpout

import (
	"bufio"
	"context"
	"crypto/tls"
	"crypto/x509"
	"errors"
	"fmt"
	"io"
	"log/slog"
	"net"
	"net/textproto"
	"os"
	"strings"
	"syscall"
	"time"

	"github.com/emersion/go-sasl"
	"github.com/emersion/go-smtp"

	"github.com/transportd/transportd/connector/protolog"
	"github.com/transportd/transportd/transport/mail/delivery"
	"github.com/transportd/transportd/transport/mail/sendconnector"
)

// session is an open, greeted (and, as configured, encrypted and
// authenticated) SMTP connection to one host.
type session struct {
	host host
	raw  net.Conn // the TCP connection: closing it ends everything
	c    *smtp.Client
	// br reads the server: go-smtp's client reads its replies through it,
	// pipelined transactions (tr) theirs; w is the connection above TLS
	// (and the protocol log) that they write to, through bw.
	br         *bufio.Reader
	tr         *textproto.Reader
	w          io.Writer
	bw         *bufio.Writer
	pipelining bool   // PIPELINING (RFC 2920) in the last EHLO
	lastReply  string // the text of the last pipelined reply read
	tls        bool
	reused     bool
	maxSize    int64       // SIZE advertised in the last EHLO; 0 = none
	timer      *time.Timer // closes the connection while idle in the pool
	plog       *protolog.Session
	idleAt     time.Time // when it went back to the pool
	clean      bool      // the last transaction ended with its final reply
	sent       int       // transactions run on it (SmtpMaxMessagesPerConnection)

	policyInfo string // TLS policy outcome for message tracking (tlspolicy.go)
}

// freshIdle is how long an idle connection is taken for the next
// transaction straight away: after a completed transaction the next MAIL
// may follow at once (RFC 5321 section 4.1.4), and a connection that broke
// meanwhile fails before MAIL is answered and is replaced transparently.
// Longer idle connections are checked with RSET and EHLO first.
const freshIdle = 5 * time.Second

// close ends the session without QUIT.
func (ss *session) close() { ss.raw.Close(); ss.plog.Disconnect() }

// quit ends the session politely.
func (ss *session) quit() {
	ss.c.CommandTimeout = quitTimeout
	if err := ss.c.Quit(); err != nil {
		ss.c.Close()
	}
	ss.raw.Close()
	ss.plog.Disconnect()
}

// updateSize reads SIZE (and PIPELINING) from the last EHLO.
func (ss *session) updateSize() {
	ss.maxSize = 0
	if n, ok := ss.c.MaxMessageSize(); ok && n > 0 {
		ss.maxSize = int64(n)
	}
	ss.pipelining, _ = ss.c.Extension("PIPELINING")
}

// acquire returns a session with h: an idle pooled one that still answers
// RSET and EHLO, or a new one. With fresh the pool is skipped.
func (s *Sender) acquire(ctx context.Context, log *slog.Logger, h host, fresh bool) (*session, *delivery.Error) {
	for !fresh {
		ss := s.popIdle(h.key())
		if ss == nil {
			break
		}
		if ss.clean && time.Since(ss.idleAt) < freshIdle {
			ss.reused = true
			return ss, nil
		}
		stop := context.AfterFunc(ctx, func() { ss.raw.Close() })
		err := ss.c.Reset() // RSET; go-smtp then wants a new EHLO
		if err == nil {
			err = ss.c.Hello(s.helo)
		}
		if !stop() && err == nil {
			err = ctx.Err()
		}
		if err == nil {
			ss.reused = true
			ss.updateSize()
			return ss, nil
		}
		log.Debug("idle connection no longer usable", "host", h.name, "err", err)
		ss.close()
	}
	return s.open(ctx, log, h)
}

// popIdle takes the most recently used idle session for key.
func (s *Sender) popIdle(key string) *session {
	s.mu.Lock()
	defer s.mu.Unlock()
	l := s.idle[key]
	if len(l) == 0 {
		return nil
	}
	ss := l[len(l)-1]
	l[len(l)-1] = nil
	if len(l) == 1 {
		delete(s.idle, key)
	} else {
		s.idle[key] = l[:len(l)-1]
	}
	ss.timer.Stop()
	return ss
}

// release puts a clean session in the idle pool, or closes it when the
// pool is full or the Sender closed. The first maxIdlePerHost stay for the
// inactivity timeout, the others for burstIdle.
func (s *Sender) release(ss *session) {
	key := ss.host.key()
	s.mu.Lock()
	n := len(s.idle[key])
	if s.closed || n >= maxBurstIdlePerHost {
		s.mu.Unlock()
		ss.quit()
		return
	}
	ttl := s.idleTTL
	if n >= maxIdlePerHost {
		ttl = min(ttl, s.burstIdle)
	}
	ss.idleAt = time.Now()
	if ss.timer == nil {
		ss.timer = time.AfterFunc(ttl, func() { s.expire(key, ss) })
	} else {
		ss.timer.Reset(ttl) // stopped by popIdle; one timer per session, not per message
	}
	s.idle[key] = append(s.idle[key], ss)
	s.mu.Unlock()
}

// expire closes ss if it is still idle in the pool.
func (s *Sender) expire(key string, ss *session) {
	s.mu.Lock()
	l := s.idle[key]
	i := -1
	for j, x := range l {
		if x == ss {
			i = j
		}
	}
	if i < 0 {
		s.mu.Unlock()
		return
	}
	s.idle[key] = append(l[:i:i], l[i+1:]...)
	if len(s.idle[key]) == 0 {
		delete(s.idle, key)
	}
	s.wg.Add(1)
	s.mu.Unlock()
	defer s.wg.Done()
	ss.quit()
}

// Close sends QUIT on every idle connection and closes them. Deliver may
// still be called afterwards; its connections are then not kept.
func (s *Sender) Close() error {
	s.mu.Lock()
	s.closed = true
	var idle []*session
	for _, l := range s.idle {
		for _, ss := range l {
			ss.timer.Stop()
			idle = append(idle, ss)
		}
	}
	s.idle = make(map[string][]*session)
	s.mu.Unlock()
	for _, ss := range idle {
		ss.quit()
	}
	s.wg.Wait()
	return nil
}

// open connects to h and brings the session to the point where MAIL may
// be sent: greeting, EHLO, STARTTLS (RFC 3207) and AUTH (RFC 4954) as the
// connector says. Every error is a host error: the next host is tried.
func (s *Sender) open(ctx context.Context, log *slog.Logger, h host) (*session, *delivery.Error) {
	raw, err := s.dialer.DialContext(ctx, "tcp", h.addr)
	if err != nil {
		return nil, dialError(h, err, s.dialer.Timeout)
	}
	psess := s.plog.Session(s.conn.Name, raw.LocalAddr().String(), raw.RemoteAddr().String())
	psess.Connect()
	stop := context.AfterFunc(ctx, func() { raw.Close() })
	ss, herr := s.handshakeLogged(log, h, raw, psess)
	if !stop() && herr == nil {
		herr = tempf(h.name, [3]int{4, 4, 2}, "delivery to %s interrupted: %v", h.name, ctx.Err())
	}
	if herr != nil {
		s.reportFailure(h, raw, herr)
		raw.Close()
		psess.Info(herr.Error(), "")
		psess.Disconnect()
		return nil, herr
	}
	return ss, nil
}

func (s *Sender) handshake(log *slog.Logger, h host, raw net.Conn) (*session, *delivery.Error) {
	return s.handshakeLogged(log, h, raw, nil)
}

// handshakeLogged is handshake writing the protocol log to psess (nil: none).
func (s *Sender) handshakeLogged(log *slog.Logger, h host, raw net.Conn, psess *protolog.Session) (*session, *delivery.Error) {
	if err := raw.SetDeadline(time.Now().Add(s.cmdTTL)); err != nil {
		return nil, lost(h, "connect", err)
	}
	var base net.Conn = raw
	var policyTLS *tls.ConnectionState // the TLS session a recipient-domain policy is checked on
	if h.implicitTLS {
		tc, herr := s.implicitTLS(h, raw, psess)
		if herr != nil {
			return nil, herr
		}
		base = tc
		st := tc.ConnectionState()
		policyTLS = &st
	}
	logged := psess.Client(base) // plaintext lines; TLS records pass below it
	tp := textproto.NewConn(logged)
	if _, _, err := tp.ReadResponse(220); err != nil {
		return nil, replyOrLost(h, "the greeting", err)
	}
	var (
		conn  net.Conn  = logged
		rest  io.Reader = tp.R // whatever the server sent that we have not read
		isTLS           = h.implicitTLS
	)
	// RequireTLS wins over IgnoreSTARTTLS (Validate refuses the pair):
	// never send in clear when TLS is required. A DANE or MTA-STS enforce
	// policy of the recipient domain requires it too.
	requireTLS := s.conn.RequireTLS || h.policy.mustTLS() || h.requireTLS
	if !h.implicitTLS && (!s.conn.IgnoreSTARTTLS || requireTLS) && (!s.conn.ForceHELO || h.policy.mustTLS() || h.requireTLS) {
		ext, err := ehlo(tp, s.helo)
		if err != nil {
			return nil, replyOrLost(h, "EHLO", err)
		}
		_, offered := ext["STARTTLS"]
		switch {
		case offered:
			tc, refused, herr := s.startTLS(h, tp, raw)
			switch {
			case refused && !requireTLS:
				// RFC 3207 section 4.1: after a refused STARTTLS the client
				// may go on in clear; opportunistic TLS does.
				log.Info("STARTTLS refused, continuing in clear", "host", h.name, "err", herr)
			case herr != nil:
				return nil, herr
			default:
				st := tc.ConnectionState()
				policyTLS = &st
				psess.Info(protolog.TLSInfo(st), "")
				if s.onTLS != nil {
					s.onTLS(st.Version)
				}
				lc := psess.Client(tc)
				conn, rest, isTLS = lc, lc, true
			}
		case requireTLS && !s.conn.RequireTLS:
			_ = tp.PrintfLine("QUIT")
			if h.requireTLS && !h.policy.mustTLS() {
				return nil, requireTLSError(h, "does not offer STARTTLS")
			}
			return nil, tempf(h.name, [3]int{4, 7, 10}, "%s does not offer STARTTLS and the recipient domain's TLS policy (%s) requires TLS; nothing was sent in clear", h.name, h.policy)
		case s.conn.RequireTLS:
			_ = tp.PrintfLine("QUIT")
			// X.7.10 Encryption Needed (enhanced status code registry, RFC 5248).
			return nil, tempf(h.name, [3]int{4, 7, 10}, "%s does not offer STARTTLS and send connector %q requires TLS; nothing was sent in clear", h.name, s.conn.Name)
		}
	}
	if err := raw.SetDeadline(time.Time{}); err != nil {
		return nil, lost(h, "connect", err)
	}
	policyInfo := s.logPolicyOutcome(log, h, raw, psess, policyTLS)
	// Hand the connection to go-smtp. It expects to read a greeting, which
	// the server sent long ago: give it one, followed by anything unread.
	br := newReplyReader(io.MultiReader(strings.NewReader("220 resume\r\n"), rest))
	if s.conn.ForceHELO {
		conn = heloConn{conn}
	}
	c := smtp.NewClient(&prefixConn{Conn: conn, r: br})
	c.CommandTimeout, c.SubmissionTimeout = s.cmdTTL, s.dataTTL
	if err := c.Hello(s.helo); err != nil {
		return nil, replyOrLost(h, "EHLO", err)
	}
	if h.requireTLS {
		if ok, _ := c.Extension("REQUIRETLS"); !ok || !isTLS {
			_ = c.Quit()
			return nil, requireTLSError(h, "does not offer REQUIRETLS")
		}
	}
	ss := &session{host: h, raw: raw, c: c, tls: isTLS, plog: psess, policyInfo: policyInfo,
		br: br, tr: textproto.NewReader(br), w: conn, bw: bufio.NewWriterSize(conn, crlfChunk+crlfChunk/4)}
	ss.updateSize()
	if s.conn.AuthenticatesToSmartHosts() {
		if herr := s.auth(h, ss); herr != nil {
			psess.Info(herr.Error(), "") // before quit ends the log's session
			ss.quit()
			return nil, herr
		}
	} else if s.conn.UsesOAuth() {
		if herr := s.oauthAuth(h, ss); herr != nil {
			psess.Info(herr.Error(), "")
			ss.quit()
			return nil, herr
		}
	}
	log.Debug("connected", "host", h.name, "addr", h.addr, "tls", isTLS)
	return ss, nil
}

// ehlo sends EHLO and returns the extensions (keyword upper-cased ->
// parameters). A server that refuses EHLO gets HELO and has none
// (RFC 5321 section 4.1.1.1).
func ehlo(tp *textproto.Conn, name string) (map[string]string, error) {
	if err := tp.PrintfLine("EHLO %s", name); err != nil {
		return nil, err
	}
	_, msg, err := tp.ReadResponse(250)
	var te *textproto.Error
	if errors.As(err, &te) && te.Code >= 500 {
		if err := tp.PrintfLine("HELO %s", name); err != nil {
			return nil, err
		}
		_, _, err = tp.ReadResponse(250)
		return map[string]string{}, err
	}
	if err != nil {
		return nil, err
	}
	ext := map[string]string{}
	lines := strings.Split(msg, "\n")
	for _, l := range lines[1:] {
		k, v, _ := strings.Cut(strings.TrimSpace(l), " ")
		ext[strings.ToUpper(k)] = v
	}
	return ext, nil
}

// startTLS runs STARTTLS and the TLS handshake on raw. refused is set when
// the server answered STARTTLS with an error reply: the connection is still
// usable in clear.
func (s *Sender) startTLS(h host, tp *textproto.Conn, raw net.Conn) (tc *tls.Conn, refused bool, herr *delivery.Error) {
	if err := tp.PrintfLine("STARTTLS"); err != nil {
		return nil, false, lost(h, "STARTTLS", err)
	}
	if _, _, err := tp.ReadResponse(220); err != nil {
		var te *textproto.Error
		if errors.As(err, &te) {
			return nil, true, tempf(h.name, [3]int{4, 7, 5}, "%s refused STARTTLS: %d %s", h.name, te.Code, te.Msg)
		}
		return nil, false, lost(h, "STARTTLS", err)
	}
	// RFC 3207 section 4.2 (and CVE-2011-0411 in reverse): anything the
	// server sent before the handshake could be injected plaintext.
	if tp.R.Buffered() > 0 {
		return nil, false, tempf(h.name, [3]int{4, 7, 5}, "%s sent data before the TLS handshake; refusing the connection", h.name)
	}
	tc = tls.Client(raw, s.tlsConfig(h))
	if err := tc.Handshake(); err != nil {
		// X.7.5 Cryptographic failure (RFC 3463).
		return nil, false, tempf(h.name, [3]int{4, 7, 5}, "TLS with %s failed: %v", h.name, err)
	}
	return tc, false, nil
}

// tlsConfig builds the client TLS configuration for h from TlsAuthLevel:
// EncryptionOnly checks nothing (opportunistic TLS), CertificateValidation
// checks the chain, DomainValidation the chain and the name (TlsDomain or
// the host's name).
func (s *Sender) tlsConfig(h host) *tls.Config {
	cfg := &tls.Config{MinVersion: tls.VersionTLS12, RootCAs: s.roots}
	if !h.ip {
		cfg.ServerName = h.name
	}
	// Verification is ours (VerifyConnection), so that CertificateValidation
	// can check the chain without the name.
	cfg.InsecureSkipVerify = true
	switch s.conn.TLSAuthLevel() {
	case sendconnector.TLSCertificateValidation:
		cfg.VerifyConnection = func(cs tls.ConnectionState) error { return verifyPeer(cs, s.roots, "") }
	case sendconnector.TLSDomainValidation:
		want := strings.TrimSuffix(strings.ToLower(strings.TrimSpace(s.conn.TlsDomain)), ".")
		if want == "" {
			want = h.name
		}
		cfg.VerifyConnection = func(cs tls.ConnectionState) error { return verifyPeer(cs, s.roots, want) }
	}
	if v := s.policyVerify(h, cfg.VerifyConnection); v != nil {
		cfg.VerifyConnection = v
	}
	s.addClientCertificate(cfg)
	return cfg
}

// verifyPeer checks the server's chain against roots (nil: the system's)
// and, when name is set, that the certificate covers it. A name
// "*.contoso.com" is covered by any certificate name in contoso.com.
func verifyPeer(cs tls.ConnectionState, roots *x509.CertPool, name string) error {
	if len(cs.PeerCertificates) == 0 {
		return errors.New("the server sent no certificate")
	}
	leaf := cs.PeerCertificates[0]
	inter := x509.NewCertPool()
	for _, c := range cs.PeerCertificates[1:] {
		inter.AddCert(c)
	}
	opts := x509.VerifyOptions{Roots: roots, Intermediates: inter, KeyUsages: []x509.ExtKeyUsage{x509.ExtKeyUsageServerAuth}}
	if _, err := leaf.Verify(opts); err != nil {
		return fmt.Errorf("certificate of %q does not verify: %w", leaf.Subject.String(), err)
	}
	if name == "" {
		return nil
	}
	if base, ok := strings.CutPrefix(name, "*."); ok {
		for _, d := range leaf.DNSNames {
			d = strings.TrimSuffix(strings.ToLower(d), ".")
			if d == base || strings.HasSuffix(d, "."+base) {
				return nil
			}
		}
		return fmt.Errorf("certificate names %v are not in %s (TlsDomain)", leaf.DNSNames, name)
	}
	if err := leaf.VerifyHostname(name); err != nil {
		return fmt.Errorf("certificate does not cover %s: %w", name, err)
	}
	return nil
}

// auth authenticates with the connector's credential: PLAIN when offered,
// else LOGIN (RFC 4954). BasicAuthRequireTLS never sends the password in
// clear. Any failure is transient: an admin fixes the password, mail waits.
func (s *Sender) auth(h host, ss *session) *delivery.Error {
	cred := s.conn.AuthenticationCredential
	if s.conn.AuthMechanism() == sendconnector.AuthBasicRequireTLS && !ss.tls {
		return tempf(h.name, [3]int{4, 7, 10}, "%s did not offer STARTTLS and send connector %q (BasicAuthRequireTLS) never authenticates in clear", h.name, s.conn.Name)
	}
	var client sasl.Client
	switch {
	case ss.c.SupportsAuth(sasl.Plain):
		client = sasl.NewPlainClient("", cred.UserName, cred.Password)
	case ss.c.SupportsAuth("LOGIN"):
		client = &loginClient{user: cred.UserName, pass: cred.Password}
	default:
		_, mechs := ss.c.Extension("AUTH")
		return tempf(h.name, [3]int{4, 7, 0}, "%s offers no AUTH PLAIN or LOGIN (AUTH %q); send connector %q needs to authenticate", h.name, mechs, s.conn.Name)
	}
	if err := ss.c.Auth(client); err != nil {
		var se *smtp.SMTPError
		if errors.As(err, &se) {
			r := fromReply(se.Code, [3]int(se.EnhancedCode), se.Message, h.name)
			// Keep the server's subject and detail (535 5.7.8 becomes
			// 4.7.8, RFC 4954 section 6) so DSNs say what happened.
			enh := [3]int{4, 7, 0}
			if r.Enhanced[1] != 0 {
				enh = [3]int{4, r.Enhanced[1], r.Enhanced[2]}
			}
			return tempf(h.name, enh, "authentication as %s to %s failed: %d %d.%d.%d %s",
				cred.UserName, h.name, r.Code, r.Enhanced[0], r.Enhanced[1], r.Enhanced[2], r.Message)
		}
		return lost(h, "AUTH", err)
	}
	return nil
}

// loginClient is the LOGIN mechanism (draft-murchison-sasl-login). Unlike
// go-sasl's client it sends no initial response and answers by the
// challenge's text, so it works with servers that ask "Username:" first
// (Exchange, old appliances) as well as with those that do not.
type loginClient struct {
	user, pass string
	step       int
}

// Start implements sasl.Client.
func (a *loginClient) Start() (string, []byte, error) { return "LOGIN", nil, nil }

// Next implements sasl.Client.
func (a *loginClient) Next(challenge []byte) ([]byte, error) {
	a.step++
	c := strings.ToLower(strings.TrimSpace(string(challenge)))
	switch {
	case strings.HasPrefix(c, "user"):
		return []byte(a.user), nil
	case strings.HasPrefix(c, "pass"):
		return []byte(a.pass), nil
	case a.step == 1:
		return []byte(a.user), nil
	case a.step == 2:
		return []byte(a.pass), nil
	}
	return nil, fmt.Errorf("unexpected LOGIN challenge %q", challenge)
}

// replyOrLost maps an error during connection set-up, before any
// recipient was named. A refusal is transient whatever its code: a 5xx
// greeting or EHLO says the host will not talk to us now, not that the
// recipients are bad, so the next host is tried and the message waits if
// all refuse (as Postfix's smtp_skip_5xx_greeting). Anything that is not a
// reply is a lost connection.
func replyOrLost(h host, during string, err error) *delivery.Error {
	var r *delivery.Error
	var te *textproto.Error
	if errors.As(err, &te) {
		r = fromReply(te.Code, enhancedOf(te.Msg), te.Msg, h.name)
		if e := enhancedOf(te.Msg); e != [3]int{} {
			r.Message = strings.TrimSpace(strings.TrimPrefix(r.Message, fmt.Sprintf("%d.%d.%d", e[0], e[1], e[2])))
		}
	} else if e, ok := replyOf(err, h.name); ok {
		r = e
	} else {
		return lost(h, during, err)
	}
	msg := fmt.Sprintf("%s answered %s with %d %d.%d.%d %s", h.name, during, r.Code, r.Enhanced[0], r.Enhanced[1], r.Enhanced[2], r.Message)
	if r.Code >= 500 {
		return tempf(h.name, [3]int{4, r.Enhanced[1], r.Enhanced[2]}, "%s", msg)
	}
	r.Message = msg
	return r
}

// enhancedOf reads a leading "x.y.z" from reply text; zeros when absent.
func enhancedOf(text string) [3]int {
	var e [3]int
	first, _, _ := strings.Cut(text, " ")
	if n, err := fmt.Sscanf(first, "%d.%d.%d", &e[0], &e[1], &e[2]); err != nil || n != 3 {
		return [3]int{}
	}
	return e
}

// dialError describes a failed connect: X.4.1 "No answer from host" for a
// refused or unreachable host, X.4.2 for a timeout, X.4.3 for a name that
// does not resolve (RFC 3463 section 3.5). A domain used as its own MX that
// does not exist is permanent (X.1.2, bad destination system address).
func dialError(h host, err error, timeout time.Duration) *delivery.Error {
	var dnsErr *net.DNSError
	var ne net.Error
	switch {
	case errors.As(err, &dnsErr) && dnsErr.IsNotFound && h.implicit:
		e := delivery.Permanentf([3]int{5, 1, 2}, "domain %s has no MX and no address records", h.name)
		e.RemoteMTA = h.name
		return e
	case errors.As(err, &dnsErr):
		return tempf(h.name, [3]int{4, 4, 3}, "cannot resolve %s: %v", h.name, err)
	case errors.Is(err, syscall.ECONNREFUSED):
		return tempf(h.name, [3]int{4, 4, 1}, "connection to %s (%s) refused", h.name, h.addr)
	case errors.Is(err, os.ErrDeadlineExceeded), errors.Is(err, context.DeadlineExceeded), errors.As(err, &ne) && ne.Timeout():
		return tempf(h.name, [3]int{4, 4, 2}, "no answer from %s (%s) within %s", h.name, h.addr, timeout)
	}
	return tempf(h.name, [3]int{4, 4, 1}, "cannot connect to %s (%s): %v", h.name, h.addr, err)
}

// prefixConn reads from r instead of the connection: go-smtp takes over a
// connection whose greeting we already read.
type prefixConn struct {
	net.Conn
	r io.Reader
}

// Read implements net.Conn.
func (p *prefixConn) Read(b []byte) (int, error) { return p.r.Read(b) }

// heloConn turns every EHLO go-smtp's client writes into HELO, for a
// connector with ForceHELO: the server's single-line 250 reply then
// announces no extension, and none is used (RFC 5321 section 4.1.1.1).
// go-smtp writes each command in one Write.
type heloConn struct{ net.Conn }

// Write implements net.Conn.
func (h heloConn) Write(b []byte) (int, error) {
	if len(b) >= 5 && strings.EqualFold(string(b[:5]), "EHLO ") {
		nb := append([]byte("HELO "), b[5:]...)
		if _, err := h.Conn.Write(nb); err != nil {
			return 0, err
		}
		return len(b), nil
	}
	return h.Conn.Write(b)
}
