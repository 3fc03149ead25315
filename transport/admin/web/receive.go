package web

import (
	"errors"
	"net/http"
	"slices"
	"strings"

	"github.com/transportd/transportd/transport/admin/manage"
)

// The receive connector pages: EAC's mail flow > receive connectors, with
// its tabs (general, security, scoping), and IIS's relay restrictions
// dialog on the scoping tab.

func receivePages() []Page {
	return []Page{
		{Path: "/receive", Title: "Receive connectors", Nav: "Receive connectors", Section: "Mail flow",
			Read: OrgRead, Write: OrgWrite, Template: "receive_list.html", Handler: receiveList},
		{Path: "/receive/new", Title: "New receive connector", Section: "Mail flow",
			Read: OrgWrite, Write: OrgWrite, Template: "receive_new.html", Handler: receiveNew},
		{Path: "/receive/edit", Title: "Edit receive connector", Section: "Mail flow",
			Read: OrgRead, Write: OrgWrite, Template: "receive_edit.html", Handler: receiveEdit},
	}
}

// listValue splits a record's list value ("{a, b}") into its items.
func listValue(v string) []string {
	v = strings.TrimSuffix(strings.TrimPrefix(strings.TrimSpace(v), "{"), "}")
	var out []string
	for _, s := range strings.Split(v, ",") {
		if s = strings.TrimSpace(s); s != "" {
			out = append(out, s)
		}
	}
	return out
}

// formLines splits a textarea into its non-empty lines (commas separate too).
func formLines(v string) []string {
	var out []string
	for _, s := range strings.FieldsFunc(v, func(r rune) bool { return r == '\n' || r == '\r' || r == ',' }) {
		if s = strings.TrimSpace(s); s != "" {
			out = append(out, s)
		}
	}
	return out
}

func receiveList(c *Context) {
	if c.Posted() {
		id := c.Form("remove")
		if id == "" {
			c.Redirect("/receive")
			return
		}
		c.Redirect("/receive", c.Run(NewCmd("Remove-ReceiveConnector").Id(id)))
		return
	}
	recs, err := c.Query(NewCmd("Get-ReceiveConnector"))
	c.Render(map[string]any{"Connectors": recs, "Error": errText(err)})
}

func errText(err error) string {
	if err == nil {
		return ""
	}
	return err.Error()
}

// Usages are New-ReceiveConnector's -Usage values, as EAC's wizard offers them.
var usages = []struct{ Value, Label string }{
	{"Custom", "Custom: nothing allowed until you say so (devices, applications)"},
	{"Internet", "Internet: anonymous mail from other servers to your domains"},
	{"Internal", "Internal: mail from your other mail servers"},
	{"Client", "Client: users who sign in to send (port 587)"},
	{"Partner", "Partner: a partner's servers, TLS required"},
}

func receiveNew(c *Context) {
	data := map[string]any{"Usages": usages, "Name": "", "Usage": "Custom", "Bindings": "0.0.0.0:25", "RemoteIPRanges": ""}
	if !c.Posted() {
		c.Render(data)
		return
	}
	name, usage := c.Form("name"), c.Form("usage")
	bindings, ranges := formLines(c.Form("bindings")), formLines(c.Form("remoteipranges"))
	data["Name"], data["Usage"], data["Bindings"], data["RemoteIPRanges"] = name, usage, c.Form("bindings"), c.Form("remoteipranges")
	cmd := NewCmd("New-ReceiveConnector").Text("Name", name).Text("Usage", usage)
	if len(bindings) > 0 {
		cmd.List("Bindings", bindings)
	}
	if len(ranges) > 0 {
		cmd.List("RemoteIPRanges", ranges)
	}
	res := c.Run(cmd)
	if !res.OK {
		c.Show(data, res)
		return
	}
	c.Redirect("/receive/edit?id="+queryEscape(name), res)
}

// field is one setting on a tab of the edit page.
type field struct {
	Name, Label, Help string
	Kind              string // text, bool, list, select
	Value             string
	Checked           bool
}

var generalFields = []field{
	{Name: "Name", Label: "Name", Kind: "text"},
	{Name: "Enabled", Label: "Enabled", Kind: "bool"},
	{Name: "Bindings", Label: "Network adapter bindings (IP:port, one a line)", Kind: "list"},
	{Name: "Fqdn", Label: "FQDN: the name in the greeting and the EHLO reply", Kind: "text"},
	{Name: "Banner", Label: "Banner (the 220 greeting; empty: Exchange's)", Kind: "text"},
	{Name: "MaxMessageSize", Label: "Maximum message size", Help: "e.g. 36MB", Kind: "text"},
	{Name: "MaxRecipientsPerMessage", Label: "Maximum recipients per message", Kind: "text"},
	{Name: "MaxInboundConnectionPerSource", Label: "Maximum connections from one address", Kind: "text"},
	{Name: "ConnectionTimeout", Label: "Connection timeout", Help: "hh:mm:ss", Kind: "text"},
	{Name: "ProtocolLoggingLevel", Label: "Protocol logging (None or Verbose)", Kind: "text"},
}

var authMechanisms = []string{"Tls", "BasicAuth", "BasicAuthRequireTLS", "Integrated", "ExchangeServer", "ExternalAuthoritative"}
var permissionGroups = []string{"AnonymousUsers", "ExchangeUsers", "ExchangeServers", "ExchangeLegacyServers", "Partners"}

const (
	anonymousLogon = `NT AUTHORITY\ANONYMOUS LOGON`
	acceptAny      = "Ms-Exch-SMTP-Accept-Any-Recipient"
)

func queryEscape(s string) string {
	r := strings.NewReplacer("%", "%25", "&", "%26", "+", "%2B", " ", "+", "#", "%23", "?", "%3F", "=", "%3D")
	return r.Replace(s)
}

