package main

import (
	"fmt"
	"io"
	"strings"
	"time"

	"github.com/transportd/transportd/transport/admin/manage"
	"github.com/transportd/transportd/transport/mail/tracking"
)

// trackingLogCommand is Get-MessageTrackingLog: it searches the message
// tracking log files in the data folder (no running daemon needed; the
// daemon writes records out within a second).
func trackingLogCommand(m *manage.Manager, verb, identity string, ps manage.Params, out io.Writer) error {
	if verb != "get" {
		return fmt.Errorf("unknown action %q for trackinglog (use get)", verb)
	}
	c, err := m.Load()
	if err != nil {
		return err
	}
	f := tracking.Filter{InternalMessageID: identity}
	if v, ok := ps.Take("Sender"); ok {
		f.Sender = v
	}
	if v, ok := ps.Take("Recipients"); ok {
		for _, r := range strings.Split(v, ",") {
			if r = strings.TrimSpace(r); r != "" {
				f.Recipients = append(f.Recipients, r)
			}
		}
	}
	if v, ok := ps.Take("MessageId"); ok {
		f.MessageID = v
	}
	if v, ok := ps.Take("InternalMessageId"); ok {
		f.InternalMessageID = v
	}
	if v, ok := ps.Take("EventId"); ok {
		f.EventID = strings.ToUpper(v)
	}
	for _, p := range []struct {
		name string
		to   *time.Time
	}{{"Start", &f.Start}, {"End", &f.End}} {
		if v, ok := ps.Take(p.name); ok {
			t, err := manage.ParseWhen(v)
			if err != nil {
				return fmt.Errorf("-%s: %w", p.name, err)
			}
			*p.to = t
		}
	}
	if len(ps) > 0 {
		return fmt.Errorf("unknown parameter -%s (trackinglog get takes -Sender, -Recipients, -MessageId, -InternalMessageId, -EventId, -Start, -End)", ps[0].Name)
	}
	evs, err := tracking.Search(c.MessageTrackingLogDir(), f)
	if err != nil {
		return err
	}
	if len(evs) == 0 {
		return nothing(out, "No message tracking events match.")
	}
	recs := make([]manage.Record, 0, len(evs))
	for _, ev := range evs {
		recs = append(recs, manage.TrackingRecord(ev))
	}
	// One message asked for: every field, as "| Format-List" shows it.
	detail := f.MessageID != "" || f.InternalMessageID != ""
	return show(out, recs, detail, nil, "Timestamp", "EventId", "Source", "Sender", "Recipients", "MessageSubject")
}
