package service

import (
	"context"
	"crypto/ed25519"
	"crypto/rand"
	"encoding/base64"
	"fmt"
	"net/netip"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/emersion/go-msgauth/dkim"

	"github.com/transportd/transportd/connector"
	"github.com/transportd/transportd/policies/dnsclient"
	"github.com/transportd/transportd/policies/dnsclient/dnstest"
	"github.com/transportd/transportd/policies/permissions"
	"github.com/transportd/transportd/transport/admin/config"
	"github.com/transportd/transportd/transport/admin/manage"
	"github.com/transportd/transportd/transport/mail/dkimsign"
	"github.com/transportd/transportd/transport/mail/tracking"
)

// lookupTXT asks z's TXT records, as go-msgauth's verifier does.
func lookupTXT(t *testing.T, z *dnstest.Server) func(string) ([]string, error) {
	r, err := dnsclient.NewResolver([]string{z.Addr})
	if err != nil {
		t.Fatal(err)
	}
	return func(name string) ([]string, error) { return r.LookupTXT(context.Background(), name) }
}

// submit587 sends body as alice through the Client Frontend (STARTTLS, AUTH).
func submit587(t *testing.T, d *testDaemon, to, body string) string {
	t.Helper()
	c := dial(t, d.addr587())
	c.expect("250", "EHLO client.example")
	c.startTLS("mail.contoso.com")
	c.expect("250", "EHLO client.example")
	c.expect("235", "AUTH PLAIN %s", plainIR("alice@contoso.com", testPassword))
	r := c.send("alice@contoso.com", []string{to}, body)
	c.close()
	return r
}

func plainIR(user, pass string) string {
	return base64.StdEncoding.EncodeToString([]byte("\x00" + user + "\x00" + pass))
}

