package manage

import (
	"context"
	"crypto"
	"errors"
	"fmt"
	"os"
	"path/filepath"
	"slices"
	"strconv"
	"strings"
	"time"

	"github.com/transportd/transportd/policies/dnsclient"
	"github.com/transportd/transportd/transport/admin/config"
	"github.com/transportd/transportd/transport/mail/dkimsign"
)

// RotationDelay is how long after Rotate-DkimSigningConfig the new key
// starts signing: Exchange Online's four days, time to publish its record
// and for caches to expire.
const RotationDelay = 4 * 24 * time.Hour

// dnsCheckTimeout bounds the "is the record published" lookups.
const dnsCheckTimeout = 5 * time.Second

// dkimDomainMatch finds the signing configurations matching identity.
func dkimMatch(c *config.Config, identity string) ([]int, error) {
	var out []int
	var all []string
	for i, d := range c.DkimSigningConfigs {
		all = append(all, d.Domain)
		if identity == "" || MatchIdentity(identity, d.Domain) {
			out = append(out, i)
		}
	}
	if len(out) == 0 && identity != "" && !strings.Contains(identity, "*") {
		return nil, noMatch("DKIM signing configuration", identity, all)
	}
	return out, nil
}

// canonicalization refuses what transportd does not sign with.
func canonicalization(ps *Params) error {
	for _, n := range []string{"BodyCanonicalization", "HeaderCanonicalization"} {
		if v, ok := ps.TakeExact(n); ok && !strings.EqualFold(strings.TrimSpace(v), "Relaxed") {
			return fmt.Errorf("-%s %s: transportd signs relaxed/relaxed only (RFC 6376 section 3.4: simple breaks on the reformatting mail servers do); leave it out or give Relaxed", n, v)
		}
	}
	return nil
}

// keySize reads -KeySize (1024 or 2048).
func keySize(ps *Params, def int) (int, error) {
	v, ok := ps.TakeExact("KeySize")
	if !ok {
		return def, nil
	}
	n, err := strconv.Atoi(strings.TrimSpace(v))
	if err != nil || (n != 1024 && n != 2048) {
		return 0, fmt.Errorf("-KeySize %q: give 2048 (the default) or 1024", v)
	}
	return n, nil
}

// NewDkimSigningConfig creates the signing configuration of a domain
// (New-DkimSigningConfig -DomainName contoso.com -Enabled $true): a new
// key on selector1, kept in the data folder, never shown. It returns the
// configuration's record, with the TXT record to publish.
func (m *Manager) NewDkimSigningConfig(ps Params) (Record, error) {
	domain, ok := ps.Take("DomainName")
	domain = strings.ToLower(strings.TrimSuffix(strings.TrimSpace(domain), "."))
	if !ok || domain == "" {
		return nil, errors.New("-DomainName is required, e.g. New-DkimSigningConfig -DomainName contoso.com -Enabled $true")
	}
	d := config.DkimSigningConfig{Domain: domain, Enabled: true, KeyType: dkimsign.KeyTypeRSA, KeySize: 2048,
		SelectorBeforeRotateOnDate: "selector1", SelectorAfterRotateOnDate: "selector1"}
	if v, ok := ps.Take("Enabled"); ok {
		b, err := ParseBool(v)
		if err != nil {
			return nil, fmt.Errorf("-Enabled: %w", err)
		}
		d.Enabled = b
	}
	if v, ok := ps.Take("KeyType"); ok {
		switch {
		case strings.EqualFold(v, dkimsign.KeyTypeRSA):
		case strings.EqualFold(v, dkimsign.KeyTypeEd25519):
			d.KeyType, d.KeySize = dkimsign.KeyTypeEd25519, 256
		default:
			return nil, fmt.Errorf("-KeyType %q: give RSA (the default) or Ed25519", v)
		}
	}
	if d.KeyType == dkimsign.KeyTypeRSA {
		n, err := keySize(&ps, 2048)
		if err != nil {
			return nil, err
		}
		d.KeySize = n
	} else if _, ok := ps.TakeExact("KeySize"); ok {
		return nil, errors.New("-KeySize is for RSA keys; an Ed25519 key has one size")
	}
	if v, ok := ps.TakeExact("AdminDisplayName"); ok {
		d.AdminDisplayName = v
	}
	if err := canonicalization(&ps); err != nil {
		return nil, err
	}
	if len(ps) > 0 {
		return nil, fmt.Errorf("unknown parameter -%s", ps[0].Name)
	}
	cur, err := m.Load()
	if err != nil {
		return nil, err
	}
	if err := checkNewDkim(cur, domain); err != nil {
		return nil, err
	}
	key, err := dkimsign.Generate(d.KeyType, d.KeySize)
	if err != nil {
		return nil, err
	}
	now := m.now().UTC()
	d.Selector1KeyCreationTime = now.Format(time.RFC3339)
	// The key first, then the configuration that names it: a crash in
	// between leaves an unused key file, never a configuration without key.
	if err := dkimsign.SaveKey(dkimsign.KeyPath(cur.DkimKeyDir(), domain, "selector1"), key); err != nil {
		return nil, err
	}
	c, err := config.Update(m.ConfigPath, func(c *config.Config) error {
		if err := checkNewDkim(c, domain); err != nil {
			return err
		}
		c.DkimSigningConfigs = append(c.DkimSigningConfigs, d)
		return nil
	})
	if err != nil {
		return nil, err
	}
	if d.KeyType == dkimsign.KeyTypeEd25519 {
		m.warn("Ed25519 keys (RFC 8463) are not verified by many receivers yet (Microsoft 365 and Gmail among them); their mail counts as unsigned there. RSA 2048 is verified everywhere")
	}
	rec := m.dkimRecord(c, &d, false)
	if d.Enabled {
		m.warn("mail from %s is signed from now on: publish Selector1Record as the TXT record %s, or receivers see a signature they cannot verify", domain, dkimsign.RecordName(domain, "selector1"))
	}
	return rec, nil
}

