package config

import (
	"errors"
	"net/netip"
	"os"
	"path/filepath"
	"reflect"
	"slices"
	"strings"
	"testing"
	"time"

	"github.com/transportd/transportd/connector"
	"github.com/transportd/transportd/policies/iprange"
	"github.com/transportd/transportd/policies/value"
	"github.com/transportd/transportd/transport/mail/sendconnector"
)

// write puts a config file into a fresh temp dir and returns its path.
func write(t *testing.T, text string) string {
	t.Helper()
	path := filepath.Join(t.TempDir(), "transportd.yaml")
	if err := os.WriteFile(path, []byte(text), 0o640); err != nil {
		t.Fatal(err)
	}
	return path
}

func TestLoadCreatesDefaults(t *testing.T) {
	dir := t.TempDir()
	path := filepath.Join(dir, "sub", "transportd.yaml")
	c, err := Load(path)
	if err != nil {
		t.Fatalf("Load: %v", err)
	}
	if c.Path() != path {
		t.Errorf("Path = %q, want %q", c.Path(), path)
	}
	if len(c.ReceiveConnectors) != 2 {
		t.Fatalf("%d connectors, want the 2 defaults", len(c.ReceiveConnectors))
	}
	host := connector.ShortHostName(connector.HostFQDN())
	for i, want := range []string{"Default Frontend " + host, "Client Frontend " + host} {
		if c.ReceiveConnectors[i].Name != want {
			t.Errorf("connector %d = %q, want %q", i, c.ReceiveConnectors[i].Name, want)
		}
	}
	st, err := os.Stat(filepath.Join(dir, "sub", "data"))
	if err != nil || !st.IsDir() {
		t.Fatalf("data folder beside the config: %v", err)
	}
	if c.DataDir() != filepath.Join(dir, "sub", "data") {
		t.Errorf("DataDir = %q", c.DataDir())
	}
	text, err := os.ReadFile(path)
	if err != nil {
		t.Fatalf("config file not written: %v", err)
	}
	for _, key := range []string{"\nReceiveConnectors:\n", "\nServer:\n", "    MaxMessageSize: 36MB\n", "    ConnectionTimeout: \"00:10:00\"", "MessageRateLimit: Unlimited", "    Bindings: ['0.0.0.0:587', '[::]:587']", "AuthMechanism: Tls, BasicAuth, BasicAuthRequireTLS"} {
		if !strings.Contains(string(text), key) {
			t.Errorf("config file lacks %q:\n%s", key, text)
		}
	}
	if strings.Contains(string(text), "Mailboxes") {
		t.Errorf("config file mentions mailboxes:\n%s", text)
	}
	// A second Load reads the same file and leaves it alone.
	c2, err := Load(path)
	if err != nil {
		t.Fatalf("second Load: %v", err)
	}
	if len(c2.ReceiveConnectors) != 2 {
		t.Errorf("second Load: %d connectors", len(c2.ReceiveConnectors))
	}
	again, _ := os.ReadFile(path)
	if string(again) != string(text) {
		t.Error("second Load rewrote the file")
	}
}

