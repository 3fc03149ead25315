package manage

import (
	"errors"
	"fmt"
	"net/netip"
	"slices"
	"strconv"
	"strings"
	"time"

	"github.com/transportd/transportd/policies/iprange"
	"github.com/transportd/transportd/transport/admin/config"
)

// Connection filtering (issue 13) with Exchange's cmdlets:
// Add/Get/Set/Remove-IPBlockListProvider, Add/Get/Remove-IPBlockListEntry
// and Add/Get/Remove-IPAllowListEntry.

// ---- block list providers ----

func providerMatch(c *config.Config, identity string) ([]int, error) {
	out, all := []int{}, []string{}
	for i, p := range c.ConnectionFilter.IPBlockListProviders {
		all = append(all, p.Name)
		if identity == "" || MatchIdentity(identity, p.Name) {
			out = append(out, i)
		}
	}
	if len(out) == 0 && identity != "" && !strings.Contains(identity, "*") {
		return nil, noMatch("IP block list provider", identity, all)
	}
	return out, nil
}

func providerRecord(p *config.IPBlockListProvider) Record {
	return append(Record{{Name: "Identity", Value: p.Name}}, Properties(p)...)
}

// reprioritize gives the provider at i the priority it has been given,
// moving the others down as Exchange does (one with the same priority
// gets one more, and so on), then numbers them 1..n in that order.
func reprioritize(ps []config.IPBlockListProvider, i int) {
	want := ps[i].Priority
	order := make([]int, 0, len(ps))
	for j := range ps {
		if j != i {
			order = append(order, j)
		}
	}
	slices.SortStableFunc(order, func(a, b int) int { return ps[a].Priority - ps[b].Priority })
	pos := len(order)
	for k, j := range order {
		if ps[j].Priority >= want {
			pos = k
			break
		}
	}
	order = slices.Insert(order, pos, i)
	for k, j := range order {
		ps[j].Priority = k + 1
	}
}

// AddIPBlockListProvider adds a block list provider
// (Add-IPBlockListProvider -Name Spamhaus -LookupDomain zen.spamhaus.org
// -RejectionResponse "..."): asked last unless -Priority says otherwise.
func (m *Manager) AddIPBlockListProvider(ps Params) (Record, error) {
	p := config.IPBlockListProvider{Enabled: true}
	if err := applyParams(&p, ps); err != nil {
		return nil, err
	}
	p.Name = strings.TrimSpace(p.Name)
	if p.Name == "" || p.LookupDomain == "" {
		return nil, errors.New("-Name and -LookupDomain are required, e.g. Add-IPBlockListProvider -Name Spamhaus -LookupDomain zen.spamhaus.org")
	}
	p.LookupDomain = strings.ToLower(strings.TrimSuffix(strings.TrimSpace(p.LookupDomain), "."))
	hasPriority := slices.ContainsFunc(ps, func(q Param) bool { return strings.EqualFold(q.Name, "Priority") })
	var rec Record
	_, err := config.Update(m.ConfigPath, func(c *config.Config) error {
		list := &c.ConnectionFilter.IPBlockListProviders
		for _, o := range *list {
			if strings.EqualFold(o.Name, p.Name) {
				return fmt.Errorf("an IP block list provider named %q exists; change it with Set-IPBlockListProvider %q or give another -Name", p.Name, p.Name)
			}
		}
		q := p
		if !hasPriority || q.Priority < 1 {
			q.Priority = len(*list) + 1 // Exchange: N+1
		}
		*list = append(*list, q)
		reprioritize(*list, len(*list)-1)
		rec = providerRecord(&(*list)[len(*list)-1])
		return nil
	})
	if err != nil {
		return nil, err
	}
	m.warnFilterScope()
	return rec, nil
}

// warnFilterScope says so when no connector applies connection filtering.
func (m *Manager) warnFilterScope() {
	c, err := m.Load()
	if err != nil {
		return
	}
	for _, rc := range c.ReceiveConnectors {
		if rc.Enabled && rc.ConnectionFilteringEnabled {
			return
		}
	}
	m.warn("no receive connector has ConnectionFilteringEnabled, so the lists are not applied yet: Set-ReceiveConnector \"<name>\" -ConnectionFilteringEnabled $true on the connector that faces the Internet")
}

