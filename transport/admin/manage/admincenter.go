package manage

import (
	"bufio"
	"encoding/json"
	"errors"
	"fmt"
	"os"
	"path/filepath"
	"slices"
	"strings"
	"time"

	"github.com/transportd/transportd/transport/admin/config"
)

// The admin center (issue 15): Get/Set-EcpVirtualDirectory, the role
// groups (Get-RoleGroup, Add/Remove/Get-RoleGroupMember) and the admin
// audit log (Search-AdminAuditLog).

// EcpVirtualDirectoryRecord shows the admin center's settings with
// Get-EcpVirtualDirectory's property names.
func EcpVirtualDirectoryRecord(c *config.Config) Record {
	a := &c.AdminCenter
	timeout := a.SessionTimeoutMinutes
	if timeout == 0 {
		timeout = DefaultSessionTimeoutMinutes
	}
	return Record{
		{Name: "Identity", Value: c.Server.Name + `\ecp (Default Web Site)`},
		{Name: "Name", Value: "ecp (Default Web Site)"},
		{Name: "Server", Value: c.Server.Name},
		{Name: "InternalUrl", Value: a.URL()},
		{Name: "ExternalUrl", Value: ""},
		{Name: "AdminEnabled", Value: FormatBool(!a.AdminDisabled)},
		{Name: "TlsCertificateName", Value: a.TlsCertificateName},
		{Name: "SessionTimeoutMinutes", Value: fmt.Sprint(timeout)},
		{Name: "FormsAuthentication", Value: "True"},
		{Name: "Listening", Value: FormatBool(!a.AdminDisabled && a.HasMembers())},
	}
}

// DefaultSessionTimeoutMinutes is how long an admin center session lasts
// without use when SessionTimeoutMinutes is not set.
const DefaultSessionTimeoutMinutes = 20

// GetEcpVirtualDirectory returns the admin center's settings.
func (m *Manager) GetEcpVirtualDirectory() (Record, error) {
	c, err := m.Load()
	if err != nil {
		return nil, err
	}
	return EcpVirtualDirectoryRecord(c), nil
}

// SetEcpVirtualDirectory changes InternalUrl, AdminEnabled,
// TlsCertificateName and SessionTimeoutMinutes.
func (m *Manager) SetEcpVirtualDirectory(ps Params) error {
	_, err := config.Update(m.ConfigPath, func(c *config.Config) error {
		a := &c.AdminCenter
		for len(ps) > 0 {
			p := ps[0]
			ps = ps[1:]
			switch strings.ToLower(p.Name) {
			case "internalurl":
				if _, _, err := config.ParseAdminCenterURL(p.Value); err != nil {
					return err
				}
				a.InternalUrl = strings.TrimSpace(p.Value)
				if a.InternalUrl == config.DefaultAdminCenterURL {
					a.InternalUrl = ""
				}
			case "adminenabled":
				b, err := ParseBool(paramValue(p))
				if err != nil {
					return fmt.Errorf("-AdminEnabled %q: %w", p.Value, err)
				}
				a.AdminDisabled = !b
			case "tlscertificatename":
				a.TlsCertificateName = strings.TrimSpace(p.Value)
			case "sessiontimeoutminutes":
				var n int
				if _, err := fmt.Sscan(p.Value, &n); err != nil || n < 1 || n > 24*60 {
					return fmt.Errorf("-SessionTimeoutMinutes %q: give a number of minutes from 1 to 1440", p.Value)
				}
				a.SessionTimeoutMinutes = n
			default:
				return fmt.Errorf("-%s is not a setting of the admin center", p.Name)
			}
		}
		return nil
	})
	return err
}

func paramValue(p Param) string {
	if p.Switch {
		return "$true"
	}
	return p.Value
}

// roleGroupName resolves a role group by name (any case; wildcards *).
func roleGroupNames(identity string) ([]string, error) {
	var out []string
	for _, n := range config.RoleGroupNames {
		if identity == "" || MatchIdentity(identity, n) {
			out = append(out, n)
		}
	}
	if len(out) == 0 && identity != "" {
		return nil, noMatch("role group", identity, config.RoleGroupNames)
	}
	return out, nil
}

