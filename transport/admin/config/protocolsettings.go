package config

import (
	"errors"
	"fmt"
	"net/netip"
	"strconv"
	"strings"

	"github.com/transportd/transportd/connector"
	"github.com/transportd/transportd/policies/value"
)

// ConnectionSetting is one entry of Exchange's ExternalConnectionSettings or
// InternalConnectionSettings of Set-ImapSettings/Set-PopSettings:
// "HostName:Port:[TLS|SSL]", where no encryption means an unencrypted
// connection.
type ConnectionSetting struct {
	Host       string
	Port       int
	Encryption Encryption
}

// ParseConnectionSetting reads "mail.contoso.com:993:SSL",
// "mail.contoso.com:143:TLS" or "mail.contoso.com:110" (unencrypted).
func ParseConnectionSetting(s string) (ConnectionSetting, error) {
	parts := strings.Split(strings.TrimSpace(s), ":")
	if len(parts) < 2 || len(parts) > 3 {
		return ConnectionSetting{}, fmt.Errorf("%q is not HostName:Port:[TLS|SSL], e.g. mail.contoso.com:993:SSL", s)
	}
	cs := ConnectionSetting{Host: strings.ToLower(parts[0]), Encryption: EncryptionNone}
	if err := connector.ValidateFQDN(cs.Host); err != nil {
		if _, ipErr := netip.ParseAddr(cs.Host); ipErr != nil {
			return ConnectionSetting{}, fmt.Errorf("%q: %w", s, err)
		}
	}
	p, err := strconv.Atoi(parts[1])
	if err != nil || p < 1 || p > 65535 {
		return ConnectionSetting{}, fmt.Errorf("%q: port %q is not a number from 1 to 65535", s, parts[1])
	}
	cs.Port = p
	if len(parts) == 3 && parts[2] != "" {
		e, err := ParseEncryption(parts[2])
		if err != nil {
			return ConnectionSetting{}, fmt.Errorf("%q: %w", s, err)
		}
		cs.Encryption = e
	}
	return cs, nil
}

// String is Exchange's form: host:port:SSL, host:port:TLS, or host:port.
func (c ConnectionSetting) String() string {
	s := c.Host + ":" + strconv.Itoa(c.Port)
	if c.Encryption != "" && c.Encryption != EncryptionNone {
		s += ":" + string(c.Encryption)
	}
	return s
}

// UnmarshalText implements encoding.TextUnmarshaler.
func (c *ConnectionSetting) UnmarshalText(b []byte) error {
	v, err := ParseConnectionSetting(string(b))
	if err != nil {
		return err
	}
	*c = v
	return nil
}

// MarshalText implements encoding.TextMarshaler.
func (c ConnectionSetting) MarshalText() ([]byte, error) { return []byte(c.String()), nil }

// LoginType is Exchange's LoginType of Set-ImapSettings/Set-PopSettings:
// how a client logs on to the POP3/IMAP server.
type LoginType string

// The login types Exchange knows.
const (
	// LoginPlainTextLogin: IMAP LOGIN / POP3 USER and PASS, also without TLS.
	LoginPlainTextLogin LoginType = "PlainTextLogin"
	// LoginPlainTextAuthentication: AUTHENTICATE PLAIN / AUTH PLAIN, also without TLS.
	LoginPlainTextAuthentication LoginType = "PlainTextAuthentication"
	// LoginSecureLogin: the password only inside TLS (Exchange's default).
	LoginSecureLogin LoginType = "SecureLogin"
)

// ParseLoginType reads a login type by name or by Exchange's number (1-3).
func ParseLoginType(s string) (LoginType, error) {
	t := strings.TrimSpace(s)
	for i, l := range []LoginType{LoginPlainTextLogin, LoginPlainTextAuthentication, LoginSecureLogin} {
		if strings.EqualFold(t, string(l)) || t == strconv.Itoa(i+1) {
			return l, nil
		}
	}
	return "", fmt.Errorf("%q is not a login type: use PlainTextLogin, PlainTextAuthentication or SecureLogin", s)
}

// UnmarshalText implements encoding.TextUnmarshaler.
func (l *LoginType) UnmarshalText(b []byte) error {
	v, err := ParseLoginType(string(b))
	if err != nil {
		return err
	}
	*l = v
	return nil
}

// MarshalText implements encoding.TextMarshaler.
func (l LoginType) MarshalText() ([]byte, error) { return []byte(l), nil }

