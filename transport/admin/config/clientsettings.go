package config

import (
	"errors"
	"fmt"
	"net/netip"
	"strings"

	"github.com/transportd/transportd/connector"
)

// Encryption is how a mail client secures a connection, with the values of
// Exchange's Set-ImapSettings/Set-PopSettings: SSL (TLS from the first
// byte, ports 993 and 995), TLS (STARTTLS on the plain port) or None.
type Encryption string

// The encryption settings Exchange knows.
const (
	EncryptionSSL  Encryption = "SSL"
	EncryptionTLS  Encryption = "TLS"
	EncryptionNone Encryption = "None"
)

// ParseEncryption reads SSL, TLS or None in any case.
func ParseEncryption(s string) (Encryption, error) {
	for _, e := range []Encryption{EncryptionSSL, EncryptionTLS, EncryptionNone} {
		if strings.EqualFold(strings.TrimSpace(s), string(e)) {
			return e, nil
		}
	}
	return "", fmt.Errorf("%q is not an encryption setting: use SSL, TLS (STARTTLS) or None", s)
}

// UnmarshalText implements encoding.TextUnmarshaler, normalising the case.
func (e *Encryption) UnmarshalText(b []byte) error {
	v, err := ParseEncryption(string(b))
	if err != nil {
		return err
	}
	*e = v
	return nil
}

// MarshalText implements encoding.TextMarshaler.
func (e Encryption) MarshalText() ([]byte, error) { return []byte(e), nil }

// ClientSettings is what transportd tells POP3/IMAP users about their mail
// servers when a receive connector has AdvertiseClientSettings $true: the
// SMTP part comes from that connector, the IMAP and POP3 parts from here
// (transportd does not serve IMAP or POP3; Dovecot or another server does).
// Names follow Exchange's Get-ImapSettings/Get-PopSettings.
type ClientSettings struct {
	// HttpBindings are the local IP:port pairs of the HTTP endpoint that
	// serves Thunderbird autoconfig, Outlook autodiscover and the Apple
	// profile; loopback by default (put a reverse proxy with HTTPS in
	// front for clients). Empty turns the endpoint off.
	HttpBindings []netip.AddrPort `yaml:"HttpBindings,flow"`
	// HttpsBindings serve the same documents over HTTPS (Outlook's
	// autodiscover insists on it) with the certificate of the advertising
	// receive connector, e.g. [0.0.0.0:443]. Empty by default.
	HttpsBindings []netip.AddrPort `yaml:"HttpsBindings,flow"`
	// ImapServer is the IMAP host name clients use; empty: IMAP is not advertised.
	ImapServer string `yaml:"ImapServer"`
	// ImapPort is the IMAP port (993).
	ImapPort int `yaml:"ImapPort"`
	// ImapEncryption is SSL, TLS (STARTTLS) or None (SSL).
	ImapEncryption Encryption `yaml:"ImapEncryption"`
	// PopServer is the POP3 host name clients use; empty: POP3 is not advertised.
	PopServer string `yaml:"PopServer"`
	// PopPort is the POP3 port (995).
	PopPort int `yaml:"PopPort"`
	// PopEncryption is SSL, TLS (STARTTLS) or None (SSL).
	PopEncryption Encryption `yaml:"PopEncryption"`
	// DisplayName names the mail service in clients ("Contoso Mail");
	// empty: the DomainName.
	DisplayName string `yaml:"DisplayName"`
	// DomainName is the mail domain the settings are for; empty: the
	// default accepted domain.
	DomainName string `yaml:"DomainName"`

	// Imap holds Set-ImapSettings' parameters; its first
	// ExternalConnectionSettings entry, when there is one, is the IMAP
	// server advertised instead of ImapServer/ImapPort/ImapEncryption.
	Imap ProtocolSettings `yaml:"Imap,omitempty"`
	// Pop holds Set-PopSettings' parameters, as Imap does for IMAP.
	Pop ProtocolSettings `yaml:"Pop,omitempty"`
}

// DefaultHTTPBinding is where the client settings endpoint listens unless
// the config says otherwise: loopback only.
var DefaultHTTPBinding = netip.MustParseAddrPort("127.0.0.1:8080")

// DefaultClientSettings returns the settings a new install starts with.
func DefaultClientSettings() ClientSettings {
	return ClientSettings{
		HttpBindings:   []netip.AddrPort{DefaultHTTPBinding},
		ImapPort:       993,
		ImapEncryption: EncryptionSSL,
		PopPort:        995,
		PopEncryption:  EncryptionSSL,
	}
}

