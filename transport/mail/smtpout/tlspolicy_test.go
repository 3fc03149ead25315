package smtpout

import (
	"context"
	"crypto/tls"
	"crypto/x509"
	"encoding/hex"
	"net"
	"net/http"
	"net/http/httptest"
	"path/filepath"
	"strconv"
	"strings"
	"sync"
	"testing"

	"github.com/miekg/dns"

	"github.com/transportd/transportd/connector/protolog"
	"github.com/transportd/transportd/connector/protolog/csvlog"
	"github.com/transportd/transportd/transport/mail/dane"
	"github.com/transportd/transportd/transport/mail/mtasts"
	"github.com/transportd/transportd/transport/mail/tlsrpt"
)

// MTA-STS (RFC 8461) and DANE (RFC 7672) on MX delivery, against an
// authoritative DNS server, an HTTPS policy host and SMTP servers, all on
// loopback.

// policyDNS is an in-test DNS server: records by name, and the names whose
// answers carry the AD bit (a validating resolver's "signed and valid").
type policyDNS struct {
	addr string
	mu   sync.Mutex
	rrs  map[string][]dns.RR
	ad   map[string]bool
}

func startPolicyDNS(t *testing.T) *policyDNS {
	t.Helper()
	pd := &policyDNS{rrs: map[string][]dns.RR{}, ad: map[string]bool{}}
	pc, err := net.ListenPacket("udp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	pd.addr = pc.LocalAddr().String()
	h := dns.HandlerFunc(func(w dns.ResponseWriter, req *dns.Msg) {
		m := new(dns.Msg)
		m.SetReply(req)
		q := req.Question[0]
		name := strings.ToLower(q.Name)
		pd.mu.Lock()
		found := false
		for n := range pd.rrs {
			if n == name {
				found = true
			}
		}
		for _, rr := range pd.rrs[name] {
			if rr.Header().Rrtype == q.Qtype {
				m.Answer = append(m.Answer, dns.Copy(rr))
			}
		}
		m.AuthenticatedData = pd.ad[name] && req.IsEdns0() != nil && req.IsEdns0().Do()
		pd.mu.Unlock()
		if !found {
			m.Rcode = dns.RcodeNameError
		}
		_ = w.WriteMsg(m)
	})
	srv := &dns.Server{PacketConn: pc, Handler: h}
	started := make(chan struct{})
	srv.NotifyStartedFunc = func() { close(started) }
	done := make(chan struct{})
	go func() { defer close(done); _ = srv.ActivateAndServe() }()
	<-started
	t.Cleanup(func() { _ = srv.Shutdown(); <-done })
	return pd
}

// add adds a record in zone-file syntax.
func (pd *policyDNS) add(t *testing.T, rr string) {
	t.Helper()
	r, err := dns.NewRR(rr)
	if err != nil {
		t.Fatal(err)
	}
	pd.mu.Lock()
	defer pd.mu.Unlock()
	n := strings.ToLower(r.Header().Name)
	pd.rrs[n] = append(pd.rrs[n], r)
}

func (pd *policyDNS) sign(names ...string) {
	pd.mu.Lock()
	defer pd.mu.Unlock()
	for _, n := range names {
		pd.ad[dns.Fqdn(n)] = true
	}
}

// policyHost serves MTA-STS policies over HTTPS with a certificate for
// mta-sts.<domain>, and counts fetches.
type policyHost struct {
	srv     *httptest.Server
	mu      sync.Mutex
	body    string
	fetches int
}

func startPolicyHost(t *testing.T, ca *testCA, domain, body string) *policyHost {
	t.Helper()
	ph := &policyHost{body: body}
	ph.srv = httptest.NewUnstartedServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		ph.mu.Lock()
		defer ph.mu.Unlock()
		if r.URL.Path != "/.well-known/mta-sts.txt" || r.Host != "mta-sts."+domain {
			http.NotFound(w, r)
			return
		}
		ph.fetches++
		w.Header().Set("Content-Type", "text/plain")
		_, _ = w.Write([]byte(ph.body))
	}))
	ph.srv.TLS = &tls.Config{Certificates: []tls.Certificate{ca.leaf(t, "mta-sts."+domain)}}
	ph.srv.StartTLS()
	t.Cleanup(ph.srv.Close)
	return ph
}