func checkNewDkim(c *config.Config, domain string) error {
	for _, d := range c.DkimSigningConfigs {
		if strings.EqualFold(d.Domain, domain) {
			return fmt.Errorf("%s already has a DKIM signing configuration; change it with Set-DkimSigningConfig or take a new key with Rotate-DkimSigningConfig", domain)
		}
	}
	t, err := c.DomainTable()
	if err != nil {
		return err
	}
	if _, ok := t.Lookup(domain); !ok {
		return fmt.Errorf("%s is not an accepted domain; add it first (New-AcceptedDomain -Name %s -DomainName %s), as mail is signed only for domains we send for", domain, domain, domain)
	}
	return nil
}

func recordValue(r Record, name string) string {
	v, _ := r.Get(name)
	return v
}

// GetDkimSigningConfigs shows the signing configurations matching
// identity ("" = all), with the TXT record of each selector and whether
// DNS has it (asked through Transport.ExternalDNSServers, or the system
// resolver).
func (m *Manager) GetDkimSigningConfigs(identity string) ([]Record, error) {
	c, err := m.Load()
	if err != nil {
		return nil, err
	}
	idx, err := dkimMatch(c, identity)
	if err != nil {
		return nil, err
	}
	var out []Record
	for _, i := range idx {
		out = append(out, m.dkimRecord(c, &c.DkimSigningConfigs[i], true))
	}
	return out, nil
}

// dkimRecord shows one configuration; lookup asks DNS for the records.
func (m *Manager) dkimRecord(c *config.Config, d *config.DkimSigningConfig, lookup bool) Record {
	now := m.now()
	active := d.ActiveSelector(now)
	r := Record{
		{Name: "Identity", Value: d.Domain},
		{Name: "Domain", Value: d.Domain},
		{Name: "Enabled", Value: fmtBool(d.Enabled)},
		{Name: "Status", Value: ""},
		{Name: "Selector", Value: active},
		{Name: "KeyType", Value: d.KeyType},
		{Name: "KeySize", Value: strconv.Itoa(d.KeySize)},
		{Name: "HeaderCanonicalization", Value: "Relaxed"},
		{Name: "BodyCanonicalization", Value: "Relaxed"},
		{Name: "AdminDisplayName", Value: d.AdminDisplayName},
	}
	status := "Valid"
	for n, sel := range dkimsign.Selectors {
		prefix := fmt.Sprintf("Selector%d", n+1)
		created := d.Selector1KeyCreationTime
		if n == 1 {
			created = d.Selector2KeyCreationTime
		}
		name := dkimsign.RecordName(d.Domain, sel)
		var txt, pub, published string
		if created != "" {
			key, err := dkimsign.LoadKey(dkimsign.KeyPath(c.DkimKeyDir(), d.Domain, sel))
			if err == nil {
				txt, err = dkimsign.Record(key)
			}
			if err != nil {
				txt = "(key unreadable: " + err.Error() + ")"
				if sel == active {
					status = "KeyMissing"
				}
			}
			_, pub, _ = strings.Cut(txt, "p=")
			if lookup && err == nil {
				published = m.dkimPublished(c, name, pub)
				if sel == active && published != "True" {
					status = "RecordMissing"
				}
				if sel != active && sel == d.SelectorAfterRotateOnDate && published != "True" && status == "Valid" {
					status = "RotationRecordMissing" // the next key signs at RotateOnDate
				}
			}
		}
		r = append(r, Property{Name: prefix + "Name", Value: name}, Property{Name: prefix + "Record", Value: txt},
			Property{Name: prefix + "PublicKey", Value: pub}, Property{Name: prefix + "KeyCreationTime", Value: created})
		if lookup {
			r = append(r, Property{Name: prefix + "Published", Value: published})
		}
	}
	if !lookup {
		status = "Unchecked"
	}
	if !d.Enabled {
		status = "Disabled"
	}
	r[3].Value = status
	keyTime := d.Selector1KeyCreationTime
	if active == "selector2" {
		keyTime = d.Selector2KeyCreationTime
	}
	r = append(r, Property{Name: "KeyCreationTime", Value: keyTime},
		Property{Name: "RotateOnDate", Value: d.RotateOnDate},
		Property{Name: "SelectorBeforeRotateOnDate", Value: d.SelectorBeforeRotateOnDate},
		Property{Name: "SelectorAfterRotateOnDate", Value: d.SelectorAfterRotateOnDate})
	return r
}

