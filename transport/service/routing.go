package service

import (
	"bytes"
	"io"
	"log/slog"
	"strings"
	"time"

	"github.com/transportd/transportd/policies/domains"
	"github.com/transportd/transportd/transport/config"
	"github.com/transportd/transportd/transport/delivery"
	"github.com/transportd/transportd/transport/dsn"
	"github.com/transportd/transportd/transport/queue"
	"github.com/transportd/transportd/transport/sendconnector"
	"github.com/transportd/transportd/transport/smtpout"
)

// Queue names and delivery types as Get-Queue shows them.
const (
	mailboxQueue = "Mailbox Delivery"
)

// router is the categorizer: it sends recipients of authoritative domains
// (and known mailboxes of internal-relay domains) to mailbox delivery, and
// everything else to the best-matching send connector.
type router struct {
	domains *domains.Table
	dir     *directory
	conns   []sendconnector.SendConnector
	senders map[string]*smtpout.Sender
	mailbox delivery.Target
}

func newRouter(c *config.Config, dir *directory, mailbox delivery.Target, log *slog.Logger) (*router, error) {
	tbl, err := c.DomainTable()
	if err != nil {
		return nil, err
	}
	r := &router{domains: tbl, dir: dir, conns: c.SendConnectors, senders: map[string]*smtpout.Sender{}, mailbox: mailbox}
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
			return queue.Route{Fail: &delivery.Error{Code: 550, Enhanced: [3]int{5, 1, 1},
				Message: "User unknown: " + rcpt + " has no mailbox here (authoritative domain " + d.DomainName + ")"}}
		}
	}
	sc := sendconnector.Select(r.conns, domain, size)
	if sc == nil {
		return queue.Route{Fail: &delivery.Error{Code: 550, Enhanced: [3]int{5, 4, 4},
			Message: "Unable to route: no enabled send connector has an address space covering " + domain +
				" for a message of this size (add one with: transportd sendconnector new -name Outbound -addressspaces * -smarthosts host)"}}
	}
	s := r.senders[sc.Name]
	if sc.DNSRoutingEnabled {
		return queue.Route{Queue: domain, DeliveryType: "DnsConnectorDelivery", Target: s}
	}
	return queue.Route{Queue: sc.Name, DeliveryType: "SmartHostConnectorDelivery", Target: s}
}

// notifier builds DSNs with the dsn package (RFC 3464).
type notifier struct {
	fqdn       string
	postmaster string
	settings   queue.Settings
	log        *slog.Logger
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
	rep := dsn.Report{ReportingMTA: n.fqdn, From: n.postmaster, To: env.From, QueueID: env.ID,
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
				rr.WillRetryUntil = env.ReceivedAt.Add(n.settings.MessageExpirationTimeout)
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
