package web_test

import (
	"net/http"
	"net/url"
	"regexp"
	"strings"
	"testing"

	"github.com/transportd/transportd/transport/admin/config"
	"github.com/transportd/transportd/transport/admin/manage"
)

// TestViewOnlyReadsQueuesTraceAndDashboard signs in a member of View-Only
// Organization Management: the dashboard, the queue viewer and the message
// trace are shown without the action buttons, and a posted Retry-Queue is
// refused with 403 and recorded nowhere.
func TestViewOnlyReadsQueuesTraceAndDashboard(t *testing.T) {
	d := startDaemon(t)
	m := &manage.Manager{ConfigPath: d.cfgPath}
	if _, err := m.NewMailbox(manage.Params{{Name: "Name", Value: "bob"}, {Name: "PrimarySmtpAddress", Value: "bob@contoso.com"}, {Name: "Password", Value: alicePassword}}, nil); err != nil {
		t.Fatal(err)
	}
	if _, err := m.AddRoleGroupMember(config.RoleViewOnlyOrganizationManagement, "bob"); err != nil {
		t.Fatal(err)
	}
	// The mailbox is in force once the daemon takes mail for it; until the
	// role group is too, sign-in is refused without counting as a failure.
	waitFor(t, "the daemon knowing bob", func() bool { return rcpt(t, "127.0.0.1", d.smtpAddr, "bob@contoso.com") == 250 })
	c := client(t)
	waitFor(t, "bob signed in", func() bool {
		resp, _ := signIn(t, d, c, "bob", alicePassword)
		return resp.StatusCode == http.StatusSeeOther
	})
	for _, p := range []string{"/", "/queue", "/queue/messages", "/trace?search=1", "/trace/message?id=nothing"} {
		code, body := get(t, c, d.base+p)
		if code != http.StatusOK {
			t.Fatalf("GET %s as a view-only admin: %d\n%s", p, code, body)
		}
		for _, action := range []string{`value="retry"`, `value="suspend"`, `value="remove-ndr"`} {
			if strings.Contains(body, action) {
				t.Errorf("GET %s as a view-only admin offers %s", p, action)
			}
		}
	}
	// The queue filter is Get-Queue's: a wrong property is its error, named.
	code, page := get(t, c, d.base+"/queue?filter="+url.QueryEscape("Colour -eq 'Red'"))
	if code != http.StatusOK || !strings.Contains(page, `id="queues-error"`) || !strings.Contains(page, "Colour") {
		t.Errorf("a queue filter on an unknown property: %d\n%s", code, page)
	}
	code, page = get(t, c, d.base+"/queue?filter="+url.QueryEscape("MessageCount -gt 0"))
	if code != http.StatusOK || strings.Contains(page, `id="queues-error"`) || !strings.Contains(page, "Get-Queue -Filter &#39;MessageCount -gt 0&#39;") {
		t.Errorf("a queue filter: %d\n%s", code, page)
	}

	// A name no certificate covers: the warning Get-ReceiveConnector
	// reports is on top of the dashboard.
	shellRun(t, d, "Set-ReceiveConnector 'Default Frontend MAIL' -Fqdn mx.fabrikam.com")
	_, body := get(t, c, d.base+"/")
	if w := regexp.MustCompile(`(?s)<section class="warnings".*?</section>`).FindString(body); !strings.Contains(w, "Receive connector Default Frontend MAIL: ") || !strings.Contains(w, "mx.fabrikam.com") {
		t.Errorf("the dashboard does not warn about the certificate:\n%s", w)
	}
	for _, want := range []string{"Queued messages", "Last hour", "Last 24 hours", "<svg class=\"chart\"", "TLS use"} {
		if !strings.Contains(body, want) {
			t.Errorf("the dashboard lacks %q", want)
		}
	}
	tok := csrfRE.FindStringSubmatch(body)
	if tok == nil {
		t.Fatal("no CSRF token on the dashboard")
	}
	resp, body := post(t, c, d.base+"/queue", url.Values{"csrf": {tok[1]}, "queue": {`MAIL\contoso.com`}, "action": {"retry"}}, sameSite)
	if resp.StatusCode != http.StatusForbidden || !strings.Contains(body, "may not change") {
		t.Fatalf("Retry-Queue posted by a view-only admin: %d\n%s", resp.StatusCode, body)
	}
	cfg, _ := config.Read(d.cfgPath)
	if es, err := manage.SearchAudit(manage.AuditFile(cfg), manage.AuditFilter{}); err != nil || len(es) != 0 {
		t.Fatalf("a refused post in the audit log: %v %v", es, err)
	}
}
