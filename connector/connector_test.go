package connector

import (
	"net/netip"
	"slices"
	"strings"
	"testing"
	"time"

	"github.com/transportd/transportd/certs"
	"github.com/transportd/transportd/policies/iprange"
	"github.com/transportd/transportd/policies/permissions"
	"github.com/transportd/transportd/policies/value"
)

const testFQDN = "mail.contoso.com"

// mk returns a valid Custom connector open to anonymous users, bound to the
// comma-separated bindings and serving the comma-separated ranges.
func mk(t *testing.T, name, bindings, ranges string) ReceiveConnector {
	t.Helper()
	c := New(name, UsageCustom, testFQDN)
	c.PermissionGroups = permissions.Groups{permissions.GroupAnonymousUsers}
	c.Bindings = nil
	for _, b := range strings.Split(bindings, ",") {
		ap, err := netip.ParseAddrPort(strings.TrimSpace(b))
		if err != nil {
			t.Fatalf("binding %q: %v", b, err)
		}
		c.Bindings = append(c.Bindings, ap)
	}
	if ranges != "" {
		l, err := iprange.ParseList(ranges)
		if err != nil {
			t.Fatalf("ranges %q: %v", ranges, err)
		}
		c.RemoteIPRanges = l
	}
	if err := c.Validate(); err != nil {
		t.Fatalf("test connector %q is invalid: %v", name, err)
	}
	return c
}

func bindings(s ...string) []netip.AddrPort {
	var out []netip.AddrPort
	for _, b := range s {
		out = append(out, netip.MustParseAddrPort(b))
	}
	return out
}

func TestNewPerUsage(t *testing.T) {
	tests := []struct {
		usage    Usage
		bindings []netip.AddrPort
		auth     string
		groups   string
	}{
		{UsageClient, bindings("0.0.0.0:587", "[::]:587"), "Tls, BasicAuth, BasicAuthRequireTLS", "ExchangeUsers"},
		{UsageInternal, bindings("0.0.0.0:25", "[::]:25"), "Tls", "ExchangeServers, ExchangeLegacyServers"},
		{UsageInternet, bindings("0.0.0.0:25", "[::]:25"), "Tls", "AnonymousUsers"},
		{UsagePartner, bindings("0.0.0.0:25", "[::]:25"), "Tls", "Partners"},
		{UsageCustom, bindings("0.0.0.0:25", "[::]:25"), "Tls", "None"},
	}
	for _, tt := range tests {
		t.Run(string(tt.usage), func(t *testing.T) {
			c := New("Test", tt.usage, testFQDN)
			if !slices.Equal(c.Bindings, tt.bindings) {
				t.Errorf("Bindings = %v, want %v", c.Bindings, tt.bindings)
			}
			if got := c.AuthMechanism.String(); got != tt.auth {
				t.Errorf("AuthMechanism = %q, want %q", got, tt.auth)
			}
			if got := c.PermissionGroups.String(); got != tt.groups {
				t.Errorf("PermissionGroups = %q, want %q", got, tt.groups)
			}
			if tt.usage == UsageCustom && !c.PermissionGroups.Has(permissions.GroupNone) {
				t.Errorf("Custom connector PermissionGroups %v should accept nobody", c.PermissionGroups)
			}
			if !c.Enabled || c.Name != "Test" || c.Fqdn != testFQDN {
				t.Errorf("Enabled/Name/Fqdn = %v/%q/%q", c.Enabled, c.Name, c.Fqdn)
			}
			if got := c.RemoteIPRanges.String(); got != iprange.List(iprange.All()).String() {
				t.Errorf("RemoteIPRanges = %s, want all addresses", got)
			}
			if c.MaxMessageSize != 36*value.MB || c.MaxHeaderSize != 256*value.KB ||
				c.MaxRecipientsPerMessage != 200 || c.MaxInboundConnection != 5000 ||
				c.MaxInboundConnectionPerSource != 20 || c.MaxLogonFailures != 3 || c.MaxHopCount != 30 {
				t.Errorf("limits differ from Exchange's defaults: %+v", c)
			}
			if c.ConnectionTimeout.String() != "00:10:00" || c.ConnectionInactivityTimeout.String() != "00:05:00" ||
				c.TarpitInterval.String() != "00:00:05" {
				t.Errorf("timeouts = %v/%v/%v", c.ConnectionTimeout, c.ConnectionInactivityTimeout, c.TarpitInterval)
			}
			if !c.MessageRateLimit.IsUnlimited() {
				t.Errorf("MessageRateLimit = %v, want Unlimited", c.MessageRateLimit)
			}
			if err := c.Validate(); err != nil {
				t.Errorf("New(%s) is not valid: %v", tt.usage, err)
			}
		})
	}
}

