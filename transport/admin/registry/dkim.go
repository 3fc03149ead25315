package registry

import (
	"github.com/transportd/transportd/transport/admin/manage"
)

// dkimKind is DKIM signing with Exchange Online's cmdlets
// (New/Get/Set/Rotate/Remove-DkimSigningConfig).
func dkimKind() *Kind {
	identity := val("Identity", "the domain, e.g. contoso.com; wildcards * allowed")
	ids := []string{"Identity"}
	canon := params(val("BodyCanonicalization", "Relaxed (the only one transportd signs with)"),
		val("HeaderCanonicalization", "Relaxed (the only one transportd signs with)"))
	return &Kind{Noun: "dkim", Aliases: []string{"dkimsigningconfig"}, TypeName: "DkimSigningConfig",
		What:    "DKIM signing keys per domain (New/Get/Set/Rotate/Remove-DkimSigningConfig)",
		Columns: []string{"Domain", "Enabled", "Status", "Selector"},
		Commands: []*Command{
			{Verb: "get", Cmdlet: "Get-DkimSigningConfig",
				Synopsis: "Shows the DKIM signing configurations: each selector's TXT record and whether DNS has it.",
				Params:   params(identity), Positional: ids, IdentityParams: ids, Records: true, List: byIdentity,
				Run: func(env *Env, r Request) ([]manage.Record, error) {
					return env.Manager.GetDkimSigningConfigs(r.Identity())
				}},
			{Verb: "new", Cmdlet: "New-DkimSigningConfig",
				Synopsis: "Creates a domain's DKIM key (RSA 2048 unless -KeySize or -KeyType say otherwise) on selector1 and shows the TXT record to publish.",
				Params: params(val("DomainName", "the accepted domain to sign for, e.g. contoso.com"),
					val("Enabled", "$true (sign from now on) or $false"), val("KeySize", "2048 (the default) or 1024"),
					val("KeyType", "RSA (the default) or Ed25519 (RFC 8463)"), val("AdminDisplayName", "a description"), canon),
				Positional: []string{"DomainName", "Enabled"}, Records: true, List: always,
				Run: func(env *Env, r Request) ([]manage.Record, error) {
					rec, err := env.Manager.NewDkimSigningConfig(r.Params)
					if err != nil {
						return nil, err
					}
					return []manage.Record{rec}, nil
				}},
			{Verb: "set", Cmdlet: "Set-DkimSigningConfig", Synopsis: "Turns DKIM signing of a domain on or off.",
				Params: params(identity, val("Enabled", "$true or $false"), val("AdminDisplayName", "a description"),
					sw("PublishTxtRecords", "show the TXT records to publish"), canon),
				Positional: ids, IdentityParams: ids, Pipe: true, Records: true, List: always,
				Run: func(env *Env, r Request) ([]manage.Record, error) {
					if len(r.Identities) == 0 {
						return nil, needIdentities(r, "Identity", "Set-DkimSigningConfig")
					}
					n, recs, err := env.Manager.SetDkimSigningConfigs(r.Identities, r.Params)
					if err != nil {
						return nil, err
					}
					env.say("Changed %s. A running transportd applies the change within seconds.", plural(n, "DKIM signing configuration"))
					return recs, nil
				}},
			{Verb: "rotate", Cmdlet: "Rotate-DkimSigningConfig",
				Synopsis:   "Makes a new key on the other selector; it starts signing at RotateOnDate, 4 days later: publish its TXT record before then.",
				Params:     params(identity, val("KeySize", "2048 or 1024; the current size when left out")),
				Positional: ids, IdentityParams: ids, Pipe: true, Records: true, List: always,
				Run: func(env *Env, r Request) ([]manage.Record, error) {
					if len(r.Identities) == 0 {
						return nil, needIdentities(r, "Identity", "Rotate-DkimSigningConfig")
					}
					return env.Manager.RotateDkimSigningConfigs(r.Identities, r.Params)
				}},
			{Verb: "remove", Cmdlet: "Remove-DkimSigningConfig", Synopsis: "Removes DKIM signing of a domain and deletes its keys.",
				Params: params(identity), Positional: ids, IdentityParams: ids, Pipe: true,
				Run: func(env *Env, r Request) ([]manage.Record, error) {
					if len(r.Identities) == 0 {
						return nil, needIdentities(r, "Identity", "Remove-DkimSigningConfig")
					}
					n, err := env.Manager.RemoveDkimSigningConfigs(r.Identities)
					if err != nil {
						return nil, err
					}
					env.say("Removed %s.", plural(n, "DKIM signing configuration"))
					return nil, nil
				}},
		}}
}

// dnsKind is `transportd dns records`: the DNS records to publish for a
// domain.
func dnsKind() *Kind {
	return &Kind{Noun: "dns", TypeName: "DnsRecord",
		What:    "the DNS records to publish for a domain: MX, SPF, DKIM, DMARC, MTA-STS, TLS-RPT (Get-DnsRecord)",
		Columns: []string{"Type", "Name", "Value"},
		Commands: []*Command{
			{Verb: "records", Cmdlet: "Get-DnsRecord", CmdletAliases: []string{"Get-DnsRecords"},
				Synopsis: "Lists the DNS records to publish for a domain (the default accepted domain when none is given).",
				Params: params(val("DomainName", "an accepted domain, e.g. contoso.com"),
					val("Domain", "the same as -DomainName")),
				Positional: []string{"DomainName"}, Records: true, List: always,
				Run: func(env *Env, r Request) ([]manage.Record, error) {
					d, ok := r.Params.TakeExact("DomainName")
					if !ok {
						d, _ = r.Params.TakeExact("Domain")
					}
					return env.Manager.DnsRecords(d)
				}},
		}}
}
