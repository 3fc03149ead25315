package domains

import (
	"encoding/json"
	"strings"
	"testing"
)

func TestDomainTypeText(t *testing.T) {
	tests := []struct {
		in   string
		want DomainType
		err  bool
	}{
		{"Authoritative", Authoritative, false},
		{"authoritative", Authoritative, false},
		{"INTERNALRELAY", InternalRelay, false},
		{" externalRelay ", ExternalRelay, false},
		{"", "", true},
		{"Relay", "", true},
	}
	for _, tc := range tests {
		var got DomainType
		err := got.UnmarshalText([]byte(tc.in))
		if tc.err {
			if err == nil {
				t.Errorf("UnmarshalText(%q) = %q, want error", tc.in, got)
			} else if !strings.Contains(err.Error(), "Authoritative, InternalRelay, ExternalRelay") {
				t.Errorf("error %q does not list the allowed values", err)
			}
			continue
		}
		if err != nil || got != tc.want {
			t.Errorf("UnmarshalText(%q) = %q, %v", tc.in, got, err)
		}
		b, err := got.MarshalText()
		if err != nil || string(b) != string(tc.want) {
			t.Errorf("MarshalText = %q, %v", b, err)
		}
	}
	if _, err := DomainType("bogus").MarshalText(); err == nil {
		t.Error("bogus type marshalled")
	}
}

func table(t *testing.T) *Table {
	t.Helper()
	tb, err := NewTable([]AcceptedDomain{
		{Name: "Contoso", DomainName: "Contoso.com", DomainType: Authoritative, Default: true},
		{DomainName: "*.contoso.com", DomainType: InternalRelay},
		{DomainName: "*.sales.contoso.com", DomainType: ExternalRelay},
		{DomainName: "hr.contoso.com", DomainType: Authoritative},
		{DomainName: "fabrikam.com", DomainType: ExternalRelay},
		{DomainName: "*.tailspin.com", DomainType: InternalRelay},
	})
	if err != nil {
		t.Fatal(err)
	}
	return tb
}

func TestLookup(t *testing.T) {
	tb := table(t)
	tests := []struct {
		domain string
		want   string // DomainName, "" for not found
	}{
		{"contoso.com", "contoso.com"},
		{"CONTOSO.COM", "contoso.com"},
		{"mail.contoso.com", "*.contoso.com"},
		{"a.b.contoso.com", "*.contoso.com"},
		{"sales.contoso.com", "*.sales.contoso.com"},
		{"eu.sales.contoso.com", "*.sales.contoso.com"},
		{"hr.contoso.com", "hr.contoso.com"},
		{"x.hr.contoso.com", "*.contoso.com"}, // exact entries do not cover subdomains
		{"fabrikam.com", "fabrikam.com"},
		{"mail.fabrikam.com", ""},
		{"tailspin.com", "*.tailspin.com"}, // wildcard covers the domain itself
		{"x.tailspin.com", "*.tailspin.com"},
		{"notcontoso.com", ""},
		{"contoso.com.evil.net", ""},
		{"evilcontoso.com", ""},
		{"com", ""},
		{"", ""},
		{"contoso.com.", ""},
		{".contoso.com", ""},
		{"a..contoso.com", ""},
	}
	for _, tc := range tests {
		t.Run(tc.domain, func(t *testing.T) {
			d, ok := tb.Lookup(tc.domain)
			if ok != (tc.want != "") || d.DomainName != tc.want {
				t.Errorf("Lookup = %q, %v; want %q", d.DomainName, ok, tc.want)
			}
		})
	}
	def, ok := tb.Default()
	if !ok || def.Name != "Contoso" || def.DomainType != Authoritative {
		t.Errorf("Default = %+v, %v", def, ok)
	}
	all := tb.All()
	if len(all) != 6 || all[1].Name != "*.contoso.com" {
		t.Errorf("All = %+v", all)
	}
	all[0].DomainType = ExternalRelay
	if d, _ := tb.Lookup("contoso.com"); d.DomainType != Authoritative {
		t.Error("All exposes the table's state")
	}
	var nilTable *Table
	if _, ok := nilTable.Lookup("contoso.com"); ok {
		t.Error("nil table matched")
	}
}

