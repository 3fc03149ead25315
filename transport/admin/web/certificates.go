package web

import (
	"fmt"
	"io"
	"net/http"
	"os"
	"path/filepath"
	"strings"
	"time"

	"github.com/transportd/transportd/transport/admin/manage"
)

// The certificate pages: EAC's servers > certificates. The list shows each
// certificate's expiry (days left, a warning under 30 days) and the
// connectors that use it; a self-signed certificate and a certificate
// request (CSR, downloaded as a file) are made with New-ExchangeCertificate,
// a PFX or PEM file is uploaded into Import-ExchangeCertificate, and
// Enable-ExchangeCertificate and Set-ReceiveConnector -TlsCertificateName
// put a certificate to use.

func certificatePages() []Page {
	return []Page{
		{Path: "/certificates", Title: "Certificates", Nav: "Certificates", Section: "Servers",
			Read: OrgRead, Write: OrgWrite, Template: "cert_list.html", Handler: certList},
		{Path: "/certificates/new", Title: "New certificate", Section: "Servers",
			Read: OrgWrite, Write: OrgWrite, Template: "cert_new.html", Handler: certNew},
		{Path: "/certificates/import", Title: "Import a certificate", Section: "Servers",
			Read: OrgWrite, Write: OrgWrite, Template: "cert_import.html", Handler: certImport},
		{Path: "/certificates/request", Title: "Certificate request", Section: "Servers",
			Read: OrgRead, Write: OrgWrite, Template: "cert_list.html", Handler: certRequestDownload},
	}
}

// certRow is one certificate of the list.
type certRow struct {
	Rec        manage.Record
	Thumbprint string
	Pending    bool
	DaysLeft   int
	Expiry     string
	// Warning says the certificate expired or expires within 30 days.
	Warning string
	UsedBy  []string
}

// certWarnDays is when the list starts warning, as Exchange's health
// checks do.
const certWarnDays = 30

func certList(c *Context) {
	if c.Posted() {
		tp := c.Form("thumbprint")
		switch c.Form("action") {
		case "remove":
			c.Redirect("/certificates", c.Run(NewCmd("Remove-ExchangeCertificate").Text("Thumbprint", tp)))
		case "enable":
			c.Redirect("/certificates", c.Run(NewCmd("Enable-ExchangeCertificate").Text("Thumbprint", tp).Text("Services", "SMTP")))
		case "use":
			name := c.Form("tlsname")
			if name == "" {
				name = tp
			}
			c.Redirect("/certificates", c.Run(NewCmd("Set-ReceiveConnector").Id(c.Form("connector")).Text("TlsCertificateName", name)))
		default:
			c.Redirect("/certificates")
		}
		return
	}
	recs, err := c.Query(NewCmd("Get-ExchangeCertificate"))
	rcs, _ := c.Query(NewCmd("Get-ReceiveConnector"))
	scs, _ := c.Query(NewCmd("Get-SendConnector"))
	now := c.srv.opt.Now()
	var rows []certRow
	for _, r := range recs {
		get := func(n string) string { v, _ := r.Get(n); return v }
		row := certRow{Rec: r, Thumbprint: get("Thumbprint"), Pending: get("Status") == "PendingRequest"}
		if t, perr := time.ParseInLocation("2006-01-02 15:04:05", get("NotAfter"), time.Local); perr == nil {
			left := t.Sub(now)
			row.DaysLeft = int(left.Hours() / 24)
			row.Expiry = t.Format("2006-01-02")
			switch {
			case left < 0:
				row.Warning = fmt.Sprintf("expired %d days ago: renew it (New-ExchangeCertificate piped from it) or import a new one", -row.DaysLeft)
			case row.DaysLeft < certWarnDays:
				row.Warning = fmt.Sprintf("expires in %d days: renew it", row.DaysLeft)
			}
		}
		name := get("TlsCertificateName")
		for _, rc := range rcs {
			if st, _ := rc.Get("CertificateStatus"); row.Thumbprint != "" && strings.Contains(st, "serving "+row.Thumbprint) {
				id, _ := rc.Get("Identity")
				row.UsedBy = append(row.UsedBy, "receive: "+id)
			}
		}
		for _, sc := range scs {
			if v, _ := sc.Get("TlsCertificateName"); v != "" && (strings.EqualFold(v, row.Thumbprint) || v == name) {
				id, _ := sc.Get("Identity")
				row.UsedBy = append(row.UsedBy, "send (client certificate): "+id)
			}
		}
		rows = append(rows, row)
	}
	var connectors []string
	for _, rc := range rcs {
		id, _ := rc.Get("Identity")
		connectors = append(connectors, id)
	}
	c.Render(map[string]any{"Certificates": rows, "Connectors": connectors, "Error": errText(err)})
}