func TestParseUsage(t *testing.T) {
	for in, want := range map[string]Usage{"client": UsageClient, " Internet ": UsageInternet, "CUSTOM": UsageCustom, "partner": UsagePartner, "Internal": UsageInternal} {
		if got, err := ParseUsage(in); err != nil || got != want {
			t.Errorf("ParseUsage(%q) = %q, %v; want %q", in, got, err, want)
		}
	}
	if _, err := ParseUsage("Hub"); err == nil || !strings.Contains(err.Error(), `"Hub"`) {
		t.Errorf("ParseUsage(Hub) error = %v, want one naming the value", err)
	}
}

func TestShortHostName(t *testing.T) {
	for in, want := range map[string]string{"mail.contoso.com": "MAIL", "ex01": "EX01", "": ""} {
		if got := ShortHostName(in); got != want {
			t.Errorf("ShortHostName(%q) = %q, want %q", in, got, want)
		}
	}
}

func TestDefaults(t *testing.T) {
	cs := Defaults(testFQDN)
	if len(cs) != 2 {
		t.Fatalf("Defaults returned %d connectors, want 2", len(cs))
	}
	def, client := cs[0], cs[1]
	if def.Name != "Default Frontend MAIL" || client.Name != "Client Frontend MAIL" {
		t.Errorf("names = %q, %q", def.Name, client.Name)
	}
	if !slices.Equal(def.Bindings, bindings("0.0.0.0:25", "[::]:25")) {
		t.Errorf("Default Frontend Bindings = %v", def.Bindings)
	}
	if !slices.Equal(client.Bindings, bindings("0.0.0.0:587", "[::]:587")) {
		t.Errorf("Client Frontend Bindings = %v", client.Bindings)
	}
	if def.AuthMechanism.Has("BasicAuth") {
		t.Errorf("Default Frontend offers AUTH on port 25: %v", def.AuthMechanism)
	}
	if !def.PermissionGroups.Has(permissions.GroupAnonymousUsers) || def.PermissionGroups.Has(permissions.GroupExchangeUsers) {
		t.Errorf("Default Frontend PermissionGroups = %v", def.PermissionGroups)
	}
	if def.ProtocolLoggingLevel != "Verbose" {
		t.Errorf("Default Frontend ProtocolLoggingLevel = %q", def.ProtocolLoggingLevel)
	}
	if client.AuthMechanism.String() != "Tls, BasicAuth, BasicAuthRequireTLS" || client.PermissionGroups.String() != "ExchangeUsers" {
		t.Errorf("Client Frontend = %v / %v", client.AuthMechanism, client.PermissionGroups)
	}
	for _, c := range cs {
		if !c.MessageRateLimit.IsUnlimited() || c.MessageRateLimit.String() != "Unlimited" {
			t.Errorf("%s MessageRateLimit = %v, want Unlimited", c.Name, c.MessageRateLimit)
		}
		if c.Fqdn != testFQDN {
			t.Errorf("%s Fqdn = %q", c.Name, c.Fqdn)
		}
	}
	if err := ValidateSet(cs); err != nil {
		t.Errorf("the default connectors are not a valid set: %v", err)
	}
}

