package service

import (
	"fmt"
	"strings"

	"github.com/transportd/transportd/transport/admin/control"
)

// suspendQueue runs Suspend-Queue and Resume-Queue on the one queue
// sel.Identity names. As in Exchange, an identity that matches several
// queues is refused: -Filter is the way to act on several.
func (s *Service) suspendQueue(op string, sel control.Selector) (any, error) {
	verb := "Suspend-Queue"
	if op == control.OpQueueResume {
		verb = "Resume-Queue"
	}
	if sel.Identity == "" {
		return nil, fmt.Errorf("%s needs -Identity (a queue such as %s) or -Filter", verb, s.queueIdentity("contoso.com"))
	}
	pattern := s.stripServer(sel.Identity)
	var names, ids []string
	for _, q := range s.queue.Queues() {
		if match(pattern, q.Identity) || match(sel.Identity, s.queueIdentity(q.Identity)) {
			names, ids = append(names, q.Identity), append(ids, s.queueIdentity(q.Identity))
		}
	}
	switch {
	case len(names) == 0:
		return nil, fmt.Errorf("no queue matches identity \"%s\"%s", sel.Identity, s.existingQueues())
	case len(names) > 1:
		return nil, fmt.Errorf("identity \"%s\" matches %d queues (%s); name one, or use -Filter to act on several", sel.Identity, len(names), strings.Join(ids, ", "))
	}
	if op == control.OpQueueSuspend {
		if err := s.queue.SuspendQueue(names[0]); err != nil {
			return nil, fmt.Errorf("%s %s: %w", verb, ids[0], err)
		}
		return control.Changed{Count: 1}, nil
	}
	ok, err := s.queue.ResumeQueue(names[0])
	if err != nil {
		return nil, fmt.Errorf("%s %s: %w", verb, ids[0], err)
	}
	if !ok {
		return control.Changed{}, nil // not suspended: nothing to do, as in Exchange
	}
	return control.Changed{Count: 1}, nil
}
