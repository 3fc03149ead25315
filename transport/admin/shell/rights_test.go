package shell

import (
	"strings"
	"testing"

	"github.com/transportd/transportd/transport/admin/config"
)

// Add-ADPermission with the rights of Microsoft's recipes, -Deny, the
// well-known principals and a mailbox; Get-ADPermission lists them,
// Remove-ADPermission takes them away.
func TestADPermissionExtendedRights(t *testing.T) {
	path := newConfig(t)
	if _, err := config.Update(path, func(c *config.Config) error {
		c.Mailboxes = append(c.Mailboxes, config.Mailbox{Name: "app", PrimarySmtpAddress: "app@contoso.com", Enabled: true})
		return nil
	}); err != nil {
		t.Fatal(err)
	}
	sh := New(path, nil)
	runOK(t, sh, `New-ReceiveConnector -Name "IP Secured Inbound" -Usage Custom -Bindings 0.0.0.0:2525 -RemoteIPRanges 192.0.2.10`)
	// Microsoft's Add-ADPermission example 2, as written.
	runOK(t, sh, `Add-AdPermission "IP Secured Inbound" -User "NT AUTHORITY\ANONYMOUS LOGON" -ExtendedRights ms-Exch-SMTP-Submit,ms-Exch-SMTP-Accept-Any-Recipient,ms-Exch-Bypass-Anti-Spam`)
	runOK(t, sh, `Get-ReceiveConnector "IP Secured Inbound" | Add-ADPermission -User "MS Exchange\Externally Secured Servers" -ExtendedRights ms-Exch-Bypass-Message-Size-Limit`)
	runOK(t, sh, `Add-ADPermission "IP Secured Inbound" -User "NT AUTHORITY\Authenticated Users" -ExtendedRights ms-Exch-SMTP-Accept-Any-Sender -Deny`)
	runOK(t, sh, `Add-ADPermission "IP Secured Inbound" -User app -ExtendedRights ms-Exch-SMTP-Accept-Any-Sender`)
	if out := runOK(t, sh, `Add-ADPermission "IP Secured Inbound" -User "NT AUTHORITY\ANONYMOUS LOGON" -ExtendedRights ms-Exch-SMTP-Accept-Exch50`); !strings.Contains(out, "WARNING: ms-Exch-SMTP-Accept-Exch50 is stored but has no effect on Linux") || strings.Count(out, "WARNING") != 1 {
		t.Errorf("Exch50 warning:\n%s", out)
	}
	out := runOK(t, sh, `Get-ADPermission "IP Secured Inbound" | Format-Table User,ExtendedRights,Deny -AutoSize`)
	for _, want := range []string{
		`NT AUTHORITY\ANONYMOUS LOGON     {ms-Exch-SMTP-Submit}`,
		`{Ms-Exch-SMTP-Accept-Any-Recipient}`,
		`{ms-Exch-Bypass-Anti-Spam}`,
		`MS Exchange\Externally Secured Servers {ms-Exch-Bypass-Message-Size-Limit}`,
		`app@contoso.com`,
	} {
		if !strings.Contains(strings.Join(strings.Fields(out), " "), strings.Join(strings.Fields(want), " ")) {
			t.Errorf("Get-ADPermission lacks %q:\n%s", want, out)
		}
	}
	if n := runOK(t, sh, `Get-ADPermission "IP Secured Inbound" | Where-Object { $_.Deny -eq "True" } | Measure-Object | Select-Object -ExpandProperty Count`); n != "1\n" {
		t.Errorf("deny entries = %q", n)
	}
	c := loadConfig(t, path)
	for _, rc := range c.ReceiveConnectors {
		if rc.Name == "IP Secured Inbound" && (!rc.AnonymousRelay || len(rc.ADPermissions) != 6) {
			t.Errorf("stored: AnonymousRelay %v, entries %v", rc.AnonymousRelay, rc.ADPermissions)
		}
	}
	// Removing a right a permission group grants records a deny.
	if out := runOK(t, sh, `Get-ReceiveConnector "Default Frontend*" | Remove-ADPermission -User "NT AUTHORITY\ANONYMOUS LOGON" -ExtendedRights ms-Exch-SMTP-Accept-Authoritative-Domain-Sender`); !strings.Contains(out, "comes with AnonymousUsers") {
		t.Errorf("removing a group's right:\n%s", out)
	}
	runOK(t, sh, `Remove-ADPermission "Default Frontend*" -User "NT AUTHORITY\ANONYMOUS LOGON" -ExtendedRights ms-Exch-SMTP-Accept-Authoritative-Domain-Sender -Deny`)
	runOK(t, sh, `Remove-ADPermission "IP Secured Inbound" -User "NT AUTHORITY\Authenticated Users" -ExtendedRights ms-Exch-SMTP-Accept-Any-Sender -Deny`)
	for src, want := range map[string]string{
		`Add-ADPermission "IP Secured Inbound" -User Everyone -ExtendedRights ms-Exch-SMTP-Submit`:                              `-User "Everyone" is not a security principal`,
		`Add-ADPermission "IP Secured Inbound" -User "NT AUTHORITY\ANONYMOUS LOGON" -ExtendedRights ms-Exch-Frobnicate`:         `ms-Exch-SMTP-Submit, ms-Exch-SMTP-Accept-Any-Recipient`,
		`Remove-ADPermission "IP Secured Inbound" -User "NT AUTHORITY\Authenticated Users" -ExtendedRights ms-Exch-SMTP-Submit`: `no explicit grant`,
		`Add-ADPermission "IP Secured Inbound" -User app`:                                                                       `-ExtendedRights is required`,
	} {
		if got := runErr(t, sh, src); !strings.Contains(got, want) {
			t.Errorf("%s: %q, want %q", src, got, want)
		}
	}
}

