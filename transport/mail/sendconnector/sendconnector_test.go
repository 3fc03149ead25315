package sendconnector

import (
	"bytes"
	"fmt"
	"log/slog"
	"strings"
	"testing"

	"github.com/transportd/transportd/policies/value"
)

func TestParseAddressSpace(t *testing.T) {
	tests := []struct {
		in      string
		want    AddressSpace
		wantErr string
	}{
		{in: "*", want: AddressSpace{"*", 1}},
		{in: "*;1", want: AddressSpace{"*", 1}},
		{in: "SMTP:*;5", want: AddressSpace{"*", 5}},
		{in: " smtp: Contoso.COM. ; 100 ", want: AddressSpace{"contoso.com", 100}},
		{in: "*.contoso.com;3", want: AddressSpace{"*.contoso.com", 3}},
		{in: "", wantErr: "empty"},
		{in: "X400:c=US;a= ;p=Contoso", wantErr: "only SMTP"},
		{in: "contoso.com;0", wantErr: "from 1 to 100"},
		{in: "contoso.com;101", wantErr: "from 1 to 100"},
		{in: "contoso.com;+5", wantErr: "from 1 to 100"},
		{in: "contoso.com;", wantErr: "from 1 to 100"},
		{in: "con*oso.com", wantErr: "wildcard"},
		{in: "*.*.com", wantErr: "not allowed"},
		{in: "conto so.com", wantErr: "not allowed"},
		{in: "contoso..com", wantErr: "empty label"},
		{in: "bücher.de", wantErr: "xn--"},
	}
	for _, tt := range tests {
		t.Run(tt.in, func(t *testing.T) {
			got, err := ParseAddressSpace(tt.in)
			if tt.wantErr != "" {
				if err == nil || !strings.Contains(err.Error(), tt.wantErr) {
					t.Fatalf("ParseAddressSpace(%q) error = %v, want it to mention %q", tt.in, err, tt.wantErr)
				}
				return
			}
			if err != nil || got != tt.want {
				t.Fatalf("ParseAddressSpace(%q) = %+v, %v; want %+v", tt.in, got, err, tt.want)
			}
		})
	}
}

func TestAddressSpacesText(t *testing.T) {
	l, err := ParseAddressSpaces("*;1, contoso.com;5,SMTP:*.fabrikam.com")
	if err != nil {
		t.Fatal(err)
	}
	b, err := l.MarshalText()
	if err != nil {
		t.Fatal(err)
	}
	if got, want := string(b), "*;1, contoso.com;5, *.fabrikam.com;1"; got != want {
		t.Errorf("MarshalText = %q, want %q", got, want)
	}
	if got, want := l.String(), "SMTP:*;1, SMTP:contoso.com;5, SMTP:*.fabrikam.com;1"; got != want {
		t.Errorf("String = %q, want %q", got, want)
	}
	if _, err := ParseAddressSpaces("*,,contoso.com"); err == nil || !strings.Contains(err.Error(), "entry 2") {
		t.Errorf("empty entry: error = %v, want one naming entry 2", err)
	}
	if l, err := ParseAddressSpaces("  "); err != nil || len(l) != 0 {
		t.Errorf("blank list = %v, %v", l, err)
	}
}

func TestAddressSpaceMatch(t *testing.T) {
	tests := []struct {
		space, domain string
		ok            bool
	}{
		{"*", "contoso.com", true},
		{"contoso.com", "contoso.com", true},
		{"contoso.com", "CONTOSO.com.", true},
		{"contoso.com", "mail.contoso.com", false},
		{"*.contoso.com", "contoso.com", true},
		{"*.contoso.com", "a.b.contoso.com", true},
		{"*.contoso.com", "notcontoso.com", false},
		{"*.contoso.com", "contoso.com.evil.org", false},
		{"*", "", false},
	}
	for _, tt := range tests {
		a, err := ParseAddressSpace(tt.space)
		if err != nil {
			t.Fatal(err)
		}
		if _, ok := a.Match(tt.domain); ok != tt.ok {
			t.Errorf("%q.Match(%q) = %v, want %v", tt.space, tt.domain, ok, tt.ok)
		}
	}
}