func TestValidateErrors(t *testing.T) {
	tests := []struct {
		name   string
		change func(c *ReceiveConnector)
		want   []string // substrings of the error, besides the connector name
	}{
		{"banner without 220", func(c *ReceiveConnector) { c.Banner = "hello there" }, []string{"Banner", `"hello there"`}},
		{"banner two lines", func(c *ReceiveConnector) { c.Banner = "220 a\r\n250 b" }, []string{"Banner", "single line"}},
		{"message size too small", func(c *ReceiveConnector) { c.MaxMessageSize = 10 * value.KB }, []string{"MaxMessageSize", "10 KB"}},
		{"message size too big", func(c *ReceiveConnector) { c.MaxMessageSize = 3 * value.GB }, []string{"MaxMessageSize", "3 GB"}},
		{"header size", func(c *ReceiveConnector) { c.MaxHeaderSize = 10 }, []string{"MaxHeaderSize", "10 B"}},
		{"timeout equal to inactivity", func(c *ReceiveConnector) {
			c.ConnectionTimeout = value.TimeSpan(5 * time.Minute)
		}, []string{"ConnectionTimeout", "00:05:00"}},
		{"timeout below inactivity", func(c *ReceiveConnector) {
			c.ConnectionTimeout = value.TimeSpan(time.Minute)
		}, []string{"ConnectionTimeout", "00:01:00", "ConnectionInactivityTimeout"}},
		{"inactivity zero", func(c *ReceiveConnector) { c.ConnectionInactivityTimeout = 0 }, []string{"ConnectionInactivityTimeout", "00:00:00"}},
		{"logon failures 11", func(c *ReceiveConnector) { c.MaxLogonFailures = 11 }, []string{"MaxLogonFailures", "11"}},
		{"logon failures -1", func(c *ReceiveConnector) { c.MaxLogonFailures = -1 }, []string{"MaxLogonFailures", "-1"}},
		{"protocol logging", func(c *ReceiveConnector) { c.ProtocolLoggingLevel = "Loud" }, []string{"ProtocolLoggingLevel", `"Loud"`}},
		{"rate source", func(c *ReceiveConnector) { c.MessageRateSource = "Sender" }, []string{"MessageRateSource", `"Sender"`}},
		{"recipients 0", func(c *ReceiveConnector) { c.MaxRecipientsPerMessage = 0 }, []string{"MaxRecipientsPerMessage", "0"}},
		{"hop count", func(c *ReceiveConnector) { c.MaxHopCount = 501 }, []string{"MaxHopCount", "501"}},
		{"tarpit", func(c *ReceiveConnector) { c.TarpitInterval = value.TimeSpan(11 * time.Minute) }, []string{"TarpitInterval", "00:11:00"}},
		{"auth tarpit", func(c *ReceiveConnector) { c.AuthTarpitInterval = value.TimeSpan(-time.Second) }, []string{"AuthTarpitInterval"}},
		{"no bindings", func(c *ReceiveConnector) { c.Bindings = nil }, []string{"Bindings", "empty"}},
		{"port 0", func(c *ReceiveConnector) { c.Bindings = bindings("0.0.0.0:0") }, []string{"Bindings", "0.0.0.0:0"}},
		{"no ranges", func(c *ReceiveConnector) { c.RemoteIPRanges = nil }, []string{"RemoteIPRanges", "empty"}},
		{"range twice", func(c *ReceiveConnector) {
			c.RemoteIPRanges = iprange.List{iprange.FromPrefix(netip.MustParsePrefix("10.0.0.0/8")), iprange.FromPrefix(netip.MustParsePrefix("10.0.0.0/8"))}
		}, []string{"RemoteIPRanges", "10.0.0.0", "twice"}},
		{"bad fqdn", func(c *ReceiveConnector) { c.Fqdn = "mail_server.contoso.com" }, []string{"Fqdn", "mail_server.contoso.com"}},
		{"empty fqdn", func(c *ReceiveConnector) { c.Fqdn = "" }, []string{"Fqdn", "empty"}},
		{"bad mechanism", func(c *ReceiveConnector) { c.AuthMechanism = permissions.Mechanisms{"Kerberos"} }, []string{"AuthMechanism", "Kerberos"}},
		{"bad group", func(c *ReceiveConnector) { c.PermissionGroups = permissions.Groups{"Everyone"} }, []string{"AuthMechanism", "Everyone"}},
		{"long name", func(c *ReceiveConnector) { c.Name = strings.Repeat("x", 65) }, []string{"Name", "65 characters"}},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			c := New("Relay", UsageClient, testFQDN)
			tt.change(&c)
			err := c.Validate()
			if err == nil {
				t.Fatal("Validate succeeded, want an error")
			}
			for _, w := range append([]string{`"` + c.Name + `"`}, tt.want...) {
				if !strings.Contains(err.Error(), w) {
					t.Errorf("error %q does not contain %q", err, w)
				}
			}
		})
	}
	c := New("", UsageClient, testFQDN)
	if err := c.Validate(); err == nil || !strings.Contains(err.Error(), "Name is empty") {
		t.Errorf("empty name: error = %v", err)
	}
}

