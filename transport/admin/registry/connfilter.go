package registry

import (
	"strings"

	"github.com/transportd/transportd/transport/admin/config"
	"github.com/transportd/transportd/transport/admin/manage"
)

// Connection filtering (issue 13) with Exchange's cmdlets: the block list
// providers (DNSBLs) and the IP block and allow lists, applied to
// anonymous senders on receive connectors with ConnectionFilteringEnabled.

// blockListProviderKind is Add/Get/Set/Remove-IPBlockListProvider.
func blockListProviderKind() *Kind {
	identity := val("Identity", "the provider's name; wildcards * allowed")
	ids := []string{"Identity"}
	fields := FieldParams(&config.IPBlockListProvider{})
	return &Kind{Noun: "blocklistprovider", Aliases: []string{"ipblocklistprovider"}, TypeName: "IPBlockListProvider",
		What:    "DNS block lists asked about anonymous senders (Add/Get/Set/Remove-IPBlockListProvider)",
		Columns: []string{"Name", "LookupDomain", "Priority", "Enabled"},
		Commands: []*Command{
			{Verb: "get", Cmdlet: "Get-IPBlockListProvider", Synopsis: "Shows the block list providers, in the order they are asked.",
				Params: params(identity), Positional: ids, IdentityParams: ids, Records: true, List: byIdentity,
				Run: func(env *Env, r Request) ([]manage.Record, error) {
					return env.Manager.GetIPBlockListProviders(r.Identity())
				}},
			{Verb: "add", Cmdlet: "Add-IPBlockListProvider",
				Synopsis: "Adds a DNS block list: a client it lists is refused at RCPT with 550 5.7.1 and -RejectionResponse, on connectors with ConnectionFilteringEnabled.",
				Params:   params(fields), Positional: []string{"Name"}, Records: true, List: always,
				Run: func(env *Env, r Request) ([]manage.Record, error) {
					rec, err := env.Manager.AddIPBlockListProvider(r.Params)
					if err != nil {
						return nil, err
					}
					return []manage.Record{rec}, nil
				}},
			{Verb: "set", Cmdlet: "Set-IPBlockListProvider", Synopsis: "Changes block list providers.",
				Params: params(identity, fields), Positional: ids, IdentityParams: ids, Pipe: true,
				Run: func(env *Env, r Request) ([]manage.Record, error) {
					if len(r.Identities) == 0 {
						return nil, needIdentities(r, "Identity", "Set-IPBlockListProvider")
					}
					n, err := env.Manager.SetIPBlockListProviders(r.Identities, r.Params)
					if err != nil {
						return nil, err
					}
					env.say("Changed %s. A running transportd applies the change within seconds.", plural(n, "IP block list provider"))
					return nil, nil
				}},
			{Verb: "remove", Cmdlet: "Remove-IPBlockListProvider", Synopsis: "Removes block list providers.",
				Params: params(identity), Positional: ids, IdentityParams: ids, Pipe: true,
				Run: func(env *Env, r Request) ([]manage.Record, error) {
					if len(r.Identities) == 0 {
						return nil, needIdentities(r, "Identity", "Remove-IPBlockListProvider")
					}
					n, err := env.Manager.RemoveIPBlockListProviders(r.Identities)
					if err != nil {
						return nil, err
					}
					env.say("Removed %s.", plural(n, "IP block list provider"))
					return nil, nil
				}},
		}}
}