func TestParseSmartHost(t *testing.T) {
	tests := []struct {
		in, want string // want is the canonical String
		addr     string // host:port with the default port 25
		wantErr  string
	}{
		{in: "mail.contoso.com", want: "mail.contoso.com", addr: "mail.contoso.com:25"},
		{in: "Mail.Contoso.com.:587", want: "mail.contoso.com:587", addr: "mail.contoso.com:587"},
		{in: "192.0.2.1", want: "[192.0.2.1]", addr: "192.0.2.1:25"},
		{in: "[192.0.2.1]", want: "[192.0.2.1]", addr: "192.0.2.1:25"},
		{in: "[192.0.2.1]:587", want: "[192.0.2.1]:587", addr: "192.0.2.1:587"},
		{in: "[::1]:25", want: "[::1]:25", addr: "[::1]:25"},
		{in: "2001:db8::1", want: "[2001:db8::1]", addr: "[2001:db8::1]:25"},
		{in: "192.0.2.1:2525", want: "[192.0.2.1]:2525", addr: "192.0.2.1:2525"},
		{in: "", wantErr: "empty"},
		{in: "[mail.contoso.com]", wantErr: "not an IP"},
		{in: "[192.0.2.1", wantErr: "missing ']'"},
		{in: "[192.0.2.1]x", wantErr: "only \":port\""},
		{in: "host:0", wantErr: "1 to 65535"},
		{in: "host:65536", wantErr: "1 to 65535"},
		{in: "host:", wantErr: "1 to 65535"},
		{in: "host:+25", wantErr: "1 to 65535"},
		{in: "[fe80::1%eth0]", wantErr: "not an IP"},
		{in: "bad host", wantErr: "not allowed"},
		{in: "2001:db8::1:25x", wantErr: "IPv6"},
		// An IPv4 address with a DNS root dot is no host name (fuzz finding).
		{in: "0.0.0.0.", wantErr: "in brackets"},
		{in: "192.0.2.1.:25", wantErr: "in brackets"},
		{in: "1.2.3", wantErr: "all digits"},
	}
	for _, tt := range tests {
		t.Run(tt.in, func(t *testing.T) {
			h, err := ParseSmartHost(tt.in)
			if tt.wantErr != "" {
				if err == nil || !strings.Contains(err.Error(), tt.wantErr) {
					t.Fatalf("ParseSmartHost(%q) error = %v, want it to mention %q", tt.in, err, tt.wantErr)
				}
				return
			}
			if err != nil {
				t.Fatal(err)
			}
			if h.String() != tt.want || h.Address(25) != tt.addr {
				t.Errorf("ParseSmartHost(%q) = %q (%s), want %q (%s)", tt.in, h, h.Address(25), tt.want, tt.addr)
			}
		})
	}
}

func TestSmartHostsText(t *testing.T) {
	l, err := ParseSmartHosts("relay1.contoso.com, [192.0.2.1]:587 ,relay2.contoso.com:2525")
	if err != nil {
		t.Fatal(err)
	}
	if got, want := l.String(), "relay1.contoso.com, [192.0.2.1]:587, relay2.contoso.com:2525"; got != want {
		t.Errorf("String = %q, want %q", got, want)
	}
	if _, err := ParseSmartHosts("a.example, A.example."); err == nil || !strings.Contains(err.Error(), "twice") {
		t.Errorf("duplicate: error = %v", err)
	}
}

