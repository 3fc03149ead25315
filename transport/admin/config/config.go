// Package config reads and writes transportd's configuration: one YAML file
// with Exchange's parameter names (server settings, receive connectors,
// accepted domains), and the mailbox list kept apart in the data folder
// with owner-only permissions because it holds password hashes.
//
// Reading goes through viper (strict: an unknown key is an error that names
// it); writing goes through YAML marshalling of the typed structs so the file
// keeps Exchange's spelling and order and stays hand-editable. Every change is
// validated as a whole, then written atomically (temp file, fsync, rename,
// directory fsync), under a lock so two shell commands cannot interleave.
package config

import (
	"errors"
	"fmt"
	"os"
	"path/filepath"
	"strings"

	"github.com/transportd/transportd/connector"
	"github.com/transportd/transportd/policies/domains"
	"github.com/transportd/transportd/transport/mail/sendconnector"
)

// EnvConfig is the environment variable that names the config file when
// -config is not given.
const EnvConfig = "TRANSPORTD_CONFIG"

// Server holds the settings of this transport server.
type Server struct {
	// Name is the server's short name, used in connector names.
	Name string `yaml:"Name"`
	// Fqdn is the server's fully qualified host name, resolved as
	// "hostname -f" does when empty. Set once, it is every default that
	// names this server: the Fqdn of each receive connector that does not
	// give its own (greeting, EHLO reply, Received, certificate), the EHLO
	// name to smart hosts of send connectors without their own Fqdn, and
	// the DSN sender's domain when there is no default accepted domain.
	Fqdn string `yaml:"Fqdn"`
	// DataPath is the folder for the queue, mailboxes, certificates and logs.
	// Relative paths are relative to the config file; empty means "data"
	// beside the config file.
	DataPath string `yaml:"DataPath"`
}

// AcceptedDomain is one accepted domain as it appears in the config file.
type AcceptedDomain struct {
	// Name identifies the entry.
	Name string `yaml:"Name"`
	// DomainName is "contoso.com" or "*.contoso.com" (the domain and its subdomains).
	DomainName string `yaml:"DomainName"`
	// DomainType is Authoritative, InternalRelay or ExternalRelay.
	DomainType domains.DomainType `yaml:"DomainType"`
	// Default marks the domain used for new mailboxes without an address.
	Default bool `yaml:"Default"`
}

// Mailbox is a mailbox user who can authenticate and receive mail.
type Mailbox struct {
	// Name identifies the mailbox (Exchange's alias).
	Name string `yaml:"Name"`
	// DisplayName is the user's full name.
	DisplayName string `yaml:"DisplayName,omitempty"`
	// PrimarySmtpAddress is the address the user logs on with and receives at.
	PrimarySmtpAddress string `yaml:"PrimarySmtpAddress"`
	// EmailAddresses are further addresses delivered to this mailbox.
	EmailAddresses []string `yaml:"EmailAddresses,omitempty,flow"`
	// Enabled is false for a mailbox that may not log on (mail is still delivered).
	Enabled bool `yaml:"Enabled"`
	// PasswordHash is an argon2id PHC string; the password itself is never stored.
	PasswordHash string `yaml:"PasswordHash,omitempty"`
	// GrantSendAsTo names the mailboxes (by Name) whose users may send as
	// this mailbox's addresses: Exchange's "Send As" extended right on it
	// (Add-ADPermission -Identity <this> -User <them> -ExtendedRights
	// "Send As"). It lives with the mailbox, as the right lives in the
	// mailbox's ACL in Active Directory.
	GrantSendAsTo []string `yaml:"GrantSendAsTo,omitempty,flow"`

	// Alias is Exchange's alias: the local part new addresses are built
	// from (alias@<default accepted domain>); empty: the Name.
	Alias string `yaml:"Alias,omitempty"`
	// UserPrincipalName is a further logon name (kweku@contoso.com).
	UserPrincipalName string `yaml:"UserPrincipalName,omitempty"`
	// FirstName and LastName are the user's names, for DisplayName.
	FirstName string `yaml:"FirstName,omitempty"`
	LastName  string `yaml:"LastName,omitempty"`
	// ForwardingSmtpAddress forwards the mailbox's mail to this address
	// (Exchange's smtp:address form is accepted); the transport sends a
	// copy there with the original envelope sender.
	ForwardingSmtpAddress string `yaml:"ForwardingSmtpAddress,omitempty"`
	// ForwardingAddress forwards to another mailbox of this server, by
	// name or address; ForwardingSmtpAddress wins when both are set, as in
	// Exchange.
	ForwardingAddress string `yaml:"ForwardingAddress,omitempty"`
	// DeliverToMailboxAndForward keeps a copy in this mailbox too; false:
	// forwarded mail is only forwarded.
	DeliverToMailboxAndForward bool `yaml:"DeliverToMailboxAndForward,omitempty"`
}

