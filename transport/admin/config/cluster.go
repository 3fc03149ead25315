package config

import (
	"errors"
	"fmt"
	"net"
	"path/filepath"
	"strings"
)

// ClusterConfig is the Cluster section (issue 14): this member's place in a
// cluster of transport servers sharing one configuration over NATS
// JetStream. A configuration without it (Name empty) is a single server with
// no NATS at all. It is server-scoped: each member keeps its own.
type ClusterConfig struct {
	// Name is the cluster's name (NATS's cluster name), the same on every
	// member; empty: not clustered.
	Name string `yaml:"Name"`
	// Address is the address this member's NATS listens on for routes and
	// joining members ("" = every address); it is also what other members
	// and join tokens use to reach it unless AdvertiseAddress says better.
	Address string `yaml:"Address,omitempty"`
	// AdvertiseAddress is the host or IP other members reach this member
	// at; empty: Address when it is a single address, else Server.Fqdn.
	AdvertiseAddress string `yaml:"AdvertiseAddress,omitempty"`
	// ClientPort is the NATS client port (default 4222): the daemon's own
	// connection, and joining members fetching the cluster's keys with a
	// join token.
	ClientPort int `yaml:"ClientPort,omitempty"`
	// RoutePort is the NATS route port (default 6222), TLS with
	// certificates of the cluster's CA on both sides.
	RoutePort int `yaml:"RoutePort,omitempty"`
	// Routes are the seed routes, host:port of other members' RoutePort
	// (nats-route:// is optional).
	Routes []string `yaml:"Routes,omitempty,flow"`
	// ExternalUrl connects to an external NATS cluster the admin runs
	// instead of embedding one (nats://, tls://); CredentialsFile is its
	// .creds file.
	ExternalUrl     string `yaml:"ExternalUrl,omitempty"`
	CredentialsFile string `yaml:"CredentialsFile,omitempty"`
	// MaildirShared declares that the Maildir root (the data folder's
	// mailboxes) is one shared file system on every member. Without it a
	// cluster of more than one member must deliver to mailboxes by LMTP
	// (Transport.MailboxDeliveryLmtpServer).
	MaildirShared bool `yaml:"MaildirShared,omitempty"`

	// SyncAlways makes the embedded NATS fsync every JetStream write
	// before it acknowledges it (nats-server's `jetstream { sync: always }`,
	// server.Options.SyncAlways, which also syncs the streams' Raft logs).
	// A message then gets 250 only once it is on the disk of a quorum of
	// the replicas: the promise a single server keeps by fsyncing its
	// journal before 250, so a power cut of the whole site loses nothing.
	// nil (the default) is true, because an admin who moves to a cluster
	// for "nothing that got 250 is ever lost" expects that promise kept;
	// false keeps NATS's default (an fsync every 2 minutes: at 250 a
	// message is in two members' memory, lost if both lose power within
	// those minutes) and buys throughput, the README gives the figures.
	// With ExternalUrl it is the NATS servers' own setting, and refused.
	SyncAlways *bool `yaml:"SyncAlways,omitempty"`
}

// SyncAlwaysOrDefault is SyncAlways, true when unset.
func (cc ClusterConfig) SyncAlwaysOrDefault() bool {
	return cc.SyncAlways == nil || *cc.SyncAlways
}

// Default NATS ports.
const (
	DefaultClusterClientPort = 4222
	DefaultClusterRoutePort  = 6222
)

// Clustered reports whether this server is a member of a cluster.
func (c *Config) Clustered() bool { return strings.TrimSpace(c.Cluster.Name) != "" }

// ClusterDir is the folder of the cluster's CA, this member's certificate,
// the cluster key and the JetStream store.
func (c *Config) ClusterDir() string { return filepath.Join(c.DataDir(), "cluster") }