func TestSaveLoadRoundTrip(t *testing.T) {
	path := filepath.Join(t.TempDir(), "transportd.yaml")
	c := Defaults("mail.contoso.com")
	c.path = path
	rc := &c.ReceiveConnectors[1]
	rc.MaxMessageSize = 10 * value.MB
	rc.ConnectionTimeout = value.TimeSpan(time.Hour + 30*time.Second)
	rc.MessageRateLimit = 30
	rc.Banner = "220 Contoso: mail only"
	rc.Comment = "#not a comment, 'quoted' \"too\""
	rc.Enabled = false
	rc.RemoteIPRanges, _ = iprange.ParseList("192.168.1.0/24, 10.0.0.1-10.0.0.9, 2001:db8::/32")
	c.AcceptedDomains = append(c.AcceptedDomains, AcceptedDomain{Name: "fabrikam", DomainName: "*.fabrikam.com", DomainType: "InternalRelay"})
	c.Mailboxes = []Mailbox{{Name: "alice", PrimarySmtpAddress: "alice@contoso.com", EmailAddresses: []string{"a@contoso.com"}, Enabled: true, PasswordHash: "$argon2id$v=19$m=65536,t=3,p=4$c2FsdA$aGFzaA"}}
	if err := c.Save(); err != nil {
		t.Fatalf("Save: %v", err)
	}
	got, err := Load(path)
	if err != nil {
		t.Fatalf("Load: %v", err)
	}
	if got.Server != c.Server {
		t.Errorf("Server = %+v, want %+v", got.Server, c.Server)
	}
	if len(got.ReceiveConnectors) != len(c.ReceiveConnectors) {
		t.Fatalf("%d connectors, want %d", len(got.ReceiveConnectors), len(c.ReceiveConnectors))
	}
	for i := range c.ReceiveConnectors {
		w, g := c.ReceiveConnectors[i], got.ReceiveConnectors[i]
		// Compare as the shell shows them: set types print canonically.
		if w.PermissionGroups.String() != g.PermissionGroups.String() || w.AuthMechanism.String() != g.AuthMechanism.String() ||
			w.RemoteIPRanges.String() != g.RemoteIPRanges.String() || !slices.Equal(w.Bindings, g.Bindings) {
			t.Errorf("connector %d sets differ:\n got %+v\nwant %+v", i, g, w)
		}
		w.PermissionGroups, g.PermissionGroups = nil, nil
		w.AuthMechanism, g.AuthMechanism = nil, nil
		w.RemoteIPRanges, g.RemoteIPRanges = nil, nil
		w.Bindings, g.Bindings = nil, nil
		if !equalConnector(w, g) {
			t.Errorf("connector %d differs:\n got %+v\nwant %+v", i, g, w)
		}
	}
	if !slices.Equal(got.AcceptedDomains, c.AcceptedDomains) {
		t.Errorf("AcceptedDomains = %+v, want %+v", got.AcceptedDomains, c.AcceptedDomains)
	}
	if len(got.Mailboxes) != 1 || got.Mailboxes[0].PasswordHash != c.Mailboxes[0].PasswordHash ||
		!slices.Equal(got.Mailboxes[0].EmailAddresses, c.Mailboxes[0].EmailAddresses) {
		t.Errorf("Mailboxes = %+v", got.Mailboxes)
	}
}

func equalConnector(a, b connector.ReceiveConnector) bool {
	return reflect.DeepEqual(a, b)
}

func TestHandWrittenConnectorGetsDefaults(t *testing.T) {
	path := write(t, `Server:
  Fqdn: mail.contoso.com
ReceiveConnectors:
  - Name: Relay
    Bindings: [0.0.0.0:25]
    RemoteIPRanges: 192.168.5.10, 192.168.5.0/24
    PermissionGroups: AnonymousUsers
  - Name: Locked
    Bindings: 127.0.0.1:2525
    RemoteIPRanges: [127.0.0.1]
`)
	c, err := Load(path)
	if err != nil {
		t.Fatalf("Load: %v", err)
	}
	if c.Server.Name != "MAIL" {
		t.Errorf("Server.Name = %q, want MAIL", c.Server.Name)
	}
	if len(c.ReceiveConnectors) != 2 {
		t.Fatalf("%d connectors", len(c.ReceiveConnectors))
	}
	rc := c.ReceiveConnectors[0]
	want := connector.New("Relay", connector.UsageCustom, "mail.contoso.com")
	if !slices.Equal(rc.Bindings, []netip.AddrPort{netip.MustParseAddrPort("0.0.0.0:25")}) {
		t.Errorf("Bindings = %v", rc.Bindings)
	}
	if rc.RemoteIPRanges.String() != "192.168.5.10, 192.168.5.0/24" {
		t.Errorf("RemoteIPRanges = %v", rc.RemoteIPRanges)
	}
	if rc.PermissionGroups.String() != "AnonymousUsers" {
		t.Errorf("PermissionGroups = %v", rc.PermissionGroups)
	}
	if !rc.Enabled || rc.Fqdn != "mail.contoso.com" || rc.MaxMessageSize != want.MaxMessageSize ||
		rc.ConnectionTimeout != want.ConnectionTimeout || rc.MaxRecipientsPerMessage != 200 ||
		rc.MaxInboundConnectionPerSource != 20 || rc.AuthMechanism.String() != "Tls" ||
		!rc.MessageRateLimit.IsUnlimited() || rc.TransportRole != "FrontendTransport" {
		t.Errorf("defaults not applied: %+v", rc)
	}
	locked := c.ReceiveConnectors[1]
	if locked.PermissionGroups.String() != "None" {
		t.Errorf("a connector without PermissionGroups has %v, want None", locked.PermissionGroups)
	}
	if !slices.Equal(locked.Bindings, []netip.AddrPort{netip.MustParseAddrPort("127.0.0.1:2525")}) {
		t.Errorf("Bindings from a string = %v", locked.Bindings)
	}
}

