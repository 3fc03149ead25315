package queue

import (
	"context"
	"io"
	"log/slog"
	"time"

	"github.com/transportd/transportd/transport/mail/delivery"
	"github.com/transportd/transportd/transport/mail/queue/message"
)

// RecipientStatus is where one recipient of a message stands.
type RecipientStatus = message.RecipientStatus

// Recipient statuses.
const (
	StatusReady     = message.StatusReady
	StatusRetry     = message.StatusRetry
	StatusDelivered = message.StatusDelivered
	StatusFailed    = message.StatusFailed
)

// RecipientState is the delivery progress of one recipient.
type RecipientState = message.RecipientState

// State is the delivery progress of a message.
type State = message.State

// Settings are the retry and expiry rules (Exchange's Set-TransportConfig
// and Set-TransportService values).
type Settings struct {
	// TransientFailureRetryInterval is the wait between the first quick retries.
	TransientFailureRetryInterval time.Duration
	// TransientFailureRetryAttempts is how many quick retries come first.
	TransientFailureRetryAttempts int
	// MessageRetryInterval is the wait between later retries.
	MessageRetryInterval time.Duration
	// MessageExpirationTimeout is how long a message may wait before it bounces.
	MessageExpirationTimeout time.Duration
	// DelayNotificationTimeout is when the sender is told once that delivery is late.
	DelayNotificationTimeout time.Duration
	// MaxConcurrencyPerQueue caps parallel deliveries per next hop.
	MaxConcurrencyPerQueue int
	// MaxConcurrentDeliveries caps parallel deliveries in all (Exchange's
	// MaxOutboundConnections); 0 means 1000.
	MaxConcurrentDeliveries int

	// OutboundConnectionFailureRetryInterval is the wait between connection
	// attempts to a next hop in Retry once the quick retries are used up;
	// 0 uses MessageRetryInterval.
	OutboundConnectionFailureRetryInterval time.Duration
	// MailboxQueue and MailboxQueueConcurrency override
	// MaxConcurrencyPerQueue for the queue of the local mailboxes
	// (Exchange's MaxConcurrentMailboxDeliveries); 0: no override.
	MailboxQueue            string
	MailboxQueueConcurrency int
}

// DefaultSettings are Exchange's defaults.
func DefaultSettings() Settings {
	return Settings{
		TransientFailureRetryInterval: 5 * time.Minute,
		TransientFailureRetryAttempts: 6,
		MessageRetryInterval:          15 * time.Minute,
		MessageExpirationTimeout:      48 * time.Hour,
		DelayNotificationTimeout:      4 * time.Hour,
		MaxConcurrencyPerQueue:        20,
	}
}

// Route is where the router sends one recipient.
type Route struct {
	// Queue is the delivery queue's next hop ("Mailbox", a send connector
	// name, a domain for DNS routing). Recipients with the same Queue share
	// a delivery queue and are delivered together.
	Queue string
	// DeliveryType is Exchange's name: SmtpDeliveryToMailbox,
	// SmartHostConnectorDelivery, DnsConnectorDelivery.
	DeliveryType string
	// Target delivers to this next hop.
	Target delivery.Target
	// Fail, when set, means the recipient cannot be routed: it bounces.
	Fail *delivery.Error
}

// Router decides the next hop of a recipient (the categorizer).
type Router interface {
	Route(recipient string, size int64) Route
}

// Notifier builds a DSN for a message (nil when none is due) and is told
// of each recipient's end. The manager queues the DSN like any message.
type Notifier interface {
	// DSN returns the DSN message for the given recipients, or nil.
	DSN(env Envelope, original io.Reader, rcpts []RecipientState, delayed bool, now time.Time) []byte
}

// EventKind names a step of a message's life reported to Options.OnEvent.
type EventKind string

// Event kinds.
const (
	// EventEnqueued: the message is stored durably (Envelope.ID is set).
	EventEnqueued EventKind = "Enqueued"
	// EventDelivered: the next hop accepted the recipients.
	EventDelivered EventKind = "Delivered"
	// EventDeferred: a transient failure; the recipients wait for a retry.
	EventDeferred EventKind = "Deferred"
	// EventFailed: the recipients failed for good (see FailReason).
	EventFailed EventKind = "Failed"
	// EventDSN: a delivery status notification was queued (Related is its id).
	EventDSN EventKind = "DSN"
	// EventPoison: the message was moved to the poison queue.
	EventPoison EventKind = "Poison"
)

// Reasons of EventFailed.
const (
	FailRouting  = "Routing"  // no route: unknown mailbox, no send connector
	FailDelivery = "Delivery" // the next hop refused for good
	FailExpired  = "Expired"  // MessageExpirationTimeout passed
	FailRemoved  = "Removed"  // an administrator removed the message
)

// Event is one step of a message's life, for message tracking and metrics.
type Event struct {
	Kind     EventKind
	Time     time.Time
	Envelope Envelope
	// Recipients are the recipients concerned, with their status and reply.
	Recipients []RecipientState
	// Queue and DeliveryType name the next hop of a delivery attempt.
	Queue        string
	DeliveryType string
	// FailReason says why recipients failed (EventFailed).
	FailReason string
	// Attempt is how long the delivery attempt took.
	Attempt time.Duration
	// Related is the queue id of the DSN (EventDSN).
	Related string
	// Delayed marks a delay notification (EventDSN).
	Delayed bool

	// Info is what the delivery target noted about the attempt
	// (delivery.Result.Info, e.g. the TLS policy applied); "" when none.
	Info string
}

// Options configure a Manager.
type Options struct {
	Store    Store
	Router   Router
	Notifier Notifier
	Settings Settings
	Logger   *slog.Logger
	// InflightDir, when set, holds a marker per message being delivered,
	// so a message that was in flight in several crashes goes to the
	// poison queue instead of taking the daemon down again.
	InflightDir string
	Now         func() time.Time
	// OnEvent, when set, is told of every step of every message's life
	// (message tracking, metrics). It is called synchronously and must be
	// quick; ctx is the Enqueue caller's for EventEnqueued.
	OnEvent func(ctx context.Context, ev Event)
	// IdleQueueTimeout is how long a delivery queue with nothing to do is
	// kept before it is forgotten; 0 means 3 minutes.
	IdleQueueTimeout time.Duration
	// SuspendedQueuesFile, when set, keeps the queues suspended with
	// Suspend-Queue across restarts.
	SuspendedQueuesFile string
}
