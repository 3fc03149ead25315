package routing

import (
	"context"
	"strings"
	"testing"
	"time"

	"github.com/transportd/transportd/policies/domains"
	"github.com/transportd/transportd/transport/mail/delivery"
	"github.com/transportd/transportd/transport/mail/queue"
	"github.com/transportd/transportd/transport/mail/sendconnector"
)

// target is a named delivery target, so a route shows where it leads.
type target string

func (target) Deliver(context.Context, *delivery.Message, []string) []delivery.Result { return nil }

func table(t *testing.T, ds ...domains.AcceptedDomain) *domains.Table {
	t.Helper()
	tbl, err := domains.NewTable(ds)
	if err != nil {
		t.Fatal(err)
	}
	return tbl
}

func connector(t *testing.T, name, spaces string, enabled bool) sendconnector.SendConnector {
	t.Helper()
	as, err := sendconnector.ParseAddressSpaces(spaces)
	if err != nil {
		t.Fatal(err)
	}
	return sendconnector.SendConnector{Name: name, Enabled: enabled, AddressSpaces: as}
}

// testRouter routes for contoso.com (Authoritative), fabrikam.com
// (InternalRelay) and tailspin.com (ExternalRelay), with mailboxes
// alice@contoso.com, bob@fabrikam.com and carol@tailspin.com.
func testRouter(t *testing.T, conns ...sendconnector.SendConnector) *Router {
	t.Helper()
	mailboxes := map[string]bool{"alice@contoso.com": true, "bob@fabrikam.com": true, "carol@tailspin.com": true}
	senders := map[string]delivery.Target{}
	for _, c := range conns {
		if c.Enabled {
			senders[c.Name] = target("send:" + c.Name)
		}
	}
	return New(Options{
		Domains: table(t,
			domains.AcceptedDomain{Name: "contoso.com", DomainName: "contoso.com", DomainType: domains.Authoritative, Default: true},
			domains.AcceptedDomain{Name: "fabrikam.com", DomainName: "fabrikam.com", DomainType: domains.InternalRelay},
			domains.AcceptedDomain{Name: "tailspin.com", DomainName: "tailspin.com", DomainType: domains.ExternalRelay}),
		IsMailbox:      func(a string) bool { return mailboxes[strings.ToLower(a)] },
		Mailbox:        target("mailbox"),
		SendConnectors: conns,
		Senders:        senders,
	})
}

func wantRoute(t *testing.T, r *Router, rcpt string, size int64, queueName, deliveryType string, to target) {
	t.Helper()
	rt := r.Route(rcpt, size)
	if rt.Fail != nil || rt.Queue != queueName || rt.DeliveryType != deliveryType || rt.Target != to {
		t.Errorf("%s: route {Queue %q, DeliveryType %q, Target %v, Fail %v}, want {%q, %q, %v}",
			rcpt, rt.Queue, rt.DeliveryType, rt.Target, rt.Fail, queueName, deliveryType, to)
	}
}

func wantBounce(t *testing.T, r *Router, rcpt string, size int64, reply string) {
	t.Helper()
	rt := r.Route(rcpt, size)
	if rt.Fail == nil || !strings.HasPrefix(rt.Fail.Error(), reply) || rt.Target != nil {
		t.Errorf("%s: route %+v, want a bounce %q", rcpt, rt, reply)
	}
}

// The categorizer: mailboxes of accepted domains are delivered here,
// except in an ExternalRelay domain; an Authoritative domain has no
// recipients but its mailboxes; the rest goes to a send connector.
func TestRouteMailboxesAndRelayDomains(t *testing.T) {
	r := testRouter(t, connector(t, "Internet", "*", true))
	wantRoute(t, r, "alice@contoso.com", 100, MailboxQueue, DeliveryMailbox, "mailbox")
	wantRoute(t, r, "Alice@Contoso.COM", 100, MailboxQueue, DeliveryMailbox, "mailbox")
	wantBounce(t, r, "nobody@contoso.com", 100, "550 5.1.1 User unknown: nobody@contoso.com has no mailbox here (authoritative domain contoso.com)")
	// InternalRelay: known mailboxes here, the others relayed.
	wantRoute(t, r, "bob@fabrikam.com", 100, MailboxQueue, DeliveryMailbox, "mailbox")
	wantRoute(t, r, "dave@fabrikam.com", 100, "Internet", DeliverySmartHost, "send:Internet")
	// ExternalRelay: every recipient lives elsewhere, even one that has a mailbox.
	wantRoute(t, r, "carol@tailspin.com", 100, "Internet", DeliverySmartHost, "send:Internet")
	// Not accepted at all.
	wantRoute(t, r, "friend@example.org", 100, "Internet", DeliverySmartHost, "send:Internet")
}

