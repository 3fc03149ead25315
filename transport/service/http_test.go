package service

import (
	"context"
	"crypto/ecdsa"
	"crypto/elliptic"
	"crypto/rand"
	"crypto/tls"
	"crypto/x509"
	"crypto/x509/pkix"
	"encoding/pem"
	"encoding/xml"
	"fmt"
	"io"
	"math/big"
	"net/http"
	"net/netip"
	"strconv"
	"strings"
	"testing"
	"time"

	"github.com/transportd/transportd/certs"
	"github.com/transportd/transportd/transport/admin/config"
	"github.com/transportd/transportd/transport/admin/manage"
	"github.com/transportd/transportd/transport/admin/selftest"
)

// startAdvertising starts a daemon whose Client Frontend advertises client
// settings on a loopback HTTP port, and returns the daemon and the base URL.
func startAdvertising(t *testing.T) (*testDaemon, string) {
	t.Helper()
	port := freePort(t)
	d := startDaemon(t, func(c *config.Config, d *testDaemon) {
		c.ReceiveConnectors[1].AdvertiseClientSettings = true
		c.ClientSettings.HttpBindings = []netip.AddrPort{netip.MustParseAddrPort(fmt.Sprintf("127.0.0.1:%d", port))}
		c.ClientSettings.ImapServer = "imap.contoso.com"
		c.ClientSettings.PopServer = "pop.contoso.com"
		c.ClientSettings.PopEncryption = config.EncryptionTLS
		c.ClientSettings.PopPort = 110
		c.ClientSettings.DisplayName = "Contoso Mail"
	})
	base := fmt.Sprintf("http://127.0.0.1:%d", port)
	deadline := time.Now().Add(10 * time.Second)
	for {
		resp, err := http.Get(base + "/mail/config-v1.1.xml")
		if err == nil {
			resp.Body.Close()
			return d, base
		}
		if time.Now().After(deadline) {
			t.Fatalf("client settings endpoint not listening: %v", err)
		}
		time.Sleep(50 * time.Millisecond) // waiting for runHTTP to open the port
	}
}

func fetch(t *testing.T, method, url, body string) (int, http.Header, string) {
	t.Helper()
	req, err := http.NewRequest(method, url, strings.NewReader(body))
	if err != nil {
		t.Fatal(err)
	}
	if body != "" {
		req.Header.Set("Content-Type", "text/xml")
	}
	resp, err := http.DefaultClient.Do(req)
	if err != nil {
		t.Fatal(err)
	}
	defer resp.Body.Close()
	b, err := io.ReadAll(resp.Body)
	if err != nil {
		t.Fatal(err)
	}
	return resp.StatusCode, resp.Header, string(b)
}

// Parsed back with structures written from the published formats, not
// the ones that produced them.
type tbConfig struct {
	XMLName  xml.Name `xml:"clientConfig"`
	Version  string   `xml:"version,attr"`
	Provider struct {
		ID          string     `xml:"id,attr"`
		Domain      []string   `xml:"domain"`
		DisplayName string     `xml:"displayName"`
		Incoming    []tbServer `xml:"incomingServer"`
		Outgoing    []tbServer `xml:"outgoingServer"`
	} `xml:"emailProvider"`
}

type tbServer struct {
	Type           string `xml:"type,attr"`
	Hostname       string `xml:"hostname"`
	Port           int    `xml:"port"`
	SocketType     string `xml:"socketType"`
	Authentication string `xml:"authentication"`
	Username       string `xml:"username"`
}

type poxResponse struct {
	XMLName  xml.Name `xml:"http://schemas.microsoft.com/exchange/autodiscover/responseschema/2006 Autodiscover"`
	Response struct {
		XMLName xml.Name `xml:"http://schemas.microsoft.com/exchange/autodiscover/outlook/responseschema/2006a Response"`
		User    struct {
			DisplayName string `xml:"DisplayName"`
		} `xml:"User"`
		Account struct {
			AccountType string `xml:"AccountType"`
			Action      string `xml:"Action"`
			Protocol    []struct {
				Type, Server, LoginName, SSL, Encryption, AuthRequired string
				Port                                                   int
			} `xml:"Protocol"`
		} `xml:"Account"`
	} `xml:"Response"`
}

