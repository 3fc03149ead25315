package connector

import (
	"errors"
	"fmt"
	"strings"

	"github.com/transportd/transportd/policies/permissions"
	"github.com/transportd/transportd/policies/value"
)

// Validate checks one connector on its own. Errors name the connector, the
// parameter and the bad value.
func (c *ReceiveConnector) Validate() error {
	var errs []error
	bad := func(param, format string, args ...any) {
		errs = append(errs, fmt.Errorf("receive connector %q: %s: %s", c.Name, param, fmt.Sprintf(format, args...)))
	}
	if strings.TrimSpace(c.Name) == "" {
		errs = append(errs, errors.New("receive connector: Name is empty: every connector needs a unique name"))
	}
	if len(c.Name) > 64 {
		bad("Name", "%d characters, at most 64 allowed", len(c.Name))
	}
	if len(c.Bindings) == 0 {
		bad("Bindings", "empty: give at least one IP:port, e.g. 0.0.0.0:25")
	}
	for _, b := range c.Bindings {
		if !b.IsValid() || b.Port() == 0 {
			bad("Bindings", "%q is not an IP:port with a port above 0", b.String())
		}
	}
	if len(c.RemoteIPRanges) == 0 {
		bad("RemoteIPRanges", "empty: give at least one address or range (0.0.0.0-255.255.255.255 for all IPv4)")
	}
	for i, r := range c.RemoteIPRanges {
		for _, o := range c.RemoteIPRanges[i+1:] {
			if r == o {
				bad("RemoteIPRanges", "%s is listed twice", r)
			}
		}
	}
	if err := ValidateFQDN(c.Fqdn); err != nil {
		bad("Fqdn", "%v", err)
	}
	if c.Banner != "" && !strings.HasPrefix(c.Banner, "220 ") {
		bad("Banner", "%q must start with \"220 \"", c.Banner)
	}
	if strings.ContainsAny(c.Banner, "\r\n") {
		bad("Banner", "must be a single line")
	}
	if c.AllowLegacyTLSClients && !c.AuthMechanism.Has(permissions.MechTLS) {
		bad("AllowLegacyTLSClients", "$true needs Tls in AuthMechanism (there is no STARTTLS to open to legacy clients): add Tls or set it to $false")
	}
	if c.ImplicitTls && !c.AuthMechanism.Has(permissions.MechTLS) {
		bad("ImplicitTls", "$true needs Tls in AuthMechanism (it names the certificate to serve): add Tls or set it to $false")
	}
	if err := c.AuthMechanism.Validate(); err != nil {
		bad("AuthMechanism", "%v", err)
	} else if err := permissions.ValidateCombination(c.AuthMechanism, c.PermissionGroups); err != nil {
		bad("AuthMechanism", "%v", err)
	}
	if c.MaxMessageSize < 64*value.KB || c.MaxMessageSize > 2*value.GB {
		bad("MaxMessageSize", "%v is outside 64 KB to 2 GB", c.MaxMessageSize)
	}
	if c.MaxHeaderSize < 1*value.KB || c.MaxHeaderSize > 2*value.GB {
		bad("MaxHeaderSize", "%v is outside 1 KB to 2 GB", c.MaxHeaderSize)
	}
	if c.MaxRecipientsPerMessage < 1 || c.MaxRecipientsPerMessage > 512000 {
		bad("MaxRecipientsPerMessage", "%d is outside 1 to 512000", c.MaxRecipientsPerMessage)
	}
	if c.MaxLogonFailures < 0 || c.MaxLogonFailures > 10 {
		bad("MaxLogonFailures", "%d is outside 0 to 10", c.MaxLogonFailures)
	}
	if c.ConnectionInactivityTimeout <= 0 {
		bad("ConnectionInactivityTimeout", "%v must be above zero", c.ConnectionInactivityTimeout)
	}
	if c.ConnectionTimeout <= c.ConnectionInactivityTimeout {
		bad("ConnectionTimeout", "%v must exceed ConnectionInactivityTimeout (%v)", c.ConnectionTimeout, c.ConnectionInactivityTimeout)
	}
	if c.TarpitInterval < 0 || c.TarpitInterval.Duration() > 10*60e9 {
		bad("TarpitInterval", "%v is outside 00:00:00 to 00:10:00", c.TarpitInterval)
	}
	if c.AuthTarpitInterval < 0 || c.AuthTarpitInterval.Duration() > 10*60e9 {
		bad("AuthTarpitInterval", "%v is outside 00:00:00 to 00:10:00", c.AuthTarpitInterval)
	}
	if c.MaxHopCount < 1 || c.MaxHopCount > 500 {
		bad("MaxHopCount", "%d is outside 1 to 500", c.MaxHopCount)
	}
	if _, err := oneOf(c.MessageRateSource, "None", "User", "IPAddress", "All"); err != nil {
		bad("MessageRateSource", "%v", err)
	}
	if _, err := oneOf(c.ProtocolLoggingLevel, "None", "Verbose"); err != nil {
		bad("ProtocolLoggingLevel", "%v", err)
	}
	c.validateProtocol(bad)
	c.validateProxyProtocol(bad)
	return errors.Join(errs...)
}

