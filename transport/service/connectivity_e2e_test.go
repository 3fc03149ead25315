package service

import (
	"context"
	"os"
	"path/filepath"
	"strings"
	"testing"

	"github.com/transportd/transportd/transport/admin/config"
	"github.com/transportd/transportd/transport/admin/connectivity/dovecottest"
	"github.com/transportd/transportd/transport/admin/manage"
	"github.com/transportd/transportd/transport/admin/registry"
)

// Test-ImapConnectivity and Test-PopConnectivity as the admin runs them,
// end to end: the daemon delivers to its Maildirs, a real Dovecot serves
// them (handed over with MaildirOwner as the README's recipe does), and
// the cmdlet logs on to the server Set-ImapSettings names, sends the test
// message through the connector that advertises client settings, finds it
// and deletes it. A wrong password is a Failure row at Logon.
func TestImapPopConnectivityThroughTheDaemon(t *testing.T) {
	d := startDaemon(t, func(c *config.Config, d *testDaemon) {
		if os.Geteuid() == 0 {
			c.Transport.MaildirOwner = "nobody"
		}
		for i := range c.ReceiveConnectors {
			if strings.HasPrefix(c.ReceiveConnectors[i].Name, "Client") {
				c.ReceiveConnectors[i].AdvertiseClientSettings = true
			}
		}
	})
	c, err := config.Load(d.cfgPath)
	if err != nil {
		t.Fatal(err)
	}
	root := filepath.Join(c.DataDir(), "mailboxes")
	if err := os.MkdirAll(root, 0o700); err != nil {
		t.Fatal(err)
	}
	dovecottest.Traversable(t, filepath.Dir(c.DataDir()))
	dc := dovecottest.Start(t, root, map[string]string{"alice@contoso.com": testPassword})

	var warnings []string
	m := &manage.Manager{ConfigPath: d.cfgPath, Warn: func(s string) { warnings = append(warnings, s) }}
	env := &registry.Env{Ctx: context.Background(), Manager: m}
	run := func(cmdlet string, ps manage.Params) []manage.Record {
		t.Helper()
		_, cmd, ok := registry.FindCmdlet(cmdlet)
		if !ok {
			t.Fatalf("no cmdlet %s", cmdlet)
		}
		recs, err := cmd.Do(env, registry.Request{Params: ps})
		if err != nil {
			t.Fatalf("%s: %v", cmdlet, err)
		}
		return recs
	}
	run("Set-ImapSettings", manage.Params{{Name: "ExternalConnectionSettings", Value: dc.IMAPS + ":SSL"}})
	run("Set-PopSettings", manage.Params{{Name: "ExternalConnectionSettings", Value: dc.POP3 + ":TLS"}, {Name: "LoginType", Value: "PlainTextAuthentication"}})
	d.waitReload()
	if len(warnings) != 0 {
		t.Errorf("warnings: %q", warnings)
	}

	rows := func(recs []manage.Record) string {
		var b strings.Builder
		for _, r := range recs {
			for _, p := range r {
				b.WriteString(p.Name + "=" + p.Value + " ")
			}
			b.WriteString("\n")
		}
		return b.String()
	}
	result := func(recs []manage.Record, scenario string) (string, string) {
		for _, r := range recs {
			if s, _ := r.Get("Scenario"); s == scenario {
				res, _ := r.Get("Result")
				e, _ := r.Get("Error")
				return res, e
			}
		}
		return "", ""
	}
	for _, cmdlet := range []string{"Test-ImapConnectivity", "Test-PopConnectivity"} {
		recs := run(cmdlet, manage.Params{{Name: "ClientAccessServer", Value: "MAIL"}, {Name: "MailboxCredential", Value: `contoso\alice`},
			{Name: "Password", Value: testPassword}, {Name: "TrustAnySSLCertificate", Switch: true}, {Name: "Timeout", Value: "30"}})
		t.Logf("%s:\n%s", cmdlet, rows(recs))
		for _, s := range []string{"Connect", "Logon", "Send test message", "Find test message"} {
			if res, e := result(recs, s); res != "Success" {
				t.Errorf("%s: %s = %s %s\n%s", cmdlet, s, res, e, rows(recs))
			}
		}
		recs = run(cmdlet, manage.Params{{Name: "MailboxCredential", Value: "alice@contoso.com"}, {Name: "Password", Value: "wrong"},
			{Name: "TrustAnySSLCertificate", Switch: true}})
		if res, _ := result(recs, "Logon"); res != "Failure" {
			t.Errorf("%s with a wrong password: Logon %s\n%s", cmdlet, res, rows(recs))
		}
	}
	// The test messages were found and deleted: nothing is left.
	for _, sub := range []string{"new", "cur"} {
		left, _ := os.ReadDir(filepath.Join(root, "alice@contoso.com", "Maildir", sub))
		if len(left) != 0 {
			t.Errorf("%d test messages left in %s/", len(left), sub)
		}
	}
	// Another server is refused, naming this one.
	_, cmd, _ := registry.FindCmdlet("Test-ImapConnectivity")
	if _, err := cmd.Do(env, registry.Request{Params: manage.Params{{Name: "ClientAccessServer", Value: "Contoso12"}}}); err == nil || !strings.Contains(err.Error(), "Contoso12") || !strings.Contains(err.Error(), "MAIL") {
		t.Errorf("-ClientAccessServer Contoso12: %v", err)
	}
}
