// Package sendconnector holds the send connector model: the parameters of
// an Exchange send connector (New-SendConnector / Set-SendConnector),
// Exchange's defaults, the rules that make a connector and a set of
// connectors valid, and the choice of connector for a recipient domain
// (Select). Delivery through a connector lives in transport/smtpout.
package sendconnector

import (
	"errors"
	"fmt"
	"net/netip"
	"strings"
	"time"

	"github.com/transportd/transportd/certs"
	"github.com/transportd/transportd/policies/value"
)

// SendConnector is one send connector, with Exchange's parameter names.
// Field order is the order in which the config file and `connector get`
// show them.
type SendConnector struct {
	// Name is unique among send connectors, at most 64 characters.
	Name string `yaml:"Name"`
	// Enabled turns the connector on or off without removing it.
	Enabled bool `yaml:"Enabled"`
	// AddressSpaces are the recipient domains the connector routes to,
	// with their costs: "*;1, contoso.com;5".
	AddressSpaces AddressSpaces `yaml:"AddressSpaces"`
	// SmartHosts are tried in order when DNSRoutingEnabled is false.
	SmartHosts SmartHosts `yaml:"SmartHosts"`
	// Port is the TCP port used for a smart host without its own port and
	// for MX hosts.
	Port int `yaml:"Port"`
	// DNSRoutingEnabled routes by the MX records of the recipient domain;
	// SmartHosts must then be empty.
	DNSRoutingEnabled bool `yaml:"DNSRoutingEnabled"`
	// SmartHostAuthMechanism is None, BasicAuth, BasicAuthRequireTLS or OAuth.
	SmartHostAuthMechanism string `yaml:"SmartHostAuthMechanism"`
	// AuthenticationCredential is used with BasicAuth and BasicAuthRequireTLS.
	AuthenticationCredential Credential `yaml:"AuthenticationCredential"`
	// RequireTLS refuses to send in clear: a host without STARTTLS is a
	// transient failure.
	RequireTLS bool `yaml:"RequireTLS"`
	// TlsAuthLevel is "" or EncryptionOnly (no certificate check),
	// CertificateValidation (the chain must verify) or DomainValidation
	// (the chain must verify and the certificate must cover TlsDomain).
	TlsAuthLevel string `yaml:"TlsAuthLevel"`
	// TlsDomain is the name the certificate must cover with
	// DomainValidation ("*.contoso.com" accepts any host of contoso.com);
	// empty means the smart host or MX host name.
	TlsDomain string `yaml:"TlsDomain"`
	// IgnoreSTARTTLS never uses STARTTLS, even when offered.
	IgnoreSTARTTLS bool `yaml:"IgnoreSTARTTLS"`
	// Fqdn is the name given in EHLO; empty means the server's FQDN.
	Fqdn string `yaml:"Fqdn"`
	// MaxMessageSize is the largest message the connector takes; 0 is unlimited.
	MaxMessageSize value.ByteSize `yaml:"MaxMessageSize"`
	// ConnectionInactivityTimeout is how long an idle connection stays open.
	ConnectionInactivityTimeout value.TimeSpan `yaml:"ConnectionInactivityTimeout"`
	// Comment is free text for the admin.
	Comment string `yaml:"Comment"`

	// OAuth 2.0 to smart hosts (SmartHostAuthMechanism OAuth; see oauth.go).

	// OAuthTenantId is the directory (tenant) id of the app registration.
	OAuthTenantId string `yaml:"OAuthTenantId,omitempty"`
	// OAuthClientId is the app registration's client (application) id.
	OAuthClientId string `yaml:"OAuthClientId,omitempty"`
	// OAuthClientSecret is the client secret, or a Google service account
	// key (JSON); kept in secrets.yaml, never shown.
	OAuthClientSecret Secret `yaml:"OAuthClientSecret,omitempty"`
	// OAuthCertificateThumbprint names a certificate of the store whose key
	// signs the client assertion (RFC 7523), instead of a client secret.
	OAuthCertificateThumbprint string `yaml:"OAuthCertificateThumbprint,omitempty"`
	// OAuthScope is the scope asked for; empty: Microsoft 365's
	// (https://outlook.office365.com/.default), or Gmail's for a service account.
	OAuthScope string `yaml:"OAuthScope,omitempty"`
	// OAuthTokenEndpoint is the token endpoint; empty: Microsoft's global
	// cloud for OAuthTenantId. Set it for national clouds.
	OAuthTokenEndpoint string `yaml:"OAuthTokenEndpoint,omitempty"`
	// OAuthMailbox is the mailbox named in XOAUTH2 and OAUTHBEARER (and the
	// subject of a Google service account); empty: AuthenticationCredential's user.
	OAuthMailbox string `yaml:"OAuthMailbox,omitempty"`

	// TlsCertificateName names the certificate from the store presented as
	// the TLS client certificate ("<I>issuer<S>subject" or a thumbprint),
	// as Microsoft 365's certificate-based inbound connectors require;
	// empty presents none. It needs TLS (not IgnoreSTARTTLS).
	TlsCertificateName string `yaml:"TlsCertificateName,omitempty"`

	// ---- Exchange's remaining New-/Set-SendConnector parameters (issue 10) ----

	// SourceIPAddress is the local address outbound connections are made
	// from; "" or 0.0.0.0 lets the system choose.
	SourceIPAddress string `yaml:"SourceIPAddress,omitempty"`
	// ForceHELO greets with HELO instead of EHLO: no extension is used
	// (no STARTTLS, AUTH, SIZE, PIPELINING or 8BITMIME).
	ForceHELO bool `yaml:"ForceHELO,omitempty"`
	// ErrorPolicies is Default or a comma list of DowngradeDnsFailures,
	// DowngradeCustomFailures, UpgradeCustomFailures. DowngradeDnsFailures
	// makes a permanent DNS failure (no such domain, null MX) transient.
	ErrorPolicies string `yaml:"ErrorPolicies,omitempty"`
	// ProtocolLoggingLevel is None or Verbose for this connector's send
	// protocol log; empty follows Logging.SendProtocolLoggingLevel.
	ProtocolLoggingLevel string `yaml:"ProtocolLoggingLevel,omitempty"`
	// SmtpMaxMessagesPerConnection is how many messages one connection
	// carries before it is closed (Exchange's default 20; 0 means 20).
	SmtpMaxMessagesPerConnection int `yaml:"SmtpMaxMessagesPerConnection,omitempty"`
	// UseExternalDNSServersEnabled resolves MX and host names with the
	// transport service's ExternalDNSServers instead of the system's.
	UseExternalDNSServersEnabled bool `yaml:"UseExternalDNSServersEnabled,omitempty"`
}