// ClientPortOrDefault is ClientPort, or 4222.
func (cc ClusterConfig) ClientPortOrDefault() int {
	if cc.ClientPort == 0 {
		return DefaultClusterClientPort
	}
	return cc.ClientPort
}

// RoutePortOrDefault is RoutePort, or 6222.
func (cc ClusterConfig) RoutePortOrDefault() int {
	if cc.RoutePort == 0 {
		return DefaultClusterRoutePort
	}
	return cc.RoutePort
}

// Advertised is the host other members and join tokens reach this member at.
func (c *Config) ClusterAdvertised() string {
	cc := c.Cluster
	if cc.AdvertiseAddress != "" {
		return cc.AdvertiseAddress
	}
	if a := cc.Address; a != "" && a != "0.0.0.0" && a != "::" {
		return a
	}
	return c.Server.Fqdn
}

// validateCluster checks the Cluster section.
func (c *Config) validateCluster() error {
	cc := c.Cluster
	if !c.Clustered() {
		if len(cc.Routes) > 0 || cc.ExternalUrl != "" {
			return errors.New("Cluster.Name: empty, but Cluster has Routes or ExternalUrl; give the cluster a name (transportd cluster new) or remove the section")
		}
		return nil
	}
	var errs []error
	if strings.ContainsAny(cc.Name, " \t.*>") {
		errs = append(errs, fmt.Errorf("Cluster.Name: %q may not contain spaces, dots, * or >", cc.Name))
	}
	if strings.ContainsAny(c.Server.Name, " \t.*>") {
		errs = append(errs, fmt.Errorf("Server.Name: %q names this cluster member and may not contain spaces, dots, * or >", c.Server.Name))
	}
	for _, p := range []struct {
		name string
		v    int
	}{{"ClientPort", cc.ClientPort}, {"RoutePort", cc.RoutePort}} {
		if p.v < 0 || p.v > 65535 {
			errs = append(errs, fmt.Errorf("Cluster.%s: %d is not a port (1-65535)", p.name, p.v))
		}
	}
	if cc.Address != "" && net.ParseIP(cc.Address) == nil {
		errs = append(errs, fmt.Errorf("Cluster.Address: %q is not an IP address (give the address NATS listens on, or leave it empty for all)", cc.Address))
	}
	for _, r := range cc.Routes {
		h := strings.TrimPrefix(r, "nats-route://")
		if _, _, err := net.SplitHostPort(h); err != nil {
			errs = append(errs, fmt.Errorf("Cluster.Routes: %q is not host:port of another member's route port", r))
		}
	}
	// Issue 14 item 5: every member delivers from the shared queue, so a
	// mailbox's mail may be delivered by any of them; a Maildir folder
	// that is not the same on every member would split a mailbox.
	if len(c.Mailboxes) > 0 && !cc.MaildirShared && strings.TrimSpace(c.Transport.MailboxDeliveryLmtpServer) == "" {
		errs = append(errs, errors.New("Transport.MailboxDeliveryLmtpServer: in a cluster, mail for mailboxes goes by LMTP to the mailbox server (Dovecot): set it (transportd transportconfig set -MailboxDeliveryLmtpServer mailstore.contoso.com:24), or declare the Maildir root one shared file system on every member (Cluster.MaildirShared: true, transportd cluster new/join -MaildirShared $true)"))
	}
	if cc.ExternalUrl != "" && !strings.Contains(cc.ExternalUrl, "://") {
		errs = append(errs, fmt.Errorf("Cluster.ExternalUrl: %q is not a URL such as nats://nats1.contoso.com:4222", cc.ExternalUrl))
	}
	if cc.ExternalUrl != "" && cc.SyncAlways != nil {
		errs = append(errs, errors.New("Cluster.SyncAlways: with an external NATS (Cluster.ExternalUrl) when JetStream fsyncs is the NATS servers' own setting, not transportd's: set `jetstream { sync: always }` in their configuration and remove SyncAlways here"))
	}
	return errors.Join(errs...)
}
