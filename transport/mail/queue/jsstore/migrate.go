package jsstore

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"io"

	"github.com/nats-io/nats.go"
	"github.com/nats-io/nats.go/jetstream"

	"github.com/transportd/transportd/transport/mail/queue/message"
)

// Source is a member's local queue whose messages move into the shared
// queue when the member joins a cluster: the journal
// (transport/mail/queue/journal) satisfies it.
type Source interface {
	Load() ([]message.Stored, error)
	Open(id string) (io.ReadCloser, error)
	Remove(id string) error
}

// Migration steps a test can fail at (see Store.failAt).
const (
	stepPublished = "published" // the record is stored, the journal copy not yet removed
	stepRemoved   = "removed"   // the journal copy is removed, the mark not yet cleared
)

// Migrate moves every message of src, this member's local queue, into the
// shared queue with its queue id and saved delivery state, and returns how
// many it moved. It loses nothing and duplicates nothing, whenever it is
// cut short (an error, kill -9) and run again:
//
//  1. A message whose record is not in the shared queue is published: its
//     body chunks with Nats-Msg-Id "<id>.<n>" (JetStream drops a
//     re-publication within the stream's duplicate window; an older leftover
//     is purged with the message's subject when it is removed), then its
//     record, marked Importing, with Nats-Msg-Id "<id>.import" and
//     Nats-Expected-Last-Subject-Sequence 0 — a queue id is stored once.
//     A record marked Importing is neither delivered (Load skips it) nor
//     taken over by another member.
//  2. Only after JetStream acknowledged the record (a quorum of replicas
//     stored it) is the message removed from the journal, durably.
//  3. Then the mark is cleared: the message is this member's like any other.
//
// A rerun finds a message still in the journal either without a record
// (step 1 never completed: it is published again) or with a marked record
// (it is only removed from the journal); a marked record whose message is
// no longer in the journal (cut short between 2 and 3) only has its mark
// cleared. Since a marked record is never delivered, the journal copy and
// the shared copy are never both live.
//
// Call it before Load, so that the moved messages are among those Load
// returns.
func (s *Store) Migrate(ctx context.Context, src Source) (int, error) {
	stored, err := src.Load()
	if err != nil {
		return 0, fmt.Errorf("jsstore: reading the local queue to move it into the shared queue: %w", err)
	}
	inJournal := make(map[string]bool, len(stored))
	moved := 0
	for _, m := range stored {
		id := m.Envelope.ID
		inJournal[id] = true
		if err := s.importOne(ctx, src, m); err != nil {
			return moved, err
		}
		if err := src.Remove(id); err != nil {
			return moved, fmt.Errorf("jsstore: removing message %s from the local queue after moving it: %w", id, err)
		}
		delete(inJournal, id)
		if err := s.fail(stepRemoved, id); err != nil {
			return moved, err
		}
		if err := s.unmark(ctx, id); err != nil {
			return moved, err
		}
		moved++
	}
	// Marks left by a run cut short between removing a message from the
	// journal and clearing its mark.
	if err := s.unmarkLeftovers(ctx, inJournal); err != nil {
		return moved, err
	}
	if moved > 0 {
		s.log.Info("local queue moved into the cluster's shared queue", "messages", moved)
	}
	return moved, nil
}

// importOne stores m in the shared queue, marked Importing, unless a
// record of it is already there.
func (s *Store) importOne(ctx context.Context, src Source, m message.Stored) error {
	id := m.Envelope.ID
	if !validID(id) {
		return fmt.Errorf("jsstore: moving message %q: invalid queue id", id)
	}
	ctx, cancel := context.WithTimeout(ctx, 4*s.o.PublishTimeout)
	defer cancel()
	rec, _, err := s.lastRecord(ctx, id)
	if err != nil {
		return fmt.Errorf("jsstore: moving message %s: %w", id, err)
	}
	if rec != nil {
		if !rec.Importing || rec.Owner != s.o.Server {
			// Not ours: queue ids carry 32 random bits, so this is a
			// message this member already moved, finished and handed
			// over; never publish it twice.
			s.log.Warn("a message of the local queue is already in the shared queue; only removing the local copy",
				"queue_id", id, "owner", rec.Owner)
		}
		return s.fail(stepPublished, id)
	}
	body, err := src.Open(id)
	if err != nil {
		return fmt.Errorf("jsstore: moving message %s: %w", id, err)
	}
	seqs, size, err := s.publishBody(ctx, id, body)
	body.Close()
	if err != nil {
		return fmt.Errorf("jsstore: moving message %s: %w", id, err)
	}
	env := m.Envelope
	env.Size = size
	r := record{Owner: s.o.Server, Env: env, State: m.State, Body: seqs, Servers: []string{s.o.Server}, Importing: true}
	data, err := json.Marshal(r)
	if err != nil {
		return fmt.Errorf("jsstore: moving message %s: %w", id, err)
	}
	_, err = s.js.Publish(ctx, s.queueSubject(id), data,
		jetstream.WithMsgID(id+".import"), jetstream.WithExpectLastSequencePerSubject(0))
	if err != nil && !isWrongLast(err) {
		return fmt.Errorf("jsstore: moving message %s: storing its record: %w", id, err)
	}
	return s.fail(stepPublished, id)
}

