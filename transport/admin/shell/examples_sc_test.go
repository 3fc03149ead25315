package shell

import (
	"bufio"
	"os"
	"path/filepath"
	"strings"
	"testing"
)

// example is one example of a corpus file in testdata/examples.
type example struct {
	name, expect, src string
}

// readExamples parses a corpus file: "# Example: NAME" and "# Expect: WHAT"
// header lines, then the example's lines.
func readExamples(t *testing.T, path string) []example {
	t.Helper()
	f, err := os.Open(path)
	if err != nil {
		t.Fatal(err)
	}
	defer f.Close()
	var out []example
	sc := bufio.NewScanner(f)
	for sc.Scan() {
		line := sc.Text()
		switch {
		case strings.HasPrefix(line, "# Example: "):
			out = append(out, example{name: strings.TrimPrefix(line, "# Example: ")})
		case strings.HasPrefix(line, "# Expect: ") && len(out) > 0:
			out[len(out)-1].expect = strings.TrimPrefix(line, "# Expect: ")
		case len(out) > 0:
			out[len(out)-1].src += line + "\n"
		}
	}
	if err := sc.Err(); err != nil {
		t.Fatal(err)
	}
	return out
}

// TestExamplesSendConnectorTransport runs the corpus files of the send
// connector, transport service and transport config cmdlets top to bottom,
// each in one shell session on a fresh default configuration, and checks
// what each example's "# Expect:" says.
func TestExamplesSendConnectorTransport(t *testing.T) {
	_, haveGetCredential := lookupCmdletOK("Get-Credential")
	for _, file := range []string{"New-SendConnector", "Set-SendConnector", "Get-SendConnector", "Remove-SendConnector",
		"Get-TransportService", "Set-TransportService", "Get-TransportConfig", "Set-TransportConfig"} {
		t.Run(file, func(t *testing.T) {
			exs := readExamples(t, filepath.Join("testdata", "examples", file+".ps1"))
			if len(exs) == 0 {
				t.Fatal("no examples")
			}
			sh := New(newConfig(t), nil)
			for _, ex := range exs {
				if strings.Contains(ex.src, "Get-Credential") && !haveGetCredential {
					t.Logf("%s: skipped until the shell has Get-Credential", ex.name)
					continue
				}
				var out strings.Builder
				sh.Out = &out
				err := sh.Run(ex.src)
				kind, text, _ := strings.Cut(ex.expect, " ")
				switch kind {
				case "ok":
					if err != nil {
						t.Errorf("%s: %v\n%s", ex.name, err, out.String())
					}
				case "warning":
					if err != nil || !strings.Contains(out.String(), text) {
						t.Errorf("%s: err %v, output %q; want a warning containing %q", ex.name, err, out.String(), text)
					}
				case "missing":
					if err == nil || !strings.Contains(err.Error(), text) {
						t.Errorf("%s: err %v; want a failure naming %q", ex.name, err, text)
					}
				default:
					t.Errorf("%s: unknown expectation %q", ex.name, ex.expect)
				}
			}
		})
	}
}

func lookupCmdletOK(name string) (*cmdlet, bool) {
	c, err := lookupCmdlet(name)
	return c, err == nil
}
