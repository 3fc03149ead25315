package smtpd

import (
	"bufio"
	"bytes"
	"context"
	"crypto/tls"
	"encoding/base64"
	"errors"
	"fmt"
	"io"
	"net"
	"runtime/debug"
	"strconv"
	"strings"
	"time"

	"github.com/emersion/go-smtp"

	"github.com/transportd/transportd/connector"
	"github.com/transportd/transportd/connector/protolog"
)

// maxCommandLine bounds an SMTP command line. RFC 5321 section 4.5.3.1.4
// allows 512 octets; longer lines are refused before anything buffers
// them beyond this.
const maxCommandLine = 4096

// readBufferSize is the read buffer of a connection: big enough that DATA
// moves in few system calls.
const readBufferSize = 32 << 10

// conn is one SMTP connection: it reads commands, runs them against the
// session and writes the replies. It is the one place that decides the
// state of the protocol (greeted, in a transaction, in DATA, under TLS);
// session holds the policy (who may do what) and the envelope.
type conn struct {
	srv  *Server
	cs   *connServer
	raw  net.Conn
	nc   net.Conn // raw, or the TLS session over raw
	br   *bufio.Reader
	bw   *bufio.Writer
	sess *session

	tlsCfg   *tls.Config // nil: STARTTLS is not offered
	tlsState *tls.ConnectionState
	needEHLO bool // STARTTLS done, no EHLO since (RFC 3207 section 4.2)

	idle       time.Duration
	remoteIP   string
	postmaster string
	sessionID  string
	plog       *protolog.Session // nil: the connector does not log the protocol
	onTLS      func(*tls.ConnectionState)

	errCount   int
	closeAfter bool
	quit       bool

	// The buffers of the DATA normalizer, reused message after message
	// (see normalized).
	normIn  []byte
	normOut *bufio.Reader

	filtered *connFilterResult // connection filtering's verdict, once asked (connfilter.go)

	// The read and write deadlines set on nc now (see extendDeadline).
	readDL, writeDL time.Time
}

// extendDeadline moves the read (or the write) deadline of the connection
// to at least ConnectionInactivityTimeout from now. It moves it only when
// it is due sooner than that, and then a little further (deadlineSlack),
// so the commands and replies of a transaction, a few milliseconds apart,
// share one deadline instead of resetting a runtime timer each: a client
// is dropped between ConnectionInactivityTimeout and that plus the slack
// after it last sent or read anything, never sooner.
func (c *conn) extendDeadline(write bool) {
	dl := &c.readDL
	if write {
		dl = &c.writeDL
	}
	want := time.Now().Add(c.idle)
	if !want.After(*dl) {
		return
	}
	*dl = want.Add(deadlineSlack(c.idle))
	if write {
		c.nc.SetWriteDeadline(*dl)
	} else {
		c.nc.SetReadDeadline(*dl)
	}
}

// deadlineSlack is how much later than the inactivity timeout a deadline
// may fall: 1/64 of it, at most a second (5 minutes: 1 s; 2 s: 31 ms).
func deadlineSlack(idle time.Duration) time.Duration {
	return min(idle/64, time.Second)
}

// connBuffers are the buffers of a connection. They are taken from the
// server's pool when a connection starts and given back when it ends, so
// that a connection costs no new buffer memory (smtp-source, like many
// applications, opens a connection per message).
type connBuffers struct {
	br      *bufio.Reader
	bw      *bufio.Writer
	normIn  []byte
	normOut *bufio.Reader
}

func newConnBuffers() any {
	return &connBuffers{
		br:      bufio.NewReaderSize(nil, readBufferSize),
		bw:      bufio.NewWriterSize(nil, 4096),
		normIn:  make([]byte, normBufferSize),
		normOut: bufio.NewReaderSize(nil, 4096),
	}
}

// takeBuffers gives the connection its buffers from the server's pool.
func (c *conn) takeBuffers() {
	b := c.srv.buffers.Get().(*connBuffers)
	c.br, c.bw, c.normIn, c.normOut = b.br, b.bw, b.normIn, b.normOut
}

