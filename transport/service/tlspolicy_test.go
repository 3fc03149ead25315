package service

import (
	"context"
	"crypto/tls"
	"crypto/x509"
	"encoding/hex"
	"io"
	"log"
	"net"
	"net/http"
	"net/http/httptest"
	"os"
	"path/filepath"
	"strconv"
	"strings"
	"sync/atomic"
	"testing"
	"time"

	gosmtp "github.com/emersion/go-smtp"

	"github.com/transportd/transportd/policies/dnsclient/dnstest"
	"github.com/transportd/transportd/transport/admin/config"
	"github.com/transportd/transportd/transport/mail/dane"
	"github.com/transportd/transportd/transport/mail/sendconnector"
	"github.com/transportd/transportd/transport/mail/tlsrpt"
	"github.com/transportd/transportd/transport/mail/tracking"
)

// signedDNS answers from a record list and sets the AD bit on every
// answer to a query with DO, as a validating resolver does for a signed
// zone: what DANE (RFC 7672) trusts.
func signedDNS(t *testing.T, rrs ...string) string {
	t.Helper()
	z := dnstest.Start(t).Signed()
	z.Add(t, rrs...)
	return z.Addr
}

// tlsMX is an MX host on loopback offering STARTTLS with cert.
func tlsMX(t *testing.T, cert tls.Certificate) (*sink, int) {
	t.Helper()
	s := &sink{got: make(chan sinkMsg, 10)}
	srv := gosmtp.NewServer(gosmtp.BackendFunc(func(c *gosmtp.Conn) (gosmtp.Session, error) { return &sinkSession{s: s, conn: c}, nil }))
	srv.Domain = "mx1.fabrikam.test"
	srv.ErrorLog = log.New(io.Discard, "", 0)
	srv.TLSConfig = &tls.Config{Certificates: []tls.Certificate{cert}}
	l, err := net.Listen("tcp4", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	s.addr = l.Addr().String()
	go srv.Serve(l)
	t.Cleanup(func() { srv.Close() })
	return s, l.Addr().(*net.TCPAddr).Port
}

// TestDANEOnMXDelivery: the daemon delivers to an MX whose TLSA record
// (DANE-EE 3 1 1) matches its key, and records the outcome in message
// tracking; when the record does not match, the message waits with the
// reason in the DEFER event and nothing reaches the MX.
func TestDANEOnMXDelivery(t *testing.T) {
	for _, match := range []bool{true, false} {
		t.Run("match="+strconv.FormatBool(match), func(t *testing.T) {
			cert, _, _ := selfSignedPEM(t, "mx1.fabrikam.test", x509.ExtKeyUsageServerAuth)
			mx, port := tlsMX(t, cert)
			leaf, err := x509.ParseCertificate(cert.Certificate[0])
			if err != nil {
				t.Fatal(err)
			}
			pub := leaf
			if !match {
				other, _, _ := selfSignedPEM(t, "mx1.fabrikam.test", x509.ExtKeyUsageServerAuth)
				if pub, err = x509.ParseCertificate(other.Certificate[0]); err != nil {
					t.Fatal(err)
				}
			}
			rec := dane.RecordFor(dane.UsageDANEEE, dane.SelectorSPKI, dane.MatchSHA256, pub)
			ns := signedDNS(t,
				"fabrikam.test. 60 IN MX 10 mx1.fabrikam.test.",
				"mx1.fabrikam.test. 60 IN A 127.0.0.1",
				"_"+strconv.Itoa(port)+"._tcp.mx1.fabrikam.test. 60 IN TLSA 3 1 1 "+hex.EncodeToString(rec.Data))
			d := startDaemon(t, func(c *config.Config, _ *testDaemon) {
				c.Transport.ExternalDNSServers = []string{ns}
				out := sendconnector.New("Internet")
				out.AddressSpaces = mustSpaces("*")
				out.DNSRoutingEnabled = true
				out.UseExternalDNSServersEnabled = true
				out.Port = port
				c.SendConnectors = []sendconnector.SendConnector{out}
			})
			mark := "dane-" + strconv.FormatBool(match)
			submit587(t, d, "bob@fabrikam.test", "From: alice@contoso.com\r\nTo: bob@fabrikam.test\r\nSubject: "+mark+"\r\n\r\n"+mark+"\r\n")
			f := tracking.Filter{Recipients: []string{"bob@fabrikam.test"}}
			if match {
				evs := waitTracking(t, d, f, "SEND")
				for _, ev := range evs {
					if ev.EventID == "SEND" && !strings.Contains(ev.MessageInfo, "TlsPolicy=DANE success") {
						t.Errorf("SEND MessageInfo %q, want the DANE outcome", ev.MessageInfo)
					}
				}
				if _, ok := mx.find(mark); !ok {
					t.Error("the MX did not get the message")
				}
				return
			}
			evs := waitTracking(t, d, f, "DEFER")
			for _, ev := range evs {
				if ev.EventID == "DEFER" && !strings.Contains(strings.Join(ev.RecipientStatus, ";"), "DANE: no TLSA record matches") {
					t.Errorf("DEFER status %q, want the DANE mismatch", ev.RecipientStatus)
				}
			}
			if mx.count() != 0 {
				t.Error("the MX got the message despite the TLSA mismatch")
			}
		})
	}
}

// TestTLSReportsSent: a finished day's TLS report goes to the rua of the
// domain's _smtp._tls record, as a multipart/report message through the
// queue (here to the smart host sink).
func TestTLSReportsSent(t *testing.T) {
	z := dnstest.Start(t)
	z.SetTXT("_smtp._tls.fabrikam.test", "v=TLSRPTv1; rua=mailto:tlsrpt@fabrikam.test")
	d := startDaemon(t, func(c *config.Config, _ *testDaemon) { c.Transport.ExternalDNSServers = []string{z.Addr} })
	clock := time.Now().Add(-24 * time.Hour) // yesterday's sessions
	col := tlsrpt.NewCollector("", func() time.Time { return clock })
	col.Record(tlsrpt.Outcome{Domain: "fabrikam.test", PolicyType: tlsrpt.PolicyTLSA, PolicyString: []string{"3 1 1 00"}, MXHost: "mx1.fabrikam.test", Success: true})
	clock = time.Now()
	cfg := d.svc.Config()
	d.svc.sendTLSReports(context.Background(), cfg, col.Due(cfg.Server.Fqdn, postmasterOf(cfg)))
	select {
	case m := <-d.sink.got:
		if len(m.to) != 1 || m.to[0] != "tlsrpt@fabrikam.test" || !strings.Contains(m.data, "TLS-Report-Domain: fabrikam.test") ||
			!strings.Contains(m.data, `report-type="tlsrpt"`) || !strings.Contains(m.data, "application/tlsrpt+gzip") {
			t.Errorf("report message to %v:\n%.600s", m.to, m.data)
		}
	case <-time.After(10 * time.Second):
		t.Fatal("no TLS report reached the smart host")
	}
}

// TestREQUIRETLSRelay: a message submitted with REQUIRETLS (RFC 8689) is
// stored with it and, as the smart host offers no STARTTLS, is returned
// with 5.7.30 instead of being relayed in clear; the same message without
// REQUIRETLS goes through.
func TestREQUIRETLSRelay(t *testing.T) {
	d := startDaemon(t, nil)
	c := dial(t, d.addr587())
	c.expect("250", "EHLO client.example")
	c.startTLS("mail.contoso.com")
	if r := c.cmd("EHLO client.example"); !strings.Contains(r, "REQUIRETLS") {
		t.Errorf("EHLO inside TLS does not offer REQUIRETLS:\n%s", r)
	}
	c.expect("235", "AUTH PLAIN %s", plainIR("alice@contoso.com", testPassword))
	c.expect("250", "MAIL FROM:<alice@contoso.com> REQUIRETLS")
	c.expect("250", "RCPT TO:<bob@fabrikam.test>")
	c.expect("354", "DATA")
	io.WriteString(c.conn, "From: alice@contoso.com\r\nTo: bob@fabrikam.test\r\nSubject: requiretls\r\n\r\nsecret\r\n")
	c.expect("250", ".")
	r := c.send("alice@contoso.com", []string{"carol@fabrikam.test"}, "From: alice@contoso.com\r\nTo: carol@fabrikam.test\r\nSubject: plain\r\n\r\nplain\r\n")
	c.close()
	if !strings.HasPrefix(r, "250") {
		t.Fatalf("ordinary message: %s", r)
	}
	evs := waitTracking(t, d, tracking.Filter{Recipients: []string{"bob@fabrikam.test"}}, "FAIL")
	for _, ev := range evs {
		if ev.EventID == "FAIL" && !strings.Contains(strings.Join(ev.RecipientStatus, ";"), "5.7.30") {
			t.Errorf("FAIL status %q, want 5.7.30 REQUIRETLS support required", ev.RecipientStatus)
		}
	}
	waitTracking(t, d, tracking.Filter{Recipients: []string{"carol@fabrikam.test"}}, "SEND")
	if _, ok := d.sink.find("secret"); ok {
		t.Error("the REQUIRETLS message was relayed in clear")
	}
}

// TestMTASTSOnMXDelivery: the daemon fetches fabrikam.test's MTA-STS
// policy over HTTPS (from a server on loopback that mta-sts.fabrikam.test
// leads to) and, under mode enforce, does not deliver to an MX the policy
// does not list: the message waits with the reason; under mode testing it
// is delivered and the failed check is noted in message tracking.
func TestMTASTSOnMXDelivery(t *testing.T) {
	for _, mode := range []string{"enforce", "testing"} {
		t.Run(mode, func(t *testing.T) {
			cert, _, _ := selfSignedPEM(t, "mx.elsewhere.test", x509.ExtKeyUsageServerAuth)
			mx, port := tlsMX(t, cert)
			// The policy host, with a certificate the test trusts.
			hostCert, _, _ := selfSignedPEM(t, "mta-sts.fabrikam.test", x509.ExtKeyUsageServerAuth)
			policy := "version: STSv1\nmode: " + mode + "\nmx: mx1.fabrikam.test\nmax_age: 86400\n"
			var fetches atomic.Int32
			hs := httptest.NewUnstartedServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
				if r.Host != "mta-sts.fabrikam.test" || r.URL.Path != "/.well-known/mta-sts.txt" {
					http.NotFound(w, r)
					return
				}
				fetches.Add(1)
				w.Header().Set("Content-Type", "text/plain")
				io.WriteString(w, policy)
			}))
			hs.TLS = &tls.Config{Certificates: []tls.Certificate{hostCert}}
			hs.StartTLS()
			t.Cleanup(hs.Close)
			roots := x509.NewCertPool()
			leaf, _ := x509.ParseCertificate(hostCert.Certificate[0])
			roots.AddCert(leaf)
			var dialer net.Dialer
			client := &http.Client{Transport: &http.Transport{
				TLSClientConfig: &tls.Config{RootCAs: roots},
				DialContext: func(ctx context.Context, network, _ string) (net.Conn, error) {
					return dialer.DialContext(ctx, network, hs.Listener.Addr().String())
				}}}
			ns := signedDNS(t,
				"fabrikam.test. 60 IN MX 10 mx.elsewhere.test.",
				"mx.elsewhere.test. 60 IN A 127.0.0.1",
				`_mta-sts.fabrikam.test. 60 IN TXT "v=STSv1; id=20261201T000000"`)
			d := startDaemon(t, func(c *config.Config, _ *testDaemon) {
				c.Transport.ExternalDNSServers = []string{ns}
				out := sendconnector.New("Internet")
				out.AddressSpaces = mustSpaces("*")
				out.DNSRoutingEnabled = true
				out.UseExternalDNSServersEnabled = true
				out.Port = port
				c.SendConnectors = []sendconnector.SendConnector{out}
			})
			d.svc.SetMTASTSHTTPClient(client)
			submit587(t, d, "bob@fabrikam.test", "From: alice@contoso.com\r\nTo: bob@fabrikam.test\r\nSubject: sts\r\n\r\nsts-"+mode+"\r\n")
			f := tracking.Filter{Recipients: []string{"bob@fabrikam.test"}}
			if mode == "enforce" {
				evs := waitTracking(t, d, f, "DEFER")
				for _, ev := range evs {
					if ev.EventID == "DEFER" && !strings.Contains(strings.Join(ev.RecipientStatus, ";"), "MTA-STS policy of fabrikam.test (mode enforce") {
						t.Errorf("DEFER status %q, want the MTA-STS refusal", ev.RecipientStatus)
					}
				}
				if mx.count() != 0 {
					t.Error("delivered to an MX outside the enforced policy")
				}
			} else {
				evs := waitTracking(t, d, f, "SEND")
				for _, ev := range evs {
					if ev.EventID == "SEND" && !strings.Contains(ev.MessageInfo, "TlsPolicy=MTA-STS testing failure") {
						t.Errorf("SEND MessageInfo %q, want the testing-mode failure", ev.MessageInfo)
					}
				}
			}
			if fetches.Load() != 1 {
				t.Errorf("%d policy fetches, want 1", fetches.Load())
			}
			if _, err := os.Stat(filepath.Join(d.svc.Config().DataDir(), "mta-sts-policies.json")); err != nil {
				t.Errorf("the policy cache is not in the data folder: %v", err)
			}
		})
	}
}
