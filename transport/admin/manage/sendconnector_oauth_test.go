package manage

import (
	"os"
	"strings"
	"testing"
)

// OAuth is checked at set time (TLS, client id, tenant, a secret or a
// certificate); the secret comes from standard input with "-", is shown as
// ********, and lives in secrets.yaml only.
func TestSendConnectorOAuthParams(t *testing.T) {
	m := newManager(t)
	base := func(extra ...Param) Params {
		return append(Params{{Name: "Name", Value: "M365"}, {Name: "AddressSpaces", Value: "*"},
			{Name: "SmartHosts", Value: "smtp.office365.com:587"}, {Name: "SmartHostAuthMechanism", Value: "oauth"},
			{Name: "OAuthTenantId", Value: "contoso.onmicrosoft.com"}, {Name: "OAuthClientId", Value: "6731de76"},
			{Name: "OAuthMailbox", Value: "relay@contoso.com"}}, extra...)
	}
	read := func() (string, error) { return "Wq8Q~from.stdin", nil }
	for _, tc := range []struct {
		ps   Params
		want string
	}{
		{base(Param{Name: "OAuthClientSecret", Value: "-"}), "must never go in clear: add -RequireTLS $true"},
		{base(Param{Name: "RequireTLS", Value: "$true"}), "client secret (-OAuthClientSecret -, read from standard input) or a certificate"},
		{base(Param{Name: "RequireTLS", Value: "$true"}, Param{Name: "OAuthClientSecret", Value: "-"}, Param{Name: "OAuthTokenEndpoint", Value: "http://login.example/token"}), "must be https"},
	} {
		if _, err := m.NewSendConnector(tc.ps, read); err == nil || !strings.Contains(err.Error(), tc.want) {
			t.Errorf("New-SendConnector %v: %v, want %q", tc.ps, err, tc.want)
		}
	}
	rec, err := m.NewSendConnector(base(Param{Name: "RequireTLS", Value: "$true"}, Param{Name: "OAuthClientSecret", Value: "-"}), read)
	if err != nil {
		t.Fatal(err)
	}
	for _, p := range rec {
		if p.Name == "OAuthClientSecret" && p.Value != "********" || strings.Contains(p.Value, "Wq8Q") {
			t.Errorf("%s shown as %q", p.Name, p.Value)
		}
	}
	c, err := m.Load()
	if err != nil {
		t.Fatal(err)
	}
	if got := string(c.SendConnectors[0].OAuthClientSecret); got != "Wq8Q~from.stdin" {
		t.Fatalf("secret read back %q", got)
	}
	text, _ := os.ReadFile(c.Path())
	secrets, _ := os.ReadFile(c.SecretsFile())
	if strings.Contains(string(text), "Wq8Q") || !strings.Contains(string(secrets), "Wq8Q~from.stdin") {
		t.Fatalf("the secret is in the config file or missing from secrets.yaml:\n%s\n%s", text, secrets)
	}
}
