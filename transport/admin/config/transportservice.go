package config

import (
	"errors"
	"fmt"
	"os"
	"path/filepath"
	"reflect"
	"strings"

	"github.com/transportd/transportd/policies/value"
)

// This file maps Exchange's Get-/Set-TransportService names (issue 10) to
// where the settings are kept: the Transport and Logging sections. There
// is one storage place for each setting; older transportd names
// (TransientFailureRetryAttempts, MaxPerQueueConcurrency,
// ProtocolLogMaxFileSize, ...) stay valid in the file and in
// Set-TransportConfig.

// SizeLimit is a message size limit that may be "Unlimited" (stored as 0),
// as Set-TransportConfig -MaxSendSize takes it.
type SizeLimit int64

// IsUnlimited reports whether no limit applies.
func (s SizeLimit) IsUnlimited() bool { return s <= 0 }

// String writes "Unlimited" or the size as Exchange shows it.
func (s SizeLimit) String() string {
	if s.IsUnlimited() {
		return "Unlimited"
	}
	return value.ByteSize(s).String()
}

// MarshalText writes "Unlimited" or the size.
func (s SizeLimit) MarshalText() ([]byte, error) {
	if s.IsUnlimited() {
		return []byte("Unlimited"), nil
	}
	return value.ByteSize(s).MarshalText()
}

// UnmarshalText reads "Unlimited" (or $null) or a size such as 35MB.
func (s *SizeLimit) UnmarshalText(b []byte) error {
	t := strings.TrimSpace(string(b))
	if strings.EqualFold(t, "unlimited") || strings.EqualFold(t, "$null") || t == "" {
		*s = 0
		return nil
	}
	v, err := value.ParseByteSize(t)
	if err != nil {
		return err
	}
	if v <= 0 {
		return fmt.Errorf("%q: give a size from 1 byte, or Unlimited", t)
	}
	*s = SizeLimit(v)
	return nil
}

// TransportServiceSettings are the settings Get-/Set-TransportService show
// and change, with Exchange's names. It is a view: Config.TransportService
// builds it from the Transport and Logging sections, and
// Config.SetTransportService writes back what changed.
type TransportServiceSettings struct {
	MessageExpirationTimeout                value.TimeSpan
	MessageRetryInterval                    value.TimeSpan
	TransientFailureRetryCount              int
	TransientFailureRetryInterval           value.TimeSpan
	OutboundConnectionFailureRetryInterval  value.TimeSpan
	DelayNotificationTimeout                value.TimeSpan
	MaxOutboundConnections                  value.Unlimited
	MaxPerDomainOutboundConnections         int
	MaxConcurrentMailboxDeliveries          int
	PickupDirectoryPath                     string
	ExternalDNSServers                      []string
	InternalDNSServers                      []string
	ReceiveProtocolLogPath                  string
	ReceiveProtocolLogMaxFileSize           value.ByteSize
	ReceiveProtocolLogMaxDirectorySize      value.ByteSize
	ReceiveProtocolLogMaxAge                value.TimeSpan
	SendProtocolLogPath                     string
	SendProtocolLogMaxFileSize              value.ByteSize
	SendProtocolLogMaxDirectorySize         value.ByteSize
	SendProtocolLogMaxAge                   value.TimeSpan
	MessageTrackingLogEnabled               bool
	MessageTrackingLogPath                  string
	MessageTrackingLogMaxFileSize           value.ByteSize
	MessageTrackingLogMaxDirectorySize      value.ByteSize
	MessageTrackingLogMaxAge                value.TimeSpan
	MessageTrackingLogSubjectLoggingEnabled bool
}

