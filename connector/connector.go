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

	// ---- ESMTP protocol switches and the remaining Exchange parameters
	// (Set-ReceiveConnector); each says in its help what it does here.
	// Parameters marked inert are stored and shown but have no meaning on
	// Linux: setting them warns in one line (InertWarning).

	// ChunkingEnabled offers CHUNKING and takes BDAT (RFC 3030).
	ChunkingEnabled bool `yaml:"ChunkingEnabled" help:"$true offers CHUNKING in EHLO and takes BDAT (RFC 3030); default $true"`
	// BinaryMimeEnabled offers BINARYMIME (RFC 3030); it needs ChunkingEnabled.
	BinaryMimeEnabled bool `yaml:"BinaryMimeEnabled" help:"$true offers BINARYMIME (RFC 3030; only together with ChunkingEnabled): BODY=BINARYMIME messages come with BDAT and are stored unchanged, for local mailboxes; default $false (Exchange: $true), as relaying sends DATA, which cannot carry binary data"`
	// EightBitMimeEnabled offers 8BITMIME (RFC 6152) and takes BODY=8BITMIME.
	EightBitMimeEnabled bool `yaml:"EightBitMimeEnabled" help:"$true offers 8BITMIME (RFC 6152) and takes MAIL ... BODY=8BITMIME; default $true"`
	// SmtpUtf8Enabled offers SMTPUTF8 (RFC 6531): UTF-8 addresses with the
	// SMTPUTF8 MAIL parameter.
	SmtpUtf8Enabled bool `yaml:"SmtpUtf8Enabled" help:"$true offers SMTPUTF8 (RFC 6531): UTF-8 addresses are taken with MAIL ... SMTPUTF8 and relayed only to servers that offer it (5.6.7 and a DSN otherwise); default $false"`
	// PipeliningEnabled offers PIPELINING (RFC 2920); off, every reply leaves on its own.
	PipeliningEnabled bool `yaml:"PipeliningEnabled" help:"$true offers PIPELINING (RFC 2920); $false hides it and sends every reply on its own; default $true"`
	// SizeEnabled is Enabled (SIZE with MaxMessageSize), EnabledWithoutValue
	// (SIZE alone) or Disabled (no SIZE, and MAIL's SIZE= is refused).
	// MaxMessageSize applies at the end of the data in every mode.
	SizeEnabled string `yaml:"SizeEnabled" help:"Enabled (EHLO shows SIZE and MaxMessageSize), EnabledWithoutValue (SIZE without the limit) or Disabled (no SIZE; MaxMessageSize still applies to the data); default Enabled"`
	// EnhancedStatusCodesEnabled offers ENHANCEDSTATUSCODES (RFC 2034);
	// off, replies carry no x.y.z code.
	EnhancedStatusCodesEnabled bool `yaml:"EnhancedStatusCodesEnabled" help:"$true offers ENHANCEDSTATUSCODES (RFC 2034); $false hides it and replies carry no x.y.z code; default $true"`
	// DeliveryStatusNotificationEnabled offers DSN (RFC 3461): NOTIFY, RET, ENVID, ORCPT.
	DeliveryStatusNotificationEnabled bool `yaml:"DeliveryStatusNotificationEnabled" help:"$true offers DSN (RFC 3461) and takes NOTIFY, ORCPT, RET and ENVID; $false refuses them with 555; default $true"`
	// LongAddressesEnabled takes command lines up to 8000 octets; X.400
	// addresses (XLONGADDR) are not taken.
	LongAddressesEnabled bool `yaml:"LongAddressesEnabled" help:"$true takes command lines up to 8000 octets (else 4096); addresses stay within RFC 5321's 254 octets, so XLONGADDR is not offered; default $false"`
	// OrarEnabled is inert: X.400 alternate recipients (XORAR) do not exist here.
	OrarEnabled bool `yaml:"OrarEnabled" help:"inert on Linux (stored, shown, warned): XORAR carries X.400 alternate recipients, which transportd has no use for; default $false"`
	// BareLinefeedRejectionEnabled refuses message data with an LF not after a CR.
	BareLinefeedRejectionEnabled bool `yaml:"BareLinefeedRejectionEnabled" help:"$true refuses a message whose data holds a bare LF (550 5.6.0); $false turns bare LFs into CRLF; default $false"`
	// RequireEHLODomain refuses HELO/EHLO without a domain and closes the connection.
	RequireEHLODomain bool `yaml:"RequireEHLODomain" help:"$true: HELO/EHLO must give a domain name or address literal, else 501 and the connection closes; default $false"`
	// MaxProtocolErrors is how many bad commands close the session.
	MaxProtocolErrors value.Unlimited `yaml:"MaxProtocolErrors" help:"bad commands answered before the session is closed; Unlimited never closes; default 5"`
	// MaxInboundConnectionPercentagePerSource caps the connections of one
	// source at this share of the connections still free.
	MaxInboundConnectionPercentagePerSource int `yaml:"MaxInboundConnectionPercentagePerSource" help:"1 to 100: one remote address may hold at most this percentage of the connections other addresses leave free under MaxInboundConnection (421 4.3.2 beyond); default 2"`
	// MaxLocalHopCount refuses a message that passed this server more often (0: never).
	MaxLocalHopCount int `yaml:"MaxLocalHopCount" help:"0 to 50: a message with more Received headers written by this server (by <Fqdn>) is refused as a loop (554 5.4.6); 0 never refuses; default 8"`
	// MaxAcknowledgementDelay is inert: transportd acknowledges a message
	// once it is on disk, without shadow redundancy.
	MaxAcknowledgementDelay value.TimeSpan `yaml:"MaxAcknowledgementDelay" help:"inert on Linux (stored, shown, warned): Exchange 2010 delayed the 250 for shadow redundancy; transportd answers 250 once the message is on disk; default 00:00:30"`
	// DefaultDomain qualifies a recipient without a domain (RCPT TO:<user>).
	DefaultDomain string `yaml:"DefaultDomain" help:"an accepted domain: RCPT TO:<user> without a domain becomes user@<DefaultDomain>; empty: such recipients are refused (501 5.1.3)"`
	// RejectReservedTopLevelRecipientDomains refuses .test, .example, .invalid, .localhost (RFC 2606).
	RejectReservedTopLevelRecipientDomains bool `yaml:"RejectReservedTopLevelRecipientDomains" help:"$true refuses recipients in .test, .example, .invalid and .localhost (RFC 2606) with 550 5.1.2; default $false"`
	// RejectReservedSecondLevelRecipientDomains refuses example.com/.net/.org (RFC 2606).
	RejectReservedSecondLevelRecipientDomains bool `yaml:"RejectReservedSecondLevelRecipientDomains" help:"$true refuses recipients in example.com, example.net and example.org (RFC 2606) with 550 5.1.2; default $false"`
	// RejectSingleLabelRecipientDomains refuses recipients like chris@contoso.
	RejectSingleLabelRecipientDomains bool `yaml:"RejectSingleLabelRecipientDomains" help:"$true refuses recipients in single-label domains (chris@contoso) with 550 5.1.2; default $false"`
	// SuppressXAnonymousTls is inert: X-ANONYMOUSTLS is never offered.
	SuppressXAnonymousTls bool `yaml:"SuppressXAnonymousTls" help:"inert on Linux (stored, shown, warned): X-ANONYMOUSTLS is Exchange's server-to-server extension; transportd never offers it; default $false"`
	// ServiceDiscoveryFqdn is inert (Exchange's service discovery).
	ServiceDiscoveryFqdn string `yaml:"ServiceDiscoveryFqdn" help:"inert on Linux (stored, shown, warned): Exchange's service discovery between its own servers"`
	// TlsDomainCapabilities is inert (Exchange hybrid with Microsoft 365).
	TlsDomainCapabilities []string `yaml:"TlsDomainCapabilities,flow,omitempty" help:"inert on Linux (stored, shown, warned): domain:capability pairs (AcceptCloudServicesMail) for Exchange hybrid deployments"`
	// DomainSecureEnabled is inert: Domain Secure (mutual TLS with
	// TLSReceiveDomainSecureList) is not implemented.
	DomainSecureEnabled bool `yaml:"DomainSecureEnabled" help:"inert on Linux (stored, shown, warned): Domain Secure needs TLSReceiveDomainSecureList in Active Directory; scope partners with RemoteIPRanges and RequireTLS instead"`
	// EnableAuthGSSAPI is inert: no Kerberos/NTLM (Integrated) here.
	EnableAuthGSSAPI bool `yaml:"EnableAuthGSSAPI" help:"inert on Linux (stored, shown, warned): Kerberos for Integrated Windows authentication; transportd offers AUTH PLAIN and LOGIN"`
	// ExtendedProtectionPolicy is inert: it protects Integrated (NTLM) logons.
	ExtendedProtectionPolicy string `yaml:"ExtendedProtectionPolicy" help:"None, Allow or Require; inert on Linux (stored, shown, warned): Extended Protection guards Integrated Windows (NTLM) logons, which transportd does not offer"`

	// ImplicitTls makes every binding of the connector speak TLS from the
	// first byte (RFC 8314 section 3: "submissions", usually port 465)
	// instead of offering STARTTLS: the TLS handshake comes before the 220
	// greeting, and the session then runs as after STARTTLS (AUTH offered,
	// no STARTTLS). It needs Tls in AuthMechanism and a certificate; a
	// connection the connector cannot serve TLS on is closed and logged.
	ImplicitTls bool `yaml:"ImplicitTls"`

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

	// ---- issue 13: PROXY protocol and connection filtering ----

	// ProxyProtocolEnabled makes the connector's bindings expect a PROXY
	// protocol header (HAProxy's v1 text or v2 binary form) from the load
	// balancers in ProxyProtocolTrustedAddresses: the client address in the
	// header is the remote address every policy, limit and log uses.
	ProxyProtocolEnabled bool `yaml:"ProxyProtocolEnabled,omitempty" help:"$true: connections from ProxyProtocolTrustedAddresses must start with a PROXY protocol header (v1 or v2), and the client address in it is the remote address for RemoteIPRanges, limits, logs and Received:; a PROXY header from anyone else is refused (554 5.7.1); default $false"`
	// ProxyProtocolTrustedAddresses are the load balancers' addresses or
	// ranges whose PROXY headers are believed.
	ProxyProtocolTrustedAddresses iprange.List `yaml:"ProxyProtocolTrustedAddresses,omitempty,flow" help:"the load balancers (HAProxy, nginx, a cloud balancer) whose PROXY headers are believed: addresses or ranges, e.g. 10.0.0.5,10.0.1.0/24; needed with ProxyProtocolEnabled"`
	// ConnectionFilteringEnabled applies the IP allow list, IP block list
	// and block list providers (Add-IPBlockListEntry,
	// Add-IPBlockListProvider) to anonymous sessions on this connector. On
	// by default for the Internet usage (the Default Frontend) only.
	ConnectionFilteringEnabled bool `yaml:"ConnectionFilteringEnabled" help:"$true applies the IP allow list, IP block list and block list providers (DNSBL) to anonymous senders on this connector: a listed address gets 550 5.7.1 at RCPT; never to authenticated sessions; default $true for the Internet usage (Default Frontend), $false otherwise"`

	// ---- explicit extended rights (Add-ADPermission / Remove-ADPermission)

	// ADPermissions are the connector's explicit grants and denies of
	// extended rights beyond what PermissionGroups and AnonymousRelay
	// give; a deny wins over every grant.
	ADPermissions []permissions.Entry `yaml:"ADPermissions,omitempty"`
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
	// UsageSubmissions is transportd's own: Client with implicit TLS on
	// port 465 (RFC 8314 "submissions").
	UsageSubmissions Usage = "Submissions"
)