func TestCredentialNeverPrintsPassword(t *testing.T) {
	c := New("Out")
	c.AuthenticationCredential = Credential{UserName: "relay@contoso.com", Password: "S3cret!pw"}
	var logBuf bytes.Buffer
	slog.New(slog.NewTextHandler(&logBuf, nil)).Info("x", "cred", c.AuthenticationCredential, "conn", c)
	for _, s := range []string{
		fmt.Sprint(c), fmt.Sprintf("%+v", c), fmt.Sprintf("%#v", c), fmt.Sprintf("%v", c.AuthenticationCredential),
		c.AuthenticationCredential.Display(), logBuf.String(),
	} {
		if strings.Contains(s, "S3cret") {
			t.Errorf("password leaked in %q", s)
		}
	}
	if got, want := c.AuthenticationCredential.Display(), "relay@contoso.com (password set)"; got != want {
		t.Errorf("Display = %q, want %q", got, want)
	}
	var u Credential
	if err := u.UnmarshalText([]byte("user@contoso.com:pa:ss")); err != nil || u.UserName != "user@contoso.com" || u.Password != "pa:ss" {
		t.Errorf("UnmarshalText = %#v, %v", u, err)
	}
	if err := u.UnmarshalText([]byte("nocolonsecret")); err == nil || strings.Contains(err.Error(), "nocolonsecret") {
		t.Errorf("UnmarshalText error = %v: want an error that does not echo the text", err)
	}
	if err := u.UnmarshalText([]byte("$null")); err != nil || !u.IsZero() {
		t.Errorf("$null: %#v, %v", u, err)
	}
}

func valid() SendConnector {
	c := New("Internet")
	c.AddressSpaces = AddressSpaces{{"*", 1}}
	return c
}

func TestValidate(t *testing.T) {
	smart := func(c *SendConnector) {
		c.DNSRoutingEnabled = false
		c.SmartHosts = SmartHosts{{Host: "relay.contoso.com"}}
	}
	tests := []struct {
		name    string
		change  func(*SendConnector)
		wantErr string // "" = valid; else parameter named in the error
	}{
		{"defaults", func(*SendConnector) {}, ""},
		{"smart host", smart, ""},
		{"no name", func(c *SendConnector) { c.Name = " " }, "-Name"},
		{"long name", func(c *SendConnector) { c.Name = strings.Repeat("x", 65) }, "-Name"},
		{"no address space", func(c *SendConnector) { c.AddressSpaces = nil }, "-AddressSpaces"},
		{"duplicate address space", func(c *SendConnector) { c.AddressSpaces = AddressSpaces{{"*", 1}, {"*", 2}} }, "twice"},
		{"bad cost", func(c *SendConnector) { c.AddressSpaces = AddressSpaces{{"*", 0}} }, "-AddressSpaces"},
		{"smart hosts with DNS", func(c *SendConnector) { c.SmartHosts = SmartHosts{{Host: "relay.contoso.com"}} }, "-SmartHosts"},
		{"neither", func(c *SendConnector) { c.DNSRoutingEnabled = false }, "-DNSRoutingEnabled"},
		{"port", func(c *SendConnector) { c.Port = 0 }, "-Port"},
		{"basic without credential", func(c *SendConnector) { smart(c); c.SmartHostAuthMechanism = "basicauth" }, "-AuthenticationCredential"},
		{"basic ok", func(c *SendConnector) {
			smart(c)
			c.SmartHostAuthMechanism = AuthBasicRequireTLS
			c.AuthenticationCredential = Credential{"u", "p"}
		}, ""},
		// Accepted, as Microsoft's New-SendConnector example 2 does; the
		// credential goes to smart hosts only (AuthenticatesToSmartHosts).
		{"basic with DNS", func(c *SendConnector) {
			c.SmartHostAuthMechanism = AuthBasic
			c.AuthenticationCredential = Credential{"u", "p"}
		}, ""},
		{"basic require TLS ignoring STARTTLS", func(c *SendConnector) {
			smart(c)
			c.SmartHostAuthMechanism = AuthBasicRequireTLS
			c.AuthenticationCredential = Credential{"u", "p"}
			c.IgnoreSTARTTLS = true
		}, "-SmartHostAuthMechanism"},
		{"exchange auth", func(c *SendConnector) { c.SmartHostAuthMechanism = "ExchangeServer" }, "not supported"},
		{"unknown auth", func(c *SendConnector) { c.SmartHostAuthMechanism = "Kerberos" }, "-SmartHostAuthMechanism"},
		{"require and ignore", func(c *SendConnector) { c.RequireTLS, c.IgnoreSTARTTLS = true, true }, "-IgnoreSTARTTLS"},
		{"domain validation without domain on DNS", func(c *SendConnector) {
			c.RequireTLS, c.TlsAuthLevel = true, TLSDomainValidation
		}, "-TlsDomain"},
		{"domain validation with domain", func(c *SendConnector) {
			c.RequireTLS, c.TlsAuthLevel, c.TlsDomain = true, TLSDomainValidation, "*.contoso.com"
		}, ""},
		{"domain validation on smart host", func(c *SendConnector) {
			smart(c)
			c.RequireTLS, c.TlsAuthLevel = true, TLSDomainValidation
		}, ""},
		{"certificate validation without RequireTLS", func(c *SendConnector) { c.TlsAuthLevel = TLSCertificateValidation }, "-RequireTLS"},
		{"unknown level", func(c *SendConnector) { c.TlsAuthLevel = "Strict" }, "-TlsAuthLevel"},
		{"bad fqdn", func(c *SendConnector) { c.Fqdn = "mail server" }, "-Fqdn"},
		{"negative size", func(c *SendConnector) { c.MaxMessageSize = -1 }, "-MaxMessageSize"},
		{"zero inactivity", func(c *SendConnector) { c.ConnectionInactivityTimeout = 0 }, "-ConnectionInactivityTimeout"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			c := valid()
			tt.change(&c)
			err := c.Validate()
			if tt.wantErr == "" {
				if err != nil {
					t.Fatalf("Validate() = %v, want nil", err)
				}
				return
			}
			if err == nil || !strings.Contains(err.Error(), tt.wantErr) || !strings.Contains(err.Error(), "send connector") {
				t.Fatalf("Validate() = %v, want an error naming the connector and %q", err, tt.wantErr)
			}
			if strings.Contains(err.Error(), c.AuthenticationCredential.Password) && c.AuthenticationCredential.Password != "" {
				t.Errorf("error leaks the password: %v", err)
			}
		})
	}
}