// releaseBuffers gives the buffers back to the server's pool, holding
// nothing of the connection; c must not be used after.
func (c *conn) releaseBuffers() {
	if c.br == nil {
		return
	}
	b := &connBuffers{br: c.br, bw: c.bw, normIn: c.normIn, normOut: c.normOut}
	b.br.Reset(nil)
	b.bw.Reset(nil)
	b.normOut.Reset(nil)
	c.br, c.bw, c.normIn, c.normOut = nil, nil, nil, nil
	c.srv.buffers.Put(b)
}

// normalized returns message data r normalised (see normalizer), through
// a buffered reader: package header reads the header section from it
// without a buffer of its own. Both buffers belong to the connection and
// serve one message at a time.
func (c *conn) normalized(r io.Reader) *bufio.Reader {
	c.normOut.Reset(newNormalizer(r, c.normIn))
	return c.normOut
}

// netReader is what the read buffer reads from: before it waits for the
// client it sends the replies held back, so a pipelining client gets the
// replies to a whole command group in one write (RFC 2920 section 3.1) and
// no client ever waits for a reply we hold.
type netReader struct{ c *conn }

func (r netReader) Read(p []byte) (int, error) {
	if err := r.c.flush(); err != nil {
		return 0, err
	}
	if r.c.idle > 0 {
		r.c.extendDeadline(false)
	}
	return r.c.nc.Read(p)
}

// TLS returns the TLS state once STARTTLS has completed, else nil.
func (c *conn) TLS() *tls.ConnectionState { return c.tlsState }

// closeAfterNextWrite makes the connection close right after the next reply.
func (c *conn) closeAfterNextWrite() { c.closeAfter = true }

func (c *conn) setStream(nc net.Conn) {
	c.nc = nc
	c.readDL, c.writeDL = time.Time{}, time.Time{} // set again on nc at its first read and write
	if c.br == nil {
		c.takeBuffers()
	}
	c.br.Reset(netReader{c})
	c.bw.Reset(nc)
}

func (c *conn) flush() error {
	if c.bw.Buffered() == 0 {
		return nil
	}
	if c.idle > 0 {
		c.extendDeadline(true)
	}
	return c.bw.Flush()
}

// reply writes one reply (RFC 5321 section 4.2): every line but the last
// with "-", the enhanced status code (RFC 2034), when there is one, on the
// last. Positive replies wait in the buffer until the client has no
// further command pipelined; refusals and closing replies leave at once.
func (c *conn) reply(code int, enhanced string, lines ...string) {
	if code >= 400 {
		c.noteRefusal(code, enhanced) // the dashboard's refusals by reason (refusals.go)
	}
	if !c.cs.rc.EnhancedStatusCodesEnabled {
		enhanced = "" // RFC 2034 section 3: only after ENHANCEDSTATUSCODES was offered
	}
	for i, l := range lines {
		sep, enh := "-", ""
		if i == len(lines)-1 {
			sep, enh = " ", enhanced
		}
		if c.plog != nil {
			if enh != "" {
				l = enh + " " + l
			}
			line := strconv.Itoa(code) + sep + l
			c.bw.WriteString(line)
			c.bw.WriteString("\r\n")
			c.plog.Reply(line)
			continue
		}
		// Written piece by piece: no string is built for the reply when
		// the protocol is not logged.
		var num [8]byte
		c.bw.Write(strconv.AppendInt(num[:0], int64(code), 10))
		c.bw.WriteString(sep)
		if enh != "" {
			c.bw.WriteString(enh)
			c.bw.WriteByte(' ')
		}
		c.bw.WriteString(l)
		c.bw.WriteString("\r\n")
	}
	if code >= 400 || code == 221 || c.closeAfter || !c.cs.rc.PipeliningEnabled {
		c.flush()
	}
	if c.closeAfter {
		c.quit = true
	}
}

// replyErr writes the reply an error stands for: a go-smtp SMTPError (the
// error type the policy code and the queue return) as it is, anything
// else as code and enhanced with the error's text.
func (c *conn) replyErr(err error, code int, enhanced string) {
	var se *smtp.SMTPError
	if errors.As(err, &se) {
		c.reply(se.Code, enhancedString(se.Code, se.EnhancedCode), se.Message)
		return
	}
	c.reply(code, enhanced, err.Error())
}