func TestLoadErrors(t *testing.T) {
	tests := []struct {
		name string
		text string
		want []string
	}{
		{"unknown server key", "Server:\n  Fqnd: mail.contoso.com\n", []string{"fqnd"}},
		{"unknown top-level key", "Server:\n  Fqdn: mail.contoso.com\nConnectors: []\n", []string{"connectors"}},
		{"unknown connector key", "Server:\n  Fqdn: mail.contoso.com\nReceiveConnectors:\n  - Name: R\n    Bindings: [0.0.0.0:25]\n    MaxMsgSize: 10MB\n", []string{"maxmsgsize", "ReceiveConnectors[0]"}},
		{"bad size", "Server:\n  Fqdn: mail.contoso.com\nReceiveConnectors:\n  - Name: R\n    Bindings: [0.0.0.0:25]\n    MaxMessageSize: lots\n", []string{"MaxMessageSize", `"lots"`}},
		{"bad time span", "Server:\n  Fqdn: mail.contoso.com\nReceiveConnectors:\n  - Name: R\n    Bindings: [0.0.0.0:25]\n    ConnectionTimeout: soon\n", []string{"ConnectionTimeout", `"soon"`}},
		{"bad binding", "Server:\n  Fqdn: mail.contoso.com\nReceiveConnectors:\n  - Name: R\n    Bindings: [mail:25]\n", []string{"Bindings", "mail:25"}},
		{"bad count", "Server:\n  Fqdn: mail.contoso.com\nReceiveConnectors:\n  - Name: R\n    Bindings: [0.0.0.0:25]\n    MaxInboundConnection: many\n", []string{"MaxInboundConnection", `"many"`}},
		{"bad bool", "Server:\n  Fqdn: mail.contoso.com\nReceiveConnectors:\n  - Name: R\n    Bindings: [0.0.0.0:25]\n    Enabled: perhaps\n", []string{"Enabled", "perhaps"}},
		{"bad int", "Server:\n  Fqdn: mail.contoso.com\nReceiveConnectors:\n  - Name: R\n    Bindings: [0.0.0.0:25]\n    MaxRecipientsPerMessage: ten\n", []string{"MaxRecipientsPerMessage", `"ten"`}},
		{"bad range", "Server:\n  Fqdn: mail.contoso.com\nReceiveConnectors:\n  - Name: R\n    Bindings: [0.0.0.0:25]\n    RemoteIPRanges: 10.0.0.1, 10.0.0.300\n", []string{"RemoteIPRanges", "10.0.0.300"}},
		{"bad group", "Server:\n  Fqdn: mail.contoso.com\nReceiveConnectors:\n  - Name: R\n    Bindings: [0.0.0.0:25]\n    PermissionGroups: Everyone\n", []string{"PermissionGroups", `"Everyone"`}},
		{"invalid value", "Server:\n  Fqdn: mail.contoso.com\nReceiveConnectors:\n  - Name: R\n    Bindings: [0.0.0.0:25]\n    MaxLogonFailures: 11\n", []string{`"R"`, "MaxLogonFailures", "11"}},
		{"bad server fqdn", "Server:\n  Fqdn: mail_1.contoso.com\n", []string{"Server.Fqdn", "mail_1.contoso.com"}},
		{"bad postmaster address", "Server:\n  Fqdn: mail.contoso.com\nTransport:\n  ExternalPostmasterAddress: postmaster@contoso..com\n", []string{"ExternalPostmasterAddress", "postmaster@contoso..com", "empty label"}},
		{"connectors not a list", "Server:\n  Fqdn: mail.contoso.com\nReceiveConnectors: 5\n", []string{"ReceiveConnectors", "list"}},
		{"not yaml", "Server: [\n", []string{"transportd.yaml"}},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			path := write(t, tt.text)
			_, err := Load(path)
			if err == nil {
				t.Fatal("Load succeeded, want an error")
			}
			for _, w := range tt.want {
				if !strings.Contains(err.Error(), w) {
					t.Errorf("error %q does not contain %q", err, w)
				}
			}
			if got, _ := os.ReadFile(path); string(got) != tt.text {
				t.Errorf("Load rewrote an invalid file:\n%s", got)
			}
		})
	}
}

