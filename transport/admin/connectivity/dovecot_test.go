package connectivity

import (
	"crypto/ecdsa"
	"crypto/elliptic"
	"crypto/rand"
	"crypto/x509"
	"crypto/x509/pkix"
	"encoding/pem"
	"fmt"
	"math/big"
	"net"
	"os"
	"os/exec"
	"os/user"
	"path/filepath"
	"strconv"
	"strings"
	"syscall"
	"testing"
	"time"
)

// needDovecot returns Dovecot's path. A missing Dovecot skips the test,
// unless TRANSPORTD_INTEROP=require (as in CI), where it fails it.
func needDovecot(t *testing.T) string {
	t.Helper()
	p, err := exec.LookPath("dovecot")
	if err != nil {
		if os.Getenv("TRANSPORTD_INTEROP") == "require" {
			t.Fatalf("interop peer dovecot is missing and TRANSPORTD_INTEROP=require (apt-get install dovecot-imapd dovecot-pop3d; it lives in /usr/sbin, which must be on PATH)")
		}
		t.Skipf("interop peer dovecot not installed (apt-get install dovecot-imapd dovecot-pop3d)")
	}
	return p
}

func freePort(t *testing.T) int {
	t.Helper()
	l, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	defer l.Close()
	return l.Addr().(*net.TCPAddr).Port
}

const testPassword = "Pa55word!"

// testDovecot is a Dovecot serving alice@contoso.com's Maildir under root
// on plain, SSL and STARTTLS ports, with a self-signed certificate for
// imap.contoso.com (its PEM in certPEM).
type testDovecot struct {
	imap, imaps, pop3, pop3s string
	maildir                  string
	owner                    *user.User
	certPEM                  []byte
}

// selfSigned writes a certificate for imap.contoso.com and its key.
func selfSigned(t *testing.T, dir string) (certPath, keyPath string, certPEM []byte) {
	t.Helper()
	key, err := ecdsa.GenerateKey(elliptic.P256(), rand.Reader)
	if err != nil {
		t.Fatal(err)
	}
	tmpl := &x509.Certificate{SerialNumber: big.NewInt(1), Subject: pkix.Name{CommonName: "imap.contoso.com"},
		DNSNames: []string{"imap.contoso.com"}, NotBefore: time.Now().Add(-time.Hour), NotAfter: time.Now().Add(24 * time.Hour),
		KeyUsage: x509.KeyUsageDigitalSignature, ExtKeyUsage: []x509.ExtKeyUsage{x509.ExtKeyUsageServerAuth}, BasicConstraintsValid: true, IsCA: true}
	der, err := x509.CreateCertificate(rand.Reader, tmpl, tmpl, &key.PublicKey, key)
	if err != nil {
		t.Fatal(err)
	}
	kder, err := x509.MarshalECPrivateKey(key)
	if err != nil {
		t.Fatal(err)
	}
	certPath, keyPath = filepath.Join(dir, "cert.pem"), filepath.Join(dir, "key.pem")
	certPEM = pem.EncodeToMemory(&pem.Block{Type: "CERTIFICATE", Bytes: der})
	if err := os.WriteFile(certPath, certPEM, 0o644); err != nil {
		t.Fatal(err)
	}
	if err := os.WriteFile(keyPath, pem.EncodeToMemory(&pem.Block{Type: "EC PRIVATE KEY", Bytes: kder}), 0o600); err != nil {
		t.Fatal(err)
	}
	return certPath, keyPath, certPEM
}

