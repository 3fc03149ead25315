package config

import (
	"errors"
	"fmt"
	"net"
	"net/netip"
	"path/filepath"
	"strings"
	"time"

	"github.com/transportd/transportd/policies/value"
)

// LoggingConfig holds what an admin watches: the protocol logs, the
// message tracking log and the metrics endpoint, with the names of
// Exchange's Set-TransportService where Exchange has them.
type LoggingConfig struct {
	// ProtocolLogMaxFileSize starts a new protocol log file past this size (10MB).
	ProtocolLogMaxFileSize value.ByteSize `yaml:"ProtocolLogMaxFileSize"`
	// ProtocolLogMaxAge deletes protocol log files older than this (30.00:00:00).
	ProtocolLogMaxAge value.TimeSpan `yaml:"ProtocolLogMaxAge"`
	// ProtocolLogMaxDirectorySize deletes the oldest protocol log files while
	// a folder (receive or send) is larger (250MB).
	ProtocolLogMaxDirectorySize value.ByteSize `yaml:"ProtocolLogMaxDirectorySize"`
	// SendProtocolLoggingLevel is None or Verbose for every send connector
	// (Exchange's default is None).
	SendProtocolLoggingLevel string `yaml:"SendProtocolLoggingLevel"`
	// MessageTrackingLogEnabled writes the message tracking log (true).
	MessageTrackingLogEnabled bool `yaml:"MessageTrackingLogEnabled"`
	// MessageTrackingLogMaxFileSize starts a new tracking log file past this size (10MB).
	MessageTrackingLogMaxFileSize value.ByteSize `yaml:"MessageTrackingLogMaxFileSize"`
	// MessageTrackingLogMaxAge deletes tracking log files older than this (30.00:00:00).
	MessageTrackingLogMaxAge value.TimeSpan `yaml:"MessageTrackingLogMaxAge"`
	// MessageTrackingLogMaxDirectorySize bounds the tracking log folder (1000MB).
	MessageTrackingLogMaxDirectorySize value.ByteSize `yaml:"MessageTrackingLogMaxDirectorySize"`
	// MessageTrackingLogSubjectLoggingEnabled writes message subjects (true).
	MessageTrackingLogSubjectLoggingEnabled bool `yaml:"MessageTrackingLogSubjectLoggingEnabled"`
	// MetricsAddress serves Prometheus metrics at http://<address>/metrics
	// (127.0.0.1:9025). Empty turns the endpoint off. The metrics name
	// connectors and queues: keep it on loopback unless a firewall guards it.
	MetricsAddress string `yaml:"MetricsAddress"`

	// ---- issue 10: Set-TransportService names kept here ----

	// ReceiveProtocolLogPath, SendProtocolLogPath and MessageTrackingLogPath
	// are the log folders; empty is under <data>/logs, a relative path is
	// taken from the data folder.
	ReceiveProtocolLogPath string `yaml:"ReceiveProtocolLogPath,omitempty"`
	SendProtocolLogPath    string `yaml:"SendProtocolLogPath,omitempty"`
	MessageTrackingLogPath string `yaml:"MessageTrackingLogPath,omitempty"`
	// SendProtocolLogMaxFileSize, SendProtocolLogMaxDirectorySize and
	// SendProtocolLogMaxAge bound the send protocol log; zero follows the
	// ProtocolLog* values (which Set-TransportService calls ReceiveProtocolLog*).
	SendProtocolLogMaxFileSize      value.ByteSize `yaml:"SendProtocolLogMaxFileSize,omitempty"`
	SendProtocolLogMaxDirectorySize value.ByteSize `yaml:"SendProtocolLogMaxDirectorySize,omitempty"`
	SendProtocolLogMaxAge           value.TimeSpan `yaml:"SendProtocolLogMaxAge,omitempty"`
}

// DefaultMetricsAddress is where metrics are served unless configured.
const DefaultMetricsAddress = "127.0.0.1:9025"

// DefaultLoggingConfig returns Exchange's defaults.
func DefaultLoggingConfig() LoggingConfig {
	return LoggingConfig{
		ProtocolLogMaxFileSize:                  10 * value.MB,
		ProtocolLogMaxAge:                       value.TimeSpan(30 * 24 * time.Hour),
		ProtocolLogMaxDirectorySize:             250 * value.MB,
		SendProtocolLoggingLevel:                "None",
		MessageTrackingLogEnabled:               true,
		MessageTrackingLogMaxFileSize:           10 * value.MB,
		MessageTrackingLogMaxAge:                value.TimeSpan(30 * 24 * time.Hour),
		MessageTrackingLogMaxDirectorySize:      1000 * value.MB,
		MessageTrackingLogSubjectLoggingEnabled: true,
		MetricsAddress:                          DefaultMetricsAddress,
	}
}

