package mailbox

import (
	"bufio"
	"context"
	"fmt"
	"io"
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

	"github.com/transportd/transportd/transport/mail/delivery"
)

// needTool returns the path of an interop peer. Missing peers skip the
// test, unless TRANSPORTD_INTEROP=require (as in CI), where they fail it.
func needTool(t *testing.T, name, pkg string) string {
	t.Helper()
	p, err := exec.LookPath(name)
	if err != nil {
		if os.Getenv("TRANSPORTD_INTEROP") == "require" {
			t.Fatalf("interop peer %s is missing and TRANSPORTD_INTEROP=require (apt-get install %s; it lives in /usr/sbin, which must be on PATH)", name, pkg)
		}
		t.Skipf("interop peer %s not installed (apt-get install %s)", name, pkg)
	}
	return p
}

// freePort returns a loopback port nobody listens on right now.
func freePort(t *testing.T) int {
	t.Helper()
	l, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	defer l.Close()
	return l.Addr().(*net.TCPAddr).Port
}

const dovecotPassword = "Pa55word!"

type dovecot struct {
	imap, pop3, lmtp string // 127.0.0.1:port; lmtp only when asked for
	lmtpSocket       string // unix socket of the LMTP server
}

// dovecotLMTP is the LMTP server of Debian's dovecot-lmtpd.
const dovecotLMTP = "/usr/lib/dovecot/lmtp"

// startDovecot runs Dovecot in the foreground as a child process, serving
// the Maildirs under root to any user with dovecotPassword, and waits until
// its IMAP and POP3 ports answer.
//
// recipe, when not empty, replaces the test's mail_location and userdb
// settings (a passwd-file of the test's users, homes under root) with an
// admin's, such as the README's.
func startDovecot(t *testing.T, root string, mailUser *user.User, withLMTP bool, recipe string) dovecot {
	t.Helper()
	bin := needTool(t, "dovecot", "dovecot-imapd dovecot-pop3d")
	dir := t.TempDir()
	u, err := user.Current()
	if err != nil {
		t.Fatal(err)
	}
	imapPort, pop3Port := freePort(t), freePort(t)
	internal := ""
	if os.Geteuid() != 0 {
		// Unprivileged, Dovecot can neither switch users nor chroot: run
		// everything as the current user.
		g, err := user.LookupGroupId(u.Gid)
		if err != nil {
			t.Fatal(err)
		}
		internal = fmt.Sprintf("default_internal_user = %[1]s\ndefault_login_user = %[1]s\ndefault_internal_group = %[2]s\n", u.Username, g.Name)
	}
	// The mailboxes, in passwd-file format: user:password:uid:gid::home.
	// Anyone else is unknown (LMTP answers 550 5.1.1).
	var users strings.Builder
	for _, name := range []string{"alice@contoso.com", "bob@contoso.com"} {
		fmt.Fprintf(&users, "%s:{PLAIN}%s:%s:%s::%s\n", name, dovecotPassword, mailUser.Uid, mailUser.Gid, filepath.Join(root, name))
	}
	usersPath := filepath.Join(dir, "users")
	if err := os.WriteFile(usersPath, []byte(users.String()), 0o644); err != nil {
		t.Fatal(err)
	}
	protocols, lmtpConf := "imap pop3", ""
	d := dovecot{
		imap: net.JoinHostPort("127.0.0.1", strconv.Itoa(imapPort)),
		pop3: net.JoinHostPort("127.0.0.1", strconv.Itoa(pop3Port)),
	}
	if withLMTP {
		if _, err := os.Stat(dovecotLMTP); err != nil {
			if os.Getenv("TRANSPORTD_INTEROP") == "require" {
				t.Fatalf("Dovecot's LMTP server %s is missing and TRANSPORTD_INTEROP=require (apt-get install dovecot-lmtpd)", dovecotLMTP)
			}
			t.Skipf("Dovecot's LMTP server is not installed (apt-get install dovecot-lmtpd)")
		}
		lmtpPort := freePort(t)
		d.lmtp = net.JoinHostPort("127.0.0.1", strconv.Itoa(lmtpPort))
		d.lmtpSocket = filepath.Join(dir, "run", "lmtp")
		protocols += " lmtp"
		lmtpConf = fmt.Sprintf(`service lmtp {
  inet_listener lmtp {
    port = %d
  }
  unix_listener lmtp {
    mode = 0600
  }
}
`, lmtpPort)
	}
	mailConf := recipe
	if mailConf == "" {
		mailConf = fmt.Sprintf("mail_location = maildir:%s/%%u/Maildir\nuserdb {\n  driver = passwd-file\n  args = %s\n}\n", root, usersPath)
	}
	conf := fmt.Sprintf(`# written by transportd's interop test
base_dir = %[1]s/run
state_dir = %[1]s/state
instance_name = transportd-test-%[2]d
log_path = %[1]s/dovecot.log
%[3]slisten = 127.0.0.1
protocols = %[9]s
ssl = no
disable_plaintext_auth = no
auth_mechanisms = plain
# Unprivileged, the mailbox owner is the test's user, whatever its uid.
first_valid_uid = 0
first_valid_gid = 0
pop3_uidl_format = %%08Xu%%08Xv
passdb {
  driver = passwd-file
  args = %[5]s
}
%[10]s
service anvil {
  chroot =
}
service imap-login {
  chroot =
  inet_listener imap {
    port = %[6]d
  }
  inet_listener imaps {
    port = 0
  }
}
service pop3-login {
  chroot =
  inet_listener pop3 {
    port = %[7]d
  }
  inet_listener pop3s {
    port = 0
  }
}
%[8]s`, dir, os.Getpid(), internal, root, usersPath, imapPort, pop3Port, lmtpConf, protocols, mailConf)
	confPath := filepath.Join(dir, "dovecot.conf")
	if err := os.WriteFile(confPath, []byte(conf), 0o600); err != nil {
		t.Fatal(err)
	}
	for _, d := range []string{"run", "state"} {
		if err := os.Mkdir(filepath.Join(dir, d), 0o755); err != nil {
			t.Fatal(err)
		}
	}
	dumpLog := func() {
		if data, err := os.ReadFile(filepath.Join(dir, "dovecot.log")); err == nil {
			t.Logf("dovecot.log:\n%s", data)
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
			t.Logf("dovecot output:\n%s", out.String())
			dumpLog()
		}
	})

	// Readiness is the listening port: dial until it answers, bounded.
	deadline := time.Now().Add(30 * time.Second)
	tick := time.NewTicker(20 * time.Millisecond)
	defer tick.Stop()
	for _, addr := range []string{d.imap, d.pop3, d.lmtp} {
		if addr == "" {
			continue
		}
		for {
			c, err := net.DialTimeout("tcp", addr, time.Second)
			if err == nil {
				c.Close()
				break
			}
			if time.Now().After(deadline) {
				t.Fatalf("dovecot does not answer on %s: %v\n%s", addr, err, out.String())
			}
			select {
			case err := <-exited:
				exited <- err // for the cleanup
				t.Fatalf("dovecot exited: %v\n%s", err, out.String())
			case <-tick.C:
			}
		}
	}
	return d
}

