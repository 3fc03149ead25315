package main

import (
	"os"
	"path/filepath"
	"strings"
	"testing"
)

// -WhatIf and -Server work in the noun-verb commands as in the shell:
// they are declared once, in the registry.
func TestNounVerbWhatIfAndServer(t *testing.T) {
	path := newConfig(t)
	before, _ := os.ReadFile(path)
	out := ok(t, path, "", "connector", "remove", "-identity", "Client*", "-whatif")
	if want := `What if: Performing the operation "Remove-ReceiveConnector" on target "Client Frontend MAIL".` + "\n"; out != want {
		t.Errorf("connector remove -whatif printed %q, want %q", out, want)
	}
	if after, _ := os.ReadFile(path); string(after) != string(before) {
		t.Error("-whatif changed the configuration")
	}
	ok(t, path, "", "cert", "get", "-server", "mail.contoso.com")
	r := tdrun(t, path, "", "cert", "get", "-server", "EX01")
	if r.code != 1 || !strings.Contains(r.stderr, "-Server EX01") || !strings.Contains(r.stderr, "mail.contoso.com") {
		t.Errorf("cert get -server EX01: exit %d, %q", r.code, r.stderr)
	}
}

// A script file reads Get-Credential's and Read-Host's lines, and a
// -Password -, from one standard input in order, none swallowing the
// others' lines.
func TestShellScriptReadsStandardInput(t *testing.T) {
	path := newConfig(t)
	script := filepath.Join(t.TempDir(), "s.ps1")
	if err := os.WriteFile(script, []byte(`$c = Get-Credential
$name = Read-Host "Name"
New-Mailbox -Name $name -PrimarySmtpAddress $c.UserName -Password $c.Password
Set-Mailbox $name -Password -
$pw = Read-Host -AsSecureString
"$name $($c.UserName) $pw"
`), 0o600); err != nil {
		t.Fatal(err)
	}
	out := ok(t, path, "kim@contoso.com\nfirst-Passw0rd\nkim\nsecond-Passw0rd\nthird\n", "shell", script)
	if !strings.Contains(out, "kim kim@contoso.com System.Security.SecureString\n") {
		t.Errorf("output:\n%s", out)
	}
	for _, pw := range []string{"first-Passw0rd", "second-Passw0rd", "third"} {
		if strings.Contains(out, pw) {
			t.Errorf("%s printed:\n%s", pw, out)
		}
	}
	r := tdrun(t, path, "", "shell", "-c", "Read-Host")
	if r.code != 1 || !strings.Contains(r.stderr, "no more lines") {
		t.Errorf("Read-Host on an empty standard input: exit %d, %q", r.code, r.stderr)
	}
}
