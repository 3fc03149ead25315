// Package message defines what the queue keeps about each message: the
// envelope as it was received (Envelope) and its delivery progress
// (State). The queue manager (package queue) writes them; the storage
// engines (packages journal and filestore) keep them without looking
// inside State.
package message

import (
	"errors"
	"time"

	"github.com/transportd/transportd/transport/mail/delivery"
)

// Recipient is one envelope recipient.
type Recipient struct {
	// Address is the recipient address, domain lower-cased.
	Address string `json:"address"`
	// Local is true when the address belonged to a mailbox when received.
	Local bool `json:"local,omitempty"`
	// Notify is the RFC 3461 NOTIFY parameter ("NEVER", "FAILURE,DELAY"), empty = default.
	Notify string `json:"notify,omitempty"`
}

// Envelope is what the SMTP session (or the pickup folder) knows about a message.
type Envelope struct {
	ID         string      `json:"id"`
	From       string      `json:"from"`
	Recipients []Recipient `json:"recipients"`
	Connector  string      `json:"connector,omitempty"`
	Source     string      `json:"source,omitempty"` // SMTP, PICKUP, DSN
	RemoteAddr string      `json:"remote_addr,omitempty"`
	HeloName   string      `json:"helo,omitempty"`
	AuthUser   string      `json:"auth_user,omitempty"`
	TLS        bool        `json:"tls,omitempty"`
	ReceivedAt time.Time   `json:"received_at"`
	Size       int64       `json:"size"`
	MessageID  string      `json:"message_id,omitempty"`
	Subject    string      `json:"subject,omitempty"`
	// SMTPUTF8 is set when MAIL carried SMTPUTF8 (RFC 6531): the message
	// goes only to next hops that offer it.
	SMTPUTF8 bool `json:"smtputf8,omitempty"`
	// Body is MAIL's BODY parameter (RFC 6152, RFC 3030), "" when none.
	Body string `json:"body,omitempty"`
	// Ret and EnvID are MAIL's RET and ENVID (RFC 3461): what a DSN
	// returns of the message, and the sender's id for it.
	Ret   string `json:"ret,omitempty"`
	EnvID string `json:"envid,omitempty"`
	// MaxMessageLen limits the body while it is received (0 = none); not stored.
	MaxMessageLen int64 `json:"-"`

	// HeaderRead tells the queue that whoever hands the message over has
	// read its header section (package header) and set MessageID and
	// Subject from it, empty or not: the queue does not read it again.
	// Not stored.
	HeaderRead bool `json:"-"`

	// RequireTLS: MAIL carried REQUIRETLS (RFC 8689); relay only over
	// validated TLS to servers that offer it.
	RequireTLS bool `json:"require_tls,omitempty"`
}

// RecipientStatus is where one recipient of a message stands.
type RecipientStatus string

// Recipient statuses.
const (
	StatusReady     RecipientStatus = "Ready"
	StatusRetry     RecipientStatus = "Retry"
	StatusDelivered RecipientStatus = "Delivered"
	StatusFailed    RecipientStatus = "Failed"
)

// RecipientState is the delivery progress of one recipient.
type RecipientState struct {
	Address   string          `json:"address"`
	Status    RecipientStatus `json:"status"`
	Attempts  int             `json:"attempts,omitempty"`
	NextRetry time.Time       `json:"next_retry,omitempty"`
	LastError string          `json:"last_error,omitempty"`
	Queue     string          `json:"queue,omitempty"`
	// Reply is the final reply for a failed recipient (for the DSN).
	Reply *delivery.Error `json:"reply,omitempty"`
	// LastReply is the reply of the last failed attempt (or the next
	// hop's, while its queue is in Retry), for Get-Message and the DSNs.
	LastReply *delivery.Error `json:"last_reply,omitempty"`
	// LastAttempt is when delivery to the recipient was last tried.
	LastAttempt time.Time `json:"last_attempt,omitempty"`
	// Expired marks a recipient failed because the message expired; Reply
	// then says so and LastReply is the last real error.
	Expired bool `json:"expired,omitempty"`
	// RetryUntil is when the queue gives up on the recipient (the
	// message's expiry); set in what Notifier.DSN receives.
	RetryUntil time.Time `json:"-"`
}

// State is the delivery progress of a message.
type State struct {
	Recipients    []RecipientState `json:"recipients"`
	DelayNotified bool             `json:"delay_notified,omitempty"`
	Suspended     bool             `json:"suspended,omitempty"`
	Poison        bool             `json:"poison,omitempty"`
	Crashes       int              `json:"crashes,omitempty"`
}

// Stored is a committed message as recovery finds it.
type Stored struct {
	Envelope Envelope
	State    *State // nil when never saved

	// Interrupted: a delivery attempt of the message was under way when
	// the server that held it stopped (a shared store's in-flight mark):
	// the queue manager counts it as a crash towards the poison queue.
	Interrupted bool
}

// ErrTooLarge refuses a message over the connector's MaxMessageSize: a store
// returns it from Enqueue when the body grows past Envelope.MaxMessageLen
// (RFC 5321 section 4.5.3.1.10: 552, RFC 3463 5.3.4 "message too big for
// system").
var ErrTooLarge = &delivery.Error{Code: 552, Enhanced: [3]int{5, 3, 4}, Message: "Message size exceeds the fixed maximum message size (MaxMessageSize)"}

// ErrNoSuchMessage is returned for an unknown queue id.
var ErrNoSuchMessage = errors.New("no such message in the queue")

// ErrDuplicate is returned by a shared store's Enqueue when a message with
// the same queue id is already stored (another server queued the same DSN).
var ErrDuplicate = errors.New("a message with this queue id is already queued")

// ErrLost is returned by a shared store when another server took the
// message over: this one must stop delivering it.
var ErrLost = errors.New("another server took this message over")
