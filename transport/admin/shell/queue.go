package shell

import (
	"context"
	"errors"
	"fmt"
	"path/filepath"
	"strings"
	"time"

	"github.com/transportd/transportd/transport/admin/control"
	"github.com/transportd/transportd/transport/admin/manage"
	"github.com/transportd/transportd/transport/mail/tracking"
)

// callDaemon sends one control operation to the running daemon.
func (sh *Shell) callDaemon(op string, args, out any) error {
	ctx, cancel := context.WithTimeout(context.Background(), 30*time.Second)
	defer cancel()
	if sh.Control != nil {
		return sh.Control(ctx, op, args, out)
	}
	cfg, err := sh.Manager.Load()
	if err != nil {
		return err
	}
	return control.Call(ctx, filepath.Join(cfg.DataDir(), control.SocketName), op, args, out)
}

func formatTime(t time.Time) string {
	if t.IsZero() {
		return ""
	}
	return t.Local().Format("2006-01-02 15:04:05")
}

// QueueRecord shows a queue with Get-Queue's property names.
func QueueRecord(q control.Queue) manage.Record {
	return manage.Record{
		{Name: "Identity", Value: q.Identity}, {Name: "DeliveryType", Value: q.DeliveryType},
		{Name: "Status", Value: q.Status}, {Name: "MessageCount", Value: fmt.Sprint(q.MessageCount)},
		{Name: "NextHopDomain", Value: q.NextHopDomain}, {Name: "LastError", Value: q.LastError},
		{Name: "NextRetryTime", Value: formatTime(q.NextRetryTime)},
	}
}

// MessageRecord shows a queued message with Get-Message's property names.
func MessageRecord(mi control.Message) manage.Record {
	var rc []string
	for _, r := range mi.Recipients {
		rc = append(rc, fmt.Sprintf("%s (%s)", r.Address, r.Status))
	}
	return manage.Record{
		{Name: "Identity", Value: mi.Identity}, {Name: "FromAddress", Value: mi.FromAddress},
		{Name: "Status", Value: mi.Status}, {Name: "Size", Value: fmt.Sprint(mi.Size)},
		{Name: "Subject", Value: mi.Subject}, {Name: "Recipients", Value: "{" + strings.Join(rc, ", ") + "}"},
		{Name: "Queue", Value: strings.Join(mi.Queue, ", ")}, {Name: "DateReceived", Value: formatTime(mi.DateReceived)},
		{Name: "RetryCount", Value: fmt.Sprint(mi.RetryCount)}, {Name: "NextRetryTime", Value: formatTime(mi.NextRetryTime)},
		{Name: "ExpirationTime", Value: formatTime(mi.ExpirationTime)}, {Name: "LastError", Value: mi.LastError},
		{Name: "SourceIP", Value: mi.SourceIP},
	}
}