// ipListKind is Add/Get/Remove-IPBlockListEntry or -IPAllowListEntry.
func ipListKind(l manage.IPList) *Kind {
	noun, cli, what, effect := "IPBlockListEntry", "blocklist", "IP block list entry", "refused at RCPT with 550 5.7.1"
	if l == manage.AllowList {
		noun, cli, what, effect = "IPAllowListEntry", "allowlist", "IP allow list entry", "never refused by the block list or a provider"
	}
	identity := val("Identity", "the entry's number (Identity), or its range as shown")
	ids := []string{"Identity"}
	return &Kind{Noun: cli, Aliases: []string{"ip" + cli + "entry"}, TypeName: noun,
		What:    "the " + what[:len(what)-6] + " of connection filtering (Add/Get/Remove-" + noun + ")",
		Columns: []string{"Identity", "IPRange", "ExpirationTime", "HasExpired"},
		Commands: []*Command{
			{Verb: "get", Cmdlet: "Get-" + noun, Synopsis: "Shows the " + what + "s.",
				Params: params(identity, val("IPAddress", "only the entries that contain this address"),
					val("ResultSize", "accepted: every entry is shown")),
				Positional: ids, IdentityParams: ids, Records: true, List: byIdentity,
				Run: func(env *Env, r Request) ([]manage.Record, error) {
					ip, _ := r.Params.TakeExact("IPAddress")
					return env.Manager.GetIPListEntries(l, r.Identity(), ip)
				}},
			{Verb: "add", Cmdlet: "Add-" + noun,
				Synopsis: "Adds an address or range; anonymous senders from it are " + effect + " on connectors with ConnectionFilteringEnabled.",
				Params: params(val("IPRange", "a range: 192.0.2.0/24 or 192.0.2.1-192.0.2.50 (IPv6 too)"), val("IPAddress", "one address"),
					val("ExpirationTime", "when the entry ends: 2026-12-31 23:59 or \"12/31/2026 23:59\" (local time)"),
					val("Comment", "free text")),
				Records: true, List: always,
				Run: func(env *Env, r Request) ([]manage.Record, error) {
					rec, err := env.Manager.AddIPListEntry(l, r.Params)
					if err != nil {
						return nil, err
					}
					return []manage.Record{rec}, nil
				}},
			{Verb: "remove", Cmdlet: "Remove-" + noun, Synopsis: "Removes " + what + "s by Identity (or piped from Get-" + noun + ").",
				Params: params(identity), Positional: ids, IdentityParams: ids, Pipe: true,
				Run: func(env *Env, r Request) ([]manage.Record, error) {
					if len(r.Identities) == 0 {
						return nil, needIdentities(r, "Identity", "Remove-"+noun)
					}
					n, err := env.Manager.RemoveIPListEntries(l, r.Identities)
					if err != nil {
						return nil, err
					}
					env.say("Removed %s.", plural(n, what))
					return nil, nil
				}},
		}}
}

// filterConfigKind is Get/Set-IPBlockListConfig, -IPAllowListConfig and
// -IPBlockListProvidersConfig: where each list applies.
func filterConfigKind(k manage.FilterConfig, noun, what string, fields []Param) *Kind {
	name := string(k)
	return &Kind{Noun: noun, Aliases: []string{strings.ToLower(name)}, TypeName: name,
		What:    what + " (Get/Set-" + name + ")",
		Columns: []string{"Identity", "Enabled", "ExternalMailEnabled", "InternalMailEnabled"},
		Commands: []*Command{
			{Verb: "get", Cmdlet: "Get-" + name, Synopsis: "Shows " + what + ".", Records: true, List: always,
				Run: func(env *Env, r Request) ([]manage.Record, error) { return env.Manager.GetFilterConfig(k) }},
			{Verb: "set", Cmdlet: "Set-" + name,
				Synopsis: "Changes " + what + ": Enabled; ExternalMailEnabled applies it on connectors with ConnectionFilteringEnabled, InternalMailEnabled on the others (authenticated sessions never).",
				Params:   fields,
				Run: func(env *Env, r Request) ([]manage.Record, error) {
					if err := env.Manager.SetFilterConfig(k, r.Params); err != nil {
						return nil, err
					}
					env.say("Changed %s. A running transportd applies the change within seconds.", name)
					return nil, nil
				}},
		}}
}

// blockListConfigKind is Get/Set-IPBlockListConfig.
func blockListConfigKind() *Kind {
	return filterConfigKind(manage.IPBlockListConfig, "blocklistconfig", "the IP block list's settings", FieldParams(&config.IPBlockListConfig{}))
}

// allowListConfigKind is Get/Set-IPAllowListConfig.
func allowListConfigKind() *Kind {
	return filterConfigKind(manage.IPAllowListConfig, "allowlistconfig", "the IP allow list's settings", FieldParams(&config.IPAllowListConfig{}))
}

// providersConfigKind is Get/Set-IPBlockListProvidersConfig.
func providersConfigKind() *Kind {
	return filterConfigKind(manage.IPBlockListProvidersConfig, "blocklistprovidersconfig", "the block list providers' common settings", FieldParams(&config.IPBlockListProvidersConfig{}))
}
