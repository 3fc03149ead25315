package main

import (
	"context"
	"fmt"
	"io"
	"path/filepath"
	"time"

	"github.com/transportd/transportd/transport/admin/control"
	"github.com/transportd/transportd/transport/admin/manage"
	"github.com/transportd/transportd/transport/admin/shell"
)

// queueCommand runs queue and message commands against the running daemon
// over its control socket (Get-Queue, Retry-Queue, Get-Message, ...).
func queueCommand(m *manage.Manager, noun, verb, identity string, ps manage.Params, out io.Writer) error {
	c, err := m.Load()
	if err != nil {
		return err
	}
	sock := filepath.Join(c.DataDir(), control.SocketName)
	sel := control.Selector{Identity: identity}
	if q, ok := ps.Take("Queue"); ok {
		sel.Queue = q
	}
	if v, ok := ps.Take("WithNDR"); ok {
		b, err := manage.ParseBool(v)
		if err != nil {
			return fmt.Errorf("-WithNDR: %w", err)
		}
		sel.WithNDR = b
	}
	if len(ps) > 0 {
		return fmt.Errorf("unknown parameter -%s (queue and message commands take -Identity, -Queue and, for remove, -WithNDR)", ps[0].Name)
	}
	ctx, cancel := context.WithTimeout(context.Background(), 30*time.Second)
	defer cancel()
	switch noun + " " + verb {
	case "queue get":
		var qs []control.Queue
		if err := control.Call(ctx, sock, control.OpQueueGet, sel, &qs); err != nil {
			return err
		}
		var recs []manage.Record
		for _, q := range qs {
			recs = append(recs, shell.QueueRecord(q))
		}
		if len(recs) == 0 {
			return nothing(out, "The queue is empty.")
		}
		return show(out, recs, identity != "", nil, "Identity", "DeliveryType", "Status", "MessageCount", "NextHopDomain", "NextRetryTime", "LastError")
	case "queue retry":
		var ch control.Changed
		if err := control.Call(ctx, sock, control.OpQueueRetry, sel, &ch); err != nil {
			return err
		}
		fmt.Fprintf(out, "Retrying %d queue(s) now.\n", ch.Count)
		return nil
	case "message get":
		var ms []control.Message
		if err := control.Call(ctx, sock, control.OpMessageGet, sel, &ms); err != nil {
			return err
		}
		var recs []manage.Record
		for _, mi := range ms {
			recs = append(recs, shell.MessageRecord(mi))
		}
		if len(recs) == 0 {
			return nothing(out, "The queue is empty.")
		}
		return show(out, recs, identity != "", nil, "Identity", "FromAddress", "Status", "Size", "Queue")
	case "message suspend", "message resume", "message remove":
		if identity == "" && sel.Queue == "" {
			return fmt.Errorf("give -Identity (a queue id, wildcards allowed) or -Queue")
		}
		var ch control.Changed
		if err := control.Call(ctx, sock, "message."+verb, sel, &ch); err != nil {
			return err
		}
		past := map[string]string{"suspend": "Suspended", "resume": "Resumed", "remove": "Removed"}[verb]
		fmt.Fprintf(out, "%s %d message(s).\n", past, ch.Count)
		return nil
	}
	return fmt.Errorf("unknown action %q for %s (queue: get, retry; message: get, suspend, resume, remove)", verb, noun)
}