// GetIPBlockListProviders shows the providers matching identity ("" = all).
func (m *Manager) GetIPBlockListProviders(identity string) ([]Record, error) {
	c, err := m.Load()
	if err != nil {
		return nil, err
	}
	idx, err := providerMatch(c, identity)
	if err != nil {
		return nil, err
	}
	var out []Record
	ps := c.ConnectionFilter.IPBlockListProviders
	slices.SortStableFunc(idx, func(a, b int) int { return ps[a].Priority - ps[b].Priority })
	for _, i := range idx {
		out = append(out, providerRecord(&ps[i]))
	}
	return out, nil
}

// SetIPBlockListProviders changes the providers ids name, all in one
// update or none.
func (m *Manager) SetIPBlockListProviders(ids []string, ps Params) (int, error) {
	n := 0
	hasPriority := slices.ContainsFunc(ps, func(q Param) bool { return strings.EqualFold(q.Name, "Priority") })
	_, err := config.Update(m.ConfigPath, func(c *config.Config) error {
		n = 0
		list := c.ConnectionFilter.IPBlockListProviders
		var done []int
		for _, id := range ids {
			idx, err := providerMatch(c, id)
			if err != nil {
				return err
			}
			for _, i := range idx {
				if slices.Contains(done, i) {
					continue
				}
				done = append(done, i)
				if err := applyParams(&list[i], slices.Clone(ps)); err != nil {
					return err
				}
				list[i].LookupDomain = strings.ToLower(strings.TrimSuffix(strings.TrimSpace(list[i].LookupDomain), "."))
				if hasPriority {
					reprioritize(list, i)
				}
				n++
			}
		}
		return nil
	})
	return n, err
}

// RemoveIPBlockListProviders removes the providers ids name.
func (m *Manager) RemoveIPBlockListProviders(ids []string) (int, error) {
	n := 0
	_, err := config.Update(m.ConfigPath, func(c *config.Config) error {
		n = 0
		var drop []int
		for _, id := range ids {
			idx, err := providerMatch(c, id)
			if err != nil {
				return err
			}
			drop = append(drop, idx...)
		}
		var keep []config.IPBlockListProvider
		for i, p := range c.ConnectionFilter.IPBlockListProviders {
			if slices.Contains(drop, i) {
				n++
				continue
			}
			keep = append(keep, p)
		}
		c.ConnectionFilter.IPBlockListProviders = keep
		for i := range keep {
			reprioritize(keep, i) // close the gaps, keeping the order
		}
		return nil
	})
	return n, err
}

// ---- IP block and allow list entries ----

// IPList names one of the two IP lists.
type IPList int

// The IP lists.
const (
	BlockList IPList = iota
	AllowList
)

func (l IPList) what() string {
	if l == AllowList {
		return "IP allow list entry"
	}
	return "IP block list entry"
}

// noun is the list's cmdlet noun.
func (l IPList) noun() string {
	if l == AllowList {
		return "IPAllowListEntry"
	}
	return "IPBlockListEntry"
}

func (l IPList) entries(c *config.Config) *[]config.IPListEntry {
	if l == AllowList {
		return &c.ConnectionFilter.IPAllowListEntries
	}
	return &c.ConnectionFilter.IPBlockListEntries
}

// entryTimeLayouts are the forms -ExpirationTime takes: Exchange's
// examples use the US short date ("1/3/2014 23:59").
var entryTimeLayouts = []string{time.RFC3339, "2006-01-02 15:04:05", "2006-01-02 15:04", "2006-01-02",
	"1/2/2006 15:04:05", "1/2/2006 15:04", "1/2/2006 3:04 PM", "1/2/2006"}