func TestDKIMSignsSubmittedMailAndVerifies(t *testing.T) {
	z := dnstest.Start(t)
	d := startDaemon(t, func(c *config.Config, _ *testDaemon) { c.Transport.ExternalDNSServers = []string{z.Addr} })
	var warned []string
	m := &manage.Manager{ConfigPath: d.cfgPath, Warn: func(s string) { warned = append(warned, s) }}
	rec, err := m.NewDkimSigningConfig(manage.Params{{Name: "DomainName", Value: "contoso.com"}, {Name: "Enabled", Value: "$true"}})
	if err != nil {
		t.Fatal(err)
	}
	d.waitReload()
	txt, _ := rec.Get("Selector1Record")
	if !strings.HasPrefix(txt, "v=DKIM1; k=rsa; p=") || len(warned) != 1 || !strings.Contains(warned[0], "selector1._domainkey.contoso.com") {
		t.Fatalf("New-DkimSigningConfig: record %q, warnings %q", txt, warned)
	}
	// Before the record is published, Get-DkimSigningConfig says so.
	got, err := m.GetDkimSigningConfigs("contoso.com")
	if err != nil || len(got) != 1 {
		t.Fatal(got, err)
	}
	if st, _ := got[0].Get("Status"); st != "RecordMissing" {
		t.Fatalf("Status before publishing: %q", st)
	}
	z.SetTXT("selector1._domainkey.contoso.com", txt)
	got, _ = m.GetDkimSigningConfigs("contoso.com")
	if st, _ := got[0].Get("Status"); st != "Valid" {
		t.Fatalf("Status after publishing: %q (%v)", st, got[0])
	}
	// The key file is the owner's only.
	if fi, err := os.Stat(filepath.Join(d.svc.Config().DkimKeyDir(), "contoso.com", "selector1.key")); err != nil || fi.Mode().Perm() != 0o600 {
		t.Fatalf("key file: %v %v", fi, err)
	}

	body := "From: Alice <alice@contoso.com>\r\nTo: friend@example.org\r\nSubject: signed\r\nMessage-ID: <dkim-1@contoso.com>\r\n\r\nHello   there \r\n.. a dotted line\r\n"
	r := submit587(t, d, "friend@example.org", body)
	if !strings.HasPrefix(r, "250") {
		t.Fatalf("submission: %q", r)
	}
	out := d.queued(r)
	if !strings.HasPrefix(out, "DKIM-Signature: ") {
		t.Fatalf("the message left without a DKIM-Signature first:\n%s", out)
	}
	verifs, err := dkim.VerifyWithOptions(strings.NewReader(out), &dkim.VerifyOptions{LookupTXT: lookupTXT(t, z)})
	if err != nil || len(verifs) != 1 || verifs[0].Err != nil || verifs[0].Domain != "contoso.com" {
		t.Fatalf("verification: %v %+v", err, verifs)
	}
	sig := out[:strings.Index(out, "\r\nReceived:")]
	for _, want := range []string{"c=relaxed/relaxed", "s=selector1", "d=contoso.com"} {
		if !strings.Contains(sig, want) {
			t.Errorf("signature lacks %s: %s", want, sig)
		}
	}
	h := strings.ToLower(strings.Join(strings.Fields(strings.ReplaceAll(sig, "\r\n", "")), ""))
	h = h[strings.Index(h, ";h=")+3:]
	if h = h[:strings.Index(h, ";")]; strings.Count(h, "from") != 2 {
		t.Errorf("From is not oversigned (listed twice in h=): %s", h)
	}
	// A From: added in transit breaks the signature (oversigning).
	tampered := strings.Replace(out, "From: Alice", "From: Mallory <m@evil.test>\r\nFrom: Alice", 1)
	if v, _ := dkim.VerifyWithOptions(strings.NewReader(tampered), &dkim.VerifyOptions{LookupTXT: lookupTXT(t, z)}); len(v) != 1 || v[0].Err == nil {
		t.Errorf("a second From: did not break the signature")
	}

	// Anonymous mail from the Internet that claims contoso.com is not
	// signed: we only pass it on (here, to alice's mailbox).
	c := dial(t, d.addr25())
	c.expect("250", "EHLO outside.example")
	r = c.send("someone@contoso.com", []string{"alice@contoso.com"}, "From: someone@contoso.com\r\nSubject: in\r\n\r\nhi\r\n")
	c.close()
	if !strings.HasPrefix(r, "250") {
		t.Fatalf("inbound: %q", r)
	}
	if in := d.delivered(r); strings.Contains(in, "DKIM-Signature") {
		t.Fatalf("inbound anonymous mail was signed:\n%s", in)
	}

	// Set-DkimSigningConfig -Enabled $false: mail leaves unsigned.
	if _, _, err := m.SetDkimSigningConfigs([]string{"contoso.com"}, manage.Params{{Name: "Enabled", Value: "$false"}}); err != nil {
		t.Fatal(err)
	}
	d.waitReload()
	r = submit587(t, d, "friend@example.org", strings.Replace(body, "dkim-1", "dkim-2", 1))
	if out := d.queued(r); strings.Contains(out, "DKIM-Signature") {
		t.Fatalf("signed while disabled:\n%s", out)
	}
}

