package service

import (
	"bytes"
	"fmt"
	"io"
	"log/slog"
	"strings"
	"time"

	"github.com/transportd/transportd/transport/admin/config"
	"github.com/transportd/transportd/transport/mail/delivery"
	"github.com/transportd/transportd/transport/mail/dsn"
	"github.com/transportd/transportd/transport/mail/queue"
	"github.com/transportd/transportd/transport/mail/routing"
	"github.com/transportd/transportd/transport/mail/smtpout"
)

// router is the categorizer of one configuration (routing.Router) with
// the send connectors' senders it routes to, which are closed when the
// router is replaced.
type router struct {
	*routing.Router
	senders map[string]*smtpout.Sender
}

// newRouter builds the router of configuration c, which a reload at
// changed brought (zero: the one the daemon starts with; see routing.Grace).
func newRouter(c *config.Config, dir *directory, mailbox delivery.Target, changed time.Time, log *slog.Logger, tlsEnv tlsPolicyEnv) (*router, error) {
	tbl, err := c.DomainTable()
	if err != nil {
		return nil, err
	}
	r := &router{senders: map[string]*smtpout.Sender{}}
	targets := map[string]delivery.Target{}
	// Set-TransportService -ExternalDNSServers for connectors with
	// UseExternalDNSServersEnabled, -InternalDNSServers (when set) for the
	// others; else the system's resolver.
	external, err := smtpout.NewResolver(c.Transport.ExternalDNSServers)
	if err != nil {
		return nil, fmt.Errorf("Transport.ExternalDNSServers: %w", err)
	}
	internal, err := smtpout.NewResolver(c.Transport.InternalDNSServers)
	if err != nil {
		return nil, fmt.Errorf("Transport.InternalDNSServers: %w", err)
	}
	policies := newTLSPolicies(c, external, internal, log, tlsEnv)
	for _, sc := range c.SendConnectors {
		if !sc.Enabled {
			continue
		}
		dns := internal
		if sc.UseExternalDNSServersEnabled && external != nil {
			dns = external
		}
		s := smtpout.New(smtpout.Options{Connector: sc, HeloName: c.Server.Fqdn, Logger: log.With("send_connector", sc.Name), DNS: dns,
			TLSPolicies: policies.forConnector(sc.UseExternalDNSServersEnabled && external != nil)})
		r.senders[sc.Name], targets[sc.Name] = s, s
	}
	r.Router = routing.New(routing.Options{
		Domains: tbl,
		IsMailbox: func(addr string) bool {
			_, ok := dir.byAddr[strings.ToLower(addr)]
			return ok
		},
		Mailbox:        mailbox,
		SendConnectors: c.SendConnectors,
		Senders:        targets,
		Changed:        changed,
		MaxSendSize:    int64(c.Transport.MaxSendSize),
		MaxReceiveSize: int64(c.Transport.MaxReceiveSize),
	})
	return r, nil
}

func (r *router) close() {
	for _, s := range r.senders {
		s.Close()
	}
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
	if delayed && !delayDSNEnabled(cfg, env.From) {
		return nil
	}
	rep := dsn.Report{ReportingMTA: cfg.Server.Fqdn, From: postmasterOf(cfg), To: env.From, QueueID: env.ID,
		ArrivalDate: env.ReceivedAt, Original: bytes.NewReader(orig), Now: now,
		// RFC 3461 section 4.3: RET=FULL returns the whole message (up to
		// 10 MB, as a DSN must stay deliverable); otherwise the headers.
		EnvelopeID: env.EnvID, ReturnFull: env.Ret == "FULL", FullLimit: 10 << 20}
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

// delayDSNEnabled applies Set-TransportConfig's InternalDelayDsnEnabled
// (the sender is a mailbox here) and ExternalDelayDsnEnabled (anyone else).
func delayDSNEnabled(cfg *config.Config, sender string) bool {
	if cfg.FindMailbox(sender) != nil {
		return cfg.Transport.InternalDelayDsnEnabled
	}
	return cfg.Transport.ExternalDelayDsnEnabled
}