func queueCmdlets() []*cmdlet {
	identity := val("Identity", `a queue such as MAIL\contoso.com; wildcards * allowed`)
	msgIdentity := val("Identity", `a message: its queue id or SERVER\Queue\Id; wildcards * allowed`)
	queueParam := val("Queue", `the messages of this queue, e.g. MAIL\contoso.com`)
	selector := func(sh *Shell, c *call, need bool) ([]control.Selector, error) {
		var sel control.Selector
		sel.Queue, _ = c.text("Queue")
		if v, ok := c.params["WithNDR"]; ok {
			b, err := manage.ParseBool(toText(v))
			if err != nil {
				return nil, fmt.Errorf("-WithNDR %q: %w", toText(v), err)
			}
			sel.WithNDR = b
		}
		if id, ok := c.text("Identity"); ok {
			sel.Identity = id
			return []control.Selector{sel}, nil
		}
		var out []control.Selector
		for _, v := range c.input {
			s := sel
			s.Identity = toString(v)
			if o, ok := v.(*Object); ok {
				s.Identity = o.identity()
			}
			out = append(out, s)
		}
		if len(out) == 0 {
			if need && sel.Queue == "" {
				return nil, errors.New("give -Identity (a message id, wildcards allowed) or -Queue, or pipe Get-Message into this command")
			}
			out = []control.Selector{sel}
		}
		return out, nil
	}
	change := func(op, past string) func(sh *Shell, c *call) ([]any, error) {
		return func(sh *Shell, c *call) ([]any, error) {
			sels, err := selector(sh, c, true)
			if err != nil {
				return nil, err
			}
			total := 0
			for _, s := range sels {
				var ch control.Changed
				if err := sh.callDaemon(op, s, &ch); err != nil {
					return nil, err
				}
				total += ch.Count
			}
			sh.say("%s %s.", past, plural(total, "message"))
			return nil, nil
		}
	}
	msgParams := params(msgIdentity, queueParam)
	return []*cmdlet{
		{name: "Get-Queue", synopsis: "Shows the delivery queues of the running transportd.",
			params: params(identity), positional: []string{"Identity"},
			run: func(sh *Shell, c *call) ([]any, error) {
				sel := control.Selector{}
				sel.Identity, _ = c.text("Identity")
				var qs []control.Queue
				if err := sh.callDaemon(control.OpQueueGet, sel, &qs); err != nil {
					return nil, err
				}
				var out []any
				for _, q := range qs {
					out = append(out, &Object{TypeName: "Queue", Props: QueueRecord(q)})
				}
				return out, nil
			}},
		{name: "Retry-Queue", synopsis: "Retries a queue now (after fixing the smart host, say).",
			params: params(identity), positional: []string{"Identity"},
			run: func(sh *Shell, c *call) ([]any, error) {
				ids, err := sh.identities(c, "Identity")
				if err != nil {
					return nil, err
				}
				total := 0
				for _, id := range ids {
					var ch control.Changed
					if err := sh.callDaemon(control.OpQueueRetry, control.Selector{Identity: id}, &ch); err != nil {
						return nil, err
					}
					total += ch.Count
				}
				sh.say("Retrying %s now.", plural(total, "queue"))
				return nil, nil
			}},
		{name: "Get-Message", synopsis: "Shows queued messages of the running transportd.",
			params: msgParams, positional: []string{"Identity"},
			run: func(sh *Shell, c *call) ([]any, error) {
				sels, err := selector(sh, c, false)
				if err != nil {
					return nil, err
				}
				var out []any
				for _, s := range sels {
					var ms []control.Message
					if err := sh.callDaemon(control.OpMessageGet, s, &ms); err != nil {
						return nil, err
					}
					for _, m := range ms {
						out = append(out, &Object{TypeName: "Message", Props: MessageRecord(m)})
					}
				}
				return out, nil
			}},
		{name: "Suspend-Message", synopsis: "Holds messages in their queue.", params: msgParams,
			positional: []string{"Identity"}, run: change(control.OpMessageSuspend, "Suspended")},
		{name: "Resume-Message", synopsis: "Releases suspended messages.", params: msgParams,
			positional: []string{"Identity"}, run: change(control.OpMessageResume, "Resumed")},
		{name: "Remove-Message", synopsis: "Deletes queued messages; -WithNDR $true tells their senders.",
			params:     params(msgIdentity, queueParam, val("WithNDR", "$true sends a non-delivery report to the sender")),
			positional: []string{"Identity"}, run: change(control.OpMessageRemove, "Removed")},
		{name: "Get-MessageTrackingLog", synopsis: "Searches the message tracking log (no running daemon needed).",
			params: params("Sender", "Recipients", "Start", "End", "EventId", "MessageId", "InternalMessageId", "MessageSubject", "ResultSize", "Server"),
			run:    getMessageTrackingLog},
	}
}

// getMessageTrackingLog searches the tracking log files of the data folder.
func getMessageTrackingLog(sh *Shell, c *call) ([]any, error) {
	cfg, err := sh.Manager.Load()
	if err != nil {
		return nil, err
	}
	var f tracking.Filter
	f.Sender, _ = c.text("Sender")
	if v, ok := c.text("Recipients"); ok {
		for _, r := range strings.Split(v, ",") {
			if r = strings.TrimSpace(r); r != "" {
				f.Recipients = append(f.Recipients, r)
			}
		}
	}
	f.MessageID, _ = c.text("MessageId")
	f.InternalMessageID, _ = c.text("InternalMessageId")
	if v, ok := c.text("EventId"); ok {
		f.EventID = strings.ToUpper(v)
	}
	for _, p := range []struct {
		name string
		to   *time.Time
	}{{"Start", &f.Start}, {"End", &f.End}} {
		if v, ok := c.text(p.name); ok {
			t, err := manage.ParseWhen(v)
			if err != nil {
				return nil, fmt.Errorf("-%s: %w", p.name, err)
			}
			*p.to = t
		}
	}
	subject, _ := c.text("MessageSubject")
	evs, err := tracking.Search(cfg.MessageTrackingLogDir(), f)
	if err != nil {
		return nil, err
	}
	var out []any
	for _, ev := range evs {
		if subject != "" && !strings.Contains(strings.ToLower(ev.MessageSubject), strings.ToLower(subject)) {
			continue
		}
		out = append(out, &Object{TypeName: "MessageTrackingEvent", Props: manage.TrackingRecord(ev)})
	}
	return out, nil
}
