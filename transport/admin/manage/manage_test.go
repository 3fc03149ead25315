package manage

import (
	"errors"
	"net/netip"
	"os"
	"path/filepath"
	"reflect"
	"regexp"
	"slices"
	"strings"
	"testing"

	"github.com/transportd/transportd/connector"
	"github.com/transportd/transportd/policies/credentials"
	"github.com/transportd/transportd/policies/value"
	"github.com/transportd/transportd/transport/admin/config"
)

// newManager returns a Manager on a config file in a temp dir, created with
// the defaults for mail.contoso.com.
func newManager(t *testing.T) *Manager {
	t.Helper()
	path := filepath.Join(t.TempDir(), "transportd.yaml")
	c := config.Defaults("mail.contoso.com")
	text := "Server:\n  Fqdn: mail.contoso.com\n"
	if err := os.WriteFile(path, []byte(text), 0o640); err != nil {
		t.Fatal(err)
	}
	// Let config write the full defaults for the fixed host name.
	if _, err := config.Update(path, func(got *config.Config) error {
		got.ReceiveConnectors = c.ReceiveConnectors
		got.AcceptedDomains = c.AcceptedDomains
		return nil
	}); err != nil {
		t.Fatal(err)
	}
	return &Manager{ConfigPath: path}
}

func load(t *testing.T, m *Manager) *config.Config {
	t.Helper()
	c, err := m.Load()
	if err != nil {
		t.Fatal(err)
	}
	return c
}

func TestResolveName(t *testing.T) {
	names := FieldNames(&connector.ReceiveConnector{})
	tests := []struct {
		param string
		want  string
		err   []string
	}{
		{"Fqdn", "Fqdn", nil},
		{"fqdn", "Fqdn", nil},
		{"FQDN", "Fqdn", nil},
		{"MaxMessageSize", "MaxMessageSize", nil},
		{"maxmessages", "MaxMessageSize", nil},
		{"RemoteIP", "RemoteIPRanges", nil},
		{"Max", "", []string{"ambiguous", "-MaxMessageSize", "-MaxHopCount"}},
		{"MaxInboundConnection", "MaxInboundConnection", nil}, // exact beats the longer MaxInboundConnectionPerSource
		{"fqdnn", "", []string{"unknown parameter -fqdnn", "did you mean -Fqdn?"}},
		{"Banenr", "", []string{"did you mean -Banner?"}},
		{"xyzzyplugh", "", []string{"unknown parameter -xyzzyplugh"}},
		{"", "", []string{"unknown parameter"}},
	}
	for _, tt := range tests {
		got, err := ResolveName(names, tt.param)
		if tt.err == nil {
			if err != nil || got != tt.want {
				t.Errorf("ResolveName(%q) = %q, %v; want %q", tt.param, got, err, tt.want)
			}
			continue
		}
		if err == nil {
			t.Errorf("ResolveName(%q) = %q, want an error", tt.param, got)
			continue
		}
		for _, w := range tt.err {
			if !strings.Contains(err.Error(), w) {
				t.Errorf("ResolveName(%q) error %q does not contain %q", tt.param, err, w)
			}
		}
	}
	if _, err := ResolveName(names, "xyzzyplugh"); err != nil && strings.Contains(err.Error(), "did you mean") {
		t.Errorf("far-off name got a suggestion: %v", err)
	}
}

func TestClosest(t *testing.T) {
	cands := []string{"Client Frontend MAIL", "Default Frontend MAIL"}
	for in, want := range map[string]string{"client frontend mail": "Client Frontend MAIL", "Defualt Frontend MAIL": "Default Frontend MAIL", "nomatch": ""} {
		if got := Closest(cands, in); got != want {
			t.Errorf("Closest(%q) = %q, want %q", in, got, want)
		}
	}
}

