package manage

import (
	"net/netip"
	"reflect"
	"strings"
	"testing"
	"time"

	"github.com/transportd/transportd/connector"
	"github.com/transportd/transportd/policies/iprange"
	"github.com/transportd/transportd/policies/permissions"
)

// Microsoft's examples write dates month first (en-US); ISO 8601 and RFC
// 3339 keep working, and a day-first date that cannot be month first is
// refused rather than misread.
func TestParseWhenTakesMicrosoftsDateForms(t *testing.T) {
	for in, want := range map[string]time.Time{
		"03/13/2018 09:00:00":    time.Date(2018, 3, 13, 9, 0, 0, 0, time.Local),
		"3/13/2018 9:00:00":      time.Date(2018, 3, 13, 9, 0, 0, 0, time.Local),
		"1/5/2018 3:00 PM":       time.Date(2018, 1, 5, 15, 0, 0, 0, time.Local),
		"1/5/2018 3:00 am":       time.Date(2018, 1, 5, 3, 0, 0, 0, time.Local),
		"12/31/2017 11:59:59 PM": time.Date(2017, 12, 31, 23, 59, 59, 0, time.Local),
		"03/15/2018":             time.Date(2018, 3, 15, 0, 0, 0, 0, time.Local),
		"2026-05-04 09:30":       time.Date(2026, 5, 4, 9, 30, 0, 0, time.Local),
		"2026-05-04":             time.Date(2026, 5, 4, 0, 0, 0, 0, time.Local),
		"2026-05-04T09:30:00Z":   time.Date(2026, 5, 4, 9, 30, 0, 0, time.UTC),
	} {
		got, err := ParseWhen(in)
		if err != nil || !got.Equal(want) {
			t.Errorf("ParseWhen(%q) = %v, %v; want %v", in, got, err, want)
		}
	}
	for _, bad := range []string{"13/03/2018 09:00:00", "yesterday", "2018-13-01", ""} {
		if _, err := ParseWhen(bad); err == nil || !strings.Contains(err.Error(), "month first") {
			t.Errorf("ParseWhen(%q): %v, want an error naming the forms", bad, err)
		}
	}
}

// @{Add=...; Remove=...} changes a list in place: added values go to the
// end once, removed ones leave, the others keep their order; values
// compare in canonical form and case-insensitively.
func TestEditFieldAddsAndRemoves(t *testing.T) {
	rc := connector.ReceiveConnector{
		Bindings:         []netip.AddrPort{netip.MustParseAddrPort("0.0.0.0:25"), netip.MustParseAddrPort("[::]:25")},
		RemoteIPRanges:   mustList(t, "0.0.0.0/0, ::/0"),
		PermissionGroups: permissions.Groups{permissions.GroupAnonymousUsers},
	}
	steps := []struct {
		field       string
		add, remove []string
		want        string
	}{
		{"Bindings", []string{"0.0.0.0:587", "0.0.0.0:25"}, []string{"[::]:25"}, "{0.0.0.0:25, 0.0.0.0:587}"},
		{"RemoteIPRanges", []string{"192.168.1.10", "10.0.0.0/8"}, []string{"::/0", "172.16.0.1"}, "{0.0.0.0/0, 192.168.1.10, 10.0.0.0/8}"},
		{"PermissionGroups", []string{"exchangeusers"}, nil, "AnonymousUsers, ExchangeUsers"},
		{"PermissionGroups", nil, []string{"AnonymousUsers"}, "ExchangeUsers"},
	}
	for _, s := range steps {
		if err := EditField(&rc, s.field, s.add, s.remove); err != nil {
			t.Fatalf("%s: %v", s.field, err)
		}
		got := FormatValue(reflect.ValueOf(rc).FieldByName(s.field))
		if got != s.want {
			t.Errorf("%s after +%v -%v = %s, want %s", s.field, s.add, s.remove, got, s.want)
		}
	}
	if err := EditField(&rc, "Banner", []string{"x"}, nil); err == nil || !strings.Contains(err.Error(), "one value") {
		t.Errorf("@{Add} on a single value: %v", err)
	}
	if err := EditField(&rc, "Bindings", []string{"not-an-address"}, nil); err == nil || !strings.Contains(err.Error(), "not-an-address") {
		t.Errorf("a bad value: %v", err)
	}
}

// applyParams routes an edit parameter to EditField, so every Set-X that
// takes a list takes @{Add=...} too.
func TestApplyParamsEdits(t *testing.T) {
	rc := connector.ReceiveConnector{RemoteIPRanges: mustList(t, "10.0.0.0/8")}
	if err := applyParams(&rc, Params{{Name: "RemoteIP", Edit: &Edit{Add: []string{"192.0.2.1"}}}}); err != nil {
		t.Fatal(err)
	}
	if got := FormatValue(reflect.ValueOf(rc.RemoteIPRanges)); got != "{10.0.0.0/8, 192.0.2.1}" {
		t.Errorf("RemoteIPRanges = %s", got)
	}
}

func mustList(t *testing.T, s string) iprange.List {
	t.Helper()
	l, err := iprange.ParseList(s)
	if err != nil {
		t.Fatal(err)
	}
	return l
}