func TestValidateSet(t *testing.T) {
	a, b := valid(), valid()
	b.Name = "INTERNET"
	if err := ValidateSet([]SendConnector{a, b}); err == nil || !strings.Contains(err.Error(), "unique") {
		t.Errorf("ValidateSet(duplicate names) = %v", err)
	}
	b.Name = "Other"
	if err := ValidateSet([]SendConnector{a, b}); err != nil {
		t.Errorf("ValidateSet = %v", err)
	}
}

func TestSelect(t *testing.T) {
	mk := func(name, spaces string, size value.ByteSize, enabled bool) SendConnector {
		c := New(name)
		l, err := ParseAddressSpaces(spaces)
		if err != nil {
			t.Fatal(err)
		}
		c.AddressSpaces, c.MaxMessageSize, c.Enabled = l, size, enabled
		return c
	}
	set := []SendConnector{
		mk("Internet", "*;1", 0, true),
		mk("Contoso wildcard", "*.contoso.com;1", 10*value.MB, true),
		mk("Sales exact", "sales.contoso.com;50", 10*value.MB, true),
		mk("Deep wildcard", "*.eu.contoso.com;90", 0, true),
		mk("Fabrikam cheap", "fabrikam.com;1", 0, true),
		mk("Fabrikam dear", "fabrikam.com;5", 0, true),
		mk("B tie", "tie.example;3", 0, true),
		mk("a tie", "tie.example;3", 0, true),
		mk("Disabled", "disabled.example;1", 0, false),
		mk("Small", "small.example;1", 1*value.KB, true),
		mk("Multi", "*.multi.example;9, x.multi.example;2", 0, true),
	}
	tests := []struct {
		domain string
		size   int64
		want   string
	}{
		{"example.org", 100, "Internet"},
		{"contoso.com", 100, "Contoso wildcard"},
		{"mail.contoso.com", 100, "Contoso wildcard"},
		{"sales.contoso.com", 100, "Sales exact"},      // exact beats wildcard despite cost
		{"Sales.Contoso.COM.", 100, "Sales exact"},     // case and trailing dot
		{"paris.eu.contoso.com", 100, "Deep wildcard"}, // longer wildcard beats shorter despite cost
		{"sales.contoso.com", 20 << 20, "Internet"},    // too big for both contoso connectors
		{"fabrikam.com", 100, "Fabrikam cheap"},        // lower cost
		{"tie.example", 100, "a tie"},                  // then name
		{"disabled.example", 100, "Internet"},          // disabled dropped
		{"small.example", 2048, "Internet"},            // too small dropped
		{"small.example", 1024, "Small"},               // exactly at the limit
		{"x.multi.example", 100, "Multi"},
	}
	for _, tt := range tests {
		t.Run(fmt.Sprintf("%s/%d", tt.domain, tt.size), func(t *testing.T) {
			got := Select(set, tt.domain, tt.size)
			if got == nil || got.Name != tt.want {
				t.Fatalf("Select(%q, %d) = %v, want %q", tt.domain, tt.size, got, tt.want)
			}
		})
	}
	if got := Select(set[1:3], "example.org", 1); got != nil {
		t.Errorf("Select with no match = %q, want nil", got.Name)
	}
	if got := Select(nil, "example.org", 1); got != nil {
		t.Errorf("Select(nil) = %v", got)
	}
}

