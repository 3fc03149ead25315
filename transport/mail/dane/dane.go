// Package dane implements SMTP security via opportunistic DANE TLS
// (RFC 7672) for the sending side: it looks up the TLSA records of an MX
// host ("_25._tcp.<mx>") and checks a server's certificate chain against
// them.
//
// transportd does not validate DNSSEC itself: it trusts the validation of
// the configured resolver (the transport service's ExternalDNSServers, or
// the system's) and treats TLSA records as authentic only when that
// resolver sets the AD (authenticated data) bit, as Postfix does with
// smtp_dns_support_level = dnssec. The resolver must therefore be a
// validating one reached over a trusted path (loopback or the local
// network).
package dane

import (
	"context"
	"crypto/sha256"
	"crypto/sha512"
	"crypto/subtle"
	"crypto/tls"
	"crypto/x509"
	"encoding/hex"
	"errors"
	"fmt"
	"net"
	"strconv"
	"strings"
	"time"

	"github.com/miekg/dns"

	"github.com/transportd/transportd/policies/dnsclient"
)

// Certificate usages, selectors and matching types (RFC 6698 section 2.1,
// RFC 7218 acronyms).
const (
	UsageDANETA   = 2
	UsageDANEEE   = 3
	SelectorCert  = 0
	SelectorSPKI  = 1
	MatchFull     = 0
	MatchSHA256   = 1
	MatchSHA512   = 2
	queryTimeout  = 10 * time.Second
	resolvConfLoc = "/etc/resolv.conf"
)

// Record is one TLSA record.
type Record struct {
	Usage, Selector, MatchingType uint8
	Data                          []byte
}

// String shows the record as in a zone file: "3 1 1 <hex>".
func (r Record) String() string {
	return fmt.Sprintf("%d %d %d %s", r.Usage, r.Selector, r.MatchingType, hex.EncodeToString(r.Data))
}

// usable reports a record SMTP may use (RFC 7672 section 3.1): DANE-TA or
// DANE-EE, a known selector and matching type, data of the right length.
func (r Record) usable() bool {
	if r.Usage != UsageDANETA && r.Usage != UsageDANEEE || r.Selector > SelectorSPKI {
		return false
	}
	switch r.MatchingType {
	case MatchFull:
		return len(r.Data) > 0
	case MatchSHA256:
		return len(r.Data) == sha256.Size
	case MatchSHA512:
		return len(r.Data) == sha512.Size
	}
	return false
}

// Resolver asks DNS servers for TLSA records with the DO bit set.
type Resolver struct {
	servers []string
	client  *dns.Client
}

// NewResolver returns a resolver asking servers in order (each an IP
// address or address:port); an empty list uses the nameservers of
// /etc/resolv.conf.
func NewResolver(servers []string) (*Resolver, error) {
	r := &Resolver{client: &dns.Client{Timeout: queryTimeout}}
	for _, s := range servers {
		if strings.TrimSpace(s) == "" {
			continue
		}
		a, err := dnsclient.ParseServer(s)
		if err != nil {
			return nil, err
		}
		r.servers = append(r.servers, a)
	}
	if len(r.servers) == 0 {
		cc, err := dns.ClientConfigFromFile(resolvConfLoc)
		if err != nil {
			return nil, fmt.Errorf("DANE: reading the DNS servers: %w", err)
		}
		for _, s := range cc.Servers {
			r.servers = append(r.servers, net.JoinHostPort(s, cc.Port))
		}
	}
	return r, nil
}

// Lookup is the answer for one host.
type Lookup struct {
	// Records are the usable TLSA records (RFC 7672 section 3.1); DANE
	// applies when there is at least one and Secure is set.
	Records []Record
	// Secure is set when the resolver validated the answer (AD bit).
	Secure bool
	// Unusable counts records in a secure answer that SMTP cannot use:
	// TLS is then still attempted, but not required (section 2.2).
	Unusable int
}

// Active reports whether DANE authentication applies to the host.
func (l Lookup) Active() bool { return l.Secure && len(l.Records) > 0 }

// TLSA looks up "_<port>._tcp.<host>" TLSA records. A failed lookup
// (SERVFAIL, which a validating resolver returns for bogus data, or no
// answer) is an error: RFC 7672 section 2.2.1 says the host must then not
// be used. NXDOMAIN and an empty answer are no records.
func (r *Resolver) TLSA(ctx context.Context, host string, port int) (Lookup, error) {
	name := "_" + strconv.Itoa(port) + "._tcp." + dns.Fqdn(strings.ToLower(host))
	m := new(dns.Msg)
	m.SetQuestion(name, dns.TypeTLSA)
	m.RecursionDesired = true
	m.SetEdns0(4096, true) // DO: ask for DNSSEC data and validation
	m.AuthenticatedData = true
	var errs []error
	for _, srv := range r.servers {
		in, _, err := r.client.ExchangeContext(ctx, m, srv)
		if err == nil && in.Truncated {
			tcp := &dns.Client{Net: "tcp", Timeout: r.client.Timeout}
			in, _, err = tcp.ExchangeContext(ctx, m, srv)
		}
		if err != nil {
			errs = append(errs, err)
			continue
		}
		switch in.Rcode {
		case dns.RcodeSuccess, dns.RcodeNameError:
		default:
			errs = append(errs, fmt.Errorf("%s answered %s", srv, dns.RcodeToString[in.Rcode]))
			continue
		}
		var l Lookup
		l.Secure = in.AuthenticatedData
		for _, rr := range in.Answer {
			t, ok := rr.(*dns.TLSA)
			if !ok {
				continue
			}
			data, err := hex.DecodeString(t.Certificate)
			if err != nil {
				l.Unusable++
				continue
			}
			rec := Record{Usage: t.Usage, Selector: t.Selector, MatchingType: t.MatchingType, Data: data}
			if rec.usable() {
				l.Records = append(l.Records, rec)
			} else {
				l.Unusable++
			}
		}
		return l, nil
	}
	return Lookup{}, fmt.Errorf("TLSA lookup for %s failed: %w", strings.TrimSuffix(name, "."), errors.Join(errs...))
}

