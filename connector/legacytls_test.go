package connector

import (
	"strings"
	"testing"

	"github.com/transportd/transportd/policies/iprange"
	"github.com/transportd/transportd/policies/permissions"
)

func TestOpenToInternetAndLegacyTLSWarning(t *testing.T) {
	rc := New("Printers", UsageCustom, "mail.contoso.com")
	if !rc.OpenToInternet() {
		t.Error("the default RemoteIPRanges (all) is not open to the Internet")
	}
	if w := rc.LegacyTLSWarning(); w != "" {
		t.Errorf("warning without AllowLegacyTLSClients: %q", w)
	}
	rc.AllowLegacyTLSClients = true
	if w := rc.LegacyTLSWarning(); !strings.Contains(w, "TLS 1.0") || !strings.Contains(w, "whole Internet") {
		t.Errorf("warning = %q", w)
	}
	for _, tc := range []struct {
		ranges string
		open   bool
	}{
		{"192.168.5.0/24, 10.0.0.7", false},
		{"0.0.0.0/1", false},
		{"0.0.0.0/0", true},
		{"::/0", true},
		{"0.0.0.0-255.255.255.255", true},
		{"192.168.5.0/24, ::/0", true},
	} {
		l, err := iprange.ParseList(tc.ranges)
		if err != nil {
			t.Fatal(err)
		}
		rc.RemoteIPRanges = l
		if got := rc.OpenToInternet(); got != tc.open {
			t.Errorf("OpenToInternet(%s) = %v, want %v", tc.ranges, got, tc.open)
		}
	}
	rc.RemoteIPRanges, _ = iprange.ParseList("192.168.5.0/24")
	if w := rc.LegacyTLSWarning(); strings.Contains(w, "whole Internet") || !strings.Contains(w, "CBC") {
		t.Errorf("scoped warning = %q", w)
	}
	if err := rc.Validate(); err != nil {
		t.Errorf("scoped legacy connector: %v", err)
	}
}

func TestSubmissionsUsageIsImplicitTLS(t *testing.T) {
	rc := New("Submissions", UsageSubmissions, "mail.contoso.com")
	if !rc.ImplicitTls || len(rc.Bindings) != 2 || rc.Bindings[0].Port() != 465 ||
		!rc.AuthMechanism.Has(permissions.MechBasicAuthRequireTLS) || !rc.PermissionGroups.Has(permissions.GroupExchangeUsers) {
		t.Fatalf("Submissions connector = %+v", rc)
	}
	if err := rc.Validate(); err != nil {
		t.Fatal(err)
	}
	if u, err := ParseUsage("submissions"); err != nil || u != UsageSubmissions {
		t.Fatalf("ParseUsage(submissions) = %v, %v", u, err)
	}
	rc.AuthMechanism = permissions.Mechanisms{permissions.MechNone}
	rc.PermissionGroups = permissions.Groups{permissions.GroupAnonymousUsers}
	if err := rc.Validate(); err == nil || !strings.Contains(err.Error(), "ImplicitTls") {
		t.Fatalf("ImplicitTls without Tls in AuthMechanism: %v", err)
	}
}

// One port speaks TLS from the first byte or not: two connectors sharing a
// binding must agree.
func TestImplicitTLSBindingConflict(t *testing.T) {
	a := New("Submissions", UsageSubmissions, "mail.contoso.com")
	b := New("Devices", UsageCustom, "mail.contoso.com")
	b.Bindings = a.Bindings
	b.RemoteIPRanges, _ = iprange.ParseList("192.168.5.0/24")
	err := ValidateSet([]ReceiveConnector{a, b})
	if err == nil || !strings.Contains(err.Error(), "ImplicitTls") {
		t.Fatalf("mixed ImplicitTls on one binding: %v", err)
	}
	b.ImplicitTls = true
	if err := ValidateSet([]ReceiveConnector{a, b}); err != nil {
		t.Fatalf("same ImplicitTls on one binding: %v", err)
	}
}
