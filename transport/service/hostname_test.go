package service

import (
	"bytes"
	"log/slog"
	"path/filepath"
	"strings"
	"testing"

	"github.com/transportd/transportd/transport/admin/config"
)

// A server name without a dot is warned about at start, naming the fix; a
// qualified one is not.
func TestWarnUnqualifiedFqdn(t *testing.T) {
	path := filepath.Join(t.TempDir(), "transportd.yaml")
	for _, tc := range []struct {
		fqdn string
		warn bool
	}{{"vm", true}, {"mail.contoso.com", false}} {
		c, err := config.Load(path)
		if err != nil {
			t.Fatal(err)
		}
		c.Server.Fqdn = tc.fqdn
		var buf bytes.Buffer
		warnUnqualified(slog.New(slog.NewTextHandler(&buf, nil)), c)
		out := buf.String()
		if got := strings.Contains(out, "level=WARN") && strings.Contains(out, "NOT FULLY QUALIFIED") &&
			strings.Contains(out, "hostname -f") && strings.Contains(out, "Server.Fqdn"); got != tc.warn {
			t.Fatalf("Fqdn %q: warned %v, want %v:\n%s", tc.fqdn, got, tc.warn, out)
		}
	}
}
