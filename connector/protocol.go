package connector

import (
	"fmt"
	"strings"
	"time"

	"github.com/transportd/transportd/policies/permissions"
	"github.com/transportd/transportd/policies/value"
)

// SizeEnabled values (Set-ReceiveConnector -SizeEnabled).
const (
	SizeEnabled             = "Enabled"
	SizeEnabledWithoutValue = "EnabledWithoutValue"
	SizeDisabled            = "Disabled"
)

// ExtendedProtectionPolicy values; the setting is inert here.
var extendedProtectionPolicies = []string{"None", "Allow", "Require"}

// Command line length with LongAddressesEnabled.
const (
	// LongCommandLine is the command line limit with LongAddressesEnabled.
	LongCommandLine = 8000
)

// setProtocolDefaults sets Exchange's defaults for the protocol switches
// and the other parameters of the block they open in ReceiveConnector.
func (c *ReceiveConnector) setProtocolDefaults() {
	c.ChunkingEnabled = true
	// Exchange's default is $true; here $false: transportd relays with
	// DATA, which cannot carry binary MIME unchanged (RFC 3030 section 3).
	c.BinaryMimeEnabled = false
	c.EightBitMimeEnabled = true
	c.PipeliningEnabled = true
	c.SizeEnabled = SizeEnabled
	c.EnhancedStatusCodesEnabled = true
	c.DeliveryStatusNotificationEnabled = true
	c.MaxProtocolErrors = 5
	c.MaxInboundConnectionPercentagePerSource = 2
	c.MaxLocalHopCount = 8
	c.MaxAcknowledgementDelay = value.TimeSpan(30 * time.Second)
	c.ExtendedProtectionPolicy = "None"
}

// BinaryMimeOffered reports whether EHLO offers BINARYMIME: it needs
// CHUNKING, as RFC 3030 section 3 sends BINARYMIME only with BDAT.
func (c *ReceiveConnector) BinaryMimeOffered() bool {
	return c.BinaryMimeEnabled && c.ChunkingEnabled
}

// validateProtocol checks the parameters of the protocol block.
func (c *ReceiveConnector) validateProtocol(bad func(param, format string, args ...any)) {
	if _, err := oneOf(c.SizeEnabled, SizeEnabled, SizeEnabledWithoutValue, SizeDisabled); err != nil {
		bad("SizeEnabled", "%v", err)
	}
	if _, err := oneOf(c.ExtendedProtectionPolicy, extendedProtectionPolicies...); err != nil {
		bad("ExtendedProtectionPolicy", "%v", err)
	}
	if p := c.MaxInboundConnectionPercentagePerSource; p < 1 || p > 100 {
		bad("MaxInboundConnectionPercentagePerSource", "%d is outside 1 to 100", p)
	}
	if c.MaxLocalHopCount < 0 || c.MaxLocalHopCount > 50 {
		bad("MaxLocalHopCount", "%d is outside 0 to 50", c.MaxLocalHopCount)
	}
	if c.MaxAcknowledgementDelay < 0 || c.MaxAcknowledgementDelay.Duration() > 10*time.Minute {
		bad("MaxAcknowledgementDelay", "%v is outside 00:00:00 to 00:10:00", c.MaxAcknowledgementDelay)
	}
	if c.ServiceDiscoveryFqdn != "" {
		if err := ValidateFQDN(c.ServiceDiscoveryFqdn); err != nil {
			bad("ServiceDiscoveryFqdn", "%v", err)
		}
	}
	for _, t := range c.TlsDomainCapabilities {
		if d, caps, ok := strings.Cut(t, ":"); !ok || strings.TrimSpace(d) == "" || strings.TrimSpace(caps) == "" {
			bad("TlsDomainCapabilities", "%q is not domain:capability (e.g. contoso.com:AcceptCloudServicesMail)", t)
		}
	}
}

// normalizeProtocol fixes the case of the protocol block's enumerations.
func (c *ReceiveConnector) normalizeProtocol() {
	if v, err := oneOf(c.SizeEnabled, SizeEnabled, SizeEnabledWithoutValue, SizeDisabled); err == nil {
		c.SizeEnabled = v
	}
	if v, err := oneOf(c.ExtendedProtectionPolicy, extendedProtectionPolicies...); err == nil {
		c.ExtendedProtectionPolicy = v
	}
	c.DefaultDomain = strings.TrimSpace(c.DefaultDomain)
}

// inertParams says, for each parameter that has no meaning on Linux, why.
var inertParams = map[string]string{
	"OrarEnabled":              "XORAR carries X.400 alternate recipients, which have no meaning here; XORAR is not offered",
	"MaxAcknowledgementDelay":  "Exchange 2010 delayed its 250 for shadow redundancy; transportd answers 250 once the message is on disk",
	"SuppressXAnonymousTls":    "X-ANONYMOUSTLS is Exchange's server-to-server extension; transportd never offers it",
	"ServiceDiscoveryFqdn":     "service discovery is between Exchange servers in Active Directory",
	"TlsDomainCapabilities":    "domain capabilities serve Exchange hybrid with Microsoft 365; partners are scoped with RemoteIPRanges and RequireTLS here",
	"DomainSecureEnabled":      "Domain Secure needs TLSReceiveDomainSecureList in Active Directory; use RemoteIPRanges with RequireTLS for a partner",
	"EnableAuthGSSAPI":         "Kerberos belongs to Integrated Windows authentication, which transportd does not offer (AUTH PLAIN and LOGIN)",
	"ExtendedProtectionPolicy": "Extended Protection guards Integrated Windows (NTLM) logons, which transportd does not offer",
}

// InertWarning returns the one-line warning for a parameter that is
// accepted and stored but does nothing on Linux, or "" for one that works.
func InertWarning(param string) string {
	for name, why := range inertParams {
		if strings.EqualFold(name, param) {
			return fmt.Sprintf("-%s is accepted and stored but does nothing on Linux: %s.", name, why)
		}
	}
	return ""
}

// Warnings returns one-line warnings about settings of c that are stored
// but (partly) without effect: AuthMechanism values that need Windows, and
// BinaryMimeEnabled without ChunkingEnabled.
func (c *ReceiveConnector) Warnings() []string {
	var out []string
	for _, m := range []permissions.Mechanism{permissions.MechIntegrated, permissions.MechExchangeServer} {
		if c.AuthMechanism.Has(m) {
			out = append(out, fmt.Sprintf("receive connector %q: -AuthMechanism %s is accepted and stored but does nothing on Linux: it needs Windows (Kerberos/NTLM or Exchange server authentication); clients log on with BasicAuth (AUTH PLAIN, LOGIN).", c.Name, m))
		}
	}
	if c.BinaryMimeEnabled && !c.ChunkingEnabled {
		out = append(out, fmt.Sprintf("receive connector %q: BINARYMIME is not offered while ChunkingEnabled is $false (RFC 3030: BINARYMIME messages come with BDAT).", c.Name))
	}
	return out
}
