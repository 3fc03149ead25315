package manage

import (
	"strings"
	"testing"

	"github.com/transportd/transportd/transport/admin/config"
)

// Set-ImapSettings -ExternalConnectionSettings replaces ImapServer as what
// clients are told about; the settings only the IMAP server applies are
// saved with one warning line naming them; another -Server is refused.
func TestSetImapSettings(t *testing.T) {
	m := newManager(t)
	var warnings []string
	m.Warn = func(s string) { warnings = append(warnings, s) }
	if _, err := config.Update(m.ConfigPath, func(c *config.Config) error {
		c.ClientSettings.ImapServer = "imap.contoso.com"
		return nil
	}); err != nil {
		t.Fatal(err)
	}
	// The list replaces ImapServer.
	if err := m.SetProtocolSettings(ProtocolImap, Params{{Name: "ExternalConnectionSettings", Value: "imap.contoso.com:993:SSL,mail.contoso.com:143:TLS"}}); err != nil {
		t.Fatal(err)
	}
	c := load(t, m)
	if got := formatList(c.ClientSettings.Imap.ExternalConnectionSettings); got != "imap.contoso.com:993:SSL,mail.contoso.com:143:TLS" {
		t.Errorf("ExternalConnectionSettings = %s", got)
	}
	if c.ClientSettings.ImapServer != "" {
		t.Errorf("ImapServer %q kept beside the list", c.ClientSettings.ImapServer)
	}
	if len(warnings) != 0 {
		t.Errorf("warned about an active setting: %q", warnings)
	}
	if err := m.SetProtocolSettings(ProtocolImap, Params{{Name: "ExternalConnectionSettings", Value: "mail.contoso.com:993:SSL"}, {Name: "ProtocolLogEnabled", Value: "$true"}, {Name: "LogFileLocation", Value: `C:\Imap4Logging`}}); err != nil {
		t.Fatal(err)
	}
	eff := load(t, m).ClientSettings.Effective()
	if eff.ImapServer != "mail.contoso.com" || eff.ImapPort != 993 || eff.ImapEncryption != config.EncryptionSSL {
		t.Errorf("advertised IMAP = %s:%d:%s", eff.ImapServer, eff.ImapPort, eff.ImapEncryption)
	}
	if len(warnings) != 1 || !strings.Contains(warnings[0], "-ProtocolLogEnabled, -LogFileLocation saved but not applied") || strings.Contains(warnings[0], "\n") {
		t.Errorf("warnings = %q, want one line naming the two inert settings", warnings)
	}
	if err := m.SetProtocolSettings(ProtocolImap, Params{{Name: "Server", Value: "MBX01"}, {Name: "Banner", Value: "x"}}); err == nil || !strings.Contains(err.Error(), "MBX01") {
		t.Errorf("-Server MBX01: %v", err)
	}
	for _, bad := range []string{"mail.contoso.com", "mail.contoso.com:99999:SSL", "mail.contoso.com:993:SSH"} {
		if err := m.SetProtocolSettings(ProtocolPop, Params{{Name: "ExternalConnectionSettings", Value: bad}}); err == nil {
			t.Errorf("%q accepted", bad)
		}
	}
	if err := m.SetProtocolSettings(ProtocolPop, Params{{Name: "LoginType", Value: "PlainTextLogin"}, {Name: "InternalConnectionSettings", Value: "pop.contoso.com:110"}}); err != nil {
		t.Fatal(err)
	}
	rec, err := m.GetProtocolSettings(ProtocolPop, nil)
	if err != nil {
		t.Fatal(err)
	}
	if v, _ := rec.Get("LoginType"); v != "PlainTextLogin" {
		t.Errorf("LoginType = %q", v)
	}
	if v, _ := rec.Get("InternalConnectionSettings"); v != "{pop.contoso.com:110}" {
		t.Errorf("InternalConnectionSettings = %q", v)
	}
}

func formatList(l []config.ConnectionSetting) string {
	var s []string
	for _, c := range l {
		s = append(s, c.String())
	}
	return strings.Join(s, ",")
}

// New-Mailbox as Microsoft's example writes it: the address is built from
// -Alias and the default accepted domain, DisplayName from the names, the
// parameters without meaning here warn in one line; Set-Mailbox
// -EmailAddresses takes Exchange's SMTP:/smtp: forms.
func TestNewMailboxExchangeParameters(t *testing.T) {
	m := newManager(t)
	var warnings []string
	m.Warn = func(s string) { warnings = append(warnings, s) }
	if _, err := m.NewMailbox(Params{{Name: "UserPrincipalName", Value: "chris@contoso.com"}, {Name: "Alias", Value: "Chris"}, {Name: "Database", Value: "Mailbox Database 1"},
		{Name: "Name", Value: "Chris Ashton"}, {Name: "OrganizationalUnit", Value: "Users"}, {Name: "Password", Value: "Pa55word!"},
		{Name: "FirstName", Value: "Chris"}, {Name: "LastName", Value: "Ashton"}, {Name: "ResetPasswordOnNextLogon", Value: "$true"}}, nil); err != nil {
		t.Fatal(err)
	}
	c := load(t, m)
	mb := c.FindMailboxUser("chris@contoso.com")
	if mb == nil || mb.PrimarySmtpAddress != "chris@contoso.com" || mb.DisplayName != "Chris Ashton" || mb.PasswordHash == "" {
		t.Fatalf("mailbox = %+v", mb)
	}
	if len(warnings) != 1 || !strings.Contains(warnings[0], "-Database") || !strings.Contains(warnings[0], "-OrganizationalUnit") || !strings.Contains(warnings[0], "-ResetPasswordOnNextLogon") {
		t.Errorf("warnings = %q", warnings)
	}
	if _, err := m.SetMailboxes("Chris Ashton", Params{{Name: "EmailAddresses", Value: "SMTP:chris.ashton@contoso.com,smtp:ca@contoso.com"}, {Name: "ForwardingSmtpAddress", Value: "smtp:chris@fabrikam.com"}}, nil); err != nil {
		t.Fatal(err)
	}
	mb = load(t, m).FindMailboxUser("Chris Ashton")
	if mb.PrimarySmtpAddress != "chris.ashton@contoso.com" || strings.Join(mb.EmailAddresses, ",") != "ca@contoso.com,chris@contoso.com" || mb.ForwardingSmtpAddress != "chris@fabrikam.com" {
		t.Errorf("after Set-Mailbox: %+v", mb)
	}
	if _, err := m.SetMailboxes("Chris Ashton", Params{{Name: "ForwardingAddress", Value: "nobody"}}, nil); err == nil || !strings.Contains(err.Error(), "ForwardingAddress") {
		t.Errorf("ForwardingAddress to no mailbox: %v", err)
	}
}