// ForwardTo returns where mb's mail is forwarded to ("" for nowhere):
// ForwardingSmtpAddress, else the primary address of the mailbox
// ForwardingAddress names.
func (c *Config) ForwardTo(mb *Mailbox) string {
	if a := strings.TrimSpace(mb.ForwardingSmtpAddress); a != "" {
		if len(a) > 5 && strings.EqualFold(a[:5], "smtp:") {
			a = a[5:]
		}
		return a
	}
	if mb.ForwardingAddress != "" {
		if t := c.FindMailboxUser(mb.ForwardingAddress); t != nil {
			return t.PrimarySmtpAddress
		}
	}
	return ""
}

// Config is the whole configuration.
type Config struct {
	// Server holds the server-wide settings.
	Server Server `yaml:"Server"`
	// ReceiveConnectors are the receive connectors.
	ReceiveConnectors []connector.ReceiveConnector `yaml:"ReceiveConnectors"`
	// Transport holds the retry, expiry and delivery settings.
	Transport TransportConfig `yaml:"Transport"`
	// SendConnectors are the ways out: smart hosts or MX lookup, by address space.
	SendConnectors []sendconnector.SendConnector `yaml:"SendConnectors"`
	// AcceptedDomains are the domains we accept mail for.
	AcceptedDomains []AcceptedDomain `yaml:"AcceptedDomains"`
	// Logging holds the protocol log, message tracking and metrics settings.
	Logging LoggingConfig `yaml:"Logging"`
	// ClientSettings are the IMAP/POP3 settings and HTTP endpoint for AdvertiseClientSettings.
	ClientSettings ClientSettings `yaml:"ClientSettings,omitempty"`
	// Mailboxes live in DataDir()/mailboxes.yaml, not in the config file.
	Mailboxes []Mailbox `yaml:"-"`

	// ---- issue 13 (DKIM) ----

	// DkimSigningConfigs are the domains whose mail is DKIM-signed
	// (New-DkimSigningConfig); the keys live in DkimKeyDir.
	DkimSigningConfigs []DkimSigningConfig `yaml:"DkimSigningConfigs,omitempty"`

	// ---- issue 13 (connection filtering) ----

	// ConnectionFilter holds the IP allow and block lists and the block
	// list providers (Add-IPBlockListEntry, Add-IPBlockListProvider).
	ConnectionFilter ConnectionFilterConfig `yaml:"ConnectionFilter,omitempty"`

	// ---- issue 14 (cluster) ----

	// Cluster makes this server a member of a cluster (NATS JetStream);
	// empty: a single server.
	Cluster ClusterConfig `yaml:"Cluster,omitempty"`

	path string
	// stated records the sections the files read actually contain (see
	// CheckReplacement); nil for a configuration not read from a file.
	stated map[string]bool
	// raw is the config file's contents as read, for the copy of the
	// configuration in force (WriteApplied); nil when not read from a file.
	raw []byte
}

// Path returns the config file this configuration was read from.
func (c *Config) Path() string { return c.path }

