package config

import (
	"crypto/sha256"
	"encoding/hex"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"io/fs"
	"os"
	"path/filepath"
	"slices"
	"strings"

	yaml "go.yaml.in/yaml/v3"

	"github.com/transportd/transportd/policies/value"
	"github.com/transportd/transportd/transport/durable"
	"github.com/transportd/transportd/transport/mail/sendconnector"
)

// OrgDoc is the organization-wide part of the configuration (issue 14):
// what every member of a cluster shares, as Exchange keeps it once in
// Active Directory. Receive connectors, the Server, Logging and Cluster
// sections and the Set-TransportService settings are each member's own.
// It holds secrets (send connector passwords, mailbox password hashes,
// private keys): the cluster seals it before it leaves the member.
type OrgDoc struct {
	SendConnectors     []sendconnector.SendConnector `json:"send_connectors"`
	AcceptedDomains    []AcceptedDomain              `json:"accepted_domains"`
	Mailboxes          []Mailbox                     `json:"mailboxes"`
	Transport          OrgTransport                  `json:"transport"`
	DkimSigningConfigs []DkimSigningConfig           `json:"dkim_signing_configs"`
	ConnectionFilter   ConnectionFilterConfig        `json:"connection_filter"`
	// RoleGroups are the admin center's role groups and their members
	// (Add-RoleGroupMember): who may sign in is the organization's.
	RoleGroups []RoleGroup `json:"role_groups"`
	// Files are the certificate store's files and the DKIM keys, by path
	// relative to the data folder ("certs/<name>", "dkim/<domain>/<file>").
	Files map[string][]byte `json:"files"`
}

// OrgTransport are the Transport settings of the organization
// (Set-TransportConfig); the rest of the section is the server's
// (Set-TransportService, folders, the Maildir owner).
type OrgTransport struct {
	ExternalPostmasterAddress   string         `json:"ExternalPostmasterAddress" yaml:"ExternalPostmasterAddress"`
	AuthFailureLockoutThreshold int            `json:"AuthFailureLockoutThreshold" yaml:"AuthFailureLockoutThreshold"`
	AuthFailureWindow           value.TimeSpan `json:"AuthFailureWindow" yaml:"AuthFailureWindow"`
	AuthFailureLockoutDuration  value.TimeSpan `json:"AuthFailureLockoutDuration" yaml:"AuthFailureLockoutDuration"`
	MaxSendSize                 SizeLimit      `json:"MaxSendSize" yaml:"MaxSendSize"`
	MaxReceiveSize              SizeLimit      `json:"MaxReceiveSize" yaml:"MaxReceiveSize"`
	ExternalDelayDsnEnabled     bool           `json:"ExternalDelayDsnEnabled" yaml:"ExternalDelayDsnEnabled"`
	InternalDelayDsnEnabled     bool           `json:"InternalDelayDsnEnabled" yaml:"InternalDelayDsnEnabled"`
	MailboxDeliveryLmtpServer   string         `json:"MailboxDeliveryLmtpServer" yaml:"MailboxDeliveryLmtpServer"`
}

// orgFolders are the data folder's folders whose files are organization-wide.
var orgFolders = []string{"certs", "dkim"}

// orgFileSkipped are files of those folders that stay the member's own.
func orgFileSkipped(rel string) bool {
	base := filepath.Base(rel)
	return strings.HasPrefix(base, ".") || base == "services.json" || strings.HasSuffix(base, ".tmp")
}

// OrgDoc returns the organization-wide part of c, with the files of the
// certificate store and the DKIM keys read from its data folder.
func (c *Config) OrgDoc() (OrgDoc, error) {
	d := OrgDoc{
		SendConnectors: slices.Clone(c.SendConnectors), AcceptedDomains: slices.Clone(c.AcceptedDomains),
		Mailboxes: slices.Clone(c.Mailboxes), DkimSigningConfigs: slices.Clone(c.DkimSigningConfigs),
		ConnectionFilter: c.ConnectionFilter, RoleGroups: slices.Clone(c.AdminCenter.RoleGroups),
		Transport: orgTransportOf(c.Transport),
		Files:     map[string][]byte{},
	}
	err := c.walkOrgFiles(func(p, rel string) error {
		data, err := os.ReadFile(p)
		if err != nil {
			return err
		}
		d.Files[rel] = data
		return nil
	})
	if err != nil {
		return OrgDoc{}, fmt.Errorf("reading the organization's files: %w", err)
	}
	return d, nil
}

