package main

import (
	"context"
	"errors"
	"fmt"
	"log/slog"
	"net/netip"
	"os"
	"path/filepath"
	"sort"
	"strings"
	"testing"

	"github.com/transportd/transportd/transport/admin/config"
	"github.com/transportd/transportd/transport/admin/registry"
	"github.com/transportd/transportd/transport/admin/shell"
	"github.com/transportd/transportd/transport/service"
)

// The example corpus: Microsoft's documented cmdlet examples, as written,
// in transport/admin/shell/testdata/examples/<Cmdlet>.ps1. Each file runs
// top to bottom in one session of the shell `transportd shell` runs,
// against a fresh default configuration (server MAIL, mail.contoso.com)
// with the daemon running. An example is
//
//	# Example: Set-ReceiveConnector 1
//	# Expect: ok | warning <text> | missing <text>
//	# Stdin: a line given on standard input (repeatable; optional)
//	<script lines>
//
// ok: the shell exits 0 and prints no error; warning: it exits 0 and its
// output holds <text>; missing: it fails, and only because an object named
// <text> does not exist (the error names it).
const examplesDir = "../../transport/admin/shell/testdata/examples"

// example is one corpus entry with its expectation read.
type example struct {
	file, title string
	expect      string // ok, warning, missing
	text        string
	input       []string
	script      string
}

// parseExamples reads one corpus file with the shell's own reader (the
// one Get-Help -Examples uses) and checks every entry's expectation.
func parseExamples(path string) ([]example, error) {
	b, err := os.ReadFile(path)
	if err != nil {
		return nil, err
	}
	src := string(b)
	if first := strings.Index(src, "# Example:"); first > 0 {
		for _, line := range strings.Split(src[:first], "\n") {
			if l := strings.TrimSpace(line); l != "" && !strings.HasPrefix(l, "#") {
				return nil, fmt.Errorf("%s: script before the first # Example: line", path)
			}
		}
	}
	var out []example
	for _, ex := range shell.ParseExamples(src) {
		e := example{file: filepath.Base(path), title: ex.Title, input: ex.Stdin, script: ex.Script}
		kind, text, _ := strings.Cut(ex.Expect, " ")
		e.expect, e.text = strings.ToLower(kind), strings.Trim(strings.TrimSpace(text), `"`)
		switch {
		case ex.Expect == "":
			return nil, fmt.Errorf("%s: example %q has no # Expect: line", path, ex.Title)
		case e.expect != "ok" && e.expect != "warning" && e.expect != "missing":
			return nil, fmt.Errorf("%s: example %q: # Expect: %q: want ok, warning <text> or missing <text>", path, ex.Title, ex.Expect)
		case e.expect != "ok" && e.text == "":
			return nil, fmt.Errorf("%s: example %q: # Expect: %s needs the text to look for", path, ex.Title, e.expect)
		case e.script == "":
			return nil, fmt.Errorf("%s: example %q has no script", path, ex.Title)
		}
		out = append(out, e)
	}
	return out, nil
}

func TestParseExamplesRefusesMalformedFiles(t *testing.T) {
	dir := t.TempDir()
	for name, src := range map[string]string{
		"noexpect.ps1": "# Example: x\nGet-ReceiveConnector\n",
		"badkind.ps1":  "# Example: x\n# Expect: fine\nGet-ReceiveConnector\n",
		"notext.ps1":   "# Example: x\n# Expect: missing\nGet-ReceiveConnector\n",
		"noscript.ps1": "# Example: x\n# Expect: ok\n",
		"stray.ps1":    "Get-ReceiveConnector\n# Example: x\n# Expect: ok\nGet-ReceiveConnector\n",
	} {
		p := filepath.Join(dir, name)
		if err := os.WriteFile(p, []byte(src), 0o644); err != nil {
			t.Fatal(err)
		}
		if _, err := parseExamples(p); err == nil {
			t.Errorf("%s: parsed without error", name)
		}
	}
	p := filepath.Join(dir, "good.ps1")
	src := "# a comment\n\n# Example: one\n# Expect: warning \"inert on Linux\"\n# Stdin: admin\nSet-X -A 1 `\n  -B 2\n\n# Example: two\n# Expect: ok\nGet-X\n"
	if err := os.WriteFile(p, []byte(src), 0o644); err != nil {
		t.Fatal(err)
	}
	ex, err := parseExamples(p)
	if err != nil {
		t.Fatal(err)
	}
	if len(ex) != 2 || ex[0].expect != "warning" || ex[0].text != "inert on Linux" ||
		len(ex[0].input) != 1 || ex[0].script != "Set-X -A 1 `\n  -B 2" || ex[1].script != "Get-X" {
		t.Fatalf("parsed %+v", ex)
	}
}

