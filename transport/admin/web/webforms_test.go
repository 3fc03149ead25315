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

var (
	formRE    = regexp.MustCompile(`(?s)<form\b([^>]*)>(.*?)</form>`)
	controlRE = regexp.MustCompile(`<(input|select|textarea)\b([^>]*)>`)
	attrRE    = regexp.MustCompile(`\b(id|type|name)="([^"]*)"`)
)

// TestFormsHaveLabelsAndTokens reads every page of send connectors,
// certificates, accepted domains and mailboxes: each form control a user
// fills in has a <label for> (keyboard and screen reader users reach it by
// name), and each POST form carries the session's CSRF token.
func TestFormsHaveLabelsAndTokens(t *testing.T) {
	d := startDaemon(t)
	m := &manage.Manager{ConfigPath: d.cfgPath}
	if _, err := m.NewSendConnector(manage.Params{{Name: "Name", Value: "Relay"}, {Name: "SmartHosts", Value: "relay.contoso.com"}, {Name: "AddressSpaces", Value: "*"}}, nil); err != nil {
		t.Fatal(err)
	}
	if _, err := m.NewCertFrom(manage.Params{{Name: "SubjectName", Value: "CN=req.contoso.com"}, {Name: "GenerateRequest", Switch: true}}, ""); err != nil {
		t.Fatal(err)
	}
	c := client(t)
	if resp, _ := signIn(t, d, c, "alice", alicePassword); resp.StatusCode != http.StatusSeeOther {
		t.Fatalf("sign-in: %d", resp.StatusCode)
	}
	checked := 0
	for _, path := range []string{"/send", "/send/new", "/send/edit?id=Relay", "/certificates", "/certificates/new", "/certificates/import",
		"/domains", "/domains/edit?id=contoso.com", "/mailboxes", "/mailboxes/new", "/mailboxes/edit?id=alice"} {
		code, page := get(t, c, d.base+path)
		if code != http.StatusOK {
			t.Errorf("%s: %d", path, code)
			continue
		}
		labels := map[string]bool{}
		for _, l := range regexp.MustCompile(`<label for="([^"]+)"`).FindAllStringSubmatch(page, -1) {
			labels[l[1]] = true
		}
		forms := 0
		for _, f := range formRE.FindAllStringSubmatch(page, -1) {
			if !strings.Contains(f[1], `method="post"`) {
				continue
			}
			forms++
			if !strings.Contains(f[2], `name="csrf" value="`) {
				t.Errorf("%s: a form without the CSRF token: %s", path, f[0])
			}
			for _, ctl := range controlRE.FindAllStringSubmatch(f[2], -1) {
				attrs := map[string]string{}
				for _, a := range attrRE.FindAllStringSubmatch(ctl[2], -1) {
					attrs[a[1]] = a[2]
				}
				if attrs["type"] == "hidden" || attrs["type"] == "submit" {
					continue
				}
				checked++
				if attrs["id"] == "" || !labels[attrs["id"]] {
					t.Errorf("%s: %s has no label", path, ctl[0])
				}
			}
		}
		if forms == 0 {
			t.Errorf("%s: no form", path)
		}
	}
	if checked < 40 {
		t.Errorf("only %d form controls found: the pattern misses them", checked)
	}
	t.Logf("%d form controls have labels", checked)
}

// TestMailboxDisableAndForwarding turns a mailbox off and sets its
// forwarding on the edit page; the shell lines say so and the
// configuration has it.
func TestMailboxDisableAndForwarding(t *testing.T) {
	d := startDaemon(t)
	c := client(t)
	if resp, _ := signIn(t, d, c, "alice", alicePassword); resp.StatusCode != http.StatusSeeOther {
		t.Fatalf("sign-in: %d", resp.StatusCode)
	}
	m := &manage.Manager{ConfigPath: d.cfgPath}
	if _, err := m.NewMailbox(manage.Params{{Name: "Name", Value: "carol"}, {Name: "PrimarySmtpAddress", Value: "carol@contoso.com"}}, nil); err != nil {
		t.Fatal(err)
	}
	edit := d.base + "/mailboxes/edit?id=carol"
	_, page := get(t, c, edit)
	mm := csrfRE.FindStringSubmatch(page)
	resp, _ := post(t, c, edit, url.Values{"csrf": {mm[1]}, "id": {"carol"}, "DisplayName": {""}, "PrimarySmtpAddress": {"carol@contoso.com"},
		"ForwardingSmtpAddress": {"carol@fabrikam.com"}, "DeliverToMailboxAndForward": {"on"}}, sameSite)
	if resp.StatusCode != http.StatusSeeOther {
		t.Fatalf("save: %d", resp.StatusCode)
	}
	_, page = get(t, c, edit)
	want := "Set-Mailbox -Identity &#39;carol&#39; -Enabled $false -ForwardingSmtpAddress &#39;carol@fabrikam.com&#39; -DeliverToMailboxAndForward $true"
	if !strings.Contains(page, want) {
		t.Errorf("the page does not show %s:\n%s", want, page)
	}
	cfg, err := config.Read(d.cfgPath)
	if err != nil {
		t.Fatal(err)
	}
	mb := cfg.FindMailbox("carol@contoso.com")
	if mb == nil || mb.Enabled || mb.ForwardingSmtpAddress != "carol@fabrikam.com" || !mb.DeliverToMailboxAndForward {
		t.Errorf("mailbox after the change: %+v", mb)
	}
}