// mailOwner returns the user Dovecot reads the Maildirs as. Unprivileged
// that is the test's user. Dovecot's imap and pop3 never access mail as
// root (userdb uid 0 is refused whatever first_valid_uid says), so as root
// it is "nobody", given the Maildirs as Transport.MaildirOwner (UseOwner)
// gives them to a vmail user.
func mailOwner(t *testing.T) *user.User {
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

// handOver makes the Maildirs under root owned by u, and the test's
// folders above root traversable, when running as root: for Maildirs that
// Dovecot's LMTP server wrote, which transportd does not own.
func handOver(t *testing.T, root string, u *user.User) {
	t.Helper()
	if os.Geteuid() != 0 {
		return
	}
	uid, _ := strconv.Atoi(u.Uid)
	gid, _ := strconv.Atoi(u.Gid)
	err := filepath.WalkDir(root, func(p string, _ os.DirEntry, err error) error {
		if err != nil {
			return err
		}
		return os.Lchown(p, uid, gid)
	})
	if err != nil {
		t.Fatalf("chown %s: %v", root, err)
	}
	tmp := filepath.Clean(os.TempDir())
	for d := filepath.Dir(root); d != tmp && d != filepath.Dir(d); d = filepath.Dir(d) {
		if err := os.Chmod(d, 0o711); err != nil {
			t.Fatal(err)
		}
	}
}

// textConn is a line-oriented client for IMAP and POP3 with a deadline.
type textConn struct {
	t *testing.T
	c net.Conn
	r *bufio.Reader
}

func dialText(t *testing.T, addr string) *textConn {
	t.Helper()
	c, err := net.DialTimeout("tcp", addr, 5*time.Second)
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { c.Close() })
	c.SetDeadline(time.Now().Add(30 * time.Second))
	return &textConn{t: t, c: c, r: bufio.NewReader(c)}
}