// GetRoleGroups returns the role groups matching identity ("" for all).
func (m *Manager) GetRoleGroups(identity string) ([]Record, error) {
	c, err := m.Load()
	if err != nil {
		return nil, err
	}
	names, err := roleGroupNames(identity)
	if err != nil {
		return nil, err
	}
	var out []Record
	for _, n := range names {
		out = append(out, Record{
			{Name: "Identity", Value: n}, {Name: "Name", Value: n},
			{Name: "Members", Value: "{" + strings.Join(c.AdminCenter.Members(n), ", ") + "}"},
			{Name: "Description", Value: config.RoleGroupDescriptions[n]},
			{Name: "RoleGroupType", Value: "BuiltIn"},
		})
	}
	return out, nil
}

// GetRoleGroupMembers returns the members of the role group identity, as mailboxes.
func (m *Manager) GetRoleGroupMembers(identity string) ([]Record, error) {
	if identity == "" {
		return nil, errors.New("-Identity is required: the role group, such as \"Organization Management\"")
	}
	c, err := m.Load()
	if err != nil {
		return nil, err
	}
	names, err := roleGroupNames(identity)
	if err != nil {
		return nil, err
	}
	var out []Record
	for _, n := range names {
		for _, mem := range c.AdminCenter.Members(n) {
			rec := Record{{Name: "Identity", Value: mem}, {Name: "Name", Value: mem}, {Name: "RecipientType", Value: "UserMailbox"}}
			if mb := c.FindMailboxUser(mem); mb != nil {
				rec = append(rec, Property{Name: "PrimarySmtpAddress", Value: mb.PrimarySmtpAddress})
			}
			out = append(out, rec)
		}
	}
	return out, nil
}

// AddRoleGroupMember adds a mailbox to a role group; it reports whether it
// was not a member yet.
func (m *Manager) AddRoleGroupMember(group, member string) (bool, error) {
	return m.changeRoleGroup(group, member, true)
}

// RemoveRoleGroupMember takes a mailbox out of a role group; it reports
// whether it was a member.
func (m *Manager) RemoveRoleGroupMember(group, member string) (bool, error) {
	return m.changeRoleGroup(group, member, false)
}

func (m *Manager) changeRoleGroup(group, member string, add bool) (bool, error) {
	if strings.TrimSpace(member) == "" {
		return false, errors.New("-Member is required: a mailbox name or address")
	}
	names, err := roleGroupNames(group)
	if err != nil {
		return false, err
	}
	if len(names) != 1 {
		return false, fmt.Errorf("role group %q names %d role groups: give one of %s", group, len(names), strings.Join(config.RoleGroupNames, ", "))
	}
	name := names[0]
	changed := false
	_, err = config.Update(m.ConfigPath, func(c *config.Config) error {
		mb := c.FindMailboxUser(member)
		who := member
		if mb != nil {
			who = mb.Name
		} else if add {
			return fmt.Errorf("%q is not a mailbox: create it first with New-Mailbox -Name %s -PrimarySmtpAddress ... -Password (members sign in with their mailbox password)", member, member)
		}
		a := &c.AdminCenter
		i := slices.IndexFunc(a.RoleGroups, func(g config.RoleGroup) bool { return strings.EqualFold(g.Name, name) })
		if i < 0 {
			if !add {
				return nil
			}
			a.RoleGroups = append(a.RoleGroups, config.RoleGroup{Name: name})
			i = len(a.RoleGroups) - 1
		}
		g := &a.RoleGroups[i]
		j := slices.IndexFunc(g.Members, func(s string) bool { return strings.EqualFold(s, who) || strings.EqualFold(s, member) })
		switch {
		case add && j < 0:
			g.Members = append(g.Members, who)
			changed = true
		case !add && j >= 0:
			g.Members = slices.Delete(g.Members, j, j+1)
			changed = true
			if len(g.Members) == 0 {
				a.RoleGroups = slices.Delete(a.RoleGroups, i, i+1)
			}
		}
		return nil
	})
	return changed, err
}

// ---- the admin audit log ----

// AuditFileName is the admin audit log in the data folder: one JSON
// object a line, appended.
const AuditFileName = "adminaudit.log"