// startDovecot runs Dovecot in the foreground as a child process and
// waits until its ports answer. As root, the Maildirs belong to "nobody"
// (Dovecot never reads mail as root).
func startDovecot(t *testing.T) *testDovecot {
	t.Helper()
	bin := needDovecot(t)
	dir := t.TempDir()
	me, err := user.Current()
	if err != nil {
		t.Fatal(err)
	}
	owner := me
	internal := ""
	if os.Geteuid() == 0 {
		if owner, err = user.Lookup("nobody"); err != nil {
			t.Fatal(err)
		}
		os.Chmod(dir, 0o711)
		for d := filepath.Dir(dir); d != filepath.Clean(os.TempDir()) && d != filepath.Dir(d); d = filepath.Dir(d) {
			os.Chmod(d, 0o711)
		}
	} else {
		g, err := user.LookupGroupId(me.Gid)
		if err != nil {
			t.Fatal(err)
		}
		internal = fmt.Sprintf("default_internal_user = %[1]s\ndefault_login_user = %[1]s\ndefault_internal_group = %[2]s\n", me.Username, g.Name)
	}
	root := filepath.Join(dir, "mail")
	d := &testDovecot{owner: owner, maildir: filepath.Join(root, "alice@contoso.com", "Maildir")}
	for _, sub := range []string{"new", "cur", "tmp"} {
		if err := os.MkdirAll(filepath.Join(d.maildir, sub), 0o700); err != nil {
			t.Fatal(err)
		}
	}
	d.chown(t, root)
	users := fmt.Sprintf("alice@contoso.com:{PLAIN}%s:%s:%s::%s\n", testPassword, owner.Uid, owner.Gid, filepath.Join(root, "alice@contoso.com"))
	usersPath := filepath.Join(dir, "users")
	if err := os.WriteFile(usersPath, []byte(users), 0o644); err != nil {
		t.Fatal(err)
	}
	certPath, keyPath, certPEM := selfSigned(t, dir)
	d.certPEM = certPEM
	ports := []int{freePort(t), freePort(t), freePort(t), freePort(t)}
	addr := func(p int) string { return net.JoinHostPort("127.0.0.1", strconv.Itoa(p)) }
	d.imap, d.imaps, d.pop3, d.pop3s = addr(ports[0]), addr(ports[1]), addr(ports[2]), addr(ports[3])
	conf := fmt.Sprintf(`# written by transportd's connectivity test
base_dir = %[1]s/run
state_dir = %[1]s/state
instance_name = transportd-conntest-%[2]d
log_path = %[1]s/dovecot.log
%[3]slisten = 127.0.0.1
protocols = imap pop3
ssl = yes
ssl_cert = <%[4]s
ssl_key = <%[5]s
disable_plaintext_auth = no
auth_mechanisms = plain login
auth_failure_delay = 0
first_valid_uid = 0
first_valid_gid = 0
pop3_uidl_format = %%08Xu%%08Xv
mail_location = maildir:%[6]s/%%u/Maildir
passdb {
  driver = passwd-file
  args = %[7]s
}
userdb {
  driver = passwd-file
  args = %[7]s
}
service anvil {
  chroot =
}
service imap-login {
  chroot =
  inet_listener imap {
    port = %[8]d
  }
  inet_listener imaps {
    port = %[9]d
    ssl = yes
  }
}
service pop3-login {
  chroot =
  inet_listener pop3 {
    port = %[10]d
  }
  inet_listener pop3s {
    port = %[11]d
    ssl = yes
  }
}
`, dir, os.Getpid(), internal, certPath, keyPath, root, usersPath, ports[0], ports[1], ports[2], ports[3])
	confPath := filepath.Join(dir, "dovecot.conf")
	if err := os.WriteFile(confPath, []byte(conf), 0o600); err != nil {
		t.Fatal(err)
	}
	for _, sub := range []string{"run", "state"} {
		if err := os.Mkdir(filepath.Join(dir, sub), 0o755); err != nil {
			t.Fatal(err)
		}
	}
	cmd := exec.Command(bin, "-F", "-c", confPath)
	out := &strings.Builder{}
	cmd.Stdout, cmd.Stderr = out, out
	if err := cmd.Start(); err != nil {
		t.Fatalf("starting dovecot: %v", err)
	}
	exited := make(chan error, 1)
	go func() { exited <- cmd.Wait() }()
	t.Cleanup(func() {
		cmd.Process.Signal(syscall.SIGTERM)
		select {
		case <-exited:
		case <-time.After(10 * time.Second):
			cmd.Process.Kill()
			<-exited
		}
		if t.Failed() {
			log, _ := os.ReadFile(filepath.Join(dir, "dovecot.log"))
			t.Logf("dovecot output:\n%s\ndovecot.log:\n%s", out.String(), log)
		}
	})
	// Readiness is the listening ports: dial until they answer, bounded.
	deadline := time.Now().Add(30 * time.Second)
	tick := time.NewTicker(20 * time.Millisecond)
	defer tick.Stop()
	for _, a := range []string{d.imap, d.imaps, d.pop3, d.pop3s} {
		for {
			c, err := net.DialTimeout("tcp", a, time.Second)
			if err == nil {
				c.Close()
				break
			}
			if time.Now().After(deadline) {
				t.Fatalf("dovecot does not answer on %s: %v\n%s", a, err, out.String())
			}
			select {
			case err := <-exited:
				exited <- err
				t.Fatalf("dovecot exited: %v\n%s", err, out.String())
			case <-tick.C:
			}
		}
	}
	return d
}

// chown gives everything under p to the mail owner, as root.
func (d *testDovecot) chown(t *testing.T, p string) {
	t.Helper()
	if os.Geteuid() != 0 {
		return
	}
	uid, _ := strconv.Atoi(d.owner.Uid)
	gid, _ := strconv.Atoi(d.owner.Gid)
	if err := filepath.WalkDir(p, func(q string, _ os.DirEntry, err error) error {
		if err != nil {
			return err
		}
		return os.Lchown(q, uid, gid)
	}); err != nil {
		t.Fatal(err)
	}
}

// deliver writes a message into the Maildir as a delivery agent does
// (tmp/, then rename into new/).
func (d *testDovecot) deliver(t *testing.T, subject string) error {
	name := fmt.Sprintf("%d.%d.test", time.Now().UnixNano(), os.Getpid())
	msg := "From: <alice@contoso.com>\r\nTo: <alice@contoso.com>\r\nSubject: " + subject + "\r\nMessage-ID: <" + name + "@contoso.com>\r\n\r\nTest.\r\n"
	tmp := filepath.Join(d.maildir, "tmp", name)
	if err := os.WriteFile(tmp, []byte(msg), 0o600); err != nil {
		return err
	}
	d.chown(t, tmp)
	return os.Rename(tmp, filepath.Join(d.maildir, "new", name))
}