// Exchange's default SmtpMaxMessagesPerConnection.
const DefaultSmtpMaxMessagesPerConnection = 20

// Values of ErrorPolicies.
const (
	ErrorPolicyDefault              = "Default"
	ErrorPolicyDowngradeDnsFailures = "DowngradeDnsFailures"
	ErrorPolicyDowngradeCustom      = "DowngradeCustomFailures"
	ErrorPolicyUpgradeCustom        = "UpgradeCustomFailures"
)

// MaxMessagesPerConnection is SmtpMaxMessagesPerConnection with its default.
func (c *SendConnector) MaxMessagesPerConnection() int {
	if c.SmtpMaxMessagesPerConnection <= 0 {
		return DefaultSmtpMaxMessagesPerConnection
	}
	return c.SmtpMaxMessagesPerConnection
}

// HasErrorPolicy reports whether ErrorPolicies lists p (any case).
func (c *SendConnector) HasErrorPolicy(p string) bool {
	for _, x := range strings.Split(c.ErrorPolicies, ",") {
		if strings.EqualFold(strings.TrimSpace(x), p) {
			return true
		}
	}
	return false
}

// SourceAddr returns SourceIPAddress as an address; ok is false when it
// is empty or unspecified (0.0.0.0, ::): the system chooses.
func (c *SendConnector) SourceAddr() (addr netip.Addr, ok bool) {
	a, err := netip.ParseAddr(strings.TrimSpace(c.SourceIPAddress))
	if err != nil || a.IsUnspecified() {
		return netip.Addr{}, false
	}
	return a.Unmap(), true
}