func TestValidateBannerOK(t *testing.T) {
	c := New("Relay", UsageClient, testFQDN)
	c.Banner = "220 Contoso mail"
	if err := c.Validate(); err != nil {
		t.Errorf("Validate: %v", err)
	}
}

func TestValidateFQDN(t *testing.T) {
	for _, ok := range []string{"mail.contoso.com", "MAIL", "a-b.c1.example", "x"} {
		if err := ValidateFQDN(ok); err != nil {
			t.Errorf("ValidateFQDN(%q): %v", ok, err)
		}
	}
	for _, bad := range []string{"", "mail..contoso.com", ".contoso.com", "-mail.contoso.com", "mail-.contoso.com", "mail contoso", "mail.contoso.com.", strings.Repeat("a", 64) + ".com", strings.Repeat("a.", 127) + "ab"} {
		if err := ValidateFQDN(bad); err == nil {
			t.Errorf("ValidateFQDN(%q) succeeded", bad)
		}
	}
}

func TestNormalize(t *testing.T) {
	c := New("Relay", UsageClient, testFQDN)
	c.ProtocolLoggingLevel, c.MessageRateSource, c.Fqdn = "verbose", "ipaddress", " Mail.Contoso.COM "
	c.Normalize()
	if c.ProtocolLoggingLevel != "Verbose" || c.MessageRateSource != "IPAddress" || c.Fqdn != "mail.contoso.com" {
		t.Errorf("Normalize gave %q, %q, %q", c.ProtocolLoggingLevel, c.MessageRateSource, c.Fqdn)
	}
	if err := c.Validate(); err != nil {
		t.Errorf("Validate after Normalize: %v", err)
	}
}

