package smtpd

import (
	"bytes"
	"context"
	"crypto/tls"
	"errors"
	"fmt"
	"io"
	"log/slog"
	"net"
	"net/netip"
	"strings"
	"time"

	"github.com/emersion/go-sasl"
	"github.com/emersion/go-smtp"

	"github.com/transportd/transportd/connector"
	"github.com/transportd/transportd/policies/address"
	"github.com/transportd/transportd/policies/authqueue"
	"github.com/transportd/transportd/policies/domains"
	"github.com/transportd/transportd/policies/header"
	"github.com/transportd/transportd/policies/lockout"
	"github.com/transportd/transportd/policies/permissions"
	"github.com/transportd/transportd/policies/saslserver"
	"github.com/transportd/transportd/policies/sendas"
	"github.com/transportd/transportd/policies/value"
)

// session is one SMTP session on one receive connector. It applies the
// connector's policy: who may submit, which recipients are accepted, rate
// limits, logon failures, and hands accepted messages to the queue.
type session struct {
	srv    *Server
	st     *state
	rc     *connector.ReceiveConnector
	conn   *conn // the connection this session runs on
	remote netip.AddrPort
	local  netip.AddrPort
	helo   string
	log    *slog.Logger
	id     string

	user     string // authenticated mailbox, "" when anonymous
	failures int

	from       string
	hasFrom    bool
	rcpts      []Recipient
	rcptNotify map[string]string
	refusedAny bool

	// The transaction's MAIL parameters that change how it is taken.
	utf8  bool   // SMTPUTF8 (RFC 6531): UTF-8 addresses allowed
	body  string // BODY (RFC 6152, RFC 3030): "", 7BIT, 8BITMIME or BINARYMIME
	ret   string // RET (RFC 3461 section 4.3): "", FULL or HDRS
	envid string // ENVID (RFC 3461 section 4.4), decoded

	requireTLS bool // REQUIRETLS (RFC 8689): relay only over validated TLS
}

func (s *session) perms() permissions.Session {
	return permissions.Session{
		Groups:         s.rc.PermissionGroups,
		Mechanisms:     s.rc.AuthMechanism,
		Authenticated:  s.user != "",
		AnonymousRelay: s.rc.AnonymousRelay,
		User:           s.user,
		Entries:        s.rc.ADPermissions,
	}
}

func smtpErr(r *permissions.Refusal) *smtp.SMTPError {
	return &smtp.SMTPError{Code: r.Code, EnhancedCode: smtp.EnhancedCode(r.Enhanced), Message: r.Reason}
}

// tarpit delays a refusal by the connector's TarpitInterval, as Exchange does,
// to slow down address harvesting and relay probing.
func (s *session) tarpit(d time.Duration) {
	if d > 0 {
		t := time.NewTimer(d)
		defer t.Stop()
		select {
		case <-t.C:
		case <-s.srv.ctx.Done():
		}
	}
}

// AuthMechanisms lists the SASL mechanisms offered now: none unless the
// connector has BasicAuth, and none before STARTTLS under BasicAuthRequireTLS.
func (s *session) AuthMechanisms() []string {
	if !s.authOffered() {
		return nil
	}
	return []string{"PLAIN", "LOGIN"}
}

func (s *session) authOffered() bool {
	m := s.rc.AuthMechanism
	if !m.Has(permissions.MechBasicAuth) {
		return false
	}
	if m.Has(permissions.MechBasicAuthRequireTLS) && s.conn.TLS() == nil {
		return false
	}
	return true
}

// Auth starts a SASL exchange (RFC 4954).
func (s *session) Auth(mech string) (sasl.Server, error) {
	if !s.rc.AuthMechanism.Has(permissions.MechBasicAuth) {
		return nil, &smtp.SMTPError{Code: 504, EnhancedCode: smtp.EnhancedCode{5, 7, 4}, Message: "Unrecognized authentication type: this connector does not offer AUTH"}
	}
	if !s.authOffered() {
		return nil, &smtp.SMTPError{Code: 538, EnhancedCode: smtp.EnhancedCode{5, 7, 11}, Message: "Encryption required for requested authentication mechanism: issue STARTTLS first"}
	}
	check := func(user, pass string) error { return s.authenticate(user, pass) }
	switch strings.ToUpper(mech) {
	case "PLAIN":
		return saslserver.NewPlainServer(check), nil
	case "LOGIN":
		return saslserver.NewLoginServer(check), nil
	}
	return nil, &smtp.SMTPError{Code: 504, EnhancedCode: smtp.EnhancedCode{5, 7, 4}, Message: fmt.Sprintf("Unrecognized authentication type %q: use PLAIN or LOGIN", mech)}
}