// ParseUsage reads a usage name, case-insensitively.
func ParseUsage(s string) (Usage, error) {
	for _, u := range []Usage{UsageClient, UsageInternal, UsageInternet, UsagePartner, UsageCustom, UsageSubmissions} {
		if strings.EqualFold(string(u), strings.TrimSpace(s)) {
			return u, nil
		}
	}
	return "", fmt.Errorf("usage %q is not known: use Client, Internal, Internet, Partner, Custom or Submissions (Client with implicit TLS on 465)", s)
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
	c.setProtocolDefaults()
	switch usage {
	case UsageClient:
		c.Bindings = allBindings(587)
		c.AuthMechanism = permissions.Mechanisms{permissions.MechTLS, permissions.MechBasicAuth, permissions.MechBasicAuthRequireTLS}
		c.PermissionGroups = permissions.Groups{permissions.GroupExchangeUsers}
		c.MessageRateSource = "User"
	case UsageSubmissions:
		// RFC 8314 section 3.3: message submission over implicit TLS on 465.
		c.Bindings = allBindings(465)
		c.AuthMechanism = permissions.Mechanisms{permissions.MechTLS, permissions.MechBasicAuth, permissions.MechBasicAuthRequireTLS}
		c.PermissionGroups = permissions.Groups{permissions.GroupExchangeUsers}
		c.MessageRateSource = "User"
		c.ImplicitTls = true
	case UsageInternal:
		c.Bindings = allBindings(25)
		c.AuthMechanism = permissions.Mechanisms{permissions.MechTLS}
		c.PermissionGroups = permissions.Groups{permissions.GroupExchangeServers, permissions.GroupExchangeLegacyServers}
	case UsageInternet:
		c.Bindings = allBindings(25)
		c.AuthMechanism = permissions.Mechanisms{permissions.MechTLS}
		c.PermissionGroups = permissions.Groups{permissions.GroupAnonymousUsers}
		c.SenderAuthenticationEnabled, c.HonorDmarcPolicy = true, true // issue 13
		c.ConnectionFilteringEnabled = true                            // issue 13: connection filtering
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
	case cert == nil && c.ImplicitTls:
		return fmt.Sprintf("IMPLICIT TLS IMPOSSIBLE: %s; every connection to this connector is closed without a greeting", problem), false
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