// TestSendConnectorOAuth sets OAuth to a smart host on the edit page: the
// client secret goes to the shell as -OAuthClientSecret - and is neither
// on the page nor in the admin audit log.
func TestSendConnectorOAuth(t *testing.T) {
	d := startDaemon(t)
	m := &manage.Manager{ConfigPath: d.cfgPath}
	if _, err := m.NewSendConnector(manage.Params{{Name: "Name", Value: "To Microsoft 365"}, {Name: "SmartHosts", Value: "smtp.office365.com"}, {Name: "Port", Value: "587"}, {Name: "AddressSpaces", Value: "*"}}, nil); err != nil {
		t.Fatal(err)
	}
	c := client(t)
	if resp, _ := signIn(t, d, c, "alice", alicePassword); resp.StatusCode != http.StatusSeeOther {
		t.Fatalf("sign-in: %d", resp.StatusCode)
	}
	edit := d.base + "/send/edit?id=To+Microsoft+365"
	_, page := get(t, c, edit)
	values := url.Values{"csrf": {csrfRE.FindStringSubmatch(page)[1]}, "id": {"To Microsoft 365"}}
	for _, f := range regexp.MustCompile(`<input id="f-(\w+)" name="(\w+)" value="([^"]*)"`).FindAllStringSubmatch(page, -1) {
		values.Set(f[2], htmlUnescape(f[3]))
	}
	for _, f := range regexp.MustCompile(`<textarea id="f-(\w+)" name="(\w+)" rows="\d+">([^<]*)</textarea>`).FindAllStringSubmatch(page, -1) {
		values.Set(f[2], htmlUnescape(f[3]))
	}
	values.Set("Enabled", "on")
	values.Set("SmartHostAuthMechanism", "OAuth")
	values.Set("RequireTLS", "on")
	values.Set("credentialuser", "relay@contoso.onmicrosoft.com")
	values.Set("OAuthTenantId", "4b2462a4-bbee-495a-a0e1-f23ae524cc9c")
	values.Set("OAuthClientId", "00001111-aaaa-2222-bbbb-3333cccc4444")
	values.Set("oauthsecret", "Client~Secret~42")
	resp, body := post(t, c, edit, values, sameSite)
	if resp.StatusCode != http.StatusSeeOther {
		t.Fatalf("save: %d\n%s", resp.StatusCode, body)
	}
	_, page = get(t, c, edit)
	if !strings.Contains(page, "Done.") || !strings.Contains(page, "-OAuthClientSecret -") || strings.Contains(page, "Client~Secret~42") {
		t.Fatalf("the result:\n%s", page)
	}
	full, err := m.Load()
	if err != nil {
		t.Fatal(err)
	}
	sc := full.SendConnectors[0]
	if sc.SmartHostAuthMechanism != "OAuth" || string(sc.OAuthClientSecret) != "Client~Secret~42" || !sc.RequireTLS || sc.OAuthClientId != "00001111-aaaa-2222-bbbb-3333cccc4444" {
		t.Errorf("connector after the change: %+v", sc)
	}
	cfg, _ := config.Read(d.cfgPath)
	es, err := manage.SearchAudit(manage.AuditFile(cfg), manage.AuditFilter{})
	if err != nil || len(es) == 0 {
		t.Fatalf("audit log: %v %v", es, err)
	}
	for _, e := range es {
		if strings.Contains(e.CommandLine, "Client~Secret") {
			t.Errorf("the client secret is in the audit log: %s", e.CommandLine)
		}
	}
}