func TestSetField(t *testing.T) {
	tests := []struct {
		field, text string
		check       func(c *connector.ReceiveConnector) bool
	}{
		{"Enabled", "$false", func(c *connector.ReceiveConnector) bool { return !c.Enabled }},
		{"Enabled", "$TRUE", func(c *connector.ReceiveConnector) bool { return c.Enabled }},
		{"AnonymousRelay", "true", func(c *connector.ReceiveConnector) bool { return c.AnonymousRelay }},
		{"RequireTLS", "1", func(c *connector.ReceiveConnector) bool { return c.RequireTLS }},
		{"MaxRecipientsPerMessage", " 500 ", func(c *connector.ReceiveConnector) bool { return c.MaxRecipientsPerMessage == 500 }},
		{"MaxLogonFailures", "-1", func(c *connector.ReceiveConnector) bool { return c.MaxLogonFailures == -1 }},
		{"MaxMessageSize", "10MB", func(c *connector.ReceiveConnector) bool { return c.MaxMessageSize == 10*value.MB }},
		{"MaxMessageSize", "35 MB (36,700,160 bytes)", func(c *connector.ReceiveConnector) bool { return c.MaxMessageSize == 35*value.MB }},
		{"ConnectionTimeout", "00:20:00", func(c *connector.ReceiveConnector) bool { return c.ConnectionTimeout.String() == "00:20:00" }},
		{"MessageRateLimit", "100", func(c *connector.ReceiveConnector) bool { return c.MessageRateLimit == 100 }},
		{"MessageRateLimit", "unlimited", func(c *connector.ReceiveConnector) bool { return c.MessageRateLimit.IsUnlimited() }},
		{"Banner", "220 hello", func(c *connector.ReceiveConnector) bool { return c.Banner == "220 hello" }},
		{"Banner", "$null", func(c *connector.ReceiveConnector) bool { return c.Banner == "" }},
		{"PermissionGroups", "AnonymousUsers,ExchangeUsers", func(c *connector.ReceiveConnector) bool {
			return c.PermissionGroups.String() == "AnonymousUsers, ExchangeUsers"
		}},
		{"AuthMechanism", "Tls", func(c *connector.ReceiveConnector) bool { return c.AuthMechanism.String() == "Tls" }},
		{"RemoteIPRanges", "192.168.5.10, 192.168.5.0/24", func(c *connector.ReceiveConnector) bool {
			return c.RemoteIPRanges.String() == "192.168.5.10, 192.168.5.0/24"
		}},
		{"Bindings", "0.0.0.0:2525, '[::]:2525'", func(c *connector.ReceiveConnector) bool {
			return slices.Equal(c.Bindings, []netip.AddrPort{netip.MustParseAddrPort("0.0.0.0:2525"), netip.MustParseAddrPort("[::]:2525")})
		}},
		{"Bindings", "192.0.2.1:25", func(c *connector.ReceiveConnector) bool {
			return slices.Equal(c.Bindings, []netip.AddrPort{netip.MustParseAddrPort("192.0.2.1:25")})
		}},
		{"Bindings", "$null", func(c *connector.ReceiveConnector) bool { return len(c.Bindings) == 0 }},
	}
	for _, tt := range tests {
		c := connector.New("Test", connector.UsageClient, "mail.contoso.com")
		if err := SetField(&c, tt.field, tt.text); err != nil {
			t.Errorf("SetField(%s, %q): %v", tt.field, tt.text, err)
			continue
		}
		if !tt.check(&c) {
			t.Errorf("SetField(%s, %q) gave %s", tt.field, tt.text, FormatValue(reflectField(&c, tt.field)))
		}
	}

	mb := config.Mailbox{}
	if err := SetField(&mb, "EmailAddresses", "a@contoso.com, \"b@contoso.com\""); err != nil || !slices.Equal(mb.EmailAddresses, []string{"a@contoso.com", "b@contoso.com"}) {
		t.Errorf("EmailAddresses = %q, %v", mb.EmailAddresses, err)
	}
}

func TestSetFieldErrors(t *testing.T) {
	tests := []struct {
		field, text string
		want        []string
	}{
		{"Enabled", "maybe", []string{"-Enabled", `"maybe"`, "$true"}},
		{"MaxRecipientsPerMessage", "many", []string{"-MaxRecipientsPerMessage", `"many"`, "whole number"}},
		{"MaxMessageSize", "lots", []string{"-MaxMessageSize", `"lots"`}},
		{"Bindings", "0.0.0.0:25, mail:25", []string{"-Bindings", "mail:25"}},
		{"RemoteIPRanges", "10.0.0.300", []string{"-RemoteIPRanges", "10.0.0.300"}},
		{"PermissionGroups", "Everyone", []string{"-PermissionGroups", "Everyone"}},
		{"NoSuchField", "x", []string{"unknown parameter -NoSuchField"}},
	}
	for _, tt := range tests {
		c := connector.New("Test", connector.UsageClient, "mail.contoso.com")
		before := Properties(&c)
		err := SetField(&c, tt.field, tt.text)
		if err == nil {
			t.Errorf("SetField(%s, %q) succeeded", tt.field, tt.text)
			continue
		}
		for _, w := range tt.want {
			if !strings.Contains(err.Error(), w) {
				t.Errorf("SetField(%s, %q) error %q does not contain %q", tt.field, tt.text, err, w)
			}
		}
		if after := Properties(&c); !slices.Equal(before, after) {
			t.Errorf("failed SetField(%s, %q) changed the connector", tt.field, tt.text)
		}
	}
}

