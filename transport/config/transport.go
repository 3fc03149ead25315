package config

import (
	"errors"
	"fmt"
	"time"

	"github.com/transportd/transportd/transport/value"
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
	if t.AuthFailureLockoutThreshold < 0 || t.AuthFailureLockoutThreshold > 1000 {
		bad("AuthFailureLockoutThreshold", "%d is outside 0 (off) to 1000", t.AuthFailureLockoutThreshold)
	}
	if t.AuthFailureWindow < value.TimeSpan(time.Second) || t.AuthFailureWindow.Duration() > 24*time.Hour {
		bad("AuthFailureWindow", "%v is outside 00:00:01 to 1.00:00:00", t.AuthFailureWindow)
	}
	if t.AuthFailureLockoutDuration < value.TimeSpan(time.Second) || t.AuthFailureLockoutDuration.Duration() > 24*time.Hour {
		bad("AuthFailureLockoutDuration", "%v is outside 00:00:01 to 1.00:00:00", t.AuthFailureLockoutDuration)
	}
	return errors.Join(errs...)
}
