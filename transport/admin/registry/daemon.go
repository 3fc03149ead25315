package registry

import (
	"context"
	"errors"
	"fmt"
	"path/filepath"
	"slices"
	"strings"
	"time"

	"github.com/transportd/transportd/transport/admin/control"
	"github.com/transportd/transportd/transport/admin/manage"
	"github.com/transportd/transportd/transport/mail/tracking"
)

// This file declares the kinds that live in the running daemon (queues and
// their messages, over the control socket) and the message tracking log.

// callDaemon sends one control operation to the running daemon.
func (e *Env) callDaemon(op string, args, out any) error {
	ctx, cancel := context.WithTimeout(e.ctx(), 30*time.Second)
	defer cancel()
	if e.Control != nil {
		return e.Control(ctx, op, args, out)
	}
	cfg, err := e.Manager.Load()
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
	return withServer(manage.Record{
		{Name: "Identity", Value: q.Identity}, {Name: "DeliveryType", Value: q.DeliveryType},
		{Name: "Status", Value: q.Status}, {Name: "MessageCount", Value: fmt.Sprint(q.MessageCount)},
		{Name: "NextHopDomain", Value: q.NextHopDomain}, {Name: "LastError", Value: q.LastError},
		{Name: "NextRetryTime", Value: formatTime(q.NextRetryTime)},
		{Name: "NextHopCategory", Value: nextHopCategory(q.DeliveryType)}, {Name: "LastRetryTime", Value: formatTime(q.LastRetryTime)},
		{Name: "FirstRetryTime", Value: formatTime(q.FirstRetryTime)}, {Name: "RetryCount", Value: fmt.Sprint(q.RetryCount)},
	}, q.Server)
}

// MessageRecord shows a queued message with Get-Message's property names.
func MessageRecord(mi control.Message) manage.Record {
	var rc []string
	for _, r := range mi.Recipients {
		rc = append(rc, fmt.Sprintf("%s (%s)", r.Address, r.Status))
	}
	return withServer(manage.Record{
		{Name: "Identity", Value: mi.Identity}, {Name: "FromAddress", Value: mi.FromAddress},
		{Name: "Status", Value: mi.Status}, {Name: "Size", Value: fmt.Sprint(mi.Size)},
		{Name: "Subject", Value: mi.Subject}, {Name: "Recipients", Value: "{" + strings.Join(rc, ", ") + "}"},
		{Name: "Queue", Value: strings.Join(mi.Queue, ", ")}, {Name: "DateReceived", Value: formatTime(mi.DateReceived)},
		{Name: "RetryCount", Value: fmt.Sprint(mi.RetryCount)}, {Name: "NextRetryTime", Value: formatTime(mi.NextRetryTime)},
		{Name: "ExpirationTime", Value: formatTime(mi.ExpirationTime)}, {Name: "LastError", Value: mi.LastError},
		{Name: "SourceIP", Value: mi.SourceIP},
		{Name: "SCL", Value: fmt.Sprint(noSCL)}, {Name: "InternetMessageId", Value: mi.InternetMessageId},
		{Name: "MessageSourceName", Value: mi.MessageSourceName},
	}, mi.Server)
}

const queueEmpty = "The queue is empty."

func queueKind() *Kind {
	identity := val("Identity", `a queue such as MAIL\contoso.com; wildcards * allowed`)
	ids := []string{"Identity"}
	return &Kind{Noun: "queue", TypeName: "Queue", What: "delivery queues of the running daemon (Get-Queue, Retry-Queue)",
		Columns: []string{"Identity", "Server", "DeliveryType", "Status", "MessageCount", "NextHopDomain", "NextRetryTime", "LastError"},
		Commands: []*Command{
			{Verb: "get", Cmdlet: "Get-Queue", Synopsis: "Shows the delivery queues of the running transportd.",
				Params: params(identity, filterParam("queue"), serverParam(),
					val("Include", "only queues of these types: Internal, External or delivery types (SmtpDeliveryToMailbox, ...)"),
					val("Exclude", "no queues of these types: Internal, External or delivery types"),
					viewParams("queue"), pagingParamDecls()),
				Positional: ids, IdentityParams: ids, Records: true, List: byIdentity, Empty: queueEmpty,
				Run: getQueue},
			{Verb: "retry", Cmdlet: "Retry-Queue", Synopsis: "Retries a queue now (after fixing the smart host, say); -Resubmit $true routes its messages anew.",
				Params: params(identity, filterParam("queue"), serverParam(),
					val("Resubmit", "$true sends the queue's messages back to the categorizer (routed anew with the configuration in force)")),
				Positional: ids, IdentityParams: ids, Pipe: true,
				Run: queueChange("Retry-Queue", control.OpQueueRetry, "Retrying %s now.", true)},
			{Verb: "suspend", Cmdlet: "Suspend-Queue", Synopsis: "Stops delivery from a queue (running deliveries finish); it stays suspended across restarts.",
				Params: params(identity, filterParam("queue"), serverParam()), Positional: ids, IdentityParams: ids, Pipe: true,
				Run: queueChange("Suspend-Queue", control.OpQueueSuspend, "Suspended %s.", false)},
			{Verb: "resume", Cmdlet: "Resume-Queue", Synopsis: "Restarts delivery from a suspended queue.",
				Params: params(identity, filterParam("queue"), serverParam()), Positional: ids, IdentityParams: ids, Pipe: true,
				Run: queueChange("Resume-Queue", control.OpQueueResume, "Resumed %s.", false)},
		}}
}