func TestKeysCaseInsensitive(t *testing.T) {
	path := write(t, `server:
  fqdn: mail.contoso.com
  NAME: ex01
receiveconnectors:
  - NAME: Relay
    bindings: [0.0.0.0:25]
    permissiongroups: anonymoususers
    maxmessagesize: 10 MB (10,485,760 bytes)
    protocollogginglevel: verbose
    enabled: $false
    maxrecipientspermessage: "100"
accepteddomains:
  - domainname: contoso.com
    domaintype: Authoritative
`)
	c, err := Load(path)
	if err != nil {
		t.Fatalf("Load: %v", err)
	}
	if c.Server.Fqdn != "mail.contoso.com" || c.Server.Name != "ex01" {
		t.Errorf("Server = %+v", c.Server)
	}
	rc := c.ReceiveConnectors[0]
	if rc.Name != "Relay" || rc.MaxMessageSize != 10*value.MB || rc.Enabled || rc.MaxRecipientsPerMessage != 100 || rc.ProtocolLoggingLevel != "Verbose" || rc.PermissionGroups.String() != "AnonymousUsers" {
		t.Errorf("connector = %+v", rc)
	}
	if len(c.AcceptedDomains) != 1 || c.AcceptedDomains[0].Name != "contoso.com" {
		t.Errorf("AcceptedDomains = %+v", c.AcceptedDomains)
	}
}

func TestMailboxesFile(t *testing.T) {
	path := filepath.Join(t.TempDir(), "transportd.yaml")
	hash := "$argon2id$v=19$m=65536,t=3,p=4$c2FsdHNhbHQ$aGFzaGhhc2g"
	_, err := Update(path, func(c *Config) error {
		c.Mailboxes = append(c.Mailboxes, Mailbox{Name: "alice", PrimarySmtpAddress: "alice@contoso.com", Enabled: true, PasswordHash: hash})
		return nil
	})
	if err != nil {
		t.Fatalf("Update: %v", err)
	}
	mbFile := filepath.Join(filepath.Dir(path), "data", "mailboxes.yaml")
	st, err := os.Stat(mbFile)
	if err != nil {
		t.Fatalf("mailbox file: %v", err)
	}
	if st.Mode().Perm() != 0o600 {
		t.Errorf("mailbox file mode = %v, want 0600", st.Mode().Perm())
	}
	data, _ := os.ReadFile(mbFile)
	if !strings.Contains(string(data), "alice@contoso.com") || !strings.Contains(string(data), hash) {
		t.Errorf("mailbox file lacks the mailbox:\n%s", data)
	}
	cfg, _ := os.ReadFile(path)
	if strings.Contains(string(cfg), "alice") || strings.Contains(string(cfg), "argon2id") {
		t.Errorf("config file holds the mailbox:\n%s", cfg)
	}
	c, err := Load(path)
	if err != nil {
		t.Fatalf("Load: %v", err)
	}
	if m := c.FindMailbox("ALICE@contoso.com"); m == nil || m.PasswordHash != hash {
		t.Errorf("FindMailbox = %+v", m)
	}
	if c.FindMailbox("bob@contoso.com") != nil {
		t.Error("FindMailbox found bob")
	}
}