func TestValidateSet(t *testing.T) {
	tests := []struct {
		name string
		set  func(t *testing.T) []ReceiveConnector
		want []string // empty: valid
	}{
		{"defaults", func(t *testing.T) []ReceiveConnector { return Defaults(testFQDN) }, nil},
		{"duplicate names", func(t *testing.T) []ReceiveConnector {
			return []ReceiveConnector{mk(t, "Relay", "0.0.0.0:25", ""), mk(t, "relay", "0.0.0.0:2525", "")}
		}, []string{`"Relay"`, `"relay"`, "unique"}},
		{"same binding same ranges", func(t *testing.T) []ReceiveConnector {
			return []ReceiveConnector{
				mk(t, "Relay A", "0.0.0.0:25", "192.168.5.10, 192.168.5.0/24"),
				mk(t, "Relay B", "0.0.0.0:25", "192.168.5.0/24, 192.168.5.10"),
			}
		}, []string{`"Relay A"`, `"Relay B"`, "0.0.0.0:25"}},
		{"same binding same ranges written differently", func(t *testing.T) []ReceiveConnector {
			return []ReceiveConnector{
				mk(t, "Relay A", "0.0.0.0:25", "192.168.5.0/24"),
				mk(t, "Relay B", "0.0.0.0:25", "192.168.5.0-192.168.5.255"),
			}
		}, []string{`"Relay A"`, `"Relay B"`}},
		{"one range in common", func(t *testing.T) []ReceiveConnector {
			// 192.168.5.20 would match 192.168.5.0/24 on both: no winner.
			return []ReceiveConnector{
				mk(t, "Relay A", "0.0.0.0:25", "192.168.5.10, 192.168.5.0/24"),
				mk(t, "Relay B", "0.0.0.0:25", "192.168.5.0/24"),
			}
		}, []string{`"Relay A"`, `"Relay B"`, "192.168.5.0"}},
		{"partial overlap", func(t *testing.T) []ReceiveConnector {
			return []ReceiveConnector{
				mk(t, "Relay A", "0.0.0.0:25", "192.168.1.0-192.168.1.100"),
				mk(t, "Relay B", "0.0.0.0:25", "192.168.1.50-192.168.1.200"),
			}
		}, []string{`"Relay A"`, `"Relay B"`, "overlap"}},
		{"nested ranges", func(t *testing.T) []ReceiveConnector {
			return []ReceiveConnector{
				mk(t, "All", "0.0.0.0:25", ""),
				mk(t, "LAN", "0.0.0.0:25", "192.168.1.0-192.168.1.255"),
				mk(t, "Printer", "0.0.0.0:25", "192.168.1.75"),
			}
		}, nil},
		{"same ranges, different ports", func(t *testing.T) []ReceiveConnector {
			return []ReceiveConnector{mk(t, "A", "0.0.0.0:25", ""), mk(t, "B", "0.0.0.0:587", "")}
		}, nil},
		{"same ranges, exact and wildcard binding", func(t *testing.T) []ReceiveConnector {
			return []ReceiveConnector{mk(t, "A", "0.0.0.0:25", ""), mk(t, "B", "192.0.2.1:25", "")}
		}, nil},
		{"same ranges, one disabled", func(t *testing.T) []ReceiveConnector {
			a, b := mk(t, "A", "0.0.0.0:25", ""), mk(t, "B", "0.0.0.0:25", "")
			b.Enabled = false
			return []ReceiveConnector{a, b}
		}, nil},
		{"same binding v4-mapped", func(t *testing.T) []ReceiveConnector {
			return []ReceiveConnector{mk(t, "A", "192.0.2.1:25", ""), mk(t, "B", "[::ffff:192.0.2.1]:25", "")}
		}, []string{`"A"`, `"B"`}},
		{"invalid member", func(t *testing.T) []ReceiveConnector {
			c := mk(t, "A", "0.0.0.0:25", "")
			c.MaxLogonFailures = 11
			return []ReceiveConnector{c}
		}, []string{`"A"`, "MaxLogonFailures", "11"}},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			err := ValidateSet(tt.set(t))
			if len(tt.want) == 0 {
				if err != nil {
					t.Fatalf("ValidateSet: %v", err)
				}
				return
			}
			if err == nil {
				t.Fatal("ValidateSet succeeded, want an error")
			}
			for _, w := range tt.want {
				if !strings.Contains(err.Error(), w) {
					t.Errorf("error %q does not contain %q", err, w)
				}
			}
		})
	}
}

