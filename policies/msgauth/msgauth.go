// Package msgauth checks who may have sent a message arriving from the
// Internet: SPF for the MAIL FROM and HELO identities (RFC 7208), DKIM
// signatures (RFC 6376) and the From: domain's DMARC policy (RFC 7489),
// and writes the outcome as one Authentication-Results header field
// (RFC 8601).
//
// The checks are github.com/emersion/go-msgauth's (DKIM, DMARC record
// parsing, Authentication-Results syntax) and blitiri.com.ar/go/spf's;
// this package combines them into the DMARC verdict (identifier
// alignment, RFC 7489 section 3.1; policy discovery, section 6.6.3) and
// decides what the receive connector does with it. Every DNS query goes
// through the resolver it is given.
package msgauth

import (
	"bytes"
	"context"
	"fmt"
	"math/rand/v2"
	"net"
	"net/mail"
	"net/netip"
	"strings"

	"blitiri.com.ar/go/spf"
	"github.com/emersion/go-msgauth/authres"
	"github.com/emersion/go-msgauth/dkim"
	"github.com/emersion/go-msgauth/dmarc"
	"golang.org/x/net/publicsuffix"
)

// Action is what DMARC asks the receiver to do with a message.
type Action int

// The actions of a DMARC verdict.
const (
	// Accept: DMARC passed, the domain has no policy, or its policy is none.
	Accept Action = iota
	// Quarantine: p=quarantine failed; the message is delivered marked as spam.
	Quarantine
	// Reject: p=reject failed; the message is refused at end of data.
	Reject
)

// Input is what the session knows about a message.
type Input struct {
	// IP is the client's address.
	IP netip.Addr
	// Helo is the HELO/EHLO name.
	Helo string
	// MailFrom is the reverse-path; "" is the null sender.
	MailFrom string
	// Message is the whole message, CRLF line endings.
	Message []byte
}

// DKIMOutcome is one signature's result.
type DKIMOutcome struct {
	Domain   string
	Selector string
	Result   string // pass, fail, neutral, temperror, permerror
	Reason   string
}

// Verdict is the outcome of the checks.
type Verdict struct {
	// SPF is the SPF result for SPFDomain: the MAIL FROM domain, or the
	// HELO name for the null sender (RFC 7208 section 2.4).
	SPF       spf.Result
	SPFDomain string
	// SPFHelo is the SPF result for the HELO identity (RFC 7208 section
	// 2.3), when the MAIL FROM is not null and HELO names a domain; "" otherwise.
	SPFHelo spf.Result
	// DKIM has one entry per signature; none: the message is unsigned.
	DKIM []DKIMOutcome
	// DMARC is pass, fail, none, temperror or permerror.
	DMARC string
	// FromDomain is the domain of the From: address ("" when there is no
	// single one).
	FromDomain string
	// Policy is the DMARC policy that applies to FromDomain ("" without one).
	Policy dmarc.Policy
	// Action is what the policy asks for this message.
	Action Action
	// Reason explains a failing DMARC verdict for people.
	Reason string
}

// Checker runs the checks.
type Checker struct {
	// Resolver answers every DNS query (SPF, DKIM keys, DMARC).
	Resolver *net.Resolver
	// AuthServID names this host in Authentication-Results (RFC 8601
	// section 2.5): the server's FQDN.
	AuthServID string
	// Rand, when set, replaces the random draw of DMARC's pct= sampling
	// (a value in [0,100)); tests fix it.
	Rand func() int
}

