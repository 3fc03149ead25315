package config

import (
	"errors"
	"fmt"
	"net/netip"
	"strings"
	"time"

	"github.com/transportd/transportd/connector"
	"github.com/transportd/transportd/policies/connfilter"
	"github.com/transportd/transportd/policies/iprange"
)

// ConnectionFilterConfig is Exchange's connection filtering (issue 13):
// the IP allow list (Add-IPAllowListEntry), the IP block list
// (Add-IPBlockListEntry) and the block list providers, DNSBLs
// (Add-IPBlockListProvider). They apply to anonymous sessions on receive
// connectors with ConnectionFilteringEnabled.
type ConnectionFilterConfig struct {
	// IPBlockListProviders are the DNS block lists asked, by Priority.
	IPBlockListProviders []IPBlockListProvider `yaml:"IPBlockListProviders,omitempty"`
	// IPBlockListEntries are the addresses and ranges refused.
	IPBlockListEntries []IPListEntry `yaml:"IPBlockListEntries,omitempty"`
	// IPAllowListEntries are never refused by a block list or provider.
	IPAllowListEntries []IPListEntry `yaml:"IPAllowListEntries,omitempty"`

	// The settings of each list (Set-IPBlockListConfig,
	// Set-IPAllowListConfig, Set-IPBlockListProvidersConfig); nil:
	// Exchange's defaults (see the accessors).
	IPBlockListConfig          *IPBlockListConfig          `yaml:"IPBlockListConfig,omitempty"`
	IPAllowListConfig          *IPAllowListConfig          `yaml:"IPAllowListConfig,omitempty"`
	IPBlockListProvidersConfig *IPBlockListProvidersConfig `yaml:"IPBlockListProvidersConfig,omitempty"`
}

// Where a list applies (Enabled, ExternalMailEnabled,
// InternalMailEnabled): external mail is anonymous mail on receive
// connectors with ConnectionFilteringEnabled (those facing the Internet);
// internal mail is anonymous mail on the other connectors (the admin's own
// networks). Authenticated sessions are never filtered. Exchange's
// defaults: enabled, external mail only.

// IPBlockListConfig is Set-IPBlockListConfig.
type IPBlockListConfig struct {
	// Enabled uses the list at all.
	Enabled bool `yaml:"Enabled"`
	// ExternalMailEnabled applies it on connectors with ConnectionFilteringEnabled.
	ExternalMailEnabled bool `yaml:"ExternalMailEnabled"`
	// InternalMailEnabled applies it on the other connectors too.
	InternalMailEnabled bool `yaml:"InternalMailEnabled"`
	// StaticEntryRejectionResponse is the refusal text for a client on the
	// IP block list; empty: connfilter.BlockListResponse.
	StaticEntryRejectionResponse string `yaml:"StaticEntryRejectionResponse,omitempty"`
	// MachineEntryRejectionResponse is inert: there is no sender
	// reputation adding entries here.
	MachineEntryRejectionResponse string `yaml:"MachineEntryRejectionResponse,omitempty"`
}

// IPAllowListConfig is Set-IPAllowListConfig.
type IPAllowListConfig struct {
	// Enabled uses the list at all.
	Enabled bool `yaml:"Enabled"`
	// ExternalMailEnabled applies it on connectors with ConnectionFilteringEnabled.
	ExternalMailEnabled bool `yaml:"ExternalMailEnabled"`
	// InternalMailEnabled applies it on the other connectors too.
	InternalMailEnabled bool `yaml:"InternalMailEnabled"`
}

// IPBlockListProvidersConfig is Set-IPBlockListProvidersConfig.
type IPBlockListProvidersConfig struct {
	// Enabled uses the list at all.
	Enabled bool `yaml:"Enabled"`
	// ExternalMailEnabled applies it on connectors with ConnectionFilteringEnabled.
	ExternalMailEnabled bool `yaml:"ExternalMailEnabled"`
	// InternalMailEnabled applies it on the other connectors too.
	InternalMailEnabled bool `yaml:"InternalMailEnabled"`
	// BypassedRecipients are never refused because of a provider's listing
	// (postmaster@, abuse@: a listed sender can still reach them).
	BypassedRecipients []string `yaml:"BypassedRecipients,omitempty,flow"`
}

// BlockListConfig returns Set-IPBlockListConfig's settings.
func (f *ConnectionFilterConfig) BlockListConfig() IPBlockListConfig {
	if f.IPBlockListConfig == nil {
		return IPBlockListConfig{Enabled: true, ExternalMailEnabled: true} // Exchange's defaults
	}
	return *f.IPBlockListConfig
}

