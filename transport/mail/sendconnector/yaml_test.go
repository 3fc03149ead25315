package sendconnector

import (
	"strings"
	"testing"

	yaml "go.yaml.in/yaml/v3"
)

// TestYAMLRoundTrip checks the config file form: lists as Exchange text,
// the credential as a UserName/Password mapping.
func TestYAMLRoundTrip(t *testing.T) {
	c := New("Smart host")
	c.AddressSpaces = AddressSpaces{{"*", 1}, {"contoso.com", 5}}
	c.DNSRoutingEnabled = false
	c.SmartHosts = SmartHosts{{Host: "relay.contoso.com", Port: 587}}
	c.SmartHostAuthMechanism = AuthBasicRequireTLS
	c.AuthenticationCredential = Credential{UserName: "relay", Password: "pw"}
	out, err := yaml.Marshal(c)
	if err != nil {
		t.Fatal(err)
	}
	for _, want := range []string{"AddressSpaces: '*;1, contoso.com;5'", "SmartHosts: relay.contoso.com:587", "UserName: relay", "Password: pw", "MaxMessageSize: 35MB", "ConnectionInactivityTimeout: \"00:10:00\""} {
		if !strings.Contains(string(out), want) {
			t.Errorf("YAML lacks %q:\n%s", want, out)
		}
	}
	var back SendConnector
	if err := yaml.Unmarshal(out, &back); err != nil {
		t.Fatal(err)
	}
	if back.AuthenticationCredential != c.AuthenticationCredential || back.SmartHosts.String() != c.SmartHosts.String() ||
		back.AddressSpaces.String() != c.AddressSpaces.String() || back.MaxMessageSize != c.MaxMessageSize {
		t.Errorf("round trip changed the connector:\n%+v\n%+v", c, back)
	}
	if err := back.Validate(); err != nil {
		t.Error(err)
	}
}
