package config

import (
	"errors"
	"fmt"
	"io/fs"
	"os"
	"os/user"
	"path/filepath"
	"strconv"
	"time"

	"github.com/transportd/transportd/policies/address"
	"github.com/transportd/transportd/policies/dnsclient"
	"github.com/transportd/transportd/policies/value"
)

// TransportConfig holds the server-wide transport settings, with the names
// of Exchange's Get-/Set-TransportConfig and Set-TransportService.
type TransportConfig struct {
	// TransientFailureRetryInterval is the wait between the first quick retries (00:05:00).
	TransientFailureRetryInterval value.TimeSpan `yaml:"TransientFailureRetryInterval"`
	// TransientFailureRetryAttempts is how many quick retries come first (6).
	TransientFailureRetryAttempts int `yaml:"TransientFailureRetryAttempts"`
	// MessageRetryInterval is the wait between later retries (00:15:00).
	MessageRetryInterval value.TimeSpan `yaml:"MessageRetryInterval"`
	// MessageExpirationTimeout is how long a message may wait before it bounces (2.00:00:00).
	MessageExpirationTimeout value.TimeSpan `yaml:"MessageExpirationTimeout"`
	// DelayNotificationTimeout is when the sender is told once that delivery is late (04:00:00).
	DelayNotificationTimeout value.TimeSpan `yaml:"DelayNotificationTimeout"`
	// MaxPerQueueConcurrency caps parallel deliveries per next hop (20).
	MaxPerQueueConcurrency int `yaml:"MaxPerQueueConcurrency"`
	// MailboxDeliveryLmtpServer, when set ("host:port" or a socket path),
	// delivers local mail over LMTP to that mailbox server instead of
	// into the Maildirs under the data folder.
	MailboxDeliveryLmtpServer string `yaml:"MailboxDeliveryLmtpServer"`
	// MaildirOwner is the user (name or uid) that owns delivered Maildirs,
	// e.g. Dovecot's "vmail"; empty keeps them owned by transportd's user.
	MaildirOwner string `yaml:"MaildirOwner"`
	// PickupDirectoryPath is the IIS pickup folder; relative to the data folder ("pickup").
	PickupDirectoryPath string `yaml:"PickupDirectoryPath"`
	// BadMailDirectoryPath receives malformed pickup files; relative to the data folder ("badmail").
	BadMailDirectoryPath string `yaml:"BadMailDirectoryPath"`
	// ExternalPostmasterAddress sends DSNs; empty is postmaster@<default accepted domain>.
	ExternalPostmasterAddress string `yaml:"ExternalPostmasterAddress"`
	// AuthFailureLockoutThreshold is how many failed logons from one
	// source address (an IPv6 /64) or for one user name, across
	// connections, block further AUTH with 454 4.7.0 (10; 0 turns the
	// lockout off). A user name is blocked only for sources that have not
	// logged on to it before.
	AuthFailureLockoutThreshold int `yaml:"AuthFailureLockoutThreshold"`
	// AuthFailureWindow is how long a failed logon counts: the count
	// starts over this long after the last failure (00:15:00).
	AuthFailureWindow value.TimeSpan `yaml:"AuthFailureWindow"`
	// AuthFailureLockoutDuration is how long the first block lasts; each
	// further one while failures are remembered lasts twice as long, up to
	// a day (00:15:00).
	AuthFailureLockoutDuration value.TimeSpan `yaml:"AuthFailureLockoutDuration"`

	// ---- issue 10: Set-TransportService names kept here ----

	// OutboundConnectionFailureRetryInterval is the wait before a next hop
	// that refused or dropped the connection is tried again, once its
	// TransientFailureRetryAttempts quick retries are used up (00:10:00).
	OutboundConnectionFailureRetryInterval value.TimeSpan `yaml:"OutboundConnectionFailureRetryInterval"`
	// MaxOutboundConnections caps deliveries running at once, over all next hops (1000).
	MaxOutboundConnections value.Unlimited `yaml:"MaxOutboundConnections"`
	// MaxConcurrentMailboxDeliveries caps parallel deliveries to the local mailboxes (20).
	MaxConcurrentMailboxDeliveries int `yaml:"MaxConcurrentMailboxDeliveries"`
	// ExternalDNSServers resolve MX and host names for send connectors
	// with UseExternalDNSServersEnabled: IP addresses (or address:port).
	ExternalDNSServers []string `yaml:"ExternalDNSServers,omitempty,flow"`
	// InternalDNSServers, when set, resolve for the other send connectors
	// instead of /etc/resolv.conf.
	InternalDNSServers []string `yaml:"InternalDNSServers,omitempty,flow"`

	// ---- issue 10: Set-TransportConfig names ----

	// MaxSendSize is the largest message sent out through a send connector; 0 is Unlimited.
	MaxSendSize SizeLimit `yaml:"MaxSendSize"`
	// MaxReceiveSize is the largest message delivered to a mailbox here; 0 is Unlimited.
	MaxReceiveSize SizeLimit `yaml:"MaxReceiveSize"`
	// ExternalDelayDsnEnabled sends delay DSNs to senders that are not mailboxes here (true).
	ExternalDelayDsnEnabled bool `yaml:"ExternalDelayDsnEnabled"`
	// InternalDelayDsnEnabled sends delay DSNs to senders that are mailboxes here (true).
	InternalDelayDsnEnabled bool `yaml:"InternalDelayDsnEnabled"`
}

