package service

import (
	"cmp"
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"slices"
	"strings"
	"sync"
	"time"

	"github.com/nats-io/nats.go"

	"github.com/transportd/transportd/transport/admin/cluster"
	"github.com/transportd/transportd/transport/admin/control"
	"github.com/transportd/transportd/transport/mail/queue"
	"github.com/transportd/transportd/transport/mail/queue/jsstore"
	"github.com/transportd/transportd/transport/mail/queue/message"
	"github.com/transportd/transportd/transport/mail/tracking"
)

// Issue 14 item 4: Get-Queue, Get-Message, Retry-Queue, Suspend- and
// Resume-Queue, Suspend-, Resume- and Remove-Message and message tracking
// from any member of a cluster. The member the shell talks to asks every
// member concerned (all of them, or the one -Server or an identity's
// SERVER\ part names) over NATS request/reply (cluster.Node.CallAdmin);
// each answers from its own queue manager and tracking log, exactly as a
// single server does, and the answers are merged with the member's name in
// their Server column. An operation on a message is thus carried out by
// the member that holds (owns) it. A single server never gets here: its
// control socket is answered locally, without NATS.

// clusterOpTimeout bounds waiting for one member's answer.
const clusterOpTimeout = 10 * time.Second

// clusterOps are the operations a cluster member routes to its members.
var clusterOps = map[string]bool{
	control.OpQueueGet: true, control.OpQueueRetry: true, control.OpQueueSuspend: true, control.OpQueueResume: true,
	control.OpMessageGet: true, control.OpMessageSuspend: true, control.OpMessageResume: true, control.OpMessageRemove: true,
	control.OpTrackingSearch: true,
}

type localOnlyKey struct{}

// localOnly marks ctx for an operation this member carries out on its
// own queue: one another member asked for.
func localOnly(ctx context.Context) context.Context {
	return context.WithValue(ctx, localOnlyKey{}, true)
}

// routedToCluster says whether op, asked on the control socket, goes to
// the cluster's members rather than to this member's queue alone.
func (s *Service) routedToCluster(ctx context.Context, op string) bool {
	return s.clusterNode != nil && clusterOps[op] && ctx.Value(localOnlyKey{}) == nil
}

// serveClusterAdmin answers the other members' requests until ctx ends.
func (s *Service) serveClusterAdmin(ctx context.Context) {
	err := s.clusterNode.ServeAdmin(ctx, func(ctx context.Context, op string, args json.RawMessage) (any, error) {
		if !clusterOps[op] {
			return nil, fmt.Errorf("operation %q is not answered for other members", op)
		}
		return s.handleControl(localOnly(ctx), op, args)
	})
	if err != nil {
		s.log.Error("queue and tracking operations of other members are not answered", "err", err)
	}
}

// trackingSearch searches this member's message tracking log.
func (s *Service) trackingSearch(args json.RawMessage) (any, error) {
	var q control.TrackingQuery
	if len(args) > 0 {
		if err := json.Unmarshal(args, &q); err != nil {
			return nil, fmt.Errorf("bad arguments: %w", err)
		}
	}
	cfg := s.Config()
	evs, err := tracking.Search(cfg.MessageTrackingLogDir(), q.Filter)
	if err != nil {
		return nil, err
	}
	out := control.TrackingResult{Events: make([]control.TrackingEvent, 0, len(evs))}
	for _, ev := range evs {
		out.Events = append(out.Events, control.TrackingEvent{Server: cfg.Server.Name, Event: ev})
	}
	return out, nil
}

// answer is one member's answer to a routed operation.
type answer struct {
	member string
	raw    json.RawMessage
	err    error
}

