package web

import (
	"net/http"
	"sort"
	"strings"

	"github.com/transportd/transportd/transport/admin/manage"
)

// Message trace: EAC's message trace over the message tracking log
// (Get-MessageTrackingLog), and the events of one message on a timeline.

func tracePages() []Page {
	return []Page{
		{Path: "/trace", Title: "Message trace", Nav: "Message trace", Section: "Mail flow",
			Read: OrgRead, Write: OrgWrite, Template: "trace.html", Handler: traceSearch},
		{Path: "/trace/message", Title: "Message trace: one message", Section: "Mail flow",
			Read: OrgRead, Write: OrgWrite, Template: "trace_message.html", Handler: traceMessage},
	}
}

// traceFields are the search form's fields: the form name, the
// Get-MessageTrackingLog parameter and the label.
var traceFields = []struct{ Name, Param, Label, Placeholder string }{
	{"sender", "Sender", "Sender", "app@contoso.com"},
	{"recipients", "Recipients", "Recipient", "chris@fabrikam.com"},
	{"messageid", "MessageId", "Message ID", "<id@contoso.com>"},
	{"subject", "MessageSubject", "Subject contains", "Invoice"},
	{"start", "Start", "From (date and time)", "2026-05-04 09:00"},
	{"end", "End", "Until (date and time)", "2026-05-04 18:00"},
}

// traceEvents are the event ids the search offers.
var traceEvents = []string{"RECEIVE", "SUBMIT", "SEND", "DELIVER", "DEFER", "FAIL", "DSN", "POISONMESSAGE", "BADMAIL"}

// maxTraceRows bounds the rows one search shows.
const maxTraceRows = 500

type traceField struct{ Name, Label, Placeholder, Value string }

func traceSearch(c *Context) {
	cmd := NewCmd("Get-MessageTrackingLog")
	var fields []traceField
	searched := false
	for _, f := range traceFields {
		v := c.Form(f.Name)
		fields = append(fields, traceField{f.Name, f.Label, f.Placeholder, v})
		if v != "" {
			cmd.Text(f.Param, v)
			searched = true
		}
	}
	event := strings.ToUpper(c.Form("eventid"))
	if event != "" {
		cmd.Text("EventId", event)
		searched = true
	}
	data := map[string]any{"Fields": fields, "Events": traceEvents, "EventId": event, "Line": cmd.String(), "Searched": searched || c.Form("search") != ""}
	if searched || c.Form("search") != "" {
		recs, err := c.Query(cmd)
		if len(recs) > maxTraceRows {
			data["Truncated"] = len(recs)
			recs = recs[len(recs)-maxTraceRows:]
		}
		data["Rows"], data["Error"] = recs, errText(err)
	}
	c.Render(data)
}

// timelineEvent is one event of a message on the timeline.
type timelineEvent struct {
	Time, EventId, Source, Server, Connector, ClientIp, Recipients, Status, Detail string
	Kind                                                                           string // the CSS class: ok, wait, bad, info
}

func eventKind(id string) string {
	switch id {
	case "DELIVER", "SEND":
		return "ok"
	case "DEFER":
		return "wait"
	case "FAIL", "POISONMESSAGE", "BADMAIL":
		return "bad"
	}
	return "info"
}

func traceMessage(c *Context) {
	mid, iid := c.R.FormValue("messageid"), c.R.FormValue("id")
	cmd := NewCmd("Get-MessageTrackingLog")
	switch {
	case mid != "":
		cmd.Text("MessageId", mid)
	case iid != "":
		cmd.Text("InternalMessageId", iid)
	default:
		c.Error(http.StatusBadRequest, errNoMessage)
		return
	}
	recs, err := c.Query(cmd)
	get := func(r manage.Record, n string) string { v, _ := r.Get(n); return v }
	sort.SliceStable(recs, func(i, j int) bool { return get(recs[i], "Timestamp") < get(recs[j], "Timestamp") })
	var evs []timelineEvent
	for _, r := range recs {
		detail := get(r, "SourceContext")
		if v := get(r, "MessageInfo"); v != "" && detail == "" {
			detail = v
		}
		server := get(r, "ServerHostname")
		if ip := get(r, "ServerIp"); ip != "" {
			server += " (" + ip + ")"
		}
		evs = append(evs, timelineEvent{Time: get(r, "Timestamp"), EventId: get(r, "EventId"), Source: get(r, "Source"),
			Server: server, Connector: get(r, "ConnectorId"), ClientIp: get(r, "ClientIp"),
			Recipients: strings.Trim(get(r, "Recipients"), "{}"), Status: strings.Trim(get(r, "RecipientStatus"), "{}"),
			Detail: detail, Kind: eventKind(get(r, "EventId"))})
	}
	var subject, sender, messageID string
	if len(recs) > 0 {
		subject, sender, messageID = get(recs[0], "MessageSubject"), get(recs[0], "Sender"), get(recs[0], "MessageId")
	}
	c.Render(map[string]any{"Events": evs, "Error": errText(err), "Line": cmd.String(), "Subject": subject, "Sender": sender, "MessageId": messageID})
}

type textError string

func (e textError) Error() string { return string(e) }

const errNoMessage = textError("Name a message: ?messageid=<Message-ID> or ?id=<internal message id>, or pick one on the message trace page.")