// DefaultTransportConfig returns Exchange's defaults.
func DefaultTransportConfig() TransportConfig {
	return TransportConfig{
		TransientFailureRetryInterval: value.TimeSpan(5 * time.Minute),
		TransientFailureRetryAttempts: 6,
		MessageRetryInterval:          value.TimeSpan(15 * time.Minute),
		MessageExpirationTimeout:      value.TimeSpan(48 * time.Hour),
		DelayNotificationTimeout:      value.TimeSpan(4 * time.Hour),
		MaxPerQueueConcurrency:        20,
		PickupDirectoryPath:           "pickup",
		BadMailDirectoryPath:          "badmail",
		AuthFailureLockoutThreshold:   10,
		AuthFailureWindow:             value.TimeSpan(15 * time.Minute),
		AuthFailureLockoutDuration:    value.TimeSpan(15 * time.Minute),
		// issue 10: Exchange's defaults of Set-TransportService and Set-TransportConfig.
		OutboundConnectionFailureRetryInterval: value.TimeSpan(10 * time.Minute),
		MaxOutboundConnections:                 1000,
		MaxConcurrentMailboxDeliveries:         20,
		ExternalDelayDsnEnabled:                true,
		InternalDelayDsnEnabled:                true,
	}
}

// Validate checks the transport settings; errors name the parameter and value.
func (t *TransportConfig) Validate() error {
	var errs []error
	bad := func(p string, f string, a ...any) {
		errs = append(errs, fmt.Errorf("Transport.%s: %s", p, fmt.Sprintf(f, a...)))
	}
	if t.TransientFailureRetryInterval <= 0 || t.TransientFailureRetryInterval.Duration() > 12*time.Hour {
		bad("TransientFailureRetryInterval", "%v is outside 00:00:01 to 12:00:00", t.TransientFailureRetryInterval)
	}
	if t.TransientFailureRetryAttempts < 0 || t.TransientFailureRetryAttempts > 15 {
		bad("TransientFailureRetryAttempts", "%d is outside 0 to 15", t.TransientFailureRetryAttempts)
	}
	if t.MessageRetryInterval <= 0 || t.MessageRetryInterval.Duration() > 24*time.Hour {
		bad("MessageRetryInterval", "%v is outside 00:00:01 to 1.00:00:00", t.MessageRetryInterval)
	}
	if t.MessageExpirationTimeout <= 0 || t.MessageExpirationTimeout.Duration() > 90*24*time.Hour {
		bad("MessageExpirationTimeout", "%v is outside 00:00:01 to 90.00:00:00", t.MessageExpirationTimeout)
	}
	if t.DelayNotificationTimeout <= 0 {
		bad("DelayNotificationTimeout", "%v must be above zero", t.DelayNotificationTimeout)
	}
	if t.MaxPerQueueConcurrency < 1 || t.MaxPerQueueConcurrency > 1000 {
		bad("MaxPerQueueConcurrency", "%d is outside 1 to 1000", t.MaxPerQueueConcurrency)
	}
	if a := t.ExternalPostmasterAddress; a != "" {
		// DSNs are sent from it and replies to them come back to it.
		if _, err := address.ParseRecipient(a); err != nil {
			bad("ExternalPostmasterAddress", "%v; give an address such as postmaster@contoso.com, or empty for postmaster@<default accepted domain>", err)
		}
	}
	pickup, badmail := t.PickupDirectoryPath, t.BadMailDirectoryPath
	if pickup == "" {
		pickup = "pickup"
	}
	if badmail == "" {
		badmail = "badmail"
	}
	if filepath.Clean(pickup) == filepath.Clean(badmail) {
		bad("BadMailDirectoryPath", "%q is the pickup folder too; give badmail a folder of its own", t.BadMailDirectoryPath)
	}
	if t.AuthFailureLockoutThreshold < 0 || t.AuthFailureLockoutThreshold > 1000 {
		bad("AuthFailureLockoutThreshold", "%d is outside 0 (off) to 1000", t.AuthFailureLockoutThreshold)
	}
	if t.AuthFailureWindow < value.TimeSpan(time.Second) || t.AuthFailureWindow.Duration() > 24*time.Hour {
		bad("AuthFailureWindow", "%v is outside 00:00:01 to 1.00:00:00", t.AuthFailureWindow)
	}
	for _, s := range t.ExternalDNSServers {
		if _, err := dnsclient.ParseServer(s); err != nil {
			bad("ExternalDNSServers", "%v", err)
		}
	}
	if t.AuthFailureLockoutDuration < value.TimeSpan(time.Second) || t.AuthFailureLockoutDuration.Duration() > 24*time.Hour {
		bad("AuthFailureLockoutDuration", "%v is outside 00:00:01 to 1.00:00:00", t.AuthFailureLockoutDuration)
	}
	errs = append(errs, t.validateExchangeNames(bad)...)
	return errors.Join(errs...)
}