func (tc *textConn) line() string {
	tc.t.Helper()
	l, err := tc.r.ReadString('\n')
	if err != nil {
		tc.t.Fatalf("reading from %s: %v (got %q)", tc.c.RemoteAddr(), err, l)
	}
	return strings.TrimRight(l, "\r\n")
}

func (tc *textConn) send(format string, args ...any) {
	tc.t.Helper()
	if _, err := fmt.Fprintf(tc.c, format+"\r\n", args...); err != nil {
		tc.t.Fatal(err)
	}
}

// imapCommand sends a tagged command and returns the untagged lines and
// literals up to the tagged reply, which must be OK.
func (tc *textConn) imapCommand(tag, format string, args ...any) []string {
	tc.t.Helper()
	tc.send(tag+" "+format, args...)
	var lines []string
	for {
		l := tc.line()
		// A literal {n} at the end of a line is followed by n raw bytes
		// (RFC 9051 section 4.3).
		if strings.HasSuffix(l, "}") {
			if i := strings.LastIndexByte(l, '{'); i >= 0 {
				n, err := strconv.Atoi(l[i+1 : len(l)-1])
				if err == nil {
					buf := make([]byte, n)
					if _, err := io.ReadFull(tc.r, buf); err != nil {
						tc.t.Fatal(err)
					}
					lines = append(lines, l, string(buf))
					continue
				}
			}
		}
		if strings.HasPrefix(l, tag+" ") {
			if !strings.HasPrefix(l, tag+" OK") {
				tc.t.Fatalf("IMAP %s: %s", strings.Fields(format)[0], l)
			}
			return lines
		}
		lines = append(lines, l)
	}
}

func (tc *textConn) pop3Command(format string, args ...any) string {
	tc.t.Helper()
	tc.send(format, args...)
	l := tc.line()
	if !strings.HasPrefix(l, "+OK") {
		tc.t.Fatalf("POP3 %s: %s", strings.Fields(format)[0], l)
	}
	return l
}

// interopMessage is a plain message: CRLF only, a dot-line to exercise POP3
// dot-stuffing.
const interopMessage = "From: Partner <partner@example.net>\r\n" +
	"To: alice@contoso.com\r\n" +
	"Subject: Quarterly numbers via Dovecot\r\n" +
	"Message-ID: <dovecot-1@example.net>\r\n" +
	"\r\n" +
	"Hello Alice,\r\n" +
	".\r\n" +
	"the numbers are in.\r\n"

// TestInteropDovecot delivers with Maildir and reads the message back
// through Dovecot over IMAP (RFC 9051) and POP3 (RFC 1939), byte for byte.
func TestInteropDovecot(t *testing.T) {
	m := newMaildir(t)
	if err := os.MkdirAll(m.Root, 0o700); err != nil {
		t.Fatal(err)
	}
	owner := mailOwner(t)
	d := startDovecot(t, m.Root, owner, false, "")

	res := m.Deliver(context.Background(), newMessage("partner@example.net", interopMessage), []string{"alice@contoso.com"})
	if res[0].Err != nil {
		t.Fatal(res[0].Err)
	}
	// What Transport.MaildirOwner does in the daemon, not a test fix-up.
	uid, _ := strconv.Atoi(owner.Uid)
	gid, _ := strconv.Atoi(owner.Gid)
	if err := m.UseOwner(&Owner{UID: uid, GID: gid}); err != nil {
		t.Fatal(err)
	}
	// What a client must see: the stored message with our trace headers,
	// CRLF line ends restored by the server.
	want := "Return-Path: <partner@example.net>\r\nDelivered-To: alice@contoso.com\r\n" + interopMessage

	t.Run("IMAP", func(t *testing.T) {
		c := dialText(t, d.imap)
		if l := c.line(); !strings.HasPrefix(l, "* OK") {
			t.Fatalf("greeting %q", l)
		}
		c.imapCommand("a001", `LOGIN "alice@contoso.com" %q`, dovecotPassword)
		sel := strings.Join(c.imapCommand("a002", "SELECT INBOX"), "\n")
		if !strings.Contains(sel, "* 1 EXISTS") {
			t.Fatalf("SELECT INBOX: want 1 message:\n%s", sel)
		}
		fetch := c.imapCommand("a003", "FETCH 1 (RFC822.SIZE BODY[])")
		if len(fetch) < 2 {
			t.Fatalf("FETCH returned %q", fetch)
		}
		if got := fetch[1]; got != want {
			t.Errorf("IMAP BODY[]:\n%q\nwant\n%q", got, want)
		}
		if size := "RFC822.SIZE " + strconv.Itoa(len(want)) + " "; !strings.Contains(fetch[0], size) {
			t.Errorf("FETCH %q lacks %q", fetch[0], size)
		}
		c.imapCommand("a004", "LOGOUT")
	})

	t.Run("POP3", func(t *testing.T) {
		c := dialText(t, d.pop3)
		if l := c.line(); !strings.HasPrefix(l, "+OK") {
			t.Fatalf("greeting %q", l)
		}
		c.pop3Command("USER alice@contoso.com")
		c.pop3Command("PASS %s", dovecotPassword)
		if stat := c.pop3Command("STAT"); stat != fmt.Sprintf("+OK 1 %d", len(want)) {
			t.Errorf("STAT %q, want 1 message of %d octets", stat, len(want))
		}
		c.pop3Command("RETR 1")
		var got strings.Builder
		for {
			l := c.line()
			if l == "." {
				break
			}
			// RFC 1939 section 3: a leading dot is doubled on the wire.
			got.WriteString(strings.TrimPrefix(l, ".") + "\r\n")
		}
		if got.String() != want {
			t.Errorf("POP3 RETR:\n%q\nwant\n%q", got.String(), want)
		}
		c.pop3Command("QUIT")
	})
}