// authenticate checks a logon. Before the password is checked, the
// lockout guard may refuse it (the source or the account failed too often
// lately, across connections), and the check waits its turn in the
// password-check queue: sources without recent failures first, a full
// queue refuses. Both refusals are 454 4.7.0 (RFC 4954 section 6,
// "Temporary authentication failure"), the same whether the account exists
// or not, and cost no password hash.
func (s *session) authenticate(user, pass string) error {
	att, block := s.srv.deps.Lockout.Begin(s.remote.Addr(), user)
	if block != nil {
		return s.authRefused(user, "locked_out", lockoutReason(block, time.Now()))
	}
	class := authqueue.Normal
	switch {
	case att.Known():
		class = authqueue.Known
	case att.Suspect():
		class = authqueue.Suspect
	}
	release, err := s.srv.deps.AuthQueue.Acquire(s.srv.ctx, att.Source(), class)
	if err != nil {
		att.Abandon()
		if errors.Is(err, authqueue.ErrBusy) {
			return s.authRefused(user, "busy", "too many authentication attempts are waiting, try again in a moment")
		}
		return &smtp.SMTPError{Code: 421, EnhancedCode: smtp.EnhancedCode{4, 3, 2}, Message: "Service shutting down, try again later"}
	}
	canonical, err := s.srv.deps.Directory.Authenticate(s.srv.ctx, user, pass)
	release()
	if err == nil {
		att.Succeeded()
		s.user = canonical
		s.log.Info("authenticated", "user", canonical)
		s.conn.plog.Info(canonical+" authenticated", "")
		return nil
	}
	if s.srv.ctx.Err() != nil {
		att.Abandon()
		return &smtp.SMTPError{Code: 421, EnhancedCode: smtp.EnhancedCode{4, 3, 2}, Message: "Service shutting down, try again later"}
	}
	recent, blocks := att.Failed()
	s.failures++
	s.conn.plog.Info(fmt.Sprintf("authentication failed for %q", user), "")
	if o := s.srv.deps.Observer; o != nil {
		o.AuthFailed(s.rc.Name)
	}
	s.log.Warn("authentication failed", "user", user, "failures", s.failures, "source_failures", recent, "reason", err)
	for _, b := range blocks {
		s.lockedOut(b)
	}
	s.tarpit(growTarpit(s.rc.AuthTarpitInterval.Duration(), recent))
	if s.rc.MaxLogonFailures > 0 && s.failures >= s.rc.MaxLogonFailures {
		s.conn.closeAfterNextWrite()
		return &smtp.SMTPError{Code: 421, EnhancedCode: smtp.EnhancedCode{4, 7, 0},
			Message: fmt.Sprintf("Too many failed logon attempts (%d), closing connection", s.failures)}
	}
	return &smtp.SMTPError{Code: 535, EnhancedCode: smtp.EnhancedCode{5, 7, 8}, Message: "Authentication unsuccessful: wrong user name or password"}
}