// getQueue runs Get-Queue.
func getQueue(env *Env, r Request) ([]manage.Record, error) {
	v, err := takeView(env, &r, QueueSchema, true)
	if err != nil {
		return nil, err
	}
	if v.filter != nil && len(r.Identities) > 0 {
		return nil, errFilterOrIdentity
	}
	keep, err := includeExclude(&r)
	if err != nil {
		return nil, err
	}
	warnPaging(env, &r)
	qs, err := matchingQueues(env, &r, v.filter)
	if err != nil {
		return nil, err
	}
	qs = slices.DeleteFunc(qs, func(q control.Queue) bool { return !keep(q) })
	var out []manage.Record
	for _, q := range apply(env, v, qs, queueGetter) {
		out = append(out, QueueRecord(q))
	}
	return out, nil
}

// selectors are the daemon's selectors for a message command: one per
// identity (given or piped), or one for -Queue alone.
func selectors(r Request, need bool) ([]control.Selector, error) {
	var sel control.Selector
	sel.Server = r.Server
	sel.Queue, _ = r.Params.TakeExact("Queue")
	sel.WithNDR = true // Exchange's default: the senders learn their message was removed
	if v, ok := r.Params.TakeExact("WithNDR"); ok {
		b, err := manage.ParseBool(v)
		if err != nil {
			return nil, fmt.Errorf("-WithNDR %q: %w", v, err)
		}
		sel.WithNDR = b
	}
	var out []control.Selector
	for _, id := range r.Identities {
		s := sel
		s.Identity = id
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

func messageKind() *Kind {
	identity := val("Identity", `a message: its queue id or SERVER\Queue\Id; wildcards * allowed`)
	queueParam := val("Queue", `the messages of this queue, e.g. MAIL\contoso.com`)
	ids := []string{"Identity"}
	change := func(verb, cmdlet, op, past, synopsis string, extra ...Param) *Command {
		return &Command{Verb: verb, Cmdlet: cmdlet, Synopsis: synopsis,
			Params: params(identity, queueParam, filterParam("message"), serverParam(), extra), Positional: ids, IdentityParams: ids, Pipe: true,
			Run: func(env *Env, r Request) ([]manage.Record, error) {
				if err := takeServer(env, &r); err != nil {
					return nil, err
				}
				sels, err := filteredSelectors(env, &r)
				if err != nil {
					return nil, err
				}
				total := 0
				for _, s := range sels {
					var ch control.Changed
					if err := env.callDaemon(op, s, &ch); err != nil {
						return nil, err
					}
					total += ch.Count
				}
				env.say("%s %s.", past, plural(total, "message"))
				return nil, nil
			}}
	}
	return &Kind{Noun: "message", TypeName: "Message",
		What:    "queued messages of the running daemon (Get/Suspend/Resume/Remove-Message)",
		Columns: []string{"Identity", "Server", "FromAddress", "Status", "Size", "Queue"},
		Commands: []*Command{
			{Verb: "get", Cmdlet: "Get-Message", Synopsis: "Shows queued messages of the running transportd.",
				Params: params(identity, queueParam, filterParam("message"), serverParam(),
					sw("IncludeRecipientInfo", "each recipient with its status and last error (Recipients are shown in any case)"),
					viewParams("message"), pagingParamDecls()),
				Positional: ids, IdentityParams: ids, Pipe: true,
				Records: true, List: byIdentity, Empty: queueEmpty,
				Run: getMessage},
			change("suspend", "Suspend-Message", control.OpMessageSuspend, "Suspended", "Holds messages in their queue."),
			change("resume", "Resume-Message", control.OpMessageResume, "Resumed", "Releases suspended messages."),
			change("remove", "Remove-Message", control.OpMessageRemove, "Removed", "Deletes queued messages and tells their senders (Exchange's default); -WithNDR $false removes them silently.",
				val("WithNDR", "$true (the default, as in Exchange) sends a non-delivery report to the sender; $false does not")),
		}}
}

func trackingLogKind() *Kind {
	return &Kind{Noun: "trackinglog", Aliases: []string{"messagetrackinglog"}, TypeName: "MessageTrackingEvent",
		What:    "message tracking search (Get-MessageTrackingLog)",
		Columns: []string{"Timestamp", "Server", "EventId", "Source", "Sender", "Recipients", "MessageSubject"},
		Commands: []*Command{
			{Verb: "get", Cmdlet: "Get-MessageTrackingLog", Synopsis: "Searches the message tracking log (no running daemon needed).",
				Params: params(val("Sender", "the sender's address"), val("Recipients", "comma-separated recipient addresses"),
					val("Start", "from this date and time"), val("End", "until this date and time"),
					val("EventId", "RECEIVE, SEND, DELIVER, FAIL, DEFER, ..."), val("MessageId", "the Message-ID header"),
					val("InternalMessageId", "the queue id"), val("MessageSubject", "words of the subject"),
					val("ResultSize", "accepted for scripts"), val("Server", "in a cluster, the member whose log to search (every member's when left out); on a single server, accepted for scripts")),
				Positional: []string{"InternalMessageId"}, Records: true, Empty: "No message tracking events match.",
				// One message asked for: every field, as "| Format-List" shows it.
				List: func(r Request) bool {
					for _, p := range r.Params {
						if p.Name == "MessageId" || p.Name == "InternalMessageId" {
							return true
						}
					}
					return false
				},
				Run: getMessageTrackingLog},
		}}
}

// getMessageTrackingLog searches the tracking log files of the data folder.
func getMessageTrackingLog(env *Env, r Request) ([]manage.Record, error) {
	cfg, err := env.Manager.Load()
	if err != nil {
		return nil, err
	}
	ps := r.Params
	var f tracking.Filter
	f.Sender, _ = ps.TakeExact("Sender")
	if v, ok := ps.TakeExact("Recipients"); ok {
		for _, rc := range strings.Split(v, ",") {
			if rc = strings.TrimSpace(rc); rc != "" {
				f.Recipients = append(f.Recipients, rc)
			}
		}
	}
	f.MessageID, _ = ps.TakeExact("MessageId")
	f.InternalMessageID, _ = ps.TakeExact("InternalMessageId")
	if v, ok := ps.TakeExact("EventId"); ok {
		f.EventID = strings.ToUpper(v)
	}
	for _, p := range []struct {
		name string
		to   *time.Time
	}{{"Start", &f.Start}, {"End", &f.End}} {
		if v, ok := ps.TakeExact(p.name); ok {
			t, err := manage.ParseWhen(v)
			if err != nil {
				return nil, fmt.Errorf("-%s: %w", p.name, err)
			}
			*p.to = t
		}
	}
	subject, _ := ps.TakeExact("MessageSubject")
	server, _ := ps.TakeExact("Server")
	var evs []control.TrackingEvent
	if cfg.Clustered() { // issue 14: every member's log, or -Server's
		if evs, err = clusterTracking(env, f, server); err != nil {
			return nil, err
		}
	} else {
		local, err := tracking.Search(cfg.MessageTrackingLogDir(), f)
		if err != nil {
			return nil, err
		}
		for _, ev := range local {
			evs = append(evs, control.TrackingEvent{Event: ev})
		}
	}
	var out []manage.Record
	for _, te := range evs {
		ev := te.Event
		if subject != "" && !strings.Contains(strings.ToLower(ev.MessageSubject), strings.ToLower(subject)) {
			continue
		}
		out = append(out, withTrackingServer(manage.TrackingRecord(ev), te.Server))
	}
	return out, nil
}