func TestDKIMRotation(t *testing.T) {
	z := dnstest.Start(t)
	d := startDaemon(t, func(c *config.Config, _ *testDaemon) { c.Transport.ExternalDNSServers = []string{z.Addr} })
	now := time.Now()
	m := &manage.Manager{ConfigPath: d.cfgPath, Now: func() time.Time { return now }}
	rec, err := m.NewDkimSigningConfig(manage.Params{{Name: "DomainName", Value: "contoso.com"}, {Name: "Enabled", Value: "$true"}, {Name: "KeySize", Value: "1024"}})
	if err != nil {
		t.Fatal(err)
	}
	old, _ := rec.Get("Selector1Record")
	recs, err := m.RotateDkimSigningConfigs([]string{"contoso.com"}, nil)
	if err != nil || len(recs) != 1 {
		t.Fatal(recs, err)
	}
	r := recs[0]
	if v, _ := r.Get("Selector"); v != "selector1" {
		t.Fatalf("the old selector must sign until RotateOnDate: %q", v)
	}
	if v, _ := r.Get("SelectorAfterRotateOnDate"); v != "selector2" {
		t.Fatalf("SelectorAfterRotateOnDate %q", v)
	}
	if v, _ := r.Get("Selector1Record"); v != old {
		t.Fatal("rotation changed the signing key")
	}
	if _, err := m.RotateDkimSigningConfigs([]string{"contoso.com"}, nil); err == nil || !strings.Contains(err.Error(), "pending") {
		t.Fatalf("a second rotation while one is pending: %v", err)
	}
	// Get-DkimSigningConfig tells when the next key's record is not published yet.
	z.SetTXT("selector1._domainkey.contoso.com", old)
	status := func() string {
		got, err := m.GetDkimSigningConfigs("contoso.com")
		if err != nil {
			t.Fatal(err)
		}
		st, _ := got[0].Get("Status")
		return st
	}
	if st := status(); st != "RotationRecordMissing" {
		t.Fatalf("Status with the next key unpublished: %q", st)
	}
	next, _ := r.Get("Selector2Record")
	z.SetTXT("selector2._domainkey.contoso.com", next)
	if st := status(); st != "Valid" {
		t.Fatalf("Status with both published: %q", st)
	}
	// Four days later the new key signs.
	now = now.Add(manage.RotationDelay + time.Minute)
	got, _ := m.GetDkimSigningConfigs("contoso.com")
	if v, _ := got[0].Get("Selector"); v != "selector2" {
		t.Fatalf("after RotateOnDate the signing selector is %q", v)
	}
	if _, err := m.RemoveDkimSigningConfigs([]string{"contoso.com"}); err != nil {
		t.Fatal(err)
	}
	if _, err := os.Stat(filepath.Join(d.svc.Config().DkimKeyDir(), "contoso.com")); err == nil {
		t.Fatal("Remove-DkimSigningConfig left the keys behind")
	}
}

// signAs DKIM-signs msg for domain with a new key published in z under
// a selector of its own.
func signAs(t *testing.T, z *dnstest.Server, domain, msg string) string {
	t.Helper()
	_, key, err := ed25519.GenerateKey(rand.Reader)
	if err != nil {
		t.Fatal(err)
	}
	txt, err := dkimsign.Record(key)
	if err != nil {
		t.Fatal(err)
	}
	sel := fmt.Sprintf("s%x", key.Public().(ed25519.PublicKey)[:6]) // one selector per key
	z.SetTXT(sel+"._domainkey."+domain, txt)
	sig, err := dkimsign.Sign([]byte(msg), domain, sel, key)
	if err != nil {
		t.Fatal(err)
	}
	return sig + msg
}