// TransportService returns the settings in force with Exchange's names:
// folders as absolute paths, send protocol log limits with their defaults.
func (c *Config) TransportService() TransportServiceSettings {
	t, l := &c.Transport, &c.Logging
	pickup, _ := c.PickupDirs()
	s := TransportServiceSettings{
		MessageExpirationTimeout:                t.MessageExpirationTimeout,
		MessageRetryInterval:                    t.MessageRetryInterval,
		TransientFailureRetryCount:              t.TransientFailureRetryAttempts,
		TransientFailureRetryInterval:           t.TransientFailureRetryInterval,
		OutboundConnectionFailureRetryInterval:  t.OutboundConnectionFailureRetryInterval,
		DelayNotificationTimeout:                t.DelayNotificationTimeout,
		MaxOutboundConnections:                  t.MaxOutboundConnections,
		MaxPerDomainOutboundConnections:         t.MaxPerQueueConcurrency,
		MaxConcurrentMailboxDeliveries:          t.MaxConcurrentMailboxDeliveries,
		PickupDirectoryPath:                     pickup,
		ExternalDNSServers:                      t.ExternalDNSServers,
		InternalDNSServers:                      t.InternalDNSServers,
		ReceiveProtocolLogPath:                  c.ProtocolLogDir(false),
		ReceiveProtocolLogMaxFileSize:           l.ProtocolLogMaxFileSize,
		ReceiveProtocolLogMaxDirectorySize:      l.ProtocolLogMaxDirectorySize,
		ReceiveProtocolLogMaxAge:                l.ProtocolLogMaxAge,
		SendProtocolLogPath:                     c.ProtocolLogDir(true),
		SendProtocolLogMaxFileSize:              orSize(l.SendProtocolLogMaxFileSize, l.ProtocolLogMaxFileSize),
		SendProtocolLogMaxDirectorySize:         orSize(l.SendProtocolLogMaxDirectorySize, l.ProtocolLogMaxDirectorySize),
		SendProtocolLogMaxAge:                   orSpan(l.SendProtocolLogMaxAge, l.ProtocolLogMaxAge),
		MessageTrackingLogEnabled:               l.MessageTrackingLogEnabled,
		MessageTrackingLogPath:                  c.MessageTrackingLogDir(),
		MessageTrackingLogMaxFileSize:           l.MessageTrackingLogMaxFileSize,
		MessageTrackingLogMaxDirectorySize:      l.MessageTrackingLogMaxDirectorySize,
		MessageTrackingLogMaxAge:                l.MessageTrackingLogMaxAge,
		MessageTrackingLogSubjectLoggingEnabled: l.MessageTrackingLogSubjectLoggingEnabled,
	}
	if s.ExternalDNSServers == nil {
		s.ExternalDNSServers = []string{}
	}
	if s.InternalDNSServers == nil {
		s.InternalDNSServers = []string{}
	}
	return s
}

func orSize(v, def value.ByteSize) value.ByteSize {
	if v == 0 {
		return def
	}
	return v
}

func orSpan(v, def value.TimeSpan) value.TimeSpan {
	if v == 0 {
		return def
	}
	return v
}

// SetTransportService writes to the configuration every setting of s that
// differs from c.TransportService(): a setting not changed keeps its
// storage as it was (a send protocol log limit that follows the receive
// one goes on following it).
func (c *Config) SetTransportService(s TransportServiceSettings) {
	old := c.TransportService()
	ov, nv := reflect.ValueOf(old), reflect.ValueOf(s)
	t, l := &c.Transport, &c.Logging
	for i := range ov.NumField() {
		if reflect.DeepEqual(ov.Field(i).Interface(), nv.Field(i).Interface()) {
			continue
		}
		switch ov.Type().Field(i).Name {
		case "MessageExpirationTimeout":
			t.MessageExpirationTimeout = s.MessageExpirationTimeout
		case "MessageRetryInterval":
			t.MessageRetryInterval = s.MessageRetryInterval
		case "TransientFailureRetryCount":
			t.TransientFailureRetryAttempts = s.TransientFailureRetryCount
		case "TransientFailureRetryInterval":
			t.TransientFailureRetryInterval = s.TransientFailureRetryInterval
		case "OutboundConnectionFailureRetryInterval":
			t.OutboundConnectionFailureRetryInterval = s.OutboundConnectionFailureRetryInterval
		case "DelayNotificationTimeout":
			t.DelayNotificationTimeout = s.DelayNotificationTimeout
		case "MaxOutboundConnections":
			t.MaxOutboundConnections = s.MaxOutboundConnections
		case "MaxPerDomainOutboundConnections":
			t.MaxPerQueueConcurrency = s.MaxPerDomainOutboundConnections
		case "MaxConcurrentMailboxDeliveries":
			t.MaxConcurrentMailboxDeliveries = s.MaxConcurrentMailboxDeliveries
		case "PickupDirectoryPath":
			t.PickupDirectoryPath = s.PickupDirectoryPath
		case "ExternalDNSServers":
			t.ExternalDNSServers = s.ExternalDNSServers
		case "InternalDNSServers":
			t.InternalDNSServers = s.InternalDNSServers
		case "ReceiveProtocolLogPath":
			l.ReceiveProtocolLogPath = s.ReceiveProtocolLogPath
		case "ReceiveProtocolLogMaxFileSize":
			l.ProtocolLogMaxFileSize = s.ReceiveProtocolLogMaxFileSize
		case "ReceiveProtocolLogMaxDirectorySize":
			l.ProtocolLogMaxDirectorySize = s.ReceiveProtocolLogMaxDirectorySize
		case "ReceiveProtocolLogMaxAge":
			l.ProtocolLogMaxAge = s.ReceiveProtocolLogMaxAge
		case "SendProtocolLogPath":
			l.SendProtocolLogPath = s.SendProtocolLogPath
		case "SendProtocolLogMaxFileSize":
			l.SendProtocolLogMaxFileSize = s.SendProtocolLogMaxFileSize
		case "SendProtocolLogMaxDirectorySize":
			l.SendProtocolLogMaxDirectorySize = s.SendProtocolLogMaxDirectorySize
		case "SendProtocolLogMaxAge":
			l.SendProtocolLogMaxAge = s.SendProtocolLogMaxAge
		case "MessageTrackingLogEnabled":
			l.MessageTrackingLogEnabled = s.MessageTrackingLogEnabled
		case "MessageTrackingLogPath":
			l.MessageTrackingLogPath = s.MessageTrackingLogPath
		case "MessageTrackingLogMaxFileSize":
			l.MessageTrackingLogMaxFileSize = s.MessageTrackingLogMaxFileSize
		case "MessageTrackingLogMaxDirectorySize":
			l.MessageTrackingLogMaxDirectorySize = s.MessageTrackingLogMaxDirectorySize
		case "MessageTrackingLogMaxAge":
			l.MessageTrackingLogMaxAge = s.MessageTrackingLogMaxAge
		case "MessageTrackingLogSubjectLoggingEnabled":
			l.MessageTrackingLogSubjectLoggingEnabled = s.MessageTrackingLogSubjectLoggingEnabled
		default:
			panic("config: TransportServiceSettings field without storage: " + ov.Type().Field(i).Name)
		}
	}
}