func fmtBool(b bool) string {
	if b {
		return "True"
	}
	return "False"
}

// dkimPublished asks DNS for a selector's record: True when it carries
// pub, False when it is missing or carries another key, or the error.
func (m *Manager) dkimPublished(c *config.Config, name, pub string) string {
	res, err := dnsclient.NewResolver(c.Transport.ExternalDNSServers)
	if err != nil {
		return "unknown: " + err.Error()
	}
	ctx, cancel := context.WithTimeout(context.Background(), dnsCheckTimeout)
	defer cancel()
	txts, err := res.LookupTXT(ctx, name)
	if err != nil {
		return "False"
	}
	for _, t := range txts {
		if strings.Contains(strings.ReplaceAll(t, " ", ""), "p="+pub) {
			return "True"
		}
	}
	return "False (another key is published)"
}

// SetDkimSigningConfigs changes the configurations ids name: -Enabled,
// -AdminDisplayName; -PublishTxtRecords prints the records to publish.
func (m *Manager) SetDkimSigningConfigs(ids []string, ps Params) (int, []Record, error) {
	var enabled *bool
	if v, ok := ps.Take("Enabled"); ok {
		b, err := ParseBool(v)
		if err != nil {
			return 0, nil, fmt.Errorf("-Enabled: %w", err)
		}
		enabled = &b
	}
	name, hasName := ps.TakeExact("AdminDisplayName")
	_, publish := ps.TakeExact("PublishTxtRecords")
	if err := canonicalization(&ps); err != nil {
		return 0, nil, err
	}
	if len(ps) > 0 {
		return 0, nil, fmt.Errorf("unknown parameter -%s (Set-DkimSigningConfig takes -Enabled, -AdminDisplayName, -PublishTxtRecords)", ps[0].Name)
	}
	var changed []int
	c, err := config.Update(m.ConfigPath, func(c *config.Config) error {
		changed = nil
		for _, id := range ids {
			idx, err := dkimMatch(c, id)
			if err != nil {
				return err
			}
			for _, i := range idx {
				if !slices.Contains(changed, i) {
					changed = append(changed, i)
				}
				d := &c.DkimSigningConfigs[i]
				if enabled != nil {
					d.Enabled = *enabled
				}
				if hasName {
					d.AdminDisplayName = name
				}
			}
		}
		return nil
	})
	if err != nil {
		return 0, nil, err
	}
	var recs []Record
	for _, i := range changed {
		d := &c.DkimSigningConfigs[i]
		rec := m.dkimRecord(c, d, enabled != nil && *enabled)
		if enabled != nil && *enabled {
			if st := recordValue(rec, "Status"); st != "Valid" {
				sel := recordValue(rec, "Selector")
				m.warn("%s: DKIM signing is on, but the signing key's TXT record is not in DNS (Status %s): publish %s TXT %q, or receivers see a signature they cannot verify",
					d.Domain, st, dkimsign.RecordName(d.Domain, sel), recordValue(rec, "Selector"+selNum(sel)+"Record"))
			}
		}
		if publish {
			recs = append(recs, rec)
		}
	}
	return len(changed), recs, nil
}

func selNum(sel string) string { return strings.TrimPrefix(sel, "selector") }