// Verify checks the server's chain in cs against recs (RFC 7672 section
// 3.1): a DANE-EE record matches the leaf certificate, with no name or
// validity check; a DANE-TA record matches a certificate of the chain the
// server sent, which must then issue the leaf, and the leaf must name one
// of names (the MX host; section 3.2.2).
func Verify(cs tls.ConnectionState, recs []Record, names []string, now time.Time) error {
	chain := cs.PeerCertificates
	if len(chain) == 0 {
		return errors.New("the server sent no certificate")
	}
	leaf := chain[0]
	var taErr error
	for _, r := range recs {
		switch r.Usage {
		case UsageDANEEE:
			if match(r, leaf) {
				return nil
			}
		case UsageDANETA:
			for _, ta := range chain[1:] {
				if !match(r, ta) {
					continue
				}
				if err := chainsTo(leaf, chain[1:], ta, names, now); err != nil {
					taErr = err
					continue
				}
				return nil
			}
		}
	}
	if taErr != nil {
		return fmt.Errorf("DANE-TA trust anchor matched, but %w", taErr)
	}
	return fmt.Errorf("no TLSA record matches the certificate chain of %q", leaf.Subject.String())
}

// chainsTo verifies leaf up to the trust anchor ta and checks its name.
func chainsTo(leaf *x509.Certificate, rest []*x509.Certificate, ta *x509.Certificate, names []string, now time.Time) error {
	roots, inter := x509.NewCertPool(), x509.NewCertPool()
	roots.AddCert(ta)
	for _, c := range rest {
		if c != ta {
			inter.AddCert(c)
		}
	}
	if _, err := leaf.Verify(x509.VerifyOptions{Roots: roots, Intermediates: inter, CurrentTime: now,
		KeyUsages: []x509.ExtKeyUsage{x509.ExtKeyUsageAny}}); err != nil {
		return fmt.Errorf("the certificate does not chain to it: %w", err)
	}
	for _, n := range names {
		if leaf.VerifyHostname(strings.TrimSuffix(n, ".")) == nil {
			return nil
		}
	}
	return fmt.Errorf("the certificate names %v do not cover %s", leaf.DNSNames, strings.Join(names, " or "))
}

// match reports whether r's data matches c under r's selector and
// matching type (RFC 6698 section 2.1.2, 2.1.3).
func match(r Record, c *x509.Certificate) bool {
	data := c.Raw
	if r.Selector == SelectorSPKI {
		data = c.RawSubjectPublicKeyInfo
	}
	var sum []byte
	switch r.MatchingType {
	case MatchFull:
		sum = data
	case MatchSHA256:
		s := sha256.Sum256(data)
		sum = s[:]
	case MatchSHA512:
		s := sha512.Sum512(data)
		sum = s[:]
	default:
		return false
	}
	return len(sum) == len(r.Data) && subtle.ConstantTimeCompare(sum, r.Data) == 1
}

// RecordFor returns the TLSA record of usage, selector and matching type
// for c: what an admin publishes (and what tests serve).
func RecordFor(usage, selector, matching uint8, c *x509.Certificate) Record {
	r := Record{Usage: usage, Selector: selector, MatchingType: matching}
	data := c.Raw
	if selector == SelectorSPKI {
		data = c.RawSubjectPublicKeyInfo
	}
	switch matching {
	case MatchSHA256:
		s := sha256.Sum256(data)
		r.Data = s[:]
	case MatchSHA512:
		s := sha512.Sum512(data)
		r.Data = s[:]
	default:
		r.Data = data
	}
	return r
}

// Secure reports whether the resolver validated domain's MX RRset (or its
// absence): the AD bit on the answer to an MX query. DANE applies to the
// MX hosts only then (RFC 7672 section 2.2.1).
func (r *Resolver) Secure(ctx context.Context, domain string) (bool, error) {
	m := new(dns.Msg)
	m.SetQuestion(dns.Fqdn(strings.ToLower(domain)), dns.TypeMX)
	m.RecursionDesired = true
	m.SetEdns0(4096, true)
	m.AuthenticatedData = true
	var errs []error
	for _, srv := range r.servers {
		in, _, err := r.client.ExchangeContext(ctx, m, srv)
		if err != nil {
			errs = append(errs, err)
			continue
		}
		if in.Rcode != dns.RcodeSuccess && in.Rcode != dns.RcodeNameError {
			errs = append(errs, fmt.Errorf("%s answered %s", srv, dns.RcodeToString[in.Rcode]))
			continue
		}
		return in.AuthenticatedData, nil
	}
	return false, fmt.Errorf("MX lookup for %s with DNSSEC failed: %w", domain, errors.Join(errs...))
}