// parsePlist reads an XML property list into Go values: map[string]any,
// []any, string, int64 and bool.
func parsePlist(t *testing.T, text string) map[string]any {
	t.Helper()
	dec := xml.NewDecoder(strings.NewReader(text))
	var value func(start xml.StartElement) any
	value = func(start xml.StartElement) any {
		switch start.Name.Local {
		case "dict":
			m := map[string]any{}
			var key string
			for {
				tok, err := dec.Token()
				if err != nil {
					t.Fatalf("plist: %v", err)
				}
				switch tk := tok.(type) {
				case xml.StartElement:
					if tk.Name.Local == "key" {
						if err := dec.DecodeElement(&key, &tk); err != nil {
							t.Fatal(err)
						}
						continue
					}
					if key == "" {
						t.Fatalf("plist: value <%s> without a key", tk.Name.Local)
					}
					m[key] = value(tk)
					key = ""
				case xml.EndElement:
					return m
				}
			}
		case "array":
			var a []any
			for {
				tok, err := dec.Token()
				if err != nil {
					t.Fatalf("plist: %v", err)
				}
				switch tk := tok.(type) {
				case xml.StartElement:
					a = append(a, value(tk))
				case xml.EndElement:
					return a
				}
			}
		case "string", "integer":
			var s string
			if err := dec.DecodeElement(&s, &start); err != nil {
				t.Fatal(err)
			}
			if start.Name.Local == "integer" {
				n, err := strconv.ParseInt(s, 10, 64)
				if err != nil {
					t.Fatalf("plist integer %q", s)
				}
				return n
			}
			return s
		case "true", "false":
			if err := dec.Skip(); err != nil {
				t.Fatal(err)
			}
			return start.Name.Local == "true"
		}
		t.Fatalf("plist: unexpected <%s>", start.Name.Local)
		return nil
	}
	for {
		tok, err := dec.Token()
		if err != nil {
			t.Fatalf("plist: no <plist><dict>: %v", err)
		}
		if se, ok := tok.(xml.StartElement); ok && se.Name.Local == "dict" {
			return value(se).(map[string]any)
		}
	}
}

