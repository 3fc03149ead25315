package jsstore

import (
	"context"
	"errors"
	"fmt"
	"slices"
)

// Leave hands every message this member holds over to the other members
// before it leaves the cluster (`transportd cluster leave`):
//
//  1. From now on Claim answers ErrLost, so the manager starts no new
//     delivery attempt (it forgets the message instead), the lease is no
//     longer renewed and this member takes nothing over.
//  2. idle waits for the attempts under way to end (queue.Manager.
//     WaitDeliveries): their outcome is saved here, so a recipient
//     delivered now is not delivered again by the next owner.
//  3. Each held message's record is rewritten without an owner
//     (compare-and-set), and the manager is told to forget it.
//  4. The member's lease is deleted: the others notice at their next poll
//     (LeaseTTL/4) and take the messages over with their saved state.
//
// It returns how many messages it handed over. A message enqueued here
// after Leave (a DSN of an attempt that just ended) is handed over too.
// Leave is not undone: the member stops delivering until it restarts.
func (s *Store) Leave(ctx context.Context, idle func(context.Context) error) (int, error) {
	s.leaving.Store(true)
	if idle != nil {
		if err := idle(ctx); err != nil {
			return 0, fmt.Errorf("jsstore: waiting for the deliveries under way before handing the queue over: %w", err)
		}
	}
	n := 0
	for {
		s.mu.Lock()
		ids := make([]string, 0, len(s.held))
		for id := range s.held {
			ids = append(ids, id)
		}
		s.mu.Unlock()
		if len(ids) == 0 {
			break
		}
		slices.Sort(ids)
		for _, id := range ids {
			if err := s.release(ctx, id); err != nil {
				return n, err
			}
			n++
		}
	}
	if err := s.members.Delete(ctx, s.o.Server); err != nil {
		return n, fmt.Errorf("jsstore: removing the lease of %s: %w", s.o.Server, err)
	}
	s.log.Warn("this member handed its queue over to the other members", "messages", n)
	return n, nil
}

// release rewrites id's record with no owner and forgets it here.
func (s *Store) release(ctx context.Context, id string) error {
	h, err := s.get(id)
	if err != nil {
		return nil // removed meanwhile
	}
	ctx, cancel := context.WithTimeout(ctx, s.o.PublishTimeout)
	defer cancel()
	h.mu.Lock()
	h.rec.Owner = ""
	err = s.write(ctx, id, h)
	h.mu.Unlock()
	if err != nil && !errors.Is(err, ErrLost) {
		return fmt.Errorf("jsstore: handing message %s over: %w", id, err)
	}
	s.drop(id)
	return nil
}

// Leaving reports whether Leave was called.
func (s *Store) Leaving() bool { return s.leaving.Load() }