func enhancedString(code int, e smtp.EnhancedCode) string {
	switch e {
	case smtp.NoEnhancedCode:
		return ""
	case smtp.EnhancedCodeNotSet:
		if cl := code / 100; cl == 2 || cl == 4 || cl == 5 {
			return strconv.Itoa(cl) + ".0.0"
		}
		return ""
	}
	// fmt.Sprintf("%d.%d.%d", ...) without fmt: every queued message's
	// reply comes here.
	b := make([]byte, 0, 12)
	b = strconv.AppendInt(b, int64(e[0]), 10)
	b = append(b, '.')
	b = strconv.AppendInt(b, int64(e[1]), 10)
	b = append(b, '.')
	b = strconv.AppendInt(b, int64(e[2]), 10)
	return string(b)
}

// protocolError answers a command we cannot take and counts it; too many
// end the session.
func (c *conn) protocolError(code int, enhanced, text string) {
	c.reply(code, enhanced, text)
	c.errCount++
	if max := c.cs.rc.MaxProtocolErrors; !max.IsUnlimited() && c.errCount > int(max) {
		c.closeAfter = true
		c.reply(replyTooManyErrors.code, replyTooManyErrors.enh, replyTooManyErrors.text)
	}
}

// serve runs the session until the client quits or goes away. A bug in
// a command handler costs this session, never the daemon: the client gets
// 421 and the connection is closed.
func (c *conn) serve() {
	defer func() {
		if p := recover(); p != nil {
			c.srv.deps.Logger.Error("internal error in an SMTP session", "panic", fmt.Sprint(p), "remote", c.remoteIP, "session", c.sessionID, "stack", string(debug.Stack()))
			c.closeAfter = false
			c.reply(421, "4.3.0", "Internal server error, closing connection")
			c.flush()
		}
	}()
	c.reply(220, "", c.greeting())
	if c.refuseUntrustedProxy() {
		return
	}
	for !c.quit {
		line, err := c.readLine()
		if err != nil {
			c.readFailed(err)
			return
		}
		c.plog.Command(line)
		c.handle(line)
	}
	c.flush()
}

// readLine reads one command line without its line ending. A line longer
// than maxCommandLine is an error.
func (c *conn) readLine() (string, error) {
	line, err := c.br.ReadSlice('\n')
	if err == bufio.ErrBufferFull || (err == nil && len(line) > c.maxLine()) {
		return "", errLineTooLong
	}
	if err != nil {
		if len(line) > 0 && err == io.EOF {
			return "", io.ErrUnexpectedEOF
		}
		return "", err
	}
	return strings.TrimRight(string(line), "\r\n"), nil
}

var errLineTooLong = errors.New("command line too long")

func (c *conn) readFailed(err error) {
	var ne net.Error
	switch {
	case errors.Is(err, errLineTooLong):
		c.plog.Info(fmt.Sprintf("command line longer than %d octets; closing the connection", c.maxLine()), "")
		c.reply(500, "5.5.2", fmt.Sprintf("Command line too long (limit %d octets), closing connection", c.maxLine()))
	case errors.As(err, &ne) && ne.Timeout():
		c.reply(replyIdle.code, replyIdle.enh, replyIdle.text)
	}
}

// handle runs one command line.
func (c *conn) handle(line string) {
	verb, arg := parseCommand(line)
	switch verb {
	case "HELO", "EHLO":
		c.hello(verb == "EHLO", arg)
	case "MAIL":
		c.mail(arg)
	case "RCPT":
		c.rcpt(arg)
	case "DATA":
		c.data(arg)
	case "BDAT":
		if !c.cs.rc.ChunkingEnabled {
			c.protocolError(replyUnknown.code, replyUnknown.enh, replyUnknown.text)
			return
		}
		c.bdat(arg)
	case "RSET":
		c.sess.Reset()
		c.reply(250, "2.0.0", replyReset)
	case "NOOP":
		c.reply(250, "2.0.0", replyNoop)
	case "VRFY":
		c.reply(252, "2.1.5", replyVrfy)
	case "QUIT":
		c.reply(221, "2.0.0", c.replyQuit())
		c.quit = true
	case "AUTH":
		c.auth(arg)
	case "STARTTLS":
		c.startTLS(arg)
	case "PROXY": // a PROXY protocol header typed late (proxy.go)
		c.proxyRefused()
	case "SEND", "SOML", "SAML", "EXPN", "HELP", "TURN":
		c.reply(replyNotImpl.code, replyNotImpl.enh, replyNotImpl.text)
	default:
		c.protocolError(replyUnknown.code, replyUnknown.enh, replyUnknown.text)
	}
}

