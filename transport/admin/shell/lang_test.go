package shell

import (
	"errors"
	"github.com/transportd/transportd/policies/credentials"
	"os"
	"path/filepath"
	"strings"
	"testing"
)

// langCorpus are the example files of the shell language, which need no
// running daemon; the corpus runner of the lead runs them (and every
// other file) against a live one too.
var langCorpus = []string{"Get-Credential.ps1", "Read-Host.ps1", "ConvertTo-SecureString.ps1", "language.ps1"}

// runExample runs one corpus example in sh, feeding its Stdin lines, and
// checks its Expect line.
func runExample(t *testing.T, sh *Shell, file string, ex Example) {
	t.Helper()
	var out strings.Builder
	sh.Out = &out
	sh.Manager.Warn = func(msg string) { out.WriteString("WARNING: " + msg + "\n") }
	in := append([]string(nil), ex.Stdin...)
	sh.ReadLine = func(prompt string, hidden bool) (string, error) {
		if len(in) == 0 {
			return "", errors.New("standard input has no more lines")
		}
		l := in[0]
		in = in[1:]
		return l, nil
	}
	err := sh.Run(ex.Script)
	kind, text, _ := strings.Cut(ex.Expect, " ")
	switch kind {
	case "ok":
		if err != nil {
			t.Errorf("%s, example %s: %v\noutput:\n%s", file, ex.Title, err, out.String())
		}
	case "warning":
		if err != nil || !strings.Contains(out.String(), text) {
			t.Errorf("%s, example %s: error %v; output lacks %q:\n%s", file, ex.Title, err, text, out.String())
		}
	case "missing":
		if err == nil || !strings.Contains(err.Error(), text) {
			t.Errorf("%s, example %s: want an error naming %q, got %v", file, ex.Title, text, err)
		}
	default:
		t.Errorf("%s, example %s: unknown Expect %q", file, ex.Title, ex.Expect)
	}
	if len(in) > 0 {
		t.Errorf("%s, example %s: input lines left unread: %q", file, ex.Title, in)
	}
}

// TestLanguageCorpus runs the language's example files top to bottom,
// each in one session on a fresh default configuration.
func TestLanguageCorpus(t *testing.T) {
	for _, f := range langCorpus {
		t.Run(f, func(t *testing.T) {
			b, err := os.ReadFile(filepath.Join("testdata", "examples", f))
			if err != nil {
				t.Fatal(err)
			}
			exs := ParseExamples(string(b))
			if len(exs) == 0 {
				t.Fatal("no examples")
			}
			sh := New(newConfig(t), nil)
			for _, ex := range exs {
				runExample(t, sh, f, ex)
			}
		})
	}
}

// A secret never prints: not as a value, not inside a string, not in a
// list, a table or JSON; only a parameter that takes a password gets it.
func TestSecretsNeverPrint(t *testing.T) {
	path := newConfig(t)
	sh := New(path, nil)
	out := runOK(t, sh, `$s = ConvertTo-SecureString "Secr3t!pw" -AsPlainText -Force
$s
"in a string: $s"
$c = New-Object System.Management.Automation.PSCredential("kim@contoso.com", $s)
$c
$c | Format-List *
$c | ConvertTo-Json
$c.Password
Write-Host $c.Password
New-Mailbox -Name kim -PrimarySmtpAddress kim@contoso.com -Password $c.Password`)
	if strings.Contains(out, "Secr3t!pw") {
		t.Fatalf("the secret was printed:\n%s", out)
	}
	if n := strings.Count(out, "System.Security.SecureString"); n < 6 {
		t.Errorf("SecureString shown %d times:\n%s", n, out)
	}
	mb := loadConfig(t, path).Mailboxes[0]
	if ok, err := credentials.Verify(mb.PasswordHash, "Secr3t!pw"); !ok || err != nil {
		t.Errorf("New-Mailbox -Password $secure did not set the password: %v", err)
	}
	// ConvertTo-SecureString keeps PowerShell's rule for plain text.
	if err := sh.Run(`ConvertTo-SecureString "x"`); err == nil || !strings.Contains(err.Error(), "-AsPlainText -Force") {
		t.Errorf("plain text without -AsPlainText -Force: %v", err)
	}
	// Without a terminal or input, Read-Host says how to give the value.
	if err := sh.Run(`Read-Host "Password" -AsSecureString`); err == nil || !strings.Contains(err.Error(), "ConvertTo-SecureString") {
		t.Errorf("Read-Host without input: %v", err)
	}
}