// targets are the members an operation goes to: the one -Server names
// (by name or FQDN), else the one the identity's SERVER\ part names, else
// every member.
func (s *Service) targets(server string, identities ...string) ([]string, error) {
	self := s.Config().Server.Name
	members := s.clusterNode.Members()
	names := []string{self}
	for _, m := range members {
		if !strings.EqualFold(m.Name, self) {
			names = append(names, m.Name)
		}
	}
	find := func(n string) string {
		if strings.EqualFold(n, self) || strings.EqualFold(n, s.Config().Server.Fqdn) {
			return self
		}
		for _, m := range members {
			if strings.EqualFold(n, m.Name) || strings.EqualFold(n, m.Fqdn) {
				return m.Name
			}
		}
		return ""
	}
	if server != "" {
		if m := find(server); m != "" {
			return []string{m}, nil
		}
		return nil, fmt.Errorf("-Server %s is not a member of cluster %s (members: %s)", server, s.clusterNode.ClusterName(), strings.Join(names, ", "))
	}
	for _, id := range identities {
		if srv, _, ok := strings.Cut(id, `\`); ok {
			if m := find(srv); m != "" {
				return []string{m}, nil
			}
		}
	}
	return names, nil
}

// fanOut runs op with args on every target member, at the same time.
func (s *Service) fanOut(ctx context.Context, targets []string, op string, args any) []answer {
	self := s.Config().Server.Name
	out := make([]answer, len(targets))
	var wg sync.WaitGroup
	for i, m := range targets {
		wg.Add(1)
		go func() {
			defer wg.Done()
			out[i].member = m
			if m == self {
				a, err := json.Marshal(args)
				if err != nil {
					out[i].err = err
					return
				}
				res, err := s.handleControl(localOnly(ctx), op, a)
				if err != nil {
					out[i].err = err
					return
				}
				out[i].raw, out[i].err = json.Marshal(res)
				return
			}
			cctx, cancel := context.WithTimeout(ctx, clusterOpTimeout)
			defer cancel()
			// A member that is up but has no responder for a moment (its
			// route reconnects) gets two more tries.
			for try := 0; ; try++ {
				out[i].err = s.clusterNode.CallAdmin(cctx, m, op, args, &out[i].raw)
				if try == 2 || !errors.Is(out[i].err, nats.ErrNoResponders) || !s.memberUp(m) {
					return
				}
				select {
				case <-cctx.Done():
					return
				case <-time.After(300 * time.Millisecond):
				}
			}
		}()
	}
	wg.Wait()
	return out
}

// memberUp tells whether member's heartbeats are current.
func (s *Service) memberUp(member string) bool {
	for _, m := range s.clusterNode.Members() {
		if m.Name == member {
			return m.State == "Up"
		}
	}
	return false
}

// plainID is the queue id an identity names exactly (a bare id or
// SERVER\Queue\Id without wildcards), "" otherwise.
func plainID(identity string) string {
	if identity == "" || strings.Contains(identity, "*") {
		return ""
	}
	return identity[strings.LastIndexByte(identity, '\\')+1:]
}

// noMatch tells an answer "nothing of mine matches" from a failure.
func noMatch(err error) bool {
	t := err.Error()
	return strings.Contains(t, "no queue matches") || strings.Contains(t, "no message matches")
}

// silent lists the members that did not answer.
func silent(answers []answer) []string {
	var out []string
	for _, a := range answers {
		if a.err != nil && errors.Is(a.err, cluster.ErrNoAnswer) {
			out = append(out, a.member)
		}
	}
	return out
}

// clusterQueueOp carries out a queue, message or tracking operation on
// the members concerned and merges their answers.
func (s *Service) clusterQueueOp(ctx context.Context, op string, args json.RawMessage) (any, error) {
	if op == control.OpTrackingSearch {
		return s.clusterTracking(ctx, args)
	}
	var sel control.Selector
	if len(args) > 0 {
		if err := json.Unmarshal(args, &sel); err != nil {
			return nil, fmt.Errorf("bad arguments: %w", err)
		}
	}
	targets, err := s.targets(sel.Server, sel.Identity, sel.Queue)
	if err != nil {
		return nil, err
	}
	fwd := sel
	fwd.Server = ""
	answers := s.fanOut(ctx, targets, op, fwd)
	var firstNoMatch error
	var queues []control.Queue
	var msgs []control.Message
	count := 0
	for _, a := range answers {
		switch {
		case a.err != nil && errors.Is(a.err, cluster.ErrNoAnswer):
			continue
		case a.err != nil && noMatch(a.err):
			if firstNoMatch == nil || a.member == s.Config().Server.Name {
				firstNoMatch = a.err
			}
			continue
		case a.err != nil:
			var re *cluster.RemoteError
			if errors.As(a.err, &re) {
				return nil, a.err
			}
			return nil, fmt.Errorf("%s: %w", a.member, a.err)
		}
		switch op {
		case control.OpQueueGet:
			var qs []control.Queue
			if err := json.Unmarshal(a.raw, &qs); err != nil {
				return nil, fmt.Errorf("the answer of %s: %w", a.member, err)
			}
			for i := range qs {
				qs[i].Server = a.member
			}
			queues = append(queues, qs...)
		case control.OpMessageGet:
			var ms []control.Message
			if err := json.Unmarshal(a.raw, &ms); err != nil {
				return nil, fmt.Errorf("the answer of %s: %w", a.member, err)
			}
			for i := range ms {
				ms[i].Server = a.member
			}
			msgs = append(msgs, ms...)
		default:
			var ch control.Changed
			if err := json.Unmarshal(a.raw, &ch); err != nil {
				return nil, fmt.Errorf("the answer of %s: %w", a.member, err)
			}
			count += ch.Count
		}
	}
	// What the members that do not answer hold, as the shared queue
	// records it: listed, and not acted on (another member takes it over
	// once their lease ends).
	held, err := s.heldBySilent(ctx, silent(answers), sel)
	if err != nil {
		return nil, err
	}
	switch op {
	case control.OpQueueGet:
		if sel.Identity == "" {
			queues = append(queues, silentQueues(held)...)
		}
		if len(queues) == 0 && firstNoMatch != nil {
			return nil, firstNoMatch
		}
		slices.SortStableFunc(queues, func(a, b control.Queue) int { return cmp.Compare(a.Server, b.Server) })
		return queues, nil
	case control.OpMessageGet:
		msgs = append(msgs, held...)
		if len(msgs) == 0 && firstNoMatch != nil {
			return nil, firstNoMatch
		}
		return msgs, nil
	}
	if count == 0 && len(held) > 0 {
		return nil, fmt.Errorf("message %s is held by %s, which does not answer: a live member takes it over when its lease ends (%v at most); try again then",
			held[0].Identity, held[0].Server, s.leaseTTL())
	}
	if count == 0 && firstNoMatch != nil {
		return nil, firstNoMatch
	}
	return control.Changed{Count: count}, nil
}

// leaseTTL is how long a silent member keeps its messages.
func (s *Service) leaseTTL() time.Duration {
	if s.late == nil {
		return 30 * time.Second
	}
	if st := s.late.st.Load(); st != nil {
		return st.LeaseTTL()
	}
	return 30 * time.Second
}

// heldBySilent lists the shared queue's messages owned by the members
// that did not answer, matching sel, as Get-Message shows them.
func (s *Service) heldBySilent(ctx context.Context, members []string, sel control.Selector) ([]control.Message, error) {
	if len(members) == 0 || s.late == nil {
		return nil, nil
	}
	st := s.late.st.Load()
	if st == nil {
		return nil, fmt.Errorf("%s do(es) not answer and this member's shared queue is not open yet: try again in a few seconds", strings.Join(members, ", "))
	}
	var all []jsstore.Message
	var err error
	if id := plainID(sel.Identity); id != "" {
		// One message named: its record alone, without a consumer.
		m, gerr := st.MessageByID(ctx, id)
		if gerr == nil {
			all = append(all, m)
		} else if !errors.Is(gerr, message.ErrNoSuchMessage) {
			err = gerr
		}
	} else {
		all, err = st.AllMessages(ctx)
	}
	if err != nil {
		// A member that died may have led the queue's stream: JetStream
		// elects another leader within seconds.
		return nil, fmt.Errorf("%s do(es) not answer, and the shared queue that holds its messages cannot be read now (%w): try again in a few seconds (transportd cluster status shows the stream leaders)", strings.Join(members, ", "), err)
	}
	var out []control.Message
	for _, m := range all {
		if !slices.Contains(members, m.Owner) {
			continue
		}
		q := "Submission"
		if m.State != nil {
			for _, r := range m.State.Recipients {
				if r.Queue != "" && r.Status != "Delivered" && r.Status != "Failed" {
					q = r.Queue
					break
				}
			}
		}
		full := m.Owner + `\` + q + `\` + m.Envelope.ID
		if sel.Identity != "" && !match(sel.Identity, m.Envelope.ID) && !match(sel.Identity, full) {
			continue
		}
		if sel.Queue != "" && !match(sel.Queue, q) && !match(sel.Queue, m.Owner+`\`+q) {
			continue
		}
		status := "Active"
		if m.State != nil && m.State.Suspended {
			status = "Suspended"
		}
		w := control.Message{Identity: full, FromAddress: m.Envelope.From, Status: status, Size: m.Envelope.Size,
			DateReceived: m.Envelope.ReceivedAt, Queue: []string{q}, Subject: m.Envelope.Subject, Server: m.Owner,
			InternetMessageId: m.Envelope.MessageID,
			LastError:         fmt.Sprintf("%s does not answer: a live member takes this message over when its lease ends", m.Owner)}
		if m.State != nil {
			for _, r := range m.State.Recipients {
				w.Recipients = append(w.Recipients, control.Recipient{Address: r.Address, Status: string(r.Status),
					Attempts: r.Attempts, NextRetry: r.NextRetry, LastError: r.LastError, Queue: r.Queue})
			}
		} else {
			for _, r := range m.Envelope.Recipients {
				w.Recipients = append(w.Recipients, control.Recipient{Address: r.Address, Status: "Ready"})
			}
		}
		out = append(out, w)
	}
	return out, nil
}

// silentQueues sums the messages of silent members per member and queue.
func silentQueues(held []control.Message) []control.Queue {
	var out []control.Queue
	idx := map[string]int{}
	for _, m := range held {
		id := m.Server + `\` + m.Queue[0]
		i, ok := idx[id]
		if !ok {
			i = len(out)
			idx[id] = i
			out = append(out, control.Queue{Identity: id, NextHopDomain: m.Queue[0], Status: "Retry", Server: m.Server,
				LastError: m.Server + " does not answer: a live member takes its messages over when its lease ends"})
		}
		out[i].MessageCount++
	}
	return out
}

// clusterTracking searches the tracking logs of the members concerned
// and merges their events by time.
func (s *Service) clusterTracking(ctx context.Context, args json.RawMessage) (any, error) {
	var q control.TrackingQuery
	if len(args) > 0 {
		if err := json.Unmarshal(args, &q); err != nil {
			return nil, fmt.Errorf("bad arguments: %w", err)
		}
	}
	targets, err := s.targets(q.Server)
	if err != nil {
		return nil, err
	}
	fwd := q
	fwd.Server = ""
	var out control.TrackingResult
	for _, a := range s.fanOut(ctx, targets, control.OpTrackingSearch, fwd) {
		if a.err != nil {
			if errors.Is(a.err, cluster.ErrNoAnswer) {
				out.Silent = append(out.Silent, a.member)
				continue
			}
			return nil, fmt.Errorf("message tracking on %s: %w", a.member, a.err)
		}
		var r control.TrackingResult
		if err := json.Unmarshal(a.raw, &r); err != nil {
			return nil, fmt.Errorf("the answer of %s: %w", a.member, err)
		}
		out.Events = append(out.Events, r.Events...)
	}
	slices.SortStableFunc(out.Events, func(a, b control.TrackingEvent) int { return a.Event.Time.Compare(b.Event.Time) })
	return out, nil
}

// wireQueue is q as the control socket sends it.
func wireQueue(q queue.QueueInfo) control.Queue {
	return control.Queue{Identity: q.Identity, DeliveryType: q.DeliveryType, NextHopDomain: q.NextHopDomain, Status: q.Status,
		MessageCount: q.MessageCount, LastError: q.LastError, NextRetryTime: q.NextRetryTime,
		LastRetryTime: q.LastRetryTime, FirstRetryTime: q.FirstRetryTime, RetryCount: q.RetryCount}
}