func TestMatchIdentity(t *testing.T) {
	tests := []struct {
		pattern, name string
		want          bool
	}{
		{"Client Frontend MAIL", "Client Frontend MAIL", true},
		{"client frontend mail", "Client Frontend MAIL", true},
		{"Client Frontend*", "Client Frontend MAIL", true},
		{"*Frontend*", "Default Frontend MAIL", true},
		{"*", "anything", true},
		{"*", "", true},
		{"Client", "Client Frontend MAIL", false},
		{"*MAIL", "Client Frontend MAIL", true},
		{"*MAIL", "Client Frontend MAIL2", false},
		{"Client ?rontend MAIL", "Client Frontend MAIL", true},
		{"?", "", false},
		{"a*b*c", "aXXbYYc", true},
		{"a*b*c", "aXXbYY", false},
		{"nomatch*", "Client Frontend MAIL", false},
	}
	for _, tt := range tests {
		if got := MatchIdentity(tt.pattern, tt.name); got != tt.want {
			t.Errorf("MatchIdentity(%q, %q) = %v, want %v", tt.pattern, tt.name, got, tt.want)
		}
	}
}

func TestParseBool(t *testing.T) {
	for _, s := range []string{"$true", "True", "yes", "1"} {
		if b, err := ParseBool(s); err != nil || !b {
			t.Errorf("ParseBool(%q) = %v, %v", s, b, err)
		}
	}
	for _, s := range []string{"$false", "FALSE", "no", "0"} {
		if b, err := ParseBool(s); err != nil || b {
			t.Errorf("ParseBool(%q) = %v, %v", s, b, err)
		}
	}
	if _, err := ParseBool("maybe"); err == nil {
		t.Error("ParseBool(maybe) succeeded")
	}
}

func TestSetConnectors(t *testing.T) {
	m := newManager(t)
	n, err := m.SetConnectors("*Frontend*", Params{{Name: "fqdn", Value: "smtp.contoso.com"}, {Name: "MaxMessageSize", Value: "20MB"}})
	if err != nil {
		t.Fatalf("SetConnectors: %v", err)
	}
	if n != 2 {
		t.Errorf("changed %d connectors, want 2", n)
	}
	c := load(t, m)
	for _, rc := range c.ReceiveConnectors {
		if rc.Fqdn != "smtp.contoso.com" || rc.MaxMessageSize != 20*value.MB {
			t.Errorf("%s: Fqdn %q MaxMessageSize %v", rc.Name, rc.Fqdn, rc.MaxMessageSize)
		}
	}

	// A boolean is not a switch: "-RequireTLS" alone (what bash leaves of
	// an unquoted "-RequireTLS $false") is refused, not read as true.
	if _, err := m.SetConnectors("client frontend*", Params{{Name: "RequireTLS", Switch: true}}); err == nil || !strings.Contains(err.Error(), "needs a value") {
		t.Fatalf("bare -RequireTLS: %v", err)
	}
	n, err = m.SetConnectors("client frontend*", Params{{Name: "Enabled", Value: "$false"}, {Name: "RequireTLS", Value: "$true"}})
	if err != nil || n != 1 {
		t.Fatalf("SetConnectors = %d, %v", n, err)
	}
	c = load(t, m)
	if c.ReceiveConnectors[1].Enabled || !c.ReceiveConnectors[1].RequireTLS || !c.ReceiveConnectors[0].Enabled {
		t.Errorf("Enabled/RequireTLS not applied to the match only: %+v", c.ReceiveConnectors)
	}
}

func TestSetConnectorsErrors(t *testing.T) {
	m := newManager(t)
	before, _ := os.ReadFile(m.ConfigPath)
	tests := []struct {
		identity string
		ps       Params
		want     []string
		noMatch  bool
	}{
		{"nomatch*", Params{{Name: "Fqdn", Value: "x.y"}}, []string{"no receive connector matches", `"nomatch*"`, "existing: Default Frontend MAIL, Client Frontend MAIL"}, true},
		{"Client Frontend MIAL", Params{{Name: "Fqdn", Value: "x.y"}}, []string{"no receive connector matches", `did you mean "Client Frontend MAIL"?`}, true},
		{"*", Params{{Name: "fqdnn", Value: "x.y"}}, []string{"did you mean -Fqdn"}, false},
		{"*", Params{{Name: "MaxLogonFailures", Value: "11"}}, []string{"MaxLogonFailures", "11"}, false},
		{"*", Params{{Name: "Name", Value: "Same"}}, []string{`"Same"`, "unique"}, false},
		// the first change is fine, the second invalid: nothing is written
		{"*", Params{{Name: "Fqdn", Value: "ok.contoso.com"}, {Name: "Banner", Value: "hello"}}, []string{"Banner", `"hello"`}, false},
		{"", Params{{Name: "Fqdn", Value: "x.y"}}, []string{"-Identity is required"}, false},
		{"*", nil, []string{"nothing to set"}, false},
	}
	for _, tt := range tests {
		_, err := m.SetConnectors(tt.identity, tt.ps)
		if err == nil {
			t.Errorf("SetConnectors(%q, %v) succeeded", tt.identity, tt.ps)
			continue
		}
		for _, w := range tt.want {
			if !strings.Contains(err.Error(), w) {
				t.Errorf("SetConnectors(%q, %v) error %q does not contain %q", tt.identity, tt.ps, err, w)
			}
		}
		if errors.Is(err, ErrNoMatch) != tt.noMatch {
			t.Errorf("SetConnectors(%q): errors.Is(ErrNoMatch) = %v", tt.identity, !tt.noMatch)
		}
	}
	if after, _ := os.ReadFile(m.ConfigPath); string(after) != string(before) {
		t.Error("a failed SetConnectors changed the config file")
	}
}