// authRefused answers an AUTH refused before its password was checked. It
// counts as a failed logon of the session (MaxLogonFailures), not of the
// lockout guard, and is tarpitted like one.
func (s *session) authRefused(user, kind, reason string) error {
	s.failures++
	s.conn.plog.Info(fmt.Sprintf("authentication refused for %q: %s", user, reason), "")
	s.log.Warn("authentication refused before the password check", "user", user, "kind", kind, "reason", reason)
	if o, ok := s.srv.deps.Observer.(AuthObserver); ok {
		o.AuthRefused(s.rc.Name, kind)
	}
	s.tarpit(s.rc.AuthTarpitInterval.Duration())
	if s.rc.MaxLogonFailures > 0 && s.failures >= s.rc.MaxLogonFailures {
		s.conn.closeAfterNextWrite()
		return &smtp.SMTPError{Code: 421, EnhancedCode: smtp.EnhancedCode{4, 7, 0},
			Message: fmt.Sprintf("Too many failed logon attempts (%d), closing connection", s.failures)}
	}
	return &smtp.SMTPError{Code: 454, EnhancedCode: smtp.EnhancedCode{4, 7, 0},
		Message: "Temporary authentication failure: " + reason}
}

// lockedOut reports a block the last failure set off.
func (s *session) lockedOut(b lockout.Block) {
	d := value.TimeSpan(time.Until(b.Until).Round(time.Second))
	var what string
	if b.Scope == lockout.ScopeSource {
		what = "source " + b.Key
	} else {
		what = fmt.Sprintf("account %q (for sources it has not logged on from)", b.Key)
	}
	s.conn.plog.Info(fmt.Sprintf("%s blocked for %s after %d failed logons", what, d, b.Failures), "")
	s.log.Warn("logons blocked after repeated failures", "scope", string(b.Scope), "key", b.Key, "failures", b.Failures, "until", b.Until)
	if o, ok := s.srv.deps.Observer.(AuthObserver); ok {
		o.AuthLockout(string(b.Scope))
	}
}

// lockoutReason is the human part of the 454 reply to a blocked logon. It
// says the same for accounts that exist and accounts that do not.
func lockoutReason(b *lockout.Block, now time.Time) string {
	if b.Until.IsZero() {
		return "too many failed logons lately, try again in a moment"
	}
	mins := int(b.Until.Sub(now).Minutes()) + 1
	unit := "minutes"
	if mins == 1 {
		unit = "minute"
	}
	if b.Scope == lockout.ScopeSource {
		return fmt.Sprintf("too many failed logons from your address, try again in %d %s", mins, unit)
	}
	return fmt.Sprintf("too many failed logons for this user name, try again in %d %s", mins, unit)
}

// growTarpit is the delay before a failed AUTH reply: the connector's
// AuthTarpitInterval, doubled for every earlier failure of the source
// within the lockout window, across connections, up to 16 times or a
// minute (whichever is less, but never less than the interval itself).
func growTarpit(base time.Duration, recent int) time.Duration {
	if base <= 0 || recent <= 1 {
		return base
	}
	d := base << min(recent-1, 4)
	return min(d, max(base, time.Minute))
}

