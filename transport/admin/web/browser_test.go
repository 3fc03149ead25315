package web_test

import (
	"context"
	"crypto/tls"
	"fmt"
	"net"
	"net/smtp"
	"net/textproto"
	"os"
	"os/exec"
	"path/filepath"
	"strconv"
	"strings"
	"testing"
	"time"

	"github.com/chromedp/chromedp"

	"github.com/transportd/transportd/transport/admin/manage"
)

// The browser tests drive Debian's chromium, headless, with chromedp
// against the real daemon. A missing chromium skips them, unless
// TRANSPORTD_INTEROP=require (.ci/run), where it fails.
// TRANSPORTD_SCREENSHOTS=1 writes the screenshots of the main pages to
// docs/admin-center for the README.

func browser(t *testing.T) context.Context {
	t.Helper()
	path := ""
	for _, name := range []string{"chromium", "chromium-browser", "google-chrome"} {
		if p, err := exec.LookPath(name); err == nil {
			path = p
			break
		}
	}
	if path == "" {
		if os.Getenv("TRANSPORTD_INTEROP") == "require" {
			t.Fatal("chromium is missing: apt-get install --no-install-recommends chromium fonts-dejavu-core")
		}
		t.Skip("chromium is missing: apt-get install --no-install-recommends chromium fonts-dejavu-core")
	}
	opts := append(chromedp.DefaultExecAllocatorOptions[:],
		chromedp.ExecPath(path),
		chromedp.Flag("headless", "new"),
		chromedp.NoSandbox,                               // CI runs as root, where chromium's sandbox cannot start
		chromedp.Flag("ignore-certificate-errors", true), // the store's self-signed certificate
		chromedp.WindowSize(1280, 860),
	)
	actx, cancel := chromedp.NewExecAllocator(context.Background(), opts...)
	t.Cleanup(cancel)
	ctx, cancel2 := chromedp.NewContext(actx)
	t.Cleanup(cancel2)
	ctx, cancel3 := context.WithTimeout(ctx, 90*time.Second)
	t.Cleanup(cancel3)
	if err := chromedp.Run(ctx); err != nil {
		t.Fatalf("starting chromium: %v", err)
	}
	return ctx
}

func run(t *testing.T, ctx context.Context, what string, actions ...chromedp.Action) {
	t.Helper()
	if err := chromedp.Run(ctx, actions...); err != nil {
		t.Fatalf("%s: %v", what, err)
	}
}

// followLink opens the page the link sel points to and waits for it to
// load: a click on a link starts the navigation without waiting for it, and
// the next action could find a node of the page being replaced.
func followLink(sel string) chromedp.Action {
	return chromedp.ActionFunc(func(ctx context.Context) error {
		var href string
		var ok bool
		if err := chromedp.AttributeValue(sel, "href", &href, &ok, chromedp.ByQuery).Do(ctx); err != nil {
			return err
		}
		if !ok {
			return fmt.Errorf("%s has no href", sel)
		}
		var abs string
		if err := chromedp.Evaluate(`new URL(`+strconv.Quote(href)+`, document.baseURI).href`, &abs).Do(ctx); err != nil {
			return err
		}
		return chromedp.Navigate(abs).Do(ctx)
	})
}

// screenshot writes docs/admin-center/NAME.png when TRANSPORTD_SCREENSHOTS=1.
func screenshot(t *testing.T, ctx context.Context, name string) {
	t.Helper()
	if os.Getenv("TRANSPORTD_SCREENSHOTS") != "1" {
		return
	}
	var png []byte
	run(t, ctx, "screenshot "+name, chromedp.FullScreenshot(&png, 100))
	dir := filepath.Join("..", "..", "..", "docs", "admin-center")
	if err := os.MkdirAll(dir, 0o755); err != nil {
		t.Fatal(err)
	}
	if err := os.WriteFile(filepath.Join(dir, name+".png"), png, 0o644); err != nil {
		t.Fatal(err)
	}
}