func TestClientSettingsDocuments(t *testing.T) {
	d, base := startAdvertising(t)

	// Thunderbird autoconfig, at both paths.
	for _, path := range []string{"/mail/config-v1.1.xml", "/.well-known/autoconfig/mail/config-v1.1.xml?emailaddress=alice%40contoso.com"} {
		code, hdr, body := fetch(t, "GET", base+path, "")
		if code != 200 || !strings.HasPrefix(hdr.Get("Content-Type"), "text/xml") {
			t.Fatalf("%s: %d %s\n%s", path, code, hdr.Get("Content-Type"), body)
		}
		var tb tbConfig
		if err := xml.Unmarshal([]byte(body), &tb); err != nil {
			t.Fatalf("%s: %v\n%s", path, err, body)
		}
		p := tb.Provider
		if tb.Version != "1.1" || p.ID != "contoso.com" || len(p.Domain) != 1 || p.Domain[0] != "contoso.com" || p.DisplayName != "Contoso Mail" {
			t.Errorf("%s: provider %+v", path, tb)
		}
		want := tbServer{Type: "smtp", Hostname: "mail.contoso.com", Port: d.port587, SocketType: "STARTTLS", Authentication: "password-cleartext", Username: "%EMAILADDRESS%"}
		if len(p.Outgoing) != 1 || p.Outgoing[0] != want {
			t.Errorf("%s: outgoing %+v, want %+v", path, p.Outgoing, want)
		}
		if len(p.Incoming) != 2 || p.Incoming[0] != (tbServer{"imap", "imap.contoso.com", 993, "SSL", "password-cleartext", "%EMAILADDRESS%"}) ||
			p.Incoming[1] != (tbServer{"pop3", "pop.contoso.com", 110, "STARTTLS", "password-cleartext", "%EMAILADDRESS%"}) {
			t.Errorf("%s: incoming %+v", path, p.Incoming)
		}
	}

	// Outlook autodiscover: POST with the request schema, and GET.
	req := `<?xml version="1.0" encoding="utf-8"?>
<Autodiscover xmlns="http://schemas.microsoft.com/exchange/autodiscover/outlook/requestschema/2006">
  <Request>
    <EMailAddress>alice@contoso.com</EMailAddress>
    <AcceptableResponseSchema>http://schemas.microsoft.com/exchange/autodiscover/outlook/responseschema/2006a</AcceptableResponseSchema>
  </Request>
</Autodiscover>`
	for _, tc := range []struct{ method, path, body, login string }{
		{"POST", "/autodiscover/autodiscover.xml", req, "alice@contoso.com"},
		{"POST", "/Autodiscover/Autodiscover.xml", req, "alice@contoso.com"},
		{"GET", "/autodiscover/autodiscover.xml?email=alice@contoso.com", "", "alice@contoso.com"},
		{"GET", "/autodiscover/autodiscover.xml", "", ""},
	} {
		code, _, body := fetch(t, tc.method, base+tc.path, tc.body)
		if code != 200 {
			t.Fatalf("%s %s: %d\n%s", tc.method, tc.path, code, body)
		}
		var pox poxResponse
		if err := xml.Unmarshal([]byte(body), &pox); err != nil {
			t.Fatalf("%s %s: %v\n%s", tc.method, tc.path, err, body)
		}
		a := pox.Response.Account
		if a.AccountType != "email" || a.Action != "settings" || len(a.Protocol) != 3 {
			t.Fatalf("%s %s: account %+v\n%s", tc.method, tc.path, a, body)
		}
		smtp := a.Protocol[2]
		if smtp.Type != "SMTP" || smtp.Server != "mail.contoso.com" || smtp.Port != d.port587 || smtp.Encryption != "TLS" || smtp.AuthRequired != "on" || smtp.LoginName != tc.login {
			t.Errorf("%s %s: SMTP %+v", tc.method, tc.path, smtp)
		}
		if imap := a.Protocol[0]; imap.Type != "IMAP" || imap.Server != "imap.contoso.com" || imap.Port != 993 || imap.Encryption != "SSL" || imap.SSL != "on" {
			t.Errorf("%s %s: IMAP %+v", tc.method, tc.path, imap)
		}
		if pop := a.Protocol[1]; pop.Type != "POP3" || pop.Port != 110 || pop.Encryption != "TLS" {
			t.Errorf("%s %s: POP3 %+v", tc.method, tc.path, pop)
		}
	}
	code, _, body := fetch(t, "POST", base+"/autodiscover/autodiscover.xml", "not xml")
	if code != 200 || !strings.Contains(body, "<ErrorCode>600</ErrorCode>") {
		t.Errorf("bad autodiscover request: %d\n%s", code, body)
	}

	// Apple profile.
	code, hdr, body := fetch(t, "GET", base+"/mail/transportd.mobileconfig?email=alice@contoso.com", "")
	if code != 200 || hdr.Get("Content-Type") != "application/x-apple-aspen-config" || !strings.Contains(hdr.Get("Content-Disposition"), `alice.mobileconfig`) {
		t.Fatalf("mobileconfig: %d %v\n%s", code, hdr, body)
	}
	if !strings.Contains(body, `<!DOCTYPE plist PUBLIC "-//Apple//DTD PLIST 1.0//EN"`) {
		t.Errorf("no plist DOCTYPE:\n%s", body)
	}
	prof := parsePlist(t, body)
	if prof["PayloadType"] != "Configuration" || prof["PayloadVersion"] != int64(1) || prof["PayloadUUID"] == "" {
		t.Errorf("profile %v", prof)
	}
	content, _ := prof["PayloadContent"].([]any)
	if len(content) != 1 {
		t.Fatalf("PayloadContent %v", prof["PayloadContent"])
	}
	m := content[0].(map[string]any)
	for k, want := range map[string]any{
		"PayloadType": "com.apple.mail.managed", "EmailAccountType": "EmailTypeIMAP", "EmailAddress": "alice@contoso.com",
		"IncomingMailServerHostName": "imap.contoso.com", "IncomingMailServerPortNumber": int64(993), "IncomingMailServerUseSSL": true,
		"OutgoingMailServerHostName": "mail.contoso.com", "OutgoingMailServerPortNumber": int64(d.port587), "OutgoingMailServerUseSSL": true,
		"OutgoingMailServerAuthentication": "EmailAuthPassword", "OutgoingMailServerUsername": "alice@contoso.com", "PayloadVersion": int64(1),
	} {
		if m[k] != want {
			t.Errorf("mail payload %s = %#v, want %#v", k, m[k], want)
		}
	}
	if code, _, body := fetch(t, "GET", base+"/mail/transportd.mobileconfig", ""); code != 400 || !strings.Contains(body, "email") {
		t.Errorf("mobileconfig without ?email: %d %s", code, body)
	}

	// Turned off on the connector: the next request says why, without a restart.
	mgr := &manage.Manager{ConfigPath: d.cfgPath}
	if _, err := mgr.SetConnectors("Client Frontend*", manage.Params{{Name: "AdvertiseClientSettings", Value: "$false"}}); err != nil {
		t.Fatal(err)
	}
	d.waitReload()
	for _, path := range []string{"/mail/config-v1.1.xml", "/autodiscover/autodiscover.xml", "/mail/transportd.mobileconfig?email=alice@contoso.com"} {
		code, hdr, body := fetch(t, "GET", base+path, "")
		if code != 404 || !strings.HasPrefix(hdr.Get("Content-Type"), "text/plain") || !strings.Contains(body, "AdvertiseClientSettings") {
			t.Errorf("%s after turning AdvertiseClientSettings off: %d %s", path, code, body)
		}
	}
}

