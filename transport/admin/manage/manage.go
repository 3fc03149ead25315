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
func (m *Manager) Load() (*config.Config, error) { return config.Load(m.ConfigPath) }

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
		if err := SetField(obj, name, v); err != nil {
			return err
		}
	}
	return nil
}

// ---- receive connectors ----

// ConnectorRecord shows a connector with its certificate status.
func (m *Manager) ConnectorRecord(rc *connector.ReceiveConnector, store *certs.Store) Record {
	r := Properties(rc)
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
	c, err := m.Load()
	if err != nil {
		return nil, err
	}
	store, err := m.Certs(c)
	if err != nil {
		return nil, err
	}
	var out []Record
	var names []string
	for i := range c.ReceiveConnectors {
		rc := &c.ReceiveConnectors[i]
		names = append(names, rc.Name)
		if identity == "" || MatchIdentity(identity, rc.Name) {
			out = append(out, m.ConnectorRecord(rc, store))
		}
	}
	if len(out) == 0 && identity != "" {
		return nil, noMatch("receive connector", identity, names)
	}
	return out, nil
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
	force, err := takeForce(&ps)
	if err != nil {
		return 0, err
	}
	if len(ps) == 0 {
		return 0, errors.New("nothing to set: give parameters such as -Fqdn mail.contoso.com")
	}
	n := 0
	_, err = config.Update(m.ConfigPath, func(c *config.Config) error {
		check, err := m.newConnectorCheck(c, force)
		if err != nil {
			return err
		}
		var names []string
		var before, after []*connector.ReceiveConnector
		for i := range c.ReceiveConnectors {
			rc := &c.ReceiveConnectors[i]
			names = append(names, rc.Name)
			if !MatchIdentity(identity, rc.Name) {
				continue
			}
			prev := *rc
			old := changedConnector(rc)
			if err := applyParams(rc, ps); err != nil {
				return err
			}
			rc.Normalize()
			if err := checkLegacyTLS(&prev, rc, force); err != nil {
				return err
			}
			before, after = append(before, old), append(after, rc)
			n++
		}
		if n == 0 {
			return noMatch("receive connector", identity, names)
		}
		if err := c.Validate(); err != nil {
			return err // said before any warning about a change that is not saved
		}
		return check.all(before, after)
	})
	return n, err
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
	force, err := takeForce(&ps)
	if err != nil {
		return nil, err
	}
	var rec Record
	_, err = config.Update(m.ConfigPath, func(c *config.Config) error {
		check, err := m.newConnectorCheck(c, force)
		if err != nil {
			return err
		}
		for _, rc := range c.ReceiveConnectors {
			if strings.EqualFold(rc.Name, name) {
				return fmt.Errorf("a receive connector named %q already exists", rc.Name)
			}
		}
		rc := connector.New(name, usage, c.Server.Fqdn)
		if err := applyParams(&rc, ps, "Name"); err != nil {
			return err
		}
		rc.Normalize()
		if err := checkLegacyTLS(nil, &rc, force); err != nil {
			return err
		}
		c.ReceiveConnectors = append(c.ReceiveConnectors, rc)
		rec = Properties(&rc)
		if err := c.Validate(); err != nil {
			return err
		}
		return check.all([]*connector.ReceiveConnector{nil}, []*connector.ReceiveConnector{&rc})
	})
	return rec, err
}

// RemoveConnectors removes the connectors matching identity.
func (m *Manager) RemoveConnectors(identity string) (int, error) {
	if identity == "" {
		return 0, errors.New("-Identity is required")
	}
	n := 0
	_, err := config.Update(m.ConfigPath, func(c *config.Config) error {
		var keep []connector.ReceiveConnector
		var names []string
		for _, rc := range c.ReceiveConnectors {
			names = append(names, rc.Name)
			if MatchIdentity(identity, rc.Name) {
				n++
				continue
			}
			keep = append(keep, rc)
		}
		if n == 0 {
			return noMatch("receive connector", identity, names)
		}
		c.ReceiveConnectors = keep
		return nil
	})
	return n, err
}

// ---- accepted domains ----

// GetAcceptedDomains lists accepted domains matching identity (Name or DomainName).
func (m *Manager) GetAcceptedDomains(identity string) ([]Record, error) {
	c, err := m.Load()
	if err != nil {
		return nil, err
	}
	var out []Record
	var names []string
	for i := range c.AcceptedDomains {
		d := &c.AcceptedDomains[i]
		names = append(names, d.Name)
		if identity == "" || MatchIdentity(identity, d.Name) || MatchIdentity(identity, d.DomainName) {
			out = append(out, append(Record{{Name: "Identity", Value: d.Name}}, Properties(d)...))
		}
	}
	if len(out) == 0 && identity != "" {
		return nil, noMatch("accepted domain", identity, names)
	}
	return out, nil
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
	_, err := config.Update(m.ConfigPath, func(c *config.Config) error {
		for _, o := range c.AcceptedDomains {
			if strings.EqualFold(o.Name, d.Name) {
				return fmt.Errorf("an accepted domain named %q already exists", o.Name)
			}
		}
		if d.Default {
			for i := range c.AcceptedDomains {
				c.AcceptedDomains[i].Default = false
			}
		}
		c.AcceptedDomains = append(c.AcceptedDomains, d)
		return nil
	})
	return Properties(&d), err
}

