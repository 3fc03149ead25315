// Package connector holds the receive connector model: the parameters of an
// Exchange receive connector, Exchange's defaults for each usage type, the
// rules that make a set of connectors valid, and the choice of connector for
// an incoming connection. The SMTP session that serves a connection lives in
// connector/smtpd.
package connector

import (
	"context"
	"fmt"
	"net/netip"
	"strings"
	"time"

	"github.com/transportd/transportd/certs"
	"github.com/transportd/transportd/policies/iprange"
	"github.com/transportd/transportd/policies/permissions"
	"github.com/transportd/transportd/policies/value"
)

// RecipientAcceptedReply is the reply a receive connector sends on the
// wire to every recipient it accepts (Exchange's text); message tracking
// records the same text as the recipient's status in a RECEIVE event.
const RecipientAcceptedReply = "250 2.1.5 Recipient OK"

// ReceiveConnector is one receive connector, with Exchange's parameter names
// (New-ReceiveConnector / Set-ReceiveConnector). Field order is the order in
// which the config file and `connector get` show them.
type ReceiveConnector struct {
	// Name is unique among receive connectors, at most 64 characters.
	Name string `yaml:"Name"`
	// Enabled turns the connector on or off without removing it.
	Enabled bool `yaml:"Enabled"`
	// TransportRole is FrontendTransport or HubTransport (informational here).
	TransportRole string `yaml:"TransportRole"`
	// Bindings are the local IP:port pairs; 0.0.0.0 is every IPv4 address and [::] every IPv6 one.
	Bindings []netip.AddrPort `yaml:"Bindings,flow"`
	// RemoteIPRanges are the remote addresses this connector serves (single IP, CIDR or a-b).
	RemoteIPRanges iprange.List `yaml:"RemoteIPRanges,flow"`
	// Fqdn is the name in the 220 greeting, the EHLO reply and our Received
	// header, and the name the STARTTLS certificate must cover. Left out of
	// the config file, it is the server's Fqdn (Server.Fqdn) and follows it.
	Fqdn string `yaml:"Fqdn,omitempty"`
	// Banner replaces the 220 greeting text when set (it must start with "220 ").
	Banner string `yaml:"Banner"`
	// AuthMechanism lists what is offered: Tls (STARTTLS), BasicAuth, BasicAuthRequireTLS, ...
	AuthMechanism permissions.Mechanisms `yaml:"AuthMechanism"`
	// PermissionGroups lists who may use the connector.
	PermissionGroups permissions.Groups `yaml:"PermissionGroups"`
	// AnonymousRelay grants Ms-Exch-SMTP-Accept-Any-Recipient to anonymous
	// senders (NT AUTHORITY\ANONYMOUS LOGON): the IIS relay restriction
	// "allow these computers". Scope such a connector with RemoteIPRanges.
	AnonymousRelay bool `yaml:"AnonymousRelay"`
	// RequireTLS refuses MAIL until STARTTLS has been negotiated.
	RequireTLS bool `yaml:"RequireTLS"`
	// TlsCertificateName is "<I>issuer<S>subject" or a thumbprint; empty picks
	// the valid SMTP certificate that covers Fqdn.
	TlsCertificateName string `yaml:"TlsCertificateName"`
	// AllowLegacyTLSClients (Exchange Online's name) lets clients that only
	// speak TLS 1.0 or 1.1, or only CBC cipher suites, use STARTTLS: for old
	// printers and devices. Off by default (TLS 1.2+ with AEAD suites only);
	// refused at set time on a connector open to the whole Internet unless
	// -Force is given, and logged as a warning at every start and reload.
	AllowLegacyTLSClients bool `yaml:"AllowLegacyTLSClients"`
	// MaxMessageSize is advertised with SIZE and enforced at MAIL and at end of data.
	MaxMessageSize value.ByteSize `yaml:"MaxMessageSize"`
	// MaxHeaderSize caps the header section of a message.
	MaxHeaderSize value.ByteSize `yaml:"MaxHeaderSize"`
	// MaxRecipientsPerMessage caps RCPT commands per message (452 4.5.3 beyond).
	MaxRecipientsPerMessage int `yaml:"MaxRecipientsPerMessage"`
	// MaxInboundConnection caps concurrent connections to this connector.
	MaxInboundConnection value.Unlimited `yaml:"MaxInboundConnection"`
	// MaxInboundConnectionPerSource caps concurrent connections from one remote IP.
	MaxInboundConnectionPerSource value.Unlimited `yaml:"MaxInboundConnectionPerSource"`
	// ConnectionTimeout is the longest a session may last.
	ConnectionTimeout value.TimeSpan `yaml:"ConnectionTimeout"`
	// ConnectionInactivityTimeout is the longest a client may stay silent.
	ConnectionInactivityTimeout value.TimeSpan `yaml:"ConnectionInactivityTimeout"`
	// MaxLogonFailures is how many wrong passwords close the session (0 to 10).
	MaxLogonFailures int `yaml:"MaxLogonFailures"`
	// TarpitInterval delays refusals (relay denied, unknown user) to slow down harvesting.
	TarpitInterval value.TimeSpan `yaml:"TarpitInterval"`
	// AuthTarpitInterval delays each failed AUTH reply.
	AuthTarpitInterval value.TimeSpan `yaml:"AuthTarpitInterval"`
	// MaxHopCount refuses a message with more Received headers than this (loop protection).
	MaxHopCount int `yaml:"MaxHopCount"`
	// MessageRateLimit caps messages per minute per MessageRateSource; Unlimited by default.
	MessageRateLimit value.Unlimited `yaml:"MessageRateLimit"`
	// MessageRateSource is None, User, IPAddress or All.
	MessageRateSource string `yaml:"MessageRateSource"`
	// ProtocolLoggingLevel is None or Verbose.
	ProtocolLoggingLevel string `yaml:"ProtocolLoggingLevel"`
	// AdvertiseClientSettings shows this connector's settings to POP3/IMAP users.
	AdvertiseClientSettings bool `yaml:"AdvertiseClientSettings"`
	// Comment is free text for the admin.
	Comment string `yaml:"Comment"`

	// ---- issue 13: inbound message authentication ----

	// SenderAuthenticationEnabled checks SPF (RFC 7208), DKIM (RFC 6376)
	// and DMARC (RFC 7489) of mail from anonymous senders and records the
	// results in one Authentication-Results header (RFC 8601) and in
	// message tracking. On by default for the Internet usage (the Default
	// Frontend), off for client, relay and partner connectors.
	SenderAuthenticationEnabled bool `yaml:"SenderAuthenticationEnabled"`
	// HonorDmarcPolicy (Exchange Online's name) acts on the policy of a
	// domain whose DMARC check fails: p=reject is refused at end of data
	// with 550 5.7.1, p=quarantine is delivered marked X-Spam-Flag: YES.
	// Only with SenderAuthenticationEnabled.
	HonorDmarcPolicy bool `yaml:"HonorDmarcPolicy"`
}