// AuditEntry is one change recorded in the admin audit log, with the
// property names of Exchange's Search-AdminAuditLog.
type AuditEntry struct {
	RunDate    time.Time `json:"RunDate"`
	Caller     string    `json:"Caller"`
	ClientIP   string    `json:"ClientIP,omitempty"`
	CmdletName string    `json:"CmdletName"`
	// CommandLine is the exact shell line that made the change.
	CommandLine    string `json:"CommandLine"`
	ObjectModified string `json:"ObjectModified,omitempty"`
	Succeeded      bool   `json:"Succeeded"`
	Error          string `json:"Error,omitempty"`
	// Source says where the change was made: AdminCenter, Shell or CLI.
	Source string `json:"Source"`
}

// AuditFile returns the admin audit log of the configuration c.
func AuditFile(c *config.Config) string { return filepath.Join(c.DataDir(), AuditFileName) }

// AppendAudit appends e to the admin audit log of the configuration at configPath's data folder.
func AppendAudit(path string, e AuditEntry) error {
	b, err := json.Marshal(e)
	if err != nil {
		return err
	}
	f, err := os.OpenFile(path, os.O_CREATE|os.O_WRONLY|os.O_APPEND, 0o600)
	if err != nil {
		return fmt.Errorf("admin audit log: %w", err)
	}
	if _, err := f.Write(append(b, '\n')); err != nil {
		f.Close()
		return fmt.Errorf("admin audit log: %w", err)
	}
	if err := f.Sync(); err != nil {
		f.Close()
		return fmt.Errorf("admin audit log: %w", err)
	}
	return f.Close()
}

// AuditFilter selects entries of the admin audit log.
type AuditFilter struct {
	Cmdlets    []string
	UserIds    []string
	Start, End time.Time
	// ObjectIds match ObjectModified (wildcards *).
	ObjectIds []string
	// ResultSize caps the entries returned, newest first; 0: 1000 (Exchange's default).
	ResultSize int
}

// SearchAudit reads the admin audit log at path, newest first.
func SearchAudit(path string, f AuditFilter) ([]AuditEntry, error) {
	file, err := os.Open(path)
	if errors.Is(err, os.ErrNotExist) {
		return nil, nil
	}
	if err != nil {
		return nil, fmt.Errorf("admin audit log: %w", err)
	}
	defer file.Close()
	var out []AuditEntry
	sc := bufio.NewScanner(file)
	sc.Buffer(make([]byte, 64<<10), 1<<20)
	for sc.Scan() {
		var e AuditEntry
		if json.Unmarshal(sc.Bytes(), &e) != nil {
			continue // a line cut by a crash
		}
		if len(f.Cmdlets) > 0 && !slices.ContainsFunc(f.Cmdlets, func(c string) bool { return MatchIdentity(strings.TrimSpace(c), e.CmdletName) }) {
			continue
		}
		if len(f.UserIds) > 0 && !slices.ContainsFunc(f.UserIds, func(u string) bool { return MatchIdentity(strings.TrimSpace(u), e.Caller) }) {
			continue
		}
		if len(f.ObjectIds) > 0 && !slices.ContainsFunc(f.ObjectIds, func(o string) bool { return MatchIdentity(strings.TrimSpace(o), e.ObjectModified) }) {
			continue
		}
		if !f.Start.IsZero() && e.RunDate.Before(f.Start) || !f.End.IsZero() && e.RunDate.After(f.End) {
			continue
		}
		out = append(out, e)
	}
	if err := sc.Err(); err != nil {
		return nil, fmt.Errorf("admin audit log: %w", err)
	}
	slices.Reverse(out)
	n := f.ResultSize
	if n == 0 {
		n = 1000
	}
	if len(out) > n {
		out = out[:n]
	}
	return out, nil
}

// AuditRecord shows an audit entry with Search-AdminAuditLog's property names.
func AuditRecord(e AuditEntry) Record {
	return Record{
		{Name: "RunDate", Value: e.RunDate.Local().Format("2006-01-02 15:04:05")},
		{Name: "Caller", Value: e.Caller}, {Name: "ClientIP", Value: e.ClientIP},
		{Name: "CmdletName", Value: e.CmdletName}, {Name: "ObjectModified", Value: e.ObjectModified},
		{Name: "CommandLine", Value: e.CommandLine},
		{Name: "Succeeded", Value: FormatBool(e.Succeeded)}, {Name: "Error", Value: e.Error},
		{Name: "Source", Value: e.Source},
	}
}
