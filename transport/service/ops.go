package service

import (
	"bytes"
	"context"
	"encoding/json"
	"fmt"
	"os"
	"strings"
	"time"

	"github.com/transportd/transportd/transport/admin/config"
	"github.com/transportd/transportd/transport/admin/control"
	"github.com/transportd/transportd/transport/admin/manage"
	"github.com/transportd/transportd/transport/mail/pickup"
	"github.com/transportd/transportd/transport/mail/queue"
	"github.com/transportd/transportd/transport/mail/tracking"
)

// match reports whether s matches an -Identity pattern ("" matches all).
func match(pattern, s string) bool {
	return pattern == "" || manage.MatchIdentity(pattern, s)
}

// queueIdentity is Exchange's Server\NextHop form.
func (s *Service) queueIdentity(name string) string { return s.Config().Server.Name + `\` + name }

// stripServer accepts "MAIL\contoso.com" or "contoso.com".
func (s *Service) stripServer(id string) string {
	if srv, rest, ok := strings.Cut(id, `\`); ok && (strings.EqualFold(srv, s.Config().Server.Name) || srv == "*") {
		return rest
	}
	return id
}

func (s *Service) handleControl(ctx context.Context, op string, args json.RawMessage) (any, error) {
	if s.routedToCluster(ctx, op) { // issue 14: every member's queues
		return s.clusterQueueOp(ctx, op, args)
	}
	if op == control.OpTrackingSearch {
		return s.trackingSearch(args)
	}
	var sel control.Selector
	if len(args) > 0 {
		if err := json.Unmarshal(args, &sel); err != nil {
			return nil, fmt.Errorf("bad arguments: %w", err)
		}
	}
	switch op {
	case control.OpClusterStatus, control.OpClusterLeave, control.OpClusterRotateJoin: // issue 14
		return s.clusterControl(ctx, op)
	case control.OpQueueGet:
		var out []control.Queue
		for _, q := range s.queue.Queues() {
			q.Identity = s.queueIdentity(q.Identity)
			if match(sel.Identity, q.Identity) || match(s.stripServer(sel.Identity), q.NextHopDomain) {
				out = append(out, wireQueue(q))
			}
		}
		if len(out) == 0 && sel.Identity != "" {
			return nil, fmt.Errorf("no queue matches identity \"%s\"%s", sel.Identity, s.existingQueues())
		}
		return out, nil
	case control.OpQueueRetry:
		if sel.Identity == "" {
			return nil, fmt.Errorf("-Identity is required (a queue such as %s, wildcards allowed)", s.queueIdentity("contoso.com"))
		}
		pattern := s.stripServer(sel.Identity)
		retry := s.queue.Retry
		if sel.Resubmit {
			retry = s.queue.Resubmit
		}
		n := retry(func(q string) bool { return match(pattern, q) })
		if n == 0 {
			return nil, fmt.Errorf("no queue matches identity \"%s\"%s", sel.Identity, s.existingQueues())
		}
		return control.Changed{Count: n}, nil
	case control.OpQueueSuspend, control.OpQueueResume:
		return s.suspendQueue(op, sel)
	case control.OpMessageGet:
		msgs, err := s.messages(sel)
		if err != nil {
			return nil, err
		}
		return wireMessages(msgs), nil
	case control.OpMessageSuspend, control.OpMessageResume, control.OpMessageRemove:
		msgs, err := s.messages(sel)
		if err != nil {
			return nil, err
		}
		n := 0
		for _, m := range msgs {
			id := m.Identity[strings.LastIndexByte(m.Identity, '\\')+1:]
			switch op {
			case control.OpMessageSuspend:
				err = s.queue.Suspend(id)
			case control.OpMessageResume:
				err = s.queue.Resume(id)
			case control.OpMessageRemove:
				err = s.queue.Remove(id, sel.WithNDR)
			}
			if err != nil {
				return nil, err
			}
			n++
		}
		return control.Changed{Count: n}, nil
	}
	return nil, fmt.Errorf("unknown operation %q", op)
}

// messages lists messages matching the selector; Identity is Exchange's
// Server\Queue\Id form or just the queue id.
func (s *Service) messages(sel control.Selector) ([]queue.MessageInfo, error) {
	if sel.Identity == "" && sel.Queue == "" {
		msgs := s.queue.Messages("")
		for i := range msgs {
			msgs[i].Identity = s.messageIdentity(msgs[i])
		}
		return msgs, nil
	}
	var out []queue.MessageInfo
	for _, m := range s.queue.Messages("") {
		if sel.Queue != "" {
			ok := false
			for _, q := range m.Queue {
				ok = ok || match(s.stripServer(sel.Queue), q)
			}
			if !ok {
				continue
			}
		}
		full := s.messageIdentity(m)
		if sel.Identity != "" && !match(sel.Identity, m.Identity) && !match(sel.Identity, full) {
			continue
		}
		m.Identity = full
		out = append(out, m)
	}
	if len(out) == 0 {
		return nil, fmt.Errorf("no message matches identity \"%s\" queue \"%s\"%s", sel.Identity, sel.Queue, s.existingMessages())
	}
	return out, nil
}

// existingQueues says which queues exist, for an identity that matches
// none (an identity written for another server name, say).
func (s *Service) existingQueues() string {
	var ids []string
	for _, q := range s.queue.Queues() {
		ids = append(ids, s.queueIdentity(q.Identity))
	}
	if len(ids) == 0 {
		return " (there are no queues: nothing is waiting for delivery)"
	}
	return " (existing queues: " + strings.Join(ids, ", ") + ")"
}

// existingMessages says which messages exist, the first ten, for an
// identity that matches none.
func (s *Service) existingMessages() string {
	const max = 10
	var ids []string
	msgs := s.queue.Messages("")
	for i, m := range msgs {
		if i == max {
			ids = append(ids, fmt.Sprintf("and %d more", len(msgs)-max))
			break
		}
		ids = append(ids, s.messageIdentity(m))
	}
	if len(ids) == 0 {
		return " (there are no messages in the queues)"
	}
	return " (existing messages: " + strings.Join(ids, ", ") + ")"
}

func (s *Service) messageIdentity(m queue.MessageInfo) string {
	q := "Submission"
	if len(m.Queue) > 0 {
		q = m.Queue[0]
	}
	return s.Config().Server.Name + `\` + q + `\` + m.Identity
}

// wireMessages are msgs as the control socket sends them.
func wireMessages(msgs []queue.MessageInfo) []control.Message {
	out := make([]control.Message, 0, len(msgs))
	for _, m := range msgs {
		w := control.Message{Identity: m.Identity, FromAddress: m.FromAddress, Status: m.Status, Size: m.Size,
			DateReceived: m.DateReceived, Queue: m.Queue, LastError: m.LastError, Subject: m.Subject,
			SourceIP: m.SourceIP, NextRetryTime: m.NextRetryTime, RetryCount: m.RetryCount, ExpirationTime: m.ExpirationTime,
			InternetMessageId: m.InternetMessageID, MessageSourceName: m.MessageSourceName}
		for _, r := range m.Recipients {
			w.Recipients = append(w.Recipients, control.Recipient{Address: r.Address, Status: string(r.Status),
				Attempts: r.Attempts, NextRetry: r.NextRetry, LastError: r.LastError, Queue: r.Queue})
		}
		out = append(out, w)
	}
	return out
}

// makePickupDirs creates the pickup and badmail folders.
func makePickupDirs(cfg *config.Config) error {
	pk, bad := cfg.PickupDirs()
	for _, d := range []string{pk, bad} {
		if err := os.MkdirAll(d, 0o750); err != nil {
			return fmt.Errorf("pickup folder: %w", err)
		}
	}
	return nil
}

// runPickup serves the IIS-style pickup folder until ctx is done. It
// follows the configuration: when PickupDirectoryPath,
// BadMailDirectoryPath or the largest MaxMessageSize change, the folder in
// use finishes the file it is taking and the new one is served.
func (s *Service) runPickup(ctx context.Context) {
	for {
		cfg, changed := s.configApplied()
		pk, bad := cfg.PickupDirs()
		size := maxConnectorSize(cfg)
		runCtx, stop := context.WithCancel(ctx)
		done := make(chan struct{})
		go func() {
			defer close(done)
			s.servePickup(runCtx, pk, bad, size)
		}()
		for again := true; again; {
			select {
			case <-ctx.Done():
				stop()
				<-done
				return
			case <-changed:
				cfg, changed = s.configApplied()
				npk, nbad := cfg.PickupDirs()
				again = npk == pk && nbad == bad && maxConnectorSize(cfg) == size
			}
		}
		stop()
		<-done
		s.log.Info("pickup folder settings changed", "pickup", pickupDirsString(cfg))
	}
}

func pickupDirsString(cfg *config.Config) string {
	pk, bad := cfg.PickupDirs()
	return pk + " (badmail " + bad + ")"
}

// servePickup runs one pickup folder until ctx is done.
func (s *Service) servePickup(ctx context.Context, pk, bad string, maxSize int64) {
	d := &pickup.Dir{Pickup: pk, Badmail: bad, MaxSize: maxSize, Logger: s.log.With("component", "pickup"),
		OnBadmail: func(file, path string, reason error) {
			if s.trackingOn.Load() {
				s.tracking.Write(tracking.Event{Time: time.Now().UTC(), Source: "PICKUP", EventID: "BADMAIL",
					ServerHostname: s.Config().Server.Fqdn, SourceContext: path, MessageInfo: file + ": " + reason.Error()})
			}
		},
		Submit: func(ctx context.Context, env pickup.Envelope, msg []byte) (string, error) {
			qenv := queue.Envelope{From: env.From, Source: "PICKUP", ReceivedAt: time.Now().UTC()}
			for _, r := range env.Recipients {
				qenv.Recipients = append(qenv.Recipients, queue.Recipient{Address: strings.ToLower(r)})
			}
			// A submission server completes what the message lacks (RFC 6409
			// section 8), and our trace field names the queue id as the one
			// of a receive connector does.
			now := time.Now()
			fqdn := s.Config().Server.Fqdn // live: the configuration in force now
			qenv.ID = s.queue.NewID()
			msg = pickup.Complete(msg, qenv.ID, fqdn, now)
			hdr := fmt.Sprintf("Received: from pickup directory by %s (transportd) id %s; %s\r\n", fqdn, qenv.ID, now.Format(time.RFC1123Z))
			return s.queue.Enqueue(ctx, qenv, bytes.NewReader(s.signBytes(append([]byte(hdr), msg...))))
		}}
	if err := d.Run(ctx, 5*time.Second); err != nil && ctx.Err() == nil {
		s.log.Error("pickup folder stopped", "pickup", pk, "err", err)
	}
}

func maxConnectorSize(cfg *config.Config) int64 {
	var max int64
	for _, rc := range cfg.ReceiveConnectors {
		if int64(rc.MaxMessageSize) > max {
			max = int64(rc.MaxMessageSize)
		}
	}
	if max == 0 {
		max = 36 << 20
	}
	return max
}
