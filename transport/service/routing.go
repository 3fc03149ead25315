package service

import (
	"bytes"
	"context"
	"fmt"
	"io"
	"log/slog"
	"strings"
	"time"

	"github.com/transportd/transportd/policies/domains"
	"github.com/transportd/transportd/transport/admin/config"
	"github.com/transportd/transportd/transport/mail/delivery"
	"github.com/transportd/transportd/transport/mail/dsn"
	"github.com/transportd/transportd/transport/mail/queue"
	"github.com/transportd/transportd/transport/mail/sendconnector"
	"github.com/transportd/transportd/transport/mail/smtpout"
)

// Queue names and delivery types as Get-Queue shows them.
const (
	mailboxQueue = "Mailbox Delivery"
	// unreachableQueue holds recipients that no route covers while the
	// configuration is being changed, as Exchange's Unreachable queue.
	unreachableQueue = "Unreachable"
)

// routingGrace is how long after a configuration change a recipient that
// cannot be routed (no send connector covers it, or an authoritative
// domain has no such mailbox) waits in the Unreachable queue and is
// retried, instead of bouncing at once: the failure may come from a
// configuration that exists for a few seconds, such as the moment between
// removing a send connector and adding its replacement. Every applied
// change retries the Unreachable queue at once. Once the configuration has
// been stable this long, a recipient still unroutable bounces (5.4.4 or
// 5.1.1) at its next retry, as it does at once when nothing changed.
const routingGrace = 10 * time.Minute

// router is the categorizer: it sends recipients of authoritative domains
// (and known mailboxes of internal-relay domains) to mailbox delivery, and
// everything else to the best-matching send connector.
type router struct {
	domains *domains.Table
	dir     *directory
	conns   []sendconnector.SendConnector
	senders map[string]*smtpout.Sender
	mailbox delivery.Target
	// changed is when this configuration was applied by a reload (zero
	// for the one the daemon started with); until routingGrace after it,
	// routing failures are transient.
	changed time.Time
	now     func() time.Time
}

func newRouter(c *config.Config, dir *directory, mailbox delivery.Target, log *slog.Logger) (*router, error) {
	tbl, err := c.DomainTable()
	if err != nil {
		return nil, err
	}
	r := &router{domains: tbl, dir: dir, conns: c.SendConnectors, senders: map[string]*smtpout.Sender{}, mailbox: mailbox, now: time.Now}
	for _, sc := range c.SendConnectors {
		if !sc.Enabled {
			continue
		}
		r.senders[sc.Name] = smtpout.New(smtpout.Options{Connector: sc, HeloName: c.Server.Fqdn, Logger: log.With("send_connector", sc.Name)})
	}
	return r, nil
}

func (r *router) close() {
	for _, s := range r.senders {
		s.Close()
	}
}

// Route implements queue.Router.
func (r *router) Route(rcpt string, size int64) queue.Route {
	_, domain, _ := strings.Cut(strings.ToLower(rcpt), "@")
	if d, ok := r.domains.Lookup(domain); ok {
		_, exists := r.dir.byAddr[strings.ToLower(rcpt)]
		switch {
		case exists && d.DomainType != domains.ExternalRelay:
			return queue.Route{Queue: mailboxQueue, DeliveryType: "SmtpDeliveryToMailbox", Target: r.mailbox}
		case d.DomainType == domains.Authoritative:
			return r.unroutable(&delivery.Error{Code: 550, Enhanced: [3]int{5, 1, 1},
				Message: "User unknown: " + rcpt + " has no mailbox here (authoritative domain " + d.DomainName + ")"})
		}
	}
	sc := sendconnector.Select(r.conns, domain, size)
	if sc == nil {
		return r.unroutable(&delivery.Error{Code: 550, Enhanced: [3]int{5, 4, 4},
			Message: "Unable to route: no enabled send connector has an address space covering " + domain +
				" for a message of this size (add one with: transportd sendconnector new -name Outbound -addressspaces * -smarthosts host)"})
	}
	s := r.senders[sc.Name]
	if sc.DNSRoutingEnabled {
		return queue.Route{Queue: domain, DeliveryType: "DnsConnectorDelivery", Target: s}
	}
	return queue.Route{Queue: sc.Name, DeliveryType: "SmartHostConnectorDelivery", Target: s}
}

