package routing

import "testing"

// Set-TransportConfig -MaxReceiveSize bounds messages to mailboxes here,
// -MaxSendSize those leaving through a send connector.
func TestOrganizationSizeLimits(t *testing.T) {
	r := testRouter(t, connector(t, "Out", "*", true))
	r.o.MaxReceiveSize, r.o.MaxSendSize = 1000, 2000
	for _, c := range []struct {
		rcpt string
		size int64
		fail string // "" routes
	}{
		{"alice@contoso.com", 1000, ""},
		{"alice@contoso.com", 1001, "MaxReceiveSize"},
		{"friend@example.org", 1500, ""},
		{"friend@example.org", 2001, "MaxSendSize"},
	} {
		rt := r.Route(c.rcpt, c.size)
		switch {
		case c.fail == "" && rt.Fail != nil:
			t.Errorf("%s (%d bytes): %v", c.rcpt, c.size, rt.Fail)
		case c.fail != "" && (rt.Fail == nil || rt.Fail.Code != 552 || rt.Fail.Enhanced != [3]int{5, 3, 4}):
			t.Errorf("%s (%d bytes): %+v, want 552 5.3.4 naming %s", c.rcpt, c.size, rt.Fail, c.fail)
		}
	}
}