// IsWindowsPath reports a path that only means something on Windows
// ("C:\Logs", "\\server\share"), as Microsoft's examples give them.
func IsWindowsPath(p string) bool {
	p = strings.TrimSpace(p)
	if strings.HasPrefix(p, `\\`) {
		return true
	}
	return len(p) >= 2 && p[1] == ':' && (p[0]|0x20 >= 'a' && p[0]|0x20 <= 'z')
}

// validateExchangeNames checks the issue 10 settings of the Transport section.
func (t *TransportConfig) validateExchangeNames(bad func(p string, f string, a ...any)) []error {
	if t.OutboundConnectionFailureRetryInterval <= 0 || t.OutboundConnectionFailureRetryInterval.Duration().Hours() > 24 {
		bad("OutboundConnectionFailureRetryInterval", "%v is outside 00:00:01 to 1.00:00:00", t.OutboundConnectionFailureRetryInterval)
	}
	if t.MaxConcurrentMailboxDeliveries < 1 || t.MaxConcurrentMailboxDeliveries > 1000 {
		bad("MaxConcurrentMailboxDeliveries", "%d is outside 1 to 1000", t.MaxConcurrentMailboxDeliveries)
	}
	for _, l := range []struct {
		name string
		list []string
	}{{"ExternalDNSServers", t.ExternalDNSServers}, {"InternalDNSServers", t.InternalDNSServers}} {
		for _, s := range l.list {
			if !isDNSServer(s) {
				bad(l.name, "%q is not an IP address (or address:port)", s)
			}
		}
	}
	return nil
}

// validateExchangeNames checks the issue 10 settings of the Logging section.
func (l *LoggingConfig) validateExchangeNames(bad func(p string, f string, a ...any)) []error {
	for _, s := range []struct {
		name string
		v    value.ByteSize
	}{{"SendProtocolLogMaxFileSize", l.SendProtocolLogMaxFileSize}, {"SendProtocolLogMaxDirectorySize", l.SendProtocolLogMaxDirectorySize}} {
		if s.v != 0 && s.v < 64*value.KB {
			bad(s.name, "%v is below the minimum of 64KB", s.v)
		}
	}
	if l.SendProtocolLogMaxAge < 0 {
		bad("SendProtocolLogMaxAge", "%v must not be negative", l.SendProtocolLogMaxAge)
	}
	for _, p := range []struct{ name, path string }{{"ReceiveProtocolLogPath", l.ReceiveProtocolLogPath},
		{"SendProtocolLogPath", l.SendProtocolLogPath}, {"MessageTrackingLogPath", l.MessageTrackingLogPath}} {
		if IsWindowsPath(p.path) {
			bad(p.name, "%q is a Windows path; give a folder on this machine, e.g. /var/log/transportd/%s", p.path, filepath.Base(strings.ReplaceAll(p.name, "Path", "")))
		}
	}
	return nil
}

// CheckLogDirs checks the log folders against this machine, as the daemon
// meets them: each must be a folder, or creatable.
func (c *Config) CheckLogDirs() error {
	var errs []error
	for _, d := range []struct{ param, path string }{{"ReceiveProtocolLogPath", c.ProtocolLogDir(false)},
		{"SendProtocolLogPath", c.ProtocolLogDir(true)}, {"MessageTrackingLogPath", c.MessageTrackingLogDir()}} {
		st, err := os.Stat(d.path)
		switch {
		case err == nil && !st.IsDir():
			errs = append(errs, fmt.Errorf("Logging.%s: %s is a file, not a folder: give a folder path", d.param, d.path))
		case err != nil:
			ancestor := existingAncestor(d.path)
			if st, aerr := os.Stat(ancestor); ancestor != "" && aerr == nil && !st.IsDir() {
				errs = append(errs, fmt.Errorf("Logging.%s: %s cannot be created: %s is a file", d.param, d.path, ancestor))
			}
		}
	}
	return errors.Join(errs...)
}
