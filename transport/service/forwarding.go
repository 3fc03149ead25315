package service

import (
	"bufio"
	"context"
	"fmt"
	"io"
	"log/slog"
	"strings"
	"time"

	"github.com/transportd/transportd/transport/admin/config"
	"github.com/transportd/transportd/transport/mail/delivery"
	"github.com/transportd/transportd/transport/mail/queue"
)

// defaultMaxHopCount is Exchange's MaxHopCount, for a configuration whose
// connectors give none.
const defaultMaxHopCount = 30

// forward is where one mailbox's mail goes besides (or instead of) it.
type forward struct {
	to   string // the forwarding address
	keep bool   // DeliverToMailboxAndForward
	name string // the mailbox, for logs
}

// forwarder is mailbox delivery with Set-Mailbox's forwarding
// (ForwardingSmtpAddress, ForwardingAddress, DeliverToMailboxAndForward):
// a recipient whose mailbox forwards gets a copy queued anew for the
// forwarding address, with the original envelope sender (no SRS: a
// receiving server that checks SPF sees this server sending for the
// sender's domain) and a Received: line of ours on top, so a forwarding
// loop ends after MaxHopCount hops with 5.4.6 instead of going round.
// The copy is queued durably before the recipient counts as delivered.
type forwarder struct {
	inner    delivery.Target
	forwards map[string]forward // lower-case address -> forwarding
	enqueue  func(ctx context.Context, env queue.Envelope, body io.Reader) (string, error)
	fqdn     string
	maxHops  int
	log      *slog.Logger
}

// forwardingTarget wraps the mailbox target with cfg's forwarding, or
// returns it as it is when no mailbox forwards.
func (s *Service) forwardingTarget(cfg *config.Config, inner delivery.Target) delivery.Target {
	f := &forwarder{inner: inner, forwards: map[string]forward{}, fqdn: cfg.Server.Fqdn, maxHops: defaultMaxHopCount, log: s.log,
		enqueue: func(ctx context.Context, env queue.Envelope, body io.Reader) (string, error) {
			return s.queue.Enqueue(ctx, env, body)
		}}
	for i := range cfg.Mailboxes {
		mb := &cfg.Mailboxes[i]
		to := cfg.ForwardTo(mb)
		if to == "" {
			continue
		}
		fw := forward{to: to, keep: mb.DeliverToMailboxAndForward, name: mb.Name}
		for _, a := range append([]string{mb.PrimarySmtpAddress}, mb.EmailAddresses...) {
			f.forwards[strings.ToLower(a)] = fw
		}
	}
	if len(f.forwards) == 0 {
		return inner
	}
	for i := range cfg.ReceiveConnectors {
		if h := cfg.ReceiveConnectors[i].MaxHopCount; h > f.maxHops {
			f.maxHops = h
		}
	}
	return f
}

// hops counts the Received: lines of the message's header section
// (RFC 5321 section 6.3: a loop shows as too many of them).
func hops(r io.Reader) (int, error) {
	br := bufio.NewReader(r)
	n := 0
	for {
		line, err := br.ReadString('\n')
		if strings.TrimRight(line, "\r\n") == "" {
			return n, nil // the end of the header section, or of the message
		}
		if len(line) >= 9 && strings.EqualFold(line[:9], "received:") {
			n++
		}
		if err == io.EOF {
			return n, nil
		}
		if err != nil {
			return n, err
		}
	}
}

// Deliver forwards the recipients whose mailbox forwards and delivers the
// others, and the kept copies, to the mailbox.
func (f *forwarder) Deliver(ctx context.Context, msg *delivery.Message, rcpts []string) []delivery.Result {
	results := make([]delivery.Result, len(rcpts))
	var local []string
	var localIdx []int
	for i, rcpt := range rcpts {
		results[i].Recipient = rcpt
		fw, ok := f.forwards[strings.ToLower(rcpt)]
		if !ok {
			local, localIdx = append(local, rcpt), append(localIdx, i)
			continue
		}
		if err := f.forward(ctx, msg, rcpt, fw); err != nil {
			results[i].Err = err
			continue
		}
		if fw.keep {
			local, localIdx = append(local, rcpt), append(localIdx, i)
		}
	}
	if len(local) > 0 {
		for j, r := range f.inner.Deliver(ctx, msg, local) {
			results[localIdx[j]].Err = r.Err
		}
	}
	return results
}

// forward queues a copy of msg for fw.to.
func (f *forwarder) forward(ctx context.Context, msg *delivery.Message, rcpt string, fw forward) error {
	body, err := msg.Open()
	if err != nil {
		return delivery.Temporary([3]int{4, 3, 0}, "forwarding to %s: reading the message: %v", fw.to, err)
	}
	n, err := hops(body)
	body.Close()
	if err != nil {
		return delivery.Temporary([3]int{4, 3, 0}, "forwarding to %s: reading the message: %v", fw.to, err)
	}
	if n >= f.maxHops {
		return delivery.Permanentf([3]int{5, 4, 6}, "mailbox %s forwards to %s, and the message has been through %d hops already (MaxHopCount %d): a forwarding loop", fw.name, fw.to, n, f.maxHops)
	}
	body, err = msg.Open()
	if err != nil {
		return delivery.Temporary([3]int{4, 3, 0}, "forwarding to %s: reading the message: %v", fw.to, err)
	}
	defer body.Close()
	// RFC 5321 section 4.4: a Received: line of ours for the new hop.
	received := fmt.Sprintf("Received: by %s (transportd) with forwarding id %s\r\n\tfor <%s> (mailbox %s); %s\r\n",
		f.fqdn, msg.ID, fw.to, rcpt, time.Now().UTC().Format(time.RFC1123Z))
	env := queue.Envelope{From: msg.From, Recipients: []queue.Recipient{{Address: fw.to}}, Source: "FORWARD", ReceivedAt: time.Now().UTC()}
	id, err := f.enqueue(ctx, env, io.MultiReader(strings.NewReader(received), body))
	if err != nil {
		return delivery.Temporary([3]int{4, 3, 0}, "forwarding to %s: queueing the copy: %v", fw.to, err)
	}
	f.log.Debug("message forwarded", "queue_id", msg.ID, "mailbox", fw.name, "to", fw.to, "new_queue_id", id, "kept", fw.keep)
	return nil
}
