package config

import (
	"net/netip"
	"os"
	"slices"
	"strings"
	"testing"
)

func TestClientSettingsDefaults(t *testing.T) {
	c, err := Load(write(t, "Server:\n  Fqdn: mail.contoso.com\n"))
	if err != nil {
		t.Fatal(err)
	}
	if want := DefaultClientSettings(); !slices.Equal(c.ClientSettings.HttpBindings, want.HttpBindings) ||
		c.ClientSettings.ImapPort != 993 || c.ClientSettings.PopPort != 995 || c.ClientSettings.ImapEncryption != EncryptionSSL {
		t.Errorf("defaults not applied: %+v", c.ClientSettings)
	}
	if got := c.ClientDomain(); got != "contoso.com" {
		t.Errorf("ClientDomain = %q, want contoso.com (from the server FQDN)", got)
	}
	c.AcceptedDomains = []AcceptedDomain{{Name: "f", DomainName: "Fabrikam.com", DomainType: "Authoritative", Default: true}}
	if got := c.ClientDomain(); got != "fabrikam.com" {
		t.Errorf("ClientDomain = %q, want the default accepted domain", got)
	}
}

func TestClientSettingsRoundTrip(t *testing.T) {
	path := write(t, `Server:
  Fqdn: mail.contoso.com
ClientSettings:
  httpbindings: ['127.0.0.1:8443', '[::1]:8443']
  ImapServer: imap.contoso.com
  ImapPort: 143
  ImapEncryption: tls
  PopServer: pop.contoso.com
  PopEncryption: None
  DisplayName: Contoso Mail
  DomainName: contoso.com
`)
	c, err := Load(path)
	if err != nil {
		t.Fatal(err)
	}
	cs := c.ClientSettings
	want := []netip.AddrPort{netip.MustParseAddrPort("127.0.0.1:8443"), netip.MustParseAddrPort("[::1]:8443")}
	if !slices.Equal(cs.HttpBindings, want) || cs.ImapServer != "imap.contoso.com" || cs.ImapPort != 143 ||
		cs.ImapEncryption != EncryptionTLS || cs.PopPort != 995 || cs.PopEncryption != EncryptionNone || cs.DisplayName != "Contoso Mail" {
		t.Fatalf("decoded %+v", cs)
	}
	if err := c.Save(); err != nil {
		t.Fatal(err)
	}
	text, _ := os.ReadFile(path)
	for _, s := range []string{"\nClientSettings:\n", "HttpBindings: ['127.0.0.1:8443', '[::1]:8443']", "ImapEncryption: TLS"} {
		if !strings.Contains(string(text), s) {
			t.Errorf("saved file lacks %q:\n%s", s, text)
		}
	}
	again, err := Load(path)
	if err != nil {
		t.Fatal(err)
	}
	if !slices.Equal(again.ClientSettings.HttpBindings, want) || again.ClientSettings.ImapEncryption != EncryptionTLS {
		t.Errorf("after save: %+v", again.ClientSettings)
	}
}

func TestClientSettingsDisabled(t *testing.T) {
	for _, v := range []string{"''", "[]"} {
		c, err := Load(write(t, "Server:\n  Fqdn: mail.contoso.com\nClientSettings:\n  HttpBindings: "+v+"\n"))
		if err != nil {
			t.Fatalf("%s: %v", v, err)
		}
		if len(c.ClientSettings.HttpBindings) != 0 {
			t.Errorf("HttpBindings: %s gave %v, want none", v, c.ClientSettings.HttpBindings)
		}
	}
}

func TestClientSettingsErrors(t *testing.T) {
	for _, tc := range []struct{ yaml, want string }{
		{"ImapEncryption: Starttls", `"Starttls"`},
		{"PopEncryption: ssl3", `"ssl3"`},
		{"ImapPort: 70000", "ImapPort: 70000 is outside"},
		{"PopPort: many", `"many"`},
		{"ImapServer: imap_contoso", `ImapServer: "imap_contoso" is not a host name`},
		{"HttpBindings: localhost:80", `"localhost:80"`},
		{"HttpBindings: '127.0.0.1:0'", `HttpBindings: "127.0.0.1:0" has no port`},
		{"HttpBinding: 127.0.0.1:80", "httpbinding"},
	} {
		_, err := Load(write(t, "Server:\n  Fqdn: mail.contoso.com\nClientSettings:\n  "+tc.yaml+"\n"))
		if err == nil || !strings.Contains(err.Error(), tc.want) || !strings.Contains(err.Error(), "ClientSettings") {
			t.Errorf("%s: error %v, want one naming ClientSettings and %s", tc.yaml, err, tc.want)
		}
	}
}