func TestGetConnectors(t *testing.T) {
	m := newManager(t)
	all, err := m.GetConnectors("")
	if err != nil || len(all) != 2 {
		t.Fatalf("GetConnectors() = %d, %v", len(all), err)
	}
	recs, err := m.GetConnectors("Client*")
	if err != nil || len(recs) != 1 {
		t.Fatalf("GetConnectors(Client*) = %d, %v", len(recs), err)
	}
	r := recs[0]
	for name, want := range map[string]string{
		"Identity": "Client Frontend MAIL", "Fqdn": "mail.contoso.com", "Enabled": "True",
		"MaxMessageSize": "36 MB (37,748,736 bytes)", "ConnectionTimeout": "00:10:00",
		"AuthMechanism": "Tls, BasicAuth, BasicAuthRequireTLS", "Bindings": "{0.0.0.0:587, [::]:587}",
		"MessageRateLimit": "Unlimited",
	} {
		if got, ok := r.Get(name); !ok || got != want {
			t.Errorf("%s = %q, want %q", name, got, want)
		}
	}
	if st, ok := r.Get("CertificateStatus"); !ok || st == "" {
		t.Errorf("CertificateStatus = %q, %v", st, ok)
	}
	if _, err := m.GetConnectors("nomatch*"); !errors.Is(err, ErrNoMatch) {
		t.Errorf("GetConnectors(nomatch*) error = %v", err)
	}
}

func TestNewConnector(t *testing.T) {
	m := newManager(t)
	rec, err := m.NewConnector(Params{{Name: "Name", Value: "Submission 2525"}, {Name: "usage", Value: "client"}, {Name: "Bindings", Value: "0.0.0.0:2525"}})
	if err != nil {
		t.Fatalf("NewConnector: %v", err)
	}
	if v, _ := rec.Get("Name"); v != "Submission 2525" {
		t.Errorf("record Name = %q", v)
	}
	c := load(t, m)
	rc := c.ReceiveConnectors[len(c.ReceiveConnectors)-1]
	if rc.Name != "Submission 2525" || rc.AuthMechanism.String() != "Tls, BasicAuth, BasicAuthRequireTLS" ||
		rc.PermissionGroups.String() != "ExchangeUsers" || rc.Fqdn != "mail.contoso.com" ||
		!slices.Equal(rc.Bindings, []netip.AddrPort{netip.MustParseAddrPort("0.0.0.0:2525")}) {
		t.Errorf("new connector = %+v", rc)
	}

	// The -Partner switch picks the usage.
	if _, err := m.NewConnector(Params{{Name: "Name", Value: "Partners"}, {Name: "Partner", Switch: true}, {Name: "Bindings", Value: "0.0.0.0:2526"}}); err != nil {
		t.Fatalf("NewConnector -Partner: %v", err)
	}
	if rc := load(t, m).ReceiveConnectors[3]; rc.PermissionGroups.String() != "Partners" {
		t.Errorf("-Partner gave PermissionGroups %v", rc.PermissionGroups)
	}

	for _, tt := range []struct {
		ps   Params
		want string
	}{
		{Params{{Name: "Usage", Value: "Client"}}, "-Name is required"},
		{Params{{Name: "Name", Value: "x"}, {Name: "Usage", Value: "Hub"}}, `"Hub"`},
		{Params{{Name: "Name", Value: "client frontend mail"}}, "already exists"},
		{Params{{Name: "Name", Value: "Dup"}, {Name: "Usage", Value: "Client"}}, `"Client Frontend MAIL" and "Dup"`},
		{Params{{Name: "Name", Value: "x"}, {Name: "Bindings", Value: "0.0.0.0:2527"}, {Name: "Bogus", Value: "1"}}, "unknown parameter -Bogus"},
	} {
		if _, err := m.NewConnector(tt.ps); err == nil || !strings.Contains(err.Error(), tt.want) {
			t.Errorf("NewConnector(%v) error = %v, want %q", tt.ps, err, tt.want)
		}
	}
	if n := len(load(t, m).ReceiveConnectors); n != 4 {
		t.Errorf("%d connectors after failed creations, want 4", n)
	}
}