// DataDir returns the absolute data folder.
func (c *Config) DataDir() string {
	p := c.Server.DataPath
	if p == "" {
		p = "data"
	}
	if !filepath.IsAbs(p) {
		p = filepath.Join(filepath.Dir(c.path), p)
	}
	return p
}

// MailboxFile returns the path of the mailbox list.
func (c *Config) MailboxFile() string { return filepath.Join(c.DataDir(), "mailboxes.yaml") }

// SetServerFqdn sets Server.Fqdn and, with it, the Fqdn of every receive
// connector that follows the server's (one without an Fqdn of its own in
// the file, which Save writes without one again). It returns the indexes
// of those connectors.
func (c *Config) SetServerFqdn(fqdn string) []int {
	var followed []int
	for i := range c.ReceiveConnectors {
		if strings.EqualFold(c.ReceiveConnectors[i].Fqdn, c.Server.Fqdn) {
			c.ReceiveConnectors[i].Fqdn = fqdn
			followed = append(followed, i)
		}
	}
	c.Server.Fqdn = fqdn
	return followed
}

// DomainTable builds the accepted-domain lookup table.
func (c *Config) DomainTable() (*domains.Table, error) {
	ds := make([]domains.AcceptedDomain, 0, len(c.AcceptedDomains))
	for _, d := range c.AcceptedDomains {
		ds = append(ds, domains.AcceptedDomain{Name: d.Name, DomainName: d.DomainName, DomainType: d.DomainType, Default: d.Default})
	}
	return domains.NewTable(ds)
}

// Defaults returns the configuration a new install starts with, for the host
// fqdn: the two connectors Exchange setup creates and, when the host name
// has a domain part, that domain as the authoritative accepted domain.
func Defaults(fqdn string) *Config {
	c := &Config{
		Server:            Server{Name: connector.ShortHostName(fqdn), Fqdn: fqdn},
		Transport:         DefaultTransportConfig(),
		Logging:           DefaultLoggingConfig(),
		ReceiveConnectors: connector.Defaults(fqdn),
		ClientSettings:    DefaultClientSettings(),
	}
	if _, dom, ok := strings.Cut(fqdn, "."); ok && dom != "" {
		c.AcceptedDomains = []AcceptedDomain{{Name: dom, DomainName: dom, DomainType: "Authoritative", Default: true}}
	}
	return c
}

// Validate checks the whole configuration. The error lists every problem,
// each naming the object, the parameter and the bad value.
func (c *Config) Validate() error {
	var errs []error
	if err := connector.ValidateFQDN(c.Server.Fqdn); err != nil {
		errs = append(errs, fmt.Errorf("Server.Fqdn: %w", err))
	}
	if err := connector.ValidateSet(c.ReceiveConnectors); err != nil {
		errs = append(errs, err)
	}
	if err := c.Transport.Validate(); err != nil {
		errs = append(errs, err)
	}
	if err := c.Logging.Validate(); err != nil {
		errs = append(errs, err)
	}
	if err := c.ClientSettings.Validate(); err != nil {
		errs = append(errs, err)
	}
	if err := sendconnector.ValidateSet(c.SendConnectors); err != nil {
		errs = append(errs, err)
	}
	if err := c.validateDkim(); err != nil {
		errs = append(errs, err)
	}
	if err := c.validateConnectionFilter(); err != nil {
		errs = append(errs, err)
	}
	if err := c.validateCluster(); err != nil { // issue 14
		errs = append(errs, err)
	}
	if _, err := c.DomainTable(); err != nil {
		errs = append(errs, fmt.Errorf("AcceptedDomains: %w", err))
	}
	errs = append(errs, c.validateDefaultDomains()...)
	seen := map[string]string{}
	for _, m := range c.Mailboxes {
		if strings.TrimSpace(m.Name) == "" {
			errs = append(errs, errors.New("mailbox: Name is empty"))
		}
		for _, a := range append([]string{m.PrimarySmtpAddress}, m.EmailAddresses...) {
			k := strings.ToLower(a)
			if prev, ok := seen[k]; ok {
				errs = append(errs, fmt.Errorf("mailboxes %q and %q both use the address %s", prev, m.Name, a))
			}
			seen[k] = m.Name
		}
		if !strings.Contains(m.PrimarySmtpAddress, "@") {
			errs = append(errs, fmt.Errorf("mailbox %q: PrimarySmtpAddress %q is not an address", m.Name, m.PrimarySmtpAddress))
		}
	}
	for _, m := range c.Mailboxes {
		if m.ForwardingAddress != "" && c.FindMailboxUser(m.ForwardingAddress) == nil {
			errs = append(errs, fmt.Errorf("mailbox %q: ForwardingAddress %q is not a mailbox (give a mailbox name or address, or use ForwardingSmtpAddress for an address elsewhere)", m.Name, m.ForwardingAddress))
		}
		for _, u := range m.GrantSendAsTo {
			if c.FindMailboxUser(u) == nil {
				errs = append(errs, fmt.Errorf("mailbox %q: GrantSendAsTo %q is not a mailbox (give a mailbox name or address)", m.Name, u))
			}
		}
	}
	return errors.Join(errs...)
}

