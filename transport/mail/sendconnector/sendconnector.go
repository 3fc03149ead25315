// Package sendconnector holds the send connector model: the parameters of
// an Exchange send connector (New-SendConnector / Set-SendConnector),
// Exchange's defaults, the rules that make a connector and a set of
// connectors valid, and the choice of connector for a recipient domain
// (Select). Delivery through a connector lives in transport/smtpout.
package sendconnector

import (
	"errors"
	"fmt"
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
	// SmartHostAuthMechanism is None, BasicAuth or BasicAuthRequireTLS.
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

	// TlsCertificateName names the certificate from the store presented as
	// the TLS client certificate ("<I>issuer<S>subject" or a thumbprint),
	// as Microsoft 365's certificate-based inbound connectors require;
	// empty presents none. It needs TLS (not IgnoreSTARTTLS).
	TlsCertificateName string `yaml:"TlsCertificateName,omitempty"`
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
	}
}

// AuthMechanism returns SmartHostAuthMechanism in its canonical spelling
// (None for ""), or the text unchanged when it is not known.
func (c *SendConnector) AuthMechanism() string {
	return canonical(c.SmartHostAuthMechanism, AuthNone, AuthNone, AuthBasic, AuthBasicRequireTLS)
}

// TLSAuthLevel returns TlsAuthLevel in its canonical spelling
// (EncryptionOnly for ""), or the text unchanged when it is not known.
func (c *SendConnector) TLSAuthLevel() string {
	return canonical(c.TlsAuthLevel, TLSEncryptionOnly, TLSEncryptionOnly, TLSCertificateValidation, TLSDomainValidation)
}

// UsesBasicAuth reports whether the connector authenticates to its smart hosts.
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
		if c.DNSRoutingEnabled {
			bad("SmartHostAuthMechanism", m, "authentication is for smart hosts; it requires -DNSRoutingEnabled $false")
		}
		if c.AuthenticationCredential.UserName == "" || c.AuthenticationCredential.Password == "" {
			bad("AuthenticationCredential", c.AuthenticationCredential.Display(), "%s needs a user name and a password", m)
		}
		if m == AuthBasicRequireTLS && c.IgnoreSTARTTLS {
			bad("SmartHostAuthMechanism", m, "BasicAuthRequireTLS needs TLS; it conflicts with -IgnoreSTARTTLS $true")
		}
	default:
		if strings.EqualFold(m, authExchangeServer) || strings.EqualFold(m, authExternalAuthorative) {
			bad("SmartHostAuthMechanism", m, "is not supported by transportd: use None, BasicAuth or BasicAuthRequireTLS")
		} else {
			bad("SmartHostAuthMechanism", m, "use None, BasicAuth or BasicAuthRequireTLS")
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