func (c *conn) greeting() string {
	if b := c.sess.rc.Banner; b != "" {
		return strings.TrimSpace(strings.TrimPrefix(b, "220"))
	}
	return fmt.Sprintf(replyGreeting, c.sess.rc.Fqdn, time.Now().Format(time.RFC1123Z))
}

// needHello answers a command that needs HELO or EHLO first; true when it
// did.
func (c *conn) needHello() bool {
	if c.sess.helo != "" {
		return false
	}
	if c.needEHLO {
		c.reply(replyNoHelloTLS.code, replyNoHelloTLS.enh, replyNoHelloTLS.text)
	} else {
		c.reply(replyNoHello.code, replyNoHello.enh, replyNoHello.text)
	}
	return true
}

// hello answers HELO and EHLO (RFC 5321 section 4.1.1.1): the first line
// carries our domain; EHLO lists the extensions this connector offers now.
// Either starts over: no transaction is open after it.
func (c *conn) hello(ehlo bool, arg string) {
	domain, _, _ := strings.Cut(arg, " ")
	if domain == "" {
		c.reply(replyHelloArg.code, replyHelloArg.enh, replyHelloArg.text)
		return
	}
	if c.cs.rc.RequireEHLODomain && !validEHLODomain(domain) {
		c.closeAfterNextWrite()
		c.reply(501, "5.5.4", "Invalid domain name: this connector requires a domain name or address literal in HELO/EHLO (RequireEHLODomain), closing connection")
		return
	}
	c.sess.helo = domain
	c.needEHLO = false
	c.sess.Reset()
	first := fmt.Sprintf("%s Hello [%s]", c.sess.rc.Fqdn, c.remoteIP)
	if !ehlo {
		c.reply(250, "", first)
		return
	}
	c.reply(250, "", append([]string{first}, c.capabilities()...)...)
}

// capabilities lists the EHLO keywords in Exchange's order, each as the
// connector's switches say.
func (c *conn) capabilities() []string {
	rc := c.sess.rc
	var caps []string
	switch n := rc.MaxMessageSize; {
	case rc.SizeEnabled == connector.SizeDisabled:
	case rc.SizeEnabled == connector.SizeEnabledWithoutValue || n <= 0:
		caps = append(caps, "SIZE") // RFC 1870 section 4: no fixed limit disclosed
	default:
		caps = append(caps, fmt.Sprintf("SIZE %d", int64(n)))
	}
	if rc.PipeliningEnabled {
		caps = append(caps, "PIPELINING")
	}
	if rc.DeliveryStatusNotificationEnabled {
		caps = append(caps, "DSN")
	}
	if rc.EnhancedStatusCodesEnabled {
		caps = append(caps, "ENHANCEDSTATUSCODES")
	}
	if c.tlsCfg != nil && c.tlsState == nil {
		caps = append(caps, "STARTTLS")
	}
	if c.sess.authOffered() {
		caps = append(caps, "AUTH PLAIN LOGIN")
	}
	if rc.EightBitMimeEnabled {
		caps = append(caps, "8BITMIME")
	}
	if rc.BinaryMimeOffered() {
		caps = append(caps, "BINARYMIME")
	}
	if rc.ChunkingEnabled {
		caps = append(caps, "CHUNKING")
	}
	if rc.SmtpUtf8Enabled {
		caps = append(caps, "SMTPUTF8")
	}
	if c.tlsState != nil {
		// RFC 8689 section 4.1: offered only inside TLS.
		caps = append(caps, "REQUIRETLS")
	}
	return caps
}

