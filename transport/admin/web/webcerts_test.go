package web_test

import (
	"bytes"
	"crypto/ecdsa"
	"crypto/elliptic"
	"crypto/rand"
	"crypto/sha1"
	"crypto/x509"
	"crypto/x509/pkix"
	"encoding/hex"
	"encoding/pem"
	"io"
	"math/big"
	"mime/multipart"
	"net/http"
	"net/url"
	"regexp"
	"strings"
	"testing"
	"time"

	"software.sslmate.com/src/go-pkcs12"

	"github.com/transportd/transportd/transport/admin/config"
	"github.com/transportd/transportd/transport/admin/manage"
)

// TestCertificateImportRequestAndUse uploads a PFX (a wrong password is
// refused, the right one imports it), makes a certificate request and
// downloads it, and puts the imported certificate on the Default Frontend
// from the certificate list, then sees it served on STARTTLS. Passwords
// are never in the shell line or the admin audit log.
func TestCertificateImportRequestAndUse(t *testing.T) {
	d := startDaemon(t)
	c := client(t)
	if resp, _ := signIn(t, d, c, "alice", alicePassword); resp.StatusCode != http.StatusSeeOther {
		t.Fatalf("sign-in: %d", resp.StatusCode)
	}
	key, err := ecdsa.GenerateKey(elliptic.P256(), rand.Reader)
	if err != nil {
		t.Fatal(err)
	}
	tmpl := &x509.Certificate{SerialNumber: big.NewInt(7), Subject: pkix.Name{CommonName: "import.contoso.com"}, DNSNames: []string{"import.contoso.com"},
		NotBefore: time.Now().Add(-time.Hour), NotAfter: time.Now().Add(20 * 24 * time.Hour), // within 30 days: the list warns
		KeyUsage: x509.KeyUsageDigitalSignature, ExtKeyUsage: []x509.ExtKeyUsage{x509.ExtKeyUsageServerAuth}}
	der, err := x509.CreateCertificate(rand.Reader, tmpl, tmpl, &key.PublicKey, key)
	if err != nil {
		t.Fatal(err)
	}
	cert, _ := x509.ParseCertificate(der)
	pfx, err := pkcs12.Modern.Encode(key, cert, nil, "Pfx-Pa55")
	if err != nil {
		t.Fatal(err)
	}
	sum := sha1.Sum(der)
	thumb := strings.ToUpper(hex.EncodeToString(sum[:]))

	upload := func(password string) (*http.Response, string) {
		_, page := get(t, c, d.base+"/certificates/import")
		m := csrfRE.FindStringSubmatch(page)
		if m == nil {
			t.Fatalf("import page without a CSRF token:\n%s", page)
		}
		var body bytes.Buffer
		w := multipart.NewWriter(&body)
		w.WriteField("csrf", m[1])
		w.WriteField("password", password)
		fw, _ := w.CreateFormFile("file", "import.pfx")
		fw.Write(pfx)
		w.Close()
		req, _ := http.NewRequest(http.MethodPost, d.base+"/certificates/import", &body)
		req.Header.Set("Content-Type", w.FormDataContentType())
		req.Header.Set("Sec-Fetch-Site", "same-origin")
		resp, err := c.Do(req)
		if err != nil {
			t.Fatal(err)
		}
		defer resp.Body.Close()
		b, _ := io.ReadAll(resp.Body)
		return resp, string(b)
	}
	resp, page := upload("wrong")
	if resp.StatusCode != http.StatusOK || !strings.Contains(page, "Not saved.") || !strings.Contains(page, "Import-ExchangeCertificate -FileName") {
		t.Fatalf("a wrong PFX password: %d\n%s", resp.StatusCode, page)
	}
	resp, _ = upload("Pfx-Pa55")
	if resp.StatusCode != http.StatusSeeOther {
		t.Fatalf("import: %d", resp.StatusCode)
	}
	_, page = get(t, c, d.base+"/certificates")
	row := regexp.MustCompile(`(?s)<tr id="cert-` + thumb + `">.*?</tr>`).FindString(page)
	if !strings.Contains(row, "CN=import.contoso.com") || !strings.Contains(row, "expires in 19 days") || !strings.Contains(row, "class=\"expiry warning\"") {
		t.Fatalf("the imported certificate's row does not warn of its expiry:\n%s", row)
	}
	if !regexp.MustCompile(`Import-ExchangeCertificate -FileName &#39;[^&]*/import.pfx&#39; -Password -`).MatchString(page) {
		t.Errorf("the result does not show the Import-ExchangeCertificate line:\n%s", page)
	}

	// A certificate request, downloaded.
	_, page = get(t, c, d.base+"/certificates/new")
	m := csrfRE.FindStringSubmatch(page)
	resp, _ = post(t, c, d.base+"/certificates/new", url.Values{"csrf": {m[1]}, "kind": {"request"}, "subjectname": {"CN=req.contoso.com"}, "domainname": {"req.contoso.com\nsmtp.req.contoso.com"}}, sameSite)
	if resp.StatusCode != http.StatusSeeOther {
		t.Fatalf("request: %d", resp.StatusCode)
	}
	_, page = get(t, c, d.base+"/certificates")
	link := regexp.MustCompile(`href="(/ecp/certificates/request\?thumbprint=[0-9A-F]+)"`).FindStringSubmatch(page)
	if link == nil || !strings.Contains(page, "New-ExchangeCertificate -GenerateRequest -SubjectName &#39;CN=req.contoso.com&#39;") {
		t.Fatalf("no download link for the request:\n%s", page)
	}
	dl, err := c.Get(strings.TrimSuffix(d.base, "/ecp") + link[1])
	if err != nil {
		t.Fatal(err)
	}
	csrPEM, _ := io.ReadAll(dl.Body)
	dl.Body.Close()
	if cd := dl.Header.Get("Content-Disposition"); !strings.Contains(cd, `filename="req.contoso.com.req"`) {
		t.Errorf("Content-Disposition %q", cd)
	}
	blk, _ := pem.Decode(csrPEM)
	if blk == nil || blk.Type != "CERTIFICATE REQUEST" {
		t.Fatalf("the download is not a PEM certificate request:\n%s", csrPEM)
	}
	csr, err := x509.ParseCertificateRequest(blk.Bytes)
	if err != nil || csr.CheckSignature() != nil || strings.Join(csr.DNSNames, ",") != "req.contoso.com,smtp.req.contoso.com" {
		t.Fatalf("request: %v %v", err, csr)
	}

	// Put the imported certificate on the Default Frontend.
	m = csrfRE.FindStringSubmatch(page)
	resp, _ = post(t, c, d.base+"/certificates", url.Values{"csrf": {m[1]}, "action": {"use"}, "thumbprint": {thumb}, "tlsname": {"<I>CN=import.contoso.com<S>CN=import.contoso.com"}, "connector": {"Default Frontend MAIL"}}, sameSite)
	if resp.StatusCode != http.StatusSeeOther {
		t.Fatalf("use: %d", resp.StatusCode)
	}
	waitFor(t, "the imported certificate on STARTTLS", func() bool {
		_, cn := startTLS(t, d.smtpAddr)
		return cn == "import.contoso.com"
	})
	_, page = get(t, c, d.base+"/certificates")
	row = regexp.MustCompile(`(?s)<tr id="cert-` + thumb + `">.*?</tr>`).FindString(page)
	if !strings.Contains(row, "receive: Default Frontend MAIL") {
		t.Errorf("the list does not say the Default Frontend uses the imported certificate:\n%s", row)
	}

	cfg, err := config.Read(d.cfgPath)
	if err != nil {
		t.Fatal(err)
	}
	es, err := manage.SearchAudit(manage.AuditFile(cfg), manage.AuditFilter{})
	if err != nil || len(es) != 4 {
		t.Fatalf("audit log: %d entries %v", len(es), err)
	}
	for _, e := range es {
		if strings.Contains(e.CommandLine, "Pfx-Pa55") || strings.Contains(e.CommandLine, "wrong") {
			t.Errorf("a password in the audit log: %s", e.CommandLine)
		}
	}
}
