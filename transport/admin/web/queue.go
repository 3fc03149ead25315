package web

import (
	"net/url"
	"strings"
)

// The queue viewer: the Exchange Toolbox's Queue Viewer. The queues tab is
// Get-Queue, the messages tab Get-Message with its OPATH -Filter; every
// action (Retry-Queue, Suspend-Queue, Resume-Queue, Suspend-Message,
// Resume-Message, Remove-Message with or without -WithNDR) asks first and
// runs as a shell line.

func queuePages() []Page {
	return []Page{
		{Path: "/queue", Title: "Queue viewer", Nav: "Queue viewer", Section: "Mail flow",
			Read: OrgRead, Write: OrgWrite, Template: "queue_list.html", Handler: queueList},
		{Path: "/queue/messages", Title: "Queue viewer: messages", Section: "Mail flow",
			Read: OrgRead, Write: OrgWrite, Template: "queue_messages.html", Handler: queueMessages},
	}
}

// queueActions are the queue tab's buttons: the form's action value and
// the cmdlet it runs.
var queueActions = map[string]string{"retry": "Retry-Queue", "suspend": "Suspend-Queue", "resume": "Resume-Queue"}

func queueList(c *Context) {
	if c.Posted() {
		cmdlet, ok := queueActions[c.Form("action")]
		id := c.Form("queue")
		if !ok || id == "" {
			c.Redirect("/queue")
			return
		}
		c.Redirect("/queue", c.Run(NewCmd(cmdlet).Id(id)))
		return
	}
	get := NewCmd("Get-Queue")
	filter := strings.TrimSpace(c.R.FormValue("filter"))
	if filter != "" {
		get.Text("Filter", filter)
	}
	recs, err := c.Query(get)
	c.Render(map[string]any{"Queues": recs, "Error": errText(err), "Filter": filter, "Line": get.String(), "Clustered": hasServer(recs)})
}

func queueMessages(c *Context) {
	queue, filter := c.R.FormValue("queue"), strings.TrimSpace(c.R.FormValue("filter"))
	here := "/queue/messages?" + url.Values{"queue": {queue}, "filter": {filter}}.Encode()
	if c.Posted() {
		id := c.Form("message")
		if id == "" {
			c.Redirect(here)
			return
		}
		var cmd *Cmd
		switch c.Form("action") {
		case "suspend":
			cmd = NewCmd("Suspend-Message").Id(id)
		case "resume":
			cmd = NewCmd("Resume-Message").Id(id)
		case "remove-ndr":
			cmd = NewCmd("Remove-Message").Id(id).Bool("WithNDR", true)
		case "remove":
			cmd = NewCmd("Remove-Message").Id(id).Bool("WithNDR", false)
		default:
			c.Redirect(here)
			return
		}
		c.Redirect(here, c.Run(cmd))
		return
	}
	get := NewCmd("Get-Message")
	if queue != "" {
		get.Text("Queue", queue)
	}
	if filter != "" {
		get.Text("Filter", filter)
	}
	recs, err := c.Query(get)
	c.Render(map[string]any{"Queue": queue, "Filter": filter, "Messages": recs, "Error": errText(err), "Line": get.String(), "Clustered": hasServer(recs)})
}