func (c *conn) mail(arg string) {
	if c.needHello() {
		return
	}
	if c.sess.hasFrom {
		c.reply(replyNestedMail.code, replyNestedMail.enh, replyNestedMail.text)
		return
	}
	if c.mailWhileDraining() {
		return
	}
	rest, ok := cutPrefixFold(arg, "FROM:")
	if !ok {
		c.reply(501, "5.5.4", replyMailSyntax)
		return
	}
	p := pathParser{s: strings.TrimSpace(rest)}
	from, err := p.reversePath()
	if err != nil {
		c.reply(501, "5.5.4", replyMailSyntax)
		return
	}
	params, ok := parseParams(p.s)
	if !ok {
		c.reply(501, "5.5.4", "Unable to parse MAIL ESMTP parameters")
		return
	}
	rc := c.cs.rc
	utf8, body, ret, envid, requireTLS := false, "", "", "", false
	for _, kv := range params {
		switch kv.key {
		case "SIZE", "BODY", "SMTPUTF8", "RET", "ENVID":
			off := kv.key == "SIZE" && rc.SizeEnabled == connector.SizeDisabled ||
				kv.key == "SMTPUTF8" && !rc.SmtpUtf8Enabled ||
				(kv.key == "RET" || kv.key == "ENVID") && !rc.DeliveryStatusNotificationEnabled
			if off {
				c.replyErr(notOffered(kv.key), 555, "5.5.4")
				return
			}
		}
		switch kv.key {
		case "SIZE":
			size, err := strconv.ParseUint(kv.value, 10, 32)
			if err != nil {
				c.reply(501, "5.5.4", "Unable to parse SIZE as an integer")
				return
			}
			if max := c.sess.maxMessageLen(); max > 0 && int64(size) > max {
				c.reply(552, "5.3.4", replySizeExceeded)
				return
			}
		case "BODY":
			t, refusal := c.bodyParam(kv.value)
			if refusal != nil {
				c.replyErr(refusal, 501, "5.5.4")
				return
			}
			body = t
		case "SMTPUTF8":
			if kv.value != "" { // RFC 6531 section 3.4: a keyword without a value
				c.reply(501, "5.5.4", "SMTPUTF8 takes no value")
				return
			}
			utf8 = true
		case "REQUIRETLS":
			if c.tlsState == nil {
				c.reply(555, "5.5.4", fmt.Sprintf(replyUnknownParameter, kv.key)) // not offered in EHLO
				return
			}
			if kv.value != "" { // RFC 8689 section 4.1: a keyword without a value
				c.reply(501, "5.5.4", "REQUIRETLS takes no value")
				return
			}
			requireTLS = true
		case "RET":
			switch v := strings.ToUpper(kv.value); v {
			case "FULL", "HDRS":
				ret = v
			default:
				c.reply(501, "5.5.4", "Unknown RET value")
				return
			}
		case "ENVID":
			v, err := decodeXtext(kv.value)
			if err != nil || v == "" || !isPrintableASCII(v) {
				c.reply(501, "5.5.4", "Malformed ENVID parameter value")
				return
			}
			envid = v
		case "AUTH":
			if v, err := decodeXtext(kv.value); err != nil || v == "" {
				c.reply(500, "5.5.4", "Malformed AUTH parameter value")
				return
			}
		default:
			// RFC 5321 section 4.1.1.11
			c.reply(555, "5.5.4", fmt.Sprintf(replyUnknownParameter, kv.key))
			return
		}
	}
	c.sess.utf8, c.sess.body, c.sess.ret, c.sess.envid = utf8, body, ret, envid
	c.sess.requireTLS = requireTLS
	if refusal := c.needUTF8(from); refusal != nil {
		c.replyErr(refusal, 553, "5.6.7")
		return
	}
	if err := c.sess.Mail(from); err != nil {
		c.replyErr(err, 451, "4.0.0")
		return
	}
	c.reply(replyMailOK.code, replyMailOK.enh, replyMailOK.text)
}