// unroutable bounces a recipient with fail, or, within routingGrace of a
// configuration change, sends it to the Unreachable queue to be retried.
func (r *router) unroutable(fail *delivery.Error) queue.Route {
	if r.changed.IsZero() || !r.now().Before(r.changed.Add(routingGrace)) {
		return queue.Route{Fail: fail}
	}
	defer4 := &delivery.Error{Code: 451, Enhanced: [3]int{4, fail.Enhanced[1], fail.Enhanced[2]},
		Message: fmt.Sprintf("%s; waiting in the Unreachable queue because the configuration changed at %s: retried at every change, and bounced if still unroutable after %s without change",
			fail.Message, r.changed.Format(time.TimeOnly), routingGrace)}
	return queue.Route{Queue: unreachableQueue, DeliveryType: "Unreachable", Target: unreachableTarget{defer4}}
}

// unreachableTarget defers every recipient with the reason it has no route.
type unreachableTarget struct{ err *delivery.Error }

// Deliver implements delivery.Target.
func (u unreachableTarget) Deliver(_ context.Context, _ *delivery.Message, rcpts []string) []delivery.Result {
	out := make([]delivery.Result, len(rcpts))
	for i, rc := range rcpts {
		out[i] = delivery.Result{Recipient: rc, Err: u.err}
	}
	return out
}

// notifier builds DSNs with the dsn package (RFC 3464).
// Its sender, reporting MTA and expiry come from the configuration in
// force when the DSN is built, so a changed default accepted domain or
// ExternalPostmasterAddress applies at once.
type notifier struct {
	config func() *config.Config
	log    *slog.Logger
}

// DSN implements queue.Notifier.
func (n *notifier) DSN(env queue.Envelope, original io.Reader, rcpts []queue.RecipientState, delayed bool, now time.Time) []byte {
	var buf bytes.Buffer
	// Read the original once: its header decides whether it is itself a
	// notification (never bounce a bounce), and the DSN quotes it.
	orig, err := io.ReadAll(io.LimitReader(original, 256<<10))
	if err != nil {
		n.log.Error("reading the original for a DSN", "queue_id", env.ID, "err", err)
		return nil
	}
	if dsn.IsDSN(queue.HeaderOf(bytes.NewReader(orig))) {
		n.log.Info("no DSN for a message that is itself a notification", "queue_id", env.ID)
		return nil
	}
	cfg := n.config()
	rep := dsn.Report{ReportingMTA: cfg.Server.Fqdn, From: postmasterOf(cfg), To: env.From, QueueID: env.ID,
		ArrivalDate: env.ReceivedAt, Original: bytes.NewReader(orig), Now: now}
	for _, r := range rcpts {
		// The dates and the last real reply the queue has (Get-Message
		// shows the same), not a generic "host down".
		rr := dsn.Recipient{Address: r.Address, LastAttempt: r.LastAttempt}
		if rr.LastAttempt.IsZero() {
			rr.LastAttempt = now
		}
		if delayed {
			rr.Action = dsn.Action("delayed")
			rr.Status = [3]int{4, 4, 1}
			rr.DiagnosticCode = r.LastError
			if lr := r.LastReply; lr != nil {
				rr.Status = [3]int{4, lr.Enhanced[1], lr.Enhanced[2]}
				rr.DiagnosticCode, rr.RemoteMTA = lr.Error(), lr.RemoteMTA
			}
			rr.WillRetryUntil = r.RetryUntil
			if rr.WillRetryUntil.IsZero() {
				rr.WillRetryUntil = env.ReceivedAt.Add(cfg.Transport.MessageExpirationTimeout.Duration())
			}
		} else {
			rr.Action = dsn.Action("failed")
			if lr := r.LastReply; r.Expired && lr != nil {
				rr.Status = [3]int{5, lr.Enhanced[1], lr.Enhanced[2]}
				rr.DiagnosticCode, rr.RemoteMTA, rr.Expired = lr.Error(), lr.RemoteMTA, true
			} else if r.Reply != nil {
				rr.Status = r.Reply.Enhanced
				if rr.Status[0] != 5 {
					rr.Status[0] = 5
				}
				rr.DiagnosticCode = r.Reply.Error()
				rr.RemoteMTA = r.Reply.RemoteMTA
			} else {
				rr.Status = [3]int{5, 0, 0}
				rr.DiagnosticCode = r.LastError
			}
		}
		if rr.DiagnosticCode != "" && !strings.Contains(rr.DiagnosticCode, ";") && rr.RemoteMTA == "" {
			rr.DiagnosticCode = "x-local; " + rr.DiagnosticCode
		}
		rep.Recipients = append(rep.Recipients, rr)
	}
	if err := dsn.Build(&buf, rep); err != nil {
		n.log.Error("building DSN", "queue_id", env.ID, "err", err)
		return nil
	}
	return buf.Bytes()
}
