package permissions

import (
	"encoding/json"
	"strings"
	"testing"

	"github.com/transportd/transportd/policies/address"
	"github.com/transportd/transportd/policies/domains"
)

func TestGroupsText(t *testing.T) {
	tests := []struct {
		in   string
		want string // canonical text; "" means error
		err  string
	}{
		{"AnonymousUsers, ExchangeServers", "AnonymousUsers, ExchangeServers", ""},
		{"exchangeservers,anonymoususers", "AnonymousUsers, ExchangeServers", ""},
		{" ExchangeUsers ", "ExchangeUsers", ""},
		{"ExchangeUsers, ExchangeUsers", "ExchangeUsers", ""},
		{"None", "None", ""},
		{"none", "None", ""},
		{"AnonymousUsers,ExchangeUsers,ExchangeServers,ExchangeLegacyServers,Partners,Custom",
			"AnonymousUsers, ExchangeUsers, ExchangeServers, ExchangeLegacyServers, Partners, Custom", ""},
		{"None, ExchangeUsers", "", "None must be alone"},
		{"None, None", "", "None must be alone"},
		{"", "", "AnonymousUsers, ExchangeUsers"},
		{"Admins", "", "want one of None, AnonymousUsers, ExchangeUsers, ExchangeServers, ExchangeLegacyServers, Partners, Custom"},
		{"ExchangeUsers,", "", "empty entry"},
		{"ExchangeUsers;Partners", "", "want one of"},
	}
	for _, tc := range tests {
		t.Run(tc.in, func(t *testing.T) {
			var g Groups
			err := g.UnmarshalText([]byte(tc.in))
			if tc.want == "" {
				if err == nil {
					t.Fatalf("UnmarshalText = %v, want error", g)
				}
				if !strings.Contains(err.Error(), tc.err) {
					t.Errorf("error %q does not contain %q", err, tc.err)
				}
				return
			}
			if err != nil {
				t.Fatal(err)
			}
			b, err := g.MarshalText()
			if err != nil || string(b) != tc.want {
				t.Errorf("MarshalText = %q, %v; want %q", b, err, tc.want)
			}
		})
	}
	var g Groups
	_ = g.UnmarshalText([]byte("None"))
	if len(g) != 0 || !g.Has(GroupNone) || g.Has(GroupAnonymousUsers) {
		t.Errorf("None parsed to %#v", g)
	}
	if err := (Groups{"Bogus"}).Validate(); err == nil {
		t.Error("unknown group validated")
	}
	if _, err := (Groups{GroupNone, GroupPartners}).MarshalText(); err == nil {
		t.Error("None with others marshalled")
	}
	if !(Groups{GroupNone}).Has(GroupNone) {
		t.Error("Groups{None}.Has(None) = false")
	}
}

func TestMechanismsText(t *testing.T) {
	tests := []struct {
		in       string
		want     string
		parseErr bool
		validErr string
	}{
		{"Tls, BasicAuth, BasicAuthRequireTLS", "Tls, BasicAuth, BasicAuthRequireTLS", false, ""},
		{"basicauthrequiretls,BASICAUTH,tls", "Tls, BasicAuth, BasicAuthRequireTLS", false, ""},
		{"None", "None", false, ""},
		{"Tls, ExchangeServer", "Tls, ExchangeServer", false, ""},
		{"Tls, ExternalAuthoritative", "Tls, ExternalAuthoritative", false, ""},
		{"Tls, Integrated", "Tls, Integrated", false, ""},
		{"BasicAuth", "BasicAuth", false, ""},
		{"BasicAuth, BasicAuthRequireTLS", "BasicAuth, BasicAuthRequireTLS", false, "needs BasicAuth and Tls"},
		{"Tls, BasicAuthRequireTLS", "Tls, BasicAuthRequireTLS", false, "needs BasicAuth and Tls"},
		{"ExternalAuthoritative", "ExternalAuthoritative", false, "needs Tls"},
		{"None, Tls", "", true, ""},
		{"Kerberos", "", true, ""},
		{"", "", true, ""},
	}
	for _, tc := range tests {
		t.Run(tc.in, func(t *testing.T) {
			var m Mechanisms
			err := m.UnmarshalText([]byte(tc.in))
			if tc.parseErr {
				if err == nil {
					t.Fatalf("UnmarshalText = %v, want error", m)
				}
				return
			}
			if err != nil {
				t.Fatal(err)
			}
			if got := m.String(); got != tc.want {
				t.Errorf("String = %q, want %q", got, tc.want)
			}
			err = m.Validate()
			if tc.validErr == "" && err != nil {
				t.Errorf("Validate: %v", err)
			}
			if tc.validErr != "" && (err == nil || !strings.Contains(err.Error(), tc.validErr)) {
				t.Errorf("Validate = %v, want %q", err, tc.validErr)
			}
		})
	}
	if err := (Mechanisms{MechNone, MechTLS}).Validate(); err == nil || !strings.Contains(err.Error(), "alone") {
		t.Errorf("None with Tls: %v", err)
	}
}