// RotateDkimSigningConfigs makes a new key on the selector that does not
// sign now (Rotate-DkimSigningConfig). The rotation completes at
// RotateOnDate, RotationDelay later: from then on the new key signs. The
// old key stays, and its record should stay published a few days more for
// mail still in transit; the next rotation replaces it.
func (m *Manager) RotateDkimSigningConfigs(ids []string, ps Params) ([]Record, error) {
	c, err := m.Load()
	if err != nil {
		return nil, err
	}
	var idx []int
	for _, id := range ids {
		ix, err := dkimMatch(c, id)
		if err != nil {
			return nil, err
		}
		for _, i := range ix {
			if !slices.Contains(idx, i) {
				idx = append(idx, i)
			}
		}
	}
	sizeGiven := slices.ContainsFunc(ps, func(p Param) bool { return strings.EqualFold(p.Name, "KeySize") })
	size, err := keySize(&ps, 0)
	if err != nil {
		return nil, err
	}
	if len(ps) > 0 {
		return nil, fmt.Errorf("unknown parameter -%s (Rotate-DkimSigningConfig takes -Identity and -KeySize)", ps[0].Name)
	}
	now := m.now().UTC()
	type rot struct {
		domain, next string
		size         int
	}
	var plan []rot
	for _, i := range idx {
		d := c.DkimSigningConfigs[i]
		if t, err := time.Parse(time.RFC3339, d.RotateOnDate); err == nil && now.Before(t) {
			return nil, fmt.Errorf("%s: a rotation to %s is pending until %s; rotate again after it completes", d.Domain, d.SelectorAfterRotateOnDate, d.RotateOnDate)
		}
		if sizeGiven && d.KeyType == dkimsign.KeyTypeEd25519 {
			return nil, fmt.Errorf("%s: -KeySize is for RSA keys; this domain signs with Ed25519", d.Domain)
		}
		active := d.ActiveSelector(now)
		next := "selector2"
		if active == "selector2" {
			next = "selector1"
		}
		s := d.KeySize
		if sizeGiven {
			s = size
		}
		key, err := dkimsign.Generate(d.KeyType, s)
		if err != nil {
			return nil, err
		}
		if err := saveRotatedKey(dkimsign.KeyPath(c.DkimKeyDir(), d.Domain, next), key); err != nil {
			return nil, err
		}
		plan = append(plan, rot{d.Domain, next, s})
	}
	c, err = config.Update(m.ConfigPath, func(c *config.Config) error {
		for _, p := range plan {
			for i := range c.DkimSigningConfigs {
				d := &c.DkimSigningConfigs[i]
				if !strings.EqualFold(d.Domain, p.domain) {
					continue
				}
				d.SelectorBeforeRotateOnDate = d.ActiveSelector(now)
				d.SelectorAfterRotateOnDate = p.next
				d.RotateOnDate = now.Add(RotationDelay).Format(time.RFC3339)
				d.KeySize = p.size
				if p.next == "selector1" {
					d.Selector1KeyCreationTime = now.Format(time.RFC3339)
				} else {
					d.Selector2KeyCreationTime = now.Format(time.RFC3339)
				}
			}
		}
		return nil
	})
	if err != nil {
		return nil, err
	}
	var out []Record
	for _, p := range plan {
		for i := range c.DkimSigningConfigs {
			if strings.EqualFold(c.DkimSigningConfigs[i].Domain, p.domain) {
				rec := m.dkimRecord(c, &c.DkimSigningConfigs[i], false)
				m.warn("%s: publish the TXT record %s now: %s; it starts signing at %s", p.domain,
					dkimsign.RecordName(p.domain, p.next), recordValue(rec, "Selector"+selNum(p.next)+"Record"), c.DkimSigningConfigs[i].RotateOnDate)
				out = append(out, rec)
			}
		}
	}
	return out, nil
}

// saveRotatedKey writes the next key. The selector it replaces signed
// before the last rotation; its key is no longer used.
func saveRotatedKey(path string, key crypto.Signer) error {
	return dkimsign.SaveKey(path, key)
}

// RemoveDkimSigningConfigs removes the configurations ids name and their
// keys: mail from those domains goes out unsigned.
func (m *Manager) RemoveDkimSigningConfigs(ids []string) (int, error) {
	var removed []string
	c, err := config.Update(m.ConfigPath, func(c *config.Config) error {
		removed = nil
		var drop []int
		for _, id := range ids {
			idx, err := dkimMatch(c, id)
			if err != nil {
				return err
			}
			drop = append(drop, idx...)
		}
		var keep []config.DkimSigningConfig
		for i, d := range c.DkimSigningConfigs {
			if slices.Contains(drop, i) {
				removed = append(removed, d.Domain)
				continue
			}
			keep = append(keep, d)
		}
		c.DkimSigningConfigs = keep
		return nil
	})
	if err != nil {
		return 0, err
	}
	for _, d := range removed {
		if err := os.RemoveAll(filepath.Join(c.DkimKeyDir(), strings.ToLower(d))); err != nil {
			m.warn("%s: the signing configuration is removed, but its key folder is not: %v; delete it by hand", d, err)
		}
	}
	return len(removed), nil
}