// stsClient fetches policies from ph whatever the host name resolves to.
func (ph *policyHost) client(t *testing.T, r mtasts.TXTResolver, ca *testCA, cache string) *mtasts.Client {
	addr := ph.srv.Listener.Addr().String()
	var d net.Dialer
	return mtasts.New(mtasts.Options{Resolver: r, RootCAs: ca.pool, CacheFile: cache,
		DialContext: func(ctx context.Context, network, _ string) (net.Conn, error) {
			return d.DialContext(ctx, network, addr)
		}})
}

// policyEnv is one recipient domain, fabrikam.test, with its MX on a test
// SMTP server whose certificate names certName.
type policyEnv struct {
	dns  *policyDNS
	ts   *testServer
	ca   *testCA
	cert tls.Certificate
	plog *protolog.Log
	dir  string
}

func newPolicyEnv(t *testing.T, mx, certName string) *policyEnv {
	t.Helper()
	e := &policyEnv{dns: startPolicyDNS(t), ca: newCA(t)}
	e.cert = e.ca.leaf(t, certName)
	e.ts = startServer(t, serverOpts{cert: &e.cert})
	e.dns.add(t, "fabrikam.test. 60 IN MX 10 "+mx+".")
	e.dns.add(t, mx+". 60 IN A 127.0.0.1")
	e.dir = filepath.Join(t.TempDir(), "send")
	var err error
	if e.plog, err = protolog.Open(protolog.Send, protolog.Options{Dir: e.dir}); err != nil {
		t.Fatal(err)
	}
	return e
}

func (e *policyEnv) sender(t *testing.T, p TLSPolicies) *Sender {
	r, err := NewResolver([]string{e.dns.addr})
	if err != nil {
		t.Fatal(err)
	}
	c := dnsConnector(t, e.ts.port)
	c.UseExternalDNSServersEnabled = true
	return newSender(t, Options{Connector: c, DNS: r, RootCAs: e.ca.pool, ProtocolLog: e.plog, TLSPolicies: p})
}

func (e *policyEnv) resolver(t *testing.T) *net.Resolver {
	r, err := NewResolver([]string{e.dns.addr})
	if err != nil {
		t.Fatal(err)
	}
	return r
}

// protocolLog returns the send protocol log's data fields.
func (e *policyEnv) protocolLog(t *testing.T) string {
	t.Helper()
	if err := e.plog.Flush(); err != nil {
		t.Fatal(err)
	}
	files, err := csvlog.Files(e.dir, "SEND")
	if err != nil {
		t.Fatal(err)
	}
	var lines []string
	for _, f := range files {
		if err := csvlog.ReadFile(f, func(_, rec []string) bool { lines = append(lines, rec[7]); return true }); err != nil {
			t.Fatal(err)
		}
	}
	return strings.Join(lines, "\n")
}

func (e *policyEnv) delivered(t *testing.T, want int) {
	t.Helper()
	if msgs, _, _ := e.ts.snapshot(); len(msgs) != want {
		t.Fatalf("MX got %d messages, want %d", len(msgs), want)
	}
}

const enforcePolicy = "version: STSv1\r\nmode: enforce\r\nmx: mx1.fabrikam.test\r\nmx: *.backup.fabrikam.test\r\nmax_age: 86400\r\n"