// Effective returns the settings with Exchange's defaults in place of
// zero values: ports 993 and 995, SSL.
//
// The first ExternalConnectionSettings entry of Imap (Pop), when there is
// one, takes the place of ImapServer, ImapPort and ImapEncryption (PopServer,
// ...); without one, those make the one ExternalConnectionSettings entry.
func (s ClientSettings) Effective() ClientSettings {
	s.Imap.ExternalConnectionSettings = effectiveExternal(s.Imap.ExternalConnectionSettings, &s.ImapServer, &s.ImapPort, &s.ImapEncryption, 993)
	s.Pop.ExternalConnectionSettings = effectiveExternal(s.Pop.ExternalConnectionSettings, &s.PopServer, &s.PopPort, &s.PopEncryption, 995)
	if s.ImapPort == 0 {
		s.ImapPort = 993
	}
	if s.ImapEncryption == "" {
		s.ImapEncryption = EncryptionSSL
	}
	if s.PopPort == 0 {
		s.PopPort = 995
	}
	if s.PopEncryption == "" {
		s.PopEncryption = EncryptionSSL
	}
	return s
}

// effectiveExternal reconciles a protocol's ExternalConnectionSettings
// with its ImapServer-style fields: the list wins when it is not empty.
func effectiveExternal(list []ConnectionSetting, server *string, port *int, enc *Encryption, defPort int) []ConnectionSetting {
	if len(list) > 0 {
		*server, *port, *enc = list[0].Host, list[0].Port, list[0].Encryption
		if *enc == "" {
			*enc = EncryptionNone
		}
		return list
	}
	if *server == "" {
		return nil
	}
	p, e := *port, *enc
	if p == 0 {
		p = defPort
	}
	if e == "" {
		e = EncryptionSSL
	}
	return []ConnectionSetting{{Host: *server, Port: p, Encryption: e}}
}

// Validate checks the client settings; errors name the key and the value.
func (s *ClientSettings) Validate() error {
	var errs []error
	bad := func(key string, f string, a ...any) {
		errs = append(errs, fmt.Errorf("ClientSettings.%s: %s", key, fmt.Sprintf(f, a...)))
	}
	seen := map[netip.AddrPort]bool{}
	for _, set := range []struct {
		key string
		bs  []netip.AddrPort
	}{{"HttpBindings", s.HttpBindings}, {"HttpsBindings", s.HttpsBindings}} {
		for _, b := range set.bs {
			switch {
			case !b.IsValid():
				bad(set.key, "%q is not an IP:port", b.String())
			case b.Port() == 0:
				bad(set.key, "%q has no port", b.String())
			case seen[b]:
				bad(set.key, "%q is listed twice", b.String())
			}
			seen[b] = true
		}
	}
	for _, srv := range []struct {
		key, name string
		port      int
		enc       Encryption
	}{{"Imap", s.ImapServer, s.ImapPort, s.ImapEncryption}, {"Pop", s.PopServer, s.PopPort, s.PopEncryption}} {
		if srv.name != "" {
			if err := connector.ValidateFQDN(srv.name); err != nil {
				bad(srv.key+"Server", "%v", err)
			}
		}
		if srv.port < 0 || srv.port > 65535 { // 0: the default port
			bad(srv.key+"Port", "%d is outside 1 to 65535", srv.port)
		}
		if srv.enc != "" { // empty: SSL
			if _, err := ParseEncryption(string(srv.enc)); err != nil {
				bad(srv.key+"Encryption", "%v", err)
			}
		}
	}
	if s.DomainName != "" {
		if err := connector.ValidateFQDN(s.DomainName); err != nil {
			bad("DomainName", "%v", err)
		}
	}
	for _, p := range []struct {
		key, server string
		ps          *ProtocolSettings
	}{{"Imap", s.ImapServer, &s.Imap}, {"Pop", s.PopServer, &s.Pop}} {
		if err := p.ps.Validate(p.key); err != nil {
			errs = append(errs, err)
		}
		if p.server != "" && len(p.ps.ExternalConnectionSettings) > 0 {
			bad(p.key+"Server", "%q and %s.ExternalConnectionSettings both name the server clients are told about: keep one (Set-%sSettings -ExternalConnectionSettings clears %sServer)", p.server, p.key, p.key, p.key)
		}
	}
	if len(s.DisplayName) > 256 {
		bad("DisplayName", "%q is longer than 256 characters", s.DisplayName)
	}
	return errors.Join(errs...)
}

// ClientDomain is the mail domain client settings are for: ClientSettings.DomainName,
// else the default accepted domain, else the server FQDN without its first label.
func (c *Config) ClientDomain() string {
	if d := c.ClientSettings.DomainName; d != "" {
		return strings.ToLower(d)
	}
	for _, d := range c.AcceptedDomains {
		if d.Default && !strings.HasPrefix(d.DomainName, "*") {
			return strings.ToLower(d.DomainName)
		}
	}
	if _, dom, ok := strings.Cut(c.Server.Fqdn, "."); ok && dom != "" {
		return strings.ToLower(dom)
	}
	return strings.ToLower(c.Server.Fqdn)
}
