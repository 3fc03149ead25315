package shell

import (
	"os"
	"path/filepath"
	"strings"
	"testing"

	"github.com/transportd/transportd/transport/admin/config"
)

// newConfig writes a config for mail.contoso.com with the default
// connectors into a temp dir and returns its path.
func newConfig(t *testing.T) string {
	t.Helper()
	path := filepath.Join(t.TempDir(), "transportd.yaml")
	if err := os.WriteFile(path, []byte("Server:\n  Name: MAIL\n  Fqdn: mail.contoso.com\n"), 0o640); err != nil {
		t.Fatal(err)
	}
	def := config.Defaults("mail.contoso.com")
	if _, err := config.Update(path, func(c *config.Config) error {
		c.ReceiveConnectors, c.AcceptedDomains = def.ReceiveConnectors, def.AcceptedDomains
		return nil
	}); err != nil {
		t.Fatal(err)
	}
	return path
}

// runOK runs a script that must succeed and returns its output.
func runOK(t *testing.T, sh *Shell, src string) string {
	t.Helper()
	var out strings.Builder
	sh.Out = &out
	if err := sh.Run(src); err != nil {
		t.Fatalf("%s\n=> %v\noutput:\n%s", src, err, out.String())
	}
	return out.String()
}

// runErr runs a script that must fail and returns the error text.
func runErr(t *testing.T, sh *Shell, src string) string {
	t.Helper()
	var out strings.Builder
	sh.Out = &out
	err := sh.Run(src)
	if err == nil {
		t.Fatalf("%s: no error; output:\n%s", src, out.String())
	}
	return err.Error()
}

func loadConfig(t *testing.T, path string) *config.Config {
	t.Helper()
	c, err := config.Load(path)
	if err != nil {
		t.Fatal(err)
	}
	return c
}