func TestMTASTSEnforce(t *testing.T) {
	t.Run("matching MX with a valid certificate", func(t *testing.T) {
		e := newPolicyEnv(t, "mx1.fabrikam.test", "mx1.fabrikam.test")
		e.dns.add(t, `_mta-sts.fabrikam.test. 60 IN TXT "v=STSv1; id=20261201"`)
		ph := startPolicyHost(t, e.ca, "fabrikam.test", enforcePolicy)
		s := e.sender(t, TLSPolicies{MTASTS: ph.client(t, e.resolver(t), e.ca, "")})
		r := s.Deliver(context.Background(), message(testBody), []string{"bob@fabrikam.test"})[0]
		wantResult(t, r, 0, "", "")
		if r.Info != "TlsPolicy=MTA-STS enforce success" {
			t.Errorf("result Info %q, want the policy outcome for message tracking", r.Info)
		}
		e.delivered(t, 1)
		if msgs, _, _ := e.ts.snapshot(); !msgs[0].TLS {
			t.Error("delivered without TLS under mode enforce")
		}
		if log := e.protocolLog(t); !strings.Contains(log, "TLS policy MTA-STS enforce (id 20261201): success") {
			t.Errorf("no policy outcome in the protocol log:\n%s", log)
		}
	})
	t.Run("MX not in the policy", func(t *testing.T) {
		e := newPolicyEnv(t, "mx.evil.test", "mx.evil.test")
		e.dns.add(t, `_mta-sts.fabrikam.test. 60 IN TXT "v=STSv1; id=1"`)
		ph := startPolicyHost(t, e.ca, "fabrikam.test", enforcePolicy)
		s := e.sender(t, TLSPolicies{MTASTS: ph.client(t, e.resolver(t), e.ca, "")})
		wantResult(t, s.Deliver(context.Background(), message(testBody), []string{"bob@fabrikam.test"})[0], 451, "4.7.5", "none of its MX hosts (mx.evil.test) matches")
		if _, _, accepted := e.ts.snapshot(); accepted != 0 {
			t.Errorf("%d connections to an MX outside the policy", accepted)
		}
	})
	t.Run("TLS-Required: No", func(t *testing.T) {
		// RFC 8689 section 5: the sender asks that the policy not stop
		// the message; an MX outside the policy then gets it, and the
		// failure is still reported.
		e := newPolicyEnv(t, "mx.evil.test", "mx.evil.test")
		e.dns.add(t, `_mta-sts.fabrikam.test. 60 IN TXT "v=STSv1; id=1"`)
		ph := startPolicyHost(t, e.ca, "fabrikam.test", enforcePolicy)
		s := e.sender(t, TLSPolicies{MTASTS: ph.client(t, e.resolver(t), e.ca, "")})
		wantResult(t, s.Deliver(context.Background(), message("TLS-Required: No\r\n"+testBody), []string{"bob@fabrikam.test"})[0], 0, "", "")
		e.delivered(t, 1)
		if log := e.protocolLog(t); !strings.Contains(log, "TLS policy MTA-STS testing (id 1)") {
			t.Errorf("no report-only policy outcome in the protocol log:\n%s", log)
		}
		// With REQUIRETLS on the envelope the header does not count.
		m := message("TLS-Required: No\r\n" + testBody)
		m.RequireTLS = true
		wantResult(t, s.Deliver(context.Background(), m, []string{"bob@fabrikam.test"})[0], 451, "4.7.5", "none of its MX hosts")
	})
	t.Run("matching MX whose certificate names another host", func(t *testing.T) {
		e := newPolicyEnv(t, "mx1.fabrikam.test", "other.example.test")
		e.dns.add(t, `_mta-sts.fabrikam.test. 60 IN TXT "v=STSv1; id=1"`)
		ph := startPolicyHost(t, e.ca, "fabrikam.test", enforcePolicy)
		var mu sync.Mutex
		var outcomes []tlsrpt.Outcome
		s := e.sender(t, TLSPolicies{MTASTS: ph.client(t, e.resolver(t), e.ca, ""),
			Report: func(o tlsrpt.Outcome) { mu.Lock(); outcomes = append(outcomes, o); mu.Unlock() }})
		wantResult(t, s.Deliver(context.Background(), message(testBody), []string{"bob@fabrikam.test"})[0], 451, "4.7.5", "MTA-STS policy (mode enforce, id 1)")
		e.delivered(t, 0)
		mu.Lock()
		if len(outcomes) != 1 || outcomes[0].Success || outcomes[0].ResultType != tlsrpt.ResultCertificateMismatch ||
			outcomes[0].Domain != "fabrikam.test" || outcomes[0].PolicyType != tlsrpt.PolicySTS || outcomes[0].ReceivingIP != "127.0.0.1" {
			t.Errorf("TLS report outcomes %+v, want one certificate-host-mismatch", outcomes)
		}
		mu.Unlock()
		if log := e.protocolLog(t); !strings.Contains(log, "certificate does not cover mx1.fabrikam.test") {
			t.Errorf("no certificate failure in the protocol log:\n%s", log)
		}
	})
	t.Run("testing mode delivers and reports", func(t *testing.T) {
		e := newPolicyEnv(t, "mx1.fabrikam.test", "other.example.test")
		e.dns.add(t, `_mta-sts.fabrikam.test. 60 IN TXT "v=STSv1; id=1"`)
		ph := startPolicyHost(t, e.ca, "fabrikam.test", strings.Replace(enforcePolicy, "enforce", "testing", 1))
		s := e.sender(t, TLSPolicies{MTASTS: ph.client(t, e.resolver(t), e.ca, "")})
		wantResult(t, s.Deliver(context.Background(), message(testBody), []string{"bob@fabrikam.test"})[0], 0, "", "")
		e.delivered(t, 1)
		if log := e.protocolLog(t); !strings.Contains(log, "TLS policy MTA-STS testing (id 1): failure (report only, mode testing)") {
			t.Errorf("no testing-mode report in the protocol log:\n%s", log)
		}
	})
	t.Run("no STARTTLS under enforce", func(t *testing.T) {
		e := newPolicyEnv(t, "mx1.fabrikam.test", "mx1.fabrikam.test")
		plain := startServer(t, serverOpts{})
		e.ts = plain
		e.dns.add(t, `_mta-sts.fabrikam.test. 60 IN TXT "v=STSv1; id=1"`)
		ph := startPolicyHost(t, e.ca, "fabrikam.test", enforcePolicy)
		s := e.sender(t, TLSPolicies{MTASTS: ph.client(t, e.resolver(t), e.ca, "")})
		wantResult(t, s.Deliver(context.Background(), message(testBody), []string{"bob@fabrikam.test"})[0], 451, "4.7.10", "requires TLS")
		e.delivered(t, 0)
	})
}

