package clientsettings

import (
	"encoding/xml"
	"io"
	"net/http"
	"net/http/httptest"
	"net/netip"
	"strings"
	"sync/atomic"
	"testing"

	"github.com/transportd/transportd/connector"
	"github.com/transportd/transportd/transport/admin/config"
)

func testConfig() *config.Config {
	c := config.Defaults("mail.contoso.com")
	c.ReceiveConnectors[1].Bindings = []netip.AddrPort{netip.MustParseAddrPort("0.0.0.0:587")}
	c.ReceiveConnectors[1].AdvertiseClientSettings = true
	c.ClientSettings.ImapServer = "imap.contoso.com"
	return c
}

func get(t *testing.T, srv *httptest.Server, method, path, body string) (int, string, string) {
	t.Helper()
	req, _ := http.NewRequest(method, srv.URL+path, strings.NewReader(body))
	resp, err := srv.Client().Do(req)
	if err != nil {
		t.Fatal(err)
	}
	defer resp.Body.Close()
	b, _ := io.ReadAll(resp.Body)
	return resp.StatusCode, resp.Header.Get("Content-Type"), string(b)
}

func TestHandlerFollowsLiveConfig(t *testing.T) {
	var cur atomic.Pointer[config.Config]
	cur.Store(testConfig())
	srv := httptest.NewServer(Handler(cur.Load, nil)) // listens on 127.0.0.1
	defer srv.Close()

	code, ctype, body := get(t, srv, "GET", PathAutoconfig, "")
	if code != 200 || !strings.HasPrefix(ctype, "text/xml") || !strings.Contains(body, "<hostname>mail.contoso.com</hostname>") {
		t.Fatalf("autoconfig: %d %s\n%s", code, ctype, body)
	}

	// A new configuration applies to the next request.
	c := testConfig()
	c.ReceiveConnectors[1].Fqdn = "smtp.contoso.com"
	cur.Store(c)
	if _, _, body := get(t, srv, "GET", PathAutoconfig, ""); !strings.Contains(body, "<hostname>smtp.contoso.com</hostname>") {
		t.Errorf("after the change:\n%s", body)
	}

	// Disabled connectors do not count.
	c = testConfig()
	c.ReceiveConnectors[1].Enabled = false
	cur.Store(c)
	for _, p := range []string{PathAutoconfig, PathAutoconfigWellKnown, PathAutodiscover, PathMobileConfig + "?email=a@contoso.com"} {
		code, ctype, body := get(t, srv, "GET", p, "")
		if code != 404 || !strings.HasPrefix(ctype, "text/plain") || !strings.Contains(body, "AdvertiseClientSettings") {
			t.Errorf("%s without an advertising connector: %d %s %q", p, code, ctype, body)
		}
	}

	// No incoming server: autoconfig and the profile say what to set.
	c = testConfig()
	c.ClientSettings.ImapServer = ""
	cur.Store(c)
	for _, p := range []string{PathAutoconfig, PathMobileConfig + "?email=a@contoso.com"} {
		if code, _, body := get(t, srv, "GET", p, ""); code != 404 || !strings.Contains(body, "ImapServer") {
			t.Errorf("%s without IMAP/POP: %d %q", p, code, body)
		}
	}
	// Autodiscover still gives the SMTP settings.
	if code, _, body := get(t, srv, "GET", PathAutodiscover, ""); code != 200 || !strings.Contains(body, "<Type>SMTP</Type>") || strings.Contains(body, "IMAP") {
		t.Errorf("autodiscover SMTP only: %d\n%s", code, body)
	}
}

func TestHandlerRefusals(t *testing.T) {
	cfg := testConfig()
	srv := httptest.NewServer(Handler(func() *config.Config { return cfg }, nil))
	defer srv.Close()
	for _, tc := range []struct {
		method, path, body string
		code               int
		want               string
	}{
		{"GET", PathMobileConfig + "?email=Alice%20%3Ca@b.c%3E", "", 400, "is not an e-mail address"},
		{"GET", PathMobileConfig + "?email=", "", 400, "no e-mail address"},
		{"POST", PathAutodiscover, `<Autodiscover xmlns="http://schemas.microsoft.com/exchange/autodiscover/mobilesync/requestschema/2006"><Request><EMailAddress>a@contoso.com</EMailAddress><AcceptableResponseSchema>http://schemas.microsoft.com/exchange/autodiscover/mobilesync/responseschema/2006</AcceptableResponseSchema></Request></Autodiscover>`, 200, "<ErrorCode>600</ErrorCode>"},
		{"POST", PathAutodiscover, `<Autodiscover><Request><EMailAddress>not an address</EMailAddress></Request></Autodiscover>`, 200, "<ErrorCode>600</ErrorCode>"},
		{"POST", PathAutoconfig, "", 405, ""},
		{"GET", "/other", "", 404, ""},
	} {
		code, _, body := get(t, srv, tc.method, tc.path, tc.body)
		if code != tc.code || !strings.Contains(body, tc.want) {
			t.Errorf("%s %s: %d %q, want %d %q", tc.method, tc.path, code, body, tc.code, tc.want)
		}
	}
}

func TestForConnector(t *testing.T) {
	cfg := testConfig()
	rc := &cfg.ReceiveConnectors[0] // Default Frontend: STARTTLS, no AUTH
	s, err := For(cfg, rc)
	if err != nil {
		t.Fatal(err)
	}
	if s.SMTP.Port != 25 || s.SMTP.Socket != SocketSTARTTLS || s.SMTP.Password || s.Advertised {
		t.Errorf("Default Frontend: %+v", s)
	}
	rc.AuthMechanism = nil
	if s, _ := For(cfg, rc); s.SMTP.Socket != SocketPlain {
		t.Errorf("no Tls: socket %s", s.SMTP.Socket)
	}
	if _, err := For(cfg, &connector.ReceiveConnector{Name: "x"}); err == nil {
		t.Error("a connector without bindings gave settings")
	}
	if _, err := Advertised(config.Defaults("mail.contoso.com")); err != ErrNotAdvertised {
		t.Errorf("defaults advertise: %v", err)
	}
}

func TestDocumentsParse(t *testing.T) {
	s, err := Advertised(testConfig())
	if err != nil {
		t.Fatal(err)
	}
	ac, err := Autoconfig(s)
	if err != nil {
		t.Fatal(err)
	}
	ad, err := Autodiscover(s, "a@contoso.com")
	if err != nil {
		t.Fatal(err)
	}
	mc, err := MobileConfig(s, "a@contoso.com")
	if err != nil {
		t.Fatal(err)
	}
	for name, doc := range map[string][]byte{"autoconfig": ac, "autodiscover": ad, "mobileconfig": mc} {
		dec := xml.NewDecoder(strings.NewReader(string(doc)))
		for {
			_, err := dec.Token()
			if err == io.EOF {
				break
			}
			if err != nil {
				t.Fatalf("%s is not well-formed XML: %v\n%s", name, err, doc)
			}
		}
	}
	again, _ := MobileConfig(s, "A@contoso.com")
	uuid := nameUUID("mail", "contoso.com", "a@contoso.com")
	if !strings.Contains(string(mc), uuid) || !strings.Contains(string(again), uuid) {
		t.Error("the payload UUID is not derived from the address (case-insensitively), so a reinstall would not replace the profile")
	}
	if u := nameUUID("x"); len(u) != 36 || u[14] != '5' {
		t.Errorf("UUID %s is not a version 5 UUID", u)
	}
}