// @{Add=...; Remove=...} is refused where it has no meaning, naming why;
// and a hashtable is a value of its own.
func TestHashtables(t *testing.T) {
	path := newConfig(t)
	sh := New(path, nil)
	out := runOK(t, sh, `$h = @{ Add = "a@contoso.com", "b@contoso.com"
  Remove = 'c@contoso.com' }
$h.Add
$h.remove
$h.Count
$h.Missing -eq $null`)
	if want := "a@contoso.com\nb@contoso.com\nc@contoso.com\n2\nTrue\n"; out != want {
		t.Errorf("hashtable values:\n%q\nwant\n%q", out, want)
	}
	before := loadConfig(t, path).ReceiveConnectors[0]
	for src, want := range map[string]string{
		`Set-ReceiveConnector "Default Frontend MAIL" -Banner @{Add="220 x"}`:                     "-Banner takes one value",
		`Set-ReceiveConnector "Default Frontend MAIL" -RemoteIPRanges @{Append="10.0.0.1"}`:       "the keys are Add and Remove",
		`Set-ReceiveConnector "Default Frontend MAIL" -RemoteIPRanges @{Add="10.0.0.1"; Add="x"}`: "given twice",
		`Set-ReceiveConnector "Default Frontend MAIL" -Bindings @{Add="nonsense"}`:                "nonsense",
		`$x = @{Add="a"`:   "missing '}'",
		`$x = @{Add "a"}`:  "expected '='",
		`$x = @{-Add="a"}`: "expected a key",
	} {
		err := sh.Run(src)
		if err == nil || !strings.Contains(err.Error(), want) {
			t.Errorf("%s: %v; want %q", src, err, want)
		}
	}
	if after := loadConfig(t, path).ReceiveConnectors[0]; after.RemoteIPRanges.String() != before.RemoteIPRanges.String() || after.Banner != before.Banner {
		t.Errorf("a refused edit changed the connector: %+v", after)
	}
	// The interactive shell reads on while a hashtable is open.
	if _, err := Parse(`@{Add="x";`); !Incomplete(err) {
		t.Errorf("an open @{ is not incomplete: %v", err)
	}
}

// -WhatIf says what would happen, for each object an identity matches,
// and changes nothing; -Server is this server or refused naming it.
func TestWhatIfAndServer(t *testing.T) {
	path := newConfig(t)
	before, _ := os.ReadFile(path)
	sh := New(path, nil)
	out := runOK(t, sh, `Set-ReceiveConnector "*Frontend*" -MaxMessageSize 10MB -WhatIf
Get-ReceiveConnector | Remove-ReceiveConnector -WhatIf -Confirm:$false
New-AcceptedDomain -Name fabrikam.com -DomainName fabrikam.com -WhatIf
Set-TransportConfig -ExternalPostmasterAddress postmaster@contoso.com -WhatIf`)
	want := `What if: Performing the operation "Set-ReceiveConnector" on target "Default Frontend MAIL".
What if: Performing the operation "Set-ReceiveConnector" on target "Client Frontend MAIL".
What if: Performing the operation "Remove-ReceiveConnector" on target "Default Frontend MAIL".
What if: Performing the operation "Remove-ReceiveConnector" on target "Client Frontend MAIL".
What if: Performing the operation "New-AcceptedDomain" on target "fabrikam.com".
What if: Performing the operation "Set-TransportConfig" on target "TransportConfig".
`
	if out != want {
		t.Errorf("-WhatIf printed:\n%s\nwant\n%s", out, want)
	}
	if err := sh.Run(`Remove-ReceiveConnector "Nonexistent" -WhatIf`); err == nil || !strings.Contains(err.Error(), "Nonexistent") {
		t.Errorf("-WhatIf on an identity that matches nothing: %v", err)
	}
	if after, _ := os.ReadFile(path); string(after) != string(before) {
		t.Error("-WhatIf changed the configuration")
	}
	runOK(t, sh, `Get-ReceiveConnector -Server MAIL; Get-ReceiveConnector -Server mail.contoso.com; New-ExchangeCertificate -Server mail -WhatIf`)
	err := sh.Run(`Get-ExchangeCertificate -Server EX01`)
	if err == nil || !strings.Contains(err.Error(), "-Server EX01") || !strings.Contains(err.Error(), "server MAIL (mail.contoso.com)") {
		t.Errorf("-Server EX01: %v", err)
	}
	if err := sh.Run(`Set-ReceiveConnector "Client Frontend MAIL" -Server MAIL -Banner "220 x"`); err == nil || !strings.Contains(err.Error(), "unknown parameter -Server") {
		t.Errorf("-Server on a cmdlet that has none in Exchange: %v", err)
	}
}