// TestMTASTSCache: the policy is fetched once while the TXT id stays, again
// when it changes, survives a restart in the cache file, and a cached
// policy applies while the policy host is unreachable (RFC 8461 section 5.1).
func TestMTASTSCache(t *testing.T) {
	e := newPolicyEnv(t, "mx1.fabrikam.test", "mx1.fabrikam.test")
	e.dns.add(t, `_mta-sts.fabrikam.test. 60 IN TXT "v=STSv1; id=1"`)
	ph := startPolicyHost(t, e.ca, "fabrikam.test", enforcePolicy)
	cache := filepath.Join(t.TempDir(), "mta-sts-cache.json")
	c := ph.client(t, e.resolver(t), e.ca, cache)
	for range 3 {
		if r := c.Lookup(context.Background(), "fabrikam.test"); r.Policy == nil || r.Policy.Mode != mtasts.Enforce {
			t.Fatalf("lookup: %+v", r)
		}
	}
	if ph.fetches != 1 {
		t.Errorf("%d fetches for an unchanged id, want 1", ph.fetches)
	}
	e.dns.mu.Lock()
	e.dns.rrs["_mta-sts.fabrikam.test."] = nil
	e.dns.mu.Unlock()
	e.dns.add(t, `_mta-sts.fabrikam.test. 60 IN TXT "v=STSv1; id=2"`)
	ph.mu.Lock()
	ph.body = strings.Replace(enforcePolicy, "enforce", "testing", 1)
	ph.mu.Unlock()
	if r := c.Lookup(context.Background(), "fabrikam.test"); r.Policy == nil || r.Policy.Mode != mtasts.Testing || r.ID != "2" {
		t.Fatalf("after the id changed: %+v", r)
	}
	if ph.fetches != 2 {
		t.Errorf("%d fetches after the id changed, want 2", ph.fetches)
	}
	// A restart: a new client reads the cache; the host is gone.
	ph.srv.Close()
	c2 := ph.client(t, e.resolver(t), e.ca, cache)
	r := c2.Lookup(context.Background(), "fabrikam.test")
	if r.Policy == nil || r.Policy.Mode != mtasts.Testing || !r.Cached {
		t.Fatalf("after restart: %+v", r)
	}
}

