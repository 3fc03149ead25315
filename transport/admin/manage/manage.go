package manage

import (
	"errors"
	"fmt"
	"path/filepath"
	"strings"
	"time"

	"github.com/transportd/transportd/certs"
	"github.com/transportd/transportd/connector"
	"github.com/transportd/transportd/policies/address"
	"github.com/transportd/transportd/policies/credentials"
	"github.com/transportd/transportd/transport/admin/config"
	"github.com/transportd/transportd/transport/durable"
)

// Param is one -Name value pair (or a -Switch) as typed by the admin.
type Param struct {
	Name   string
	Value  string
	Switch bool

	// Edit, when set, is Exchange's @{Add="x"; Remove="y"} on a
	// multi-valued property (Value is then unused). A pointer, so that
	// Param stays comparable.
	Edit *Edit
}

// Edit is the values to add to a multi-valued property and to remove
// from it, leaving the others.
type Edit struct {
	Add, Remove []string
}

// Params is a parameter list in the order given.
type Params []Param

// Take removes the parameter called name (or a unique prefix of it among
// known) and returns its value.
//
// As in PowerShell, a parameter may be abbreviated: "-Pass" takes
// -Password. An abbreviation needs three letters at least.
func (ps *Params) Take(name string) (string, bool) {
	if v, ok := ps.TakeExact(name); ok {
		return v, true
	}
	for i, p := range *ps {
		if len(p.Name) >= 3 && len(p.Name) < len(name) && strings.EqualFold(p.Name, name[:len(p.Name)]) {
			return ps.take(i)
		}
	}
	return "", false
}

// TakeExact removes the parameter spelled exactly name (any case).
func (ps *Params) TakeExact(name string) (string, bool) {
	for i, p := range *ps {
		if strings.EqualFold(p.Name, name) {
			return ps.take(i)
		}
	}
	return "", false
}

func (ps *Params) take(i int) (string, bool) {
	p := (*ps)[i]
	*ps = append((*ps)[:i], (*ps)[i+1:]...)
	if p.Switch {
		return "$true", true
	}
	return p.Value, true
}

// Manager runs management commands against one config file.
type Manager struct {
	// ConfigPath is the config file.
	ConfigPath string
	// Now returns the time used for certificate checks.
	Now func() time.Time
	// Warn, when set, receives warnings about a change that is saved but
	// will not work as the admin likely expects (a connector that will not
	// offer STARTTLS, a binding another program holds), each naming the
	// consequence and the fix.
	Warn func(msg string)
}

func (m *Manager) now() time.Time {
	if m.Now != nil {
		return m.Now()
	}
	return time.Now()
}

// Load reads the configuration.
func (m *Manager) Load() (*config.Config, error) { return config.LoadForEdit(m.ConfigPath) }

// Certs opens the certificate store of the configuration.
func (m *Manager) Certs(c *config.Config) (*certs.Store, error) {
	return certs.Open(filepath.Join(c.DataDir(), "certs"), durable.WriteFile, nil)
}

// ErrNoMatch is wrapped by errors for an -Identity that matches nothing.
var ErrNoMatch = errors.New("no match")

func noMatch(kind, identity string, names []string) error {
	hint := ""
	if s := Closest(names, strings.Trim(identity, "*")); s != "" {
		hint = fmt.Sprintf("; did you mean %q?", s)
	} else if len(names) > 0 {
		hint = fmt.Sprintf(" (existing: %s)", strings.Join(names, ", "))
	}
	return noMatchError(fmt.Sprintf("no %s matches identity %q%s", kind, identity, hint))
}

type noMatchError string

func (e noMatchError) Error() string        { return string(e) }
func (e noMatchError) Is(target error) bool { return target == ErrNoMatch }