func certNew(c *Context) {
	data := map[string]any{"SubjectName": "", "DomainName": "", "FriendlyName": "", "Kind": "selfsigned"}
	if !c.Posted() {
		c.Render(data)
		return
	}
	data["SubjectName"], data["DomainName"], data["FriendlyName"], data["Kind"] = c.Form("subjectname"), c.Form("domainname"), c.Form("friendlyname"), c.Form("kind")
	cmd := NewCmd("New-ExchangeCertificate")
	if c.Form("kind") == "request" {
		cmd.Switch("GenerateRequest")
	}
	if v := c.Form("subjectname"); v != "" {
		cmd.Text("SubjectName", v)
	}
	if v := formLines(c.Form("domainname")); len(v) > 0 {
		cmd.List("DomainName", v)
	}
	if v := c.Form("friendlyname"); v != "" {
		cmd.Text("FriendlyName", v)
	}
	res := c.Run(cmd)
	if !res.OK {
		c.Show(data, res)
		return
	}
	c.Redirect("/certificates", res)
}

// certImport takes a PFX/PEM upload into Import-ExchangeCertificate
// -FileName: the file is written to a private temporary folder for the
// command and removed after it; the PFX password goes in as -Password -.
func certImport(c *Context) {
	data := map[string]any{}
	if !c.Posted() {
		c.Render(data)
		return
	}
	f, hdr, err := c.R.FormFile("file")
	if err != nil {
		c.Show(data, Result{Line: "Import-ExchangeCertificate", Error: "choose the .pfx, .p12, .pem, .cer or .p7b file to import"})
		return
	}
	defer f.Close()
	dir, err := os.MkdirTemp("", "transportd-import-")
	if err != nil {
		c.Error(http.StatusInternalServerError, fmt.Errorf("a temporary folder for the upload: %w", err))
		return
	}
	defer os.RemoveAll(dir)
	name := filepath.Base(strings.ReplaceAll(hdr.Filename, `\`, "/"))
	if name == "." || name == "/" || name == "" {
		name = "upload"
	}
	path := filepath.Join(dir, name)
	out, err := os.OpenFile(path, os.O_CREATE|os.O_WRONLY|os.O_EXCL, 0o600)
	if err == nil {
		_, err = io.Copy(out, f)
		if cerr := out.Close(); err == nil {
			err = cerr
		}
	}
	if err != nil {
		c.Error(http.StatusInternalServerError, fmt.Errorf("saving the upload: %w", err))
		return
	}
	cmd := NewCmd("Import-ExchangeCertificate").Text("FileName", path)
	if pw := c.R.PostFormValue("password"); pw != "" {
		cmd.Secret("Password", pw)
	}
	if v := c.Form("friendlyname"); v != "" {
		cmd.Text("FriendlyName", v)
	}
	res := c.Run(cmd)
	if !res.OK {
		c.Show(data, res)
		return
	}
	c.Redirect("/certificates", res)
}

// certRequestDownload serves a pending request's PKCS#10 as a .req file,
// as EAC's "save the request" does.
func certRequestDownload(c *Context) {
	tp := c.R.FormValue("thumbprint")
	recs, err := c.Query(NewCmd("Get-ExchangeCertificate").Text("Thumbprint", tp))
	if err != nil || len(recs) != 1 {
		c.Error(http.StatusNotFound, fmt.Errorf("no certificate request %s: %v", tp, err))
		return
	}
	pem, _ := recs[0].Get("CertificateRequest")
	if pem == "" {
		c.Error(http.StatusNotFound, fmt.Errorf("%s is not a pending certificate request", tp))
		return
	}
	subject, _ := recs[0].Get("Subject")
	file := strings.Map(func(r rune) rune {
		if r >= 'a' && r <= 'z' || r >= 'A' && r <= 'Z' || r >= '0' && r <= '9' || r == '.' || r == '-' {
			return r
		}
		return -1
	}, strings.TrimPrefix(strings.SplitN(subject, ",", 2)[0], "CN="))
	if file == "" {
		file = tp
	}
	c.W.Header().Set("Content-Type", "application/pkcs10")
	c.W.Header().Set("Content-Disposition", `attachment; filename="`+file+`.req"`)
	io.WriteString(c.W, pem+"\n")
}