func TestValidateCombination(t *testing.T) {
	tests := []struct {
		m, g string
		err  string
	}{
		{"Tls, ExternalAuthoritative", "ExchangeServers", ""},
		{"Tls, ExternalAuthoritative", "AnonymousUsers, ExchangeServers", ""},
		{"Tls, ExternalAuthoritative", "AnonymousUsers", "needs permission group ExchangeServers"},
		{"Tls, ExternalAuthoritative", "None", "needs permission group ExchangeServers"},
		{"ExternalAuthoritative", "ExchangeServers", "needs Tls"},
		{"Tls, BasicAuth", "ExchangeUsers", ""},
		{"None", "AnonymousUsers", ""},
	}
	for _, tc := range tests {
		var m Mechanisms
		var g Groups
		if err := m.UnmarshalText([]byte(tc.m)); err != nil {
			t.Fatal(err)
		}
		if err := g.UnmarshalText([]byte(tc.g)); err != nil {
			t.Fatal(err)
		}
		err := ValidateCombination(m, g)
		if (tc.err == "") != (err == nil) || (err != nil && !strings.Contains(err.Error(), tc.err)) {
			t.Errorf("ValidateCombination(%s | %s) = %v, want %q", tc.m, tc.g, err, tc.err)
		}
	}
}

func TestJSONConfig(t *testing.T) {
	var c struct {
		PermissionGroups Groups
		AuthMechanism    Mechanisms
	}
	if err := json.Unmarshal([]byte(`{"PermissionGroups":"anonymoususers, exchangeusers","AuthMechanism":"Tls, BasicAuth"}`), &c); err != nil {
		t.Fatal(err)
	}
	out, _ := json.Marshal(c)
	if want := `{"PermissionGroups":"AnonymousUsers, ExchangeUsers","AuthMechanism":"Tls, BasicAuth"}`; string(out) != want {
		t.Errorf("Marshal = %s, want %s", out, want)
	}
}

func TestRefusalError(t *testing.T) {
	r := &Refusal{Code: 550, Enhanced: [3]int{5, 7, 54}, Reason: "Unable to relay recipient in non-accepted domain"}
	if got := r.Error(); got != "550 5.7.54 Unable to relay recipient in non-accepted domain" {
		t.Errorf("Error = %q", got)
	}
	if r.Temporary() || !(&Refusal{Code: 421}).Temporary() {
		t.Error("Temporary is wrong")
	}
}

func session(groups, mechs string, authenticated, anonRelay bool) Session {
	var s Session
	if err := s.Groups.UnmarshalText([]byte(groups)); err != nil {
		panic(err)
	}
	if err := s.Mechanisms.UnmarshalText([]byte(mechs)); err != nil {
		panic(err)
	}
	s.Authenticated = authenticated
	s.AnonymousRelay = anonRelay
	return s
}

const (
	anon = false
	auth = true
)

