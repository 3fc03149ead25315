package queue

import (
	"encoding/json"
	"errors"
	"fmt"
	"maps"
	"os"
	"path/filepath"
	"slices"
	"time"

	"github.com/transportd/transportd/transport/durable"
)

// Suspended delivery queues (Suspend-Queue, Resume-Queue).
//
// A suspended queue starts no delivery: those running finish, the messages
// routed to it wait in the queue (they neither expire nor get a delay
// notification while they wait, like a suspended message) until
// Resume-Queue. The set of suspended queues is kept in
// Options.SuspendedQueuesFile, so a queue an admin suspended stays
// suspended across a restart of the daemon, and a queue that does not
// exist yet (no message for it since the restart) is still listed as
// Suspended.

// PoisonQueue is the name of the poison message queue, which is always
// suspended and cannot be suspended or resumed as a whole.
const PoisonQueue = "Poison"

// ErrNoSuchQueue is returned for a queue that does not exist.
var ErrNoSuchQueue = errors.New("no such queue")

// suspendedQueuesFile is the form of Options.SuspendedQueuesFile.
type suspendedQueuesFile struct {
	// Queues maps a queue name to its delivery type.
	Queues map[string]string `json:"queues"`
}

// loadSuspended reads the suspended queues; a missing file means none.
func (m *Manager) loadSuspended(path string) error {
	m.suspendedFile = path
	m.suspendedQ = map[string]string{}
	if path == "" {
		return nil
	}
	b, err := os.ReadFile(path)
	if errors.Is(err, os.ErrNotExist) {
		return nil
	}
	if err != nil {
		return fmt.Errorf("reading the suspended queues: %w", err)
	}
	var f suspendedQueuesFile
	if err := json.Unmarshal(b, &f); err != nil {
		return fmt.Errorf("reading the suspended queues from %s: %w (remove the file to resume every queue)", path, err)
	}
	maps.Copy(m.suspendedQ, f.Queues)
	return nil
}

// saveSuspended writes set as the suspended queues. Call with
// m.suspendMu held, so that writes land in the order of the changes.
func (m *Manager) saveSuspended(set map[string]string) error {
	if m.suspendedFile == "" {
		return nil
	}
	b, err := json.Marshal(suspendedQueuesFile{Queues: set})
	if err != nil {
		return err
	}
	if err := os.MkdirAll(filepath.Dir(m.suspendedFile), 0o750); err != nil {
		return fmt.Errorf("saving the suspended queues: %w", err)
	}
	if err := durable.WriteFile(m.suspendedFile, b, 0o640); err != nil {
		return fmt.Errorf("saving the suspended queues: %w", err)
	}
	return nil
}

// SuspendQueue stops delivery for the queue name (Suspend-Queue).
func (m *Manager) SuspendQueue(name string) error {
	if name == PoisonQueue {
		return errors.New("the Poison queue is always suspended; resume or remove its messages with Resume-Message or Remove-Message")
	}
	m.suspendMu.Lock()
	defer m.suspendMu.Unlock()
	m.qmu.Lock()
	q, ok := m.queues[name]
	_, already := m.suspendedQ[name]
	set := maps.Clone(m.suspendedQ)
	m.qmu.Unlock()
	if already {
		return nil
	}
	if !ok {
		return fmt.Errorf("%w: %s", ErrNoSuchQueue, name)
	}
	m.qmu.Lock()
	set[name] = q.deliveryType
	m.qmu.Unlock()
	if err := m.saveSuspended(set); err != nil {
		return err
	}
	m.qmu.Lock()
	m.suspendedQ[name] = q.deliveryType
	q.suspended = true
	m.qmu.Unlock()
	m.log.Info("queue suspended", "queue", name)
	return nil
}

// ResumeQueue restarts delivery for a suspended queue (Resume-Queue). It
// reports whether the queue was suspended.
func (m *Manager) ResumeQueue(name string) (bool, error) {
	m.suspendMu.Lock()
	defer m.suspendMu.Unlock()
	m.qmu.Lock()
	_, was := m.suspendedQ[name]
	set := maps.Clone(m.suspendedQ)
	m.qmu.Unlock()
	if !was {
		return false, nil
	}
	delete(set, name)
	if err := m.saveSuspended(set); err != nil {
		return false, err
	}
	m.qmu.Lock()
	delete(m.suspendedQ, name)
	q, ok := m.queues[name]
	var waiting []workItem
	var rt Route
	if ok {
		q.suspended = false
		if q.held {
			// In Retry: the waiting deliveries go through push again, so
			// that one goes as the probe and the others wait for it.
			waiting, q.items = q.items, nil
			rt = Route{Queue: q.name, DeliveryType: q.deliveryType}
		} else {
			m.startLocked(q, m.cfg())
		}
	}
	m.qmu.Unlock()
	for _, it := range waiting {
		m.push(rt, it)
	}
	m.log.Info("queue resumed", "queue", name)
	return true, nil
}

// suspendedQueues returns the suspended queues and their delivery types.
func (m *Manager) suspendedQueues() map[string]string {
	m.qmu.Lock()
	defer m.qmu.Unlock()
	return maps.Clone(m.suspendedQ)
}

// Resubmit sends the waiting recipients of the queues match selects back
// to the categorizer now (Retry-Queue -Resubmit $true): they are routed
// anew, with the configuration in force, and a queue in Retry lets them
// through at once. It returns how many queues matched.
func (m *Manager) Resubmit(match func(queue string) bool) int {
	m.qmu.Lock()
	n := 0
	for name, q := range m.queues {
		if match(name) {
			n++
			if q.held && !q.probing {
				q.held, q.failures, q.retryAt = false, 0, time.Time{}
			}
		}
	}
	m.qmu.Unlock()
	return max(n, m.Retry(match))
}

// sortedNames lists a set's names in order.
func sortedNames(set map[string]string) []string {
	return slices.Sorted(maps.Keys(set))
}
