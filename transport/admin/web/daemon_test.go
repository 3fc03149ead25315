package web_test

import (
	"context"
	"crypto/tls"
	"io"
	"log/slog"
	"net"
	"net/http"
	"net/http/cookiejar"
	"net/netip"
	"net/textproto"
	"net/url"
	"os"
	"path/filepath"
	"regexp"
	"strconv"
	"strings"
	"testing"
	"time"

	"github.com/transportd/transportd/transport/admin/config"
	"github.com/transportd/transportd/transport/admin/manage"
	"github.com/transportd/transportd/transport/service"
)

// These tests run the real daemon (service.Run) with the admin center on
// a loopback port and speak HTTPS and SMTP to it over TCP.

const alicePassword = "Pa55word!alice"

type daemon struct {
	cfgPath  string
	base     string // https://127.0.0.1:PORT/ecp
	smtpAddr string // the Default Frontend connector
	adminIP  string
}

func freePort(t *testing.T) int {
	t.Helper()
	l, err := net.Listen("tcp4", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	defer l.Close()
	return l.Addr().(*net.TCPAddr).Port
}

// startDaemon starts transportd on a fresh configuration (server MAIL,
// mail.contoso.com) with the mailbox alice in Organization Management.
// setup, when given, changes the configuration before the daemon starts.
func startDaemon(t *testing.T, setup ...func(m *manage.Manager)) *daemon {
	t.Helper()
	dir := t.TempDir()
	path := filepath.Join(dir, "transportd.yaml")
	if err := os.WriteFile(path, []byte("Server:\n  Name: MAIL\n  Fqdn: mail.contoso.com\n"), 0o640); err != nil {
		t.Fatal(err)
	}
	d := &daemon{cfgPath: path}
	def := config.Defaults("mail.contoso.com")
	adminPort := freePort(t)
	d.base = "https://127.0.0.1:" + itoa(adminPort) + "/ecp"
	if _, err := config.Update(path, func(c *config.Config) error {
		c.ReceiveConnectors, c.AcceptedDomains = def.ReceiveConnectors, def.AcceptedDomains
		for i := range c.ReceiveConnectors {
			p := freePort(t)
			c.ReceiveConnectors[i].Bindings = []netip.AddrPort{netip.AddrPortFrom(netip.MustParseAddr("127.0.0.1"), uint16(p))}
			if i == 0 {
				d.smtpAddr = c.ReceiveConnectors[i].Bindings[0].String()
			}
		}
		c.Logging.MetricsAddress = ""
		c.ClientSettings.HttpBindings = nil
		c.AdminCenter.InternalUrl = d.base
		return nil
	}); err != nil {
		t.Fatal(err)
	}
	m := &manage.Manager{ConfigPath: path}
	if _, err := m.NewMailbox(manage.Params{{Name: "Name", Value: "alice"}, {Name: "PrimarySmtpAddress", Value: "alice@contoso.com"}, {Name: "Password", Value: alicePassword}}, nil); err != nil {
		t.Fatal(err)
	}
	if _, err := m.AddRoleGroupMember(config.RoleOrganizationManagement, "alice"); err != nil {
		t.Fatal(err)
	}
	for _, f := range setup {
		f(m)
	}
	svc, err := service.Open(context.Background(), path, slog.New(slog.DiscardHandler))
	if err != nil {
		t.Fatal(err)
	}
	ctx, cancel := context.WithCancel(context.Background())
	done := make(chan struct{})
	go func() { defer close(done); svc.Run(ctx) }()
	t.Cleanup(func() { cancel(); <-done })
	// The admin center listens once Run has applied the configuration.
	waitFor(t, "the admin center listening", func() bool {
		c, err := net.Dial("tcp", "127.0.0.1:"+itoa(adminPort))
		if err == nil {
			c.Close()
		}
		return err == nil
	})
	return d
}

func itoa(n int) string { return strconv.Itoa(n) }

// waitFor polls cond (each try returns at once) until it holds or 10 s pass.
func waitFor(t *testing.T, what string, cond func() bool) {
	t.Helper()
	deadline := time.Now().Add(10 * time.Second)
	for !cond() {
		if time.Now().After(deadline) {
			t.Fatalf("timed out waiting for %s", what)
		}
		time.Sleep(20 * time.Millisecond)
	}
}

// client is a browser-like HTTPS client with a cookie jar. It sends
// Sec-Fetch-Site: same-origin as browsers do for the admin center's own forms.
func client(t *testing.T) *http.Client {
	t.Helper()
	jar, _ := cookiejar.New(nil)
	return &http.Client{Jar: jar, Timeout: 30 * time.Second,
		Transport:     &http.Transport{TLSClientConfig: &tls.Config{InsecureSkipVerify: true}}, // the self-signed certificate of the store; checked in TestServedCertificate
		CheckRedirect: func(*http.Request, []*http.Request) error { return http.ErrUseLastResponse }}
}

var csrfRE = regexp.MustCompile(`name="csrf" value="([^"]+)"`)

func get(t *testing.T, c *http.Client, u string) (int, string) {
	t.Helper()
	resp, err := c.Get(u)
	if err != nil {
		t.Fatal(err)
	}
	defer resp.Body.Close()
	b, _ := io.ReadAll(resp.Body)
	return resp.StatusCode, string(b)
}

func post(t *testing.T, c *http.Client, u string, form url.Values, hdr map[string]string) (*http.Response, string) {
	t.Helper()
	req, _ := http.NewRequest(http.MethodPost, u, strings.NewReader(form.Encode()))
	req.Header.Set("Content-Type", "application/x-www-form-urlencoded")
	for k, v := range hdr {
		req.Header.Set(k, v)
	}
	resp, err := c.Do(req)
	if err != nil {
		t.Fatal(err)
	}
	defer resp.Body.Close()
	b, _ := io.ReadAll(resp.Body)
	return resp, string(b)
}

var sameSite = map[string]string{"Sec-Fetch-Site": "same-origin"}

func signIn(t *testing.T, d *daemon, c *http.Client, user, password string) (*http.Response, string) {
	t.Helper()
	_, page := get(t, c, d.base+"/signin")
	m := csrfRE.FindStringSubmatch(page)
	if m == nil {
		t.Fatalf("sign-in page without a CSRF token:\n%s", page)
	}
	return post(t, c, d.base+"/signin", url.Values{"csrf": {m[1]}, "username": {user}, "password": {password}, "next": {"/ecp/"}}, sameSite)
}

func TestSignInWrongPasswordAndCSRF(t *testing.T) {
	d := startDaemon(t)
	c := client(t)
	if code, _ := get(t, c, d.base+"/receive"); code != http.StatusSeeOther {
		t.Fatalf("a page without a session: %d, want a redirect to sign in", code)
	}
	resp, body := signIn(t, d, c, "alice", "wrong")
	if resp.StatusCode != http.StatusUnauthorized || !strings.Contains(body, "user name or password is wrong") {
		t.Fatalf("wrong password: %d\n%s", resp.StatusCode, body)
	}
	for _, ck := range c.Jar.Cookies(mustURL(d.base)) {
		if ck.Name == "__Host-ecp-session" {
			t.Fatal("a session cookie after a wrong password")
		}
	}
	resp, _ = signIn(t, d, c, "alice", alicePassword)
	if resp.StatusCode != http.StatusSeeOther {
		t.Fatalf("sign-in: %d", resp.StatusCode)
	}
	var session string
	for _, h := range resp.Header.Values("Set-Cookie") {
		if strings.HasPrefix(h, "__Host-ecp-session=") {
			session = h
		}
	}
	for _, attr := range []string{"Secure", "HttpOnly", "SameSite=Strict", "Path=/"} {
		if !strings.Contains(session, attr) {
			t.Errorf("session cookie %q lacks %s", session, attr)
		}
	}
	code, page := get(t, c, d.base+"/receive/edit?id=Default+Frontend+MAIL&tab=general")
	m := csrfRE.FindStringSubmatch(page)
	if code != http.StatusOK || m == nil {
		t.Fatalf("edit page: %d\n%s", code, page)
	}
	form := url.Values{"id": {"Default Frontend MAIL"}, "tab": {"general"}, "Name": {"Default Frontend MAIL"}, "Enabled": {"on"},
		"Bindings": {d.smtpAddr}, "Fqdn": {"forged.contoso.com"}}
	edit := d.base + "/receive/edit?id=Default+Frontend+MAIL&tab=general"
	for _, tc := range []struct {
		name string
		csrf string
		hdr  map[string]string
	}{
		{"no token", "", sameSite},
		{"wrong token", "x" + m[1], sameSite},
		{"another site's Origin", m[1], map[string]string{"Origin": "https://evil.example"}},
		{"cross-site fetch", m[1], map[string]string{"Sec-Fetch-Site": "cross-site"}},
	} {
		f := url.Values{}
		for k, v := range form {
			f[k] = v
		}
		if tc.csrf != "" {
			f.Set("csrf", tc.csrf)
		}
		resp, body := post(t, c, edit, f, tc.hdr)
		if resp.StatusCode != http.StatusForbidden {
			t.Errorf("%s: %d, want 403\n%s", tc.name, resp.StatusCode, body)
		}
	}
	cfg, err := config.Read(d.cfgPath)
	if err != nil {
		t.Fatal(err)
	}
	if got := cfg.ReceiveConnectors[0].Fqdn; got != "mail.contoso.com" {
		t.Fatalf("a refused post changed the FQDN to %s", got)
	}
	es, err := manage.SearchAudit(manage.AuditFile(cfg), manage.AuditFilter{})
	if err != nil || len(es) != 0 {
		t.Fatalf("refused posts in the audit log: %v %v", es, err)
	}
}

func mustURL(s string) *url.URL {
	u, err := url.Parse(s)
	if err != nil {
		panic(err)
	}
	return u
}

// TestSetFqdnShowsInEHLOAndAuditLog changes a connector's FQDN on the
// general tab and sees the new name in a real SMTP greeting, the shell line
// in the command log and the change in the admin audit log.
func TestSetFqdnShowsInEHLOAndAuditLog(t *testing.T) {
	d := startDaemon(t)
	c := client(t)
	if resp, _ := signIn(t, d, c, "alice@contoso.com", alicePassword); resp.StatusCode != http.StatusSeeOther {
		t.Fatalf("sign-in: %d", resp.StatusCode)
	}
	edit := d.base + "/receive/edit?id=Default+Frontend+MAIL&tab=general"
	_, page := get(t, c, edit)
	m := csrfRE.FindStringSubmatch(page)
	values := url.Values{"csrf": {m[1]}, "id": {"Default Frontend MAIL"}, "tab": {"general"}}
	for _, f := range regexp.MustCompile(`<input id="f-(\w+)" name="(\w+)" value="([^"]*)"`).FindAllStringSubmatch(page, -1) {
		values.Set(f[2], htmlUnescape(f[3]))
	}
	values.Set("Enabled", "on")
	values.Set("Bindings", d.smtpAddr)
	values.Set("Fqdn", "relay.contoso.com")
	resp, body := post(t, c, edit, values, sameSite)
	if resp.StatusCode != http.StatusSeeOther {
		t.Fatalf("save: %d\n%s", resp.StatusCode, body)
	}
	_, page = get(t, c, mustURL(d.base).ResolveReference(mustURL(resp.Header.Get("Location"))).String())
	want := "Set-ReceiveConnector -Identity &#39;Default Frontend MAIL&#39; -Fqdn &#39;relay.contoso.com&#39;"
	if !strings.Contains(page, `<code class="line">`+want+`</code>`) {
		t.Errorf("the result does not show the shell line %s:\n%s", want, page)
	}
	if !strings.Contains(page, "<li class=\"ok\"><time>") || !strings.Contains(page[strings.Index(page, "Show Command Logging"):], want) {
		t.Errorf("the command log does not list the line:\n%s", page)
	}
	waitFor(t, "the greeting with the new FQDN", func() bool {
		return strings.Contains(greeting(t, d.smtpAddr), "relay.contoso.com")
	})
	cfg, _ := config.Read(d.cfgPath)
	es, err := manage.SearchAudit(manage.AuditFile(cfg), manage.AuditFilter{Cmdlets: []string{"Set-ReceiveConnector"}, UserIds: []string{"alice"}})
	if err != nil || len(es) != 1 {
		t.Fatalf("audit log: %v %v", es, err)
	}
	if e := es[0]; e.CommandLine != "Set-ReceiveConnector -Identity 'Default Frontend MAIL' -Fqdn 'relay.contoso.com'" || !e.Succeeded || e.ClientIP != "127.0.0.1" || e.Source != "AdminCenter" {
		t.Errorf("audit entry %+v", e)
	}
	_, page = get(t, c, d.base+"/audit")
	if !strings.Contains(page, "relay.contoso.com") {
		t.Errorf("the audit page does not show the change:\n%s", page)
	}
}

func htmlUnescape(s string) string {
	return strings.NewReplacer("&#39;", "'", "&#34;", `"`, "&amp;", "&", "&lt;", "<", "&gt;", ">").Replace(s)
}

// greeting returns the 220 line of the SMTP server at addr.
func greeting(t *testing.T, addr string) string {
	t.Helper()
	conn, err := textproto.Dial("tcp", addr)
	if err != nil {
		t.Fatal(err)
	}
	defer conn.Close()
	_, msg, err := conn.ReadResponse(220)
	if err != nil {
		t.Fatal(err)
	}
	conn.PrintfLine("QUIT")
	return msg
}

// TestRoleGroupsLockoutAndMove: View-Only members read but cannot change,
// Recipient Management members do not see connectors, a member taken out
// of the role group loses the open session at once, sign-ins are locked
// out like SMTP AUTH, and a new InternalUrl moves the listener.
func TestRoleGroupsLockoutAndMove(t *testing.T) {
	d := startDaemon(t, func(m *manage.Manager) {
		for _, u := range []struct{ name, group string }{{"bob", config.RoleViewOnlyOrganizationManagement}, {"carol", config.RoleRecipientManagement}} {
			if _, err := m.NewMailbox(manage.Params{{Name: "Name", Value: u.name}, {Name: "PrimarySmtpAddress", Value: u.name + "@contoso.com"}, {Name: "Password", Value: alicePassword}}, nil); err != nil {
				t.Fatal(err)
			}
			if _, err := m.AddRoleGroupMember(u.group, u.name); err != nil {
				t.Fatal(err)
			}
		}
		if _, err := config.Update(m.ConfigPath, func(c *config.Config) error {
			c.Transport.AuthFailureLockoutThreshold = 3
			return nil
		}); err != nil {
			t.Fatal(err)
		}
	})
	m := &manage.Manager{ConfigPath: d.cfgPath}
	bob := client(t)
	if resp, _ := signIn(t, d, bob, "bob", alicePassword); resp.StatusCode != http.StatusSeeOther {
		t.Fatalf("bob sign-in: %d", resp.StatusCode)
	}
	edit := d.base + "/receive/edit?id=Default+Frontend+MAIL&tab=general"
	code, page := get(t, bob, edit)
	if code != http.StatusOK || strings.Contains(page, `id="save"`) {
		t.Fatalf("View-Only: %d, and the page must have no Save button", code)
	}
	tok := csrfRE.FindStringSubmatch(page)[1]
	if resp, _ := post(t, bob, edit, url.Values{"csrf": {tok}, "Fqdn": {"x.contoso.com"}}, sameSite); resp.StatusCode != http.StatusForbidden {
		t.Errorf("View-Only POST: %d, want 403", resp.StatusCode)
	}
	carol := client(t)
	if resp, _ := signIn(t, d, carol, "carol", alicePassword); resp.StatusCode != http.StatusSeeOther {
		t.Fatalf("carol sign-in: %d", resp.StatusCode)
	}
	if code, _ := get(t, carol, d.base+"/receive"); code != http.StatusForbidden {
		t.Errorf("Recipient Management on receive connectors: %d, want 403", code)
	}
	if _, err := m.RemoveRoleGroupMember(config.RoleViewOnlyOrganizationManagement, "bob"); err != nil {
		t.Fatal(err)
	}
	waitFor(t, "bob's session refused", func() bool {
		code, _ := get(t, bob, d.base+"/receive")
		return code == http.StatusForbidden
	})

	// Three wrong passwords for alice from this address: the fourth
	// attempt is refused before the password is checked, even a right one.
	guesser := client(t)
	for i := 0; i < 3; i++ {
		if resp, _ := signIn(t, d, guesser, "alice", "guess"+itoa(i)); resp.StatusCode != http.StatusUnauthorized {
			t.Fatalf("wrong password %d: %d", i, resp.StatusCode)
		}
	}
	resp, body := signIn(t, d, guesser, "alice", alicePassword)
	if resp.StatusCode != http.StatusTooManyRequests || !strings.Contains(body, "Too many failed sign-ins") {
		t.Fatalf("after three failures: %d\n%s", resp.StatusCode, body)
	}

	// Moving the admin center: the new port serves, the old one closes.
	newPort := freePort(t)
	newBase := "https://127.0.0.1:" + itoa(newPort) + "/ecp"
	if err := m.SetEcpVirtualDirectory(manage.Params{{Name: "InternalUrl", Value: newBase}}); err != nil {
		t.Fatal(err)
	}
	waitFor(t, "the admin center on its new port", func() bool {
		resp, err := client(t).Get(newBase + "/signin")
		if err != nil {
			return false
		}
		resp.Body.Close()
		return resp.StatusCode == http.StatusOK
	})
	waitFor(t, "the old port closed", func() bool {
		_, err := client(t).Get(d.base + "/signin")
		return err != nil
	})
}

func TestPlainHTTPRefused(t *testing.T) {
	d := startDaemon(t)
	m := &manage.Manager{ConfigPath: d.cfgPath}
	err := m.SetEcpVirtualDirectory(manage.Params{{Name: "InternalUrl", Value: "http://0.0.0.0:8080/ecp"}})
	if err == nil || !strings.Contains(err.Error(), "HTTPS only") {
		t.Fatalf("plain HTTP: %v", err)
	}
	// Plain HTTP on the HTTPS port gets no page.
	resp, err := http.Get(strings.Replace(d.base, "https://", "http://", 1) + "/signin")
	if err == nil {
		b, _ := io.ReadAll(resp.Body)
		resp.Body.Close()
		if strings.Contains(string(b), "password") {
			t.Fatal("the sign-in page was served over plain HTTP")
		}
	}
}
