package manage

import (
	"os"
	"strings"
	"testing"
)

// Set-SendConnector -TlsCertificateName refuses a certificate the daemon
// could not present: not in the store, or without its private key.
func TestSendConnectorTlsCertificateNameChecked(t *testing.T) {
	m := newManager(t)
	if _, err := m.NewSendConnector(Params{{Name: "Name", Value: "Microsoft 365"}, {Name: "AddressSpaces", Value: "*"},
		{Name: "SmartHosts", Value: "contoso-com.mail.protection.outlook.com"}, {Name: "RequireTLS", Value: "$true"}}, nil); err != nil {
		t.Fatal(err)
	}
	missing := strings.Repeat("AB", 20)
	_, err := m.SetSendConnectors("Microsoft 365", Params{{Name: "TlsCertificateName", Value: missing}}, nil)
	if err == nil || !strings.Contains(err.Error(), "not in the store") || !strings.Contains(err.Error(), "Import-ExchangeCertificate") {
		t.Fatalf("a thumbprint not in the store: %v", err)
	}
	if sc := load(t, m).SendConnectors; sc[len(sc)-1].TlsCertificateName != "" {
		t.Fatal("the refused name was saved")
	}
	rec, err := m.NewCert(Params{{Name: "SubjectName", Value: "CN=mail.contoso.com"}, {Name: "DomainName", Value: "mail.contoso.com"}})
	if err != nil {
		t.Fatal(err)
	}
	thumb, _ := rec.Get("Thumbprint")
	name, _ := rec.Get("TlsCertificateName")
	for _, v := range []string{thumb, name} {
		if _, err := m.SetSendConnectors("Microsoft 365", Params{{Name: "TlsCertificateName", Value: v}, {Name: "TlsAuthLevel", Value: "DomainValidation"},
			{Name: "TlsDomain", Value: "mail.protection.outlook.com"}}, nil); err != nil {
			t.Fatalf("-TlsCertificateName %s: %v", v, err)
		}
	}
	recs, err := m.GetSendConnectors("Microsoft 365")
	if err != nil {
		t.Fatal(err)
	}
	if v, _ := recs[0].Get("TlsCertificateName"); v != name {
		t.Fatalf("TlsCertificateName shown = %q, want %q", v, name)
	}
	// IgnoreSTARTTLS and a client certificate contradict each other.
	if _, err := m.SetSendConnectors("Microsoft 365", Params{{Name: "RequireTLS", Value: "$false"}, {Name: "TlsAuthLevel", Value: "EncryptionOnly"},
		{Name: "IgnoreSTARTTLS", Value: "$true"}}, nil); err == nil || !strings.Contains(err.Error(), "TlsCertificateName") {
		t.Fatalf("IgnoreSTARTTLS with a client certificate: %v", err)
	}
}

// New-ExchangeCertificate without parameters creates the server's own
// certificate (Microsoft's Example 1), which Exchange setup made too.
func TestNewCertDefault(t *testing.T) {
	m := newManager(t)
	rec, err := m.NewCert(nil)
	if err != nil {
		t.Fatal(err)
	}
	for k, want := range map[string]string{"Subject": "CN=mail.contoso.com", "Services": "SMTP, IMAP, POP", "IsSelfSigned": "True",
		"FriendlyName": "Microsoft Exchange", "Status": "Valid", "PrivateKeyExportable": "False"} {
		if v, _ := rec.Get(k); v != want {
			t.Errorf("%s = %q, want %q", k, v, want)
		}
	}
	if v, _ := rec.Get("CertificateDomains"); !strings.Contains(v, "mail.contoso.com") {
		t.Errorf("CertificateDomains = %q", v)
	}
}