// Get-Help explains every parameter of every cmdlet, the shell's own
// included; Get-Command filters by noun and verb.
func TestHelpAndGetCommand(t *testing.T) {
	for _, name := range CmdletNames() {
		cl, err := lookupCmdlet(name)
		if err != nil {
			t.Fatal(err)
		}
		full, err := HelpWith(name, HelpOptions{Full: true})
		if err != nil {
			t.Fatalf("%s: %v", name, err)
		}
		for _, p := range cl.params {
			if strings.TrimSpace(p.help) == "" {
				t.Errorf("%s -%s has no help text", name, p.name)
			}
			if !strings.Contains(full, "    -"+p.name) {
				t.Errorf("Get-Help %s -Full does not list -%s", name, p.name)
			}
		}
	}
	sh := New(newConfig(t), nil)
	out := runOK(t, sh, `Get-Command -Noun ReceiveConnector | Format-Table Name
Get-Command -Verb Set -Noun *Connector | Format-Table Name
Get-Command *-Queue | Format-Table Name`)
	for _, w := range []string{"Get-ReceiveConnector", "New-ReceiveConnector", "Set-SendConnector", "Get-Queue"} {
		if !strings.Contains(out, w+"\n") {
			t.Errorf("Get-Command output lacks %s:\n%s", w, out)
		}
	}
	if strings.Contains(out, "Get-SendConnector") {
		t.Errorf("Get-Command -Verb Set lists Get-SendConnector:\n%s", out)
	}
	ex := runOK(t, sh, `Get-Help ConvertTo-SecureString -Examples`)
	if !strings.Contains(ex, `ConvertTo-SecureString "P@ssW0rD!" -AsPlainText -Force`) {
		t.Errorf("Get-Help -Examples:\n%s", ex)
	}
	p := runOK(t, sh, `Get-Help Set-ReceiveConnector -Parameter RemoteIPRanges`)
	if !strings.Contains(p, "@{Add=") {
		t.Errorf("Get-Help -Parameter RemoteIPRanges does not say it takes @{Add=...}:\n%s", p)
	}
}

// Lists, pipelines of values and comparisons of dates as Microsoft's
// examples write them.
func TestValuesAndDates(t *testing.T) {
	sh := New(newConfig(t), nil)
	out := runOK(t, sh, `"a","b" | % { "<$_>" }
@("x") | ForEach-Object { $_ }
"2026-05-04 09:30:00" -gt "03/13/2018 09:00:00"
"1/5/2018 3:00 PM" -lt "2018-01-05 16:00"
@(1,2,3).Count`)
	if want := "<a>\n<b>\nx\nTrue\nTrue\n3\n"; out != want {
		t.Errorf("got\n%q\nwant\n%q", out, want)
	}
}