func TestInboundSPFDKIMDMARC(t *testing.T) {
	z := dnstest.Start(t)
	d := startDaemon(t, func(c *config.Config, _ *testDaemon) { c.Transport.ExternalDNSServers = []string{z.Addr} })
	const here, elsewhere = "v=spf1 ip4:127.0.0.0/8 -all", "v=spf1 ip4:192.0.2.1 -all"
	for dom, recs := range map[string][2]string{
		"reject.test":     {elsewhere, "v=DMARC1; p=reject"},
		"quarantine.test": {elsewhere, "v=DMARC1; p=quarantine"},
		"none.test":       {elsewhere, "v=DMARC1; p=none"},
		"spfok.test":      {here, "v=DMARC1; p=reject"},
	} {
		z.SetTXT(dom, recs[0])
		z.SetTXT("_dmarc."+dom, recs[1])
	}
	msg := func(from, subject string) string {
		return "From: <" + from + ">\r\nTo: alice@contoso.com\r\nSubject: " + subject + "\r\nMessage-ID: <" + subject + "@test>\r\n\r\nbody of " + subject + "\r\n"
	}
	cases := []struct {
		name, mailFrom, data string
		reply                string   // reply prefix
		want                 []string // in the Authentication-Results field
		spam                 bool
	}{
		{"spf pass aligned, p=reject", "a@spfok.test", msg("a@spfok.test", "spfok"), "250",
			[]string{"spf=pass smtp.mailfrom=spfok.test", "spf=pass smtp.helo=spfok.test", "dkim=none", "dmarc=pass header.from=spfok.test"}, false},
		{"forged: spf fail, no dkim, p=reject", "a@reject.test", msg("a@reject.test", "forged"), "550 5.7.1", nil, false},
		{"spf fail but valid aligned dkim, p=reject", "a@reject.test", signAs(t, z, "reject.test", msg("a@reject.test", "dkimok")), "250",
			[]string{"spf=fail", "dkim=pass header.d=reject.test", "dmarc=pass"}, false},
		{"forged dkim (body changed), p=reject", "a@reject.test",
			strings.Replace(signAs(t, z, "reject.test", msg("a@reject.test", "tampered")), "body of", "BODY OF", 1), "550 5.7.1", nil, false},
		{"p=quarantine", "a@quarantine.test", msg("a@quarantine.test", "quar"), "250",
			[]string{"spf=fail", "dmarc=fail header.from=quarantine.test"}, true},
		{"p=none", "a@none.test", msg("a@none.test", "pnone"), "250", []string{"spf=fail", "dmarc=fail"}, false},
		{"no records at all", "a@missing.test", msg("a@missing.test", "missing"), "250",
			[]string{"spf=none", "dkim=none", "dmarc=none header.from=missing.test"}, false},
		{"our authserv-id claimed from outside", "a@spfok.test",
			"Authentication-Results: mail.contoso.com; dkim=pass header.d=bank.test\r\nAuthentication-Results: other.example; spf=pass\r\n" + msg("a@spfok.test", "claimed"), "250",
			[]string{"dmarc=pass"}, false},
	}
	for _, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			c := dial(t, d.addr25())
			c.expect("250", "EHLO %s", tc.mailFrom[strings.Index(tc.mailFrom, "@")+1:])
			r := c.send(tc.mailFrom, []string{"alice@contoso.com"}, tc.data)
			c.close()
			if !strings.HasPrefix(r, tc.reply) {
				t.Fatalf("reply %q, want %s", r, tc.reply)
			}
			if tc.reply != "250" {
				if !strings.Contains(r, "DMARC") || !strings.Contains(r, "p=reject") {
					t.Errorf("refusal gives no reason: %q", r)
				}
				return
			}
			got := d.delivered(r)
			head := got[:strings.Index(got, "\n\n")]
			ar := ""
			for _, line := range strings.Split(strings.ReplaceAll(head, "\n\t", " "), "\n") {
				if strings.HasPrefix(line, "Authentication-Results: mail.contoso.com") {
					if ar != "" {
						t.Fatalf("two Authentication-Results fields with our name:\n%s", head)
					}
					ar = line
				}
			}
			for _, w := range tc.want {
				if !strings.Contains(ar, w) {
					t.Errorf("Authentication-Results %q lacks %q", ar, w)
				}
			}
			if strings.Contains(head, "X-Spam-Flag: YES") != tc.spam {
				t.Errorf("X-Spam-Flag: want %v in\n%s", tc.spam, head)
			}
			if strings.Contains(head, "bank.test") {
				t.Errorf("a claimed result with our authserv-id survived:\n%s", head)
			}
			if strings.Contains(tc.data, "other.example") && !strings.Contains(head, "Authentication-Results: other.example") {
				t.Errorf("another server's Authentication-Results was removed:\n%s", head)
			}
		})
	}
	// Message tracking records the verdicts: RECEIVE with the results, and
	// FAIL for the refused messages.
	evs := waitTracking(t, d, tracking.Filter{Sender: "a@reject.test"}, "RECEIVE", "FAIL")
	var recv, fail bool
	for _, ev := range evs {
		recv = recv || (ev.EventID == "RECEIVE" && strings.Contains(ev.MessageInfo, "dmarc=pass"))
		fail = fail || (ev.EventID == "FAIL" && strings.Contains(ev.MessageInfo, "dmarc=fail") && strings.Contains(strings.Join(ev.RecipientStatus, ";"), "550 5.7.1"))
	}
	if !recv || !fail {
		t.Fatalf("tracking: %+v", evs)
	}
}

