package smtpout

import (
	"bufio"
	"errors"
	"io"
	"log/slog"
	"net/textproto"
	"strconv"
	"strings"
	"time"

	"github.com/emersion/go-smtp"

	"github.com/transportd/transportd/transport/mail/delivery"
)

// go-smtp's client sends MAIL, every RCPT and DATA one at a time, waiting
// for each reply, and writes message data through net/textproto's
// byte-by-byte dot writer. With a server that offers PIPELINING (RFC 2920)
// a transaction here is two round trips instead of 3 + recipients: MAIL,
// the RCPTs and DATA go in one write (RFC 2920 section 3.1: DATA ends the
// group, since its 354 must be seen before the data), then the data, the
// final dot and its reply. Connection set-up, AUTH, RSET and QUIT stay
// with go-smtp; both read the server through the session's one reader.

// pipelined runs the transaction of transact on a server that offers
// PIPELINING. rcpts with an address that cannot be sent already have their
// result; valid lists the others.
func (s *Sender) pipelined(log *slog.Logger, sess *session, msg *delivery.Message, body io.Reader, utf8 bool, results []delivery.Result, valid []int) outcome {
	h := sess.host
	if len(valid) == 0 {
		sess.clean = true // nothing was sent
		return outcome{results: results, keep: true}
	}
	var b strings.Builder
	b.Grow(64 + 32*len(valid))
	b.WriteString("MAIL FROM:<")
	b.WriteString(msg.From)
	b.WriteString(">")
	// The parameters go-smtp's Client.Mail sends.
	if ok, _ := sess.c.Extension("8BITMIME"); ok {
		b.WriteString(" BODY=8BITMIME")
	}
	if ok, _ := sess.c.Extension("SIZE"); ok && msg.Size > 0 {
		b.WriteString(" SIZE=")
		b.WriteString(strconv.FormatInt(msg.Size, 10))
	}
	if utf8 {
		b.WriteString(" SMTPUTF8")
	}
	if msg.RequireTLS { // RFC 8689 section 4.2.1; the session checked the server offers it
		b.WriteString(" REQUIRETLS")
	}
	b.WriteString("\r\n")
	for _, i := range valid {
		b.WriteString("RCPT TO:<")
		b.WriteString(results[i].Recipient)
		b.WriteString(">\r\n")
	}
	b.WriteString("DATA\r\n")

	defer sess.raw.SetDeadline(time.Time{})
	if err := sess.raw.SetDeadline(time.Now().Add(s.cmdTTL)); err != nil {
		return outcome{hostErr: lost(h, "MAIL", err), retryFresh: sess.reused}
	}
	if _, err := io.WriteString(sess.w, b.String()); err != nil {
		return outcome{hostErr: lost(h, "MAIL", err), retryFresh: sess.reused}
	}

	// The replies, in order: MAIL, each RCPT, DATA.
	mailErr, err := sess.reply(250)
	if err != nil {
		return outcome{hostErr: lost(h, "MAIL", err), retryFresh: sess.reused}
	}
	if mailErr != nil {
		e, _ := replyOf(mailErr, h.name)
		for i := range results {
			results[i].Err = e
		}
		if closing(mailErr) { // 421: the server is going away
			return outcome{results: results}
		}
		// Read the replies to the rest of the group (503 each, from a
		// server that follows RFC 2920) to know where the next one starts.
		return outcome{results: results, keep: sess.finishRefused(len(valid))}
	}
	var accepted []int
	for _, i := range valid {
		rerr, err := sess.reply(25)
		if err != nil {
			return outcome{hostErr: lost(h, "RCPT", err)}
		}
		if rerr == nil {
			accepted = append(accepted, i)
			continue
		}
		e, _ := replyOf(rerr, h.name)
		results[i].Err = e
		if closing(rerr) { // 421: the server is going away; nobody is delivered
			for j := range results {
				if j > i || results[j].Err == nil {
					results[j].Err = e
				}
			}
			return outcome{results: results}
		}
	}
	dataErr, err := sess.reply(354)
	if err != nil {
		return outcome{hostErr: lost(h, "DATA", err)}
	}
	forAccepted := func(e *delivery.Error) {
		for _, i := range accepted {
			results[i].Err = e
		}
	}
	if dataErr != nil {
		e, _ := replyOf(dataErr, h.name)
		forAccepted(e)
		return outcome{results: results, keep: !closing(dataErr) && sess.synced()}
	}
	if len(accepted) == 0 {
		// RFC 2920 section 3.1: DATA was accepted although no recipient
		// was; end the empty message, which the server must refuse.
		return outcome{results: results, keep: sess.endEmpty()}
	}

	if err := sess.raw.SetDeadline(time.Now().Add(s.dataTTL)); err != nil {
		return outcome{hostErr: lost(h, "message data", err)}
	}
	src := &readTracker{r: body}
	data := newCRLFReader(src)
	defer data.release()
	data.dotStuff = true
	sess.bw.Reset(sess.w)
	if _, err := data.WriteTo(sess.bw); err != nil {
		if src.err != nil {
			// Ending DATA now would send a truncated message: drop the
			// connection instead, which makes the server discard it.
			forAccepted(delivery.Temporary([3]int{4, 3, 0}, "cannot read message %s: %v", msg.ID, src.err))
			return outcome{results: results}
		}
		return outcome{hostErr: lost(h, "message data", err)}
	}
	end := ".\r\n"
	if !data.atLineStart() {
		end = "\r\n.\r\n" // RFC 5321 section 4.1.1.4: the data ends with CRLF
	}
	sess.bw.WriteString(end)
	if err := sess.bw.Flush(); err != nil {
		return outcome{hostErr: lost(h, "message data", err)}
	}
	finalErr, err := sess.reply(250)
	if err != nil {
		// The message may have arrived (RFC 1047): retry later, but not
		// elsewhere now.
		forAccepted(tempf(h.name, [3]int{4, 4, 2}, "connection to %s lost after the end of data, the message may have been delivered: %v", h.name, err))
		return outcome{results: results}
	}
	sess.clean = true
	if finalErr != nil {
		e, _ := replyOf(finalErr, h.name)
		forAccepted(e)
		return outcome{results: results, keep: !closing(finalErr) && sess.synced()}
	}
	log.Debug("delivered", "host", h.name, "tls", sess.tls, "reused", sess.reused, "pipelined", true, "accepted", len(accepted), "of", len(results), "reply", sess.lastReply)
	return outcome{results: results, keep: sess.synced()}
}