// The sessions used by the decision tables below.
var sessionCases = []struct {
	name   string
	s      Session
	submit string // "" = allowed, else the refusal's enhanced code
	relay  bool
}{
	// Connector with no permission groups.
	{"none/anon", session("None", "Tls", anon, false), "5.7.1", false},
	{"none/auth", session("None", "Tls, BasicAuth", auth, false), "5.7.1", false},
	{"none/anon+relay", session("None", "None", anon, true), "5.7.1", false},
	// Internet-facing default frontend: anonymous may submit, not relay.
	{"anonymous/anon", session("AnonymousUsers", "Tls", anon, false), "", false},
	{"anonymous/anon+relay", session("AnonymousUsers", "Tls", anon, true), "", true},
	{"anonymous/auth", session("AnonymousUsers", "Tls, BasicAuth", auth, false), "5.7.1", false},
	{"anonymous/auth+relay", session("AnonymousUsers", "Tls, BasicAuth", auth, true), "5.7.1", false},
	// Client submission connector.
	{"users/anon", session("ExchangeUsers", "Tls, BasicAuth, BasicAuthRequireTLS", anon, false), "5.7.57", false},
	{"users/anon+relay", session("ExchangeUsers", "Tls, BasicAuth", anon, true), "5.7.57", false},
	{"users/auth", session("ExchangeUsers", "Tls, BasicAuth, BasicAuthRequireTLS", auth, false), "", true},
	{"anonymous+users/anon", session("AnonymousUsers, ExchangeUsers", "Tls, BasicAuth", anon, false), "", false},
	{"anonymous+users/auth", session("AnonymousUsers, ExchangeUsers", "Tls, BasicAuth", auth, false), "", true},
	{"anonymous+users/anon+relay", session("AnonymousUsers, ExchangeUsers", "Tls, BasicAuth", anon, true), "", true},
	// Server-to-server.
	{"servers/anon", session("ExchangeServers", "Tls, ExchangeServer", anon, false), "5.7.57", false},
	{"servers/auth", session("ExchangeServers", "Tls, ExchangeServer", auth, false), "", true},
	{"servers/anon+relay", session("ExchangeServers", "Tls", anon, true), "5.7.57", false},
	{"legacy/anon", session("ExchangeLegacyServers", "Tls", anon, false), "5.7.57", false},
	{"legacy/auth", session("ExchangeLegacyServers", "Tls", auth, false), "5.7.1", false},
	// Externally secured connector: the connector vouches for its peers.
	{"extauth/anon", session("ExchangeServers", "Tls, ExternalAuthoritative", anon, false), "", true},
	{"extauth/auth", session("ExchangeServers", "Tls, ExternalAuthoritative", auth, false), "", true},
	{"extauth+anonymous/anon", session("AnonymousUsers, ExchangeServers", "Tls, ExternalAuthoritative", anon, false), "", true},
	// Partners (domain-secured peers) may submit but not relay.
	{"partners/anon", session("Partners", "Tls", anon, false), "", false},
	{"partners/anon+relay", session("Partners", "Tls", anon, true), "", false},
	{"partners/auth", session("Partners", "Tls, BasicAuth", auth, false), "5.7.1", false},
	{"custom/anon", session("Custom", "Tls", anon, false), "5.7.57", false},
	{"custom/auth", session("Custom", "Tls", auth, false), "5.7.1", false},
}

func TestMaySubmitMayRelay(t *testing.T) {
	for _, tc := range sessionCases {
		t.Run(tc.name, func(t *testing.T) {
			r := tc.s.MaySubmit()
			switch {
			case tc.submit == "" && r != nil:
				t.Errorf("MaySubmit = %v, want nil", r)
			case tc.submit != "" && r == nil:
				t.Errorf("MaySubmit = nil, want %s", tc.submit)
			case r != nil && !strings.Contains(r.Error(), " "+tc.submit+" "):
				t.Errorf("MaySubmit = %v, want %s", r, tc.submit)
			}
			if got := tc.s.MayRelay(); got != tc.relay {
				t.Errorf("MayRelay = %v, want %v", got, tc.relay)
			}
		})
	}
	// Exact texts.
	if got := session("AnonymousUsers", "Tls", auth, false).MaySubmit(); got == nil || got.Code != 550 {
		t.Errorf("authenticated without user group: %v", got)
	}
	if got := session("ExchangeUsers", "Tls", anon, false).MaySubmit().Error(); got != "530 5.7.57 Client was not authenticated to send anonymous mail during MAIL FROM" {
		t.Errorf("anonymous refusal = %q", got)
	}
	if got := session("None", "Tls", anon, false).MaySubmit().Error(); got != "530 5.7.1 Client was not authenticated: this connector has no permission groups" {
		t.Errorf("no groups refusal = %q", got)
	}
}

type dir map[string]bool

func (d dir) MailboxExists(a string) bool { return d[a] }

