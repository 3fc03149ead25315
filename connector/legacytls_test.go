package connector

import (
	"strings"
	"testing"

	"github.com/transportd/transportd/policies/iprange"
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
