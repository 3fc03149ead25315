package service

import (
	"os"
	"path/filepath"
	"strings"
	"testing"

	"github.com/transportd/transportd/transport/admin/config"
)

// A single server runs without NATS: no cluster node, no cluster folder.
// Becoming a cluster member is refused by the running daemon with the
// advice to restart (its NATS starts with it), and the configuration in
// force stays.
func TestSingleServerRunsWithoutNATS(t *testing.T) {
	d := startDaemon(t, nil)
	if d.svc.Cluster() != nil {
		t.Fatal("a server without a Cluster section has a cluster node")
	}
	if _, err := os.Stat(filepath.Join(d.svc.Config().DataDir(), "cluster")); !os.IsNotExist(err) {
		t.Fatalf("a single server made a cluster folder: %v", err)
	}
	if _, err := config.Update(d.cfgPath, func(c *config.Config) error {
		c.Cluster = config.ClusterConfig{Name: "contoso", Address: "127.0.0.1", MaildirShared: true}
		return nil
	}); err != nil {
		t.Fatal(err)
	}
	if err := d.refusedReload(); err == nil || !strings.Contains(err.Error(), "restart transportd") {
		t.Fatalf("reload into a cluster: %v", err)
	}
	if d.svc.Config().Clustered() || d.svc.Cluster() != nil {
		t.Fatal("the running daemon became a cluster member without a restart")
	}
}
