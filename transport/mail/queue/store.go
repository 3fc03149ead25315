// Package queue is the transport pipeline's queue manager: it holds every
// accepted message until it is delivered or bounced, routes its
// recipients, delivers them per next hop, retries, expires and bounces.
//
// The manager keeps messages in a Store, the interface below. The storage
// engines live in subpackages: journal, the log-structured store the
// daemon uses, and filestore, the per-file store of earlier versions,
// which only reads an old queue so that it can be moved into the journal.
// What a store keeps about a message (Envelope, State) is defined in
// package message; the names below are aliases of those types.
package queue

import (
	"context"
	"io"

	"github.com/transportd/transportd/transport/mail/queue/message"
)

// Envelope is what the SMTP session (or the pickup folder) knows about a message.
type Envelope = message.Envelope

// Recipient is one envelope recipient.
type Recipient = message.Recipient

// Stored is a committed message as recovery finds it.
type Stored = message.Stored

// Store keeps messages durably. Enqueue must not return before the message
// is on stable storage. It is an interface so that a replicated store can
// stand in for the local disk later.
type Store interface {
	Enqueue(ctx context.Context, env Envelope, body io.Reader) (string, error)
	// Load returns every committed message with its saved state (recovery).
	Load() ([]Stored, error)
	// Open reads the message (without the envelope).
	Open(id string) (io.ReadCloser, error)
	// SaveState records delivery progress durably.
	SaveState(id string, st *State) error
	// Remove deletes a finished message.
	Remove(id string) error
}

// ErrTooLarge refuses a message over the connector's MaxMessageSize.
var ErrTooLarge = message.ErrTooLarge
