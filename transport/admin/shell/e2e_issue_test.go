package shell

import (
	"strings"
	"testing"

	"github.com/transportd/transportd/policies/permissions"
)

// TestIssueLinesVerbatim runs every line of the issue's documents, as
// written, against a fresh configuration (with a real thumbprint) and
// checks the configuration afterwards.
func TestIssueLinesVerbatim(t *testing.T) {
	path := newConfig(t)
	sh := New(path, nil)
	out := runOK(t, sh, `New-ExchangeCertificate -SubjectName CN=mail.contoso.com -DomainName mail.contoso.com | Format-List Thumbprint`)
	thumb := strings.TrimSpace(strings.TrimPrefix(strings.TrimSpace(out), "Thumbprint :"))
	if len(thumb) != 40 {
		t.Fatalf("thumbprint %q from %q", thumb, out)
	}
	lines := []string{
		`Get-ReceiveConnector -Identity "Client Frontend*" | Set-ReceiveConnector -Fqdn mail.contoso.com`,
		`Get-ReceiveConnector -Identity "Client Frontend*" | Format-List Name,Fqdn`,
		`$TLSCert = Get-ExchangeCertificate -Thumbprint 434AC224C8459924B26521298CE8834C514856AB`,
		`$TLSCertName = "<I>$($TLSCert.Issuer)<S>$($TLSCert.Subject)"`,
		`Get-ReceiveConnector -Identity "Client Frontend*" | Set-ReceiveConnector -TlsCertificateName $TLSCertName`,
		`Get-ExchangeCertificate | Format-List Thumbprint,Issuer,Subject,CertificateDomains,Services`,
		`Get-ReceiveConnector -Identity "Client Frontend*" | Set-ReceiveConnector -AdvertiseClientSettings $true`,
		`New-ReceiveConnector -Name "Anonymous Relay" -TransportRole FrontendTransport -Custom -Bindings 0.0.0.0:25 -RemoteIPRanges 192.168.5.10,192.168.5.0/24`,
		`Set-ReceiveConnector "Anonymous Relay" -PermissionGroups AnonymousUsers`,
		`Get-ReceiveConnector "Anonymous Relay" | Add-ADPermission -User "NT AUTHORITY\ANONYMOUS LOGON" -ExtendedRights "Ms-Exch-SMTP-Accept-Any-Recipient"`,
	}
	outs := map[int]string{}
	for i, l := range lines {
		outs[i] = runOK(t, sh, strings.ReplaceAll(l, "434AC224C8459924B26521298CE8834C514856AB", thumb))
	}
	if want := "Name : Client Frontend MAIL\nFqdn : mail.contoso.com\n"; outs[1] != want {
		t.Errorf("Format-List Name,Fqdn:\n%q\nwant\n%q", outs[1], want)
	}
	if !strings.Contains(outs[0], "Changed 1 receive connector.") {
		t.Errorf("Set says %q", outs[0])
	}
	for _, want := range []string{"Thumbprint         : " + thumb, "Issuer             : CN=mail.contoso.com", "Subject            : CN=mail.contoso.com", "CertificateDomains : {mail.contoso.com}", "Services           : SMTP"} {
		if !strings.Contains(outs[5], want+"\n") {
			t.Errorf("Get-ExchangeCertificate | Format-List lacks %q:\n%s", want, outs[5])
		}
	}
	if !strings.Contains(outs[9], `NT AUTHORITY\ANONYMOUS LOGON`) || !strings.Contains(outs[9], "Ms-Exch-SMTP-Accept-Any-Recipient") {
		t.Errorf("Add-ADPermission printed:\n%s", outs[9])
	}

	c := loadConfig(t, path)
	client := c.ReceiveConnectors[1]
	if client.Name != "Client Frontend MAIL" || client.Fqdn != "mail.contoso.com" || !client.AdvertiseClientSettings ||
		client.TlsCertificateName != "<I>CN=mail.contoso.com<S>CN=mail.contoso.com" {
		t.Errorf("Client Frontend: %+v", client)
	}
	if len(c.ReceiveConnectors) != 3 {
		t.Fatalf("%d connectors", len(c.ReceiveConnectors))
	}
	relay := c.ReceiveConnectors[2]
	if relay.Name != "Anonymous Relay" || !relay.AnonymousRelay || relay.PermissionGroups.String() != string(permissions.GroupAnonymousUsers) ||
		relay.RemoteIPRanges.String() != "192.168.5.10, 192.168.5.0/24" || len(relay.Bindings) != 1 || relay.Bindings[0].String() != "0.0.0.0:25" {
		t.Errorf("Anonymous Relay: %+v (ranges %q)", relay, relay.RemoteIPRanges.String())
	}
	if def := c.ReceiveConnectors[0]; def.AnonymousRelay {
		t.Errorf("the Default Frontend must not relay")
	}
	// The certificate the connector names is the one it serves.
	status := runOK(t, sh, `(Get-ReceiveConnector "Client Frontend*").CertificateStatus`)
	if !strings.Contains(status, thumb) || strings.Contains(status, "WARNING") {
		t.Errorf("CertificateStatus = %q", status)
	}
	// Get-ADPermission shows the right; Remove-ADPermission takes it back.
	if out := runOK(t, sh, `Get-ADPermission "Anonymous Relay" -User "NT AUTHORITY\ANONYMOUS LOGON" | Where-Object { $_.ExtendedRights -like "*Any-Recipient" } | Measure-Object | Select-Object -ExpandProperty Count`); out != "1\n" {
		t.Errorf("Get-ADPermission count = %q", out)
	}
	runOK(t, sh, `Remove-ADPermission "Anonymous Relay" -User "NT AUTHORITY\ANONYMOUS LOGON" -ExtendedRights Ms-Exch-SMTP-Accept-Any-Recipient`)
	if loadConfig(t, path).ReceiveConnectors[2].AnonymousRelay {
		t.Error("Remove-ADPermission left AnonymousRelay on")
	}
}