// AllowListConfig returns Set-IPAllowListConfig's settings.
func (f *ConnectionFilterConfig) AllowListConfig() IPAllowListConfig {
	if f.IPAllowListConfig == nil {
		return IPAllowListConfig{Enabled: true, ExternalMailEnabled: true}
	}
	return *f.IPAllowListConfig
}

// ProvidersConfig returns Set-IPBlockListProvidersConfig's settings.
func (f *ConnectionFilterConfig) ProvidersConfig() IPBlockListProvidersConfig {
	if f.IPBlockListProvidersConfig == nil {
		return IPBlockListProvidersConfig{Enabled: true, ExternalMailEnabled: true}
	}
	return *f.IPBlockListProvidersConfig
}

// IPBlockListProvider is one DNS block list (Add-IPBlockListProvider).
type IPBlockListProvider struct {
	// Name identifies the provider.
	Name string `yaml:"Name"`
	// LookupDomain is the zone asked: 2.0.0.127.<LookupDomain>.
	LookupDomain string `yaml:"LookupDomain"`
	// Enabled asks this provider.
	Enabled bool `yaml:"Enabled"`
	// Priority orders the providers: lower is asked first.
	Priority int `yaml:"Priority"`
	// AnyMatch counts any answer as a listing.
	AnyMatch bool `yaml:"AnyMatch,omitempty"`
	// BitmaskMatch counts an answer that shares a bit with it (127.0.0.2).
	BitmaskMatch string `yaml:"BitmaskMatch,omitempty"`
	// IPAddressesMatch counts these answers (127.0.0.2, 127.0.0.3).
	IPAddressesMatch []string `yaml:"IPAddressesMatch,omitempty,flow"`
	// RejectionResponse is the text of the 550 5.7.1 refusal.
	RejectionResponse string `yaml:"RejectionResponse,omitempty"`
}

// IPListEntry is one entry of the IP block or allow list.
type IPListEntry struct {
	// Identity is the entry's number, given when it is added.
	Identity int `yaml:"Identity"`
	// IPRange is the address or range.
	IPRange iprange.Range `yaml:"IPRange"`
	// ExpirationTime (RFC 3339), when set, ends the entry.
	ExpirationTime string `yaml:"ExpirationTime,omitempty"`
	// Comment is free text for the admin.
	Comment string `yaml:"Comment,omitempty"`
}

// Expires returns the entry's end, or the zero time for never.
func (e *IPListEntry) Expires() time.Time {
	t, _ := time.Parse(time.RFC3339, e.ExpirationTime)
	return t
}

func (c *Config) parseConnectionFilter(v any) error {
	return decode(v, &c.ConnectionFilter, "ConnectionFilter")
}

// maxRejectionResponse is Exchange's limit for RejectionResponse.
const maxRejectionResponse = 240

// validateConnectionFilter checks the connection filtering settings.
func (c *Config) validateConnectionFilter() error {
	var errs []error
	f := &c.ConnectionFilter
	names := map[string]bool{}
	for _, p := range f.IPBlockListProviders {
		where := fmt.Sprintf("IPBlockListProvider %q", p.Name)
		if strings.TrimSpace(p.Name) == "" {
			errs = append(errs, errors.New("IPBlockListProvider: Name is empty"))
		}
		if names[strings.ToLower(p.Name)] {
			errs = append(errs, fmt.Errorf("%s: two providers have this name; give another -Name", where))
		}
		names[strings.ToLower(p.Name)] = true
		if err := connector.ValidateFQDN(p.LookupDomain); err != nil || !strings.Contains(p.LookupDomain, ".") {
			errs = append(errs, fmt.Errorf("%s: LookupDomain %q is not a DNS zone such as zen.spamhaus.org", where, p.LookupDomain))
		}
		if _, err := p.Matcher(); err != nil {
			errs = append(errs, fmt.Errorf("%s: %w", where, err))
		}
		if len(p.RejectionResponse) > maxRejectionResponse {
			errs = append(errs, fmt.Errorf("%s: RejectionResponse is %d characters; at most %d", where, len(p.RejectionResponse), maxRejectionResponse))
		}
		if !isPrintableASCII(p.RejectionResponse) {
			errs = append(errs, fmt.Errorf("%s: RejectionResponse must be printable ASCII on one line (it is an SMTP reply)", where))
		}
	}
	bl := f.BlockListConfig()
	for n, r := range map[string]string{"StaticEntryRejectionResponse": bl.StaticEntryRejectionResponse, "MachineEntryRejectionResponse": bl.MachineEntryRejectionResponse} {
		if len(r) > maxRejectionResponse || !isPrintableASCII(r) {
			errs = append(errs, fmt.Errorf("IPBlockListConfig: %s must be printable ASCII on one line, at most %d characters (it is an SMTP reply)", n, maxRejectionResponse))
		}
	}
	for _, l := range []struct {
		name    string
		entries []IPListEntry
	}{{"IPBlockListEntry", f.IPBlockListEntries}, {"IPAllowListEntry", f.IPAllowListEntries}} {
		ids := map[int]bool{}
		for _, e := range l.entries {
			if !e.IPRange.IsValid() {
				errs = append(errs, fmt.Errorf("%s %d: IPRange is missing", l.name, e.Identity))
			}
			if ids[e.Identity] {
				errs = append(errs, fmt.Errorf("%s %d: two entries have this Identity", l.name, e.Identity))
			}
			ids[e.Identity] = true
			if e.ExpirationTime != "" {
				if _, err := time.Parse(time.RFC3339, e.ExpirationTime); err != nil {
					errs = append(errs, fmt.Errorf("%s %d: ExpirationTime %q is not a time such as 2026-12-31T23:59:00Z", l.name, e.Identity, e.ExpirationTime))
				}
			}
		}
	}
	return errors.Join(errs...)
}