func TestMailboxFileUnknownKey(t *testing.T) {
	path := filepath.Join(t.TempDir(), "transportd.yaml")
	c, err := Load(path)
	if err != nil {
		t.Fatal(err)
	}
	if err := os.WriteFile(c.MailboxFile(), []byte("Mailboxes:\n  - Name: a\n    PrimarySmtpAddress: a@b.c\n    Pasword: x\n"), 0o600); err != nil {
		t.Fatal(err)
	}
	if _, err := Load(path); err == nil || !strings.Contains(err.Error(), "Pasword") {
		t.Errorf("Load error = %v, want one naming Pasword", err)
	}
}

func TestUpdateRollsBack(t *testing.T) {
	path := filepath.Join(t.TempDir(), "transportd.yaml")
	if _, err := Load(path); err != nil {
		t.Fatal(err)
	}
	before, _ := os.ReadFile(path)
	tests := []struct {
		name   string
		change func(*Config) error
		want   string
	}{
		{"validation error", func(c *Config) error {
			c.ReceiveConnectors[0].MaxLogonFailures = 11
			return nil
		}, "MaxLogonFailures"},
		{"duplicate connectors", func(c *Config) error {
			c.ReceiveConnectors = append(c.ReceiveConnectors, c.ReceiveConnectors[0])
			c.ReceiveConnectors[2].Name = "Copy"
			return nil
		}, `"Copy"`},
		{"change error", func(c *Config) error {
			c.Server.Fqdn = "changed.contoso.com"
			return errors.New("refused by change")
		}, "refused by change"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			_, err := Update(path, tt.change)
			if err == nil || !strings.Contains(err.Error(), tt.want) {
				t.Fatalf("Update error = %v, want one containing %q", err, tt.want)
			}
			after, _ := os.ReadFile(path)
			if string(after) != string(before) {
				t.Errorf("file changed after a failed Update")
			}
		})
	}
	c, err := Update(path, func(c *Config) error {
		c.ReceiveConnectors[1].Fqdn = "smtp.contoso.com"
		return nil
	})
	if err != nil {
		t.Fatalf("Update: %v", err)
	}
	again, err := Load(path)
	if err != nil || again.ReceiveConnectors[1].Fqdn != "smtp.contoso.com" || c.ReceiveConnectors[1].Fqdn != "smtp.contoso.com" {
		t.Errorf("Update not saved: %v", err)
	}
}

func TestDataPath(t *testing.T) {
	dir := t.TempDir()
	tests := []struct {
		dataPath string
		want     string
	}{
		{"", filepath.Join(dir, "data")},
		{"spool", filepath.Join(dir, "spool")},
		{filepath.Join(dir, "abs"), filepath.Join(dir, "abs")},
	}
	for _, tt := range tests {
		c := &Config{Server: Server{DataPath: tt.dataPath}, path: filepath.Join(dir, "transportd.yaml")}
		if got := c.DataDir(); got != tt.want {
			t.Errorf("DataDir(%q) = %q, want %q", tt.dataPath, got, tt.want)
		}
		if got := c.MailboxFile(); got != filepath.Join(tt.want, "mailboxes.yaml") {
			t.Errorf("MailboxFile = %q", got)
		}
	}
}

func TestDefaultsAcceptedDomain(t *testing.T) {
	c := Defaults("mail.contoso.com")
	if len(c.AcceptedDomains) != 1 || c.AcceptedDomains[0].DomainName != "contoso.com" || !c.AcceptedDomains[0].Default {
		t.Errorf("AcceptedDomains = %+v", c.AcceptedDomains)
	}
	if c.Server.Name != "MAIL" {
		t.Errorf("Server.Name = %q", c.Server.Name)
	}
	if c := Defaults("ex01"); len(c.AcceptedDomains) != 0 {
		t.Errorf("a host without a domain got AcceptedDomains %+v", c.AcceptedDomains)
	}
}

func TestValidateMailboxes(t *testing.T) {
	c := Defaults("mail.contoso.com")
	c.Mailboxes = []Mailbox{
		{Name: "alice", PrimarySmtpAddress: "alice@contoso.com"},
		{Name: "bob", PrimarySmtpAddress: "bob@contoso.com", EmailAddresses: []string{"ALICE@contoso.com"}},
		{Name: "carol", PrimarySmtpAddress: "carol"},
	}
	err := c.Validate()
	if err == nil {
		t.Fatal("Validate succeeded")
	}
	for _, w := range []string{`"alice" and "bob"`, `"carol"`, `"carol"`} {
		if !strings.Contains(err.Error(), w) {
			t.Errorf("error %q does not contain %q", err, w)
		}
	}
}