// applyParams sets every remaining parameter on obj by Exchange name.
func applyParams(obj any, ps Params, readOnly ...string) error {
	names := FieldNames(obj)
	var settable []string
	for _, n := range names {
		if !contains(readOnly, n) {
			settable = append(settable, n)
		}
	}
	for _, p := range ps {
		name, err := ResolveName(settable, p.Name)
		if err != nil {
			return err
		}
		v := p.Value
		if p.Switch {
			// Exchange's boolean parameters are not switches: -Enabled
			// needs $true or $false. In bash an unquoted $false expands to
			// nothing and would otherwise read as "on".
			return fmt.Errorf("parameter -%s needs a value such as $true or $false (in bash, quote it: '$false')", name)
		}
		if p.Edit != nil {
			if err := EditField(obj, name, p.Edit.Add, p.Edit.Remove); err != nil {
				return err
			}
			continue
		}
		if err := SetField(obj, name, v); err != nil {
			return err
		}
	}
	return nil
}

// ---- receive connectors ----

// ConnectorRecord shows a connector with its certificate status.
func (m *Manager) ConnectorRecord(rc *connector.ReceiveConnector, store *certs.Store) Record {
	r := Properties(rc, "ADPermissions") // Get-ADPermission shows them
	r = append(Record{{Name: "Identity", Value: rc.Name}}, r...)
	if store != nil {
		status, ok := rc.TLSStatus(store, m.now())
		if !ok {
			status = "WARNING: " + status
		}
		r = append(r, Property{Name: "CertificateStatus", Value: status})
	}
	return r
}

// GetConnectors returns the connectors matching identity ("" or "*" = all).
func (m *Manager) GetConnectors(identity string) ([]Record, error) {
	return receiveConnectors.get(m, identity)
}

// checkLegacyTLS refuses a change that opens a connector with
// AllowLegacyTLSClients (TLS 1.0/1.1, CBC suites) to the whole Internet,
// unless force. before is the connector as it was (nil for a new one): a
// connector already in that state, forced earlier, may be changed
// otherwise without repeating -Force.
func checkLegacyTLS(before, after *connector.ReceiveConnector, force bool) error {
	risky := func(c *connector.ReceiveConnector) bool {
		return c != nil && c.AllowLegacyTLSClients && c.OpenToInternet()
	}
	if force || !risky(after) || risky(before) {
		return nil
	}
	return fmt.Errorf("receive connector %q: AllowLegacyTLSClients $true with RemoteIPRanges %s would offer TLS 1.0/1.1 and CBC cipher suites to the whole Internet: "+
		"limit -RemoteIPRanges to the devices that need it (e.g. 192.168.5.0/24), or add -Force to do it anyway", after.Name, after.RemoteIPRanges)
}

// SetConnectors changes every connector matching identity and returns how
// many it changed.
func (m *Manager) SetConnectors(identity string, ps Params) (int, error) {
	if identity == "" {
		return 0, errors.New("-Identity is required: name the connector (wildcards * allowed)")
	}
	return m.SetConnectorsEach([]string{identity}, ps)
}

// NewConnector creates a connector with Exchange's defaults for -Usage
// (or the -Client/-Internal/-Internet/-Partner/-Custom switch), then the
// given parameters.
func (m *Manager) NewConnector(ps Params) (Record, error) {
	name, ok := ps.Take("Name")
	if !ok || strings.TrimSpace(name) == "" {
		return nil, errors.New("-Name is required")
	}
	usage := connector.UsageCustom
	if u, ok := ps.Take("Usage"); ok {
		var err error
		if usage, err = connector.ParseUsage(u); err != nil {
			return nil, fmt.Errorf("-Usage: %w", err)
		}
	}
	for _, u := range []connector.Usage{connector.UsageClient, connector.UsageInternal, connector.UsageInternet, connector.UsagePartner, connector.UsageCustom} {
		if _, ok := ps.TakeExact(string(u)); ok {
			usage = u
		}
	}
	ps.Take("TransportRole") // accepted for Exchange scripts; FrontendTransport is what we are
	m.takeInertConnectorParams(&ps)
	force, err := takeForce(&ps)
	if err != nil {
		return nil, err
	}
	var check *connectorCheck
	rc, err := receiveConnectors.add(m, func(c *config.Config) (connector.ReceiveConnector, error) {
		var err error
		if check, err = m.newConnectorCheck(c, force); err != nil {
			return connector.ReceiveConnector{}, err
		}
		rc := connector.New(name, usage, c.Server.Fqdn)
		if err := applyParams(&rc, ps, "Name", "ADPermissions"); err != nil {
			return rc, err
		}
		rc.Normalize()
		return rc, checkLegacyTLS(nil, &rc, force)
	}, func(c *config.Config, rc *connector.ReceiveConnector) error {
		if err := c.Validate(); err != nil {
			return err // said before any warning about a change that is not saved
		}
		return check.all([]*connector.ReceiveConnector{nil}, []*connector.ReceiveConnector{rc})
	})
	if err != nil {
		return nil, err
	}
	m.warnConnectorSettings(ps, true, &rc)
	return append(Record{{Name: "Identity", Value: rc.Name}}, Properties(&rc, "ADPermissions")...), nil
}