func TestCheckRecipient(t *testing.T) {
	tb, err := domains.NewTable([]domains.AcceptedDomain{
		{DomainName: "contoso.com", DomainType: domains.Authoritative, Default: true},
		{DomainName: "*.contoso.com", DomainType: domains.Authoritative},
		{DomainName: "fabrikam.com", DomainType: domains.InternalRelay},
		{DomainName: "tailspin.com", DomainType: domains.ExternalRelay},
	})
	if err != nil {
		t.Fatal(err)
	}
	mailboxes := dir{"alice@contoso.com": true, "bob@eu.contoso.com": true, "carol@fabrikam.com": true}

	type want struct {
		route   Route
		refusal string // enhanced code, "" for none
	}
	recipients := []struct {
		addr string
		// decision for a session that may not relay / one that may
		noRelay, relay want
	}{
		{"alice@contoso.com", want{RouteLocal, ""}, want{RouteLocal, ""}},
		{"Alice@CONTOSO.com", want{RouteLocal, ""}, want{RouteLocal, ""}},
		{"nobody@contoso.com", want{0, "5.1.1"}, want{0, "5.1.1"}},
		{"bob@eu.contoso.com", want{RouteLocal, ""}, want{RouteLocal, ""}},
		{"alice@eu.contoso.com", want{0, "5.1.1"}, want{0, "5.1.1"}},
		{"carol@fabrikam.com", want{RouteLocal, ""}, want{RouteLocal, ""}},
		{"dave@fabrikam.com", want{RouteRelay, ""}, want{RouteRelay, ""}},
		{"erin@tailspin.com", want{RouteRelay, ""}, want{RouteRelay, ""}},
		{"frank@example.net", want{0, "5.7.54"}, want{RouteRelay, ""}},
		{"alice@contoso.com.example.net", want{0, "5.7.54"}, want{RouteRelay, ""}},
		{"grace@sub.fabrikam.com", want{0, "5.7.54"}, want{RouteRelay, ""}},
	}
	for _, sc := range sessionCases {
		for _, rc := range recipients {
			t.Run(sc.name+"/"+rc.addr, func(t *testing.T) {
				a, err := address.ParseRecipient(rc.addr)
				if err != nil {
					t.Fatal(err)
				}
				w := rc.noRelay
				if sc.relay {
					w = rc.relay
				}
				if sc.submit != "" {
					w = want{0, sc.submit}
				}
				route, r := CheckRecipient(sc.s, a, tb, mailboxes)
				if route != w.route {
					t.Errorf("route = %v, want %v", route, w.route)
				}
				switch {
				case w.refusal == "" && r != nil:
					t.Errorf("refusal = %v, want none", r)
				case w.refusal != "" && (r == nil || !strings.Contains(r.Error(), " "+w.refusal+" ")):
					t.Errorf("refusal = %v, want %s", r, w.refusal)
				}
			})
		}
	}

	s := session("AnonymousUsers", "Tls", anon, false)
	_, r := CheckRecipient(s, address.Address{Local: "nobody", Domain: "contoso.com"}, tb, mailboxes)
	if r == nil || r.Error() != "550 5.1.1 User unknown: nobody@contoso.com has no mailbox here" {
		t.Errorf("unknown user = %v", r)
	}
	_, r = CheckRecipient(s, address.Address{Local: "x", Domain: "example.net"}, tb, mailboxes)
	if r == nil || r.Error() != "550 5.7.54 Unable to relay recipient in non-accepted domain" {
		t.Errorf("relay = %v", r)
	}
	// A nil table and directory accept nothing locally.
	if _, r := CheckRecipient(s, address.Address{Local: "alice", Domain: "contoso.com"}, nil, nil); r == nil {
		t.Error("nil table accepted a recipient for an anonymous non-relay session")
	}
	if _, r := CheckRecipient(s, address.Address{}, tb, mailboxes); r == nil || r.Code != 501 {
		t.Errorf("zero address = %v", r)
	}
}

func FuzzGroupsUnmarshalText(f *testing.F) {
	for _, s := range []string{"AnonymousUsers, ExchangeServers", "None", "none,", "", "x", "Partners,partners"} {
		f.Add(s)
	}
	f.Fuzz(func(t *testing.T, s string) {
		var g Groups
		if err := g.UnmarshalText([]byte(s)); err != nil {
			return
		}
		if err := g.Validate(); err != nil {
			t.Fatalf("parsed %q to invalid %v: %v", s, g, err)
		}
		b, err := g.MarshalText()
		if err != nil {
			t.Fatal(err)
		}
		var again Groups
		if err := again.UnmarshalText(b); err != nil || again.String() != g.String() {
			t.Fatalf("round trip %q -> %q -> %v, %v", s, b, again, err)
		}
	})
}

func FuzzMechanismsUnmarshalText(f *testing.F) {
	for _, s := range []string{"Tls, BasicAuth, BasicAuthRequireTLS", "None", "tls,,", "", "ExternalAuthoritative"} {
		f.Add(s)
	}
	f.Fuzz(func(t *testing.T, s string) {
		var m Mechanisms
		if err := m.UnmarshalText([]byte(s)); err != nil {
			return
		}
		_ = m.Validate()
		b, err := m.MarshalText()
		if err != nil {
			t.Fatal(err)
		}
		var again Mechanisms
		if err := again.UnmarshalText(b); err != nil || again.String() != m.String() {
			t.Fatalf("round trip %q -> %q -> %v, %v", s, b, again, err)
		}
	})
}