// Normalize fixes the spelling of enumerated values to Exchange's case.
func (c *ReceiveConnector) Normalize() {
	if v, err := oneOf(c.MessageRateSource, "None", "User", "IPAddress", "All"); err == nil {
		c.MessageRateSource = v
	}
	if v, err := oneOf(c.ProtocolLoggingLevel, "None", "Verbose"); err == nil {
		c.ProtocolLoggingLevel = v
	}
	c.Fqdn = strings.ToLower(strings.TrimSpace(c.Fqdn))
	c.normalizeProtocol()
}

func oneOf(v string, allowed ...string) (string, error) {
	for _, a := range allowed {
		if strings.EqualFold(strings.TrimSpace(v), a) {
			return a, nil
		}
	}
	return "", fmt.Errorf("%q is not allowed: use one of %s", v, strings.Join(allowed, ", "))
}

// ValidateFQDN checks a host name as used in EHLO and the 220 greeting.
func ValidateFQDN(s string) error {
	if s == "" {
		return errors.New("empty: give the server's host name, e.g. mail.contoso.com")
	}
	if len(s) > 253 {
		return fmt.Errorf("%q is longer than 253 characters", s)
	}
	for _, label := range strings.Split(s, ".") {
		if label == "" || len(label) > 63 || label[0] == '-' || label[len(label)-1] == '-' {
			return fmt.Errorf("%q is not a host name: label %q", s, label)
		}
		for _, r := range label {
			if !(r >= 'a' && r <= 'z' || r >= 'A' && r <= 'Z' || r >= '0' && r <= '9' || r == '-') {
				return fmt.Errorf("%q is not a host name: character %q", s, r)
			}
		}
	}
	return nil
}

// ValidateSet checks a whole set of connectors: each one, unique names, and
// no two enabled connectors that share a binding with the same or partly
// overlapping RemoteIPRanges (Exchange allows overlap only when one range
// contains the other, so the most specific one can win).
func ValidateSet(cs []ReceiveConnector) error {
	var errs []error
	seen := map[string]string{}
	for i := range cs {
		c := &cs[i]
		if err := c.Validate(); err != nil {
			errs = append(errs, err)
		}
		key := strings.ToLower(c.Name)
		if prev, ok := seen[key]; ok {
			errs = append(errs, fmt.Errorf("receive connectors %q and %q: Name must be unique", prev, c.Name))
		}
		seen[key] = c.Name
	}
	for i := range cs {
		for j := i + 1; j < len(cs); j++ {
			if err := conflict(&cs[i], &cs[j]); err != nil {
				errs = append(errs, err)
			}
		}
	}
	return errors.Join(errs...)
}

func conflict(a, b *ReceiveConnector) error {
	if !a.Enabled || !b.Enabled {
		return nil
	}
	for _, ba := range a.Bindings {
		for _, bb := range b.Bindings {
			// Select compares unmapped addresses, so [::ffff:192.0.2.1]:25 is 192.0.2.1:25.
			if ba.Addr().Unmap() != bb.Addr().Unmap() || ba.Port() != bb.Port() {
				continue
			}
			if a.ImplicitTls != b.ImplicitTls {
				// A client chooses a port knowing whether it speaks TLS
				// first (RFC 8314 section 3); one port must not answer both ways.
				return fmt.Errorf("receive connectors %q and %q both bind %s but only one has ImplicitTls: a port speaks TLS from the first byte or not; give them the same ImplicitTls or different Bindings", a.Name, b.Name, ba)
			}
			if sameRanges(a, b) {
				return fmt.Errorf("receive connectors %q and %q both bind %s with the same RemoteIPRanges: a connection could go to either; change the Bindings or RemoteIPRanges of one", a.Name, b.Name, ba)
			}
			for _, ra := range a.RemoteIPRanges {
				for _, rb := range b.RemoteIPRanges {
					if ra == rb {
						// The same range on both: an address it holds that no
						// more specific range covers could go to either.
						return fmt.Errorf("receive connectors %q and %q both bind %s and both list RemoteIPRanges %s: a connection could go to either; change the Bindings or RemoteIPRanges of one", a.Name, b.Name, ba, ra)
					}
					if ra.Overlaps(rb) && !ra.ContainsRange(rb) && !rb.ContainsRange(ra) {
						return fmt.Errorf("receive connectors %q and %q both bind %s and their RemoteIPRanges %s and %s overlap without one containing the other", a.Name, b.Name, ba, ra, rb)
					}
				}
			}
		}
	}
	return nil
}

func sameRanges(a, b *ReceiveConnector) bool {
	if len(a.RemoteIPRanges) != len(b.RemoteIPRanges) {
		return false
	}
	set := map[string]bool{}
	for _, r := range a.RemoteIPRanges {
		set[r.String()] = true
	}
	for _, r := range b.RemoteIPRanges {
		if !set[r.String()] {
			return false
		}
	}
	return true
}
