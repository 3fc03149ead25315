package manage

import (
	"context"
	"errors"
	"fmt"
	"os"
	"strconv"
	"strings"
	"time"

	"github.com/transportd/transportd/transport/admin/cluster"
	"github.com/transportd/transportd/transport/admin/config"
)

// This file is issue 14: forming a cluster (transportd cluster new, join,
// token, leave). The commands write the Cluster section and the cluster
// folder; the daemon starts its NATS at the next start.

// RestartAdvice is what the cluster commands say once the files are
// written: the embedded NATS starts with the daemon.
const RestartAdvice = "It takes effect at the next restart of transportd (systemctl restart transportd); until then a running transportd keeps its cluster settings and applies every other change."

// takeClusterSettings applies the parameters new and join share to cc.
func takeClusterSettings(ps *Params, cc *config.ClusterConfig) error {
	for _, p := range []struct {
		name string
		dst  *string
	}{{"Address", &cc.Address}, {"AdvertiseAddress", &cc.AdvertiseAddress}, {"ExternalUrl", &cc.ExternalUrl}, {"CredentialsFile", &cc.CredentialsFile}} {
		if v, ok := ps.TakeExact(p.name); ok {
			*p.dst = strings.TrimSpace(v)
		}
	}
	for _, p := range []struct {
		name string
		dst  *int
	}{{"ClientPort", &cc.ClientPort}, {"RoutePort", &cc.RoutePort}} {
		if v, ok := ps.TakeExact(p.name); ok {
			n, err := strconv.Atoi(strings.TrimSpace(v))
			if err != nil || n < 1 || n > 65535 {
				return fmt.Errorf("-%s: %q is not a port (1-65535)", p.name, v)
			}
			*p.dst = n
		}
	}
	if v, ok := ps.TakeExact("MaildirShared"); ok {
		b, err := ParseBool(v)
		if err != nil {
			return fmt.Errorf("-MaildirShared: %w", err)
		}
		cc.MaildirShared = b
	}
	if v, ok := ps.TakeExact("SyncAlways"); ok {
		b, err := ParseBool(v)
		if err != nil {
			return fmt.Errorf("-SyncAlways: %w", err)
		}
		cc.SyncAlways = &b
	}
	if len(*ps) > 0 {
		return fmt.Errorf("-%s: not a parameter of this command", (*ps)[0].Name)
	}
	return nil
}

// ClusterNew makes this server the first member of a new cluster named
// name: the cluster's CA and keys in the data folder, this member's
// certificate, and the Cluster section. It returns the join token the
// other members join with.
func (m *Manager) ClusterNew(name string, ps Params) (string, error) {
	name = strings.TrimSpace(name)
	if name == "" {
		name = "transportd"
	}
	var token string
	_, err := config.Update(m.ConfigPath, func(c *config.Config) error {
		if c.Clustered() {
			return fmt.Errorf("this server is already a member of cluster %s; transportd cluster token prints its join token, transportd cluster leave takes it out", c.Cluster.Name)
		}
		c.Cluster = config.ClusterConfig{Name: name}
		if err := takeClusterSettings(&ps, &c.Cluster); err != nil {
			return err
		}
		if err := c.Validate(); err != nil {
			return err
		}
		b, err := cluster.NewBundle(name)
		if err != nil {
			return err
		}
		if err := writeMember(c, b); err != nil {
			return err
		}
		tok, err := cluster.IssueToken(b, c.ClusterAdvertised(), c.Cluster.ClientPortOrDefault(), 0, cluster.DefaultTokenLifetime, m.now())
		if err != nil {
			return err
		}
		token = tok.String()
		return nil
	})
	return token, err
}

// writeMember writes the bundle and this member's certificate.
func writeMember(c *config.Config, b *cluster.Bundle) error {
	dir := c.ClusterDir()
	if err := b.Save(dir); err != nil {
		return err
	}
	return b.IssueMember(dir, c.Server.Name, []string{c.Server.Fqdn, c.ClusterAdvertised(), c.Cluster.Address})
}