// Validate checks the logging settings; errors name the parameter and value.
func (l *LoggingConfig) Validate() error {
	var errs []error
	bad := func(p string, f string, a ...any) {
		errs = append(errs, fmt.Errorf("Logging.%s: %s", p, fmt.Sprintf(f, a...)))
	}
	for _, s := range []struct {
		name string
		v    value.ByteSize
	}{{"ProtocolLogMaxFileSize", l.ProtocolLogMaxFileSize}, {"ProtocolLogMaxDirectorySize", l.ProtocolLogMaxDirectorySize},
		{"MessageTrackingLogMaxFileSize", l.MessageTrackingLogMaxFileSize}, {"MessageTrackingLogMaxDirectorySize", l.MessageTrackingLogMaxDirectorySize}} {
		if s.v < 64*value.KB {
			bad(s.name, "%v is below the minimum of 64KB", s.v)
		}
	}
	if l.ProtocolLogMaxFileSize > l.ProtocolLogMaxDirectorySize && l.ProtocolLogMaxDirectorySize >= 64*value.KB {
		bad("ProtocolLogMaxFileSize", "%v is larger than ProtocolLogMaxDirectorySize (%v)", l.ProtocolLogMaxFileSize, l.ProtocolLogMaxDirectorySize)
	}
	errs = append(errs, l.validateExchangeNames(bad)...)
	if l.ProtocolLogMaxAge <= 0 {
		bad("ProtocolLogMaxAge", "%v must be above zero", l.ProtocolLogMaxAge)
	}
	if l.MessageTrackingLogMaxAge <= 0 {
		bad("MessageTrackingLogMaxAge", "%v must be above zero", l.MessageTrackingLogMaxAge)
	}
	switch strings.ToLower(l.SendProtocolLoggingLevel) {
	case "none":
		l.SendProtocolLoggingLevel = "None"
	case "verbose":
		l.SendProtocolLoggingLevel = "Verbose"
	default:
		bad("SendProtocolLoggingLevel", "%q is not None or Verbose", l.SendProtocolLoggingLevel)
	}
	if a := l.MetricsAddress; a != "" {
		host, port, err := net.SplitHostPort(a)
		if err != nil || port == "" {
			bad("MetricsAddress", "%q is not host:port (for example %s)", a, DefaultMetricsAddress)
		} else if host != "" && host != "localhost" {
			if _, err := netip.ParseAddr(host); err != nil {
				bad("MetricsAddress", "%q: %q is not an IP address", a, host)
			}
		}
	}
	return errors.Join(errs...)
}

// MetricsOnLoopback reports whether MetricsAddress listens on loopback only.
func (l *LoggingConfig) MetricsOnLoopback() bool {
	host, _, err := net.SplitHostPort(l.MetricsAddress)
	if err != nil {
		return false
	}
	if host == "localhost" {
		return true
	}
	ip, err := netip.ParseAddr(host)
	return err == nil && ip.IsLoopback()
}

// LogDir returns the folder of the logs: <data>/logs.
func (c *Config) LogDir() string { return filepath.Join(c.DataDir(), "logs") }

// ProtocolLogDir returns the protocol log folder of a direction:
// ReceiveProtocolLogPath or SendProtocolLogPath, by default
// <data>/logs/ProtocolLog/SmtpReceive or .../SmtpSend.
func (c *Config) ProtocolLogDir(send bool) string {
	if send {
		return c.dataPath(c.Logging.SendProtocolLogPath, filepath.Join(c.LogDir(), "ProtocolLog", "SmtpSend"))
	}
	return c.dataPath(c.Logging.ReceiveProtocolLogPath, filepath.Join(c.LogDir(), "ProtocolLog", "SmtpReceive"))
}

// MessageTrackingLogDir returns MessageTrackingLogPath, by default <data>/logs/MessageTracking.
func (c *Config) MessageTrackingLogDir() string {
	return c.dataPath(c.Logging.MessageTrackingLogPath, filepath.Join(c.LogDir(), "MessageTracking"))
}

// dataPath is p taken from the data folder when relative, def when empty.
func (c *Config) dataPath(p, def string) string {
	if p == "" {
		return def
	}
	if !filepath.IsAbs(p) {
		return filepath.Join(c.DataDir(), p)
	}
	return filepath.Clean(p)
}