// TestDANE: TLSA records from a resolver that sets AD decide, ahead of
// MTA-STS: a DANE-EE match delivers even with a certificate no CA would
// accept for the name; a mismatch keeps the mail waiting; without AD the
// records are ignored.
func TestDANE(t *testing.T) {
	tlsa := func(t *testing.T, e *policyEnv, usage, sel, mt uint8, cert *x509.Certificate) {
		r := dane.RecordFor(usage, sel, mt, cert)
		// The TLSA base name carries the port dialled (RFC 7672 section 2.2.3).
		e.dns.add(t, "_"+strconv.Itoa(e.ts.port)+"._tcp.mx1.fabrikam.test. 60 IN TLSA "+strings.Join([]string{itoa(usage), itoa(sel), itoa(mt), hex.EncodeToString(r.Data)}, " "))
	}
	leafOf := func(t *testing.T, c tls.Certificate) *x509.Certificate {
		x, err := x509.ParseCertificate(c.Certificate[0])
		if err != nil {
			t.Fatal(err)
		}
		return x
	}
	newDANE := func(t *testing.T, e *policyEnv) *dane.Resolver {
		r, err := dane.NewResolver([]string{e.dns.addr})
		if err != nil {
			t.Fatal(err)
		}
		return r
	}
	t.Run("DANE-EE match, certificate for another name", func(t *testing.T) {
		e := newPolicyEnv(t, "mx1.fabrikam.test", "other.example.test")
		tlsa(t, e, 3, 1, 1, leafOf(t, e.cert))
		e.dns.sign("fabrikam.test", "_"+strconv.Itoa(e.ts.port)+"._tcp.mx1.fabrikam.test")
		// MTA-STS enforce would refuse this certificate: DANE wins.
		e.dns.add(t, `_mta-sts.fabrikam.test. 60 IN TXT "v=STSv1; id=1"`)
		ph := startPolicyHost(t, e.ca, "fabrikam.test", enforcePolicy)
		s := e.sender(t, TLSPolicies{DANE: newDANE(t, e), MTASTS: ph.client(t, e.resolver(t), e.ca, "")})
		wantResult(t, s.Deliver(context.Background(), message(testBody), []string{"bob@fabrikam.test"})[0], 0, "", "")
		e.delivered(t, 1)
		if log := e.protocolLog(t); !strings.Contains(log, "TLS policy DANE (1 TLSA records): success") {
			t.Errorf("no DANE outcome in the protocol log:\n%s", log)
		}
	})
	t.Run("DANE-EE mismatch", func(t *testing.T) {
		e := newPolicyEnv(t, "mx1.fabrikam.test", "mx1.fabrikam.test")
		tlsa(t, e, 3, 1, 1, leafOf(t, e.ca.leaf(t, "mx1.fabrikam.test"))) // another key
		e.dns.sign("fabrikam.test", "_"+strconv.Itoa(e.ts.port)+"._tcp.mx1.fabrikam.test")
		s := e.sender(t, TLSPolicies{DANE: newDANE(t, e)})
		wantResult(t, s.Deliver(context.Background(), message(testBody), []string{"bob@fabrikam.test"})[0], 451, "4.7.5", "DANE: no TLSA record matches")
		e.delivered(t, 0)
		if log := e.protocolLog(t); !strings.Contains(log, "DANE: no TLSA record matches") {
			t.Errorf("no DANE failure in the protocol log:\n%s", log)
		}
	})
	t.Run("DANE-TA match and name check", func(t *testing.T) {
		e := newPolicyEnv(t, "mx1.fabrikam.test", "mx1.fabrikam.test")
		e.cert.Certificate = append(e.cert.Certificate, e.ca.cert.Raw) // the server sends its CA
		e.ts = startServer(t, serverOpts{cert: &e.cert})
		tlsa(t, e, 2, 0, 1, e.ca.cert)
		e.dns.sign("fabrikam.test", "_"+strconv.Itoa(e.ts.port)+"._tcp.mx1.fabrikam.test")
		s := e.sender(t, TLSPolicies{DANE: newDANE(t, e)})
		wantResult(t, s.Deliver(context.Background(), message(testBody), []string{"bob@fabrikam.test"})[0], 0, "", "")
		e.delivered(t, 1)

		bad := newPolicyEnv(t, "mx1.fabrikam.test", "other.example.test")
		bad.cert.Certificate = append(bad.cert.Certificate, bad.ca.cert.Raw)
		bad.ts = startServer(t, serverOpts{cert: &bad.cert})
		tlsa(t, bad, 2, 0, 1, bad.ca.cert)
		bad.dns.sign("fabrikam.test", "_"+strconv.Itoa(bad.ts.port)+"._tcp.mx1.fabrikam.test")
		s = bad.sender(t, TLSPolicies{DANE: newDANE(t, bad)})
		wantResult(t, s.Deliver(context.Background(), message(testBody), []string{"bob@fabrikam.test"})[0], 451, "4.7.5", "do not cover mx1.fabrikam.test")
	})
	t.Run("unsigned TLSA records are ignored", func(t *testing.T) {
		e := newPolicyEnv(t, "mx1.fabrikam.test", "mx1.fabrikam.test")
		tlsa(t, e, 3, 1, 1, leafOf(t, e.ca.leaf(t, "x"))) // would not match
		s := e.sender(t, TLSPolicies{DANE: newDANE(t, e)})
		wantResult(t, s.Deliver(context.Background(), message(testBody), []string{"bob@fabrikam.test"})[0], 0, "", "")
		e.delivered(t, 1)
	})
}

func itoa(u uint8) string { return string(rune('0' + u)) }