func (c *conn) rcpt(arg string) {
	if !c.sess.hasFrom {
		c.reply(replyNoMail.code, replyNoMail.enh, replyNoMail.text)
		return
	}
	rest, ok := cutPrefixFold(arg, "TO:")
	if !ok {
		c.reply(501, "5.5.4", replyRcptSyntax)
		return
	}
	rest = c.qualify(strings.TrimSpace(rest))
	// RFC 5321 section 4.5.1: RCPT TO:<Postmaster> without a domain must
	// be accepted; it is the postmaster of our default accepted domain.
	if c.postmaster != "" && len(rest) >= 12 && strings.EqualFold(rest[:12], "<postmaster>") {
		rest = "<" + c.postmaster + ">" + rest[12:]
	}
	p := pathParser{s: rest}
	to, err := p.path()
	if err != nil {
		c.reply(501, "5.5.4", replyRcptSyntax)
		return
	}
	if max := c.sess.rc.MaxRecipientsPerMessage; max > 0 && len(c.sess.rcpts) >= max {
		c.reply(452, "4.5.3", fmt.Sprintf(replyTooManyRcpts, max))
		return
	}
	params, ok := parseParams(p.s)
	if !ok {
		c.reply(501, "5.5.4", "Unable to parse RCPT ESMTP parameters")
		return
	}
	var notify []string
	for _, kv := range params {
		if (kv.key == "NOTIFY" || kv.key == "ORCPT") && !c.cs.rc.DeliveryStatusNotificationEnabled {
			c.replyErr(notOffered(kv.key), 555, "5.5.4")
			return
		}
		switch kv.key {
		case "NOTIFY":
			notify = strings.Split(strings.ToUpper(kv.value), ",")
			if !validNotify(notify) {
				c.reply(501, "5.5.4", "Malformed NOTIFY parameter value")
				return
			}
		case "ORCPT":
			if !validORCPT(kv.value) {
				c.reply(501, "5.5.4", "Malformed ORCPT parameter value")
				return
			}
		default:
			c.reply(555, "5.5.4", fmt.Sprintf(replyUnknownParameter, kv.key))
			return
		}
	}
	if refusal := c.needUTF8(to); refusal != nil {
		c.replyErr(refusal, 553, "5.6.7")
		return
	}
	if err := c.sess.Rcpt(to, notify); err != nil {
		c.replyErr(err, 451, "4.0.0")
		return
	}
	c.reply(replyRcptOK.code, replyRcptOK.enh, replyRcptOK.text)
}

// data receives a message (RFC 5321 section 4.1.1.4). Whatever the
// session answers, the data is read to its end, so the next command is
// read where the client sent it.
func (c *conn) data(arg string) {
	if arg != "" {
		c.reply(replyArgs.code, replyArgs.enh, replyArgs.text)
		return
	}
	if !c.sess.hasFrom || len(c.sess.rcpts) == 0 {
		c.reply(replyNoRcpt.code, replyNoRcpt.enh, replyNoRcpt.text)
		return
	}
	if c.sess.body == bodyBinaryMIME {
		c.reply(503, "5.5.1", "BODY=BINARYMIME needs BDAT, not DATA (RFC 3030 section 3)")
		return
	}
	c.reply(354, replyData.enh, replyData.text)
	dr := newDataReader(c.br)
	err := c.sess.Data(dr)
	if _, derr := io.Copy(io.Discard, dr); derr != nil {
		// The client went away, or stopped sending, in the middle of the
		// data: nothing was queued and there is no one to answer.
		c.sess.Reset()
		c.quit = true
		return
	}
	c.sess.Reset()
	if err == nil {
		c.reply(250, "2.0.0", "OK")
		return
	}
	c.replyErr(err, 554, "5.0.0")
}

