// Package routing is the categorizer of the transport pipeline: it decides
// the next hop of every recipient, as Exchange's categorizer and routing
// do. Recipients of accepted domains that have a mailbox go to mailbox
// delivery; every other recipient goes to the send connector whose address
// space matches its domain best (sendconnector.Select); a recipient nothing
// covers bounces, or waits in the Unreachable queue shortly after a
// configuration change.
//
// A Router is built for one configuration and replaced, not changed, when
// the configuration changes (queue.Manager.SetRouter).
package routing

import (
	"context"
	"fmt"
	"strings"
	"time"

	"github.com/transportd/transportd/policies/domains"
	"github.com/transportd/transportd/transport/mail/delivery"
	"github.com/transportd/transportd/transport/mail/queue"
	"github.com/transportd/transportd/transport/mail/sendconnector"
)

// Queue names as Get-Queue shows them.
const (
	// MailboxQueue is the delivery queue of the local mailboxes.
	MailboxQueue = "Mailbox Delivery"
	// UnreachableQueue holds recipients that no route covers while the
	// configuration is being changed, as Exchange's Unreachable queue.
	UnreachableQueue = "Unreachable"
)

// Delivery types as Get-Queue shows them (Exchange's names).
const (
	DeliveryMailbox     = "SmtpDeliveryToMailbox"
	DeliverySmartHost   = "SmartHostConnectorDelivery"
	DeliveryDNS         = "DnsConnectorDelivery"
	DeliveryUnreachable = "Unreachable"
)

// Grace is how long after a configuration change a recipient that
// cannot be routed (no send connector covers it, or an authoritative
// domain has no such mailbox) waits in the Unreachable queue and is
// retried, instead of bouncing at once: the failure may come from a
// configuration that exists for a few seconds, such as the moment between
// removing a send connector and adding its replacement. Every applied
// change retries the Unreachable queue at once. Once the configuration has
// been stable this long, a recipient still unroutable bounces (5.4.4 or
// 5.1.1) at its next retry, as it does at once when nothing changed.
const Grace = 10 * time.Minute

// Options are what a Router routes with: one configuration's accepted
// domains, mailboxes and send connectors, and the targets that deliver.
type Options struct {
	// Domains are the accepted domains.
	Domains *domains.Table
	// IsMailbox reports whether an address (any case) belongs to a mailbox.
	IsMailbox func(address string) bool
	// Mailbox delivers to the local mailboxes (Maildir or LMTP).
	Mailbox delivery.Target
	// SendConnectors are the configured send connectors, enabled or not.
	SendConnectors []sendconnector.SendConnector
	// Senders deliver through the enabled send connectors, by name.
	Senders map[string]delivery.Target
	// Changed is when a reload brought this configuration (zero for the
	// one the daemon started with); until Grace after it, routing
	// failures are transient.
	Changed time.Time
	// Now is the clock (nil: time.Now).
	Now func() time.Time

	// MaxSendSize and MaxReceiveSize are Set-TransportConfig's limits
	// (0: Unlimited): the largest message sent out through a send
	// connector, and the largest delivered to a mailbox here.
	MaxSendSize, MaxReceiveSize int64
}

// Router implements queue.Router for one configuration. It is safe for
// concurrent use: it is never changed after New.
type Router struct {
	o Options
}

// New returns the router for o.
func New(o Options) *Router {
	if o.Now == nil {
		o.Now = time.Now
	}
	if o.IsMailbox == nil {
		o.IsMailbox = func(string) bool { return false }
	}
	return &Router{o: o}
}

// Route implements queue.Router: recipients of an accepted domain that
// have a mailbox go to mailbox delivery (except in an ExternalRelay
// domain, whose recipients live elsewhere); an unknown recipient of an
// Authoritative domain fails with 5.1.1; every other recipient goes to the
// best send connector for its domain and the message size, or fails with
// 5.4.4 when there is none.
func (r *Router) Route(rcpt string, size int64) queue.Route {
	_, domain, _ := strings.Cut(strings.ToLower(rcpt), "@")
	if d, ok := r.o.Domains.Lookup(domain); ok {
		exists := r.o.IsMailbox(rcpt)
		switch {
		case exists && d.DomainType != domains.ExternalRelay:
			if r.o.MaxReceiveSize > 0 && size > r.o.MaxReceiveSize {
				return queue.Route{Fail: tooLarge(size, r.o.MaxReceiveSize, "MaxReceiveSize")}
			}
			return queue.Route{Queue: MailboxQueue, DeliveryType: DeliveryMailbox, Target: r.o.Mailbox}
		case d.DomainType == domains.Authoritative:
			return r.unroutable(&delivery.Error{Code: 550, Enhanced: [3]int{5, 1, 1},
				Message: "User unknown: " + rcpt + " has no mailbox here (authoritative domain " + d.DomainName + ")"})
		}
	}
	sc := sendconnector.Select(r.o.SendConnectors, domain, size)
	if sc == nil {
		return r.unroutable(&delivery.Error{Code: 550, Enhanced: [3]int{5, 4, 4},
			Message: "Unable to route: no enabled send connector has an address space covering " + domain +
				" for a message of this size (add one with: transportd sendconnector new -name Outbound -addressspaces * -smarthosts host)"})
	}
	if r.o.MaxSendSize > 0 && size > r.o.MaxSendSize {
		return queue.Route{Fail: tooLarge(size, r.o.MaxSendSize, "MaxSendSize")}
	}
	s := r.o.Senders[sc.Name]
	if sc.DNSRoutingEnabled {
		return queue.Route{Queue: domain, DeliveryType: DeliveryDNS, Target: s}
	}
	return queue.Route{Queue: sc.Name, DeliveryType: DeliverySmartHost, Target: s}
}

// unroutable bounces a recipient with fail, or, within Grace of a
// configuration change, sends it to the Unreachable queue to be retried.
func (r *Router) unroutable(fail *delivery.Error) queue.Route {
	if r.o.Changed.IsZero() || !r.o.Now().Before(r.o.Changed.Add(Grace)) {
		return queue.Route{Fail: fail}
	}
	defer4 := &delivery.Error{Code: 451, Enhanced: [3]int{4, fail.Enhanced[1], fail.Enhanced[2]},
		Message: fmt.Sprintf("%s; waiting in the Unreachable queue because the configuration changed at %s: retried at every change, and bounced if still unroutable after %s without change",
			fail.Message, r.o.Changed.Format(time.TimeOnly), Grace)}
	return queue.Route{Queue: UnreachableQueue, DeliveryType: DeliveryUnreachable, Target: unreachableTarget{defer4}}
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

// tooLarge is the failure of a message over an organization size limit
// (RFC 3463 X.3.4, message too big for system).
func tooLarge(size, limit int64, setting string) *delivery.Error {
	return &delivery.Error{Code: 552, Enhanced: [3]int{5, 3, 4},
		Message: fmt.Sprintf("message size %d bytes exceeds the organization's %s of %d bytes (Set-TransportConfig -%s)", size, setting, limit, setting)}
}