// The CSR procedure through the manager: -GenerateRequest writes the
// request file (a Windows path lands in the current folder, with a
// warning), Get shows it PendingRequest, renewal by thumbprint takes the
// old certificate's names, and -DomainName filters.
func TestNewCertRequestAndRenewal(t *testing.T) {
	m := newManager(t)
	var warnings []string
	m.Warn = func(s string) { warnings = append(warnings, s) }
	t.Chdir(t.TempDir())
	rec, err := m.NewCert(Params{{Name: "GenerateRequest", Value: "$true"}, {Name: "RequestFile", Value: `C:\Cert Requests\woodgrovebank.req`},
		{Name: "SubjectName", Value: "c=US,o=Woodgrove Bank,cn=mail.woodgrovebank.com"},
		{Name: "DomainName", Value: "autodiscover.woodgrovebank.com,mail.fabrikam.com,autodiscover.fabrikam.com"}})
	if err != nil {
		t.Fatal(err)
	}
	if v, _ := rec.Get("Status"); v != "PendingRequest" {
		t.Fatalf("Status = %q", v)
	}
	if len(warnings) != 1 || !strings.Contains(warnings[0], "Windows path") || !strings.Contains(warnings[0], "woodgrovebank.req") {
		t.Fatalf("warnings = %q", warnings)
	}
	reqFile, _ := rec.Get("RequestFile")
	if !strings.HasSuffix(reqFile, "/files/woodgrovebank.req") {
		t.Fatalf("RequestFile = %q, want it in the data folder", reqFile)
	}
	if _, err := os.Stat("woodgrovebank.req"); err == nil {
		t.Fatal("the request landed in the current folder")
	}
	data, err := os.ReadFile(reqFile)
	if err != nil || !strings.HasPrefix(string(data), "-----BEGIN CERTIFICATE REQUEST-----") {
		t.Fatalf("request file: %v\n%s", err, data)
	}
	thumb, _ := rec.Get("Thumbprint")
	got, err := m.GetCerts(thumb)
	if err != nil || len(got) != 1 {
		t.Fatalf("GetCerts(%s) = %v, %v", thumb, got, err)
	}
	if v, _ := got[0].Get("Subject"); v != "CN=mail.woodgrovebank.com, O=Woodgrove Bank, C=US" {
		t.Fatalf("Subject = %q", v)
	}
	if _, err := m.NewCert(Params{{Name: "GenerateRequest", Value: "$true"}, {Name: "Services", Value: "SMTP"}, {Name: "SubjectName", Value: "CN=x.contoso.com"}}); err == nil ||
		!strings.Contains(err.Error(), "Enable-ExchangeCertificate") {
		t.Fatalf("-Services with -GenerateRequest: %v", err)
	}

	old, err := m.NewCert(Params{{Name: "SubjectName", Value: "CN=smtp.contoso.com"}, {Name: "DomainName", Value: "smtp.contoso.com,relay.contoso.com"},
		{Name: "Services", Value: "SMTP"}, {Name: "PrivateKeyExportable", Value: "$true"}})
	if err != nil {
		t.Fatal(err)
	}
	oldThumb, _ := old.Get("Thumbprint")
	renewed, err := m.NewCertFrom(Params{{Name: "PrivateKeyExportable", Value: "$true"}}, oldThumb)
	if err != nil {
		t.Fatal(err)
	}
	newThumb, _ := renewed.Get("Thumbprint")
	if v, _ := renewed.Get("CertificateDomains"); newThumb == oldThumb || v != "{smtp.contoso.com, relay.contoso.com}" {
		t.Fatalf("renewed %s: CertificateDomains %q", newThumb, v)
	}
	if v, _ := renewed.Get("Services"); v != "SMTP" {
		t.Fatalf("renewed Services = %q", v)
	}
	req, err := m.NewCertFrom(Params{{Name: "GenerateRequest", Value: "$true"}}, oldThumb)
	if err != nil {
		t.Fatal(err)
	}
	if v, _ := req.Get("Subject"); v != "CN=smtp.contoso.com" {
		t.Fatalf("renewal request Subject = %q", v)
	}

	byName, err := m.GetCertsFor("", "relay.contoso.com")
	if err != nil {
		t.Fatal(err)
	}
	if len(byName) != 2 {
		t.Fatalf("-DomainName relay.contoso.com: %d certificates", len(byName))
	}
	for _, r := range byName {
		if v, _ := r.Get("CertificateDomains"); !strings.Contains(v, "relay.contoso.com") {
			t.Fatalf("-DomainName returned %q", v)
		}
	}
	// Export: the exportable one as PKCS#12, with a password.
	if _, err := m.ExportCert(newThumb, Params{{Name: "BinaryEncoded", Value: "$true"}}, nil); err == nil || !strings.Contains(err.Error(), "-Password") {
		t.Fatalf("export without a password: %v", err)
	}
	ex, err := m.ExportCert(newThumb, Params{{Name: "BinaryEncoded", Value: "$true"}, {Name: "Password", Value: "P@ssw0rd1"}, {Name: "FileName", Value: "smtp.pfx"}}, nil)
	if err != nil {
		t.Fatal(err)
	}
	if fi, err := os.Stat("smtp.pfx"); err != nil || fi.Mode().Perm() != 0o600 {
		t.Fatalf("exported file: %v %v", fi, err)
	}
	if v, _ := ex.Get("FileData"); v == "" {
		t.Fatal("no FileData")
	}
	// Removing a pending request.
	if err := m.RemoveCert(thumb); err != nil {
		t.Fatal(err)
	}
	if _, err := m.GetCerts(thumb); err == nil {
		t.Fatal("removed request still listed")
	}
}

