package config

import (
	"errors"
	"fmt"
	"io/fs"
	"os"
	"path/filepath"
)

// The daemon keeps a copy of the config file it last put in force, so that
// the management commands judge an edit as the daemon will (see
// CheckApplied) and an admin whose file was cut off by an editor can put
// the working one back with one cp.
//
// The copy lives beside the config file, not in the data folder: a file cut
// off before its Server section has lost Server.DataPath too, and with it
// the way to the data folder.

// AppliedFile is the path of the copy of the configuration in force that
// the daemon keeps for the config file at path ("transportd.yaml.applied").
func AppliedFile(path string) string {
	abs, err := filepath.Abs(path)
	if err != nil {
		abs = path
	}
	return abs + ".applied"
}

// WriteApplied saves the config file this configuration was read from, as
// it was read, as the copy of the configuration in force (AppliedFile):
// atomically, mode 0600. The daemon calls it whenever it has put c in
// force. A configuration not read from a file writes nothing.
func (c *Config) WriteApplied() error {
	if c.raw == nil || c.path == "" {
		return nil
	}
	return WriteFileAtomic(AppliedFile(c.path), c.raw, 0o600)
}

// RestoreHint tells how to put back the configuration the daemon last
// applied from the config file at path, or "" when it never applied one.
func RestoreHint(path string) string {
	applied := AppliedFile(path)
	if _, err := os.Stat(applied); err != nil {
		return ""
	}
	abs, err := filepath.Abs(path)
	if err != nil {
		abs = path
	}
	return fmt.Sprintf("the configuration transportd last applied is in %s; to put it back: cp %s %s", applied, applied, abs)
}

// readApplied reads the copy of the configuration in force for the config
// file at abs; nil when no daemon has applied one. It is not validated: it
// was when the daemon applied it, and CheckReplacement needs only which
// objects and sections it had.
func readApplied(abs string) (*Config, error) {
	data, err := os.ReadFile(AppliedFile(abs))
	if errors.Is(err, fs.ErrNotExist) {
		return nil, nil
	}
	if err != nil {
		return nil, fmt.Errorf("reading the configuration in force: %w", err)
	}
	c, err := parse(abs, data)
	if err != nil {
		return nil, fmt.Errorf("the configuration in force, %s: %w", AppliedFile(abs), err)
	}
	return c, nil
}

// CheckApplied reports why next, about to be saved to its config file by a
// management command, would be refused by the daemon as cut off: it runs
// CheckReplacement against the configuration the daemon last applied from
// that file. Without such a copy (no daemon ever applied one) it accepts.
// The error says where the copy in force is and how to put it back.
func CheckApplied(next *Config) error {
	applied, err := readApplied(next.path)
	if err != nil {
		return err
	}
	return checkAgainst(applied, next)
}

// checkAgainst is CheckApplied with the copy in force already read (nil:
// none).
func checkAgainst(applied, next *Config) error {
	if applied == nil {
		return nil
	}
	if err := CheckReplacement(applied, next); err != nil {
		return fmt.Errorf("%w\nNothing was changed: transportd would refuse this file and keep the configuration in force; %s", err, RestoreHint(next.path))
	}
	return nil
}