func TestNewTableErrors(t *testing.T) {
	ok := func(name string) AcceptedDomain {
		return AcceptedDomain{DomainName: name, DomainType: Authoritative}
	}
	tests := []struct {
		name     string
		ds       []AcceptedDomain
		mentions []string
	}{
		{"empty", []AcceptedDomain{ok("")}, []string{"empty domain name"}},
		{"bare wildcard", []AcceptedDomain{ok("*")}, []string{`"*"`, "label"}},
		{"wildcard dot", []AcceptedDomain{ok("*.")}, []string{"wildcard without a domain"}},
		{"inner wildcard", []AcceptedDomain{ok("mail.*.contoso.com")}, []string{"mail.*.contoso.com", "'*'"}},
		{"double wildcard", []AcceptedDomain{ok("*.*.contoso.com")}, []string{"'*'"}},
		{"trailing dot", []AcceptedDomain{ok("contoso.com.")}, []string{"contoso.com.", "ends with a dot"}},
		{"empty label", []AcceptedDomain{ok("contoso..com")}, []string{"empty label"}},
		{"underscore", []AcceptedDomain{ok("con_toso.com")}, []string{"con_toso.com", "letters, digits and hyphens"}},
		{"hyphen", []AcceptedDomain{ok("-contoso.com")}, []string{"starts with a hyphen"}},
		{"ip address", []AcceptedDomain{ok("192.0.2.1")}, []string{"192.0.2.1", "IP address"}},
		{"numeric tld", []AcceptedDomain{ok("*.contoso.123")}, []string{"contoso.123", "all-numeric"}},
		{"too long", []AcceptedDomain{ok(strings.Repeat("a.", 127) + "com")}, []string{"longer than 253"}},
		{"bad type", []AcceptedDomain{{DomainName: "contoso.com", DomainType: "Relay"}}, []string{"contoso.com", "Relay", "Authoritative, InternalRelay, ExternalRelay"}},
		{"no type", []AcceptedDomain{{DomainName: "contoso.com"}}, []string{"domain type"}},
		{"duplicate", []AcceptedDomain{{Name: "A", DomainName: "contoso.com", DomainType: Authoritative}, {Name: "B", DomainName: "CONTOSO.com", DomainType: ExternalRelay}}, []string{`"A"`, `"B"`, "contoso.com", "CONTOSO.com", "duplicates"}},
		{"duplicate wildcard", []AcceptedDomain{ok("*.contoso.com"), ok("*.Contoso.com")}, []string{"*.contoso.com", "*.Contoso.com"}},
		{"duplicate name", []AcceptedDomain{{Name: "X", DomainName: "a.com", DomainType: Authoritative}, {Name: "x", DomainName: "b.com", DomainType: Authoritative}}, []string{"a.com", "b.com"}},
		{"two defaults", []AcceptedDomain{{DomainName: "a.com", DomainType: Authoritative, Default: true}, {DomainName: "b.com", DomainType: Authoritative, Default: true}}, []string{"a.com", "b.com", "default"}},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			tb, err := NewTable(tc.ds)
			if err == nil {
				t.Fatalf("NewTable = %+v, want error", tb.All())
			}
			for _, m := range tc.mentions {
				if !strings.Contains(err.Error(), m) {
					t.Errorf("error %q does not mention %q", err, m)
				}
			}
		})
	}
	// An exact entry and a wildcard of the same domain are not duplicates.
	if _, err := NewTable([]AcceptedDomain{ok("contoso.com"), ok("*.contoso.com")}); err != nil {
		t.Errorf("exact + wildcard: %v", err)
	}
	if tb, err := NewTable(nil); err != nil || len(tb.All()) != 0 {
		t.Errorf("empty table: %v", err)
	}
}

func TestJSON(t *testing.T) {
	var ds []AcceptedDomain
	in := `[{"Name":"Contoso","DomainName":"contoso.com","DomainType":"authoritative","Default":true}]`
	if err := json.Unmarshal([]byte(in), &ds); err != nil {
		t.Fatal(err)
	}
	if ds[0].DomainType != Authoritative {
		t.Errorf("DomainType = %q", ds[0].DomainType)
	}
	if err := json.Unmarshal([]byte(`[{"DomainType":"nope"}]`), &ds); err == nil {
		t.Error("bad DomainType accepted")
	}
}

func FuzzDomainTypeUnmarshalText(f *testing.F) {
	for _, s := range []string{"Authoritative", "internalrelay", "", "x"} {
		f.Add(s)
	}
	f.Fuzz(func(t *testing.T, s string) {
		var d DomainType
		if err := d.UnmarshalText([]byte(s)); err != nil {
			return
		}
		if !d.Valid() {
			t.Fatalf("accepted invalid %q", d)
		}
	})
}

func FuzzNewTable(f *testing.F) {
	f.Add("contoso.com", "x.contoso.com")
	f.Add("*.contoso.com", "a.b.contoso.com")
	f.Add("*", "com")
	f.Fuzz(func(t *testing.T, name, lookup string) {
		tb, err := NewTable([]AcceptedDomain{{DomainName: name, DomainType: Authoritative}})
		if err != nil {
			return
		}
		d, ok := tb.Lookup(lookup)
		if ok && !strings.HasSuffix(strings.ToLower(lookup), strings.TrimPrefix(d.DomainName, "*.")) {
			t.Fatalf("%q matched %q", lookup, d.DomainName)
		}
		if base := strings.TrimPrefix(strings.ToLower(strings.TrimSpace(name)), "*."); !func() bool { _, ok := tb.Lookup(base); return ok }() {
			t.Fatalf("table of %q does not match %q", name, base)
		}
	})
}
