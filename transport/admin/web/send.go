package web

import (
	"errors"
	"net/http"
	"strings"
)

// The send connector pages: EAC's mail flow > send connectors (address
// space, delivery through smart hosts or MX, smart host authentication,
// TLS) with IIS's Delivery tab (outbound security, outbound port, smart
// host), and a "test this smart host" button running
// Test-SmtpConnectivity -SendConnector.

func sendPages() []Page {
	return []Page{
		{Path: "/send", Title: "Send connectors", Nav: "Send connectors", Section: "Mail flow",
			Read: OrgRead, Write: OrgWrite, Template: "send_list.html", Handler: sendList},
		{Path: "/send/new", Title: "New send connector", Section: "Mail flow",
			Read: OrgWrite, Write: OrgWrite, Template: "send_new.html", Handler: sendNew},
		{Path: "/send/edit", Title: "Edit send connector", Section: "Mail flow",
			Read: OrgRead, Write: OrgWrite, Template: "send_edit.html", Handler: sendEdit},
	}
}

func sendList(c *Context) {
	if c.Posted() {
		if id := c.Form("remove"); id != "" {
			c.Redirect("/send", c.Run(NewCmd("Remove-SendConnector").Id(id)))
			return
		}
		c.Redirect("/send")
		return
	}
	recs, err := c.Query(NewCmd("Get-SendConnector"))
	c.Render(map[string]any{"Connectors": recs, "Error": errText(err)})
}

// sendUsages are New-SendConnector's -Usage values, as EAC's wizard offers them.
var sendUsages = []struct{ Value, Label string }{
	{"Custom", "Custom: to a smart host or by MX, as you set it"},
	{"Internet", "Internet: to the whole Internet by MX records"},
	{"Partner", "Partner: to a partner's domain, TLS required"},
}

func sendNew(c *Context) {
	data := map[string]any{"Usages": sendUsages, "Name": "", "Usage": "Custom", "AddressSpaces": "*", "Routing": "smarthost", "SmartHosts": "", "Port": "25"}
	if !c.Posted() {
		c.Render(data)
		return
	}
	name := c.Form("name")
	data["Name"], data["Usage"], data["AddressSpaces"], data["Routing"], data["SmartHosts"], data["Port"] =
		name, c.Form("usage"), c.Form("addressspaces"), c.Form("routing"), c.Form("smarthosts"), c.Form("port")
	cmd := NewCmd("New-SendConnector").Text("Name", name).Text("Usage", c.Form("usage"))
	if as := formLines(c.Form("addressspaces")); len(as) > 0 {
		cmd.List("AddressSpaces", as)
	}
	if c.Form("routing") == "dns" {
		cmd.Bool("DNSRoutingEnabled", true)
	} else {
		cmd.List("SmartHosts", formLines(c.Form("smarthosts")))
	}
	if p := c.Form("port"); p != "" && p != "25" {
		cmd.Text("Port", p)
	}
	res := c.Run(cmd)
	if !res.OK {
		c.Show(data, res)
		return
	}
	c.Redirect("/send/edit?id="+queryEscape(name), res)
}

var sendGeneralFields = []formField{
	{Name: "Name", Label: "Name", Kind: "text"},
	{Name: "Enabled", Label: "Enabled", Kind: "bool"},
	{Name: "AddressSpaces", Label: "Address spaces: the recipient domains it sends to (one a line: * for all, contoso.com, *.contoso.com; ;COST after it)", Kind: "list"},
	{Name: "DNSRoutingEnabled", Label: "Route by the recipient domain's MX records (off: through the smart hosts below)", Kind: "bool"},
	{Name: "SmartHosts", Label: "Smart hosts (IIS: Delivery › Advanced › Smart host; one a line: relay.contoso.com, [192.168.5.1], [192.168.5.1]:2525)", Kind: "list"},
	{Name: "Port", Label: "Outbound TCP port (for smart hosts without their own and for MX hosts)", Kind: "text"},
	{Name: "Fqdn", Label: "FQDN given in EHLO (empty: the server's)", Kind: "text"},
	{Name: "MaxMessageSize", Label: "Maximum message size", Help: "e.g. 35MB", Kind: "text"},
	{Name: "Comment", Label: "Comment", Kind: "text"},
}

var sendAuthMechanisms = []string{"None", "BasicAuth", "BasicAuthRequireTLS", "OAuth"}