// auth runs AUTH (RFC 4954).
func (c *conn) auth(arg string) {
	if c.needHello() {
		return
	}
	if c.sess.user != "" {
		c.reply(503, "5.5.2", replyAlreadyAuth)
		return
	}
	parts := strings.Fields(arg)
	if len(parts) == 0 {
		c.reply(replyAuthNoMech.code, replyAuthNoMech.enh, replyAuthNoMech.text)
		return
	}
	var resp []byte
	if len(parts) > 1 {
		var err error
		if resp, err = decodeSASL(parts[1]); err != nil {
			c.reply(replyBadBase64.code, replyBadBase64.enh, replyBadBase64.text)
			return
		}
	}
	srv, err := c.sess.Auth(parts[0])
	if err != nil {
		c.replyErr(err, 454, "4.7.0")
		return
	}
	for {
		challenge, done, err := srv.Next(resp)
		if err != nil {
			c.replyErr(err, 454, "4.7.0")
			return
		}
		if done {
			break
		}
		c.reply(334, "", base64.StdEncoding.EncodeToString(challenge))
		line, err := c.readLine()
		if err != nil {
			c.readFailed(err)
			c.quit = true
			return
		}
		c.plog.Credential()
		if line == "*" {
			c.reply(replyAuthCancelled.code, replyAuthCancelled.enh, replyAuthCancelled.text)
			return
		}
		if resp, err = decodeSASL(line); err != nil {
			c.reply(replyBadBase64.code, replyBadBase64.enh, replyBadBase64.text)
			return
		}
	}
	c.reply(235, "2.7.0", "Authentication successful")
}

func decodeSASL(s string) ([]byte, error) {
	if s == "=" {
		return []byte{}, nil
	}
	return base64.StdEncoding.DecodeString(s)
}

// startTLS runs STARTTLS (RFC 3207). Anything the client pipelined after
// it was sent in the clear and is discarded (section 5; CVE-2011-0411),
// and everything learned before the handshake is forgotten (section 4.2):
// the session starts over, as if the client had just connected, without
// the greeting.
func (c *conn) startTLS(arg string) {
	switch {
	case c.tlsState != nil:
		c.reply(replyTLSActive.code, replyTLSActive.enh, replyTLSActive.text)
		return
	case c.tlsCfg == nil:
		// Not offered in EHLO: an unknown command here (RFC 3207 section 4).
		c.protocolError(replyNoTLS.code, replyNoTLS.enh, replyNoTLS.text)
		return
	case arg != "":
		c.reply(replyArgs.code, replyArgs.enh, replyArgs.text)
		return
	}
	c.br.Discard(c.br.Buffered())
	c.reply(220, "2.0.0", replyTLSReady)
	if err := c.flush(); err != nil {
		c.quit = true
		return
	}
	tc := tls.Server(c.raw, c.tlsCfg)
	ctx, cancel := context.WithTimeout(c.srv.ctx, 30*time.Second)
	defer cancel()
	if err := tc.HandshakeContext(ctx); err != nil {
		c.plog.Info("TLS negotiation failed: "+err.Error(), "")
		c.quit = true
		return
	}
	st := tc.ConnectionState()
	c.tlsState = &st
	c.plog.Info(protolog.TLSInfo(st), "")
	if c.onTLS != nil {
		c.onTLS(&st)
	}
	c.setStream(tc)
	c.needEHLO = true
	c.errCount = 0
	c.sess = c.srv.newSession(c)
}

// parseCommand splits a command line into its verb (upper case) and
// argument (RFC 5321 section 4.1.1: the verb, then a space and the
// argument).
func parseCommand(line string) (verb, arg string) {
	verb, arg, _ = strings.Cut(line, " ")
	return strings.ToUpper(verb), strings.TrimSpace(arg)
}

func cutPrefixFold(s, prefix string) (string, bool) {
	if len(s) < len(prefix) || !strings.EqualFold(s[:len(prefix)], prefix) {
		return "", false
	}
	return s[len(prefix):], true
}

type param struct{ key, value string }

// parseParams parses ESMTP parameters (RFC 5321 section 4.1.2,
// esmtp-param): keyword or keyword=value, separated by spaces.
func parseParams(s string) ([]param, bool) {
	var out []param
	for _, f := range strings.Fields(s) {
		k, v, _ := strings.Cut(f, "=")
		if strings.Contains(v, "=") || k == "" {
			return nil, false
		}
		out = append(out, param{strings.ToUpper(k), v})
	}
	return out, true
}

// validNotify checks a NOTIFY value (RFC 3461 section 4.1): NEVER alone,
// or SUCCESS, FAILURE and DELAY, each once.
func validNotify(vals []string) bool {
	seen := map[string]bool{}
	for _, v := range vals {
		switch v {
		case "NEVER", "SUCCESS", "FAILURE", "DELAY":
		default:
			return false
		}
		if seen[v] {
			return false
		}
		seen[v] = true
	}
	return len(seen) > 0 && (!seen["NEVER"] || len(seen) == 1)
}