func TestCmdletsRoundTrip(t *testing.T) {
	path := newConfig(t)
	sh := New(path, nil)
	sh.ReadPassword = func() (string, error) { return "Pa55word!", nil }
	runOK(t, sh, `New-AcceptedDomain -Name fabrikam -DomainName fabrikam.com -DomainType InternalRelay
New-Mailbox -Name alice -PrimarySmtpAddress alice@contoso.com -Password (ConvertTo-SecureString -String 'Secret1!' -AsPlainText -Force)
New-Mailbox bob -Password -
Set-Mailbox -Identity alice -Enabled $false
New-SendConnector -Name "To Internet" -Internet -AddressSpaces '*' -SmartHosts smtp.fabrikam.com
Set-SendConnector "To Internet" -Port 587 -RequireTLS $true
Set-TransportConfig -MessageExpirationTimeout 3.00:00:00 -DelayNotificationTimeout 06:00:00
Set-ReceiveConnector -Identity "MAIL\Default Frontend MAIL" -MaxMessageSize 35MB`)
	c := loadConfig(t, path)
	if len(c.AcceptedDomains) != 2 || len(c.Mailboxes) != 2 || c.Mailboxes[0].Enabled || !c.Mailboxes[1].Enabled ||
		c.Mailboxes[1].PrimarySmtpAddress != "bob@contoso.com" || c.Mailboxes[0].PasswordHash == "" {
		t.Errorf("domains %+v mailboxes %+v", c.AcceptedDomains, c.Mailboxes)
	}
	if len(c.SendConnectors) != 1 || c.SendConnectors[0].Port != 587 || !c.SendConnectors[0].RequireTLS || c.SendConnectors[0].DNSRoutingEnabled {
		t.Errorf("send connectors %+v", c.SendConnectors)
	}
	if c.Transport.MessageExpirationTimeout.String() != "3.00:00:00" || c.ReceiveConnectors[0].MaxMessageSize != 35<<20 {
		t.Errorf("transport %+v, size %v", c.Transport, c.ReceiveConnectors[0].MaxMessageSize)
	}
	// A Set over several objects changes all and says how many.
	if out := runOK(t, sh, `Get-ReceiveConnector | Set-ReceiveConnector -MaxHopCount 40`); !strings.Contains(out, "Changed 2 receive connectors.") {
		t.Errorf("Set over two: %q", out)
	}
	if out := runOK(t, sh, `Set-ReceiveConnector * -MaxRecipientsPerMessage 300`); !strings.Contains(out, "Changed 2 receive connectors.") {
		t.Errorf("Set with wildcard: %q", out)
	}
	// Nothing is half applied: the second connector's bad value stops both.
	runErr(t, sh, `Set-ReceiveConnector * -MaxLogonFailures 99`)
	for _, rc := range loadConfig(t, path).ReceiveConnectors {
		if rc.MaxHopCount != 40 || rc.MaxLogonFailures != 3 {
			t.Errorf("%s: MaxHopCount %d MaxLogonFailures %d", rc.Name, rc.MaxHopCount, rc.MaxLogonFailures)
		}
	}
	// Removal, through the pipeline.
	runOK(t, sh, `Get-SendConnector | Remove-SendConnector -Confirm:$false; Remove-Mailbox bob; Get-AcceptedDomain fabrikam | Remove-AcceptedDomain`)
	c = loadConfig(t, path)
	if len(c.SendConnectors) != 0 || len(c.Mailboxes) != 1 || len(c.AcceptedDomains) != 1 {
		t.Errorf("after removal: %d send connectors, %d mailboxes, %d domains", len(c.SendConnectors), len(c.Mailboxes), len(c.AcceptedDomains))
	}
	// Certificates: New, Enable through the pipeline, Remove.
	runOK(t, sh, `$c = New-ExchangeCertificate -SubjectName CN=relay.contoso.com -DomainName relay.contoso.com -Services IMAP
$c | Enable-ExchangeCertificate -Services SMTP
Get-ExchangeCertificate $c.Thumbprint | Remove-ExchangeCertificate`)
}