// TestInteropDovecotLMTP delivers with the LMTP target to Dovecot's LMTP
// server (RFC 2033), over TCP and over its unix socket, then reads the
// messages back over IMAP.
func TestInteropDovecotLMTP(t *testing.T) {
	root := filepath.Join(t.TempDir(), "mailboxes")
	if err := os.Mkdir(root, 0o700); err != nil {
		t.Fatal(err)
	}
	owner := mailOwner(t)
	handOver(t, root, owner) // Dovecot creates the Maildirs, as owner
	d := startDovecot(t, root, owner, true, "")
	msg := newMessage("partner@example.net", interopMessage)

	for _, tc := range []struct {
		name  string
		addr  string
		rcpts []string
		want  map[string]string // recipient -> reply prefix; absent: delivered
	}{
		{"tcp", d.lmtp, []string{"alice@contoso.com", "nobody@contoso.com", "bob@contoso.com"},
			map[string]string{"nobody@contoso.com": "550 5.1.1 <nobody@contoso.com> User doesn't exist"}},
		{"unix socket", d.lmtpSocket, []string{"alice@contoso.com"}, nil},
	} {
		t.Run(tc.name, func(t *testing.T) {
			l := &LMTP{Addr: tc.addr, HeloName: "mail.contoso.com", DialTimeout: 5 * time.Second, Logger: newMaildir(t).Logger}
			ctx, cancel := context.WithTimeout(context.Background(), 30*time.Second)
			defer cancel()
			for _, r := range l.Deliver(ctx, msg, tc.rcpts) {
				want, fail := tc.want[r.Recipient]
				switch {
				case !fail && r.Err != nil:
					t.Errorf("%s: %v, want delivered", r.Recipient, r.Err)
				case fail && (r.Err == nil || !strings.HasPrefix(r.Err.Error(), want)):
					t.Errorf("%s: %v, want %q...", r.Recipient, r.Err, want)
				case fail && r.Err.(*delivery.Error).RemoteMTA != tc.addr:
					t.Errorf("%s: RemoteMTA %q, want %q", r.Recipient, r.Err.(*delivery.Error).RemoteMTA, tc.addr)
				}
			}
		})
	}

	c := dialText(t, d.imap)
	c.line()
	c.imapCommand("a001", `LOGIN "alice@contoso.com" %q`, dovecotPassword)
	if sel := strings.Join(c.imapCommand("a002", "SELECT INBOX"), "\n"); !strings.Contains(sel, "* 2 EXISTS") {
		t.Fatalf("SELECT INBOX: want the 2 messages:\n%s", sel)
	}
	fetch := c.imapCommand("a003", "FETCH 1 BODY[]")
	if len(fetch) < 2 {
		t.Fatalf("FETCH returned %q", fetch)
	}
	// Dovecot adds Return-Path and its Received line (RFC 5321 section
	// 4.4) above the message, which must follow unchanged.
	got := fetch[1]
	for _, want := range []string{"Return-Path: <partner@example.net>\r\n", "with LMTP"} {
		if !strings.Contains(got, want) {
			t.Errorf("message lacks %q:\n%s", want, got)
		}
	}
	if !strings.HasSuffix(got, interopMessage) {
		t.Errorf("message does not end with the one sent:\n%q", got)
	}
	c.imapCommand("a004", "LOGOUT")
}