// ProtocolSettings are the settings of Exchange's Set-ImapSettings and
// Set-PopSettings (ClientSettings.Imap and ClientSettings.Pop).
// transportd does not serve IMAP4 or POP3 itself (Dovecot or another
// server does), so only some of them act here:
//
//   - ExternalConnectionSettings: the first entry is the server clients are
//     told about (autoconfig, autodiscover, the Apple profile) in place of
//     ImapServer/ImapPort/ImapEncryption, and the one
//     Test-ImapConnectivity/Test-PopConnectivity log on to;
//   - InternalConnectionSettings: what the connectivity tests use when
//     there is no external setting;
//   - LoginType: how the connectivity tests log on (SecureLogin: only
//     inside TLS);
//   - X509CertificateName: the name the connectivity tests require the
//     served certificate to cover.
//
// The others are kept so that scripts can read back what they set, and a
// change of them is saved with a one-line warning that says they are the
// POP3/IMAP server's business.
type ProtocolSettings struct {
	ExternalConnectionSettings []ConnectionSetting `yaml:"ExternalConnectionSettings,omitempty,flow"`
	InternalConnectionSettings []ConnectionSetting `yaml:"InternalConnectionSettings,omitempty,flow"`
	X509CertificateName        string              `yaml:"X509CertificateName,omitempty"`
	LoginType                  LoginType           `yaml:"LoginType,omitempty"`

	// Kept for scripts; the POP3/IMAP server's own settings.
	SSLBindings                       []netip.AddrPort `yaml:"SSLBindings,omitempty,flow"`
	UnencryptedOrTLSBindings          []netip.AddrPort `yaml:"UnencryptedOrTLSBindings,omitempty,flow"`
	ProtocolLogEnabled                bool             `yaml:"ProtocolLogEnabled,omitempty"`
	LogFileLocation                   string           `yaml:"LogFileLocation,omitempty"`
	LogFileRollOverSettings           string           `yaml:"LogFileRollOverSettings,omitempty"`
	LogPerFileSizeQuota               value.ByteSize   `yaml:"LogPerFileSizeQuota,omitempty"`
	Banner                            string           `yaml:"Banner,omitempty"`
	AuthenticatedConnectionTimeout    value.TimeSpan   `yaml:"AuthenticatedConnectionTimeout,omitempty"`
	PreAuthenticatedConnectionTimeout value.TimeSpan   `yaml:"PreAuthenticatedConnectionTimeout,omitempty"`
	MaxConnections                    int              `yaml:"MaxConnections,omitempty"`
	MaxConnectionFromSingleIP         int              `yaml:"MaxConnectionFromSingleIP,omitempty"`
	MaxConnectionsPerUser             int              `yaml:"MaxConnectionsPerUser,omitempty"`
	MaxCommandSize                    int              `yaml:"MaxCommandSize,omitempty"`
	CalendarItemRetrievalOption       string           `yaml:"CalendarItemRetrievalOption,omitempty"`
	EnableExactRFC822Size             bool             `yaml:"EnableExactRFC822Size,omitempty"`
	EnableGSSAPIAndNTLMAuth           bool             `yaml:"EnableGSSAPIAndNTLMAuth,omitempty"`
	EnforceCertificateErrors          bool             `yaml:"EnforceCertificateErrors,omitempty"`
	ExtendedProtectionPolicy          string           `yaml:"ExtendedProtectionPolicy,omitempty"`
	MessageRetrievalMimeFormat        string           `yaml:"MessageRetrievalMimeFormat,omitempty"`
	MessageRetrievalSortOrder         string           `yaml:"MessageRetrievalSortOrder,omitempty"`
	OwaServerUrl                      string           `yaml:"OwaServerUrl,omitempty"`
	ProxyTargetPort                   int              `yaml:"ProxyTargetPort,omitempty"`
	ShowHiddenFoldersEnabled          bool             `yaml:"ShowHiddenFoldersEnabled,omitempty"`
	SuppressReadReceipt               bool             `yaml:"SuppressReadReceipt,omitempty"`
}

// ActiveProtocolSettings are the ProtocolSettings that act in transportd;
// setting any other one is saved with a warning.
var ActiveProtocolSettings = []string{"ExternalConnectionSettings", "InternalConnectionSettings", "X509CertificateName", "LoginType"}

// Validate checks the settings of one protocol ("Imap" or "Pop").
func (p *ProtocolSettings) Validate(key string) error {
	var errs []error
	for _, b := range append(append([]netip.AddrPort(nil), p.SSLBindings...), p.UnencryptedOrTLSBindings...) {
		if !b.IsValid() || b.Port() == 0 {
			errs = append(errs, fmt.Errorf("ClientSettings.%s: binding %q is not IP:port", key, b.String()))
		}
	}
	for _, c := range append(append([]ConnectionSetting(nil), p.ExternalConnectionSettings...), p.InternalConnectionSettings...) {
		if c.Host == "" || c.Port < 1 || c.Port > 65535 {
			errs = append(errs, fmt.Errorf("ClientSettings.%s: connection setting %q is not HostName:Port:[TLS|SSL]", key, c.String()))
		}
	}
	if p.LoginType != "" {
		if _, err := ParseLoginType(string(p.LoginType)); err != nil {
			errs = append(errs, fmt.Errorf("ClientSettings.%s.LoginType: %w", key, err))
		}
	}
	return errors.Join(errs...)
}

// EffectiveLoginType is LoginType, or Exchange's default SecureLogin.
func (p *ProtocolSettings) EffectiveLoginType() LoginType {
	if p.LoginType == "" {
		return LoginSecureLogin
	}
	return p.LoginType
}

// Endpoints are the POP3 or IMAP servers to log on to, the external ones
// first, then the internal ones.
func (p *ProtocolSettings) Endpoints() []ConnectionSetting {
	return append(append([]ConnectionSetting(nil), p.ExternalConnectionSettings...), p.InternalConnectionSettings...)
}