// TestBrowserRelayFqdnAndCertificate signs in with chromium, creates the
// seed's relay restriction for one address (a Custom connector scoped to
// 127.0.0.2 that lets it relay, as "only the list below" in IIS) and sees
// a real SMTP session relay from 127.0.0.2 and not from 127.0.0.1; then
// sets the Default Frontend's FQDN and certificate and sees both in a real
// STARTTLS session; the command log shows the shell lines and the admin
// audit log has them.
func TestBrowserRelayFqdnAndCertificate(t *testing.T) {
	ctx := browser(t)
	d := startDaemon(t)
	m := &manage.Manager{ConfigPath: d.cfgPath}
	cert, err := m.NewCertFrom(manage.Params{{Name: "SubjectName", Value: "CN=mx.contoso.com"}, {Name: "DomainName", Value: "mx.contoso.com"}}, "")
	if err != nil {
		t.Fatal(err)
	}
	certName, _ := cert.Get("TlsCertificateName")
	relayPort := freePort(t)
	relayBinding := "127.0.0.1:" + itoa(relayPort)

	var text string
	run(t, ctx, "sign in with a wrong password",
		chromedp.Navigate(d.base+"/receive"), // "/" is the dashboard (issue 15)
		chromedp.WaitVisible(`#username`),
		chromedp.SendKeys(`#username`, "alice"),
		chromedp.SendKeys(`#password`, "not-the-password"),
		chromedp.Click(`#signin`),
		chromedp.WaitVisible(`#signin-error`),
		chromedp.Text(`#signin-error`, &text))
	if !strings.Contains(text, "wrong") {
		t.Fatalf("wrong password: %q", text)
	}
	screenshot(t, ctx, "sign-in")
	run(t, ctx, "sign in",
		chromedp.SetValue(`#username`, "alice"),
		chromedp.SendKeys(`#password`, alicePassword),
		chromedp.Click(`#signin`),
		chromedp.WaitVisible(`#new-connector`))
	screenshot(t, ctx, "receive-connectors")

	// New receive connector: Custom, on its own port, for one address.
	run(t, ctx, "new connector",
		followLink(`#new-connector`),
		chromedp.WaitVisible(`#new-form`),
		chromedp.SendKeys(`#name`, "Relay 127.0.0.2"),
		chromedp.Click(`#usage-Custom`),
		chromedp.SetValue(`#bindings`, relayBinding),
		chromedp.SetValue(`#remoteipranges`, "127.0.0.2"),
		chromedp.Click(`#save`),
		chromedp.WaitVisible(`section.result.ok`),
		chromedp.Click(`#tab-scoping`),
		chromedp.WaitVisible(`#relay-list`),
		chromedp.Click(`#relay-list`),
		chromedp.Click(`#save`),
		chromedp.WaitVisible(`section.result.ok`),
		chromedp.Text(`main`, &text))
	if !strings.Contains(text, `Get-ReceiveConnector -Identity 'Relay 127.0.0.2' | Add-ADPermission -User 'NT AUTHORITY\ANONYMOUS LOGON' -ExtendedRights 'Ms-Exch-SMTP-Accept-Any-Recipient'`) {
		t.Fatalf("the scoping tab did not run the seed's Add-ADPermission line:\n%s", text)
	}
	screenshot(t, ctx, "receive-connector-scoping")

	waitFor(t, "relay from 127.0.0.2", func() bool { return rcpt(t, "127.0.0.2", relayBinding, "someone@fabrikam.com") == 250 })
	if code := rcpt(t, "127.0.0.1", relayBinding, "someone@fabrikam.com"); code == 250 {
		t.Fatal("127.0.0.1, which is not on the list, may relay")
	}
	if code := rcpt(t, "127.0.0.1", d.smtpAddr, "someone@fabrikam.com"); code != 550 {
		t.Fatalf("relay through the Default Frontend from 127.0.0.1: %d, want 550", code)
	}

	// FQDN and certificate of the Default Frontend.
	run(t, ctx, "general tab",
		chromedp.Navigate(d.base+"/receive/edit?id=Default+Frontend+MAIL&tab=general"),
		chromedp.WaitVisible(`#f-Fqdn`),
		chromedp.SetValue(`#f-Fqdn`, "mx.contoso.com"),
		chromedp.Click(`#save`),
		chromedp.WaitVisible(`section.result.ok`))
	screenshot(t, ctx, "receive-connector-general")
	run(t, ctx, "security tab",
		chromedp.Click(`#tab-security`),
		chromedp.WaitVisible(`#f-TlsCertificateName`),
		chromedp.SetValue(`#f-TlsCertificateName`, certName),
		chromedp.Click(`#save`),
		chromedp.WaitVisible(`section.result.ok`),
		chromedp.Text(`#cert-status`, &text))
	if !strings.Contains(text, "mx.contoso.com") {
		t.Errorf("certificate status after the change: %q", text)
	}
	run(t, ctx, "command log",
		chromedp.Click(`#cmdlog summary`),
		chromedp.Text(`#cmdlog`, &text))
	for _, want := range []string{
		"New-ReceiveConnector -Name 'Relay 127.0.0.2' -Usage 'Custom' -Bindings '" + relayBinding + "' -RemoteIPRanges '127.0.0.2'",
		"Set-ReceiveConnector -Identity 'Default Frontend MAIL' -Fqdn 'mx.contoso.com'",
		"Set-ReceiveConnector -Identity 'Default Frontend MAIL' -TlsCertificateName '" + certName + "'",
	} {
		if !strings.Contains(text, want) {
			t.Errorf("the command log lacks %s:\n%s", want, text)
		}
	}
	screenshot(t, ctx, "receive-connector-security")

	waitFor(t, "the new name and certificate on STARTTLS", func() bool {
		g, cn := startTLS(t, d.smtpAddr)
		return strings.Contains(g, "mx.contoso.com") && cn == "mx.contoso.com"
	})

	run(t, ctx, "audit log page",
		chromedp.Navigate(d.base+"/audit"),
		chromedp.WaitVisible(`#audit`),
		chromedp.Text(`#audit`, &text))
	for _, want := range []string{"Add-ADPermission", "-Fqdn 'mx.contoso.com'", "alice", "127.0.0.1"} {
		if !strings.Contains(text, want) {
			t.Errorf("the audit page lacks %s:\n%s", want, text)
		}
	}
	screenshot(t, ctx, "admin-audit-log")
}