// validateExtra checks the issue 10 parameters.
func (c *SendConnector) validateExtra(bad func(param string, val any, format string, args ...any)) {
	if s := strings.TrimSpace(c.SourceIPAddress); s != "" {
		if a, err := netip.ParseAddr(s); err != nil || a.Zone() != "" {
			bad("SourceIPAddress", s, "not an IP address; give one of this machine's addresses, or 0.0.0.0 for any")
		}
	}
	if c.ForceHELO && c.RequireTLS {
		bad("ForceHELO", "True", "HELO has no STARTTLS; it conflicts with -RequireTLS $true")
	}
	if c.ForceHELO && c.AuthenticatesToSmartHosts() {
		bad("ForceHELO", "True", "HELO has no AUTH; it conflicts with -SmartHostAuthMechanism %s", c.AuthMechanism())
	}
	for _, x := range strings.Split(c.ErrorPolicies, ",") {
		x = strings.TrimSpace(x)
		if x == "" {
			continue
		}
		known := false
		for _, k := range []string{ErrorPolicyDefault, ErrorPolicyDowngradeDnsFailures, ErrorPolicyDowngradeCustom, ErrorPolicyUpgradeCustom} {
			known = known || strings.EqualFold(x, k)
		}
		if !known {
			bad("ErrorPolicies", c.ErrorPolicies, "use Default, DowngradeDnsFailures, DowngradeCustomFailures or UpgradeCustomFailures")
		}
	}
	switch strings.ToLower(strings.TrimSpace(c.ProtocolLoggingLevel)) {
	case "", "none", "verbose":
	default:
		bad("ProtocolLoggingLevel", c.ProtocolLoggingLevel, "use None or Verbose")
	}
	if c.SmtpMaxMessagesPerConnection < 0 || c.SmtpMaxMessagesPerConnection > 1000000 {
		bad("SmtpMaxMessagesPerConnection", c.SmtpMaxMessagesPerConnection, "must be from 1 to 1000000")
	}
}

// Values of SmartHostAuthMechanism.
const (
	AuthNone                = "None"
	AuthBasic               = "BasicAuth"
	AuthBasicRequireTLS     = "BasicAuthRequireTLS"
	authExchangeServer      = "ExchangeServer"
	authExternalAuthorative = "ExternalAuthoritative"
)

// Values of TlsAuthLevel ("" is the same as EncryptionOnly).
const (
	TLSEncryptionOnly        = "EncryptionOnly"
	TLSCertificateValidation = "CertificateValidation"
	TLSDomainValidation      = "DomainValidation"
)

// Exchange's defaults for a new send connector.
const (
	DefaultPort                        = 25
	DefaultMaxMessageSize              = 35 * value.MB
	DefaultConnectionInactivityTimeout = value.TimeSpan(10 * time.Minute)
	maxNameLength                      = 64
)

// New returns a send connector with Exchange's defaults: enabled, routing
// by DNS on port 25, no authentication, opportunistic TLS, 35 MB, 10 minutes
// of inactivity. AddressSpaces is empty: the caller must set it.
func New(name string) SendConnector {
	return SendConnector{
		Name:                        name,
		Enabled:                     true,
		AddressSpaces:               AddressSpaces{},
		SmartHosts:                  SmartHosts{},
		Port:                        DefaultPort,
		DNSRoutingEnabled:           true,
		SmartHostAuthMechanism:      AuthNone,
		MaxMessageSize:              DefaultMaxMessageSize,
		ConnectionInactivityTimeout: DefaultConnectionInactivityTimeout,
		// Exchange's defaults of the issue 10 parameters.
		SmtpMaxMessagesPerConnection: DefaultSmtpMaxMessagesPerConnection,
	}
}