// Mail starts a transaction (RFC 5321 section 4.1.1.2).
func (s *session) Mail(from string) error {
	if s.conn.needEHLO {
		return &smtp.SMTPError{Code: 503, EnhancedCode: smtp.EnhancedCode{5, 5, 1}, Message: "Send EHLO again after STARTTLS (RFC 3207 section 4.2)"}
	}
	if s.rc.RequireTLS && s.conn.TLS() == nil {
		return &smtp.SMTPError{Code: 530, EnhancedCode: smtp.EnhancedCode{5, 7, 0}, Message: "Must issue a STARTTLS command first: this connector requires TLS"}
	}
	if r := s.perms().MaySubmit(); r != nil {
		if s.user == "" && s.authOffered() {
			r.Reason += " (authenticate with AUTH first)"
		} else if s.user == "" && s.rc.AuthMechanism.Has(permissions.MechBasicAuthRequireTLS) && s.conn.TLS() == nil {
			r.Reason += " (issue STARTTLS, then AUTH)"
		}
		return smtpErr(r)
	}
	sender, err := address.ParseSender(from)
	if s.utf8 && from != "" {
		sender, err = address.ParseUTF8(from)
	}
	if err != nil {
		return &smtp.SMTPError{Code: 501, EnhancedCode: smtp.EnhancedCode{5, 1, 7}, Message: "Invalid sender address: " + err.Error()}
	}
	// An authenticated user sends as one of its own addresses or one it
	// was granted Send As on (Exchange's Send As check); the header is
	// checked in Data. The null sender is for delivery status
	// notifications (RFC 5321 section 4.5.5), which are this server's job,
	// not a user's: with it a user could send anything with no address to
	// hold it to.
	anySender := s.user != "" && s.perms().Has(permissions.RightAcceptAnySender)
	if s.user == "" && sender.Domain != "" {
		d, ok := s.st.domains.Lookup(sender.Domain)
		if ref := s.perms().CheckAnonymousSender(sender.Domain, ok && d.DomainType == domains.Authoritative); ref != nil {
			s.log.Info("sender refused", "from", sender.String(), "reply", ref.Error())
			s.tarpit(s.rc.TarpitInterval.Duration())
			return smtpErr(ref)
		}
	}
	if s.user != "" && from == "" && !anySender {
		return &smtp.SMTPError{Code: 550, EnhancedCode: smtp.EnhancedCode{5, 7, 60},
			Message: fmt.Sprintf("Client does not have permissions to send as this sender: %s may not use the null sender <>; send as one of its own addresses", s.user)}
	}
	if s.user != "" && !anySender && !s.srv.deps.Directory.MaySendAs(s.user, sender.String()) {
		return &smtp.SMTPError{Code: 550, EnhancedCode: smtp.EnhancedCode{5, 7, 60},
			Message: fmt.Sprintf("Client does not have permissions to send as this sender: %s may send as its own addresses and those it was granted Send As on", s.user)}
	}
	if lim := s.rc.MessageRateLimit; !lim.IsUnlimited() {
		key := s.rateKey()
		if key != "" && !s.srv.deps.Rates.Allow(s.rc.Name+"\x00"+key, int(lim)) {
			return &smtp.SMTPError{Code: 421, EnhancedCode: smtp.EnhancedCode{4, 4, 2},
				Message: fmt.Sprintf("Message submission rate for this client has exceeded the configured limit (%d per minute)", int(lim))}
		}
	}
	s.from, s.hasFrom, s.rcpts, s.rcptNotify = from, true, nil, nil
	return nil
}

func (s *session) rateKey() string {
	switch s.rc.MessageRateSource {
	case "User":
		return s.user
	case "IPAddress":
		return s.remote.Addr().String()
	case "All":
		if s.user != "" {
			return "user:" + s.user
		}
		return s.remote.Addr().String()
	}
	return ""
}

// Rcpt adds a recipient after the accepted-domain and relay checks.
func (s *session) Rcpt(to string, notify []string) error {
	if err := s.connectionFilter(to); err != nil { // connfilter.go
		return err
	}
	addr, err := address.ParseRecipient(to)
	if s.utf8 {
		addr, err = address.ParseUTF8(to)
	}
	if err != nil {
		s.tarpit(s.rc.TarpitInterval.Duration())
		return &smtp.SMTPError{Code: 501, EnhancedCode: smtp.EnhancedCode{5, 1, 3}, Message: "Invalid recipient address: " + err.Error()}
	}
	// Mailbox delivery stores mail in a folder named after the address
	// (address.ParseMailbox): refuse what it could never store, rather than
	// accept it with 250 and defer it until it expires. In an Authoritative
	// domain every recipient is a mailbox here, so the refusal names the
	// address's flaw before the mailbox lookup would call it unknown.
	_, mailboxErr := address.ParseMailbox(addr.String())
	refuseMailbox := func() error {
		s.log.Info("recipient refused", "rcpt", addr.String(), "reason", mailboxErr.Error())
		s.tarpit(s.rc.TarpitInterval.Duration())
		return &smtp.SMTPError{Code: 501, EnhancedCode: smtp.EnhancedCode{5, 1, 3}, Message: "Invalid recipient address: " + mailboxErr.Error()}
	}
	if ref := recipientDomainRefusal(s.rc, addr.Domain); ref != nil {
		s.log.Info("recipient refused", "rcpt", addr.String(), "reply", ref.Message)
		s.tarpit(s.rc.TarpitInterval.Duration())
		return ref
	}
	if d, ok := s.st.domains.Lookup(addr.Domain); mailboxErr != nil && ok && d.DomainType == domains.Authoritative {
		return refuseMailbox()
	}
	route, ref := permissions.CheckRecipient(s.perms(), addr, s.st.domains, s.srv.deps.Directory)
	if ref != nil {
		s.log.Info("recipient refused", "rcpt", addr.String(), "reply", ref.Error())
		s.tarpit(s.rc.TarpitInterval.Duration())
		return smtpErr(ref)
	}
	if mailboxErr != nil && route == permissions.RouteLocal {
		return refuseMailbox()
	}
	s.rcpts = append(s.rcpts, Recipient{Address: addr.String(), Local: route == permissions.RouteLocal})
	if len(notify) > 0 {
		// RFC 3461 section 4.1: NOTIFY decides which DSNs the sender gets.
		if s.rcptNotify == nil {
			s.rcptNotify = map[string]string{}
		}
		s.rcptNotify[addr.String()] = strings.Join(notify, ",")
	}
	return nil
}