// finishRefused reads the replies to the RCPTs and DATA of a group whose
// MAIL was refused, ending an empty message if DATA was accepted anyway.
// It reports whether the connection can be used again.
func (ss *session) finishRefused(rcpts int) bool {
	for range rcpts {
		if _, err := ss.reply(25); err != nil {
			return false
		}
	}
	dataErr, err := ss.reply(354)
	if err != nil {
		return false
	}
	if dataErr != nil {
		return !closing(dataErr) && ss.synced()
	}
	return ss.endEmpty()
}

// endEmpty ends the data of a message after a 354 that should not have
// come, and reads the reply. It reports whether the connection can be
// used again.
func (ss *session) endEmpty() bool {
	if _, err := io.WriteString(ss.w, ".\r\n"); err != nil {
		return false
	}
	rerr, err := ss.reply(250)
	return err == nil && !closing(rerr) && ss.synced()
}

// reply reads one reply. A reply other than expect (RFC 5321 section 4.2;
// a one- or two-digit expect matches the leading digits) comes back as a
// *smtp.SMTPError in rerr; err is set when no reply could be read.
func (ss *session) reply(expect int) (rerr error, err error) {
	_, msg, err := ss.tr.ReadResponse(expect)
	var te *textproto.Error
	if errors.As(err, &te) {
		return smtpError(te), nil
	}
	if err != nil {
		return nil, err
	}
	ss.lastReply = msg
	return nil, nil
}

// synced reports that nothing the server sent is left unread: a server
// that sends more replies than commands is not trusted with the next
// transaction.
func (ss *session) synced() bool { return ss.br.Buffered() == 0 }

// smtpError turns a reply into go-smtp's error type, with the enhanced
// status code (RFC 3463) split off the text as go-smtp's client does.
func smtpError(te *textproto.Error) *smtp.SMTPError {
	e := &smtp.SMTPError{Code: te.Code, Message: te.Msg}
	first, rest, ok := strings.Cut(te.Msg, " ")
	if !ok {
		return e
	}
	if enh := enhancedOf(te.Msg); enh != [3]int{} {
		e.EnhancedCode = smtp.EnhancedCode(enh)
		// RFC 2034: every line of a multi-line reply repeats the code.
		e.Message = strings.ReplaceAll(rest, "\n"+first+" ", "\n")
	}
	return e
}

// maxReplyLine bounds a reply line from the server, as go-smtp's client
// does (twice RFC 5321's 512 octets and more): a server that never ends
// a line does not fill our memory.
const maxReplyLine = 2000

// lineLimitReader fails a read when a line grows beyond max octets.
type lineLimitReader struct {
	r   io.Reader
	max int
	cur int
}

var errReplyLineTooLong = errors.New("reply line too long")

// Read implements io.Reader.
func (l *lineLimitReader) Read(p []byte) (int, error) {
	n, err := l.r.Read(p)
	for _, b := range p[:n] {
		if b == '\n' {
			l.cur = 0
			continue
		}
		if l.cur++; l.cur > l.max {
			return 0, errReplyLineTooLong
		}
	}
	return n, err
}

// newReplyReader is the one reader of a session: go-smtp reads the replies
// to its commands from it, pipelined transactions theirs.
func newReplyReader(r io.Reader) *bufio.Reader {
	return bufio.NewReader(&lineLimitReader{r: r, max: maxReplyLine})
}
