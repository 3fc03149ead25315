package config

import (
	"errors"
	"os"
	"strings"
	"testing"
)

// Update judges the file against the copy the daemon keeps of the one in
// force: at every cut that still parses it saves nothing, as the daemon
// applies nothing. Without a copy (no daemon ever ran) it behaves as
// before, and an explicit empty list is a change, not a cut.
func TestUpdateRefusesWhatTheDaemonRefuses(t *testing.T) {
	cur := fullConfig(t)
	full, err := os.ReadFile(cur.Path())
	if err != nil {
		t.Fatal(err)
	}
	cut := string(full[:strings.Index(string(full), "\nSendConnectors:")+1])
	noop := func(*Config) error { return nil }

	// No daemon has applied a configuration: as before, the cut file is saved.
	if err := os.WriteFile(cur.Path(), []byte(cut), 0o600); err != nil {
		t.Fatal(err)
	}
	if _, err := Update(cur.Path(), noop); err != nil {
		t.Fatalf("without a copy in force: %v", err)
	}

	// A daemon applied the full file.
	if err := os.WriteFile(cur.Path(), full, 0o600); err != nil {
		t.Fatal(err)
	}
	applied, err := Read(cur.Path())
	if err != nil {
		t.Fatal(err)
	}
	if err := applied.WriteApplied(); err != nil {
		t.Fatal(err)
	}
	if st, err := os.Stat(AppliedFile(cur.Path())); err != nil || st.Mode().Perm() != 0o600 {
		t.Fatalf("copy in force: %v, %v", st, err)
	}
	lines := strings.SplitAfter(string(full), "\n")
	refused, saved := 0, 0
	for n := 1; n < len(lines)-1; n++ {
		part := strings.Join(lines[:n], "")
		if err := os.WriteFile(cur.Path(), []byte(part), 0o600); err != nil {
			t.Fatal(err)
		}
		// What the running daemon does with this file.
		next, daemonErr := Read(cur.Path())
		if daemonErr == nil {
			daemonErr = CheckReplacement(applied, next)
		}
		_, err := Update(cur.Path(), noop)
		if (err == nil) != (daemonErr == nil) {
			t.Fatalf("cut after line %d: Update says %v, the daemon %v", n, err, daemonErr)
		}
		if err == nil {
			saved++ // a cut inside Logging or ClientSettings: their defaults
			continue
		}
		if got, _ := os.ReadFile(cur.Path()); string(got) != part {
			t.Fatalf("cut after line %d: Update refused (%v) but changed the file", n, err)
		}
		if errors.Is(err, ErrLooksTruncated) {
			refused++
			if !strings.Contains(err.Error(), "cp "+AppliedFile(cur.Path())+" "+cur.Path()) {
				t.Fatalf("cut after line %d: the error does not say how to restore: %v", n, err)
			}
		}
	}
	t.Logf("%d lines: %d cuts refused as cut off, %d saved as the daemon applies them", len(lines), refused, saved)
	if refused == 0 {
		t.Fatal("no cut was refused as cut off")
	}

	// "SendConnectors: []" removes them on purpose.
	text := string(full)
	explicit := text[:strings.Index(text, "SendConnectors:")] + "SendConnectors: []\n" + text[strings.Index(text, "AcceptedDomains:"):]
	if !strings.Contains(explicit, "SendConnectors: []") || strings.Contains(explicit, "Name: Outbound") {
		t.Fatalf("test file:\n%s", explicit)
	}
	if err := os.WriteFile(cur.Path(), []byte(explicit), 0o600); err != nil {
		t.Fatal(err)
	}
	if _, err := Update(cur.Path(), noop); err != nil {
		t.Fatalf("explicit SendConnectors: []: %v", err)
	}

	// A deleted file is not replaced by the defaults.
	if err := os.Remove(cur.Path()); err != nil {
		t.Fatal(err)
	}
	if _, err := Update(cur.Path(), noop); !errors.Is(err, os.ErrNotExist) || !strings.Contains(err.Error(), "cp ") {
		t.Fatalf("deleted file: %v", err)
	}
	if _, err := os.Stat(cur.Path()); !errors.Is(err, os.ErrNotExist) {
		t.Fatal("Update wrote the defaults in place of a deleted file")
	}
}