func TestSenderAuthenticationOffOnClientConnector(t *testing.T) {
	z := dnstest.Start(t)
	z.SetTXT("_dmarc.contoso.com", "v=DMARC1; p=reject")
	z.SetTXT("contoso.com", "v=spf1 ip4:192.0.2.1 -all")
	d := startDaemon(t, func(c *config.Config, _ *testDaemon) { c.Transport.ExternalDNSServers = []string{z.Addr} })
	// alice submits on 587: no checks there (the Client usage has them off),
	// so her own domain's strict DMARC does not refuse her.
	r := submit587(t, d, "alice@contoso.com", "From: alice@contoso.com\r\nSubject: self\r\n\r\nhi\r\n")
	if !strings.HasPrefix(r, "250") {
		t.Fatalf("submission: %q", r)
	}
	if got := d.delivered(r); strings.Contains(got, "Authentication-Results") {
		t.Fatalf("checked on the client connector:\n%s", got)
	}
}

// The pickup folder and a relay connector (applications on the admin's
// hosts) are signed for too; anonymous Internet mail on the same port is not.
func TestDKIMSignsPickupAndRelay(t *testing.T) {
	z := dnstest.Start(t)
	d := startDaemon(t, func(c *config.Config, d *testDaemon) {
		c.Transport.ExternalDNSServers = []string{z.Addr}
		relay := connector.New("Anonymous Relay", connector.UsageCustom, "relay.contoso.com")
		relay.Bindings = []netip.AddrPort{netip.MustParseAddrPort(d.addr25())}
		relay.RemoteIPRanges = mustRange("127.0.0.2")
		relay.PermissionGroups = permissions.Groups{"AnonymousUsers"}
		relay.AnonymousRelay = true
		c.ReceiveConnectors = append(c.ReceiveConnectors, relay)
	})
	m := &manage.Manager{ConfigPath: d.cfgPath}
	rec, err := m.NewDkimSigningConfig(manage.Params{{Name: "DomainName", Value: "contoso.com"}, {Name: "KeyType", Value: "Ed25519"}})
	if err != nil {
		t.Fatal(err)
	}
	d.waitReload()
	txt, _ := rec.Get("Selector1Record")
	z.SetTXT("selector1._domainkey.contoso.com", txt)
	verify := func(what, msg string) {
		t.Helper()
		v, err := dkim.VerifyWithOptions(strings.NewReader(msg), &dkim.VerifyOptions{LookupTXT: lookupTXT(t, z)})
		if err != nil || len(v) != 1 || v[0].Err != nil || v[0].Domain != "contoso.com" {
			t.Fatalf("%s: not signed for contoso.com: %v %+v\n%s", what, err, v, msg)
		}
	}
	// Relay connector, from 127.0.0.2.
	c := dialFrom(t, "127.0.0.2", d.addr25())
	c.expect("250", "EHLO app.contoso.com")
	r := c.send("app@contoso.com", []string{"friend@example.org"}, "From: app@contoso.com\r\nSubject: relayed\r\n\r\nhi\r\n")
	c.close()
	verify("relay", d.queued(r))
	// Pickup folder.
	pk := filepath.Join(d.svc.Config().DataDir(), "pickup")
	if err := os.WriteFile(filepath.Join(pk, ".a.tmp"), []byte("From: monitor@contoso.com\r\nTo: ops@example.org\r\nSubject: picked up\r\n\r\ndisk full\r\n"), 0o600); err != nil {
		t.Fatal(err)
	}
	if err := os.Rename(filepath.Join(pk, ".a.tmp"), filepath.Join(pk, "a.eml")); err != nil {
		t.Fatal(err)
	}
	verify("pickup", waitSink(t, d.sink).data)
	// Anonymous from 127.0.0.1 (the Default Frontend), for a local mailbox: unsigned, checked.
	c = dial(t, d.addr25())
	c.expect("250", "EHLO outside.test")
	r = c.send("x@contoso.com", []string{"alice@contoso.com"}, "From: x@contoso.com\r\nSubject: inbound\r\n\r\nhi\r\n")
	c.close()
	if got := d.delivered(r); strings.Contains(got, "DKIM-Signature") || !strings.Contains(got, "Authentication-Results: mail.contoso.com") {
		t.Fatalf("inbound anonymous mail:\n%s", got)
	}
}