// The README's Dovecot recipe, without the fix-ups of handOver: mail
// delivered before MaildirOwner is set and mail delivered after it, under
// a data folder created 0700 as a first start does, are both read by
// Dovecot running as the mail user once transportd has the owner.
func TestInteropDovecotMaildirOwnerRecipe(t *testing.T) {
	if os.Geteuid() != 0 {
		t.Skip("MaildirOwner is for a daemon running as root")
	}
	m, _ := recipeLayout(t)
	owner := mailOwner(t) // as root: nobody, in the role of vmail
	before := "From: partner@example.net\r\nSubject: before MaildirOwner\r\n\r\nfirst\r\n"
	if res := m.Deliver(context.Background(), newMessage("partner@example.net", before), []string{"alice@contoso.com"}); res[0].Err != nil {
		t.Fatal(res[0].Err)
	}
	uid, _ := strconv.Atoi(owner.Uid)
	gid, _ := strconv.Atoi(owner.Gid)
	if err := m.UseOwner(&Owner{UID: uid, GID: gid}); err != nil { // transportconfig set -maildirowner
		t.Fatal(err)
	}
	after := "From: partner@example.net\r\nSubject: after MaildirOwner\r\n\r\nsecond\r\n"
	if res := m.Deliver(context.Background(), newMessage("partner@example.net", after), []string{"alice@contoso.com"}); res[0].Err != nil {
		t.Fatal(res[0].Err)
	}
	d := startDovecot(t, m.Root, owner, false, readmeDovecotRecipe(t, filepath.Dir(m.Root), owner))
	c := dialText(t, d.imap)
	if l := c.line(); !strings.HasPrefix(l, "* OK") {
		t.Fatalf("greeting %q", l)
	}
	c.imapCommand("a001", `LOGIN "alice@contoso.com" %q`, dovecotPassword)
	sel := strings.Join(c.imapCommand("a002", "SELECT INBOX"), "\n")
	if !strings.Contains(sel, "* 2 EXISTS") {
		t.Fatalf("SELECT INBOX: want both messages:\n%s", sel)
	}
	fetch := strings.Join(c.imapCommand("a003", "FETCH 1:2 (BODY[HEADER.FIELDS (SUBJECT)])"), "\n")
	if !strings.Contains(fetch, "before MaildirOwner") || !strings.Contains(fetch, "after MaildirOwner") {
		t.Fatalf("FETCH:\n%s", fetch)
	}
	c.imapCommand("a004", "LOGOUT")
}

// readmeDovecotRecipe returns the Dovecot settings of the README's recipe
// (the block that starts "# /etc/dovecot/conf.d/99-transportd.conf"), with
// the README's data folder replaced by data and its vmail user by u, so the
// test breaks when the README's recipe changes.
func readmeDovecotRecipe(t *testing.T, data string, u *user.User) string {
	t.Helper()
	md, err := os.ReadFile("../../../README.md")
	if err != nil {
		t.Fatal(err)
	}
	const start = "# /etc/dovecot/conf.d/99-transportd.conf\n"
	i := strings.Index(string(md), start)
	if i < 0 {
		t.Fatal("README.md has no Dovecot recipe starting with " + start)
	}
	recipe, _, ok := strings.Cut(string(md[i+len(start):]), "```")
	if !ok || !strings.Contains(recipe, "uid=vmail gid=vmail") || !strings.Contains(recipe, "/etc/transportd/data/") {
		t.Fatalf("README's Dovecot recipe is not what this test follows:\n%s", recipe)
	}
	recipe = strings.ReplaceAll(recipe, "/etc/transportd/data/", data+"/")
	// Debian's nobody has the group nogroup: numeric ids say the same thing.
	return strings.ReplaceAll(recipe, "uid=vmail gid=vmail", "uid="+u.Uid+" gid="+u.Gid)
}
