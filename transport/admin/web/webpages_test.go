package web_test

import (
	"context"
	"crypto/tls"
	"errors"
	"io"
	"log"
	"net"
	"net/http"
	"net/smtp"
	"net/url"
	"strings"
	"sync"
	"testing"

	"github.com/chromedp/chromedp"
	"github.com/emersion/go-sasl"
	gosmtp "github.com/emersion/go-smtp"

	"github.com/transportd/transportd/transport/admin/config"
	"github.com/transportd/transportd/transport/admin/manage"
)

// The tests of the send connector, certificate, accepted domain and
// mailbox pages: each change is made in chromium and seen to work in a
// real SMTP session with the daemon.

// recorder is an in-test smart host that records the messages it gets.
type recorder struct {
	addr string
	// user and password, when set, are the one account AUTH PLAIN takes.
	user, password string
	mu             sync.Mutex
	got            []string
	note           chan struct{}
}

func startRecorder(t *testing.T, user, password string) *recorder {
	t.Helper()
	r := &recorder{note: make(chan struct{}, 100), user: user, password: password}
	srv := gosmtp.NewServer(gosmtp.BackendFunc(func(*gosmtp.Conn) (gosmtp.Session, error) { return &recSession{r: r}, nil }))
	srv.Domain = "smarthost.test"
	srv.AllowInsecureAuth = true // loopback only; AUTH is offered only when user is set
	srv.ErrorLog = log.New(io.Discard, "", 0)
	l, err := net.Listen("tcp4", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	r.addr = l.Addr().String()
	done := make(chan struct{})
	go func() { defer close(done); srv.Serve(l) }()
	t.Cleanup(func() { srv.Close(); <-done })
	return r
}

type recSession struct {
	r  *recorder
	to []string
}

func (s *recSession) Reset() { s.to = nil }

// AuthMechanisms offers AUTH PLAIN when the recorder has an account.
func (s *recSession) AuthMechanisms() []string {
	if s.r.user == "" {
		return nil
	}
	return []string{sasl.Plain}
}

func (s *recSession) Auth(string) (sasl.Server, error) {
	return sasl.NewPlainServer(func(_, user, password string) error {
		if user != s.r.user || password != s.r.password {
			return errors.New("535 wrong user name or password")
		}
		return nil
	}), nil
}
func (s *recSession) Logout() error                          { return nil }
func (s *recSession) Mail(string, *gosmtp.MailOptions) error { return nil }
func (s *recSession) Rcpt(to string, _ *gosmtp.RcptOptions) error {
	s.to = append(s.to, to)
	return nil
}
func (s *recSession) Data(rd io.Reader) error {
	b, err := io.ReadAll(rd)
	if err != nil {
		return err
	}
	s.r.mu.Lock()
	s.r.got = append(s.r.got, "To: "+strings.Join(s.to, ",")+"\n"+string(b))
	s.r.mu.Unlock()
	s.r.note <- struct{}{}
	return nil
}

// received reports whether a message containing mark reached the recorder.
func (r *recorder) received(mark string) bool {
	r.mu.Lock()
	defer r.mu.Unlock()
	for _, m := range r.got {
		if strings.Contains(m, mark) {
			return true
		}
	}
	return false
}

// clientAddr is the Client Frontend's address (STARTTLS, then AUTH).
func clientAddr(t *testing.T, d *daemon) string {
	t.Helper()
	cfg, err := config.Read(d.cfgPath)
	if err != nil {
		t.Fatal(err)
	}
	for _, rc := range cfg.ReceiveConnectors {
		if strings.HasPrefix(rc.Name, "Client Frontend") {
			return rc.Bindings[0].String()
		}
	}
	t.Fatal("no Client Frontend connector")
	return ""
}

// submit logs on to the Client Frontend as user after STARTTLS and, when
// to is not empty, sends one message. It returns the first error.
func submit(t *testing.T, addr, user, password, to, body string) error {
	t.Helper()
	c, err := smtp.Dial(addr)
	if err != nil {
		return err
	}
	defer c.Close()
	if err := c.Hello("client.contoso.com"); err != nil {
		return err
	}
	if err := c.StartTLS(&tls.Config{InsecureSkipVerify: true}); err != nil { // the store's self-signed certificate
		return err
	}
	if err := c.Auth(smtp.PlainAuth("", user, password, "127.0.0.1")); err != nil {
		return err
	}
	if to == "" {
		return c.Quit()
	}
	if err := c.Mail(user); err != nil {
		return err
	}
	if err := c.Rcpt(to); err != nil {
		return err
	}
	w, err := c.Data()
	if err != nil {
		return err
	}
	io.WriteString(w, "From: "+user+"\r\nTo: "+to+"\r\nSubject: through the smart host\r\n\r\n"+body+"\r\n")
	if err := w.Close(); err != nil {
		return err
	}
	return c.Quit()
}

func signInBrowser(t *testing.T, ctx context.Context, d *daemon) {
	t.Helper()
	run(t, ctx, "sign in",
		chromedp.Navigate(d.base+"/"),
		chromedp.WaitVisible(`#username`),
		chromedp.SendKeys(`#username`, "alice"),
		chromedp.SendKeys(`#password`, alicePassword),
		chromedp.Click(`#signin`),
		chromedp.WaitVisible(`#cmdlog`)) // on every page after sign-in (the landing page is the dashboard)
}

// TestBrowserSendConnectorSmartHost creates a smart-host send connector
// in chromium pointing at an in-test SMTP server, tests the smart host
// (success) and a closed port (failure), and sees a message submitted to
// the daemon leave through the connector.
func TestBrowserSendConnectorSmartHost(t *testing.T) {
	ctx := browser(t)
	d := startDaemon(t)
	rec := startRecorder(t, "", "")
	closed := "127.0.0.1:" + itoa(freePort(t))
	smartHost := "[127.0.0.1]:" + strings.TrimPrefix(rec.addr, "127.0.0.1:")
	signInBrowser(t, ctx, d)

	var text string
	run(t, ctx, "new send connector",
		chromedp.Navigate(d.base+"/send"),
		chromedp.WaitVisible(`#new-send-connector`),
		followLink(`#new-send-connector`),
		chromedp.WaitVisible(`#new-form`),
		chromedp.SendKeys(`#name`, "To the smart host"),
		chromedp.Click(`#routing-smarthost`),
		chromedp.SetValue(`#addressspaces`, "*"),
		chromedp.SetValue(`#smarthosts`, smartHost),
		chromedp.Click(`#save`),
		chromedp.WaitVisible(`section.result.ok`),
		chromedp.Text(`main`, &text))
	if want := "New-SendConnector -Name 'To the smart host' -Usage 'Custom' -AddressSpaces '*' -SmartHosts '" + smartHost + "'"; !strings.Contains(text, want) {
		t.Fatalf("the page does not show the shell line %s:\n%s", want, text)
	}

	run(t, ctx, "test this smart host",
		chromedp.WaitVisible(`#test-smarthost`),
		chromedp.Click(`#test-smarthost`),
		chromedp.WaitVisible(`#test-result`),
		chromedp.Text(`#test-result`, &text))
	if !strings.Contains(text, "passed") || !strings.Contains(text, "PASS") || strings.Contains(text, "FAIL") {
		t.Fatalf("testing the in-test smart host:\n%s", text)
	}
	screenshot(t, ctx, "send-connector")
	run(t, ctx, "test a closed port",
		chromedp.SetValue(`#testhost`, closed),
		chromedp.Click(`#test-smarthost`),
		chromedp.WaitVisible(`#test-result.failed`),
		chromedp.Text(`#test-result`, &text))
	if !strings.Contains(text, "failed") || !strings.Contains(text, "FAIL") || !strings.Contains(text, "TCP connect") {
		t.Fatalf("testing a closed port:\n%s", text)
	}

	if err := submit(t, clientAddr(t, d), "alice@contoso.com", alicePassword, "friend@fabrikam.com", "mark-smarthost-1"); err != nil {
		t.Fatal(err)
	}
	waitFor(t, "the message at the smart host", func() bool { return rec.received("mark-smarthost-1") })
	if !rec.received("To: friend@fabrikam.com") {
		t.Errorf("the smart host got the message for other recipients: %q", rec.got)
	}

	run(t, ctx, "TLS settings and a credential",
		chromedp.Navigate(d.base+"/send/edit?id=To+the+smart+host"),
		chromedp.WaitVisible(`#f-RequireTLS`),
		chromedp.SetValue(`#f-SmartHostAuthMechanism`, "BasicAuth"),
		chromedp.SendKeys(`#credentialuser`, "relayuser"),
		chromedp.SendKeys(`#credentialpassword`, "SmartHostSecret!1"),
		chromedp.Click(`#save`),
		chromedp.WaitVisible(`section.result.ok`),
		chromedp.Text(`main`, &text))
	if want := "Set-SendConnector -Identity 'To the smart host' -SmartHostAuthMechanism 'BasicAuth' -AuthenticationCredential 'relayuser' -Password -"; !strings.Contains(text, want) {
		t.Errorf("the page does not show %s:\n%s", want, text)
	}
	if strings.Contains(text, "SmartHostSecret") {
		t.Error("the password shows on the page")
	}
	cfg, err := config.Read(d.cfgPath)
	if err != nil {
		t.Fatal(err)
	}
	es, err := manage.SearchAudit(manage.AuditFile(cfg), manage.AuditFilter{Cmdlets: []string{"Set-SendConnector", "New-SendConnector"}})
	if err != nil || len(es) != 2 {
		t.Fatalf("audit log: %+v %v", es, err)
	}
	for _, e := range es {
		if strings.Contains(e.CommandLine, "SmartHostSecret") {
			t.Errorf("the password is in the audit log: %s", e.CommandLine)
		}
	}
	m := &manage.Manager{ConfigPath: d.cfgPath}
	full, err := m.Load()
	if err != nil {
		t.Fatal(err)
	}
	if sc := full.SendConnectors[0]; sc.AuthenticationCredential.UserName != "relayuser" || sc.AuthenticationCredential.Password != "SmartHostSecret!1" {
		t.Errorf("credential saved: %+v", sc.AuthenticationCredential)
	}
}

// TestBrowserCertificatesDomainsMailboxes creates a self-signed
// certificate and sees its expiry in the list; creates an accepted domain
// and sees a real RCPT to it accepted; creates a mailbox, resets its
// password and sees SMTP AUTH take the new password and refuse the old.
func TestBrowserCertificatesDomainsMailboxes(t *testing.T) {
	ctx := browser(t)
	d := startDaemon(t)
	noTarpit(t, d)
	client := clientAddr(t, d)
	signInBrowser(t, ctx, d)
	var text string

	run(t, ctx, "new self-signed certificate",
		chromedp.Navigate(d.base+"/certificates"),
		chromedp.WaitVisible(`#new-certificate`),
		followLink(`#new-certificate`),
		chromedp.WaitVisible(`#new-form`),
		chromedp.Click(`#kind-selfsigned`),
		chromedp.SendKeys(`#subjectname`, "CN=smtp.contoso.com"),
		chromedp.SetValue(`#domainname`, "smtp.contoso.com\nmail.contoso.com"),
		chromedp.Click(`#save`),
		chromedp.WaitVisible(`section.result.ok`),
		chromedp.Text(`#certificates`, &text))
	if !strings.Contains(text, "CN=smtp.contoso.com") || !strings.Contains(text, "days left") {
		t.Fatalf("the new certificate is not listed with its expiry:\n%s", text)
	}
	for _, line := range strings.Split(text, "\n") {
		if strings.Contains(line, "CN=smtp.contoso.com") && !strings.Contains(line, "days left") {
			t.Errorf("no expiry on the certificate's row: %s", line)
		}
	}
	if !strings.Contains(text, "receive: Default Frontend MAIL") {
		t.Errorf("the list does not say which connector serves the server's certificate:\n%s", text)
	}
	screenshot(t, ctx, "certificates")

	run(t, ctx, "new mailbox",
		chromedp.Navigate(d.base+"/mailboxes"),
		chromedp.WaitVisible(`#new-mailbox`),
		followLink(`#new-mailbox`),
		chromedp.WaitVisible(`#new-form`),
		chromedp.SendKeys(`#name`, "bob"),
		chromedp.SendKeys(`#address`, "bob@contoso.com"),
		chromedp.SendKeys(`#password`, "Old-Pa55word"),
		chromedp.Click(`#save`),
		chromedp.WaitVisible(`#password-form`))
	if code := rcpt(t, "127.0.0.1", d.smtpAddr, "someone@fabrikam.net"); code != 550 {
		t.Fatalf("RCPT to fabrikam.net before it is an accepted domain: %d, want 550", code)
	}
	run(t, ctx, "new accepted domain",
		chromedp.Navigate(d.base+"/domains"),
		chromedp.WaitVisible(`#new-domain`),
		chromedp.SendKeys(`#domainname`, "fabrikam.net"),
		chromedp.Click(`#type-InternalRelay`),
		chromedp.Click(`#save`),
		chromedp.WaitVisible(`section.result.ok`),
		chromedp.Text(`main`, &text))
	if want := "New-AcceptedDomain -Name 'fabrikam.net' -DomainName 'fabrikam.net' -DomainType 'InternalRelay'"; !strings.Contains(text, want) {
		t.Fatalf("the page does not show %s:\n%s", want, text)
	}
	screenshot(t, ctx, "accepted-domains")

	// The domain, created after bob, is the sign that the daemon has read
	// the configuration with bob in it.
	waitFor(t, "RCPT to the new accepted domain", func() bool { return rcpt(t, "127.0.0.1", d.smtpAddr, "someone@fabrikam.net") == 250 })
	if err := submit(t, client, "bob@contoso.com", "Old-Pa55word", "", ""); err != nil {
		t.Fatalf("AUTH with the first password: %v", err)
	}
	edit := d.base + "/mailboxes/edit?id=bob"
	run(t, ctx, "reset the password",
		chromedp.Navigate(edit), // no result on the page: the next one is the reset's
		chromedp.WaitVisible(`#password-form`),
		chromedp.SendKeys(`#password`, "New-Pa55word"),
		chromedp.Click(`#reset-password`),
		chromedp.WaitVisible(`section.result.ok`),
		chromedp.Navigate(edit),
		chromedp.WaitVisible(`#address-form`),
		chromedp.SendKeys(`#newaddress`, "robert@fabrikam.net"),
		chromedp.Click(`#add-address`),
		chromedp.WaitVisible(`section.result.ok`),
		chromedp.Text(`main`, &text))
	if !strings.Contains(text, "robert@fabrikam.net") {
		t.Errorf("the added address is not shown:\n%s", text)
	}
	screenshot(t, ctx, "mailbox")
	run(t, ctx, "command log", chromedp.Click(`#cmdlog summary`), chromedp.Text(`#cmdlog`, &text))
	for _, want := range []string{"Set-Mailbox -Identity 'bob' -Password -", "Set-Mailbox -Identity 'bob' -EmailAddresses @{Add='robert@fabrikam.net'}",
		"New-Mailbox -Name 'bob' -PrimarySmtpAddress 'bob@contoso.com' -Password -"} {
		if !strings.Contains(text, want) {
			t.Errorf("the command log lacks %s:\n%s", want, text)
		}
	}
	if strings.Contains(text, "Pa55word") {
		t.Errorf("a password is in the command log:\n%s", text)
	}
	// Removing the domain is the sign that the daemon has read the new password.
	run(t, ctx, "remove the accepted domain",
		chromedp.Navigate(d.base+"/domains"),
		chromedp.WaitVisible(`#domains`),
		chromedp.Evaluate(`window.confirm = () => true`, nil),
		chromedp.Click(`button[aria-label="Remove fabrikam.net"]`),
		chromedp.WaitVisible(`section.result.ok`))
	waitFor(t, "RCPT to the removed domain refused", func() bool { return rcpt(t, "127.0.0.1", d.smtpAddr, "someone@fabrikam.net") == 550 })
	if err := submit(t, client, "bob@contoso.com", "New-Pa55word", "", ""); err != nil {
		t.Errorf("AUTH with the new password: %v", err)
	}
	if err := submit(t, client, "bob@contoso.com", "Old-Pa55word", "", ""); err == nil || !strings.Contains(err.Error(), "535") {
		t.Errorf("AUTH with the old password: %v, want 535", err)
	}
}

// noTarpit turns off the 5 s delay of refusals and failed AUTH replies on
// the daemon's connectors (the test sees refusals on purpose) and waits
// until the daemon greets with the banner set in the same change.
func noTarpit(t *testing.T, d *daemon) {
	t.Helper()
	m := &manage.Manager{ConfigPath: d.cfgPath}
	if _, err := m.SetConnectorsEach([]string{"*"}, manage.Params{{Name: "TarpitInterval", Value: "00:00:00"}, {Name: "AuthTarpitInterval", Value: "00:00:00"}}); err != nil {
		t.Fatal(err)
	}
	if _, err := m.SetConnectorsEach([]string{"Default Frontend MAIL"}, manage.Params{{Name: "Banner", Value: "220 mail.contoso.com no tarpit"}}); err != nil {
		t.Fatal(err)
	}
	waitFor(t, "the connectors without tarpit", func() bool { return strings.Contains(greeting(t, d.smtpAddr), "no tarpit") })
}

// TestRolesOnTheNewPages: View-Only Organization Management reads and may
// not change; Recipient Management changes mailboxes and nothing else.
func TestRolesOnTheNewPages(t *testing.T) {
	d := startDaemon(t)
	m := &manage.Manager{ConfigPath: d.cfgPath}
	for _, u := range []struct{ name, group string }{{"viewer", config.RoleViewOnlyOrganizationManagement}, {"helpdesk", config.RoleRecipientManagement}} {
		if _, err := m.NewMailbox(manage.Params{{Name: "Name", Value: u.name}, {Name: "PrimarySmtpAddress", Value: u.name + "@contoso.com"}, {Name: "Password", Value: alicePassword}}, nil); err != nil {
			t.Fatal(err)
		}
		if _, err := m.AddRoleGroupMember(u.group, u.name); err != nil {
			t.Fatal(err)
		}
	}
	try := func(user, path string, form url.Values) (int, int) {
		c := client(t)
		waitFor(t, user+" signed in", func() bool {
			resp, _ := signIn(t, d, c, user, alicePassword)
			return resp.StatusCode == http.StatusSeeOther
		})
		code, page := get(t, c, d.base+path)
		mm := csrfRE.FindStringSubmatch(page)
		if mm == nil {
			return code, 0
		}
		form.Set("csrf", mm[1])
		resp, _ := post(t, c, d.base+path, form, sameSite)
		return code, resp.StatusCode
	}
	newDomain := url.Values{"domainname": {"tailspintoys.com"}, "domaintype": {"Authoritative"}}
	if g, p := try("viewer", "/domains", newDomain); g != 200 || p != http.StatusForbidden {
		t.Errorf("View-Only on /domains: GET %d POST %d, want 200 and 403", g, p)
	}
	if g, p := try("helpdesk", "/mailboxes/edit?id=viewer", url.Values{"id": {"viewer"}, "action": {"addaddress"}, "address": {"v2@contoso.com"}}); g != 200 || p != http.StatusSeeOther {
		t.Errorf("Recipient Management on a mailbox: GET %d POST %d, want 200 and 303", g, p)
	}
	if g, _ := try("helpdesk", "/send", url.Values{}); g != http.StatusForbidden {
		t.Errorf("Recipient Management on /send: GET %d, want 403", g)
	}
	// The landing page is the first page their role groups show (the
	// mailboxes), not the dashboard they may not read.
	hc := client(t)
	waitFor(t, "helpdesk signed in", func() bool {
		resp, _ := signIn(t, d, hc, "helpdesk", alicePassword)
		return resp.StatusCode == http.StatusSeeOther
	})
	if resp, err := hc.Get(d.base + "/"); err != nil {
		t.Fatal(err)
	} else {
		resp.Body.Close()
		if loc := resp.Header.Get("Location"); !strings.HasSuffix(loc, "/mailboxes") {
			t.Errorf("Recipient Management signing in: / sends to %q, want the mailboxes", loc)
		}
	}
	cfg, err := config.Read(d.cfgPath)
	if err != nil {
		t.Fatal(err)
	}
	if len(cfg.AcceptedDomains) != 1 {
		t.Errorf("View-Only added a domain: %+v", cfg.AcceptedDomains)
	}
	if mb := cfg.FindMailbox("viewer@contoso.com"); mb == nil || len(mb.EmailAddresses) != 1 {
		t.Errorf("Recipient Management's address change: %+v", mb)
	}
}

// TestSmartHostTestLogsOnWithTheCredential: the "test this smart host"
// button logs on with the connector's AuthenticationCredential, and a
// wrong password fails the test.
func TestSmartHostTestLogsOnWithTheCredential(t *testing.T) {
	d := startDaemon(t)
	rec := startRecorder(t, "relayuser", "Right-Pa55")
	m := &manage.Manager{ConfigPath: d.cfgPath}
	host := "[127.0.0.1]:" + strings.TrimPrefix(rec.addr, "127.0.0.1:")
	stdin := func(pw string) func() (string, error) { return func() (string, error) { return pw, nil } }
	if _, err := m.NewSendConnector(manage.Params{{Name: "Name", Value: "Relay"}, {Name: "AddressSpaces", Value: "*"}, {Name: "SmartHosts", Value: host},
		{Name: "SmartHostAuthMechanism", Value: "BasicAuth"}, {Name: "AuthenticationCredential", Value: "relayuser"}, {Name: "Password", Value: "-"}}, stdin("Right-Pa55")); err != nil {
		t.Fatal(err)
	}
	c := client(t)
	if resp, _ := signIn(t, d, c, "alice", alicePassword); resp.StatusCode != http.StatusSeeOther {
		t.Fatalf("sign-in: %d", resp.StatusCode)
	}
	test := func() string {
		edit := d.base + "/send/edit?id=Relay"
		_, page := get(t, c, edit)
		mm := csrfRE.FindStringSubmatch(page)
		resp, body := post(t, c, edit, url.Values{"csrf": {mm[1]}, "id": {"Relay"}, "action": {"test"}, "testhost": {host}}, sameSite)
		if resp.StatusCode != http.StatusOK {
			t.Fatalf("test: %d", resp.StatusCode)
		}
		return body
	}
	if body := test(); !strings.Contains(body, "PASS  AUTH") || !strings.Contains(body, "logged on as relayuser") || strings.Contains(body, "FAIL") {
		t.Fatalf("the test with the right password:\n%s", body)
	}
	if _, err := m.SetSendConnectors("Relay", manage.Params{{Name: "AuthenticationCredential", Value: "relayuser"}, {Name: "Password", Value: "-"}}, stdin("Wrong-Pa55")); err != nil {
		t.Fatal(err)
	}
	if body := test(); !strings.Contains(body, "FAIL  AUTH") || !strings.Contains(body, "smart host failed the test") {
		t.Fatalf("the test with a wrong password:\n%s", body)
	}
}