// RemoveConnectors removes the connectors matching identity.
func (m *Manager) RemoveConnectors(identity string) (int, error) {
	return m.RemoveConnectorsEach([]string{identity})
}

// RemoveConnectorsEach removes the connectors matching any of identities,
// in one update, or none.
func (m *Manager) RemoveConnectorsEach(identities []string) (int, error) {
	return receiveConnectors.removeEach(m, identities)
}

// ---- accepted domains ----

// GetAcceptedDomains lists accepted domains matching identity (Name or DomainName).
func (m *Manager) GetAcceptedDomains(identity string) ([]Record, error) {
	return acceptedDomains.get(m, identity)
}

// oneDefault keeps d the only default accepted domain when it is one.
func oneDefault(c *config.Config, d *config.AcceptedDomain) {
	if !d.Default {
		return
	}
	for i := range c.AcceptedDomains {
		if &c.AcceptedDomains[i] != d {
			c.AcceptedDomains[i].Default = false
		}
	}
}

// NewAcceptedDomain adds an accepted domain (-Name, -DomainName, -DomainType).
func (m *Manager) NewAcceptedDomain(ps Params) (Record, error) {
	d := config.AcceptedDomain{DomainType: "Authoritative"}
	if err := applyParams(&d, ps); err != nil {
		return nil, err
	}
	if d.DomainName == "" {
		return nil, errors.New("-DomainName is required, e.g. -DomainName contoso.com")
	}
	if d.Name == "" {
		d.Name = d.DomainName
	}
	d, err := acceptedDomains.add(m, func(*config.Config) (config.AcceptedDomain, error) { return d, nil },
		func(c *config.Config, d *config.AcceptedDomain) error {
			oneDefault(c, d)
			return nil
		})
	if err != nil {
		return nil, err
	}
	return domainRecord(&d), nil
}

// SetAcceptedDomains changes the accepted domains matching identity.
func (m *Manager) SetAcceptedDomains(identity string, ps Params) (int, error) {
	return m.SetAcceptedDomainsEach([]string{identity}, ps)
}

// RemoveAcceptedDomains removes the accepted domains matching identity.
func (m *Manager) RemoveAcceptedDomains(identity string) (int, error) {
	return m.RemoveAcceptedDomainsEach([]string{identity})
}

// RemoveAcceptedDomainsEach removes the accepted domains matching any of
// identities, in one update, or none.
func (m *Manager) RemoveAcceptedDomainsEach(identities []string) (int, error) {
	return acceptedDomains.removeEach(m, identities)
}

// ---- mailboxes ----

func mailboxRecord(mb *config.Mailbox) Record {
	r := append(Record{{Name: "Identity", Value: mb.Name}}, Properties(mb, "PasswordHash")...)
	return append(r, Property{Name: "PasswordSet", Value: FormatBool(mb.PasswordHash != "")})
}

// FormatBool prints True or False as Exchange does.
func FormatBool(b bool) string {
	if b {
		return "True"
	}
	return "False"
}

func matchMailbox(identity string, mb *config.Mailbox) bool {
	if MatchIdentity(identity, mb.Name) || MatchIdentity(identity, mb.PrimarySmtpAddress) {
		return true
	}
	for _, a := range mb.EmailAddresses {
		if MatchIdentity(identity, a) {
			return true
		}
	}
	return false
}

// GetMailboxes lists mailboxes matching identity (name or any address).
func (m *Manager) GetMailboxes(identity string) ([]Record, error) {
	return mailboxes.get(m, identity)
}