// rcpt opens an SMTP session from the local address from to addr and
// returns the reply code to RCPT TO:<to> (0 when the session did not get
// that far: no connector for this address).
func rcpt(t *testing.T, from, addr, to string) int {
	t.Helper()
	dialer := net.Dialer{LocalAddr: &net.TCPAddr{IP: net.ParseIP(from)}, Timeout: 5 * time.Second}
	conn, err := dialer.Dial("tcp", addr)
	if err != nil {
		return 0
	}
	defer conn.Close()
	conn.SetDeadline(time.Now().Add(20 * time.Second))
	tp := textproto.NewConn(conn)
	if _, _, err := tp.ReadResponse(220); err != nil {
		return 0
	}
	for _, cmd := range []string{"EHLO client.fabrikam.com", "MAIL FROM:<app@fabrikam.com>"} {
		id, _ := tp.Cmd("%s", cmd)
		tp.StartResponse(id)
		_, _, err := tp.ReadResponse(250)
		tp.EndResponse(id)
		if err != nil {
			return 0
		}
	}
	id, _ := tp.Cmd("RCPT TO:<%s>", to)
	tp.StartResponse(id)
	code, _, _ := tp.ReadResponse(250)
	tp.EndResponse(id)
	tp.Cmd("QUIT")
	return code
}

// startTLS returns the greeting of the server at addr and the common name
// of the certificate it serves on STARTTLS.
func startTLS(t *testing.T, addr string) (string, string) {
	t.Helper()
	c, err := smtp.Dial(addr)
	if err != nil {
		t.Fatal(err)
	}
	defer c.Close()
	if err := c.Hello("client.contoso.com"); err != nil {
		t.Fatal(err)
	}
	conn, err := textproto.Dial("tcp", addr)
	if err != nil {
		t.Fatal(err)
	}
	_, greeting, _ := conn.ReadResponse(220)
	conn.Close()
	if err := c.StartTLS(&tls.Config{InsecureSkipVerify: true}); err != nil { // the self-signed certificate is what we look at
		return greeting, ""
	}
	st, _ := c.TLSConnectionState()
	if len(st.PeerCertificates) == 0 {
		return greeting, ""
	}
	return greeting, st.PeerCertificates[0].Subject.CommonName
}
