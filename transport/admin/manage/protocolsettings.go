package manage

import (
	"errors"
	"fmt"
	"strings"

	"github.com/transportd/transportd/transport/admin/config"
)

// Protocol names the client access protocol of Get/Set-ImapSettings
// ("Imap") and Get/Set-PopSettings ("Pop").
type Protocol string

// The two protocols with settings.
const (
	ProtocolImap Protocol = "Imap"
	ProtocolPop  Protocol = "Pop"
)

// display is Exchange's name of the service: IMAP4 or POP3.
func (p Protocol) display() string {
	if p == ProtocolImap {
		return "IMAP4"
	}
	return "POP3"
}

// settingsOf returns the protocol's settings in c, and its legacy
// server, port and encryption fields.
func settingsOf(c *config.Config, p Protocol) (*config.ProtocolSettings, *string, *int, *config.Encryption) {
	cs := &c.ClientSettings
	if p == ProtocolImap {
		return &cs.Imap, &cs.ImapServer, &cs.ImapPort, &cs.ImapEncryption
	}
	return &cs.Pop, &cs.PopServer, &cs.PopPort, &cs.PopEncryption
}

// checkServer refuses a -Server that is not this server (Exchange's
// ServerIdParameter: its Name or Fqdn).
func checkServer(c *config.Config, ps *Params) error {
	if srv, ok := ps.TakeExact("Server"); ok {
		return checkServerIdentity(c, []string{srv})
	}
	return nil
}

// ProtocolSettingsRecord shows the protocol's settings as
// Get-ImapSettings/Get-PopSettings do: the effective ones, the first
// ExternalConnectionSettings entry being the server clients are told about.
func ProtocolSettingsRecord(c *config.Config, p Protocol) Record {
	eff := c.ClientSettings.Effective()
	ps := eff.Imap
	if p == ProtocolPop {
		ps = eff.Pop
	}
	ps.LoginType = ps.EffectiveLoginType()
	r := Record{{Name: "Identity", Value: c.Server.Name}, {Name: "Server", Value: c.Server.Name}}
	return append(r, Properties(&ps)...)
}

// GetProtocolSettings is Get-ImapSettings (p "Imap") or Get-PopSettings
// (p "Pop"); -Server, when given, must name this server.
func (m *Manager) GetProtocolSettings(p Protocol, ps Params) (Record, error) {
	c, err := m.Load()
	if err != nil {
		return nil, err
	}
	if err := checkServer(c, &ps); err != nil {
		return nil, err
	}
	if len(ps) > 0 {
		return nil, fmt.Errorf("unknown parameter -%s (Get-%sSettings takes -Server)", ps[0].Name, p)
	}
	return ProtocolSettingsRecord(c, p), nil
}

// SetProtocolSettings is Set-ImapSettings (p "Imap") or Set-PopSettings
// (p "Pop"). -ExternalConnectionSettings replaces ImapServer, ImapPort and
// ImapEncryption (PopServer, ...) as what clients are told about; a list
// parameter takes a whole list (or, from the shell, @{Add=...;Remove=...}). The
// settings that the POP3/IMAP server itself applies are saved with one
// warning line naming them.
func (m *Manager) SetProtocolSettings(p Protocol, ps Params) error {
	var inert []string
	_, err := config.Update(m.ConfigPath, func(c *config.Config) error {
		ps := append(Params(nil), ps...)
		if err := checkServer(c, &ps); err != nil {
			return err
		}
		if len(ps) == 0 {
			return fmt.Errorf("nothing to set: give parameters such as -ExternalConnectionSettings mail.contoso.com:%s", map[Protocol]string{ProtocolImap: "993:SSL", ProtocolPop: "995:SSL"}[p])
		}
		settings, server, port, enc := settingsOf(c, p)
		external := false
		inert = inert[:0]
		names := FieldNames(settings)
		for _, q := range ps {
			name, err := ResolveName(names, q.Name)
			if err != nil {
				return err
			}
			if name == "ExternalConnectionSettings" {
				external = true
			}
			if !contains(config.ActiveProtocolSettings, name) {
				inert = append(inert, "-"+name)
			}
		}
		if external && len(settings.ExternalConnectionSettings) == 0 && *server != "" {
			// An @{Add=...} change starts from what is advertised now.
			eff := c.ClientSettings.Effective()
			cur := eff.Imap
			if p == ProtocolPop {
				cur = eff.Pop
			}
			settings.ExternalConnectionSettings = cur.ExternalConnectionSettings
		}
		if err := applyParams(settings, ps); err != nil {
			return err
		}
		if external { // the list is what clients are told about now
			def := config.DefaultClientSettings()
			*server, *port, *enc = "", def.ImapPort, def.ImapEncryption
			if p == ProtocolPop {
				*port, *enc = def.PopPort, def.PopEncryption
			}
		}
		return c.ClientSettings.Validate()
	})
	if err != nil {
		return err
	}
	if len(inert) > 0 && m.Warn != nil {
		m.Warn(fmt.Sprintf("%s saved but not applied: transportd does not serve %s (Dovecot or another server does); set %s in that server's configuration",
			strings.Join(inert, ", "), p.display(), map[bool]string{true: "it", false: "them"}[len(inert) == 1]))
	}
	return nil
}

// ErrNoProtocolServer is wrapped by the connectivity tests when neither
// ExternalConnectionSettings nor InternalConnectionSettings names a server.
var ErrNoProtocolServer = errors.New("no server to test")