// setPassword takes -Password from ps and stores its argon2id hash.
func setPassword(mb *config.Mailbox, ps *Params, readPassword func() (string, error)) error {
	pw, ok := ps.Take("Password")
	if !ok {
		return nil
	}
	if pw == "-" {
		if readPassword == nil {
			return errors.New("-Password -: no standard input to read the password from")
		}
		var err error
		if pw, err = readPassword(); err != nil {
			return fmt.Errorf("-Password -: %w", err)
		}
	}
	if pw == "" {
		return errors.New("-Password: the password is empty")
	}
	h, err := credentials.Hash(pw)
	if err != nil {
		return err
	}
	mb.PasswordHash = h
	return nil
}

// checkMailboxAddresses refuses mailbox addresses that mail could never be
// delivered to: each must pass address.ParseMailbox, since the primary
// address names the mailbox's folder under data/mailboxes.
func checkMailboxAddresses(mb *config.Mailbox) error {
	if _, err := address.ParseMailbox(mb.PrimarySmtpAddress); err != nil {
		return fmt.Errorf("mailbox %q: -PrimarySmtpAddress %w; give an address such as alice@contoso.com", mb.Name, err)
	}
	for _, a := range mb.EmailAddresses {
		if _, err := address.ParseMailbox(a); err != nil {
			return fmt.Errorf("mailbox %q: -EmailAddresses %w; give addresses such as alice@contoso.com", mb.Name, err)
		}
	}
	return nil
}

// NewMailbox creates a mailbox. -Name and -PrimarySmtpAddress (or a
// default accepted domain to build it from) are needed; -Password - reads
// the password from readPassword.
func (m *Manager) NewMailbox(ps Params, readPassword func() (string, error)) (Record, error) {
	mb := config.Mailbox{Enabled: true}
	m.takeInertMailboxParams(&ps)
	if err := setPassword(&mb, &ps, readPassword); err != nil {
		return nil, err
	}
	if err := applyParams(&mb, ps, "PasswordHash"); err != nil {
		return nil, err
	}
	if strings.TrimSpace(mb.Name) == "" {
		return nil, errors.New("-Name is required")
	}
	if mb.DisplayName == "" && (mb.FirstName != "" || mb.LastName != "") {
		mb.DisplayName = strings.TrimSpace(mb.FirstName + " " + mb.LastName)
	}
	if err := normalizeAddresses(&mb); err != nil {
		return nil, err
	}
	mb, err := mailboxes.add(m, func(c *config.Config) (config.Mailbox, error) {
		if mb.PrimarySmtpAddress == "" {
			for _, d := range c.AcceptedDomains {
				if d.Default {
					mb.PrimarySmtpAddress = localPartOf(&mb) + "@" + d.DomainName
				}
			}
			if mb.PrimarySmtpAddress == "" {
				return mb, errors.New("-PrimarySmtpAddress is required (there is no default accepted domain to build it from)")
			}
		}
		return mb, checkMailboxAddresses(&mb)
	}, nil)
	if err != nil {
		return nil, err
	}
	return mailboxRecord(&mb), nil
}

// SetMailboxes changes the mailboxes matching identity.
func (m *Manager) SetMailboxes(identity string, ps Params, readPassword func() (string, error)) (int, error) {
	return m.SetMailboxesEach([]string{identity}, ps, readPassword)
}

// RemoveMailboxes removes the mailboxes matching identity.
func (m *Manager) RemoveMailboxes(identity string) (int, error) {
	return m.RemoveMailboxesEach([]string{identity})
}

// RemoveMailboxesEach removes the mailboxes matching any of identities, in
// one update, or none; their Send As rights on other mailboxes go with them.
func (m *Manager) RemoveMailboxesEach(identities []string) (int, error) {
	return mailboxes.removeEach(m, identities)
}

// renameSendAsTrustee follows a mailbox rename in the Send As grants that
// name it.
func renameSendAsTrustee(c *config.Config, oldName, newName string) {
	for i := range c.Mailboxes {
		for j, u := range c.Mailboxes[i].GrantSendAsTo {
			if strings.EqualFold(u, oldName) {
				c.Mailboxes[i].GrantSendAsTo[j] = newName
			}
		}
	}
}
