package config

import (
	"fmt"
	"net"
	"net/netip"
	"net/url"
	"strings"
)

// The admin center (issue 15): the pages Exchange serves from its ECP
// virtual directory, and the role groups whose members may sign in.

// DefaultAdminCenterURL is where the admin center is served when
// AdminCenter.InternalUrl is empty: loopback only, HTTPS.
const DefaultAdminCenterURL = "https://127.0.0.1:8443/ecp"

// The role groups transportd knows, with Exchange's names.
const (
	// RoleOrganizationManagement may do everything.
	RoleOrganizationManagement = "Organization Management"
	// RoleViewOnlyOrganizationManagement may see everything and change nothing.
	RoleViewOnlyOrganizationManagement = "View-Only Organization Management"
	// RoleRecipientManagement may manage mailboxes.
	RoleRecipientManagement = "Recipient Management"
)

// RoleGroupNames lists the role groups in the order Get-RoleGroup shows them.
var RoleGroupNames = []string{RoleOrganizationManagement, RoleRecipientManagement, RoleViewOnlyOrganizationManagement}

// RoleGroupDescriptions says what each role group may do.
var RoleGroupDescriptions = map[string]string{
	RoleOrganizationManagement:         "Members may manage everything in the admin center: connectors, certificates, domains, mailboxes, queues.",
	RoleViewOnlyOrganizationManagement: "Members may see every page of the admin center but change nothing.",
	RoleRecipientManagement:            "Members may manage mailboxes: create, enable and disable them, reset passwords, change addresses.",
}

// AdminCenterConfig is the admin center's settings (Set-EcpVirtualDirectory)
// and the members of its role groups (Add-RoleGroupMember).
type AdminCenterConfig struct {
	// InternalUrl is where the admin center is served, https://IP:PORT/ecp;
	// empty: DefaultAdminCenterURL. The host must be an IP address of this
	// machine (the binding); only HTTPS is served.
	InternalUrl string `yaml:"InternalUrl,omitempty"`
	// AdminDisabled turns the admin center off (Set-EcpVirtualDirectory
	// -AdminEnabled $false). Stored negated so that the default is on.
	AdminDisabled bool `yaml:"AdminDisabled,omitempty"`
	// TlsCertificateName picks the certificate served, in the receive
	// connectors' <I>issuer<S>subject form or a thumbprint; empty: the
	// certificate the Default Frontend connector serves.
	TlsCertificateName string `yaml:"TlsCertificateName,omitempty"`
	// SessionTimeout is how long a signed-in session lasts without use,
	// in minutes; 0: 20 minutes.
	SessionTimeoutMinutes int `yaml:"SessionTimeoutMinutes,omitempty"`
	// RoleGroups hold the members (mailbox names) of each role group.
	RoleGroups []RoleGroup `yaml:"RoleGroups,omitempty"`
}

// RoleGroup is one role group and its members.
type RoleGroup struct {
	// Name is one of RoleGroupNames.
	Name string `yaml:"Name"`
	// Members are mailbox names.
	Members []string `yaml:"Members,flow"`
}

// URL returns the InternalUrl in force.
func (a *AdminCenterConfig) URL() string {
	if a.InternalUrl == "" {
		return DefaultAdminCenterURL
	}
	return a.InternalUrl
}

// Binding returns the address and port the admin center listens on, and
// the path it is served under ("/ecp").
func (a *AdminCenterConfig) Binding() (netip.AddrPort, string, error) {
	return ParseAdminCenterURL(a.URL())
}

// ParseAdminCenterURL checks an InternalUrl: https, an IP address as host
// (the binding), an explicit or default (443) port.
func ParseAdminCenterURL(s string) (netip.AddrPort, string, error) {
	u, err := url.Parse(strings.TrimSpace(s))
	if err != nil {
		return netip.AddrPort{}, "", fmt.Errorf("InternalUrl %q: %w", s, err)
	}
	if !strings.EqualFold(u.Scheme, "https") {
		return netip.AddrPort{}, "", fmt.Errorf("InternalUrl %q: the admin center is served over HTTPS only (passwords are typed into it): use https://IP:PORT/ecp", s)
	}
	host, port := u.Hostname(), u.Port()
	if port == "" {
		port = "443"
	}
	ip, err := netip.ParseAddr(host)
	if err != nil {
		return netip.AddrPort{}, "", fmt.Errorf("InternalUrl %q: the host must be an IP address of this machine to listen on, such as 127.0.0.1 or 0.0.0.0 (a host name is not a binding)", s)
	}
	ap, err := netip.ParseAddrPort(net.JoinHostPort(ip.String(), port))
	if err != nil {
		return netip.AddrPort{}, "", fmt.Errorf("InternalUrl %q: port: %w", s, err)
	}
	p := strings.TrimRight(u.Path, "/")
	if p == "" {
		p = "/ecp"
	}
	return ap, p, nil
}

// Members returns the members of the role group called name (any case).
func (a *AdminCenterConfig) Members(name string) []string {
	for _, g := range a.RoleGroups {
		if strings.EqualFold(g.Name, name) {
			return g.Members
		}
	}
	return nil
}

// GroupsOf returns the role groups mailbox (by Name) is a member of.
func (a *AdminCenterConfig) GroupsOf(mailbox string) []string {
	var out []string
	for _, g := range a.RoleGroups {
		for _, m := range g.Members {
			if strings.EqualFold(m, mailbox) {
				out = append(out, g.Name)
				break
			}
		}
	}
	return out
}

// HasMembers reports whether any role group has a member: until then
// nobody could sign in, and the daemon opens no port for the admin center.
func (a *AdminCenterConfig) HasMembers() bool {
	for _, g := range a.RoleGroups {
		if len(g.Members) > 0 {
			return true
		}
	}
	return false
}

// validateAdminCenter checks the admin center settings.
func (c *Config) validateAdminCenter() []error {
	a := &c.AdminCenter
	var errs []error
	if _, _, err := a.Binding(); err != nil {
		errs = append(errs, fmt.Errorf("AdminCenter: %w", err))
	}
	if a.SessionTimeoutMinutes < 0 {
		errs = append(errs, fmt.Errorf("AdminCenter: SessionTimeoutMinutes %d is negative", a.SessionTimeoutMinutes))
	}
	for _, g := range a.RoleGroups {
		known := false
		for _, n := range RoleGroupNames {
			known = known || strings.EqualFold(n, g.Name)
		}
		if !known {
			errs = append(errs, fmt.Errorf("AdminCenter: role group %q does not exist: use %s", g.Name, strings.Join(RoleGroupNames, ", ")))
		}
		for _, m := range g.Members {
			if c.FindMailboxUser(m) == nil {
				errs = append(errs, fmt.Errorf("AdminCenter: role group %q: member %q is not a mailbox (Remove-RoleGroupMember %q -Member %q)", g.Name, m, g.Name, m))
			}
		}
	}
	return errs
}