func TestRemoveConnectors(t *testing.T) {
	m := newManager(t)
	if _, err := m.RemoveConnectors("nomatch"); !errors.Is(err, ErrNoMatch) {
		t.Errorf("RemoveConnectors(nomatch) = %v", err)
	}
	n, err := m.RemoveConnectors("Client*")
	if err != nil || n != 1 {
		t.Fatalf("RemoveConnectors = %d, %v", n, err)
	}
	if c := load(t, m); len(c.ReceiveConnectors) != 1 || c.ReceiveConnectors[0].Name != "Default Frontend MAIL" {
		t.Errorf("left %+v", c.ReceiveConnectors)
	}
}

func TestMailboxes(t *testing.T) {
	m := newManager(t)
	const password = "correct horse battery staple"
	reads := 0
	readPw := func() (string, error) { reads++; return password, nil }
	rec, err := m.NewMailbox(Params{{Name: "Name", Value: "alice"}, {Name: "PrimarySmtpAddress", Value: "alice@contoso.com"}, {Name: "Password", Value: "-"}}, readPw)
	if err != nil {
		t.Fatalf("NewMailbox: %v", err)
	}
	if reads != 1 {
		t.Errorf("password read %d times", reads)
	}
	if v, _ := rec.Get("PasswordSet"); v != "True" {
		t.Errorf("PasswordSet = %q", v)
	}
	c := load(t, m)
	if len(c.Mailboxes) != 1 {
		t.Fatalf("%d mailboxes", len(c.Mailboxes))
	}
	hash := c.Mailboxes[0].PasswordHash
	if !strings.HasPrefix(hash, "$argon2id$") {
		t.Errorf("PasswordHash = %q, want an argon2id hash", hash)
	}
	if ok, err := credentials.Verify(hash, password); !ok || err != nil {
		t.Errorf("the stored hash does not verify the password: %v", err)
	}
	for _, f := range []string{m.ConfigPath, c.MailboxFile()} {
		data, _ := os.ReadFile(f)
		if strings.Contains(string(data), password) {
			t.Errorf("%s holds the password", f)
		}
	}

	// A password given inline, and an address built from the default domain.
	if _, err := m.NewMailbox(Params{{Name: "Name", Value: "Bob"}, {Name: "Password", Value: "hunter2hunter2"}}, nil); err != nil {
		t.Fatalf("NewMailbox bob: %v", err)
	}
	recs, err := m.GetMailboxes("")
	if err != nil || len(recs) != 2 {
		t.Fatalf("GetMailboxes = %d, %v", len(recs), err)
	}
	for _, r := range recs {
		for _, p := range r {
			if strings.Contains(p.Name, "Hash") || strings.Contains(p.Value, "argon2") {
				t.Errorf("GetMailboxes shows %s = %q", p.Name, p.Value)
			}
		}
	}
	if v, _ := recs[1].Get("PrimarySmtpAddress"); v != "bob@contoso.com" {
		t.Errorf("bob's address = %q", v)
	}
	if recs, err := m.GetMailboxes("alice@*"); err != nil || len(recs) != 1 {
		t.Errorf("GetMailboxes(alice@*) = %d, %v", len(recs), err)
	}

	for _, tt := range []struct {
		ps     Params
		readPw func() (string, error)
		want   string
	}{
		{Params{{Name: "Name", Value: "carol"}, {Name: "Password", Value: "-"}}, nil, "no standard input"},
		{Params{{Name: "Name", Value: "carol"}, {Name: "Password", Value: "-"}}, func() (string, error) { return "", errors.New("closed") }, "closed"},
		{Params{{Name: "Name", Value: "carol"}, {Name: "Password", Value: ""}}, nil, "empty"},
		{Params{{Name: "Name", Value: "ALICE"}}, nil, "already exists"},
		{Params{{Name: "Name", Value: "carol"}, {Name: "PrimarySmtpAddress", Value: "ALICE@contoso.com"}}, nil, "both use the address"},
		{Params{{Name: "Name", Value: "carol"}, {Name: "PasswordHash", Value: "$argon2id$x"}}, nil, "unknown parameter -PasswordHash"},
		{Params{{Name: "PrimarySmtpAddress", Value: "c@contoso.com"}}, nil, "-Name is required"},
		// Addresses that could never name a mailbox folder (issue 8 item 8).
		{Params{{Name: "Name", Value: "carol"}, {Name: "PrimarySmtpAddress", Value: "a/b@contoso.com"}}, nil, "'/' is not allowed"},
		{Params{{Name: "Name", Value: "carol"}, {Name: "PrimarySmtpAddress", Value: "x@../contoso.com"}}, nil, "empty label"},
		{Params{{Name: "Name", Value: "carol"}, {Name: "PrimarySmtpAddress", Value: `"../x"@contoso.com`}}, nil, "quoted local parts"},
		{Params{{Name: "Name", Value: "carol"}, {Name: "PrimarySmtpAddress", Value: "../x@contoso.com"}}, nil, "starts with a dot"},
		{Params{{Name: "Name", Value: "carol"}, {Name: "PrimarySmtpAddress", Value: "carol"}}, nil, "missing '@'"},
		{Params{{Name: "Name", Value: "carol"}, {Name: "EmailAddresses", Value: "c@contoso.com,c/d@contoso.com"}}, nil, "-EmailAddresses c/d@contoso.com"},
		{Params{{Name: "Name", Value: "car/ol"}}, nil, "car/ol@contoso.com: '/' is not allowed"}, // the address built from -Name
	} {
		if _, err := m.NewMailbox(tt.ps, tt.readPw); err == nil || !strings.Contains(err.Error(), tt.want) {
			t.Errorf("NewMailbox(%v) error = %v, want %q", tt.ps, err, tt.want)
		}
	}

	if _, err := m.SetMailboxes("alice", Params{{Name: "PrimarySmtpAddress", Value: "al/ice@contoso.com"}}, nil); err == nil || !strings.Contains(err.Error(), "'/' is not allowed") {
		t.Errorf("SetMailboxes -PrimarySmtpAddress al/ice@contoso.com: %v, want a refusal", err)
	}
	if _, err := m.SetMailboxesEach([]string{"alice"}, Params{{Name: "EmailAddresses", Value: "x@contoso..com"}}, nil); err == nil || !strings.Contains(err.Error(), "empty label") {
		t.Errorf("SetMailboxesEach -EmailAddresses x@contoso..com: %v, want a refusal", err)
	}

	// Changing the password replaces the hash; disabling keeps it.
	n, err := m.SetMailboxes("alice", Params{{Name: "Password", Value: "-"}, {Name: "Enabled", Value: "$false"}}, func() (string, error) { return "new password 123", nil })
	if err != nil || n != 1 {
		t.Fatalf("SetMailboxes = %d, %v", n, err)
	}
	c = load(t, m)
	if ok, _ := credentials.Verify(c.Mailboxes[0].PasswordHash, "new password 123"); !ok || c.Mailboxes[0].Enabled {
		t.Errorf("alice after set: %+v", c.Mailboxes[0])
	}
	if c.Mailboxes[1].PasswordHash == "" {
		t.Error("bob lost his password")
	}
	if n, err := m.RemoveMailboxes("bob@contoso.com"); err != nil || n != 1 {
		t.Errorf("RemoveMailboxes = %d, %v", n, err)
	}
	if _, err := m.GetMailboxes("bob"); !errors.Is(err, ErrNoMatch) {
		t.Errorf("GetMailboxes(bob) after removal = %v", err)
	}
}