func TestSelect(t *testing.T) {
	// Microsoft's example: three connectors on 0.0.0.0:25 with nested ranges.
	example := func(t *testing.T) []ReceiveConnector {
		return []ReceiveConnector{
			mk(t, "All", "0.0.0.0:25, [::]:25", ""),
			mk(t, "LAN", "0.0.0.0:25", "192.168.1.0-192.168.1.255"),
			mk(t, "Printer", "0.0.0.0:25", "192.168.1.75"),
		}
	}
	tests := []struct {
		name          string
		set           func(t *testing.T) []ReceiveConnector
		local, remote string
		want          string // "" for nil
	}{
		{"single IP wins", example, "192.168.1.2:25", "192.168.1.75:40000", "Printer"},
		{"range wins", example, "192.168.1.2:25", "192.168.1.100:40000", "LAN"},
		{"all", example, "192.168.1.2:25", "10.0.0.1:40000", "All"},
		{"v4-mapped remote", example, "192.168.1.2:25", "[::ffff:192.168.1.75]:40000", "Printer"},
		{"v4-mapped local and remote", example, "[::ffff:192.168.1.2]:25", "[::ffff:192.168.1.100]:40000", "LAN"},
		{"IPv6", example, "[2001:db8::1]:25", "[2001:db8::99]:40000", "All"},
		{"wrong port", example, "192.168.1.2:587", "192.168.1.75:40000", ""},
		{"order does not matter", func(t *testing.T) []ReceiveConnector {
			s := example(t)
			slices.Reverse(s)
			return s
		}, "192.168.1.2:25", "192.168.1.100:40000", "LAN"},
		{"exact binding beats wildcard", func(t *testing.T) []ReceiveConnector {
			return []ReceiveConnector{
				mk(t, "Wild", "0.0.0.0:25", "192.168.1.75"),
				mk(t, "Exact", "192.0.2.1:25", ""),
			}
		}, "192.0.2.1:25", "192.168.1.75:40000", "Exact"},
		{"wildcard for other local address", func(t *testing.T) []ReceiveConnector {
			return []ReceiveConnector{
				mk(t, "Exact", "192.0.2.1:25", ""),
				mk(t, "Wild", "0.0.0.0:25", ""),
			}
		}, "192.0.2.2:25", "10.0.0.1:40000", "Wild"},
		{"IPv4 wildcard does not take IPv6", func(t *testing.T) []ReceiveConnector {
			return []ReceiveConnector{mk(t, "Wild4", "0.0.0.0:25", "")}
		}, "[2001:db8::1]:25", "[2001:db8::2]:40000", ""},
		{"disabled skipped", func(t *testing.T) []ReceiveConnector {
			s := example(t)
			s[2].Enabled = false
			return s
		}, "192.168.1.2:25", "192.168.1.75:40000", "LAN"},
		{"no remote match", func(t *testing.T) []ReceiveConnector {
			return []ReceiveConnector{mk(t, "LAN", "0.0.0.0:25", "192.168.1.0/24")}
		}, "192.168.1.2:25", "10.0.0.1:40000", ""},
		{"none", func(t *testing.T) []ReceiveConnector { return nil }, "192.168.1.2:25", "10.0.0.1:40000", ""},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			got := Select(tt.set(t), netip.MustParseAddrPort(tt.local), netip.MustParseAddrPort(tt.remote))
			switch {
			case got == nil && tt.want != "":
				t.Errorf("Select = nil, want %q", tt.want)
			case got != nil && got.Name != tt.want:
				t.Errorf("Select = %q, want %q", got.Name, cmpName(tt.want))
			}
		})
	}
}

func cmpName(s string) string {
	if s == "" {
		return "nil"
	}
	return s
}

func TestSelectReturnsElement(t *testing.T) {
	cs := []ReceiveConnector{mk(t, "All", "0.0.0.0:25", "")}
	got := Select(cs, netip.MustParseAddrPort("192.0.2.1:25"), netip.MustParseAddrPort("10.0.0.1:1"))
	if got != &cs[0] {
		t.Errorf("Select returned %p, want a pointer into the slice %p", got, &cs[0])
	}
}