// runSelftest runs the self-test against the Client Frontend of d as alice.
func runSelftest(t *testing.T, d *testDaemon, roots *x509.CertPool) []selftest.Step {
	t.Helper()
	cfg := d.svc.Config()
	o, err := selftest.ForConnector(cfg, &cfg.ReceiveConnectors[1], "alice")
	if err != nil {
		t.Fatal(err)
	}
	if o.Address != d.addr587() || o.Mailbox != "alice@contoso.com" {
		t.Fatalf("options %+v", o)
	}
	o.Password, o.Roots = testPassword, roots
	ctx, cancel := context.WithTimeout(context.Background(), time.Minute)
	defer cancel()
	steps := selftest.Run(ctx, o)
	var b strings.Builder
	selftest.Format(&b, steps)
	t.Logf("self-test:\n%s", b.String())
	return steps
}

func stepOf(t *testing.T, steps []selftest.Step, name string) selftest.Step {
	t.Helper()
	for _, s := range steps {
		if s.Name == name {
			return s
		}
	}
	t.Fatalf("no step %q in %+v", name, steps)
	return selftest.Step{}
}

// issueForAYear issues a certificate for mail.contoso.com valid for a year
// (ca.issue's last a day, which the self-test rightly warns about).
func issueForAYear(t *testing.T, ca *testCA) []byte {
	t.Helper()
	key, err := ecdsa.GenerateKey(elliptic.P256(), rand.Reader)
	if err != nil {
		t.Fatal(err)
	}
	tmpl := &x509.Certificate{
		SerialNumber: big.NewInt(20), Subject: pkix.Name{CommonName: "mail.contoso.com"},
		DNSNames: []string{"mail.contoso.com"}, NotBefore: time.Now().Add(-time.Hour), NotAfter: time.Now().Add(365 * 24 * time.Hour),
		ExtKeyUsage: []x509.ExtKeyUsage{x509.ExtKeyUsageServerAuth}, KeyUsage: x509.KeyUsageDigitalSignature,
	}
	der, err := x509.CreateCertificate(rand.Reader, tmpl, ca.cert, &key.PublicKey, ca.key)
	if err != nil {
		t.Fatal(err)
	}
	kder, err := x509.MarshalPKCS8PrivateKey(key)
	if err != nil {
		t.Fatal(err)
	}
	out := pem.EncodeToMemory(&pem.Block{Type: "CERTIFICATE", Bytes: der})
	return append(out, pem.EncodeToMemory(&pem.Block{Type: "PRIVATE KEY", Bytes: kder})...)
}

func TestSelftestGoodConnector(t *testing.T) {
	d := startDaemon(t, nil)
	ca := newTestCA(t)
	cert, err := d.svc.Certs().Import(issueForAYear(t, ca), "", []string{"SMTP"})
	if err != nil {
		t.Fatal(err)
	}
	if got := thumbprintServed(t, d.addr587()); got != cert.Thumbprint {
		t.Fatalf("served %s, want the CA-issued %s", got, cert.Thumbprint)
	}
	roots := x509.NewCertPool()
	roots.AddCert(ca.cert)
	steps := runSelftest(t, d, roots)
	want := []string{"TCP connect", "Greeting", "EHLO", "STARTTLS offered", "STARTTLS", "Certificate name", "Certificate validity",
		"Certificate trust", "EHLO after TLS", "AUTH offered", "AUTH", "Submission", "Delivery"}
	if len(steps) != len(want) {
		t.Fatalf("%d steps, want %d: %+v", len(steps), len(want), steps)
	}
	for i, s := range steps {
		if s.Name != want[i] || s.Status != selftest.Pass {
			t.Errorf("step %d: %+v, want %s PASS", i, s, want[i])
		}
	}
	if s := stepOf(t, steps, "STARTTLS"); !strings.Contains(s.Detail, "TLS 1.") {
		t.Errorf("STARTTLS detail %q names no TLS version", s.Detail)
	}
	if s := stepOf(t, steps, "Delivery"); !strings.Contains(s.Detail, "mailboxes/alice@contoso.com/Maildir/new/") {
		t.Errorf("Delivery detail %q", s.Detail)
	}

	// With the system roots the test CA is not trusted: a warning, not a failure.
	steps = runSelftest(t, d, nil)
	if s := stepOf(t, steps, "Certificate trust"); s.Status != selftest.Warn || !strings.Contains(s.Detail, "not trusted") {
		t.Errorf("untrusted CA: %+v", s)
	}
	if selftest.Failed(steps) {
		t.Errorf("an untrusted certificate failed the test: %+v", steps)
	}
}