func TestAcceptedDomains(t *testing.T) {
	m := newManager(t)
	if _, err := m.NewAcceptedDomain(Params{{Name: "DomainName", Value: "fabrikam.com"}, {Name: "DomainType", Value: "InternalRelay"}, {Name: "Default", Value: "$true"}}); err != nil {
		t.Fatalf("NewAcceptedDomain: %v", err)
	}
	c := load(t, m)
	if len(c.AcceptedDomains) != 2 || c.AcceptedDomains[0].Default || !c.AcceptedDomains[1].Default || c.AcceptedDomains[1].Name != "fabrikam.com" {
		t.Errorf("AcceptedDomains = %+v", c.AcceptedDomains)
	}
	if _, err := m.NewAcceptedDomain(Params{{Name: "Name", Value: "x"}}); err == nil {
		t.Error("NewAcceptedDomain without -DomainName succeeded")
	}
	if n, err := m.SetAcceptedDomains("contoso.com", Params{{Name: "Default", Value: "$true"}}); err != nil || n != 1 {
		t.Fatalf("SetAcceptedDomains = %d, %v", n, err)
	}
	c = load(t, m)
	if !c.AcceptedDomains[0].Default || c.AcceptedDomains[1].Default {
		t.Errorf("Default not moved: %+v", c.AcceptedDomains)
	}
	recs, err := m.GetAcceptedDomains("fab*")
	if err != nil || len(recs) != 1 {
		t.Errorf("GetAcceptedDomains(fab*) = %d, %v", len(recs), err)
	}
	if n, err := m.RemoveAcceptedDomains("fabrikam.com"); err != nil || n != 1 {
		t.Errorf("RemoveAcceptedDomains = %d, %v", n, err)
	}
}

var thumbprintRE = regexp.MustCompile(`^[0-9A-F]{40}$`)