// publishBody publishes a body in chunks, each with a Nats-Msg-Id derived
// from the queue id, and waits for every acknowledgement.
func (s *Store) publishBody(ctx context.Context, id string, body io.Reader) ([]uint64, int64, error) {
	var futures []jetstream.PubAckFuture
	var size int64
	buf := make([]byte, s.chunk)
	for n := 0; ; n++ {
		k, err := io.ReadFull(body, buf)
		if k > 0 || n == 0 {
			size += int64(k)
			msg := &nats.Msg{Subject: s.bodySubject(id), Data: append([]byte(nil), buf[:k]...)}
			f, perr := s.js.PublishMsgAsync(msg, jetstream.WithMsgID(fmt.Sprintf("%s.%d", id, n)))
			if perr != nil {
				return nil, 0, fmt.Errorf("storing its body: %w", perr)
			}
			futures = append(futures, f)
		}
		if err == io.EOF || err == io.ErrUnexpectedEOF {
			break
		}
		if err != nil {
			return nil, 0, fmt.Errorf("reading it from the local queue: %w", err)
		}
	}
	seqs := make([]uint64, len(futures))
	for i, f := range futures {
		select {
		case ack := <-f.Ok():
			seqs[i] = ack.Sequence
		case err := <-f.Err():
			return nil, 0, fmt.Errorf("storing its body: %w", err)
		case <-ctx.Done():
			return nil, 0, fmt.Errorf("storing its body: %w", ctx.Err())
		}
	}
	return seqs, size, nil
}

// lastRecord reads the current record of id from the stream leader (nil
// when there is none) and its sequence.
func (s *Store) lastRecord(ctx context.Context, id string) (*record, uint64, error) {
	m, err := s.queue.GetLastMsgForSubject(ctx, s.queueSubject(id))
	if errors.Is(err, jetstream.ErrMsgNotFound) {
		return nil, 0, nil
	}
	if err != nil {
		return nil, 0, fmt.Errorf("reading its record: %w", err)
	}
	var r record
	if err := json.Unmarshal(m.Data, &r); err != nil {
		return nil, 0, fmt.Errorf("reading its record: %w", err)
	}
	return &r, m.Sequence, nil
}

// unmark clears the Importing mark of id's record (compare-and-set).
func (s *Store) unmark(ctx context.Context, id string) error {
	ctx, cancel := context.WithTimeout(ctx, 4*s.o.PublishTimeout)
	defer cancel()
	for {
		rec, seq, err := s.lastRecord(ctx, id)
		if err != nil {
			return fmt.Errorf("jsstore: finishing the move of message %s: %w", id, err)
		}
		if rec == nil || !rec.Importing {
			return nil
		}
		rec.Importing = false
		h := &held{rec: *rec, rev: seq}
		h.mu.Lock()
		err = s.write(ctx, id, h)
		h.mu.Unlock()
		if errors.Is(err, ErrLost) {
			continue // rewritten meanwhile: read it again
		}
		if err != nil {
			return fmt.Errorf("jsstore: finishing the move of message %s: %w", id, err)
		}
		return nil
	}
}

// unmarkLeftovers clears the marks of this member's records whose message
// is no longer in the local queue.
func (s *Store) unmarkLeftovers(ctx context.Context, inJournal map[string]bool) error {
	rctx, cancel := context.WithTimeout(ctx, 8*s.o.PublishTimeout)
	defer cancel()
	msgs, err := s.records(rctx)
	if err != nil {
		return fmt.Errorf("jsstore: reading the shared queue to finish an earlier move: %w", err)
	}
	for _, m := range msgs {
		var rec record
		if err := json.Unmarshal(m.Data(), &rec); err != nil || !rec.Importing || rec.Owner != s.o.Server || inJournal[rec.Env.ID] {
			continue
		}
		if err := s.unmark(ctx, rec.Env.ID); err != nil {
			return err
		}
		s.log.Info("finished moving a message of the local queue cut short earlier", "queue_id", rec.Env.ID)
	}
	return nil
}

// fail is the fault injection point of the migration tests.
func (s *Store) fail(step, id string) error {
	if s.failAt == nil {
		return nil
	}
	return s.failAt(step, id)
}
