package mailbox

import (
	"context"
	"errors"
	"fmt"
	"io"
	"log/slog"
	"net"
	"strings"
	"time"

	"github.com/emersion/go-smtp"

	"github.com/transportd/transportd/transport/mail/delivery"
)

// DefaultLMTPDialTimeout is the connect timeout when LMTP.DialTimeout is zero.
const DefaultLMTPDialTimeout = 30 * time.Second

// LMTP delivers to an external mailbox server (Dovecot, Cyrus) over LMTP
// (RFC 2033) on "host:port" or a unix socket path. It opens one connection
// per Deliver call and is safe for concurrent use.
type LMTP struct {
	// Addr is "host:port" for TCP, or the path of a unix socket (any
	// address containing "/", e.g. /var/run/dovecot/lmtp).
	Addr string
	// HeloName is the name given in LHLO; empty means "localhost".
	HeloName string
	// Logger receives one line per delivery attempt; nil discards.
	Logger *slog.Logger
	// DialTimeout bounds the connect; zero means DefaultLMTPDialTimeout.
	DialTimeout time.Duration
}

// Deliver hands msg to the LMTP server in one transaction and returns one
// result per recipient: RFC 2033 section 4.2 gives a reply after the final
// dot for every recipient accepted by RCPT, so each recipient gets its own
// outcome. Failures to connect or to talk to the server are transient;
// replies become *delivery.Error with RemoteMTA set to Addr. The context
// bounds the whole exchange.
func (l *LMTP) Deliver(ctx context.Context, msg *delivery.Message, rcpts []string) []delivery.Result {
	log := l.logger().With("msgid", msg.ID, "lmtp", l.Addr)
	// RFC 2033 replies are matched to recipients in RCPT order, and go-smtp
	// keys them by address: send each address once and copy the outcome to
	// duplicates.
	var uniq []string
	outcome := make(map[string]error, len(rcpts))
	for _, r := range rcpts {
		if _, dup := outcome[r]; !dup {
			outcome[r] = nil
			uniq = append(uniq, r)
		}
	}
	if len(uniq) > 0 {
		l.transaction(ctx, log, msg, uniq, outcome)
	}
	results := make([]delivery.Result, len(rcpts))
	for i, r := range rcpts {
		results[i] = delivery.Result{Recipient: r, Err: outcome[r]}
	}
	return results
}

func (l *LMTP) logger() *slog.Logger {
	if l.Logger != nil {
		return l.Logger
	}
	return slog.New(slog.DiscardHandler)
}

// network picks the dial network for Addr.
func (l *LMTP) network() string {
	if strings.Contains(l.Addr, "/") {
		return "unix"
	}
	return "tcp"
}