// orgTransportOf is the organization-wide part of the transport settings.
func orgTransportOf(t TransportConfig) OrgTransport {
	return OrgTransport{ExternalPostmasterAddress: t.ExternalPostmasterAddress, AuthFailureLockoutThreshold: t.AuthFailureLockoutThreshold,
		AuthFailureWindow: t.AuthFailureWindow, AuthFailureLockoutDuration: t.AuthFailureLockoutDuration, MaxSendSize: t.MaxSendSize,
		MaxReceiveSize: t.MaxReceiveSize, ExternalDelayDsnEnabled: t.ExternalDelayDsnEnabled, InternalDelayDsnEnabled: t.InternalDelayDsnEnabled,
		MailboxDeliveryLmtpServer: t.MailboxDeliveryLmtpServer}
}

// walkOrgFiles calls fn with the path and the slash-separated path
// relative to the data folder of every organization-wide file (the
// certificate store's and the DKIM keys'; not the member's own files).
func (c *Config) walkOrgFiles(fn func(p, rel string) error) error {
	for _, f := range orgFolders {
		root := filepath.Join(c.DataDir(), f)
		err := filepath.WalkDir(root, func(p string, e fs.DirEntry, err error) error {
			if err != nil {
				if os.IsNotExist(err) {
					return nil
				}
				return err
			}
			if !e.Type().IsRegular() {
				return nil
			}
			rel, _ := filepath.Rel(c.DataDir(), p)
			if orgFileSkipped(rel) {
				return nil
			}
			return fn(p, filepath.ToSlash(rel))
		})
		if err != nil {
			return fmt.Errorf("%s: %w", root, err)
		}
	}
	return nil
}

// Hash is a digest of the document's contents, the same on every member
// for the same configuration.
func (d OrgDoc) Hash() string {
	data, _ := json.Marshal(d) // maps are marshalled in key order
	s := sha256.Sum256(data)
	return hex.EncodeToString(s[:])
}

// ApplyOrgDoc replaces c's organization-wide part with d; c's own parts
// stay. The files of d are written to the data folder first (added or
// replaced), and the certificate and DKIM files d lacks are removed
// (Remove-ExchangeCertificate on another member): a member's own
// certificate that the cluster has not seen yet is kept by the caller,
// which merges it into d (MergeOrgDocs). Nothing is saved: the caller
// saves c (with Update, which validates the whole as every change).
func (c *Config) ApplyOrgDoc(d OrgDoc) error {
	if err := c.removeOrgFilesNotIn(d.Files); err != nil {
		return err
	}
	for rel, data := range d.Files {
		clean := filepath.Clean(filepath.FromSlash(rel))
		top, _, _ := strings.Cut(filepath.ToSlash(clean), "/")
		if filepath.IsAbs(clean) || strings.HasPrefix(clean, "..") || !slices.Contains(orgFolders, top) || orgFileSkipped(clean) {
			return fmt.Errorf("the cluster's configuration names a file outside the certificate and DKIM folders: %q", rel)
		}
		p := filepath.Join(c.DataDir(), clean)
		if old, err := os.ReadFile(p); err == nil && string(old) == string(data) {
			continue
		}
		if err := os.MkdirAll(filepath.Dir(p), 0o700); err != nil {
			return err
		}
		if err := durable.WriteFile(p, data, 0o600); err != nil {
			return fmt.Errorf("writing %s: %w", p, err)
		}
	}
	c.SendConnectors = d.SendConnectors
	c.AcceptedDomains = d.AcceptedDomains
	c.Mailboxes = d.Mailboxes
	c.DkimSigningConfigs = d.DkimSigningConfigs
	c.ConnectionFilter = d.ConnectionFilter
	c.AdminCenter.RoleGroups = d.RoleGroups
	t, o := &c.Transport, d.Transport
	t.ExternalPostmasterAddress, t.AuthFailureLockoutThreshold = o.ExternalPostmasterAddress, o.AuthFailureLockoutThreshold
	t.AuthFailureWindow, t.AuthFailureLockoutDuration = o.AuthFailureWindow, o.AuthFailureLockoutDuration
	t.MaxSendSize, t.MaxReceiveSize = o.MaxSendSize, o.MaxReceiveSize
	t.ExternalDelayDsnEnabled, t.InternalDelayDsnEnabled = o.ExternalDelayDsnEnabled, o.InternalDelayDsnEnabled
	t.MailboxDeliveryLmtpServer = o.MailboxDeliveryLmtpServer
	if c.stated != nil {
		// An empty list from the cluster is stated: "remove them all".
		for _, sec := range []string{secSendConnectors, secAcceptedDomains, secMailboxes} {
			c.stated[sec] = true
		}
	}
	return nil
}

