// Package dnstest is an authoritative DNS server on loopback (UDP and
// TCP, github.com/miekg/dns) for tests: the only DNS the tests of SPF,
// DKIM, DMARC, block lists, MX routing, MTA-STS and DANE ask, so that no
// test ever reaches the machine's resolver.
package dnstest

import (
	"net"
	"strings"
	"sync"
	"testing"

	"github.com/miekg/dns"
)

// Server answers from the records it was given. A name with records of
// another type answers NOERROR without records; an unknown name NXDOMAIN.
type Server struct {
	// Addr is the address to ask (ip:port), for ExternalDNSServers.
	Addr string

	mu      sync.Mutex
	rrs     map[string][]dns.RR // lower-case fqdn -> records
	fail    map[string]int      // domain suffix -> rcode
	queries map[string]int      // lower-case fqdn -> times asked
	signed  bool
}

// Start runs a server on 127.0.0.1 until the test ends.
func Start(t testing.TB) *Server {
	t.Helper()
	s := &Server{rrs: map[string][]dns.RR{}, fail: map[string]int{}, queries: map[string]int{}}
	pc, err := net.ListenPacket("udp4", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	s.Addr = pc.LocalAddr().String()
	l, err := net.Listen("tcp4", s.Addr)
	if err != nil {
		t.Fatal(err)
	}
	h := dns.HandlerFunc(s.serve)
	udp := &dns.Server{PacketConn: pc, Handler: h}
	tcp := &dns.Server{Listener: l, Handler: h}
	started := make(chan struct{}, 2)
	udp.NotifyStartedFunc = func() { started <- struct{}{} }
	tcp.NotifyStartedFunc = func() { started <- struct{}{} }
	done := make(chan struct{}, 2)
	go func() { udp.ActivateAndServe(); done <- struct{}{} }()
	go func() { tcp.ActivateAndServe(); done <- struct{}{} }()
	<-started
	<-started
	t.Cleanup(func() { udp.Shutdown(); tcp.Shutdown(); <-done; <-done })
	return s
}

// Signed makes every answer to a query with the DO bit carry AD, as a
// validating resolver does for a signed zone (what DANE trusts).
func (s *Server) Signed() *Server {
	s.mu.Lock()
	defer s.mu.Unlock()
	s.signed = true
	return s
}

// Add publishes records given in zone-file syntax
// ("_25._tcp.mx.example.org. 300 IN TLSA 3 1 1 ...").
func (s *Server) Add(t testing.TB, records ...string) {
	t.Helper()
	s.mu.Lock()
	defer s.mu.Unlock()
	for _, r := range records {
		rr, err := dns.NewRR(r)
		if err != nil {
			t.Fatalf("dnstest: %q: %v", r, err)
		}
		n := strings.ToLower(rr.Header().Name)
		s.rrs[n] = append(s.rrs[n], rr)
	}
}

// SetTXT replaces name's TXT records (each split into strings of at most
// 255 octets, RFC 1035 section 3.3.14); none removes them.
func (s *Server) SetTXT(name string, txt ...string) {
	n := key(name)
	s.mu.Lock()
	defer s.mu.Unlock()
	s.rrs[n] = keep(s.rrs[n], dns.TypeTXT)
	for _, v := range txt {
		var parts []string
		for len(v) > 255 {
			parts, v = append(parts, v[:255]), v[255:]
		}
		parts = append(parts, v)
		s.rrs[n] = append(s.rrs[n], &dns.TXT{Hdr: hdr(n, dns.TypeTXT), Txt: parts})
	}
	if len(s.rrs[n]) == 0 {
		delete(s.rrs, n)
	}
}

// SetA replaces name's A records.
func (s *Server) SetA(name string, ips ...string) {
	n := key(name)
	s.mu.Lock()
	defer s.mu.Unlock()
	s.rrs[n] = keep(s.rrs[n], dns.TypeA)
	for _, ip := range ips {
		s.rrs[n] = append(s.rrs[n], &dns.A{Hdr: hdr(n, dns.TypeA), A: net.ParseIP(ip)})
	}
	if len(s.rrs[n]) == 0 {
		delete(s.rrs, n)
	}
}

// Fail makes every name under domain answer rcode (dns.RcodeServerFailure,
// say).
func (s *Server) Fail(domain string, rcode int) {
	s.mu.Lock()
	defer s.mu.Unlock()
	s.fail[key(domain)] = rcode
}

// Asked returns how often name was asked, any type.
func (s *Server) Asked(name string) int {
	s.mu.Lock()
	defer s.mu.Unlock()
	return s.queries[key(name)]
}

func (s *Server) serve(w dns.ResponseWriter, req *dns.Msg) {
	m := new(dns.Msg)
	m.SetReply(req)
	m.Authoritative = true
	s.mu.Lock()
	defer s.mu.Unlock()
	for _, q := range req.Question {
		n := strings.ToLower(q.Name)
		s.queries[n]++
		if rcode, ok := s.failing(n); ok {
			m.Rcode = rcode
			continue
		}
		recs, ok := s.rrs[n]
		if !ok {
			m.Rcode = dns.RcodeNameError
			continue
		}
		for _, rr := range recs {
			if rr.Header().Rrtype == q.Qtype {
				m.Answer = append(m.Answer, rr)
			}
		}
	}
	m.AuthenticatedData = s.signed && req.IsEdns0() != nil && req.IsEdns0().Do()
	w.WriteMsg(m)
}

func (s *Server) failing(n string) (int, bool) {
	for d, rcode := range s.fail {
		if n == d || strings.HasSuffix(n, "."+d) {
			return rcode, true
		}
	}
	return 0, false
}

func key(name string) string { return dns.Fqdn(strings.ToLower(name)) }

func hdr(n string, t uint16) dns.RR_Header {
	return dns.RR_Header{Name: n, Rrtype: t, Class: dns.ClassINET, Ttl: 60}
}

// keep returns rrs without those of type t.
func keep(rrs []dns.RR, t uint16) []dns.RR {
	out := rrs[:0]
	for _, rr := range rrs {
		if rr.Header().Rrtype != t {
			out = append(out, rr)
		}
	}
	return out
}
