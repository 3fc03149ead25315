package service

import (
	"context"
	"strings"
	"testing"
	"time"

	"github.com/transportd/transportd/policies/domains"
)

// Within routingGrace of a configuration change an unroutable recipient
// waits in the Unreachable queue with a 4.x.x reason; without a change, or
// once the configuration has been stable that long, it bounces.
func TestUnroutableGrace(t *testing.T) {
	tbl, err := domains.NewTable([]domains.AcceptedDomain{{Name: "contoso.com", DomainName: "contoso.com", DomainType: domains.Authoritative, Default: true}})
	if err != nil {
		t.Fatal(err)
	}
	changed := time.Date(2026, 11, 30, 10, 0, 0, 0, time.UTC)
	for _, tc := range []struct {
		name     string
		changed  time.Time
		now      time.Time
		rcpt     string
		wait     bool
		enhanced string
		code     int
	}{
		{"started with it", time.Time{}, changed, "friend@example.org", false, "5.4.4", 550},
		{"just changed", changed, changed.Add(time.Second), "friend@example.org", true, "4.4.4", 451},
		{"just changed, unknown user", changed, changed.Add(time.Minute), "nobody@contoso.com", true, "4.1.1", 451},
		{"stable for the grace", changed, changed.Add(routingGrace), "friend@example.org", false, "5.4.4", 550},
	} {
		r := &router{domains: tbl, dir: &directory{}, changed: tc.changed, now: func() time.Time { return tc.now }}
		rt := r.Route(tc.rcpt, 100)
		if !tc.wait {
			if rt.Fail == nil || rt.Fail.Code != tc.code || !strings.HasPrefix(rt.Fail.Error(), "550 "+tc.enhanced) {
				t.Errorf("%s: route %+v, want a %s bounce", tc.name, rt, tc.enhanced)
			}
			continue
		}
		if rt.Fail != nil || rt.Queue != unreachableQueue || rt.Target == nil {
			t.Fatalf("%s: route %+v, want the Unreachable queue", tc.name, rt)
		}
		res := rt.Target.Deliver(context.Background(), nil, []string{tc.rcpt})
		if len(res) != 1 || res[0].Recipient != tc.rcpt || res[0].Err == nil || !strings.HasPrefix(res[0].Err.Error(), "451 "+tc.enhanced+" ") || !strings.Contains(res[0].Err.Error(), "Unreachable queue") {
			t.Errorf("%s: delivery %+v", tc.name, res)
		}
	}
}
