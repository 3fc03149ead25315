// Package dovecottest runs a real Dovecot (Debian's dovecot-imapd and
// dovecot-pop3d) for tests: IMAP4 and POP3 on loopback ports, plain, SSL
// and STARTTLS, with a self-signed certificate for imap.contoso.com and a
// passwd-file of the test's users, serving the Maildirs
// <MailRoot>/<user>/Maildir. A missing Dovecot skips the test, unless
// TRANSPORTD_INTEROP=require (as in CI), where it fails it.
package dovecottest

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

// Server is a running Dovecot.
type Server struct {
	// IMAP, IMAPS, POP3 and POP3S are 127.0.0.1:port.
	IMAP, IMAPS, POP3, POP3S string
	// CertPEM is the served certificate (for imap.contoso.com).
	CertPEM []byte
	// Owner is the user Dovecot reads the Maildirs as: the test's user, or
	// "nobody" as root (Dovecot never reads mail as root).
	Owner *user.User
}

// MailOwner returns the user Dovecot will read the Maildirs as.
func MailOwner(t testing.TB) *user.User {
	t.Helper()
	name := ""
	if os.Geteuid() == 0 {
		name = "nobody"
	}
	u, err := user.Current()
	if name != "" {
		u, err = user.Lookup(name)
	}
	if err != nil {
		t.Fatalf("mail user: %v", err)
	}
	return u
}

func freePort(t testing.TB) int {
	t.Helper()
	l, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	defer l.Close()
	return l.Addr().(*net.TCPAddr).Port
}

// selfSigned writes a certificate for imap.contoso.com and its key.
func selfSigned(t testing.TB, dir string) (certPath, keyPath string, certPEM []byte) {
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

// Traversable makes the folders from dir up to the temporary folder
// traversable (0711) when running as root, so that Dovecot's mail user
// reaches Maildirs below them.
func Traversable(t testing.TB, dir string) {
	t.Helper()
	if os.Geteuid() != 0 {
		return
	}
	tmp := filepath.Clean(os.TempDir())
	for d := filepath.Clean(dir); d != tmp && d != filepath.Dir(d); d = filepath.Dir(d) {
		if err := os.Chmod(d, 0o711); err != nil {
			t.Fatal(err)
		}
	}
}

// Start runs Dovecot in the foreground as a child process for the users
// (address: password), serving mailRoot/<address>/Maildir, and waits until
// its ports answer. It stops with the test.
func Start(t testing.TB, mailRoot string, users map[string]string) *Server {
	t.Helper()
	bin, err := exec.LookPath("dovecot")
	if err != nil {
		if os.Getenv("TRANSPORTD_INTEROP") == "require" {
			t.Fatalf("interop peer dovecot is missing and TRANSPORTD_INTEROP=require (apt-get install dovecot-imapd dovecot-pop3d; it lives in /usr/sbin, which must be on PATH)")
		}
		t.Skipf("interop peer dovecot not installed (apt-get install dovecot-imapd dovecot-pop3d)")
	}
	dir := t.TempDir()
	s := &Server{Owner: MailOwner(t)}
	internal := ""
	if os.Geteuid() != 0 {
		// Unprivileged, Dovecot can neither switch users nor chroot: run
		// everything as the current user.
		g, err := user.LookupGroupId(s.Owner.Gid)
		if err != nil {
			t.Fatal(err)
		}
		internal = fmt.Sprintf("default_internal_user = %[1]s\ndefault_login_user = %[1]s\ndefault_internal_group = %[2]s\n", s.Owner.Username, g.Name)
	}
	var pw strings.Builder
	for u, p := range users {
		fmt.Fprintf(&pw, "%s:{PLAIN}%s:%s:%s::%s\n", u, p, s.Owner.Uid, s.Owner.Gid, filepath.Join(mailRoot, u))
	}
	usersPath := filepath.Join(dir, "users")
	if err := os.WriteFile(usersPath, []byte(pw.String()), 0o644); err != nil {
		t.Fatal(err)
	}
	certPath, keyPath, certPEM := selfSigned(t, dir)
	s.CertPEM = certPEM
	ports := []int{freePort(t), freePort(t), freePort(t), freePort(t)}
	addr := func(p int) string { return net.JoinHostPort("127.0.0.1", strconv.Itoa(p)) }
	s.IMAP, s.IMAPS, s.POP3, s.POP3S = addr(ports[0]), addr(ports[1]), addr(ports[2]), addr(ports[3])
	conf := fmt.Sprintf(`# written by transportd's dovecottest
base_dir = %[1]s/run
state_dir = %[1]s/state
instance_name = transportd-dovecottest-%[2]d-%[8]d
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
`, dir, os.Getpid(), internal, certPath, keyPath, mailRoot, usersPath, ports[0], ports[1], ports[2], ports[3])
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
		// SIGTERM lets the master stop its children; SIGKILL if it hangs.
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
	for _, a := range []string{s.IMAP, s.IMAPS, s.POP3, s.POP3S} {
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
				exited <- err // for the cleanup
				t.Fatalf("dovecot exited: %v\n%s", err, out.String())
			case <-tick.C:
			}
		}
	}
	return s
}

// Chown gives p and everything under it to the mail owner, as root.
func (s *Server) Chown(t testing.TB, p string) {
	t.Helper()
	if os.Geteuid() != 0 {
		return
	}
	uid, _ := strconv.Atoi(s.Owner.Uid)
	gid, _ := strconv.Atoi(s.Owner.Gid)
	if err := filepath.WalkDir(p, func(q string, _ os.DirEntry, err error) error {
		if err != nil {
			return err
		}
		return os.Lchown(q, uid, gid)
	}); err != nil {
		t.Fatal(err)
	}
}