// corpusConfig writes the fresh configuration each corpus file runs
// against, with the default connectors on free loopback ports.
func corpusConfig(t *testing.T) string {
	t.Helper()
	path := filepath.Join(t.TempDir(), "transportd.yaml")
	if err := os.WriteFile(path, []byte("Server:\n  Name: MAIL\n  Fqdn: mail.contoso.com\n"), 0o640); err != nil {
		t.Fatal(err)
	}
	def := config.Defaults("mail.contoso.com")
	if _, err := config.Update(path, func(c *config.Config) error {
		c.ReceiveConnectors, c.AcceptedDomains = def.ReceiveConnectors, def.AcceptedDomains
		for i := range c.ReceiveConnectors {
			c.ReceiveConnectors[i].Bindings = []netip.AddrPort{netip.AddrPortFrom(netip.MustParseAddr("127.0.0.1"), uint16(freePort(t)))}
		}
		c.Logging.MetricsAddress = ""
		c.ClientSettings.HttpBindings = nil
		return nil
	}); err != nil {
		t.Fatal(err)
	}
	return path
}

// TestExampleCorpus runs every example of the corpus through the shell
// against a running daemon.
func TestExampleCorpus(t *testing.T) {
	files, err := filepath.Glob(filepath.Join(examplesDir, "*.ps1"))
	if err != nil {
		t.Fatal(err)
	}
	if len(files) == 0 {
		t.Fatalf("no corpus files in %s", examplesDir)
	}
	sort.Strings(files)
	for _, file := range files {
		t.Run(strings.TrimSuffix(filepath.Base(file), ".ps1"), func(t *testing.T) {
			examples, err := parseExamples(file)
			if err != nil {
				t.Fatal(err)
			}
			path := corpusConfig(t)
			svc, err := service.Open(context.Background(), path, slog.New(slog.DiscardHandler))
			if err != nil {
				t.Fatal(err)
			}
			ctx, cancel := context.WithCancel(context.Background())
			done := make(chan struct{})
			go func() { defer close(done); svc.Run(ctx) }()
			defer func() { cancel(); <-done }()
			var out strings.Builder
			sh := shell.New(path, &out)
			for _, ex := range examples {
				// The lines an example types (Read-Host, Get-Credential, -Password -).
				in := append([]string(nil), ex.input...)
				next := func() (string, error) {
					if len(in) == 0 {
						return "", errors.New("standard input has no more lines")
					}
					l := in[0]
					in = in[1:]
					return l, nil
				}
				sh.ReadLine = func(string, bool) (string, error) { return next() }
				sh.ReadPassword = next
				out.Reset()
				err := sh.Run(ex.script)
				text := out.String()
				where := fmt.Sprintf("%s (%s)", ex.file, ex.title)
				switch ex.expect {
				case "ok":
					if err != nil {
						t.Errorf("%s: expected ok:\n%s\n=> %v\n%s", where, ex.script, err, text)
					}
				case "warning":
					if err != nil || !strings.Contains(strings.ToLower(text), strings.ToLower(ex.text)) {
						t.Errorf("%s: expected success with output holding %q:\n%s\n=> %v\n%s", where, ex.text, ex.script, err, text)
					}
				case "missing":
					if err == nil || !strings.Contains(strings.ToLower(err.Error()), strings.ToLower(ex.text)) {
						t.Errorf("%s: expected a failure naming the missing %q:\n%s\n=> %v\n%s", where, ex.text, ex.script, err, text)
					}
				}
				if len(in) > 0 {
					t.Errorf("%s: input lines left unread: %q", where, in)
				}
			}
		})
	}
}

// Every cmdlet the registry declares has corpus examples, so a new cmdlet
// comes with Microsoft's documented usage.
func TestEveryCmdletHasCorpusExamples(t *testing.T) {
	covered := map[string]bool{}
	files, _ := filepath.Glob(filepath.Join(examplesDir, "*.ps1"))
	for _, f := range files {
		ex, err := parseExamples(f)
		if err != nil {
			t.Fatal(err)
		}
		for _, e := range ex {
			for _, word := range strings.Fields(strings.NewReplacer("|", " ", "(", " ", ")", " ", "{", " ", "}", " ", ";", " ").Replace(e.script)) {
				covered[strings.ToLower(word)] = true
			}
		}
	}
	var missing []string
	for _, k := range registry.Kinds() {
		for _, v := range k.Verbs() {
			c, _ := k.Command(v)
			if c.Cmdlet != "" && !covered[strings.ToLower(c.Cmdlet)] {
				missing = append(missing, c.Cmdlet)
			}
		}
	}
	sort.Strings(missing)
	if len(missing) > 0 {
		t.Errorf("cmdlets without corpus examples (add transport/admin/shell/testdata/examples/<Cmdlet-Name>.ps1 with Microsoft's EXAMPLES): %s", strings.Join(missing, ", "))
	}
}
