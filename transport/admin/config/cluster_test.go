package config

import (
	"encoding/json"
	"os"
	"path/filepath"
	"strings"
	"testing"

	"github.com/transportd/transportd/transport/mail/sendconnector"
)

// A cluster member with mailboxes must deliver to them by LMTP, or declare
// the Maildir root shared: refused at set time (Update validates) and at
// start (Load validates), naming both fixes.
func TestClusterRefusesLocalMaildirWithMailboxes(t *testing.T) {
	path := filepath.Join(t.TempDir(), "transportd.yaml")
	if _, err := Load(path); err != nil {
		t.Fatal(err)
	}
	if _, err := Update(path, func(c *Config) error {
		c.Cluster = ClusterConfig{Name: "contoso"}
		return nil
	}); err != nil {
		t.Fatalf("a cluster member without mailboxes: %v", err)
	}
	addMailbox := func(c *Config) error {
		c.Mailboxes = append(c.Mailboxes, Mailbox{Name: "chris", PrimarySmtpAddress: "chris@contoso.com", Enabled: true})
		return nil
	}
	_, err := Update(path, addMailbox)
	if err == nil || !strings.Contains(err.Error(), "MailboxDeliveryLmtpServer") || !strings.Contains(err.Error(), "MaildirShared") {
		t.Fatalf("mailbox on a cluster member with local Maildir: %v", err)
	}
	if _, err := Update(path, func(c *Config) error {
		c.Cluster.MaildirShared = true
		return addMailbox(c)
	}); err != nil {
		t.Fatalf("with MaildirShared: %v", err)
	}
	// The file written by hand without the declaration is refused at start.
	data, _ := os.ReadFile(path)
	if err := os.WriteFile(path, []byte(strings.Replace(string(data), "MaildirShared: true", "MaildirShared: false", 1)), 0o600); err != nil {
		t.Fatal(err)
	}
	if _, err := Read(path); err == nil || !strings.Contains(err.Error(), "LMTP") {
		t.Fatalf("start with a local Maildir in a cluster: %v", err)
	}
}