// Send connectors: the most specific address space wins, then the lowest
// cost; disabled connectors and those too small for the message are left
// out; DNS routing queues per domain.
func TestRouteBestSendConnector(t *testing.T) {
	mx := connector(t, "MX", "example.org", true)
	mx.DNSRoutingEnabled = true
	small := connector(t, "Small", "*.example.net;1", true)
	small.MaxMessageSize = 1000
	r := testRouter(t,
		connector(t, "Default", "*;10", true),
		connector(t, "Cheap default", "*;5", true),
		connector(t, "Fabrikam partner", "*.fabrikam.com", true),
		connector(t, "Off", "example.com", false),
		mx, small,
		connector(t, "Big", "*.example.net;50", true))
	wantRoute(t, r, "a@elsewhere.test", 100, "Cheap default", DeliverySmartHost, "send:Cheap default")
	wantRoute(t, r, "dave@fabrikam.com", 100, "Fabrikam partner", DeliverySmartHost, "send:Fabrikam partner")
	wantRoute(t, r, "a@sub.fabrikam.com", 100, "Fabrikam partner", DeliverySmartHost, "send:Fabrikam partner")
	wantRoute(t, r, "a@example.com", 100, "Cheap default", DeliverySmartHost, "send:Cheap default")
	wantRoute(t, r, "a@Example.ORG", 100, "example.org", DeliveryDNS, "send:MX")
	wantRoute(t, r, "a@mail.example.net", 1000, "Small", DeliverySmartHost, "send:Small")
	wantRoute(t, r, "a@mail.example.net", 1001, "Big", DeliverySmartHost, "send:Big")
}

// No send connector covers the domain: a bounce with 5.4.4 and the fix.
func TestRouteNoSendConnector(t *testing.T) {
	wantBounce(t, testRouter(t), "friend@example.org", 100,
		"550 5.4.4 Unable to route: no enabled send connector has an address space covering example.org")
	small := connector(t, "Small", "*", true)
	small.MaxMessageSize = 10
	r := testRouter(t, small, connector(t, "Off", "*", false))
	wantBounce(t, r, "friend@example.org", 100, "550 5.4.4 ")
	if rt := r.Route("friend@example.org", 100); !strings.Contains(rt.Fail.Message, "transportd sendconnector new") {
		t.Errorf("the bounce does not name the fix: %v", rt.Fail)
	}
}

// Within Grace of a configuration change an unroutable recipient
// waits in the Unreachable queue with a 4.x.x reason; without a change, or
// once the configuration has been stable that long, it bounces.
func TestUnroutableGrace(t *testing.T) {
	tbl := table(t, domains.AcceptedDomain{Name: "contoso.com", DomainName: "contoso.com", DomainType: domains.Authoritative, Default: true})
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
		{"stable for the grace", changed, changed.Add(Grace), "friend@example.org", false, "5.4.4", 550},
	} {
		r := New(Options{Domains: tbl, Changed: tc.changed, Now: func() time.Time { return tc.now }})
		rt := r.Route(tc.rcpt, 100)
		if !tc.wait {
			if rt.Fail == nil || rt.Fail.Code != tc.code || !strings.HasPrefix(rt.Fail.Error(), "550 "+tc.enhanced) {
				t.Errorf("%s: route %+v, want a %s bounce", tc.name, rt, tc.enhanced)
			}
			continue
		}
		if rt.Fail != nil || rt.Queue != UnreachableQueue || rt.Target == nil {
			t.Fatalf("%s: route %+v, want the Unreachable queue", tc.name, rt)
		}
		res := rt.Target.Deliver(context.Background(), nil, []string{tc.rcpt})
		if len(res) != 1 || res[0].Recipient != tc.rcpt || res[0].Err == nil || !strings.HasPrefix(res[0].Err.Error(), "451 "+tc.enhanced+" ") || !strings.Contains(res[0].Err.Error(), "Unreachable queue") {
			t.Errorf("%s: delivery %+v", tc.name, res)
		}
	}
}

var _ queue.Router = (*Router)(nil)
