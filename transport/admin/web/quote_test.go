package web

import (
	"io"
	"strings"
	"testing"
	"unicode/utf8"

	"github.com/transportd/transportd/transport/admin/shell"
)

// FuzzQuote checks that what Quote makes of any text is read back by the
// shell as that text: a value typed into a form can never become code or
// another parameter of the line the admin center runs.
func FuzzQuote(f *testing.F) {
	for _, s := range []string{"", "Default Frontend MAIL", "O'Brien", "$(Remove-ReceiveConnector *)", "a`b\"c", "x -Fqdn y", "'; Remove-Mailbox *; '", "‘smart’ quotes", "line\nbreak"} {
		f.Add(s)
	}
	f.Fuzz(func(t *testing.T, s string) {
		if !utf8.ValidString(s) || strings.ContainsRune(s, 0) {
			return
		}
		sh := shell.New(t.TempDir()+"/none.yaml", io.Discard)
		if err := sh.Run("$v = " + Quote(s)); err != nil {
			t.Fatalf("%q quoted as %s: %v", s, Quote(s), err)
		}
		v, _ := sh.Var("v")
		if got, _ := v.(string); got != s {
			t.Fatalf("%q quoted as %s reads back as %#v", s, Quote(s), v)
		}
	})
}

func TestCmdString(t *testing.T) {
	cmd := NewCmd("Set-ReceiveConnector").Id("Default Frontend MAIL").Text("Fqdn", "mail.contoso.com").
		Bool("Enabled", true).List("RemoteIPRanges", []string{"192.168.5.10", "192.168.5.0/24"}).Text("MaxRecipientsPerMessage", "200").Switch("Force")
	want := "Set-ReceiveConnector -Identity 'Default Frontend MAIL' -Fqdn 'mail.contoso.com' -Enabled $true -RemoteIPRanges '192.168.5.10','192.168.5.0/24' -MaxRecipientsPerMessage 200 -Force"
	if got := cmd.String(); got != want {
		t.Errorf("got  %s\nwant %s", got, want)
	}
	piped := &Cmd{Cmdlet: "Add-ADPermission", Pipe: NewCmd("Get-ReceiveConnector").Id("Relay"), args: []arg{{name: "User", value: `NT AUTHORITY\ANONYMOUS LOGON`}}}
	if got, want := piped.String(), `Get-ReceiveConnector -Identity 'Relay' | Add-ADPermission -User 'NT AUTHORITY\ANONYMOUS LOGON'`; got != want {
		t.Errorf("got  %s\nwant %s", got, want)
	}
}
