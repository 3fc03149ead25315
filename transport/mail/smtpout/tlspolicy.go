package smtpout

import (
	"bufio"
	"context"
	"crypto/tls"
	"fmt"
	"io"
	"log/slog"
	"net"
	"net/textproto"
	"strconv"
	"strings"
	"time"

	"github.com/transportd/transportd/connector/protolog"
	"github.com/transportd/transportd/transport/mail/dane"
	"github.com/transportd/transportd/transport/mail/delivery"
	"github.com/transportd/transportd/transport/mail/mtasts"
	"github.com/transportd/transportd/transport/mail/tlsrpt"
)

// TLSPolicies are the recipient-domain TLS policies applied to MX delivery
// (DNSRoutingEnabled): DANE (RFC 7672) first, MTA-STS (RFC 8461) where
// the host has no usable TLSA records. Either may be nil.
type TLSPolicies struct {
	MTASTS *mtasts.Client
	DANE   *dane.Resolver
	// Report, when set, receives the outcome of every session (and every
	// refused MX host) under a policy, for TLS reports (RFC 8460).
	Report func(tlsrpt.Outcome)
}

// Policy kinds in the protocol log and message tracking.
const (
	policyDANE   = "DANE"
	policyMTASTS = "MTA-STS"
)

// hostPolicy is the TLS policy one MX host is delivered under.
type hostPolicy struct {
	kind    string          // policyDANE or policyMTASTS
	mode    mtasts.Mode     // MTA-STS mode
	stsID   string          // MTA-STS policy id
	records []dane.Record   // DANE: usable TLSA records
	sts     *mtasts.Policy  // MTA-STS: the policy
	domain  string          // the policy domain (recipient domain)
	err     *delivery.Error // the host may not be used (failed TLSA lookup)
}

// tag distinguishes pooled connections opened under different policies.
func (p *hostPolicy) tag() string {
	if p == nil {
		return ""
	}
	return p.kind + string(p.mode)
}

// mustTLS reports that the host is reached only over authenticated TLS.
func (p *hostPolicy) mustTLS() bool {
	return p != nil && (p.kind == policyDANE || p.mode == mtasts.Enforce)
}

// String names the policy for logs: "DANE (2 TLSA records)",
// "MTA-STS enforce (id 2026...)".
func (p *hostPolicy) String() string {
	switch {
	case p == nil:
		return "none"
	case p.kind == policyDANE:
		return fmt.Sprintf("DANE (%d TLSA records)", len(p.records))
	default:
		return fmt.Sprintf("MTA-STS %s (id %s)", p.mode, p.stsID)
	}
}