func TestListenAddrs(t *testing.T) {
	tests := []struct {
		name string
		set  func(t *testing.T) []ReceiveConnector
		want []string
	}{
		{"defaults", func(t *testing.T) []ReceiveConnector { return Defaults(testFQDN) },
			[]string{"0.0.0.0:25", "0.0.0.0:587", "[::]:25", "[::]:587"}},
		{"wildcard absorbs specific", func(t *testing.T) []ReceiveConnector {
			return []ReceiveConnector{
				mk(t, "Wild", "0.0.0.0:25", ""),
				mk(t, "Exact", "192.0.2.1:25, [2001:db8::1]:25, 192.0.2.1:2525", ""),
			}
		}, []string{"0.0.0.0:25", "192.0.2.1:2525", "[2001:db8::1]:25"}},
		{"v4-mapped specific absorbed", func(t *testing.T) []ReceiveConnector {
			return []ReceiveConnector{
				mk(t, "Wild", "0.0.0.0:25", ""),
				mk(t, "Exact", "[::ffff:192.0.2.1]:25", ""),
			}
		}, []string{"0.0.0.0:25"}},
		{"specific only, deduplicated", func(t *testing.T) []ReceiveConnector {
			return []ReceiveConnector{
				mk(t, "A", "192.0.2.1:25", ""),
				mk(t, "B", "192.0.2.1:25", "10.0.0.1"),
			}
		}, []string{"192.0.2.1:25"}},
		{"disabled ignored", func(t *testing.T) []ReceiveConnector {
			w := mk(t, "Wild", "0.0.0.0:25", "")
			w.Enabled = false
			return []ReceiveConnector{w, mk(t, "Exact", "192.0.2.1:25", "")}
		}, []string{"192.0.2.1:25"}},
		{"none", func(t *testing.T) []ReceiveConnector { return nil }, nil},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			var got []string
			for _, ap := range ListenAddrs(tt.set(t)) {
				got = append(got, ap.String())
			}
			if !slices.Equal(got, tt.want) {
				t.Errorf("ListenAddrs = %v, want %v", got, tt.want)
			}
		})
	}
}

type fakeStore struct {
	cert    *certs.Certificate
	problem certs.Problem
	gotName string
	gotFQDN string
}

func (f *fakeStore) Select(name, fqdn string, now time.Time) (*certs.Certificate, certs.Problem) {
	f.gotName, f.gotFQDN = name, fqdn
	return f.cert, f.problem
}

func TestTLSStatus(t *testing.T) {
	cert := &certs.Certificate{Thumbprint: "434AC224C8459924B26521298CE8834C514856AB", Subject: "CN=mail.contoso.com", NotAfter: time.Date(2030, 1, 2, 0, 0, 0, 0, time.UTC), IsSelfSigned: true}
	tests := []struct {
		name  string
		auth  permissions.Mechanisms
		store *fakeStore
		ok    bool
		want  []string
	}{
		{"serving", permissions.Mechanisms{"Tls"}, &fakeStore{cert: cert}, true, []string{"serving", cert.Thumbprint, "self-signed", "2030-01-02"}},
		{"missing", permissions.Mechanisms{"Tls"}, &fakeStore{problem: "no certificate covers mail.contoso.com"}, false, []string{"NOT OFFERED", "no certificate covers"}},
		{"problem", permissions.Mechanisms{"Tls"}, &fakeStore{cert: cert, problem: "expired"}, false, []string{"WITH PROBLEMS", "expired", cert.Thumbprint}},
		{"no tls", permissions.Mechanisms{}, &fakeStore{}, true, []string{"not offered"}},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			c := New("Relay", UsageInternet, testFQDN)
			c.AuthMechanism = tt.auth
			c.TlsCertificateName = "<I>CN=ca<S>CN=mail.contoso.com"
			status, ok := c.TLSStatus(tt.store, time.Now())
			if ok != tt.ok {
				t.Errorf("ok = %v, want %v (%s)", ok, tt.ok, status)
			}
			for _, w := range tt.want {
				if !strings.Contains(status, w) {
					t.Errorf("status %q does not contain %q", status, w)
				}
			}
			if len(tt.auth) > 0 && (tt.store.gotName != c.TlsCertificateName || tt.store.gotFQDN != testFQDN) {
				t.Errorf("store asked for %q/%q", tt.store.gotName, tt.store.gotFQDN)
			}
		})
	}
}