// Usage is the -Usage (Exchange 2010) or usage switch of New-ReceiveConnector.
type Usage string

// The usage types New-ReceiveConnector knows.
const (
	UsageClient   Usage = "Client"
	UsageInternal Usage = "Internal"
	UsageInternet Usage = "Internet"
	UsagePartner  Usage = "Partner"
	UsageCustom   Usage = "Custom"
)

// ParseUsage reads a usage name, case-insensitively.
func ParseUsage(s string) (Usage, error) {
	for _, u := range []Usage{UsageClient, UsageInternal, UsageInternet, UsagePartner, UsageCustom} {
		if strings.EqualFold(string(u), strings.TrimSpace(s)) {
			return u, nil
		}
	}
	return "", fmt.Errorf("usage %q is not known: use Client, Internal, Internet, Partner or Custom", s)
}

// HostFQDN returns this machine's fully qualified host name, resolved as
// "hostname -f" does (see HostLookup.FQDN), used for connector names and
// Fqdn. It may have no dot when the host has no domain configured.
func HostFQDN() string {
	ctx, cancel := context.WithTimeout(context.Background(), 3*time.Second)
	defer cancel()
	return SystemHostLookup().FQDN(ctx)
}

// ShortHostName is the first label of a host name ("MAIL" for mail.contoso.com), as Exchange names connectors.
func ShortHostName(fqdn string) string {
	short, _, _ := strings.Cut(fqdn, ".")
	return strings.ToUpper(short)
}

func allBindings(port uint16) []netip.AddrPort {
	return []netip.AddrPort{
		netip.AddrPortFrom(netip.IPv4Unspecified(), port),
		netip.AddrPortFrom(netip.IPv6Unspecified(), port),
	}
}

