// Package clientsettings tells POP3/IMAP mail clients how to submit mail
// through a receive connector that has AdvertiseClientSettings $true, as
// Exchange shows users their POP and IMAP settings: the connector's FQDN,
// port, STARTTLS and authentication, and the IMAP/POP3 servers from the
// ClientSettings section of the config.
//
// The same settings come in four forms: a Thunderbird autoconfig file
// (config-v1.1.xml), an Outlook autodiscover POX response, an Apple
// configuration profile (.mobileconfig) and lines for people (Fields).
// Handler serves the first three over HTTP, reading the live configuration
// on every request.
package clientsettings

import (
	"errors"
	"fmt"
	"strconv"

	"github.com/transportd/transportd/connector"
	"github.com/transportd/transportd/policies/permissions"
	"github.com/transportd/transportd/transport/admin/config"
)

// ErrNotAdvertised means no enabled receive connector has AdvertiseClientSettings $true.
var ErrNotAdvertised = errors.New("no enabled receive connector has AdvertiseClientSettings $true; " +
	"turn it on with: transportd connector set -identity \"Client Frontend*\" -advertiseclientsettings $true")

// ErrNoIncoming means neither ImapServer nor PopServer is configured, and
// the requested document cannot describe a mail account without one.
var ErrNoIncoming = errors.New("ClientSettings has neither ImapServer nor PopServer: mail clients need an incoming server " +
	"(set ClientSettings.ImapServer, e.g. to the Dovecot host)")

// Socket is how a client secures a connection, in Thunderbird's words.
type Socket string

// The socket types of Thunderbird's autoconfig format.
const (
	SocketSSL      Socket = "SSL"      // TLS from the first byte
	SocketSTARTTLS Socket = "STARTTLS" // STARTTLS on the plain port
	SocketPlain    Socket = "plain"    // no encryption
)

// Server is one server a client talks to.
type Server struct {
	// Protocol is smtp, imap or pop3.
	Protocol string
	// Host is the host name clients connect to.
	Host string
	// Port is the TCP port.
	Port int
	// Socket is the encryption.
	Socket Socket
	// Password is true when the client logs on with the e-mail address and
	// password (AUTH PLAIN/LOGIN: Thunderbird's password-cleartext).
	Password bool
}

// Settings is everything a client needs for one mail domain.
type Settings struct {
	// Connector is the receive connector the SMTP settings come from.
	Connector string
	// Advertised is the connector's AdvertiseClientSettings.
	Advertised bool
	// DomainName is the mail domain.
	DomainName string
	// DisplayName names the service in clients.
	DisplayName string
	// SMTP is the submission server: the connector.
	SMTP Server
	// IMAP is nil when ImapServer is not configured.
	IMAP *Server
	// POP is nil when PopServer is not configured.
	POP *Server
}

// Incoming returns the servers a client reads mail from, IMAP first.
func (s *Settings) Incoming() []Server {
	var out []Server
	if s.IMAP != nil {
		out = append(out, *s.IMAP)
	}
	if s.POP != nil {
		out = append(out, *s.POP)
	}
	return out
}

// Advertised returns the settings for the first enabled receive connector
// (in config order) that has AdvertiseClientSettings $true, or
// ErrNotAdvertised.
func Advertised(cfg *config.Config) (Settings, error) {
	for i := range cfg.ReceiveConnectors {
		rc := &cfg.ReceiveConnectors[i]
		if rc.Enabled && rc.AdvertiseClientSettings {
			return For(cfg, rc)
		}
	}
	return Settings{}, ErrNotAdvertised
}

// For returns the settings for submitting through rc, whether or not it
// advertises them.
func For(cfg *config.Config, rc *connector.ReceiveConnector) (Settings, error) {
	if len(rc.Bindings) == 0 {
		return Settings{}, fmt.Errorf("receive connector %q has no Bindings", rc.Name)
	}
	cs := cfg.ClientSettings.Effective()
	s := Settings{
		Connector:   rc.Name,
		Advertised:  rc.AdvertiseClientSettings,
		DomainName:  cfg.ClientDomain(),
		DisplayName: cs.DisplayName,
		SMTP: Server{
			Protocol: "smtp",
			Host:     rc.Fqdn,
			Port:     int(rc.Bindings[0].Port()),
			Socket:   SocketPlain,
			Password: rc.AuthMechanism.Has(permissions.MechBasicAuth) || rc.AuthMechanism.Has(permissions.MechBasicAuthRequireTLS),
		},
	}
	if s.DisplayName == "" {
		s.DisplayName = s.DomainName
	}
	if rc.AuthMechanism.Has(permissions.MechTLS) {
		s.SMTP.Socket = SocketSTARTTLS
	}
	if cs.ImapServer != "" {
		s.IMAP = &Server{Protocol: "imap", Host: cs.ImapServer, Port: cs.ImapPort, Socket: socketOf(cs.ImapEncryption), Password: true}
	}
	if cs.PopServer != "" {
		s.POP = &Server{Protocol: "pop3", Host: cs.PopServer, Port: cs.PopPort, Socket: socketOf(cs.PopEncryption), Password: true}
	}
	return s, nil
}

func socketOf(e config.Encryption) Socket {
	switch e {
	case config.EncryptionTLS:
		return SocketSTARTTLS
	case config.EncryptionNone:
		return SocketPlain
	default:
		return SocketSSL
	}
}

// Field is one line of the settings for people.
type Field struct {
	// Name labels the value.
	Name string
	// Value is the setting.
	Value string
}

// Fields lists the settings for people, as `connector get -clientsettings` prints them.
func (s *Settings) Fields() []Field {
	adv := "False (not served over HTTP; set -AdvertiseClientSettings $true)"
	if s.Advertised {
		adv = "True"
	}
	f := []Field{
		{"Connector", s.Connector},
		{"AdvertiseClientSettings", adv},
		{"DomainName", s.DomainName},
		{"SMTP server", s.SMTP.Host},
		{"SMTP port", strconv.Itoa(s.SMTP.Port)},
		{"SMTP encryption", describeSocket(s.SMTP.Socket)},
		{"SMTP authentication", describeAuth(s.SMTP.Password)},
	}
	for _, in := range []struct {
		name string
		srv  *Server
	}{{"IMAP", s.IMAP}, {"POP", s.POP}} {
		if in.srv == nil {
			f = append(f, Field{in.name + " server", "(not configured: ClientSettings." + map[string]string{"IMAP": "ImapServer", "POP": "PopServer"}[in.name] + ")"})
			continue
		}
		f = append(f,
			Field{in.name + " server", in.srv.Host},
			Field{in.name + " port", strconv.Itoa(in.srv.Port)},
			Field{in.name + " encryption", describeSocket(in.srv.Socket)},
			Field{in.name + " authentication", describeAuth(true)},
		)
	}
	return f
}

func describeSocket(s Socket) string {
	switch s {
	case SocketSTARTTLS:
		return "STARTTLS"
	case SocketSSL:
		return "SSL/TLS"
	default:
		return "None"
	}
}

func describeAuth(password bool) string {
	if password {
		return "Normal password (AUTH PLAIN or LOGIN); the user name is the e-mail address"
	}
	return "None (the connector offers no AUTH)"
}
