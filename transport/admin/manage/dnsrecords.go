package manage

import (
	"fmt"
	"strings"
	"time"

	"github.com/transportd/transportd/transport/admin/config"
	"github.com/transportd/transportd/transport/mail/dkimsign"
)

// DnsRecords lists the DNS records to publish for domain ("" = the
// default accepted domain) so that other servers deliver to this one and
// trust its mail: MX, SPF, the DKIM key of each selector, DMARC, MTA-STS
// (RFC 8461: the TXT record and the policy file to serve over HTTPS) and
// TLS-RPT (RFC 8460).
func (m *Manager) DnsRecords(domain string) ([]Record, error) {
	c, err := m.Load()
	if err != nil {
		return nil, err
	}
	domain = strings.ToLower(strings.TrimSuffix(strings.TrimSpace(domain), "."))
	if domain == "" {
		for _, d := range c.AcceptedDomains {
			if d.Default && !strings.Contains(d.DomainName, "*") {
				domain = strings.ToLower(d.DomainName)
			}
		}
		if domain == "" {
			return nil, fmt.Errorf("-DomainName is required (there is no default accepted domain), e.g. -DomainName contoso.com")
		}
	}
	t, err := c.DomainTable()
	if err != nil {
		return nil, err
	}
	if _, ok := t.Lookup(domain); !ok {
		return nil, fmt.Errorf("%s is not an accepted domain; add it first (New-AcceptedDomain -Name %s -DomainName %s)", domain, domain, domain)
	}
	host := strings.ToLower(c.Server.Fqdn)
	report := "postmaster@" + domain
	rec := func(typ, name, value, purpose string) Record {
		return Record{{Name: "Type", Value: typ}, {Name: "Name", Value: name}, {Name: "Value", Value: value}, {Name: "Purpose", Value: purpose}}
	}
	out := []Record{
		rec("MX", domain, "10 "+host, "mail for "+domain+" comes to this server ("+host+" needs an A/AAAA record with its public address)"),
		rec("TXT", domain, "v=spf1 mx -all", "SPF (RFC 7208): only the MX hosts send for "+domain+"; add ip4:/include: for every other host or smart host that sends for it"),
	}
	if d := dkimConfig(c, domain); d != nil {
		for n, sel := range dkimsign.Selectors {
			created := d.Selector1KeyCreationTime
			if n == 1 {
				created = d.Selector2KeyCreationTime
			}
			if created == "" {
				continue
			}
			key, err := dkimsign.LoadKey(dkimsign.KeyPath(c.DkimKeyDir(), d.Domain, sel))
			if err != nil {
				return nil, err
			}
			txt, err := dkimsign.Record(key)
			if err != nil {
				return nil, err
			}
			what := "DKIM key (RFC 6376)"
			if sel == d.ActiveSelector(m.now()) {
				what += ", signing now"
			} else {
				what += ", not signing now (keep it published during a rotation)"
			}
			out = append(out, rec("TXT", dkimsign.RecordName(domain, sel), txt, what))
		}
	} else {
		out = append(out, rec("TXT", "selector1._domainkey."+domain, "(none yet)",
			"DKIM: create the key with New-DkimSigningConfig -DomainName "+domain+" -Enabled $true, then run this again"))
	}
	id := m.now().UTC().Format("20060102150405")
	out = append(out,
		rec("TXT", "_dmarc."+domain, "v=DMARC1; p=none; rua=mailto:"+report,
			"DMARC (RFC 7489): start with p=none and read the reports; then p=quarantine, then p=reject"),
		rec("TXT", "_mta-sts."+domain, "v=STSv1; id="+id,
			"MTA-STS (RFC 8461): change id whenever the policy file changes"),
		rec("HTTPS", "https://mta-sts."+domain+"/.well-known/mta-sts.txt", mtaSTSPolicy(host),
			"MTA-STS policy file, served with a valid certificate for mta-sts."+domain+"; mode testing first, then enforce"),
		rec("TXT", "_smtp._tls."+domain, "v=TLSRPTv1; rua=mailto:"+report,
			"TLS-RPT (RFC 8460): where other servers send daily TLS reports"),
	)
	return out, nil
}

// mtaSTSPolicy is the policy file of RFC 8461 section 3.2 for one MX host.
func mtaSTSPolicy(mx string) string {
	return strings.Join([]string{"version: STSv1", "mode: testing", "mx: " + mx,
		fmt.Sprintf("max_age: %d", int((7 * 24 * time.Hour).Seconds()))}, "\n")
}

func dkimConfig(c *config.Config, domain string) *config.DkimSigningConfig {
	for i := range c.DkimSigningConfigs {
		if strings.EqualFold(c.DkimSigningConfigs[i].Domain, domain) {
			return &c.DkimSigningConfigs[i]
		}
	}
	return nil
}