func TestLanguage(t *testing.T) {
	sh := New(newConfig(t), nil)
	for _, tt := range []struct{ src, want string }{
		{`$a = 'x'; "[$a]"`, "[x]\n"},
		{`'lit $a'`, "lit $a\n"},
		{`35MB`, "35MB\n"},
		{`$n = Get-ReceiveConnector; $n.Count`, "2\n"},
		{`(Get-ReceiveConnector).Name`, "Default Frontend MAIL\nClient Frontend MAIL\n"},
		{`Get-ReceiveConnector | Where-Object { $_.Bindings -like '*:587' } | Select-Object -ExpandProperty Name`, "Client Frontend MAIL\n"},
		{`Get-ReceiveConnector | Where-Object Name -like 'Def*' | ForEach-Object { $_.Name }`, "Default Frontend MAIL\n"},
		{`Get-ReceiveConnector | where { $_.MaxMessageSize -gt 10MB -and -not $_.RequireTLS } | measure | select -ExpandProperty Count`, "2\n"},
		{`Get-ReceiveConnector | ? { $_.PermissionGroups -match 'Anonymous' } | % { $_.Name }`, "Default Frontend MAIL\n"},
		{`Get-ReceiveConnector | Where-Object { $_.MaxRecipientsPerMessage -ne 200 }`, ""},
		{`$x = $null; $x -eq $null`, "True\n"},
		{"Get-ReceiveConnector | Sort-Object Name |\n  Select-Object -First 1 -ExpandProperty Name", "Client Frontend MAIL\n"},
		{`"a","b" | ConvertTo-Json`, "[\n  \"a\",\n  \"b\"\n]\n"},
		{`1,2,3 -contains 2`, "True\n"},
	} {
		if got := runOK(t, sh, tt.src); got != tt.want {
			t.Errorf("%s\n got %q\nwant %q", tt.src, got, tt.want)
		}
	}
}

