package tracking

import (
	"errors"
	"fmt"
	"io/fs"
	"strconv"
	"strings"
	"time"

	"github.com/transportd/transportd/connector/protolog/csvlog"
)

// Filter selects events as Get-MessageTrackingLog's parameters do. Empty
// fields match everything; text matches ignore case.
type Filter struct {
	// Sender is the sender address.
	Sender string
	// Recipients match when any of them is a recipient of the event.
	Recipients []string
	// MessageID is the Message-ID header, with or without angle brackets.
	MessageID string
	// Start and End bound the event time (inclusive start, exclusive end).
	Start, End time.Time
	// EventID is RECEIVE, SEND, DELIVER, FAIL, ...
	EventID string
	// InternalMessageID is the queue id.
	InternalMessageID string
}

func (f Filter) match(ev Event) bool {
	if f.Sender != "" && !strings.EqualFold(f.Sender, ev.Sender) {
		return false
	}
	if f.EventID != "" && !strings.EqualFold(f.EventID, ev.EventID) {
		return false
	}
	if f.InternalMessageID != "" && !strings.EqualFold(f.InternalMessageID, ev.InternalMessageID) {
		return false
	}
	if f.MessageID != "" && !strings.EqualFold(strings.Trim(f.MessageID, "<> "), strings.Trim(ev.MessageID, "<> ")) {
		return false
	}
	if !f.Start.IsZero() && ev.Time.Before(f.Start) {
		return false
	}
	if !f.End.IsZero() && !ev.Time.Before(f.End) {
		return false
	}
	if len(f.Recipients) > 0 {
		found := false
		for _, want := range f.Recipients {
			for _, r := range ev.Recipients {
				if strings.EqualFold(strings.TrimSpace(want), r) {
					found = true
				}
			}
		}
		if !found {
			return false
		}
	}
	return true
}

// Search reads every MSGTRK*.log file in dir, oldest first, and returns
// the events that f matches in the order they were written. A missing
// folder holds no events.
func Search(dir string, f Filter) ([]Event, error) {
	files, err := csvlog.Files(dir, "MSGTRK")
	if errors.Is(err, fs.ErrNotExist) {
		return nil, nil
	}
	if err != nil {
		return nil, fmt.Errorf("searching message tracking: %w", err)
	}
	var out []Event
	for _, path := range files {
		err := csvlog.ReadFile(path, func(fields, rec []string) bool {
			ev, ok := parse(fields, rec)
			if ok && f.match(ev) {
				out = append(out, ev)
			}
			return true
		})
		if err != nil && !errors.Is(err, fs.ErrNotExist) { // a file deleted by the size limit meanwhile
			return out, fmt.Errorf("searching message tracking: %w", err)
		}
	}
	return out, nil
}

// parse builds an Event from a record whose columns fields names.
func parse(fields, rec []string) (Event, bool) {
	var ev Event
	get := func(i int) string {
		if i < len(rec) {
			return rec[i]
		}
		return ""
	}
	list := func(s string) []string {
		if s == "" {
			return nil
		}
		return strings.Split(s, ";")
	}
	for i, name := range fields {
		v := get(i)
		switch name {
		case "date-time":
			t, err := time.Parse(TimeFormat, v)
			if err != nil {
				t, err = time.Parse(time.RFC3339Nano, v)
				if err != nil {
					return Event{}, false
				}
			}
			ev.Time = t
		case "client-ip":
			ev.ClientIP = v
		case "client-hostname":
			ev.ClientHostname = v
		case "server-ip":
			ev.ServerIP = v
		case "server-hostname":
			ev.ServerHostname = v
		case "source-context":
			ev.SourceContext = v
		case "connector-id":
			ev.ConnectorID = v
		case "source":
			ev.Source = v
		case "event-id":
			ev.EventID = v
		case "internal-message-id":
			ev.InternalMessageID = v
		case "message-id":
			ev.MessageID = v
		case "recipient-address":
			ev.Recipients = list(v)
		case "recipient-status":
			ev.RecipientStatus = list(v)
		case "total-bytes":
			ev.TotalBytes, _ = strconv.ParseInt(v, 10, 64)
		case "recipient-count":
			ev.RecipientCount, _ = strconv.Atoi(v)
		case "related-recipient-address":
			ev.RelatedRecipientAddress = v
		case "reference":
			ev.Reference = v
		case "message-subject":
			ev.MessageSubject = v
		case "sender-address":
			ev.Sender = v
		case "return-path":
			ev.ReturnPath = v
		case "message-info":
			ev.MessageInfo = v
		case "directionality":
			ev.Directionality = v
		}
	}
	return ev, true
}
