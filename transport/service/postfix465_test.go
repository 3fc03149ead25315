package service

import (
	"crypto/ecdsa"
	"crypto/elliptic"
	"crypto/rand"
	"crypto/x509"
	"crypto/x509/pkix"
	"encoding/pem"
	"fmt"
	"math/big"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/transportd/transportd/transport/admin/config"
)

// A smart host on port 465 is reached with implicit TLS (RFC 8314): here
// the peer is Postfix's own smtpd with smtpd_tls_wrappermode=yes, in a
// private instance on a loopback address of its own, which discards what
// it accepts and logs it.
func TestInteropPostfixWrappermodeSmartHost(t *testing.T) {
	postfix := needTool(t, "postfix", "postfix")
	if os.Geteuid() != 0 {
		t.Skip("a private Postfix instance needs root")
	}
	// /var/tmp: Postfix writes its maillog only under maillog_file_prefixes.
	w, err := os.MkdirTemp("/var/tmp", "transportd-postfix465-")
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { os.RemoveAll(w) })
	os.Chmod(w, 0o755) // Postfix's daemons run as the postfix user
	for _, d := range []string{"etc", "queue", "data"} {
		if err := os.MkdirAll(filepath.Join(w, d), 0o755); err != nil {
			t.Fatal(err)
		}
	}
	writeSelfSigned(t, filepath.Join(w, "etc"), "smarthost.example.test")
	master, err := os.ReadFile("/etc/postfix/master.cf")
	if err != nil {
		interopMissing(t, "Postfix's master.cf is missing", "postfix")
	}
	const listen = "127.0.46.5:465"
	var mc strings.Builder
	replaced := false
	for _, l := range strings.Split(string(master), "\n") {
		if f := strings.Fields(l); !replaced && len(f) > 1 && f[0] == "smtp" && f[1] == "inet" {
			l, replaced = listen+" inet n - n - - smtpd -o smtpd_tls_wrappermode=yes", true
		}
		mc.WriteString(l + "\n")
	}
	if !replaced {
		t.Fatal("no smtp inet service in /etc/postfix/master.cf to replace")
	}
	main := fmt.Sprintf(`compatibility_level = 3.6
queue_directory = %[1]s/queue
data_directory = %[1]s/data
command_directory = /usr/sbin
daemon_directory = /usr/lib/postfix/sbin
meta_directory = /etc/postfix
shlib_directory = /usr/lib/postfix
mail_owner = postfix
setgid_group = postdrop
myhostname = smarthost.example.test
mydestination =
inet_interfaces = 127.0.0.1
inet_protocols = ipv4
mynetworks = 127.0.0.0/8
smtpd_relay_restrictions = permit_mynetworks, reject
alias_maps =
alias_database =
smtputf8_enable = no
smtpd_tls_cert_file = %[1]s/etc/cert.pem
smtpd_tls_key_file = %[1]s/etc/key.pem
smtpd_tls_security_level = may
smtpd_tls_loglevel = 1
default_transport = discard:
relay_transport = discard:
maillog_file = %[1]s/maillog
`, w)
	if err := os.WriteFile(filepath.Join(w, "etc", "main.cf"), []byte(main), 0o644); err != nil {
		t.Fatal(err)
	}
	if err := os.WriteFile(filepath.Join(w, "etc", "master.cf"), []byte(mc.String()), 0o644); err != nil {
		t.Fatal(err)
	}
	exec.Command("chown", "-R", "postfix", filepath.Join(w, "data")).Run()
	if out, err := exec.Command(postfix, "-c", filepath.Join(w, "etc"), "start").CombinedOutput(); err != nil {
		// postfix says why only on a terminal or in its log.
		log, _ := os.ReadFile(filepath.Join(w, "maillog"))
		t.Fatalf("postfix start: %v\n%s\n%s", err, out, log)
	}
	t.Cleanup(func() { exec.Command(postfix, "-c", filepath.Join(w, "etc"), "stop").Run() })

	d := startDaemon(t, func(c *config.Config, d *testDaemon) {
		sc := &c.SendConnectors[0]
		sc.SmartHosts = mustSmartHosts("127.0.46.5:465")
		sc.RequireTLS = true // self-signed: EncryptionOnly, but never in clear
	})
	d.submit(t, []string{"friend@example.org"}, "Subject: through postfix on 465\r\n\r\nmark-postfix-465\r\n")
	deadline := time.Now().Add(30 * time.Second)
	for {
		log, _ := os.ReadFile(filepath.Join(w, "maillog"))
		s := string(log)
		if strings.Contains(s, "to=<friend@example.org>") && strings.Contains(s, "status=sent") {
			if !strings.Contains(s, "TLS connection established from") {
				t.Fatalf("Postfix took the message without TLS:\n%s", s)
			}
			break
		}
		if time.Now().After(deadline) {
			t.Fatalf("Postfix did not get the message through port 465:\n%s", s)
		}
		time.Sleep(50 * time.Millisecond) // Postfix's log is a file, not a signal
	}
}

// writeSelfSigned writes cert.pem and key.pem for name into dir.
func writeSelfSigned(t *testing.T, dir, name string) {
	t.Helper()
	key, err := ecdsa.GenerateKey(elliptic.P256(), rand.Reader)
	if err != nil {
		t.Fatal(err)
	}
	tmpl := &x509.Certificate{SerialNumber: big.NewInt(1), Subject: pkix.Name{CommonName: name}, DNSNames: []string{name},
		NotBefore: time.Now().Add(-time.Hour), NotAfter: time.Now().Add(time.Hour)}
	der, err := x509.CreateCertificate(rand.Reader, tmpl, tmpl, &key.PublicKey, key)
	if err != nil {
		t.Fatal(err)
	}
	kb, err := x509.MarshalPKCS8PrivateKey(key)
	if err != nil {
		t.Fatal(err)
	}
	os.WriteFile(filepath.Join(dir, "cert.pem"), pem.EncodeToMemory(&pem.Block{Type: "CERTIFICATE", Bytes: der}), 0o644)
	os.WriteFile(filepath.Join(dir, "key.pem"), pem.EncodeToMemory(&pem.Block{Type: "PRIVATE KEY", Bytes: kb}), 0o600)
}
