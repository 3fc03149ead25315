package shell

import (
	"slices"
	"strings"
	"testing"

	"github.com/transportd/transportd/transport/admin/config"
)

// Exchange's Send As grant on a mailbox: Add-ADPermission, Get-ADPermission
// and Remove-ADPermission as Microsoft documents them, kept in the
// mailbox's GrantSendAsTo.
func TestSendAsGrant(t *testing.T) {
	path := newConfig(t)
	if _, err := config.Update(path, func(c *config.Config) error {
		c.Mailboxes = append(c.Mailboxes,
			config.Mailbox{Name: "app", PrimarySmtpAddress: "app@contoso.com", Enabled: true},
			config.Mailbox{Name: "noreply", PrimarySmtpAddress: "noreply@contoso.com", Enabled: true},
			config.Mailbox{Name: "bob", PrimarySmtpAddress: "bob@contoso.com", Enabled: true})
		return nil
	}); err != nil {
		t.Fatal(err)
	}
	sh := New(path, nil)
	out := runOK(t, sh, `Add-ADPermission -Identity noreply -User app@contoso.com -AccessRights ExtendedRight -ExtendedRights "Send As"`)
	if !strings.Contains(out, "noreply") || !strings.Contains(out, "Send As") || !strings.Contains(out, "app") {
		t.Fatalf("Add-ADPermission printed:\n%s", out)
	}
	runOK(t, sh, `Get-Mailbox bob | Add-ADPermission -User app -ExtendedRights "Send As"`)
	runOK(t, sh, `Add-ADPermission bob -User APP -ExtendedRights "Send As"`) // twice is once
	c := loadConfig(t, path)
	if got := c.FindMailboxUser("noreply").GrantSendAsTo; !slices.Equal(got, []string{"app"}) {
		t.Fatalf("noreply GrantSendAsTo = %q", got)
	}
	if got := c.FindMailboxUser("bob").GrantSendAsTo; !slices.Equal(got, []string{"app"}) {
		t.Fatalf("bob GrantSendAsTo = %q", got)
	}
	if out := runOK(t, sh, `Get-ADPermission noreply -User app | Where-Object { $_.ExtendedRights -like "*Send As*" } | Measure-Object | Select-Object -ExpandProperty Count`); out != "1\n" {
		t.Fatalf("Get-ADPermission count = %q", out)
	}
	if out := runOK(t, sh, `Get-ADPermission noreply -User bob | Measure-Object | Select-Object -ExpandProperty Count`); out != "0\n" {
		t.Fatalf("Get-ADPermission -User bob count = %q", out)
	}
	// Errors name the fix.
	for src, want := range map[string]string{
		`Add-ADPermission noreply -User nobody -ExtendedRights "Send As"`:                                  `no mailbox matches identity "nobody"`,
		`Add-ADPermission nothere -User app -ExtendedRights "Send As"`:                                     `no mailbox matches identity "nothere"`,
		`Add-ADPermission noreply -User app -ExtendedRights "Send As",Ms-Exch-SMTP-Accept-Any-Recipient`:   `on its own`,
		`Add-ADPermission app -User app -ExtendedRights "Send As"`:                                         `its own mailbox`,
		`Remove-ADPermission noreply -User bob -ExtendedRights "Send As"`:                                  `no Send As right`,
		`Add-ADPermission "Client Frontend*" -User app -ExtendedRights Ms-Exch-SMTP-Accept-Any-Recipients`: `Send As`,
	} {
		if got := runErr(t, sh, src); !strings.Contains(got, want) {
			t.Errorf("%s: %q, want %q", src, got, want)
		}
	}
	// A rename follows; a removed user's grants go with it.
	runOK(t, sh, `Set-Mailbox app -Name application`)
	if got := loadConfig(t, path).FindMailboxUser("bob").GrantSendAsTo; !slices.Equal(got, []string{"application"}) {
		t.Fatalf("after rename: bob GrantSendAsTo = %q", got)
	}
	runOK(t, sh, `Remove-ADPermission noreply -User application -ExtendedRights "Send As"`)
	if got := loadConfig(t, path).FindMailboxUser("noreply").GrantSendAsTo; len(got) != 0 {
		t.Fatalf("after Remove-ADPermission: %q", got)
	}
	runOK(t, sh, `Remove-Mailbox application`)
	if got := loadConfig(t, path).FindMailboxUser("bob").GrantSendAsTo; len(got) != 0 {
		t.Fatalf("after Remove-Mailbox of the user: %q", got)
	}
}