// MaildirOwnerIDs looks MaildirOwner (a user name or a uid) up on this
// machine: ok is false when it is empty (the Maildirs stay owned by
// transportd's user). The daemon uses it when it applies the configuration
// and the management commands at set time, so they refuse the same names.
func (t *TransportConfig) MaildirOwnerIDs() (uid, gid int, ok bool, err error) {
	name := t.MaildirOwner
	if name == "" {
		return 0, 0, false, nil
	}
	u, err := user.Lookup(name)
	if err != nil {
		if u, err = user.LookupId(name); err != nil {
			return 0, 0, false, fmt.Errorf("Transport.MaildirOwner: user %q does not exist on this machine (create it first, e.g. useradd --system %s, or give an existing user or uid)", name, name)
		}
	}
	uid, err1 := strconv.Atoi(u.Uid)
	gid, err2 := strconv.Atoi(u.Gid)
	if err1 != nil || err2 != nil {
		return 0, 0, false, fmt.Errorf("Transport.MaildirOwner: user %q has no numeric uid/gid", name)
	}
	return uid, gid, true, nil
}

// PickupDirs returns the pickup and badmail folders, relative paths taken
// from the data folder.
func (c *Config) PickupDirs() (pickup, badmail string) {
	dirOf := func(p, def string) string {
		if p == "" {
			p = def
		}
		if !filepath.IsAbs(p) {
			p = filepath.Join(c.DataDir(), p)
		}
		return p
	}
	return dirOf(c.Transport.PickupDirectoryPath, "pickup"), dirOf(c.Transport.BadMailDirectoryPath, "badmail")
}

// CheckHost checks the transport settings against this machine, as the
// daemon meets them when it applies the configuration: MaildirOwner must
// be a user here, and the pickup and badmail folders must be folders (or
// not exist yet, so the daemon creates them). Validate checks the values
// alone; CheckHost is for set time, so that a setting the daemon would
// refuse is refused by the command that makes it.
func (c *Config) CheckHost() error {
	var errs []error
	if _, _, _, err := c.Transport.MaildirOwnerIDs(); err != nil {
		errs = append(errs, err)
	}
	pk, bad := c.PickupDirs()
	for _, d := range []struct{ param, path string }{{"PickupDirectoryPath", pk}, {"BadMailDirectoryPath", bad}} {
		st, err := os.Stat(d.path)
		switch {
		case err == nil && !st.IsDir():
			errs = append(errs, fmt.Errorf("Transport.%s: %s is a file, not a folder: give a folder path", d.param, d.path))
		case err != nil:
			ancestor := existingAncestor(d.path)
			if st, aerr := os.Stat(ancestor); ancestor != "" && aerr == nil && !st.IsDir() {
				errs = append(errs, fmt.Errorf("Transport.%s: %s cannot be created: %s is a file", d.param, d.path, ancestor))
			} else if !errors.Is(err, fs.ErrNotExist) {
				errs = append(errs, fmt.Errorf("Transport.%s: %w", d.param, err))
			}
		}
	}
	if pk == bad {
		errs = append(errs, fmt.Errorf("Transport.BadMailDirectoryPath: %s is the pickup folder too: give them different folders", bad))
	}
	return errors.Join(errs...)
}

// existingAncestor is the nearest existing path at or above p.
func existingAncestor(p string) string {
	for {
		if _, err := os.Lstat(p); err == nil {
			return p
		}
		parent := filepath.Dir(p)
		if parent == p {
			return ""
		}
		p = parent
	}
}