func receiveEdit(c *Context) {
	id := c.R.FormValue("id")
	tab := c.R.FormValue("tab")
	if tab != "security" && tab != "scoping" {
		tab = "general"
	}
	recs, err := c.Query(NewCmd("Get-ReceiveConnector").Id(id))
	if err == nil && len(recs) != 1 {
		err = errors.New("no receive connector " + id)
	}
	if err != nil {
		c.Error(http.StatusNotFound, err)
		return
	}
	rec := recs[0]
	get := func(n string) string { v, _ := rec.Get(n); return v }
	here := "/receive/edit?id=" + queryEscape(id) + "&tab=" + tab
	if c.Posted() {
		cmds := receiveChanges(c, tab, id, rec)
		if len(cmds) == 0 {
			c.Redirect(here)
			return
		}
		var results []Result
		for _, cmd := range cmds {
			res := c.Run(cmd)
			results = append(results, res)
			if !res.OK {
				break
			}
		}
		if name := c.Form("Name"); tab == "general" && name != "" && name != id && results[len(results)-1].OK {
			here = "/receive/edit?id=" + queryEscape(name) + "&tab=" + tab
		}
		c.Redirect(here, results...)
		return
	}
	data := map[string]any{"ID": id, "Tab": tab, "Record": rec, "IDQuery": queryEscape(id),
		"CertificateStatus": get("CertificateStatus"), "CertProblem": strings.HasPrefix(get("CertificateStatus"), "WARNING")}
	switch tab {
	case "general":
		var fs []field
		for _, f := range generalFields {
			v := get(f.Name)
			switch f.Kind {
			case "bool":
				f.Checked = v == "True"
			case "list":
				f.Value = strings.Join(listValue(v), "\n")
			default:
				f.Value = v
			}
			fs = append(fs, f)
		}
		data["Fields"] = fs
	case "security":
		certs, cerr := c.Query(NewCmd("Get-ExchangeCertificate"))
		data["Certificates"], data["CertError"] = certs, errText(cerr)
		data["TlsCertificateName"] = get("TlsCertificateName")
		data["AuthMechanisms"], data["Auth"] = authMechanisms, listValue(get("AuthMechanism"))
		data["PermissionGroups"], data["Groups"] = permissionGroups, listValue(get("PermissionGroups"))
	case "scoping":
		data["RemoteIPRanges"] = strings.Join(listValue(get("RemoteIPRanges")), "\n")
		data["Relay"] = get("AnonymousRelay") == "True"
	}
	c.Render(data)
}

// receiveChanges are the shell lines that make the tab's form the
// connector's settings: only what changed.
func receiveChanges(c *Context, tab, id string, rec manage.Record) []*Cmd {
	get := func(n string) string { v, _ := rec.Get(n); return v }
	set := NewCmd("Set-ReceiveConnector").Id(id)
	var more []*Cmd
	switch tab {
	case "general":
		for _, f := range generalFields {
			cur := get(f.Name)
			switch f.Kind {
			case "bool":
				on := c.Form(f.Name) != ""
				if on != (cur == "True") {
					set.Bool(f.Name, on)
				}
			case "list":
				want := formLines(c.Form(f.Name))
				if !slices.Equal(want, listValue(cur)) {
					set.List(f.Name, want)
				}
			default:
				if v := c.Form(f.Name); v != cur {
					set.Text(f.Name, v)
				}
			}
		}
	case "security":
		if v := c.Form("TlsCertificateName"); v != get("TlsCertificateName") {
			set.Text("TlsCertificateName", v)
		}
		for _, p := range []struct{ name, cur string }{{"AuthMechanism", get("AuthMechanism")}, {"PermissionGroups", get("PermissionGroups")}} {
			want := c.FormList(p.name)
			if !sameSet(want, listValue(p.cur)) {
				v := strings.Join(want, ", ")
				if v == "" {
					v = "None"
				}
				set.Text(p.name, v)
			}
		}
	case "scoping":
		want := formLines(c.Form("RemoteIPRanges"))
		if !slices.Equal(want, listValue(get("RemoteIPRanges"))) {
			set.List("RemoteIPRanges", want)
		}
		relay := c.Form("relay") == "list"
		was := get("AnonymousRelay") == "True"
		groups := listValue(get("PermissionGroups"))
		if relay && !containsFold(groups, "AnonymousUsers") {
			set.Text("PermissionGroups", strings.Join(append(slices.DeleteFunc(groups, func(g string) bool { return g == "None" }), "AnonymousUsers"), ", "))
		}
		// The seed's procedure: the Ms-Exch-SMTP-Accept-Any-Recipient
		// right for anonymous senders, on a connector scoped to the
		// addresses that may relay.
		get := NewCmd("Get-ReceiveConnector").Id(id)
		switch {
		case relay && !was:
			more = append(more, &Cmd{Cmdlet: "Add-ADPermission", Pipe: get, args: []arg{{name: "User", value: anonymousLogon}, {name: "ExtendedRights", value: acceptAny}}})
		case !relay && was:
			more = append(more, &Cmd{Cmdlet: "Remove-ADPermission", Pipe: get, args: []arg{{name: "User", value: anonymousLogon}, {name: "ExtendedRights", value: acceptAny}}})
		}
	}
	var out []*Cmd
	if !set.Empty() {
		out = append(out, set)
	}
	return append(out, more...)
}

func sameSet(a, b []string) bool {
	a = slices.DeleteFunc(slices.Clone(a), func(s string) bool { return s == "None" })
	b = slices.DeleteFunc(slices.Clone(b), func(s string) bool { return s == "None" })
	if len(a) != len(b) {
		return false
	}
	for _, x := range a {
		if !containsFold(b, x) {
			return false
		}
	}
	return true
}