// Data receives the message, normalises its line endings, adds our
// Received header (RFC 5321 section 4.4) and stores it durably before the
// 250 reply.
func (s *session) Data(r io.Reader) error {
	if len(s.rcpts) == 0 {
		return &smtp.SMTPError{Code: 554, EnhancedCode: smtp.EnhancedCode{5, 5, 1}, Message: "No valid recipients"}
	}
	binary := s.body == bodyBinaryMIME
	r = &inspector{r: r, rejectBareLF: s.rc.BareLinefeedRejectionEnabled, fqdn: s.rc.Fqdn, maxLocal: s.rc.MaxLocalHopCount,
		binary: binary, maxHeader: int64(s.rc.MaxHeaderSize), maxHops: s.rc.MaxHopCount, inHeader: true}
	src := r
	if !binary {
		// RFC 3030 section 3: binary data reaches the queue unchanged;
		// everything else has its line endings made CRLF.
		src = s.conn.normalized(r)
	}
	// The header section is read and parsed once, here: its limits, the
	// Send As check and the queue's Message-ID and Subject all come from
	// it. The body streams on to the queue.
	in, rest, err := readHeader(src, int64(s.rc.MaxHeaderSize), s.rc.MaxHopCount)
	if err != nil {
		var se *smtp.SMTPError
		if errors.As(err, &se) {
			s.log.Info("message refused", "reply", se.Message)
			return se
		}
		return s.dataFailed(err)
	}
	perms := s.perms()
	if s.user != "" && !perms.Has(permissions.RightAcceptAnySender) {
		// Send As applies to the header too: recipients see From: and
		// Sender:, not the envelope.
		if !in.whole {
			return errHeaderTooLargeToCheck
		}
		if ref := sendas.CheckHeader(in.section, s.user, func(a string) bool { return s.srv.deps.Directory.MaySendAs(s.user, a) }); ref != nil {
			s.log.Info("message refused", "reply", ref.Error())
			s.conn.plog.Info("message refused: "+ref.Error(), "")
			return smtpErr(ref)
		}
	}
	var content io.Reader = io.MultiReader(bytes.NewReader(in.section), rest)
	if !perms.Has(permissions.RightAcceptHeadersRouting) {
		// Without ms-Exch-Accept-Headers-Routing the client's trace
		// fields are not taken: its Received: fields are removed (after
		// they were counted against MaxHopCount, above).
		content = stripReceived(content, int64(s.rc.MaxHeaderSize))
	}
	id := s.srv.deps.Queue.NewID()
	received := s.receivedHeader(id)
	body := io.MultiReader(strings.NewReader(received), content)
	env := Message{
		ID:            id,
		From:          s.from,
		Recipients:    s.rcpts,
		Connector:     s.rc.Name,
		SessionID:     s.id,
		RemoteAddr:    s.remote,
		LocalAddr:     s.local,
		HeloName:      s.helo,
		AuthUser:      s.user,
		TLS:           s.conn.TLS() != nil,
		ReceivedAt:    time.Now().UTC(),
		MaxMessageLen: s.maxMessageLen(),
		SMTPUTF8:      s.utf8,
		Ret:           s.ret,
		EnvID:         s.envid,
		Body:          s.body,

		BypassAntiSpam: perms.Has(permissions.RightBypassAntiSpam),
		RequireTLS:     s.requireTLS,
	}
	env.MessageID, env.Subject = header.Summary(in.header)
	if len(s.rcpts) > 0 && s.rcptNotify != nil {
		for i := range env.Recipients {
			env.Recipients[i].Notify = s.rcptNotify[env.Recipients[i].Address]
		}
	}
	ctx, cancel := context.WithTimeout(s.srv.ctx, 5*time.Minute)
	defer cancel()
	id, err = s.srv.deps.Queue.Enqueue(ctx, env, body)
	if err != nil {
		var se *smtp.SMTPError
		if errors.As(err, &se) {
			s.log.Info("message refused", "reply", se.Message)
			return se
		}
		return s.dataFailed(err)
	}
	s.conn.plog.Info("message queued as "+id, "")
	s.log.Debug("message queued", "queue_id", id, "from", s.from, "rcpts", len(s.rcpts), "hops", in.hops)
	s.rcpts = nil
	s.hasFrom = false
	return &smtp.SMTPError{Code: 250, EnhancedCode: smtp.EnhancedCode{2, 6, 0}, Message: fmt.Sprintf("<%s> Queued mail for delivery", id)}
}