// FindMailboxUser returns the mailbox named user, or owning the address
// user, case-insensitively.
func (c *Config) FindMailboxUser(user string) *Mailbox {
	u := strings.TrimSpace(user)
	for i := range c.Mailboxes {
		if strings.EqualFold(c.Mailboxes[i].Name, u) {
			return &c.Mailboxes[i]
		}
	}
	for i := range c.Mailboxes {
		if upn := c.Mailboxes[i].UserPrincipalName; upn != "" && strings.EqualFold(upn, u) {
			return &c.Mailboxes[i]
		}
	}
	return c.FindMailbox(u)
}

// FindMailbox returns the mailbox that owns address (primary or proxy), case-insensitively.
func (c *Config) FindMailbox(address string) *Mailbox {
	for i := range c.Mailboxes {
		m := &c.Mailboxes[i]
		if strings.EqualFold(m.PrimarySmtpAddress, address) {
			return m
		}
		for _, a := range m.EmailAddresses {
			if strings.EqualFold(a, address) {
				return m
			}
		}
	}
	return nil
}

// DefaultPath returns the config path used when neither -config nor
// TRANSPORTD_CONFIG is given: /etc/transportd/transportd.yaml for root,
// else transportd/transportd.yaml under the user's config folder.
func DefaultPath() string {
	if p := os.Getenv(EnvConfig); p != "" {
		return p
	}
	if os.Geteuid() == 0 {
		return "/etc/transportd/transportd.yaml"
	}
	if dir, err := os.UserConfigDir(); err == nil {
		return filepath.Join(dir, "transportd", "transportd.yaml")
	}
	return "transportd.yaml"
}

// validateDefaultDomains checks that each receive connector's DefaultDomain
// names an accepted domain (Exchange's AcceptedDomainIdParameter: by Name
// or DomainName) that is not a wildcard.
func (c *Config) validateDefaultDomains() []error {
	var errs []error
	for i := range c.ReceiveConnectors {
		rc := &c.ReceiveConnectors[i]
		if rc.DefaultDomain == "" {
			continue
		}
		found := false
		for _, d := range c.AcceptedDomains {
			if strings.EqualFold(d.Name, rc.DefaultDomain) || strings.EqualFold(d.DomainName, rc.DefaultDomain) {
				found = !strings.HasPrefix(d.DomainName, "*")
				break
			}
		}
		if !found {
			errs = append(errs, fmt.Errorf("receive connector %q: DefaultDomain: %q is not an accepted domain without a wildcard: add it with New-AcceptedDomain, or give one of Get-AcceptedDomain", rc.Name, rc.DefaultDomain))
		}
	}
	return errs
}