func FuzzParseAddressSpaces(f *testing.F) {
	for _, s := range []string{"*;1, contoso.com;5", "SMTP:*.contoso.com;100", "x400:a", ";", "*.;1", "a,,b", "*.*"} {
		f.Add(s)
	}
	f.Fuzz(func(t *testing.T, s string) {
		l, err := ParseAddressSpaces(s)
		if err != nil {
			return
		}
		b, err := l.MarshalText()
		if err != nil {
			t.Fatalf("MarshalText of parsed %q: %v", s, err)
		}
		l2, err := ParseAddressSpaces(string(b))
		if err != nil || len(l2) != len(l) {
			t.Fatalf("round trip %q -> %q: %v, %v", s, b, l2, err)
		}
		for i := range l {
			if l[i] != l2[i] {
				t.Fatalf("round trip %q -> %q changed entry %d: %+v != %+v", s, b, i, l[i], l2[i])
			}
			if l[i].Cost < MinCost || l[i].Cost > MaxCost {
				t.Fatalf("cost %d out of range from %q", l[i].Cost, s)
			}
			l[i].Match("a.b.example")
		}
	})
}

func FuzzParseSmartHosts(f *testing.F) {
	for _, s := range []string{"relay.contoso.com", "[192.0.2.1]:587", "[::1]:25, a.example:2525", "::1", "[", "a:b:c", "host:"} {
		f.Add(s)
	}
	f.Fuzz(func(t *testing.T, s string) {
		l, err := ParseSmartHosts(s)
		if err != nil {
			return
		}
		b, err := l.MarshalText()
		if err != nil {
			t.Fatalf("MarshalText of parsed %q: %v", s, err)
		}
		l2, err := ParseSmartHosts(string(b))
		if err != nil || len(l2) != len(l) {
			t.Fatalf("round trip %q -> %q: %v, %v", s, b, l2, err)
		}
		for i := range l {
			if l[i] != l2[i] {
				t.Fatalf("round trip %q -> %q changed entry %d: %+v != %+v", s, b, i, l[i], l2[i])
			}
			if l[i].Port < 0 || l[i].Port > 65535 {
				t.Fatalf("port %d from %q", l[i].Port, s)
			}
		}
	})
}