// AuthMechanism returns SmartHostAuthMechanism in its canonical spelling
// (None for ""), or the text unchanged when it is not known.
func (c *SendConnector) AuthMechanism() string {
	return canonical(c.SmartHostAuthMechanism, AuthNone, AuthNone, AuthBasic, AuthBasicRequireTLS, AuthOAuth)
}

// TLSAuthLevel returns TlsAuthLevel in its canonical spelling
// (EncryptionOnly for ""), or the text unchanged when it is not known.
func (c *SendConnector) TLSAuthLevel() string {
	return canonical(c.TlsAuthLevel, TLSEncryptionOnly, TLSEncryptionOnly, TLSCertificateValidation, TLSDomainValidation)
}

// AuthenticatesToSmartHosts reports whether the connector authenticates:
// only to its smart hosts, never to the MX hosts of a recipient domain,
// which must not see the credential.
func (c *SendConnector) AuthenticatesToSmartHosts() bool {
	return c.UsesBasicAuth() && !c.DNSRoutingEnabled
}

// UsesBasicAuth reports whether the connector's mechanism is BasicAuth or
// BasicAuthRequireTLS.
func (c *SendConnector) UsesBasicAuth() bool {
	m := c.AuthMechanism()
	return m == AuthBasic || m == AuthBasicRequireTLS
}

func canonical(s, empty string, known ...string) string {
	t := strings.TrimSpace(s)
	if t == "" {
		return empty
	}
	for _, k := range known {
		if strings.EqualFold(t, k) {
			return k
		}
	}
	return s
}

