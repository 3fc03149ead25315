package web

import (
	"errors"
	"net/http"
)

// The accepted domain pages: EAC's mail flow > accepted domains. The
// DomainType says what happens to a recipient of the domain without a
// mailbox: Authoritative refuses it, InternalRelay and ExternalRelay pass
// it on through a send connector.

func domainPages() []Page {
	return []Page{
		{Path: "/domains", Title: "Accepted domains", Nav: "Accepted domains", Section: "Mail flow",
			Read: OrgRead, Write: OrgWrite, Template: "domain_list.html", Handler: domainList},
		{Path: "/domains/edit", Title: "Edit accepted domain", Section: "Mail flow",
			Read: OrgRead, Write: OrgWrite, Template: "domain_edit.html", Handler: domainEdit},
	}
}

// domainTypes are New-AcceptedDomain's -DomainType values, as EAC words them.
var domainTypes = []struct{ Value, Label string }{
	{"Authoritative", "Authoritative: every recipient has a mailbox here; others are refused"},
	{"InternalRelay", "Internal relay: recipients without a mailbox here are sent on (a shared domain)"},
	{"ExternalRelay", "External relay: every recipient is sent on to another server"},
}

func domainList(c *Context) {
	data := map[string]any{"Types": domainTypes, "Name": "", "DomainName": "", "DomainType": "Authoritative"}
	if c.Posted() {
		if id := c.Form("remove"); id != "" {
			c.Redirect("/domains", c.Run(NewCmd("Remove-AcceptedDomain").Id(id)))
			return
		}
		name, dn := c.Form("name"), c.Form("domainname")
		if name == "" {
			name = dn
		}
		data["Name"], data["DomainName"], data["DomainType"] = c.Form("name"), dn, c.Form("domaintype")
		cmd := NewCmd("New-AcceptedDomain").Text("Name", name).Text("DomainName", dn).Text("DomainType", c.Form("domaintype"))
		res := c.Run(cmd)
		if res.OK && c.Form("default") != "" {
			c.Redirect("/domains", res, c.Run(NewCmd("Set-AcceptedDomain").Id(name).Bool("MakeDefault", true)))
			return
		}
		if res.OK {
			c.Redirect("/domains", res)
			return
		}
		c.results = append(c.results, res)
	}
	recs, err := c.Query(NewCmd("Get-AcceptedDomain"))
	data["Domains"], data["Error"] = recs, errText(err)
	c.Render(data)
}

func domainEdit(c *Context) {
	id := c.R.FormValue("id")
	recs, err := c.Query(NewCmd("Get-AcceptedDomain").Id(id))
	if err == nil && len(recs) != 1 {
		err = errors.New("no accepted domain " + id)
	}
	if err != nil {
		c.Error(http.StatusNotFound, err)
		return
	}
	rec := recs[0]
	get := func(n string) string { v, _ := rec.Get(n); return v }
	if c.Posted() {
		set := NewCmd("Set-AcceptedDomain").Id(id)
		if v := c.Form("domaintype"); v != get("DomainType") {
			set.Text("DomainType", v)
		}
		if c.Form("default") != "" && get("Default") != "True" {
			set.Bool("MakeDefault", true)
		}
		here := "/domains/edit?id=" + queryEscape(id)
		if v := c.Form("name"); v != "" && v != get("Name") {
			set.Text("Name", v)
			here = "/domains/edit?id=" + queryEscape(v)
		}
		results := runAll(c, set)
		if !allOK(results) {
			here = "/domains/edit?id=" + queryEscape(id)
		}
		c.Redirect(here, results...)
		return
	}
	c.Render(map[string]any{"ID": id, "Name": get("Name"), "DomainName": get("DomainName"), "DomainType": get("DomainType"),
		"Default": get("Default") == "True", "Types": domainTypes})
}