// ParseExpirationTime reads -ExpirationTime in local time.
func ParseExpirationTime(s string) (time.Time, error) {
	s = strings.TrimSpace(s)
	for _, l := range entryTimeLayouts {
		if t, err := time.ParseInLocation(l, s, time.Local); err == nil {
			return t, nil
		}
	}
	return time.Time{}, fmt.Errorf("-ExpirationTime %q is not a date and time: give 2026-12-31 23:59, \"12/31/2026 23:59\" or 2026-12-31T23:59:00Z", s)
}

// AddIPListEntry adds an entry to the block or allow list
// (Add-IPBlockListEntry -IPRange 192.0.2.0/24 [-ExpirationTime]
// [-Comment], or -IPAddress 192.0.2.7).
func (m *Manager) AddIPListEntry(l IPList, ps Params) (Record, error) {
	var e config.IPListEntry
	text, ok := ps.TakeExact("IPRange")
	if a, ok2 := ps.TakeExact("IPAddress"); ok2 {
		if ok {
			return nil, errors.New("give -IPAddress or -IPRange, not both")
		}
		if _, err := netip.ParseAddr(strings.TrimSpace(a)); err != nil {
			return nil, fmt.Errorf("-IPAddress %q is not an IP address; for a range use -IPRange 192.0.2.0/24", a)
		}
		text, ok = a, true
	}
	if !ok {
		return nil, fmt.Errorf("-IPRange (or -IPAddress) is required, e.g. Add-%s -IPRange 192.0.2.0/24", l.noun())
	}
	r, err := iprange.Parse(text)
	if err != nil {
		return nil, fmt.Errorf("-IPRange: %w", err)
	}
	e.IPRange = r
	if v, ok := ps.TakeExact("ExpirationTime"); ok {
		t, err := ParseExpirationTime(v)
		if err != nil {
			return nil, err
		}
		e.ExpirationTime = t.Format(time.RFC3339)
		if !t.After(m.now()) {
			m.warn("the %s for %s expires at %s, which has passed: it is stored but blocks nothing", l.what(), r, e.ExpirationTime)
		}
	}
	if v, ok := ps.TakeExact("Comment"); ok {
		e.Comment = v
	}
	if len(ps) > 0 {
		return nil, fmt.Errorf("unknown parameter -%s (give -IPRange or -IPAddress, -ExpirationTime, -Comment)", ps[0].Name)
	}
	var rec Record
	_, err = config.Update(m.ConfigPath, func(c *config.Config) error {
		list := l.entries(c)
		for _, o := range *list {
			if o.IPRange == e.IPRange {
				return fmt.Errorf("%s is already on the list as entry %d", e.IPRange, o.Identity)
			}
		}
		x := e
		for _, o := range *list {
			x.Identity = max(x.Identity, o.Identity)
		}
		x.Identity++
		*list = append(*list, x)
		rec = ipEntryRecord(&x, m.now())
		return nil
	})
	if err != nil {
		return nil, err
	}
	m.warnFilterScope()
	return rec, nil
}

func ipEntryRecord(e *config.IPListEntry, now time.Time) Record {
	exp := e.Expires()
	return Record{
		{Name: "Identity", Value: strconv.Itoa(e.Identity)},
		{Name: "IPRange", Value: e.IPRange.String()},
		{Name: "ExpirationTime", Value: e.ExpirationTime},
		{Name: "HasExpired", Value: fmtBool(!exp.IsZero() && !now.Before(exp))},
		{Name: "IsMachineGenerated", Value: "False"},
		{Name: "Comment", Value: e.Comment},
	}
}

// entryMatch finds the entries identity names: its number, or the range
// as written (192.0.2.0/24); "" is all.
func entryMatch(l IPList, c *config.Config, identity string) ([]int, error) {
	var out []int
	identity = strings.TrimSpace(identity)
	for i, e := range *l.entries(c) {
		if identity == "" || identity == "*" || identity == strconv.Itoa(e.Identity) || strings.EqualFold(identity, e.IPRange.String()) {
			out = append(out, i)
		}
	}
	if len(out) == 0 && identity != "" && identity != "*" {
		return nil, noMatchError(fmt.Sprintf("no %s matches identity %q (give its Identity number from Get-%s)", l.what(), identity, l.noun()))
	}
	return out, nil
}