func TestCerts(t *testing.T) {
	m := newManager(t)
	rec, err := m.NewCert(Params{{Name: "subjectname", Value: "CN=mail.contoso.com"}, {Name: "domain", Value: "mail.contoso.com, smtp.contoso.com"}})
	if err != nil {
		t.Fatalf("NewCert: %v", err)
	}
	thumb, _ := rec.Get("Thumbprint")
	if !thumbprintRE.MatchString(thumb) {
		t.Errorf("Thumbprint = %q, want 40 hex digits", thumb)
	}
	if v, _ := rec.Get("CertificateDomains"); !strings.Contains(v, "smtp.contoso.com") {
		t.Errorf("CertificateDomains = %q", v)
	}
	recs, err := m.GetCerts("")
	if err != nil {
		t.Fatalf("GetCerts: %v", err)
	}
	found := false
	for _, r := range recs {
		if v, _ := r.Get("Thumbprint"); v == thumb {
			found = true
		}
	}
	if !found {
		t.Errorf("GetCerts does not list %s", thumb)
	}
	one, err := m.GetCerts(strings.ToLower(thumb))
	if err != nil || len(one) != 1 {
		t.Errorf("GetCerts(%s) = %d, %v", thumb, len(one), err)
	}
	for _, tt := range []struct {
		ps   Params
		want string
	}{
		{Params{{Name: "SubjectNmae", Value: "CN=x"}}, "did you mean -SubjectName"},
		{Params{{Name: "SubjectName", Value: "CN=x"}, {Name: "SubjectName", Value: "CN=y"}}, "given twice"},
	} {
		if _, err := m.NewCert(tt.ps); err == nil || !strings.Contains(err.Error(), tt.want) {
			t.Errorf("NewCert(%v) error = %v, want %q", tt.ps, err, tt.want)
		}
	}
	// A connector naming the new certificate serves it.
	if _, err := m.SetConnectors("Client*", Params{{Name: "TlsCertificateName", Value: thumb}}); err != nil {
		t.Fatal(err)
	}
	recs, err = m.GetConnectors("Client*")
	if err != nil {
		t.Fatal(err)
	}
	if st, _ := recs[0].Get("CertificateStatus"); !strings.Contains(st, thumb) || strings.HasPrefix(st, "WARNING") {
		t.Errorf("CertificateStatus = %q", st)
	}
	// Issue 14: a certificate a connector serves is not removed under it.
	if err := m.RemoveCert(thumb); err == nil || !strings.Contains(err.Error(), "is in use: receive connector") {
		t.Fatalf("RemoveCert of the certificate a connector serves: %v", err)
	}
	// Both connectors given another certificate, it is free.
	other, err := m.NewCert(Params{{Name: "SubjectName", Value: "CN=mail.contoso.com"}})
	if err != nil {
		t.Fatal(err)
	}
	otherThumb, _ := other.Get("Thumbprint")
	if _, err := m.SetConnectors("*", Params{{Name: "TlsCertificateName", Value: otherThumb}}); err != nil {
		t.Fatal(err)
	}
	if err := m.RemoveCert(thumb); err != nil {
		t.Fatalf("RemoveCert: %v", err)
	}
	if _, err := m.GetCerts(thumb); err == nil {
		t.Error("GetCerts finds a removed certificate")
	}
}

func TestParamsTake(t *testing.T) {
	ps := Params{{Name: "identity", Value: "x"}, {Name: "Force", Switch: true}, {Name: "Fqdn", Value: "a.b"}}
	if v, ok := ps.Take("Identity"); !ok || v != "x" {
		t.Errorf("Take(Identity) = %q, %v", v, ok)
	}
	if v, ok := ps.Take("force"); !ok || v != "$true" {
		t.Errorf("Take(force) = %q, %v", v, ok)
	}
	if _, ok := ps.Take("Identity"); ok {
		t.Error("Take(Identity) twice")
	}
	if len(ps) != 1 || ps[0].Name != "Fqdn" {
		t.Errorf("left %v", ps)
	}
}

func reflectField(ptr any, name string) reflect.Value {
	return reflect.ValueOf(ptr).Elem().FieldByName(name)
}