func TestErrors(t *testing.T) {
	path := newConfig(t)
	sh := New(path, nil)
	for _, tt := range []struct{ src, want string }{
		{`Get-ReceveConnector`, "line 1, column 1: unknown cmdlet Get-ReceveConnector; did you mean Get-ReceiveConnector?"},
		{`Get-ReceiveConnector | Set-ReceiveConnector -Fdqn x`, "line 1, column 45: Set-ReceiveConnector: unknown parameter -Fdqn; did you mean -Fqdn?"},
		{`Set-ReceiveConnector "Client*" -Enabled maybe`, `line 1, column 32: Set-ReceiveConnector: -Enabled "maybe": not a boolean: use $true or $false`},
		{`Set-ReceiveConnector "Client*" -Max 3`, "parameter -Max is ambiguous"},
		{`Get-ReceiveConnector "Nope"`, `no receive connector matches identity "Nope"`},
		{`Set-ReceiveConnector "Client Frontend*" -Fqdn`, "parameter -Fqdn needs a value"},
		{`Get-ReceiveConnector a b`, `unexpected argument "b"`},
		{`$TLSCert.Issuer`, "variable $TLSCert is not set"},
		{`$c = Get-ReceiveConnector "Client*"; $c.Fqnd`, "has no property Fqnd; did you mean .Fqdn?"},
		{`Get-ExchangeCertificate -Thumbprint 434AC224C8459924B26521298CE8834C514856AB`, "434AC224C8459924B26521298CE8834C514856AB"},
		{`Get-ReceiveConnector "Client*" | Add-ADPermission -User Everyone -ExtendedRights ms-Exch-SMTP-Submit`, `-User "Everyone"`},
		{`Get-ReceiveConnector "Client*" | Add-ADPermission -User "NT AUTHORITY\ANONYMOUS LOGON" -ExtendedRights ms-Exch-SMTP-Submitt`, `extended right "ms-Exch-SMTP-Submitt"`},
		{`Get-MessageTrackingLog -Start yesterday`, `-Start: "yesterday" is not a date and time`},
		{`Set-ReceiveConnector -Fqdn x`, "-Identity is required"},
		{`Get-ReceiveConnector | Where-Object { $_.Name -match '(' }`, "not a valid regular expression"},
	} {
		if got := runErr(t, sh, tt.src); !strings.Contains(got, tt.want) {
			t.Errorf("%s\n got %s\nwant %s", tt.src, got, tt.want)
		}
	}
	// A script goes on after a failed statement, as PowerShell does.
	var out strings.Builder
	sh.Out = &out
	err := sh.Run("Get-Nothing\nGet-AcceptedDomain | Format-List Name")
	if err == nil || !strings.Contains(out.String(), "Name : contoso.com") {
		t.Errorf("err %v, out %q", err, out.String())
	}
}

func TestHelpAndCompletion(t *testing.T) {
	h, err := Help("set-receiveconnector", "")
	if err != nil || !strings.Contains(h, "-TlsCertificateName") || !strings.Contains(h, "-MaxMessageSize") || !strings.Contains(h, "36MB") {
		t.Errorf("Help: %v\n%s", err, h)
	}
	if h, err := Help("Add-ADPermission", "ext"); err != nil || !strings.Contains(h, "Ms-Exch-SMTP-Accept-Any-Recipient") {
		t.Errorf("Help -Parameter: %v %s", err, h)
	}
	if _, err := Help("Get-Foo", ""); err == nil {
		t.Error("Help of an unknown cmdlet")
	}
	head, c, tail := Complete("Get-ReceiveC", 12)
	if head != "" || len(c) != 1 || c[0] != "Get-ReceiveConnector" || tail != "" {
		t.Errorf("Complete cmdlet: %q %q %q", head, c, tail)
	}
	head, c, _ = Complete(`Get-ReceiveConnector "x" | Set-ReceiveConnector -tlsc`, 53)
	if head != `Get-ReceiveConnector "x" | Set-ReceiveConnector ` || len(c) != 1 || c[0] != "-TlsCertificateName" {
		t.Errorf("Complete parameter: %q %q", head, c)
	}
	if _, c, _ := Complete("Get-ReceiveConnector | f", 24); len(c) != 3 {
		t.Errorf("Complete after pipe: %q", c)
	}
}