// ClusterJoin makes this server a member of the cluster the token names:
// it fetches the cluster's keys from the seed (over TLS pinned to the
// token's CA) and writes the Cluster section with the seed's routes. seed,
// when given, overrides the token's seed address.
func (m *Manager) ClusterJoin(ctx context.Context, seed, token string, ps Params) (string, error) {
	if strings.HasPrefix(seed, "TDJ1-") && token == "" {
		seed, token = "", seed
	}
	if token == "" {
		return "", errors.New("-Token is required: the join token transportd cluster new printed (transportd cluster token on a member prints it again)")
	}
	tok, err := cluster.ParseToken(token)
	if err != nil {
		return "", err
	}
	if seed != "" {
		tok.Seed = seed
	}
	if exp := tok.Expires(); !exp.IsZero() && !m.now().Before(exp) {
		return "", fmt.Errorf("the join token expired at %s: get a new one on any member with transportd cluster token (Get-TransportClusterJoinToken; -ValidFor sets its lifetime)", exp.UTC().Format(time.RFC3339))
	}
	cfg, err := m.Load()
	if err != nil {
		return "", err
	}
	if cfg.Clustered() {
		return "", fmt.Errorf("this server is already a member of cluster %s; transportd cluster leave takes it out first", cfg.Cluster.Name)
	}
	// Check the settings before asking the seed.
	probe := *cfg
	probe.Cluster = config.ClusterConfig{Name: "probe"}
	if err := takeClusterSettings(&ps, &probe.Cluster); err != nil {
		return "", err
	}
	if err := probe.Validate(); err != nil {
		return "", err
	}
	cctx, cancel := context.WithTimeout(ctx, 30*time.Second)
	defer cancel()
	reply, err := cluster.Join(cctx, tok, cfg.Server.Name, cfg.Server.Fqdn)
	if err != nil {
		return "", err
	}
	var name string
	_, err = config.Update(m.ConfigPath, func(c *config.Config) error {
		cc := probe.Cluster
		cc.Name = reply.Bundle.Cluster
		cc.Routes = reply.Routes
		c.Cluster = cc
		if err := c.Validate(); err != nil {
			return err
		}
		name = cc.Name
		return writeMember(c, reply.Bundle)
	})
	return name, err
}

// ClusterToken prints this member's join token (any member can seed),
// valid for validFor (0: DefaultTokenLifetime), in the join epoch the
// running daemon last wrote, or in epoch when it is not 0 (just rotated).
func (m *Manager) ClusterToken(validFor time.Duration, epoch uint64) (string, error) {
	c, err := m.Load()
	if err != nil {
		return "", err
	}
	if !c.Clustered() {
		return "", errors.New("this server is not a cluster member: transportd cluster new makes one")
	}
	b, err := cluster.LoadBundle(c.ClusterDir())
	if err != nil {
		return "", err
	}
	if validFor == 0 {
		validFor = cluster.DefaultTokenLifetime
	}
	if epoch == 0 {
		epoch = cluster.LocalJoinEpoch(c.ClusterDir())
	}
	tok, err := cluster.IssueToken(b, c.ClusterAdvertised(), c.Cluster.ClientPortOrDefault(), epoch, validFor, m.now())
	if err != nil {
		return "", err
	}
	return tok.String(), nil
}

// ClusterLeave removes the Cluster section: at its next start the server
// runs alone on its local journal and configuration. The cluster folder
// (CA, keys, JetStream store) is kept unless purge.
func (m *Manager) ClusterLeave(purge bool) (string, error) {
	var name string
	_, err := config.Update(m.ConfigPath, func(c *config.Config) error {
		if !c.Clustered() {
			return errors.New("this server is not a cluster member")
		}
		name = c.Cluster.Name
		c.Cluster = config.ClusterConfig{}
		if purge {
			return os.RemoveAll(c.ClusterDir())
		}
		return nil
	})
	return name, err
}
