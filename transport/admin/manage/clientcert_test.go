package manage

import (
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