func isPrintableASCII(s string) bool {
	for i := 0; i < len(s); i++ {
		if s[i] < 0x20 || s[i] > 0x7e {
			return false
		}
	}
	return true
}

// Matcher returns how the provider's answers are read.
func (p *IPBlockListProvider) Matcher() (connfilter.Match, error) {
	m := connfilter.Match{Any: p.AnyMatch}
	if p.BitmaskMatch != "" {
		a, err := netip.ParseAddr(strings.TrimSpace(p.BitmaskMatch))
		if err != nil || !a.Is4() {
			return m, fmt.Errorf("BitmaskMatch %q is not an IPv4 address such as 127.0.0.2", p.BitmaskMatch)
		}
		m.Bitmask = a
	}
	for _, s := range p.IPAddressesMatch {
		a, err := netip.ParseAddr(strings.TrimSpace(s))
		if err != nil || !a.Is4() {
			return m, fmt.Errorf("IPAddressesMatch %q is not an IPv4 address such as 127.0.0.2", s)
		}
		m.Addresses = append(m.Addresses, a)
	}
	return m, nil
}

// Filter builds the connection filter the receive connectors apply, with
// res resolving the providers' zones.
func (c *Config) Filter(res connfilter.Resolver) *connfilter.Filter {
	cf := &c.ConnectionFilter
	bl, al, pc := cf.BlockListConfig(), cf.AllowListConfig(), cf.ProvidersConfig()
	scope := func(on, ext, in bool) connfilter.Scope {
		return connfilter.Scope{External: on && ext, Internal: on && in}
	}
	f := &connfilter.Filter{Resolver: res, BlockResponse: bl.StaticEntryRejectionResponse,
		AllowScope:     scope(al.Enabled, al.ExternalMailEnabled, al.InternalMailEnabled),
		BlockScope:     scope(bl.Enabled, bl.ExternalMailEnabled, bl.InternalMailEnabled),
		ProvidersScope: scope(pc.Enabled, pc.ExternalMailEnabled, pc.InternalMailEnabled)}
	for _, r := range pc.BypassedRecipients {
		f.BypassedRecipients = append(f.BypassedRecipients, strings.ToLower(strings.TrimSpace(r)))
	}
	for _, e := range cf.IPAllowListEntries {
		f.Allow = append(f.Allow, connfilter.Entry{Range: e.IPRange, Expires: e.Expires()})
	}
	for _, e := range cf.IPBlockListEntries {
		f.Block = append(f.Block, connfilter.Entry{Range: e.IPRange, Expires: e.Expires()})
	}
	for _, p := range cf.IPBlockListProviders {
		if !p.Enabled {
			continue
		}
		m, err := p.Matcher()
		if err != nil {
			continue // refused by Validate
		}
		f.Providers = append(f.Providers, connfilter.Provider{Name: p.Name, Zone: p.LookupDomain,
			Priority: p.Priority, Match: m, Response: p.RejectionResponse})
	}
	f.SortProviders()
	return f
}