// The organization's document survives its wire form with every type as
// the config file has it (passwords, address spaces, smart hosts), and its
// hash is the same after the trip, so a member never publishes back what
// it applied.
func TestOrgDocRoundTrip(t *testing.T) {
	path := filepath.Join(t.TempDir(), "transportd.yaml")
	if _, err := Load(path); err != nil {
		t.Fatal(err)
	}
	c, err := Update(path, func(c *Config) error {
		sc := sendconnector.New("Smart")
		sc.AddressSpaces, _ = sendconnector.ParseAddressSpaces("*;5, fabrikam.com")
		if err := sc.SmartHosts.UnmarshalText([]byte("[192.0.2.1]:587")); err != nil {
			return err
		}
		sc.DNSRoutingEnabled = false
		sc.SmartHostAuthMechanism = "BasicAuth"
		sc.AuthenticationCredential = sendconnector.Credential{UserName: "relay@contoso.com", Password: "pa:ss word"}
		c.SendConnectors = append(c.SendConnectors, sc)
		c.Transport.MaxSendSize = 10 << 20
		c.Mailboxes = []Mailbox{{Name: "chris", PrimarySmtpAddress: "chris@contoso.com", PasswordHash: "$argon2id$x", Enabled: true}}
		c.AdminCenter.RoleGroups = []RoleGroup{{Name: RoleOrganizationManagement, Members: []string{"chris"}}}
		return nil
	})
	if err != nil {
		t.Fatal(err)
	}
	c, err = Read(path)
	if err != nil {
		t.Fatal(err)
	}
	for rel, data := range map[string]string{"certs/ABC.pem": "cert and key", "certs/services.json": "{}", "dkim/contoso.com/selector1.key": "dkim key"} {
		p := filepath.Join(c.DataDir(), rel)
		os.MkdirAll(filepath.Dir(p), 0o700)
		if err := os.WriteFile(p, []byte(data), 0o600); err != nil {
			t.Fatal(err)
		}
	}
	doc, err := c.OrgDoc()
	if err != nil {
		t.Fatal(err)
	}
	if len(doc.Files) != 2 || string(doc.Files["dkim/contoso.com/selector1.key"]) != "dkim key" {
		t.Fatalf("the document's files: %v (certificates and DKIM keys, not the member's services.json)", doc.Files)
	}
	data, err := json.Marshal(doc)
	if err != nil {
		t.Fatal(err)
	}
	var back OrgDoc
	if err := json.Unmarshal(data, &back); err != nil {
		t.Fatal(err)
	}
	if back.Hash() != doc.Hash() {
		t.Fatalf("hash changed in the round trip:\n%s", data)
	}
	if len(back.SendConnectors) != 1 || back.SendConnectors[0].AuthenticationCredential.Password != "pa:ss word" || back.Transport.MaxSendSize != 10<<20 ||
		len(back.Mailboxes) != 1 || back.Mailboxes[0].PasswordHash != "$argon2id$x" ||
		len(back.RoleGroups) != 1 || back.RoleGroups[0].Name != RoleOrganizationManagement || len(back.RoleGroups[0].Members) != 1 {
		t.Fatalf("round trip lost something: %+v", back)
	}
	// Applied to another member's configuration, its own parts stay.
	other := filepath.Join(t.TempDir(), "transportd.yaml")
	if _, err := Load(other); err != nil {
		t.Fatal(err)
	}
	var ownConnectors int
	o, err := Update(other, func(x *Config) error {
		x.Transport.MaxConcurrentMailboxDeliveries = 7
		ownConnectors = len(x.ReceiveConnectors)
		return x.ApplyOrgDoc(back)
	})
	if err != nil {
		t.Fatal(err)
	}
	o, _ = Read(other)
	od, _ := o.OrgDoc()
	if od.Hash() != doc.Hash() || o.Transport.MaxConcurrentMailboxDeliveries != 7 || len(o.ReceiveConnectors) != ownConnectors ||
		len(o.AdminCenter.RoleGroups) != 1 || o.AdminCenter.InternalUrl != "" && o.AdminCenter.InternalUrl != c.AdminCenter.InternalUrl {
		t.Fatalf("applied document: hash equal %v, own settings kept %v", od.Hash() == doc.Hash(), o.Transport.MaxConcurrentMailboxDeliveries)
	}
	// A document naming a file outside the two folders is refused.
	bad := back
	bad.Files = map[string][]byte{"../transportd.yaml": []byte("x")}
	if err := o.ApplyOrgDoc(bad); err == nil {
		t.Fatal("a file outside certs/ and dkim/ was written")
	}
}

// Cluster.SyncAlways is on unless set false, survives the file, and is
// refused at set time with an external NATS, naming the NATS setting.
func TestClusterSyncAlways(t *testing.T) {
	path := filepath.Join(t.TempDir(), "transportd.yaml")
	if _, err := Load(path); err != nil {
		t.Fatal(err)
	}
	c, err := Update(path, func(c *Config) error {
		c.Cluster = ClusterConfig{Name: "contoso"}
		return nil
	})
	if err != nil || !c.Cluster.SyncAlwaysOrDefault() {
		t.Fatalf("default: SyncAlways %v, %v; want on", c.Cluster.SyncAlwaysOrDefault(), err)
	}
	off := false
	if _, err := Update(path, func(c *Config) error {
		c.Cluster.SyncAlways = &off
		return nil
	}); err != nil {
		t.Fatal(err)
	}
	if c, err := Load(path); err != nil || c.Cluster.SyncAlwaysOrDefault() {
		t.Fatalf("after SyncAlways: false and a reload: %v, %v", c.Cluster.SyncAlwaysOrDefault(), err)
	}
	_, err = Update(path, func(c *Config) error {
		c.Cluster.ExternalUrl = "nats://nats1.contoso.com:4222"
		return nil
	})
	if err == nil || !strings.Contains(err.Error(), "Cluster.SyncAlways") || !strings.Contains(err.Error(), "sync: always") {
		t.Fatalf("SyncAlways with ExternalUrl: %v, want refused naming the NATS servers' setting", err)
	}
	if _, err := Update(path, func(c *Config) error {
		c.Cluster.ExternalUrl, c.Cluster.SyncAlways = "nats://nats1.contoso.com:4222", nil
		return nil
	}); err != nil {
		t.Fatalf("ExternalUrl without SyncAlways: %v", err)
	}
}