// Check runs SPF, DKIM and DMARC on in.
func (c *Checker) Check(ctx context.Context, in Input) Verdict {
	var v Verdict
	r := c.Resolver
	if r == nil {
		r = net.DefaultResolver
	}
	lookupTXT := func(name string) ([]string, error) { return r.LookupTXT(ctx, name) }

	// SPF (RFC 7208 section 2.4): MAIL FROM, or postmaster@HELO for <>.
	sender := in.MailFrom
	if sender == "" {
		sender = "postmaster@" + in.Helo
	}
	_, v.SPFDomain, _ = strings.Cut(sender, "@")
	v.SPFDomain = strings.ToLower(v.SPFDomain)
	res, _ := spf.CheckHostWithSender(net.IP(in.IP.AsSlice()), in.Helo, sender, spf.WithResolver(r), spf.WithContext(ctx))
	v.SPF = res
	if in.MailFrom != "" && strings.Contains(in.Helo, ".") && !strings.HasPrefix(in.Helo, "[") {
		v.SPFHelo, _ = spf.CheckHostWithSender(net.IP(in.IP.AsSlice()), in.Helo, "postmaster@"+in.Helo, spf.WithResolver(r), spf.WithContext(ctx))
	}

	// DKIM: every signature (at most 5, as go-msgauth's default).
	verifs, err := dkim.VerifyWithOptions(bytes.NewReader(in.Message), &dkim.VerifyOptions{LookupTXT: lookupTXT, MaxVerifications: 5})
	if err != nil {
		v.DKIM = append(v.DKIM, DKIMOutcome{Result: "permerror", Reason: err.Error()})
	}
	for _, ve := range verifs {
		o := DKIMOutcome{Domain: strings.ToLower(ve.Domain), Result: "pass"}
		switch {
		case ve.Err == nil:
		case dkim.IsTempFail(ve.Err):
			o.Result, o.Reason = "temperror", ve.Err.Error()
		case dkim.IsPermFail(ve.Err):
			o.Result, o.Reason = "permerror", ve.Err.Error()
		default:
			o.Result, o.Reason = "fail", ve.Err.Error()
		}
		if strings.Contains(o.Reason, "signature did not verify") || strings.Contains(o.Reason, "body hash did not verify") {
			o.Result = "fail"
		}
		v.DKIM = append(v.DKIM, o)
	}

	// DMARC (RFC 7489 section 6.6).
	v.FromDomain = FromDomain(in.Message)
	if v.FromDomain == "" {
		v.DMARC, v.Reason = "permerror", "no single From: address"
		return v
	}
	rec, orgLevel, err := c.lookupDMARC(v.FromDomain, lookupTXT)
	switch {
	case err == dmarc.ErrNoPolicy:
		v.DMARC = "none"
		return v
	case err != nil && dmarc.IsTempFail(err):
		v.DMARC, v.Reason = "temperror", err.Error()
		return v
	case err != nil:
		v.DMARC, v.Reason = "permerror", err.Error()
		return v
	}
	v.Policy = rec.Policy
	if orgLevel && rec.SubdomainPolicy != "" {
		v.Policy = rec.SubdomainPolicy // RFC 7489 section 6.3, sp=
	}
	spfAligned := v.SPF == spf.Pass && aligned(v.SPFDomain, v.FromDomain, rec.SPFAlignment)
	dkimAligned := false
	for _, d := range v.DKIM {
		if d.Result == "pass" && aligned(d.Domain, v.FromDomain, rec.DKIMAlignment) {
			dkimAligned = true
		}
	}
	if spfAligned || dkimAligned {
		v.DMARC = "pass"
		return v
	}
	v.DMARC = "fail"
	v.Reason = fmt.Sprintf("%s publishes DMARC p=%s and neither SPF (%s for %s) nor a DKIM signature aligned with it passed",
		v.FromDomain, v.Policy, v.SPF, v.SPFDomain)
	pct := 100
	if rec.Percent != nil {
		pct = *rec.Percent
	}
	draw := rand.IntN(100)
	if c.Rand != nil {
		draw = c.Rand()
	}
	if draw >= pct {
		return v // sampled out (RFC 7489 section 6.6.4): treated as none
	}
	switch v.Policy {
	case dmarc.PolicyReject:
		v.Action = Reject
	case dmarc.PolicyQuarantine:
		v.Action = Quarantine
	}
	return v
}