// GetIPListEntries shows the entries of a list: those identity names (""
// all), or with ip set, those containing that address.
func (m *Manager) GetIPListEntries(l IPList, identity, ip string) ([]Record, error) {
	c, err := m.Load()
	if err != nil {
		return nil, err
	}
	var addr netip.Addr
	if ip != "" {
		if addr, err = netip.ParseAddr(strings.TrimSpace(ip)); err != nil {
			return nil, fmt.Errorf("-IPAddress %q is not an IP address", ip)
		}
	}
	idx, err := entryMatch(l, c, identity)
	if err != nil {
		return nil, err
	}
	var out []Record
	for _, i := range idx {
		e := &(*l.entries(c))[i]
		if addr.IsValid() && !e.IPRange.Contains(addr.Unmap()) {
			continue
		}
		out = append(out, ipEntryRecord(e, m.now()))
	}
	return out, nil
}

// RemoveIPListEntries removes the entries ids name.
func (m *Manager) RemoveIPListEntries(l IPList, ids []string) (int, error) {
	n := 0
	_, err := config.Update(m.ConfigPath, func(c *config.Config) error {
		n = 0
		var drop []int
		for _, id := range ids {
			idx, err := entryMatch(l, c, id)
			if err != nil {
				return err
			}
			drop = append(drop, idx...)
		}
		list := l.entries(c)
		var keep []config.IPListEntry
		for i, e := range *list {
			if slices.Contains(drop, i) {
				n++
				continue
			}
			keep = append(keep, e)
		}
		*list = keep
		return nil
	})
	return n, err
}

// ---- the lists' settings ----

// FilterConfig names one of Exchange's connection filtering settings
// objects.
type FilterConfig string

// The settings objects, by their Exchange type name.
const (
	IPBlockListConfig          FilterConfig = "IPBlockListConfig"
	IPAllowListConfig          FilterConfig = "IPAllowListConfig"
	IPBlockListProvidersConfig FilterConfig = "IPBlockListProvidersConfig"
)

// filterConfig returns a pointer to a copy of the settings k names in c,
// and a function that stores the copy back.
func filterConfig(c *config.Config, k FilterConfig) (any, func()) {
	f := &c.ConnectionFilter
	switch k {
	case IPAllowListConfig:
		v := f.AllowListConfig()
		return &v, func() { f.IPAllowListConfig = &v }
	case IPBlockListProvidersConfig:
		v := f.ProvidersConfig()
		return &v, func() { f.IPBlockListProvidersConfig = &v }
	}
	v := f.BlockListConfig()
	return &v, func() { f.IPBlockListConfig = &v }
}

// GetFilterConfig shows the settings k names (Get-IPBlockListConfig).
func (m *Manager) GetFilterConfig(k FilterConfig) ([]Record, error) {
	c, err := m.Load()
	if err != nil {
		return nil, err
	}
	v, _ := filterConfig(c, k)
	return []Record{append(Record{{Name: "Identity", Value: string(k)}}, Properties(v)...)}, nil
}

// SetFilterConfig changes the settings k names (Set-IPBlockListConfig
// -Enabled $false).
func (m *Manager) SetFilterConfig(k FilterConfig, ps Params) error {
	if v, ok := ps.TakeExact("MachineEntryRejectionResponse"); ok && k == IPBlockListConfig {
		ps = append(ps, Param{Name: "MachineEntryRejectionResponse", Value: v})
		m.warn("-MachineEntryRejectionResponse is stored but does nothing here: it is the text for entries Exchange's sender reputation adds, and transportd has no sender reputation; -StaticEntryRejectionResponse is the text for the IP block list")
	}
	_, err := config.Update(m.ConfigPath, func(c *config.Config) error {
		v, store := filterConfig(c, k)
		if err := applyParams(v, slices.Clone(ps)); err != nil {
			return err
		}
		store()
		return nil
	})
	return err
}
