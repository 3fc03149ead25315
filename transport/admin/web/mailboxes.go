package web

import (
	"errors"
	"net/http"
)

// The mailbox pages: EAC's recipients > mailboxes. Recipient Management
// may change them (and nothing else); View-Only Organization Management
// may look. A password goes to the shell as -Password -, so it is never
// in the command log or the admin audit log.

func mailboxPages() []Page {
	return []Page{
		{Path: "/mailboxes", Title: "Mailboxes", Nav: "Mailboxes", Section: "Recipients",
			Read: RecipientRead, Write: RecipientWrite, Template: "mailbox_list.html", Handler: mailboxList},
		{Path: "/mailboxes/new", Title: "New mailbox", Section: "Recipients",
			Read: RecipientWrite, Write: RecipientWrite, Template: "mailbox_new.html", Handler: mailboxNew},
		{Path: "/mailboxes/edit", Title: "Edit mailbox", Section: "Recipients",
			Read: RecipientRead, Write: RecipientWrite, Template: "mailbox_edit.html", Handler: mailboxEdit},
	}
}

func mailboxList(c *Context) {
	if c.Posted() {
		if id := c.Form("remove"); id != "" {
			c.Redirect("/mailboxes", c.Run(NewCmd("Remove-Mailbox").Id(id)))
			return
		}
		c.Redirect("/mailboxes")
		return
	}
	recs, err := c.Query(NewCmd("Get-Mailbox").Text("ResultSize", "Unlimited"))
	c.Render(map[string]any{"Mailboxes": recs, "Error": errText(err)})
}

func mailboxNew(c *Context) {
	data := map[string]any{"Name": "", "Address": "", "DisplayName": ""}
	if !c.Posted() {
		c.Render(data)
		return
	}
	name, addr := c.Form("name"), c.Form("address")
	data["Name"], data["Address"], data["DisplayName"] = name, addr, c.Form("displayname")
	cmd := NewCmd("New-Mailbox").Text("Name", name)
	if addr != "" {
		cmd.Text("PrimarySmtpAddress", addr)
	}
	if v := c.Form("displayname"); v != "" {
		cmd.Text("DisplayName", v)
	}
	if pw := c.R.PostFormValue("password"); pw != "" {
		cmd.Secret("Password", pw)
	}
	res := c.Run(cmd)
	if !res.OK {
		c.Show(data, res)
		return
	}
	c.Redirect("/mailboxes/edit?id="+queryEscape(name), res)
}

var mailboxGeneralFields = []formField{
	{Name: "DisplayName", Label: "Display name", Kind: "text"},
	{Name: "PrimarySmtpAddress", Label: "Primary email address", Kind: "text"},
	{Name: "Enabled", Label: "Enabled: may sign in (SMTP AUTH, POP3, IMAP); mail is delivered either way", Kind: "bool"},
}

var mailboxForwardingFields = []formField{
	{Name: "ForwardingSmtpAddress", Label: "Forward to this address (ForwardingSmtpAddress; empty: no forwarding)", Kind: "text"},
	{Name: "DeliverToMailboxAndForward", Label: "Also keep a copy in this mailbox (DeliverToMailboxAndForward)", Kind: "bool"},
}

func mailboxEdit(c *Context) {
	id := c.R.FormValue("id")
	recs, err := c.Query(NewCmd("Get-Mailbox").Id(id))
	if err == nil && len(recs) != 1 {
		err = errors.New("no mailbox " + id)
	}
	if err != nil {
		c.Error(http.StatusNotFound, err)
		return
	}
	rec := recs[0]
	get := func(n string) string { v, _ := rec.Get(n); return v }
	here := "/mailboxes/edit?id=" + queryEscape(id)
	if c.Posted() {
		set := NewCmd("Set-Mailbox").Id(id)
		switch c.Form("action") {
		case "password":
			pw := c.R.PostFormValue("password")
			if pw == "" {
				c.Redirect(here, Result{Line: "Set-Mailbox -Identity " + Quote(id) + " -Password -", Error: "type the new password"})
				return
			}
			set.Secret("Password", pw)
		case "addaddress":
			set.Raw("EmailAddresses", "@{Add="+Quote(c.Form("address"))+"}")
		case "removeaddress":
			set.Raw("EmailAddresses", "@{Remove="+Quote(c.Form("address"))+"}")
		default:
			setChanges(c, set, mailboxGeneralFields, rec)
			setChanges(c, set, mailboxForwardingFields, rec)
		}
		c.Redirect(here, runAll(c, set)...)
		return
	}
	c.Render(map[string]any{"ID": id, "General": fill(mailboxGeneralFields, rec), "Forwarding": fill(mailboxForwardingFields, rec),
		"Addresses": listValue(get("EmailAddresses")), "Primary": get("PrimarySmtpAddress"), "PasswordSet": get("PasswordSet") == "True"})
}