// orgSections is the organization-wide part in the config file's own YAML
// form: it is read back with the config file's parser, so that every type
// (credentials, address spaces, smart hosts, sizes, time spans) takes the
// form it has in the file.
type orgSections struct {
	SendConnectors     []sendconnector.SendConnector `yaml:"SendConnectors"`
	AcceptedDomains    []AcceptedDomain              `yaml:"AcceptedDomains"`
	DkimSigningConfigs []DkimSigningConfig           `yaml:"DkimSigningConfigs"`
	ConnectionFilter   ConnectionFilterConfig        `yaml:"ConnectionFilter"`
	Transport          OrgTransport                  `yaml:"Transport"`
	AdminCenter        orgAdminCenter                `yaml:"AdminCenter,omitempty"`
}

// orgAdminCenter is the organization's part of the AdminCenter section:
// the role groups; the binding and its certificate are the member's.
type orgAdminCenter struct {
	RoleGroups []RoleGroup `yaml:"RoleGroups,omitempty"`
}

// orgWire is how an OrgDoc travels: the sections as config-file YAML
// (passwords inline), the mailbox list as the mailbox file's YAML.
type orgWire struct {
	Sections  string            `json:"sections"`
	Mailboxes string            `json:"mailboxes"`
	Files     map[string][]byte `json:"files"`
}

// MarshalJSON encodes d as config-file YAML inside JSON.
func (d OrgDoc) MarshalJSON() ([]byte, error) {
	sec, err := yaml.Marshal(orgSections{d.SendConnectors, d.AcceptedDomains, d.DkimSigningConfigs, d.ConnectionFilter, d.Transport, orgAdminCenter{d.RoleGroups}})
	if err != nil {
		return nil, fmt.Errorf("encoding the organization's configuration: %w", err)
	}
	mbx, err := yaml.Marshal(d.Mailboxes)
	if err != nil {
		return nil, fmt.Errorf("encoding the mailboxes: %w", err)
	}
	return json.Marshal(orgWire{Sections: string(sec), Mailboxes: string(mbx), Files: d.Files})
}

// UnmarshalJSON decodes what MarshalJSON made, with the config file's
// parser (strict: an unknown key is an error).
func (d *OrgDoc) UnmarshalJSON(data []byte) error {
	var w orgWire
	if err := json.Unmarshal(data, &w); err != nil {
		return err
	}
	c, err := parse(filepath.Join(os.TempDir(), "transportd-cluster-org", "org.yaml"), []byte(w.Sections))
	if err != nil {
		return fmt.Errorf("the organization's configuration: %w", err)
	}
	var mbx []Mailbox
	dec := yaml.NewDecoder(strings.NewReader(w.Mailboxes))
	dec.KnownFields(true)
	if err := dec.Decode(&mbx); err != nil && !errors.Is(err, io.EOF) {
		return fmt.Errorf("the organization's mailboxes: %w", err)
	}
	*d = OrgDoc{SendConnectors: c.SendConnectors, AcceptedDomains: c.AcceptedDomains, Mailboxes: mbx,
		DkimSigningConfigs: c.DkimSigningConfigs, ConnectionFilter: c.ConnectionFilter, Files: w.Files,
		RoleGroups: c.AdminCenter.RoleGroups,
		Transport:  orgTransportOf(c.Transport)}
	return nil
}

// removeOrgFilesNotIn removes the certificate and DKIM files of c's data
// folder that keep does not hold (the member's own files, such as the
// certificate store's services.json, stay).
func (c *Config) removeOrgFilesNotIn(keep map[string][]byte) error {
	return c.walkOrgFiles(func(p, rel string) error {
		if _, ok := keep[rel]; ok {
			return nil
		}
		if err := os.Remove(p); err != nil && !os.IsNotExist(err) {
			return fmt.Errorf("removing %s, which the cluster's configuration no longer has: %w", p, err)
		}
		return nil
	})
}
