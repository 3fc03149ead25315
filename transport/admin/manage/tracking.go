package manage

import (
	"fmt"
	"strings"
	"time"

	"github.com/transportd/transportd/transport/mail/tracking"
)

// TrackingRecord shows a message tracking event with Get-MessageTrackingLog's property names.
func TrackingRecord(ev tracking.Event) Record {
	return Record{
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

// ParseWhen reads a local date and time ("2026-05-04", "2026-05-04 09:30",
// "2026-05-04 09:30:00"), an RFC 3339 timestamp, or the en-US forms
// Microsoft's examples use, month first: "03/13/2018 09:00:00",
// "1/5/2018 3:00 PM", "3/13/2018".
func ParseWhen(text string) (time.Time, error) {
	s := strings.Join(strings.Fields(text), " ")
	if t, err := time.Parse(time.RFC3339, s); err == nil {
		return t, nil
	}
	s = strings.ToUpper(s) // am/pm
	for _, layout := range []string{"2006-01-02 15:04:05", "2006-01-02 15:04", "2006-01-02T15:04:05", "2006-01-02",
		"1/2/2006 15:04:05", "1/2/2006 15:04", "1/2/2006 3:04:05 PM", "1/2/2006 3:04 PM", "1/2/2006 3:04:05PM", "1/2/2006 3:04PM", "1/2/2006"} {
		if t, err := time.ParseInLocation(layout, s, time.Local); err == nil {
			return t, nil
		}
	}
	return time.Time{}, fmt.Errorf("%q is not a date and time (use 2026-05-04, \"2026-05-04 09:30\", RFC 3339 or, month first, \"05/04/2026 09:30:00\" or \"5/4/2026 9:30 AM\")", text)
}