// transaction runs LHLO, MAIL, RCPT..., DATA and fills outcome for every
// address in rcpts.
func (l *LMTP) transaction(ctx context.Context, log *slog.Logger, msg *delivery.Message, rcpts []string, outcome map[string]error) {
	setAll := func(list []string, err error) {
		for _, r := range list {
			outcome[r] = err
		}
	}
	timeout := l.DialTimeout
	if timeout <= 0 {
		timeout = DefaultLMTPDialTimeout
	}
	d := net.Dialer{Timeout: timeout}
	conn, err := d.DialContext(ctx, l.network(), l.Addr)
	if err != nil {
		// RFC 3463 section 3.5: X.4.1 no answer from host.
		e := delivery.Temporary([3]int{4, 4, 1}, "cannot connect to LMTP server %s: %v", l.Addr, err)
		log.Warn("lmtp connect failed", "err", err)
		setAll(rcpts, e)
		return
	}
	// go-smtp has no context: closing the connection when ctx is done
	// unblocks whatever read or write is pending.
	stop := context.AfterFunc(ctx, func() { conn.Close() })
	defer stop()
	c := smtp.NewClientLMTP(conn)
	defer c.Close()

	helo := l.HeloName
	if helo == "" {
		helo = "localhost"
	}
	// A refused greeting or LHLO is the mailbox server's trouble, not the
	// recipients': always transient, whatever the code.
	if err := c.Hello(helo); err != nil {
		e := l.replyError(ctx, err, "LHLO")
		if e.Permanent() {
			e.Code, e.Enhanced[0] = 451, 4
		}
		log.Warn("lmtp session refused", "err", err)
		setAll(rcpts, e)
		return
	}

	var opts *smtp.MailOptions
	if msg.Size > 0 {
		opts = &smtp.MailOptions{Size: msg.Size} // RFC 1870 SIZE, sent when offered
	}
	if err := c.Mail(msg.From, opts); err != nil {
		log.Warn("lmtp MAIL FROM refused", "err", err)
		setAll(rcpts, l.replyError(ctx, err, "MAIL FROM"))
		return
	}
	var accepted []string
	for i, r := range rcpts {
		if strings.ContainsAny(r, "\r\n") {
			// RFC 3463 section 3.2: X.1.3 bad destination mailbox address syntax.
			outcome[r] = delivery.Permanentf([3]int{5, 1, 3}, "invalid address %q", r)
			continue
		}
		if err := c.Rcpt(r, nil); err != nil {
			e := l.replyError(ctx, err, "RCPT TO")
			outcome[r] = e
			var se *smtp.SMTPError
			if !errors.As(err, &se) {
				// The connection is gone: nothing of this transaction
				// can be delivered any more.
				setAll(accepted, e)
				setAll(rcpts[i:], e)
				log.Warn("lmtp connection lost", "err", err)
				return
			}
			continue
		}
		accepted = append(accepted, r)
	}
	if len(accepted) == 0 {
		_ = c.Quit()
		log.Info("lmtp: no recipient accepted")
		return
	}

	w, err := c.Data()
	if err != nil {
		setAll(accepted, l.replyError(ctx, err, "DATA"))
		log.Warn("lmtp DATA refused", "err", err)
		return
	}
	if err := copyMessage(ctx, w, msg); err != nil {
		// Our side failed mid-message (or the connection did): nothing was
		// committed, as the final dot was never sent.
		setAll(accepted, delivery.Temporary([3]int{4, 3, 0}, "LMTP delivery to %s interrupted: %v", l.Addr, err))
		log.Warn("lmtp message transfer failed", "err", err)
		return
	}
	// RFC 2033 section 4.2: one reply per accepted recipient, in RCPT order.
	// go-smtp returns the 2xx replies in resp and the others in an
	// LMTPDataError; when the replies stop early (connection lost, timeout)
	// the rest are in neither. Those may or may not have been delivered:
	// retrying risks a duplicate, never a loss.
	resp, err := w.CloseWithLMTPResponse()
	var perRcpt smtp.LMTPDataError
	errors.As(err, &perRcpt)
	for _, r := range accepted {
		if _, ok := resp[r]; ok {
			continue
		}
		if se, ok := perRcpt[r]; ok {
			outcome[r] = l.replyError(ctx, se, "DATA")
			continue
		}
		if err == nil {
			err = errors.New("reply missing")
		}
		outcome[r] = l.replyError(ctx, err, "reply after DATA")
	}
	_ = c.Quit()
	var ok, failedN int
	for _, r := range rcpts {
		if outcome[r] == nil {
			ok++
		} else {
			failedN++
		}
	}
	log.Info("lmtp delivery", "delivered", ok, "failed", failedN)
}

// copyMessage streams the stored message (CRLF text) into the DATA writer,
// which dot-stuffs it (RFC 5321 section 4.5.2).
func copyMessage(ctx context.Context, w io.Writer, msg *delivery.Message) error {
	if msg.Open == nil {
		return errors.New("message has no content")
	}
	r, err := msg.Open()
	if err != nil {
		return fmt.Errorf("opening stored message %s: %w", msg.ID, err)
	}
	defer r.Close()
	if _, err := io.Copy(w, ctxReader{ctx: ctx, r: r}); err != nil {
		return fmt.Errorf("sending message %s: %w", msg.ID, err)
	}
	return nil
}

// replyError maps a go-smtp error to a delivery error. Server replies keep
// their code and the RFC 3463 enhanced code go-smtp parsed from the reply
// text (RFC 2034 section 4); a reply without one gets X.0.0 of its class.
// Anything else (I/O, timeout, cancellation) is a transient X.4.2 bad
// connection (RFC 3463 section 3.5).
func (l *LMTP) replyError(ctx context.Context, err error, step string) *delivery.Error {
	var se *smtp.SMTPError
	if errors.As(err, &se) {
		e := &delivery.Error{Code: se.Code, Message: se.Message, RemoteMTA: l.Addr}
		ec := se.EnhancedCode
		if ec[0] >= 2 && ec[0] <= 5 {
			e.Enhanced = [3]int(ec)
		} else {
			e.Enhanced = [3]int{se.Code / 100, 0, 0}
		}
		return e
	}
	if cerr := ctx.Err(); cerr != nil {
		err = cerr
	}
	return delivery.Temporary([3]int{4, 4, 2}, "LMTP server %s: %s failed: %v", l.Addr, step, err)
}