// lookupDMARC finds the policy record for domain, or for its
// organizational domain (RFC 7489 section 6.6.3); orgLevel reports the latter.
func (c *Checker) lookupDMARC(domain string, lookupTXT func(string) ([]string, error)) (*dmarc.Record, bool, error) {
	opts := &dmarc.LookupOptions{LookupTXT: lookupTXT}
	rec, err := dmarc.LookupWithOptions(domain, opts)
	if err != dmarc.ErrNoPolicy {
		return rec, false, err
	}
	org := orgDomain(domain)
	if org == domain {
		return nil, false, err
	}
	rec, err = dmarc.LookupWithOptions(org, opts)
	return rec, true, err
}

// orgDomain is the organizational domain (RFC 7489 section 3.2): one
// label below the public suffix.
func orgDomain(d string) string {
	if o, err := publicsuffix.EffectiveTLDPlusOne(d); err == nil {
		return o
	}
	return d
}

// aligned reports identifier alignment (RFC 7489 section 3.1): the same
// domain (strict) or the same organizational domain (relaxed, the default).
func aligned(id, from string, mode dmarc.AlignmentMode) bool {
	id, from = strings.ToLower(id), strings.ToLower(from)
	if id == from {
		return true
	}
	if mode == dmarc.AlignmentStrict || id == "" {
		return false
	}
	return orgDomain(id) == orgDomain(from)
}

// FromDomain is the domain of the message's single From: address.
func FromDomain(msg []byte) string {
	var val string
	n := 0
	for _, f := range Fields(HeaderSection(msg)) {
		if strings.EqualFold(f.Name, "From") {
			val = f.Value
			n++
		}
	}
	if n != 1 {
		return ""
	}
	// Unfold (RFC 5322 section 2.2.3) before parsing.
	val = strings.NewReplacer("\r\n", "", "\n", "").Replace(val)
	addrs, err := mail.ParseAddressList(val)
	if err != nil || len(addrs) != 1 {
		return ""
	}
	_, d, _ := strings.Cut(addrs[0].Address, "@")
	return strings.ToLower(strings.TrimSuffix(d, "."))
}

// Header is the Authentication-Results field (with CRLF) for v, naming
// this host as the authserv-id.
func (c *Checker) Header(v Verdict, in Input) string {
	var results []authres.Result
	spfRes := &authres.SPFResult{Value: authres.ResultValue(v.SPF)}
	if in.MailFrom == "" {
		spfRes.Helo = in.Helo
	} else {
		spfRes.From = v.SPFDomain
	}
	results = append(results, spfRes)
	if v.SPFHelo != "" {
		results = append(results, &authres.SPFResult{Value: authres.ResultValue(v.SPFHelo), Helo: in.Helo})
	}
	if len(v.DKIM) == 0 {
		results = append(results, &authres.DKIMResult{Value: authres.ResultNone})
	}
	for _, d := range v.DKIM {
		results = append(results, &authres.DKIMResult{Value: authres.ResultValue(d.Result), Domain: d.Domain, Reason: d.Reason})
	}
	results = append(results, &authres.DMARCResult{Value: authres.ResultValue(v.DMARC), From: v.FromDomain})
	return "Authentication-Results: " + authres.Format(c.AuthServID, results) + "\r\n"
}

// Summary is the verdict in one line, for message tracking and logs.
func (v Verdict) Summary() string {
	var b strings.Builder
	fmt.Fprintf(&b, "spf=%s smtp.mailfrom=%s", v.SPF, v.SPFDomain)
	if v.SPFHelo != "" {
		fmt.Fprintf(&b, " spf=%s smtp.helo", v.SPFHelo)
	}
	if len(v.DKIM) == 0 {
		b.WriteString(" dkim=none")
	}
	for _, d := range v.DKIM {
		fmt.Fprintf(&b, " dkim=%s header.d=%s", d.Result, d.Domain)
	}
	fmt.Fprintf(&b, " dmarc=%s header.from=%s", v.DMARC, v.FromDomain)
	if v.Policy != "" {
		fmt.Fprintf(&b, " policy=%s", v.Policy)
	}
	switch v.Action {
	case Reject:
		b.WriteString(" action=reject")
	case Quarantine:
		b.WriteString(" action=quarantine")
	}
	return b.String()
}