// SetAcceptedDomains changes the accepted domains matching identity.
func (m *Manager) SetAcceptedDomains(identity string, ps Params) (int, error) {
	if identity == "" {
		return 0, errors.New("-Identity is required")
	}
	n := 0
	_, err := config.Update(m.ConfigPath, func(c *config.Config) error {
		var names []string
		for i := range c.AcceptedDomains {
			d := &c.AcceptedDomains[i]
			names = append(names, d.Name)
			if !MatchIdentity(identity, d.Name) && !MatchIdentity(identity, d.DomainName) {
				continue
			}
			if err := applyParams(d, ps); err != nil {
				return err
			}
			n++
			if d.Default {
				for j := range c.AcceptedDomains {
					if j != i {
						c.AcceptedDomains[j].Default = false
					}
				}
			}
		}
		if n == 0 {
			return noMatch("accepted domain", identity, names)
		}
		return nil
	})
	return n, err
}

// RemoveAcceptedDomains removes the accepted domains matching identity.
func (m *Manager) RemoveAcceptedDomains(identity string) (int, error) {
	if identity == "" {
		return 0, errors.New("-Identity is required")
	}
	n := 0
	_, err := config.Update(m.ConfigPath, func(c *config.Config) error {
		var keep []config.AcceptedDomain
		var names []string
		for _, d := range c.AcceptedDomains {
			names = append(names, d.Name)
			if MatchIdentity(identity, d.Name) || MatchIdentity(identity, d.DomainName) {
				n++
				continue
			}
			keep = append(keep, d)
		}
		if n == 0 {
			return noMatch("accepted domain", identity, names)
		}
		c.AcceptedDomains = keep
		return nil
	})
	return n, err
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
	c, err := m.Load()
	if err != nil {
		return nil, err
	}
	var out []Record
	var names []string
	for i := range c.Mailboxes {
		mb := &c.Mailboxes[i]
		names = append(names, mb.Name)
		if identity == "" || matchMailbox(identity, mb) {
			out = append(out, mailboxRecord(mb))
		}
	}
	if len(out) == 0 && identity != "" {
		return nil, noMatch("mailbox", identity, names)
	}
	return out, nil
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
	if err := setPassword(&mb, &ps, readPassword); err != nil {
		return nil, err
	}
	if err := applyParams(&mb, ps, "PasswordHash"); err != nil {
		return nil, err
	}
	if mb.Name == "" {
		return nil, errors.New("-Name is required")
	}
	_, err := config.Update(m.ConfigPath, func(c *config.Config) error {
		if mb.PrimarySmtpAddress == "" {
			for _, d := range c.AcceptedDomains {
				if d.Default {
					mb.PrimarySmtpAddress = strings.ToLower(mb.Name) + "@" + d.DomainName
				}
			}
			if mb.PrimarySmtpAddress == "" {
				return errors.New("-PrimarySmtpAddress is required (there is no default accepted domain to build it from)")
			}
		}
		if err := checkMailboxAddresses(&mb); err != nil {
			return err
		}
		for _, o := range c.Mailboxes {
			if strings.EqualFold(o.Name, mb.Name) {
				return fmt.Errorf("a mailbox named %q already exists", o.Name)
			}
		}
		c.Mailboxes = append(c.Mailboxes, mb)
		return nil
	})
	return mailboxRecord(&mb), err
}

// SetMailboxes changes the mailboxes matching identity.
func (m *Manager) SetMailboxes(identity string, ps Params, readPassword func() (string, error)) (int, error) {
	if identity == "" {
		return 0, errors.New("-Identity is required")
	}
	var tmpl config.Mailbox
	if err := setPassword(&tmpl, &ps, readPassword); err != nil {
		return 0, err
	}
	n := 0
	_, err := config.Update(m.ConfigPath, func(c *config.Config) error {
		var names []string
		for i := range c.Mailboxes {
			mb := &c.Mailboxes[i]
			names = append(names, mb.Name)
			if !matchMailbox(identity, mb) {
				continue
			}
			oldName := mb.Name
			if err := applyParams(mb, ps, "PasswordHash"); err != nil {
				return err
			}
			if err := checkMailboxAddresses(mb); err != nil {
				return err
			}
			if mb.Name != oldName {
				renameSendAsTrustee(c, oldName, mb.Name)
			}
			if tmpl.PasswordHash != "" {
				mb.PasswordHash = tmpl.PasswordHash
			}
			n++
		}
		if n == 0 {
			return noMatch("mailbox", identity, names)
		}
		return nil
	})
	return n, err
}

// RemoveMailboxes removes the mailboxes matching identity.
func (m *Manager) RemoveMailboxes(identity string) (int, error) {
	if identity == "" {
		return 0, errors.New("-Identity is required")
	}
	n := 0
	_, err := config.Update(m.ConfigPath, func(c *config.Config) error {
		var keep []config.Mailbox
		var names []string
		for _, mb := range c.Mailboxes {
			names = append(names, mb.Name)
			if matchMailbox(identity, &mb) {
				n++
				continue
			}
			keep = append(keep, mb)
		}
		if n == 0 {
			return noMatch("mailbox", identity, names)
		}
		c.Mailboxes = keep
		// A removed mailbox's Send As rights on others go with it.
		for i := range c.Mailboxes {
			mb := &c.Mailboxes[i]
			var grants []string
			for _, u := range mb.GrantSendAsTo {
				if c.FindMailboxUser(u) != nil {
					grants = append(grants, u)
				}
			}
			mb.GrantSendAsTo = grants
		}
		return nil
	})
	return n, err
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