// -DomainController is accepted with one warning line, on every cmdlet.
func TestDomainControllerWarns(t *testing.T) {
	sh := New(newConfig(t), nil)
	out := runOK(t, sh, `Get-AcceptedDomain -DomainController dc01.contoso.com | Format-List Name`)
	if strings.Count(out, "WARNING: there is no Active Directory; -DomainController ignored\n") != 1 || !strings.Contains(out, "contoso.com") {
		t.Errorf("output:\n%s", out)
	}
	out = runOK(t, sh, `Set-ReceiveConnector "Client*" -Banner "220 ok" -DomainController dc01.contoso.com`)
	if strings.Count(out, "-DomainController") != 1 {
		t.Errorf("output:\n%s", out)
	}
}

// The .NET pieces of Microsoft's certificate examples: static calls, the
// [Byte[]] cast, Get-Content -Encoding Byte, method calls on dates and
// encodings; Windows paths go to the data folder's files/.
func TestDotNetStaticCalls(t *testing.T) {
	sh := New(newConfig(t), nil)
	out := runOK(t, sh, `[System.IO.File]::WriteAllBytes('C:\Data\x.bin', [System.Text.Encoding]::Unicode.GetBytes("héllo"))`)
	if !strings.Contains(out, `WARNING: [System.IO.File]::WriteAllBytes C:\Data\x.bin is a Windows path; wrote `) {
		t.Errorf("WriteAllBytes:\n%s", out)
	}
	for src, want := range map[string]string{
		`([System.IO.File]::ReadAllBytes('C:\Data\x.bin')).Length`:                                                                                                          "10\n",
		`$b = [Byte[]](Get-Content -Path "C:\Data\x.bin" -Encoding Byte -ReadCount 0); $b.Count`:                                                                            "10\n",
		`[System.Text.Encoding]::Unicode.GetString([System.IO.File]::ReadAllBytes('C:\Data\x.bin'))`:                                                                        "héllo\n",
		`$d = (Get-Date).AddHours(-1); ((Get-Date).AddHours(-2)).ToString().Length`:                                                                                         "19\n",
		`[string](Get-Content -Path "C:\Data\x.bin" -Encoding Byte) -eq [System.Text.Encoding]::UTF8.GetString([Byte[]](Get-Content -Path "C:\Data\x.bin" -Encoding Byte))`: "True\n",
	} {
		if got := runOK(t, sh, src); got != want {
			t.Errorf("%s = %q, want %q", src, got, want)
		}
	}
	for src, want := range map[string]string{
		`[System.IO.File]::ReadAllBytes('C:\Data\none.bin')`: `cannot read C:\Data\none.bin: it is a Windows path`,
		`[System.Net.Dns]::GetHostName()`:                    `[System.Net.Dns]::GetHostName is not supported here`,
		`[xml]"<a/>"`:                                        `type [xml] is not supported here`,
		`(Get-Date).Frobnicate(1)`:                           `the method .Frobnicate() of a date is not supported`,
	} {
		if got := runErr(t, sh, src); !strings.Contains(got, want) {
			t.Errorf("%s: %q, want %q", src, got, want)
		}
	}
}
