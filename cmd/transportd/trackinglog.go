package main

import (
	"fmt"
	"io"
	"strings"
	"time"

	"github.com/transportd/transportd/transport/manage"
	"github.com/transportd/transportd/transport/tracking"
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
			t, err := parseWhen(v)
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
		fmt.Fprintln(out, "No message tracking events match.")
		return nil
	}
	recs := make([]manage.Record, 0, len(evs))
	for _, ev := range evs {
		recs = append(recs, trackingRecord(ev))
	}
	// One message asked for: every field, as "| Format-List" shows it.
	detail := f.MessageID != "" || f.InternalMessageID != ""
	return show(out, recs, detail, nil, "Timestamp", "EventId", "Source", "Sender", "Recipients", "MessageSubject")
}

func trackingRecord(ev tracking.Event) manage.Record {
	return manage.Record{
		{Name: "Timestamp", Value: ev.Time.Local().Format("2006-01-02 15:04:05")},
		{Name: "EventId", Value: ev.EventID},
		{Name: "Source", Value: ev.Source},
		{Name: "Sender", Value: ev.Sender},
		{Name: "Recipients", Value: "{" + strings.Join(ev.Recipients, ", ") + "}"},
		{Name: "MessageSubject", Value: ev.MessageSubject},
		{Name: "RecipientStatus", Value: "{" + strings.Join(ev.RecipientStatus, ", ") + "}"},
		{Name: "MessageId", Value: ev.MessageID},
		{Name: "InternalMessageId", Value: ev.InternalMessageID},
		{Name: "ConnectorId", Value: ev.ConnectorID},
		{Name: "ClientIp", Value: ev.ClientIP},
		{Name: "ClientHostname", Value: ev.ClientHostname},
		{Name: "ServerIp", Value: ev.ServerIP},
		{Name: "ServerHostname", Value: ev.ServerHostname},
		{Name: "SourceContext", Value: ev.SourceContext},
		{Name: "TotalBytes", Value: fmt.Sprint(ev.TotalBytes)},
		{Name: "RecipientCount", Value: fmt.Sprint(ev.RecipientCount)},
		{Name: "RelatedRecipientAddress", Value: ev.RelatedRecipientAddress},
		{Name: "Reference", Value: ev.Reference},
		{Name: "ReturnPath", Value: ev.ReturnPath},
		{Name: "MessageInfo", Value: ev.MessageInfo},
		{Name: "Directionality", Value: ev.Directionality},
	}
}

// parseWhen reads a local date and time ("2026-05-04", "2026-05-04 09:30",
// "2026-05-04 09:30:00") or an RFC 3339 timestamp.
func parseWhen(s string) (time.Time, error) {
	s = strings.TrimSpace(s)
	if t, err := time.Parse(time.RFC3339, s); err == nil {
		return t, nil
	}
	for _, layout := range []string{"2006-01-02 15:04:05", "2006-01-02 15:04", "2006-01-02T15:04:05", "2006-01-02"} {
		if t, err := time.ParseInLocation(layout, s, time.Local); err == nil {
			return t, nil
		}
	}
	return time.Time{}, fmt.Errorf("%q is not a date and time (use 2026-05-04, \"2026-05-04 09:30\" or RFC 3339)", s)
}
