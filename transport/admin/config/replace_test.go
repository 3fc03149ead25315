package config

import (
	"errors"
	"os"
	"path/filepath"
	"strings"
	"testing"

	"github.com/transportd/transportd/transport/mail/sendconnector"
)

// fullConfig saves a configuration with a receive connector, an accepted
// domain, a send connector and a mailbox, and returns it as read back.
func fullConfig(t *testing.T) *Config {
	t.Helper()
	c := Defaults("mail.contoso.com")
	c.path = filepath.Join(t.TempDir(), "transportd.yaml")
	sc := sendconnector.New("Outbound")
	if err := sc.AddressSpaces.UnmarshalText([]byte("*")); err != nil {
		t.Fatal(err)
	}
	c.SendConnectors = []sendconnector.SendConnector{sc}
	c.Mailboxes = []Mailbox{{Name: "alice", PrimarySmtpAddress: "alice@contoso.com", Enabled: true}}
	if err := c.Save(); err != nil {
		t.Fatal(err)
	}
	cur, err := Load(c.path)
	if err != nil {
		t.Fatal(err)
	}
	return cur
}

func TestEmptyFileIsRefused(t *testing.T) {
	for _, text := range []string{"", "\n\n", "# only a comment\n"} {
		_, err := Load(write(t, text))
		if !errors.Is(err, ErrLooksTruncated) || !strings.Contains(err.Error(), "delete it to have the defaults written") {
			t.Errorf("Load(%q) = %v, want it refused as empty", text, err)
		}
	}
}

// Every cut of a saved file that still parses, down to a single line, is
// either refused by Load or by CheckReplacement: none removes the
// connectors, domains, send connectors or sections of the running one.
func TestTruncatedFileIsRefusedAtEveryCut(t *testing.T) {
	cur := fullConfig(t)
	full, err := os.ReadFile(cur.Path())
	if err != nil {
		t.Fatal(err)
	}
	lines := strings.SplitAfter(string(full), "\n")
	applied := 0
	for n := 0; n < len(lines)-1; n++ {
		cut := strings.Join(lines[:n], "")
		if err := os.WriteFile(cur.Path(), []byte(cut), 0o600); err != nil {
			t.Fatal(err)
		}
		next, err := Load(cur.Path())
		if err != nil {
			continue // refused as invalid or empty
		}
		err = CheckReplacement(cur, next)
		if err == nil {
			applied++
			// Only a cut inside the last sections may pass, and then it
			// keeps every object.
			if len(next.ReceiveConnectors) != len(cur.ReceiveConnectors) || len(next.AcceptedDomains) != len(cur.AcceptedDomains) || len(next.SendConnectors) != len(cur.SendConnectors) {
				t.Errorf("cut after %d lines applied with %d/%d/%d objects", n, len(next.ReceiveConnectors), len(next.AcceptedDomains), len(next.SendConnectors))
			}
			continue
		}
		if !errors.Is(err, ErrLooksTruncated) {
			t.Errorf("cut after %d lines: %v, want ErrLooksTruncated", n, err)
		}
	}
	t.Logf("%d lines, %d cuts pass the check (all inside Logging or ClientSettings)", len(lines), applied)
}

func TestExplicitEmptyListsApply(t *testing.T) {
	cur := fullConfig(t)
	full, _ := os.ReadFile(cur.Path())
	text := string(full)
	i := strings.Index(text, "SendConnectors:")
	j := strings.Index(text, "AcceptedDomains:")
	text = text[:i] + "SendConnectors: []\n" + text[j:]
	if err := os.WriteFile(cur.Path(), []byte(text), 0o600); err != nil {
		t.Fatal(err)
	}
	next, err := Load(cur.Path())
	if err != nil {
		t.Fatal(err)
	}
	if err := CheckReplacement(cur, next); err != nil {
		t.Fatalf("explicit SendConnectors: [] refused: %v", err)
	}
	// The same file with the key null is refused, naming the fix.
	if err := os.WriteFile(cur.Path(), []byte(strings.Replace(text, "SendConnectors: []\n", "SendConnectors:\n", 1)), 0o600); err != nil {
		t.Fatal(err)
	}
	next, err = Load(cur.Path())
	if err != nil {
		t.Fatal(err)
	}
	err = CheckReplacement(cur, next)
	if err == nil || !strings.Contains(err.Error(), `write "SendConnectors: []"`) {
		t.Fatalf("null SendConnectors: %v", err)
	}
}

// The management commands may remove the last object of a kind: they write
// the empty list explicitly, and the running daemon applies it.
func TestUpdateRemovingTheLastObjectApplies(t *testing.T) {
	cur := fullConfig(t)
	next, err := Update(cur.Path(), func(c *Config) error {
		c.SendConnectors = nil
		c.AcceptedDomains = nil
		c.Mailboxes = nil
		return nil
	})
	if err != nil {
		t.Fatal(err)
	}
	reread, err := Load(next.Path())
	if err != nil {
		t.Fatal(err)
	}
	if err := CheckReplacement(cur, reread); err != nil {
		t.Fatalf("removing the last send connector, domain and mailbox with Update refused: %v", err)
	}
}

// A file that never had a section keeps it out when a command writes it
// back: writing "[]" would turn a cut-off file into "remove them all".
func TestUpdateKeepsAMissingSectionMissing(t *testing.T) {
	cur := fullConfig(t)
	full, _ := os.ReadFile(cur.Path())
	text := string(full)
	text = text[:strings.Index(text, "SendConnectors:")] + text[strings.Index(text, "AcceptedDomains:"):]
	os.WriteFile(cur.Path(), []byte(text), 0o600)
	os.Remove(cur.MailboxFile())
	if _, err := Update(cur.Path(), func(c *Config) error { c.Server.Name = "MAIL2"; return nil }); err != nil {
		t.Fatal(err)
	}
	out, _ := os.ReadFile(cur.Path())
	if strings.Contains(string(out), "SendConnectors") {
		t.Errorf("Update wrote a SendConnectors section the file did not have:\n%s", out)
	}
	mb, _ := os.ReadFile(cur.MailboxFile())
	if strings.Contains(string(mb), "Mailboxes") {
		t.Errorf("Update wrote a Mailboxes list the file did not have:\n%s", mb)
	}
	next, err := Load(cur.Path())
	if err != nil {
		t.Fatal(err)
	}
	if err := CheckReplacement(cur, next); !errors.Is(err, ErrLooksTruncated) {
		t.Errorf("CheckReplacement = %v, want the lost send connector and mailbox refused", err)
	}
}
