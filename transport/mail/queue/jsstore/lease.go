package jsstore

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"time"

	"github.com/nats-io/nats.go/jetstream"

	"github.com/transportd/transportd/transport/mail/queue/message"
)

// LeaseTTL is how long a member that stopped renewing its lease keeps its
// messages before the others take them over.
func (s *Store) LeaseTTL() time.Duration { return s.o.LeaseTTL }

// AllMessages is Messages, but an error rather than a short list when the
// queue stream does not deliver every record (its leader is being elected
// after a member died, say): the stream keeps one record per message, so
// fewer records than the stream holds before and after the read is a read
// that stopped early. Issue 14: what a member that does not answer holds
// is listed from here.
func (s *Store) AllMessages(ctx context.Context) ([]Message, error) {
	before, err := s.queue.Info(ctx)
	if err != nil {
		return nil, fmt.Errorf("jsstore: reading the queue: %w", err)
	}
	msgs, err := s.Messages(ctx)
	if err != nil {
		return nil, err
	}
	after, err := s.queue.Info(ctx)
	if err != nil {
		return nil, fmt.Errorf("jsstore: reading the queue: %w", err)
	}
	if want := min(before.State.Msgs, after.State.Msgs); uint64(len(msgs)) < want {
		return nil, fmt.Errorf("jsstore: the queue stream delivered %d of its %d records; its leader may be changing", len(msgs), want)
	}
	return msgs, nil
}

// MessageByID reads one message's record straight from the queue stream
// (no consumer), whoever holds it; message.ErrNoSuchMessage when there is
// none.
func (s *Store) MessageByID(ctx context.Context, id string) (Message, error) {
	if !validID(id) {
		return Message{}, fmt.Errorf("%w: %s", message.ErrNoSuchMessage, id)
	}
	m, err := s.queue.GetLastMsgForSubject(ctx, s.queueSubject(id))
	if errors.Is(err, jetstream.ErrMsgNotFound) {
		return Message{}, fmt.Errorf("%w: %s", message.ErrNoSuchMessage, id)
	}
	if err != nil {
		return Message{}, fmt.Errorf("jsstore: reading %s: %w", id, err)
	}
	var rec record
	if err := json.Unmarshal(m.Data, &rec); err != nil {
		return Message{}, fmt.Errorf("jsstore: the record of %s: %w", id, err)
	}
	return Message{Envelope: rec.Env, State: rec.State, Owner: rec.Owner, Servers: rec.Servers}, nil
}