func TestSelftestWrongCertificate(t *testing.T) {
	d := startDaemon(t, nil)
	// The default self-signed certificate: the test says so.
	steps := runSelftest(t, d, nil)
	if s := stepOf(t, steps, "Certificate trust"); s.Status != selftest.Warn || !strings.Contains(s.Detail, "self-signed") {
		t.Errorf("self-signed: %+v", s)
	}
	wrong, err := d.svc.Certs().NewSelfSigned(certs.SelfSignedRequest{SubjectName: "CN=other.example", DomainNames: []string{"other.example"}})
	if err != nil {
		t.Fatal(err)
	}
	mgr := &manage.Manager{ConfigPath: d.cfgPath}
	if _, err := mgr.SetConnectors("Client Frontend*", manage.Params{{Name: "TlsCertificateName", Value: wrong.Thumbprint}}); err != nil {
		t.Fatal(err)
	}
	d.waitReload()
	steps = runSelftest(t, d, nil)
	if !selftest.Failed(steps) {
		t.Fatalf("a certificate for another name passed: %+v", steps)
	}
	s := stepOf(t, steps, "Certificate name")
	if s.Status != selftest.Fail || !strings.Contains(s.Detail, "does not cover mail.contoso.com") || !strings.Contains(s.Detail, "other.example") || !strings.Contains(s.Detail, wrong.Thumbprint) {
		t.Errorf("Certificate name: %+v", s)
	}
	// The rest still runs: the problem is the certificate, not the service.
	if s := stepOf(t, steps, "Delivery"); s.Status != selftest.Pass {
		t.Errorf("Delivery: %+v", s)
	}
}

func TestSelftestNoServer(t *testing.T) {
	steps := selftest.Run(context.Background(), selftest.Options{Address: fmt.Sprintf("127.0.0.1:%d", freePort(t)), Fqdn: "mail.contoso.com"})
	if len(steps) != 1 || steps[0].Status != selftest.Fail || !strings.Contains(steps[0].Detail, "refused") {
		t.Errorf("steps %+v", steps)
	}
}

// Outlook's autodiscover wants HTTPS: HttpsBindings serve the same
// documents with the certificate of the advertising connector.
func TestClientSettingsOverHTTPS(t *testing.T) {
	port := freePort(t)
	startDaemon(t, func(c *config.Config, d *testDaemon) {
		c.ReceiveConnectors[1].AdvertiseClientSettings = true
		c.ClientSettings.HttpBindings = nil
		c.ClientSettings.HttpsBindings = []netip.AddrPort{netip.MustParseAddrPort(fmt.Sprintf("127.0.0.1:%d", port))}
		c.ClientSettings.ImapServer = "imap.contoso.com"
	})
	client := &http.Client{Transport: &http.Transport{TLSClientConfig: &tls.Config{InsecureSkipVerify: true}}}
	url := fmt.Sprintf("https://127.0.0.1:%d/autodiscover/autodiscover.xml?email=alice@contoso.com", port)
	deadline := time.Now().Add(10 * time.Second)
	for {
		resp, err := client.Get(url)
		if err == nil {
			defer resp.Body.Close()
			if resp.StatusCode != 200 || resp.TLS == nil {
				t.Fatalf("status %d, TLS %v", resp.StatusCode, resp.TLS != nil)
			}
			if err := resp.TLS.PeerCertificates[0].VerifyHostname("mail.contoso.com"); err != nil {
				t.Fatalf("served certificate does not cover the connector's FQDN: %v", err)
			}
			return
		}
		if time.Now().After(deadline) {
			t.Fatalf("HTTPS client settings endpoint: %v", err)
		}
		time.Sleep(50 * time.Millisecond) // waiting for runHTTP to open the port
	}
}