var sendOAuthFields = []formField{
	{Name: "OAuthTenantId", Label: "Tenant (directory) id", Kind: "text"},
	{Name: "OAuthClientId", Label: "Client (application) id", Kind: "text"},
	{Name: "OAuthMailbox", Label: "Mailbox named in XOAUTH2 (empty: the credential's user name)", Kind: "text"},
	{Name: "OAuthCertificateThumbprint", Label: "Certificate thumbprint for a signed client assertion (instead of a secret)", Kind: "text"},
	{Name: "OAuthScope", Label: "Scope (empty: Microsoft 365's)", Kind: "text"},
	{Name: "OAuthTokenEndpoint", Label: "Token endpoint (empty: Microsoft's global cloud)", Kind: "text"},
}

var sendTLSFields = []formField{
	{Name: "RequireTLS", Label: "Require TLS: never send in clear (a host without STARTTLS is retried later)", Kind: "bool"},
	{Name: "TlsAuthLevel", Label: "Certificate check (TlsAuthLevel)", Kind: "select", Options: []string{"", "EncryptionOnly", "CertificateValidation", "DomainValidation"}},
	{Name: "TlsDomain", Label: "Name the certificate must cover with DomainValidation (TlsDomain; empty: the host name)", Kind: "text"},
	{Name: "IgnoreSTARTTLS", Label: "Never use STARTTLS (IgnoreSTARTTLS)", Kind: "bool"},
	{Name: "TlsCertificateName", Label: "Client certificate presented to the smart host (TlsCertificateName; empty: none)", Kind: "text"},
}

func sendEdit(c *Context) {
	id := c.R.FormValue("id")
	recs, err := c.Query(NewCmd("Get-SendConnector").Id(id))
	if err == nil && len(recs) != 1 {
		err = errors.New("no send connector " + id)
	}
	if err != nil {
		c.Error(http.StatusNotFound, err)
		return
	}
	rec := recs[0]
	get := func(n string) string { v, _ := rec.Get(n); return v }
	here := "/send/edit?id=" + queryEscape(id)
	data := map[string]any{"ID": id}
	if c.Posted() && c.Form("action") == "test" {
		cmd := NewCmd("Test-SmtpConnectivity").Text("SendConnector", id)
		if h := c.Form("testhost"); h != "" {
			cmd.Text("Server", h)
		}
		res := c.Run(cmd)
		data["Test"] = res
		c.results = append(c.results, res)
	} else if c.Posted() {
		set := NewCmd("Set-SendConnector").Id(id)
		setChanges(c, set, sendGeneralFields, rec)
		if v := c.Form("SmartHostAuthMechanism"); v != get("SmartHostAuthMechanism") {
			set.Text("SmartHostAuthMechanism", v)
		}
		user, pw := c.Form("credentialuser"), c.R.PostFormValue("credentialpassword")
		curUser, _, _ := strings.Cut(get("AuthenticationCredential"), " ")
		switch {
		case user == "" && curUser != "":
			set.Raw("AuthenticationCredential", "$null")
		case user != "" && (pw != "" || user != curUser):
			set.Text("AuthenticationCredential", user).Secret("Password", pw)
		}
		setChanges(c, set, sendOAuthFields, rec)
		setChanges(c, set, sendTLSFields, rec)
		// Set-SendConnector reads -Password - before -OAuthClientSecret -
		// (manage.applySendParams), the order they are added here.
		if s := c.R.PostFormValue("oauthsecret"); s != "" {
			set.Secret("OAuthClientSecret", s)
		}
		results := runAll(c, set)
		if name := c.Form("Name"); name != "" && name != id && allOK(results) && len(results) > 0 {
			here = "/send/edit?id=" + queryEscape(name)
		}
		c.Redirect(here, results...)
		return
	}
	user, _, _ := strings.Cut(get("AuthenticationCredential"), " ")
	data["General"] = fill(sendGeneralFields, rec)
	data["OAuth"] = fill(sendOAuthFields, rec)
	data["TLS"] = fill(sendTLSFields, rec)
	data["AuthMechanisms"], data["Auth"] = sendAuthMechanisms, get("SmartHostAuthMechanism")
	data["CredentialUser"] = user
	data["OAuthSecretSet"] = get("OAuthClientSecret") != ""
	hosts := listValue(get("SmartHosts"))
	data["SmartHosts"] = hosts
	if _, ok := data["TestHost"]; !ok {
		if h := c.Form("testhost"); h != "" {
			data["TestHost"] = h
		} else if len(hosts) > 0 {
			data["TestHost"] = hosts[0]
		}
	}
	c.Render(data)
}