// dataFailed answers a DATA whose message could not be stored: the
// client went away (no one to answer), or the queue failed.
func (s *session) dataFailed(err error) error {
	if errors.Is(err, io.ErrUnexpectedEOF) || errors.Is(err, net.ErrClosed) {
		s.log.Info("client went away during DATA; nothing was queued", "err", err)
	} else {
		s.log.Error("queueing failed", "err", err)
	}
	return &smtp.SMTPError{Code: 451, EnhancedCode: smtp.EnhancedCode{4, 3, 0}, Message: "Temporary local problem storing the message; try again later"}
}

// receivedHeader builds our trace header with the protocol keywords of
// RFC 3848 (ESMTP, ESMTPS, ESMTPA, ESMTPSA).
func (s *session) receivedHeader(id string) string {
	proto := "ESMTP"
	if s.conn.TLS() != nil {
		proto += "S"
	}
	if s.user != "" {
		proto += "A"
	}
	helo := s.helo
	if helo == "" {
		helo = "unknown"
	}
	tlsInfo := ""
	if st := s.conn.TLS(); st != nil {
		tlsInfo = fmt.Sprintf(" (version=%s cipher=%s)", tls.VersionName(st.Version), tls.CipherSuiteName(st.CipherSuite))
	}
	// As fmt.Sprintf("Received: from %s ([%s])\r\n\tby %s (transportd)
	// with %s%s\r\n\tvia %s id %s; %s\r\n", ...) writes it, in one
	// allocation.
	b := make([]byte, 0, 160+len(helo)+len(s.rc.Fqdn)+len(tlsInfo)+len(s.rc.Name)+len(id))
	b = append(b, "Received: from "...)
	b = append(b, sanitizeHeader(helo)...)
	b = append(b, " (["...)
	b = s.remote.Addr().AppendTo(b)
	b = append(b, "])\r\n\tby "...)
	b = append(b, s.rc.Fqdn...)
	b = append(b, " (transportd) with "...)
	b = append(b, proto...)
	b = append(b, tlsInfo...)
	b = append(b, "\r\n\tvia "...)
	b = append(b, sanitizeHeader(s.rc.Name)...)
	b = append(b, " id "...)
	b = append(b, id...)
	b = append(b, "; "...)
	b = time.Now().AppendFormat(b, time.RFC1123Z)
	b = append(b, "\r\n"...)
	return string(b)
}

func sanitizeHeader(s string) string {
	return strings.Map(func(r rune) rune {
		if r < 0x20 || r > 0x7e || r == '(' || r == ')' {
			return '_'
		}
		return r
	}, s)
}

// Reset discards the current transaction.
func (s *session) Reset() {
	s.from, s.hasFrom, s.rcpts, s.rcptNotify = "", false, nil, nil
	s.utf8, s.body, s.ret, s.envid = false, "", "", ""
	s.requireTLS = false
}