// applyTLSPolicies looks up the recipient domain's MTA-STS policy and each
// host's TLSA records and returns the hosts to try, each with its policy.
// Under MTA-STS enforce, hosts the policy does not list are dropped (RFC
// 8461 section 4.1); when none is left the delivery waits (transient).
//
// A message with the header field "TLS-Required: No" (RFC 8689 section 5)
// is delivered as under MTA-STS testing and without DANE: TLS is tried,
// its failures are reported, not enforced; REQUIRETLS on the envelope
// outranks the header.
func (s *Sender) applyTLSPolicies(ctx context.Context, log *slog.Logger, msg *delivery.Message, domain string, hosts []host) ([]host, *delivery.Error) {
	if !s.conn.DNSRoutingEnabled || (s.policies.MTASTS == nil && s.policies.DANE == nil) {
		return hosts, nil
	}
	domain = strings.TrimSuffix(strings.ToLower(domain), ".")
	if strings.HasPrefix(domain, "[") {
		return hosts, nil // an address literal has no policy
	}
	var sts *mtasts.Result
	if s.policies.MTASTS != nil {
		r := s.policies.MTASTS.Lookup(ctx, domain)
		if r.Note != "" {
			log.Info("MTA-STS", "domain", domain, "note", r.Note)
		}
		if r.Policy != nil && r.Policy.Mode != mtasts.None {
			sts = &r
		}
	}
	daneOn := false
	if s.policies.DANE != nil {
		// RFC 7672 section 2.2.1: DANE applies only when the MX RRset (or,
		// without MX, the domain's address records) is DNSSEC-secure.
		sec, err := s.policies.DANE.Secure(ctx, domain)
		if err != nil {
			log.Info("DANE: cannot tell whether the MX records are signed; DANE not applied", "domain", domain, "err", err)
		}
		daneOn = sec
	}
	if (sts != nil || daneOn) && !msg.RequireTLS && tlsRequiredNo(msg) {
		log.Info("TLS-Required: No: the recipient domain's TLS policy is reported, not enforced (RFC 8689 section 5)", "domain", domain)
		daneOn = false
		if sts != nil && sts.Policy.Mode == mtasts.Enforce {
			relaxed := *sts
			p := *sts.Policy
			p.Mode = mtasts.Testing
			relaxed.Policy = &p
			sts = &relaxed
		}
	}
	out := hosts[:0:0]
	var skipped []string
	for _, h := range hosts {
		if h.ip {
			out = append(out, h)
			continue
		}
		if daneOn {
			port := 25
			if _, p, err := net.SplitHostPort(h.addr); err == nil {
				port, _ = strconv.Atoi(p)
			}
			l, err := s.policies.DANE.TLSA(ctx, h.name, port)
			switch {
			case err != nil:
				// RFC 7672 section 2.2.1: a failed TLSA lookup of a
				// secure host makes it unusable; try the next one.
				h.policy = &hostPolicy{kind: policyDANE, domain: domain, err: tempf(h.name, [3]int{4, 7, 5},
					"DANE: %v; %s is not used until its TLSA records can be looked up", err, h.name)}
				s.report(h, "", "", false, "dnssec-invalid", err.Error())
				out = append(out, h)
				continue
			case l.Active():
				h.policy = &hostPolicy{kind: policyDANE, domain: domain, records: l.Records}
				out = append(out, h)
				continue
			}
		}
		if sts != nil {
			h.policy = &hostPolicy{kind: policyMTASTS, mode: sts.Policy.Mode, stsID: sts.ID, sts: sts.Policy, domain: domain}
			if sts.Policy.Mode == mtasts.Enforce && !sts.Policy.Match(h.name) {
				skipped = append(skipped, h.name)
				s.report(h, "", "", false, tlsrpt.ResultValidationFailure, "MX host not listed in the MTA-STS policy")
				continue
			}
			if sts.Policy.Mode == mtasts.Testing && !sts.Policy.Match(h.name) {
				log.Warn("MTA-STS testing: MX host not in the policy; delivering anyway", "domain", domain, "host", h.name, "mx", sts.Policy.MX)
			}
		}
		out = append(out, h)
	}
	if len(skipped) > 0 {
		log.Warn("MTA-STS enforce: MX hosts not in the policy are skipped", "domain", domain, "skipped", skipped, "mx", sts.Policy.MX)
	}
	if len(out) == 0 && sts != nil {
		// X.7.5: the policy forbids every host (RFC 8461 section 5).
		return nil, delivery.Temporary([3]int{4, 7, 5},
			"MTA-STS policy of %s (mode enforce, id %s) lists mx %s, and none of its MX hosts (%s) matches; the message waits",
			domain, sts.ID, strings.Join(sts.Policy.MX, ", "), strings.Join(skipped, ", "))
	}
	return out, nil
}

// policyVerify returns the certificate check a host's policy demands,
// or nil when the connector's TlsAuthLevel alone applies. Under DANE only
// the TLSA records decide (RFC 7672 section 3.1); under MTA-STS enforce
// the chain must verify and name the MX host (RFC 8461 section 4.2), on
// top of the connector's own checks.
func (s *Sender) policyVerify(h host, connector func(tls.ConnectionState) error) func(tls.ConnectionState) error {
	p := h.policy
	switch {
	case p != nil && p.kind == policyDANE:
		return func(cs tls.ConnectionState) error {
			if err := dane.Verify(cs, p.records, []string{h.name}, time.Now()); err != nil {
				return fmt.Errorf("DANE: %w", err)
			}
			return nil
		}
	case p != nil && p.mode == mtasts.Enforce, h.requireTLS:
		// REQUIRETLS (RFC 8689 section 4.2.1) asks the same of a host
		// without DANE: a trusted chain naming the host.
		what := "REQUIRETLS (RFC 8689)"
		if p != nil && p.mode == mtasts.Enforce {
			what = fmt.Sprintf("MTA-STS policy (mode enforce, id %s)", p.stsID)
		}
		return func(cs tls.ConnectionState) error {
			if err := verifyPeer(cs, s.roots, h.name); err != nil {
				return fmt.Errorf("%s: %w", what, err)
			}
			if connector != nil {
				return connector(cs)
			}
			return nil
		}
	}
	return nil
}