func TestDefaultPathEnv(t *testing.T) {
	t.Setenv(EnvConfig, "/tmp/somewhere/transportd.yaml")
	if got := DefaultPath(); got != "/tmp/somewhere/transportd.yaml" {
		t.Errorf("DefaultPath = %q", got)
	}
	t.Setenv(EnvConfig, "")
	if got := DefaultPath(); !strings.HasSuffix(got, "transportd.yaml") {
		t.Errorf("DefaultPath = %q", got)
	}
}

// Send connector passwords live in data/secrets.yaml (0600), never in the
// config file, and come back on load.
func TestSendConnectorPasswordKeptOutOfConfig(t *testing.T) {
	path := filepath.Join(t.TempDir(), "transportd.yaml")
	if _, err := Load(path); err != nil {
		t.Fatal(err)
	}
	_, err := Update(path, func(c *Config) error {
		sc := sendconnector.New("Out")
		var err error
		if sc.AddressSpaces, err = sendconnector.ParseAddressSpaces("*"); err != nil {
			return err
		}
		if err := sc.SmartHosts.UnmarshalText([]byte("[192.0.2.1]:587")); err != nil {
			return err
		}
		sc.DNSRoutingEnabled = false
		sc.SmartHostAuthMechanism = "BasicAuth"
		sc.AuthenticationCredential = sendconnector.Credential{UserName: "relay@contoso.com", Password: "s3cr3t-pw"}
		c.SendConnectors = append(c.SendConnectors, sc)
		return nil
	})
	if err != nil {
		t.Fatal(err)
	}
	cfgText, _ := os.ReadFile(path)
	if strings.Contains(string(cfgText), "s3cr3t-pw") || !strings.Contains(string(cfgText), "relay@contoso.com") {
		t.Fatalf("config file:\n%s", cfgText)
	}
	c, err := Load(path)
	if err != nil {
		t.Fatal(err)
	}
	st, err := os.Stat(c.SecretsFile())
	if err != nil || st.Mode().Perm() != 0o600 {
		t.Fatalf("secrets file: %v %v", st, err)
	}
	if got := c.SendConnectors[0].AuthenticationCredential.Password; got != "s3cr3t-pw" {
		t.Fatalf("password after load = %q", got)
	}
}

// Server.Fqdn, set once in the file, is the Fqdn of every receive
// connector that does not give its own, also after a Save; a connector
// with its own keeps it.
func TestConnectorsFollowServerFqdn(t *testing.T) {
	path := filepath.Join(t.TempDir(), "transportd.yaml")
	c, err := Load(path)
	if err != nil {
		t.Fatal(err)
	}
	c.Server.Fqdn = "vm.contoso.com"
	c.ReceiveConnectors = connector.Defaults("vm.contoso.com")
	c.ReceiveConnectors[1].Fqdn = "smtp.contoso.com" // Client Frontend: its own name
	if err := c.Save(); err != nil {
		t.Fatal(err)
	}
	text, err := os.ReadFile(path)
	if err != nil {
		t.Fatal(err)
	}
	edited := strings.Replace(string(text), "Fqdn: vm.contoso.com", "Fqdn: mail.contoso.com", 1)
	if strings.Count(edited, "mail.contoso.com") != 1 {
		t.Fatalf("Server.Fqdn is not written once:\n%s", text)
	}
	if err := os.WriteFile(path, []byte(edited), 0o600); err != nil {
		t.Fatal(err)
	}
	c, err = Load(path)
	if err != nil {
		t.Fatal(err)
	}
	if got := c.ReceiveConnectors[0].Fqdn; got != "mail.contoso.com" {
		t.Fatalf("Default Frontend Fqdn = %q, want the server's new mail.contoso.com", got)
	}
	if got := c.ReceiveConnectors[1].Fqdn; got != "smtp.contoso.com" {
		t.Fatalf("Client Frontend Fqdn = %q, want its own smtp.contoso.com", got)
	}
}
