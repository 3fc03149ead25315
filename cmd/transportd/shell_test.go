package main

import (
	"os"
	"path/filepath"
	"strings"
	"testing"

	"github.com/transportd/transportd/transport/admin/config"
)

func TestShellCommand(t *testing.T) {
	path := newConfig(t)
	out := ok(t, path, "", "shell", "-c", `Get-ReceiveConnector -Identity "Client Frontend*" | Set-ReceiveConnector -Fqdn relay.contoso.com; Get-ReceiveConnector -Identity "Client Frontend*" | Format-List Name,Fqdn`)
	if !strings.HasSuffix(out, "Name : Client Frontend MAIL\nFqdn : relay.contoso.com\n") {
		t.Errorf("shell -c output:\n%s", out)
	}
	r := tdrun(t, path, "", "shell", "-c", `Get-ReceiveConnector | Set-ReceiveConnector -Fdqn x`)
	if r.code != 1 || !strings.Contains(r.stderr, "did you mean -Fqdn?") || !strings.Contains(r.stderr, "line 1, column 45") {
		t.Errorf("bad parameter: exit %d, stderr %q", r.code, r.stderr)
	}
}

func TestShellScriptFileAndStdin(t *testing.T) {
	path := newConfig(t)
	script := filepath.Join(t.TempDir(), "relay.ps1")
	src := `# Microsoft's recipe for anonymous relay
New-ReceiveConnector -Name "Anonymous Relay" -TransportRole FrontendTransport -Custom -Bindings 0.0.0.0:25 -RemoteIPRanges 192.168.5.10,192.168.5.0/24
Set-ReceiveConnector "Anonymous Relay" -PermissionGroups AnonymousUsers
Get-ReceiveConnector "Anonymous Relay" | Add-ADPermission -User "NT AUTHORITY\ANONYMOUS LOGON" -ExtendedRights "Ms-Exch-SMTP-Accept-Any-Recipient"
`
	if err := os.WriteFile(script, []byte(src), 0o600); err != nil {
		t.Fatal(err)
	}
	ok(t, path, "", "shell", script)
	c, err := config.Load(path)
	if err != nil {
		t.Fatal(err)
	}
	if len(c.ReceiveConnectors) != 3 || !c.ReceiveConnectors[2].AnonymousRelay {
		t.Fatalf("after the script: %+v", c.ReceiveConnectors)
	}
	out := ok(t, path, "Get-ReceiveConnector | Where-Object { $_.AnonymousRelay } | Format-Table Name,RemoteIPRanges\n", "shell")
	if !strings.Contains(out, "Anonymous Relay {192.168.5.10, 192.168.5.0/24}") {
		t.Errorf("stdin script output:\n%s", out)
	}
	if r := tdrun(t, path, "", "shell", filepath.Join(t.TempDir(), "missing.ps1")); r.code != 1 || !strings.Contains(r.stderr, "missing.ps1") {
		t.Errorf("missing file: %+v", r)
	}
	if r := tdrun(t, path, "", "shell", "-c", `Get-X "unterminated`); r.code != 1 || !strings.Contains(r.stderr, "line 1, column 7") {
		t.Errorf("syntax error: %+v", r)
	}
}

func TestGetFieldsAndFormat(t *testing.T) {
	path := newConfig(t)
	out := ok(t, path, "", "connector", "get", "-identity", "Client*", "-fields", "name,fqdn")
	if out != "Name : Client Frontend MAIL\nFqdn : mail.contoso.com\n" {
		t.Errorf("-fields list:\n%q", out)
	}
	out = ok(t, path, "", "connector", "get", "-fields", "Name,Enabled", "-format", "table")
	if !strings.HasPrefix(out, "Name                  Enabled\n----                  -------\nDefault Frontend MAIL True\n") {
		t.Errorf("-format table:\n%s", out)
	}
	out = ok(t, path, "", "accepteddomain", "get", "-format", "json", "-fields", "Name,Default")
	if out != "[\n  {\n    \"Name\": \"contoso.com\",\n    \"Default\": true\n  }\n]\n" {
		t.Errorf("-format json:\n%s", out)
	}
	if r := tdrun(t, path, "", "connector", "get", "-format", "xml"); r.code != 2 || !strings.Contains(r.stderr, `-format "xml": use list, table or json`) {
		t.Errorf("bad format: %+v", r)
	}
	if r := tdrun(t, path, "", "connector", "get", "-fields", "Fdqn"); r.code != 1 || !strings.Contains(r.stderr, "did you mean Fqdn?") {
		t.Errorf("bad field: %+v", r)
	}
}

func TestJSONPipe(t *testing.T) {
	path := newConfig(t)
	js := ok(t, path, "", "connector", "get", "-identity", "*Frontend*", "-format", "json")
	out := ok(t, path, js, "connector", "set", "-maxhopcount", "42")
	if !strings.Contains(out, "Changed 2 receive connectors.") {
		t.Errorf("piped set: %q", out)
	}
	c, err := config.Load(path)
	if err != nil {
		t.Fatal(err)
	}
	for _, rc := range c.ReceiveConnectors {
		if rc.MaxHopCount != 42 {
			t.Errorf("%s MaxHopCount %d", rc.Name, rc.MaxHopCount)
		}
	}
	// The shell's ConvertTo-Json feeds the noun-verb command too.
	js = ok(t, path, "", "shell", "-c", `Get-ReceiveConnector "Client*" | ConvertTo-Json`)
	ok(t, path, js, "connector", "set", "-fqdn", "smtp.contoso.com")
	c, _ = config.Load(path)
	if c.ReceiveConnectors[1].Fqdn != "smtp.contoso.com" || c.ReceiveConnectors[0].Fqdn != "mail.contoso.com" {
		t.Errorf("fqdns %q %q", c.ReceiveConnectors[0].Fqdn, c.ReceiveConnectors[1].Fqdn)
	}
	if r := tdrun(t, path, "not json", "connector", "set", "-fqdn", "x"); r.code != 1 || !strings.Contains(r.stderr, "not JSON") {
		t.Errorf("bad pipe: %+v", r)
	}
}