// New returns a connector with Exchange's defaults for usage. fqdn is the server FQDN.
func New(name string, usage Usage, fqdn string) ReceiveConnector {
	c := ReceiveConnector{
		Name:                          name,
		Enabled:                       true,
		TransportRole:                 "FrontendTransport",
		RemoteIPRanges:                iprange.All(),
		Fqdn:                          fqdn,
		MaxMessageSize:                36 * value.MB,
		MaxHeaderSize:                 256 * value.KB,
		MaxRecipientsPerMessage:       200,
		MaxInboundConnection:          5000,
		MaxInboundConnectionPerSource: 20,
		ConnectionTimeout:             value.TimeSpan(10 * time.Minute),
		ConnectionInactivityTimeout:   value.TimeSpan(5 * time.Minute),
		MaxLogonFailures:              3,
		TarpitInterval:                value.TimeSpan(5 * time.Second),
		AuthTarpitInterval:            value.TimeSpan(5 * time.Second),
		MaxHopCount:                   30,
		MessageRateLimit:              0, // Unlimited
		MessageRateSource:             "IPAddress",
		ProtocolLoggingLevel:          "None",
	}
	switch usage {
	case UsageClient:
		c.Bindings = allBindings(587)
		c.AuthMechanism = permissions.Mechanisms{permissions.MechTLS, permissions.MechBasicAuth, permissions.MechBasicAuthRequireTLS}
		c.PermissionGroups = permissions.Groups{permissions.GroupExchangeUsers}
		c.MessageRateSource = "User"
	case UsageInternal:
		c.Bindings = allBindings(25)
		c.AuthMechanism = permissions.Mechanisms{permissions.MechTLS}
		c.PermissionGroups = permissions.Groups{permissions.GroupExchangeServers, permissions.GroupExchangeLegacyServers}
	case UsageInternet:
		c.Bindings = allBindings(25)
		c.AuthMechanism = permissions.Mechanisms{permissions.MechTLS}
		c.PermissionGroups = permissions.Groups{permissions.GroupAnonymousUsers}
		c.SenderAuthenticationEnabled, c.HonorDmarcPolicy = true, true // issue 13
	case UsagePartner:
		c.Bindings = allBindings(25)
		c.AuthMechanism = permissions.Mechanisms{permissions.MechTLS}
		c.PermissionGroups = permissions.Groups{permissions.GroupPartners}
	default: // Custom: accepts nothing until PermissionGroups is set
		c.Bindings = allBindings(25)
		c.AuthMechanism = permissions.Mechanisms{permissions.MechTLS}
		c.PermissionGroups = permissions.Groups{permissions.GroupNone}
	}
	return c
}

// Defaults returns the connectors Exchange setup creates on a front-end
// server, named after the host: "Default Frontend <HOST>" on port 25 for
// mail from the Internet (anonymous senders reach accepted domains only) and
// "Client Frontend <HOST>" on port 587 for authenticated POP3/IMAP clients.
//
// We differ from Exchange on purpose in two places: the Default Frontend
// does not offer AUTH (users submit on 587; port 25 stays free of password
// guessing), and neither connector limits MessageRateLimit, so applications
// relaying alerts are not throttled by surprise.
func Defaults(fqdn string) []ReceiveConnector {
	host := ShortHostName(fqdn)
	def := New("Default Frontend "+host, UsageInternet, fqdn)
	def.PermissionGroups = permissions.Groups{permissions.GroupAnonymousUsers, permissions.GroupExchangeServers, permissions.GroupExchangeLegacyServers}
	def.ProtocolLoggingLevel = "Verbose"
	client := New("Client Frontend "+host, UsageClient, fqdn)
	return []ReceiveConnector{def, client}
}

// OpenToInternet reports whether RemoteIPRanges covers every IPv4 address
// (0.0.0.0/0) or every IPv6 address (::/0).
func (c *ReceiveConnector) OpenToInternet() bool {
	for _, all := range iprange.All() {
		for _, r := range c.RemoteIPRanges {
			if r.ContainsRange(all) {
				return true
			}
		}
	}
	return false
}

// LegacyTLSWarning is the warning for a connector with AllowLegacyTLSClients,
// or "" when it has none: for the log at start and reload.
func (c *ReceiveConnector) LegacyTLSWarning() string {
	if !c.AllowLegacyTLSClients {
		return ""
	}
	w := "AllowLegacyTLSClients is on: this connector accepts TLS 1.0 and 1.1 and CBC cipher suites (for old devices)"
	if c.OpenToInternet() {
		w += ", and its RemoteIPRanges include the whole Internet; scope it with RemoteIPRanges to the devices that need it"
	}
	return w
}

// CertificateSelector is what TLSStatus needs from the certificate store.
type CertificateSelector interface {
	Select(tlsCertificateName, fqdn string, now time.Time) (*certs.Certificate, certs.Problem)
}

// TLSStatus says which certificate the connector serves for STARTTLS and
// what is wrong with it, in words for `connector get` and the start-up log.
// ok is false when the admin must act (STARTTLS missing or a bad certificate).
func (c *ReceiveConnector) TLSStatus(store CertificateSelector, now time.Time) (status string, ok bool) {
	if !c.AuthMechanism.Has(permissions.MechTLS) {
		return "STARTTLS not offered (AuthMechanism has no Tls)", true
	}
	cert, problem := store.Select(c.TlsCertificateName, c.Fqdn, now)
	switch {
	case cert == nil:
		status := fmt.Sprintf("STARTTLS NOT OFFERED: %s", problem)
		if c.AuthMechanism.Has(permissions.MechBasicAuthRequireTLS) {
			// RFC 4954 section 4: AUTH PLAIN/LOGIN only after TLS.
			status += "; AUTH is not offered either (BasicAuthRequireTLS), so no client can log on and submit mail here"
		}
		return status, false
	case problem != "":
		return fmt.Sprintf("serving %s (%s) WITH PROBLEMS: %s", cert.Thumbprint, cert.Subject, problem), false
	}
	self := ""
	if cert.IsSelfSigned {
		self = ", self-signed"
	}
	return fmt.Sprintf("serving %s (%s%s, valid until %s)", cert.Thumbprint, cert.Subject, self, cert.NotAfter.Format("2006-01-02")), true
}
