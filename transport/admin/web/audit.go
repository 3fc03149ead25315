package web

// The admin audit log page: Search-AdminAuditLog in a table.

func auditPages() []Page {
	return []Page{
		{Path: "/audit", Title: "Admin audit log", Nav: "Admin audit log", Section: "Compliance",
			Read: OrgRead, Write: OrgWrite, Template: "audit.html", Handler: auditPage},
	}
}

func auditPage(c *Context) {
	cmd := NewCmd("Search-AdminAuditLog")
	if v := c.Form("cmdlets"); v != "" {
		cmd.Text("Cmdlets", v)
	}
	if v := c.Form("userids"); v != "" {
		cmd.Text("UserIds", v)
	}
	cmd.Text("ResultSize", "200")
	recs, err := c.Query(cmd)
	c.Render(map[string]any{"Entries": recs, "Error": errText(err), "Cmdlets": c.Form("cmdlets"), "UserIds": c.Form("userids"), "Line": cmd.String()})
}
