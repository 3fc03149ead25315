package queue

import (
	"context"
	"fmt"
	"time"
)

// drainPoll is how often WaitDeliveries looks at the deliveries running:
// the delivery pool has no signal for "none running", and adding one
// would cost every delivery a broadcast.
const drainPoll = 20 * time.Millisecond

// WaitDeliveries waits until no delivery attempt is under way (a server
// leaving its cluster hands its messages over only then, so that no
// message is delivered by two servers). Attempts that start meanwhile
// are the caller's concern: a shared store refuses them with ErrLost
// (Claim) once it is leaving.
func (m *Manager) WaitDeliveries(ctx context.Context) error {
	t := time.NewTicker(drainPoll)
	defer t.Stop()
	for {
		m.qmu.Lock()
		n := m.running
		m.qmu.Unlock()
		if n == 0 {
			return nil
		}
		select {
		case <-ctx.Done():
			return fmt.Errorf("%d deliveries still under way: %w", n, ctx.Err())
		case <-t.C:
		}
	}
}
