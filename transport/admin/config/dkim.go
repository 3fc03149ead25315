package config

import (
	"errors"
	"fmt"
	"path/filepath"
	"strings"
	"time"

	"github.com/transportd/transportd/connector"
)

// DkimSigningConfig is one domain's DKIM signing (Exchange Online's
// New/Get/Set/Rotate-DkimSigningConfig). Its two keys live in the data
// folder (DkimKeyDir), never in this file; the active one is
// SelectorBeforeRotateOnDate until RotateOnDate, then
// SelectorAfterRotateOnDate.
type DkimSigningConfig struct {
	// Domain is the domain mail is signed for (d=), matched against the
	// domain of the From: address.
	Domain string `yaml:"Domain"`
	// Enabled signs mail from this domain.
	Enabled bool `yaml:"Enabled"`
	// AdminDisplayName is a description for the admin.
	AdminDisplayName string `yaml:"AdminDisplayName,omitempty"`
	// KeyType is RSA (the default) or Ed25519 (RFC 8463).
	KeyType string `yaml:"KeyType"`
	// KeySize is the RSA key size, 2048 (the default) or 1024.
	KeySize int `yaml:"KeySize"`
	// SelectorBeforeRotateOnDate signs until RotateOnDate.
	SelectorBeforeRotateOnDate string `yaml:"SelectorBeforeRotateOnDate"`
	// SelectorAfterRotateOnDate signs from RotateOnDate on.
	SelectorAfterRotateOnDate string `yaml:"SelectorAfterRotateOnDate"`
	// RotateOnDate is when a rotation completes (RFC 3339); empty: none pending.
	RotateOnDate string `yaml:"RotateOnDate,omitempty"`
	// Selector1KeyCreationTime and Selector2KeyCreationTime tell when each
	// selector's key was made (RFC 3339); empty: the selector has no key.
	Selector1KeyCreationTime string `yaml:"Selector1KeyCreationTime,omitempty"`
	Selector2KeyCreationTime string `yaml:"Selector2KeyCreationTime,omitempty"`
}

// ActiveSelector is the selector that signs at now.
func (d *DkimSigningConfig) ActiveSelector(now time.Time) string {
	if d.RotateOnDate != "" {
		if t, err := time.Parse(time.RFC3339, d.RotateOnDate); err == nil && !now.Before(t) {
			return d.SelectorAfterRotateOnDate
		}
	}
	return d.SelectorBeforeRotateOnDate
}

// DkimKeyDir is the folder of the DKIM keys: one folder per domain with
// selector1.key and selector2.key (mode 0600).
func (c *Config) DkimKeyDir() string { return filepath.Join(c.DataDir(), "dkim") }

// DkimFor returns the enabled signing configuration of domain, or nil.
func (c *Config) DkimFor(domain string) *DkimSigningConfig {
	for i := range c.DkimSigningConfigs {
		d := &c.DkimSigningConfigs[i]
		if d.Enabled && strings.EqualFold(d.Domain, domain) {
			return d
		}
	}
	return nil
}

// validateDkim checks the DKIM signing configurations.
func (c *Config) validateDkim() error {
	var errs []error
	seen := map[string]bool{}
	for _, d := range c.DkimSigningConfigs {
		name := fmt.Sprintf("DkimSigningConfigs[%s]", d.Domain)
		if err := connector.ValidateFQDN(d.Domain); err != nil || !strings.Contains(d.Domain, ".") {
			errs = append(errs, fmt.Errorf("%s: Domain %q is not a domain name such as contoso.com", name, d.Domain))
		}
		if seen[strings.ToLower(d.Domain)] {
			errs = append(errs, fmt.Errorf("%s: the domain has two signing configurations; remove one", name))
		}
		seen[strings.ToLower(d.Domain)] = true
		for _, s := range []string{d.SelectorBeforeRotateOnDate, d.SelectorAfterRotateOnDate} {
			if s != "selector1" && s != "selector2" {
				errs = append(errs, fmt.Errorf("%s: selector %q: give selector1 or selector2", name, s))
			}
		}
		if d.RotateOnDate != "" {
			if _, err := time.Parse(time.RFC3339, d.RotateOnDate); err != nil {
				errs = append(errs, fmt.Errorf("%s: RotateOnDate %q is not an RFC 3339 time", name, d.RotateOnDate))
			}
		}
	}
	return errors.Join(errs...)
}

// parseDkim reads the DkimSigningConfigs section.
func (c *Config) parseDkim(v any) error {
	raw, err := list(v, "DkimSigningConfigs")
	if err != nil {
		return err
	}
	for i, r := range raw {
		d := DkimSigningConfig{KeyType: "RSA", KeySize: 2048, SelectorBeforeRotateOnDate: "selector1", SelectorAfterRotateOnDate: "selector1"}
		if err := decode(r, &d, fmt.Sprintf("DkimSigningConfigs[%d]", i)); err != nil {
			return err
		}
		c.DkimSigningConfigs = append(c.DkimSigningConfigs, d)
	}
	return nil
}