func TestCertServicesWithoutMeaningWarn(t *testing.T) {
	m := newManager(t)
	var warnings []string
	m.Warn = func(s string) { warnings = append(warnings, s) }
	rec, err := m.NewCert(Params{{Name: "SubjectName", Value: "CN=um.contoso.com"}, {Name: "Services", Value: "SMTP,UM,Federation"}})
	if err != nil {
		t.Fatal(err)
	}
	if v, _ := rec.Get("Services"); v != "SMTP" || len(warnings) != 2 || !strings.Contains(warnings[0], "does nothing here") {
		t.Fatalf("Services %q, warnings %q", v, warnings)
	}
}

// Remove-ExchangeCertificate refuses a certificate a receive connector
// serves (here chosen for its Fqdn) or a send connector presents, naming
// the connector and the fix; once the send connector no longer names
// it, a certificate nothing uses is removed.
func TestRemoveCertInUse(t *testing.T) {
	m := newManager(t)
	rec, err := m.NewCert(nil) // CN=mail.contoso.com: the default connectors' Fqdn
	if err != nil {
		t.Fatal(err)
	}
	served, _ := rec.Get("Thumbprint")
	if err := m.RemoveCert(served); err == nil || !strings.Contains(err.Error(), "Default Frontend MAIL") || !strings.Contains(err.Error(), "-TlsCertificateName") {
		t.Fatalf("removing the certificate the receive connectors serve: %v", err)
	}
	rec, err = m.NewCert(Params{{Name: "SubjectName", Value: "CN=client.contoso.com"}, {Name: "Services", Value: "None"}})
	if err != nil {
		t.Fatal(err)
	}
	client, _ := rec.Get("Thumbprint")
	if _, err := m.NewSendConnector(Params{{Name: "Name", Value: "Partner"}, {Name: "AddressSpaces", Value: "fabrikam.com"},
		{Name: "SmartHosts", Value: "mx.fabrikam.com"}, {Name: "RequireTLS", Value: "$true"}, {Name: "TlsCertificateName", Value: client}}, nil); err != nil {
		t.Fatal(err)
	}
	if err := m.RemoveCert(client); err == nil || !strings.Contains(err.Error(), `send connector "Partner"`) {
		t.Fatalf("removing the certificate a send connector presents: %v", err)
	}
	if _, err := m.SetSendConnectors("Partner", Params{{Name: "TlsCertificateName", Value: "$null"}}, nil); err != nil {
		t.Fatal(err)
	}
	if err := m.RemoveCert(client); err != nil {
		t.Fatalf("removing a certificate nothing uses: %v", err)
	}
}