// validORCPT checks an ORCPT value (RFC 3461 section 4.2): addr-type ";"
// xtext, with rfc822 or utf-8 as the type.
func validORCPT(v string) bool {
	typ, addr, ok := strings.Cut(v, ";")
	if !ok || typ == "" || addr == "" {
		return false
	}
	switch strings.ToUpper(typ) {
	case "RFC822":
		a, err := decodeXtext(addr)
		return err == nil && a != "" && isPrintableASCII(a)
	case "UTF-8":
		return true
	}
	return false
}

// decodeXtext decodes xtext (RFC 3461 section 4): "+" and two upper-case
// hex digits stand for one octet.
func decodeXtext(s string) (string, error) {
	if !strings.Contains(s, "+") {
		return s, nil
	}
	var b bytes.Buffer
	for i := 0; i < len(s); i++ {
		if s[i] != '+' {
			b.WriteByte(s[i])
			continue
		}
		if i+3 > len(s) {
			return "", errors.New("incomplete hexchar")
		}
		v, err := strconv.ParseUint(s[i+1:i+3], 16, 8)
		if err != nil || strings.ToUpper(s[i+1:i+3]) != s[i+1:i+3] {
			return "", errors.New("bad hexchar")
		}
		b.WriteByte(byte(v))
		i += 2
	}
	return b.String(), nil
}

func isPrintableASCII(s string) bool {
	for i := 0; i < len(s); i++ {
		if s[i] < ' ' || s[i] > '~' {
			return false
		}
	}
	return true
}

// pathParser parses the paths of MAIL and RCPT (RFC 5321 section 4.1.2)
// the way go-smtp did: angle brackets optional, a source route skipped
// (address.ParseRecipient refuses what it hides), a quoted local part
// unquoted.
type pathParser struct{ s string }

func (p *pathParser) accept(c byte) bool {
	if len(p.s) > 0 && p.s[0] == c {
		p.s = p.s[1:]
		return true
	}
	return false
}

func (p *pathParser) reversePath() (string, error) {
	if strings.HasPrefix(p.s, "<>") {
		p.s = p.s[2:]
		return "", nil
	}
	return p.path()
}

func (p *pathParser) path() (string, error) {
	bracket := p.accept('<')
	if p.accept('@') {
		i := strings.IndexByte(p.s, ':')
		if i < 0 {
			return "", errors.New("malformed source route")
		}
		p.s = p.s[i+1:]
	}
	mbox, err := p.mailbox()
	if err != nil {
		return "", err
	}
	if bracket && !p.accept('>') {
		return "", errors.New("missing '>'")
	}
	return mbox, nil
}

func (p *pathParser) mailbox() (string, error) {
	var sb strings.Builder
	if p.accept('"') {
		for {
			if len(p.s) == 0 {
				return "", errors.New("malformed quoted string")
			}
			c := p.s[0]
			p.s = p.s[1:]
			if c == '"' {
				break
			}
			if c == '\\' {
				if len(p.s) == 0 {
					return "", errors.New("malformed quoted string")
				}
				c = p.s[0]
				p.s = p.s[1:]
			}
			sb.WriteByte(c)
		}
	} else {
		for len(p.s) > 0 && p.s[0] != '@' {
			switch p.s[0] {
			case '(', ')', '<', '>', '[', ']', ':', ';', '\\', ',', '"', ' ', '\t':
				return "", errors.New("malformed local part")
			}
			sb.WriteByte(p.s[0])
			p.s = p.s[1:]
		}
	}
	if sb.Len() == 0 {
		return "", errors.New("empty local part")
	}
	if !p.accept('@') {
		return "", errors.New("missing '@'")
	}
	sb.WriteByte('@')
	n := 0
	for len(p.s) > 0 && p.s[0] != ' ' && p.s[0] != '\t' && p.s[0] != '>' {
		sb.WriteByte(p.s[0])
		p.s = p.s[1:]
		n++
	}
	if n == 0 {
		return "", errors.New("empty domain")
	}
	return sb.String(), nil
}