func TestFormatValue(t *testing.T) {
	c := connector.New("Relay", connector.UsageCustom, "mail.contoso.com")
	if err := c.PermissionGroups.UnmarshalText([]byte("None")); err != nil {
		t.Fatal(err)
	}
	if err := c.RemoteIPRanges.UnmarshalText([]byte("192.168.5.10, 192.168.5.0/24")); err != nil {
		t.Fatal(err)
	}
	c.MaxInboundConnection = 0
	r := Properties(&c)
	for name, want := range map[string]string{
		"PermissionGroups":     "None",
		"AuthMechanism":        "Tls",
		"RemoteIPRanges":       "{192.168.5.10, 192.168.5.0/24}",
		"Bindings":             "{0.0.0.0:25, [::]:25}",
		"Enabled":              "True",
		"AnonymousRelay":       "False",
		"MaxHeaderSize":        "256 KB (262,144 bytes)",
		"TarpitInterval":       "00:00:05",
		"MaxInboundConnection": "Unlimited",
		"MaxHopCount":          "30",
	} {
		if got, _ := r.Get(name); got != want {
			t.Errorf("%s = %q, want %q", name, got, want)
		}
	}
	mb := config.Mailbox{Name: "a", EmailAddresses: []string{"x@y.z", "w@y.z"}, PasswordHash: "$argon2id$secret"}
	rec := mailboxRecord(&mb)
	if got, _ := rec.Get("EmailAddresses"); got != "{x@y.z, w@y.z}" {
		t.Errorf("EmailAddresses = %q", got)
	}
	if _, ok := rec.Get("PasswordHash"); ok {
		t.Error("mailbox record shows PasswordHash")
	}
}

// TestAllowLegacyTLSClientsNeedsForceWhenOpenToAll: legacy TLS is refused at
// set time on a connector whose RemoteIPRanges include the whole Internet,
// unless -Force; once forced, other changes need no -Force again; it shows
// in `connector get` (issue 11 item 4).
func TestAllowLegacyTLSClientsNeedsForceWhenOpenToAll(t *testing.T) {
	m := newManager(t)
	on := Param{Name: "AllowLegacyTLSClients", Value: "$true"}
	for _, set := range []func(Params) error{
		func(ps Params) error { _, err := m.SetConnectors("Default Frontend*", ps); return err },
		func(ps Params) error { _, err := m.SetConnectorsEach([]string{"Default Frontend*"}, ps); return err },
	} {
		err := set(Params{on})
		if err == nil || !strings.Contains(err.Error(), "-Force") || !strings.Contains(err.Error(), "-RemoteIPRanges") || !strings.Contains(err.Error(), "Default Frontend MAIL") {
			t.Errorf("AllowLegacyTLSClients on Default Frontend: %v, want a refusal naming -RemoteIPRanges and -Force", err)
		}
		if err := set(Params{on, {Name: "Force", Value: "$false"}}); err == nil {
			t.Error("-Force:$false forced the change")
		}
	}
	if rc := load(t, m).ReceiveConnectors[0]; rc.AllowLegacyTLSClients {
		t.Fatal("a refused set changed the connector")
	}
	if _, err := m.NewConnector(Params{{Name: "Name", Value: "Open Legacy"}, {Name: "Bindings", Value: "0.0.0.0:2525"}, on}); err == nil || !strings.Contains(err.Error(), "-Force") {
		t.Errorf("new connector open to all with legacy TLS: %v, want a refusal", err)
	}

	// Scoped to the devices: no -Force needed; widening the scope later is refused.
	if _, err := m.NewConnector(Params{{Name: "Name", Value: "Printers"}, {Name: "Bindings", Value: "0.0.0.0:2525"},
		{Name: "RemoteIPRanges", Value: "192.168.5.0/24"}, on}); err != nil {
		t.Fatalf("scoped legacy connector: %v", err)
	}
	if _, err := m.SetConnectors("Printers", Params{{Name: "RemoteIPRanges", Value: "0.0.0.0/0"}}); err == nil || !strings.Contains(err.Error(), "-Force") {
		t.Errorf("widening a legacy connector to all: %v, want a refusal", err)
	}
	recs, err := m.GetConnectors("Printers")
	if err != nil || len(recs) != 1 {
		t.Fatalf("GetConnectors: %v", err)
	}
	if v, ok := recs[0].Get("AllowLegacyTLSClients"); !ok || v != "True" {
		t.Errorf("connector get shows AllowLegacyTLSClients = %q, %v", v, ok)
	}

	// -Force (a bare switch, as typed) does it; later changes need no -Force.
	if _, err := m.SetConnectors("Default Frontend*", Params{on, {Name: "Force", Switch: true}}); err != nil {
		t.Fatalf("with -Force: %v", err)
	}
	if _, err := m.SetConnectors("Default Frontend*", Params{{Name: "Comment", Value: "old scanners"}}); err != nil {
		t.Errorf("changing a forced connector: %v", err)
	}
	if rc := load(t, m).ReceiveConnectors[0]; !rc.AllowLegacyTLSClients || rc.Comment != "old scanners" {
		t.Errorf("Default Frontend after -Force: %+v", rc)
	}
	// Legacy TLS without STARTTLS means nothing and is refused.
	if _, err := m.SetConnectors("Printers", Params{{Name: "AuthMechanism", Value: "None"}}); err == nil || !strings.Contains(err.Error(), "AllowLegacyTLSClients") {
		t.Errorf("legacy TLS without Tls: %v, want a refusal", err)
	}
}
