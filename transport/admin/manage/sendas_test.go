package manage

import (
	"strings"
	"testing"

	"github.com/transportd/transportd/transport/admin/config"
)

// The noun-verb form of the Send As grant is the mailbox's GrantSendAsTo
// (transportd mailbox set -identity noreply -grantsendasto app), as
// AnonymousRelay is for the connector right; a user that is no mailbox is
// refused at set time, naming the fix.
func TestGrantSendAsToParameter(t *testing.T) {
	m := newManager(t)
	if _, err := config.Update(m.ConfigPath, func(c *config.Config) error {
		c.Mailboxes = append(c.Mailboxes,
			config.Mailbox{Name: "app", PrimarySmtpAddress: "app@contoso.com", Enabled: true},
			config.Mailbox{Name: "noreply", PrimarySmtpAddress: "noreply@contoso.com", Enabled: true})
		return nil
	}); err != nil {
		t.Fatal(err)
	}
	if _, err := m.SetMailboxes("noreply", Params{{Name: "grantsendas", Value: "nobody"}}, nil); err == nil || !strings.Contains(err.Error(), `GrantSendAsTo "nobody" is not a mailbox`) {
		t.Fatalf("unknown user: %v", err)
	}
	if _, err := m.SetMailboxes("noreply", Params{{Name: "grantsendas", Value: "app"}}, nil); err != nil {
		t.Fatal(err)
	}
	recs, err := m.GetADPermissions("noreply", "app@contoso.com")
	if err != nil || len(recs) != 1 {
		t.Fatalf("Get-ADPermission: %v %v", recs, err)
	}
	if r, _ := recs[0].Get("ExtendedRights"); r != "{Send As}" {
		t.Fatalf("ExtendedRights = %q", r)
	}
	mbs, err := m.GetMailboxes("noreply")
	if err != nil {
		t.Fatal(err)
	}
	if v, _ := mbs[0].Get("GrantSendAsTo"); v != "{app}" {
		t.Fatalf("mailbox get GrantSendAsTo = %q", v)
	}
}