// logPolicyOutcome writes the TLS policy outcome of a session to the
// protocol log: "TLS policy DANE (1 TLSA records): success". Under
// MTA-STS testing a failed check is reported here and delivery goes on.
func (s *Sender) logPolicyOutcome(log *slog.Logger, h host, raw net.Conn, psess *protolog.Session, st *tls.ConnectionState) string {
	p := h.policy
	if p == nil {
		return ""
	}
	local, remote := addrIP(raw.LocalAddr()), addrIP(raw.RemoteAddr())
	result := "success"
	switch {
	case st == nil && p.mode == mtasts.Testing:
		result = "failure (report only, mode testing): no TLS (STARTTLS not offered or refused)"
		s.report(h, local, remote, false, tlsrpt.ResultSTARTTLSNotSupported, "")
	case st != nil && p.mode == mtasts.Testing:
		if err := verifyPeer(*st, s.roots, h.name); err != nil {
			result = "failure (report only, mode testing): " + err.Error()
			s.report(h, local, remote, false, resultType(err.Error()), err.Error())
		} else {
			s.report(h, local, remote, true, "", "")
		}
	default:
		s.report(h, local, remote, true, "", "")
	}
	line := "TLS policy " + p.String() + ": " + result
	psess.Info(line, "")
	if result != "success" {
		log.Warn(line, "host", h.name)
	}
	if result != "success" {
		result = "failure"
	}
	kind := p.kind
	if p.mode != "" {
		kind += " " + string(p.mode)
	}
	return "TlsPolicy=" + kind + " " + result
}

// report passes an outcome under h's policy to TLS reporting.
func (s *Sender) report(h host, local, remote string, ok bool, resultType, reason string) {
	p := h.policy
	if s.policies.Report == nil || p == nil {
		return
	}
	o := tlsrpt.Outcome{Domain: p.domain, MXHost: h.name, SendingIP: local, ReceivingIP: remote, Success: ok, ResultType: resultType}
	if len(reason) > 200 {
		reason = reason[:200]
	}
	o.Reason = reason
	switch {
	case p.kind == policyDANE:
		o.PolicyType = tlsrpt.PolicyTLSA
		for _, r := range p.records {
			o.PolicyString = append(o.PolicyString, r.String())
		}
	case p.sts != nil:
		o.PolicyType = tlsrpt.PolicySTS
		o.PolicyString = []string{"version: STSv1", "mode: " + string(p.sts.Mode)}
		for _, mx := range p.sts.MX {
			o.PolicyString = append(o.PolicyString, "mx: "+mx)
		}
		o.PolicyString = append(o.PolicyString, "max_age: "+strconv.Itoa(int(p.sts.MaxAge/time.Second)))
		o.MXPatterns = p.sts.MX
	}
	s.policies.Report(o)
}

// reportFailure reports a connection set-up failure under h's policy when
// it is about TLS (X.7.x).
func (s *Sender) reportFailure(h host, raw net.Conn, herr *delivery.Error) {
	if h.policy == nil || herr == nil || herr.Enhanced[1] != 7 {
		return
	}
	s.report(h, addrIP(raw.LocalAddr()), addrIP(raw.RemoteAddr()), false, resultType(herr.Message), herr.Message)
}

// resultType maps a failure text to an RFC 8460 section 4.3 result type.
func resultType(msg string) string {
	switch {
	case strings.Contains(msg, "does not offer STARTTLS"):
		return tlsrpt.ResultSTARTTLSNotSupported
	case strings.Contains(msg, "does not cover"), strings.Contains(msg, "do not cover"):
		return tlsrpt.ResultCertificateMismatch
	case strings.Contains(msg, "expired"):
		return tlsrpt.ResultCertificateExpired
	case strings.Contains(msg, "does not verify"), strings.Contains(msg, "unknown authority"):
		return tlsrpt.ResultCertificateUntrusted
	}
	return tlsrpt.ResultValidationFailure
}

func addrIP(a net.Addr) string {
	if ta, ok := a.(*net.TCPAddr); ok {
		return ta.IP.String()
	}
	return ""
}

// requireTLSError is the failure for a REQUIRETLS message toward a host
// that cannot take it: RFC 8689 section 5 (X.7.30 "REQUIRETLS support
// required"). It is permanent: the message is returned, not sent in clear.
func requireTLSError(h host, what string) *delivery.Error {
	return &delivery.Error{Code: 550, Enhanced: [3]int{5, 7, 30}, RemoteMTA: h.name,
		Message: fmt.Sprintf("REQUIRETLS support required: %s %s; the message carries REQUIRETLS (RFC 8689) and is not relayed without it", h.name, what)}
}

// tlsRequiredNo reports whether the message header has "TLS-Required: No"
// (RFC 8689 section 5). Only the header is read, at most 256 KiB of it.
func tlsRequiredNo(msg *delivery.Message) bool {
	if msg.Open == nil {
		return false
	}
	r, err := msg.Open()
	if err != nil {
		return false
	}
	defer r.Close()
	tp := textproto.NewReader(bufio.NewReader(io.LimitReader(r, 256<<10)))
	h, err := tp.ReadMIMEHeader()
	if err != nil && len(h) == 0 {
		return false
	}
	return strings.EqualFold(strings.TrimSpace(h.Get("Tls-Required")), "no")
}
