package service

import (
	"os"
	"path/filepath"
	"slices"
	"strings"
	"testing"

	"github.com/transportd/transportd/transport/admin/config"
)

// A single server runs without NATS: no cluster node, no cluster folder.
// Becoming a cluster member takes effect at the next restart (its NATS
// starts with it): the running daemon applies the rest of the file, keeps
// running alone, says once that the Cluster change waits for the restart,
// and every other change keeps being applied meanwhile.
func TestSingleServerRunsWithoutNATS(t *testing.T) {
	d := startDaemon(t, nil)
	if d.svc.Cluster() != nil {
		t.Fatal("a server without a Cluster section has a cluster node")
	}
	if _, err := os.Stat(filepath.Join(d.svc.Config().DataDir(), "cluster")); !os.IsNotExist(err) {
		t.Fatalf("a single server made a cluster folder: %v", err)
	}
	d.change(func(c *config.Config) {
		c.Cluster = config.ClusterConfig{Name: "contoso", Address: "127.0.0.1", MaildirShared: true}
		c.Transport.ExternalPostmasterAddress = "postmaster@contoso.com"
	})
	if d.svc.Config().Clustered() || d.svc.Cluster() != nil {
		t.Fatal("the running daemon became a cluster member without a restart")
	}
	if got := d.svc.Config().Transport.ExternalPostmasterAddress; got != "postmaster@contoso.com" {
		t.Fatalf("the change made with the Cluster one is not in force: %q", got)
	}
	d.svc.cfgMu.Lock()
	pending := d.svc.clusterPending
	d.svc.cfgMu.Unlock()
	if !strings.Contains(pending, "contoso") {
		t.Fatalf("the Cluster change waiting for the restart: %q", pending)
	}
	// Every other edit keeps working while the Cluster change waits.
	d.change(func(c *config.Config) {
		c.AcceptedDomains = append(c.AcceptedDomains, config.AcceptedDomain{Name: "tailspintoys.com", DomainName: "tailspintoys.com", DomainType: "Authoritative"})
	})
	if cfg := d.svc.Config(); !slices.ContainsFunc(cfg.AcceptedDomains, func(a config.AcceptedDomain) bool { return a.Name == "tailspintoys.com" }) || cfg.Clustered() {
		t.Fatalf("an accepted domain added while the Cluster change waits: %d domains, clustered %v", len(cfg.AcceptedDomains), cfg.Clustered())
	}
	if why := clusterRestart(d.svc.Config(), mustRead(t, d.cfgPath)); !strings.Contains(why, "next restart") {
		t.Fatalf("what the log says: %q", why)
	}
}

func mustRead(t *testing.T, path string) *config.Config {
	t.Helper()
	c, err := config.Read(path)
	if err != nil {
		t.Fatal(err)
	}
	return c
}