// Validate checks the connector on its own, with the rules of Exchange's
// Set-SendConnector and a few of transportd's. Each error names the
// connector, the parameter and the value.
func (c *SendConnector) Validate() error {
	var errs []error
	bad := func(param string, val any, format string, args ...any) {
		errs = append(errs, fmt.Errorf("send connector %q: -%s %q: %s", c.Name, param, fmt.Sprint(val), fmt.Sprintf(format, args...)))
	}
	if strings.TrimSpace(c.Name) == "" {
		bad("Name", c.Name, "a name is required")
	} else if len(c.Name) > maxNameLength {
		bad("Name", c.Name, "at most %d characters", maxNameLength)
	} else if strings.ContainsFunc(c.Name, func(r rune) bool { return r < 0x20 || r == 0x7f }) {
		bad("Name", c.Name, "control characters are not allowed")
	}

	if len(c.AddressSpaces) == 0 {
		bad("AddressSpaces", "", "at least one address space is required, e.g. * for all domains")
	}
	seen := map[string]bool{}
	for _, a := range c.AddressSpaces {
		if _, err := ParseAddressSpace(a.short()); err != nil {
			bad("AddressSpaces", c.AddressSpaces, "%v", err)
			continue
		}
		if seen[a.Domain] {
			bad("AddressSpaces", c.AddressSpaces, "%s is listed twice", a.Domain)
		}
		seen[a.Domain] = true
	}

	for _, h := range c.SmartHosts {
		if _, err := h.MarshalText(); err != nil {
			bad("SmartHosts", c.SmartHosts, "%v", err)
		}
	}
	switch {
	case c.DNSRoutingEnabled && len(c.SmartHosts) > 0:
		bad("SmartHosts", c.SmartHosts, "smart hosts require -DNSRoutingEnabled $false")
	case !c.DNSRoutingEnabled && len(c.SmartHosts) == 0:
		bad("DNSRoutingEnabled", "False", "without DNS routing at least one smart host is required (-SmartHosts)")
	}
	if c.Port < 1 || c.Port > 65535 {
		bad("Port", c.Port, "must be from 1 to 65535")
	}

	switch m := c.AuthMechanism(); m {
	case AuthNone:
	case AuthBasic, AuthBasicRequireTLS:
		// With DNS routing the mechanism is kept for when smart hosts are
		// set (Microsoft's New-SendConnector example 2 gives it first):
		// AuthenticatesTo never sends the credential to an MX host.
		if c.AuthenticationCredential.UserName == "" || c.AuthenticationCredential.Password == "" {
			bad("AuthenticationCredential", c.AuthenticationCredential.Display(), "%s needs a user name and a password", m)
		}
		if m == AuthBasicRequireTLS && c.IgnoreSTARTTLS {
			bad("SmartHostAuthMechanism", m, "BasicAuthRequireTLS needs TLS; it conflicts with -IgnoreSTARTTLS $true")
		}
	case AuthOAuth:
		c.validateOAuth(bad)
	default:
		if strings.EqualFold(m, authExchangeServer) || strings.EqualFold(m, authExternalAuthorative) {
			bad("SmartHostAuthMechanism", m, "is not supported by transportd: use None, BasicAuth, BasicAuthRequireTLS or OAuth")
		} else {
			bad("SmartHostAuthMechanism", m, "use None, BasicAuth, BasicAuthRequireTLS or OAuth")
		}
	}

	if c.RequireTLS && c.IgnoreSTARTTLS {
		bad("IgnoreSTARTTLS", "True", "conflicts with -RequireTLS $true")
	}
	switch lvl := c.TLSAuthLevel(); lvl {
	case TLSEncryptionOnly:
	case TLSCertificateValidation, TLSDomainValidation:
		if c.IgnoreSTARTTLS {
			bad("TlsAuthLevel", lvl, "conflicts with -IgnoreSTARTTLS $true")
		}
		if !c.RequireTLS {
			// Checking a certificate only to fall back to clear text when
			// the host offers no STARTTLS would protect nothing.
			bad("TlsAuthLevel", lvl, "needs -RequireTLS $true")
		}
		if lvl == TLSDomainValidation && strings.TrimSpace(c.TlsDomain) == "" && c.DNSRoutingEnabled {
			bad("TlsDomain", "", "DomainValidation with DNS routing needs -TlsDomain (the name the certificates must cover)")
		}
	default:
		bad("TlsAuthLevel", lvl, "use EncryptionOnly, CertificateValidation or DomainValidation")
	}
	if n := strings.TrimSpace(c.TlsCertificateName); n != "" {
		if _, err := certs.ParseCertificateName(n); err != nil {
			bad("TlsCertificateName", c.TlsCertificateName, "%v", err)
		}
		if c.IgnoreSTARTTLS {
			bad("TlsCertificateName", c.TlsCertificateName, "a client certificate needs TLS; it conflicts with -IgnoreSTARTTLS $true")
		}
	}
	if d := strings.TrimSpace(c.TlsDomain); d != "" {
		if err := checkHostname(strings.TrimPrefix(normalizeDomain(d), "*.")); err != nil {
			bad("TlsDomain", c.TlsDomain, "%v", err)
		}
	}
	if c.Fqdn != "" {
		if err := checkHostname(normalizeDomain(c.Fqdn)); err != nil {
			bad("Fqdn", c.Fqdn, "%v", err)
		}
	}
	if c.MaxMessageSize < 0 {
		bad("MaxMessageSize", c.MaxMessageSize, "must not be negative")
	}
	if c.ConnectionInactivityTimeout <= 0 {
		bad("ConnectionInactivityTimeout", c.ConnectionInactivityTimeout, "must be longer than 00:00:00")
	}
	c.validateExtra(bad)
	return errors.Join(errs...)
}

// ValidateSet checks every connector and that names are unique (ignoring case).
func ValidateSet(cs []SendConnector) error {
	var errs []error
	byName := map[string]string{}
	for i := range cs {
		if err := cs[i].Validate(); err != nil {
			errs = append(errs, err)
		}
		key := strings.ToLower(strings.TrimSpace(cs[i].Name))
		if prev, dup := byName[key]; dup {
			errs = append(errs, fmt.Errorf("send connectors %q and %q: names must be unique", prev, cs[i].Name))
			continue
		}
		byName[key] = cs[i].Name
	}
	return errors.Join(errs...)
}
