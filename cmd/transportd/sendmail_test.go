package main

import (
	"context"
	"log/slog"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/transportd/transportd/transport/admin/config"
	"github.com/transportd/transportd/transport/mail/submit"
	"github.com/transportd/transportd/transport/service"
)

// sendmailDaemon runs a daemon with a mailbox alice@contoso.com and its
// submission socket in a folder every user may reach; it returns the
// config path, the socket and the mailbox's new/ folder.
func sendmailDaemon(t *testing.T) (cfg, sock, box string, stop func()) {
	t.Helper()
	cfg = corpusConfig(t)
	ok(t, cfg, "Pa55word!\n", "mailbox", "new", "-name", "alice", "-primarysmtpaddress", "alice@contoso.com", "-password", "-")
	run := t.TempDir()
	os.Chmod(run, 0o755)
	os.Chmod(filepath.Dir(run), 0o755) // the test's temporary folder
	sock = filepath.Join(run, "submit.sock")
	svc, err := service.Open(context.Background(), cfg, slog.New(slog.DiscardHandler))
	if err != nil {
		t.Fatal(err)
	}
	svc.SubmitSocketPath = sock
	ctx, cancel := context.WithCancel(context.Background())
	done := make(chan struct{})
	go func() { defer close(done); svc.Run(ctx) }()
	deadline := time.Now().Add(15 * time.Second)
	for {
		if _, err := os.Stat(sock); err == nil {
			break
		}
		if time.Now().After(deadline) {
			t.Fatal("the submission socket did not appear")
		}
		time.Sleep(10 * time.Millisecond)
	}
	box = filepath.Join(svc.Mailboxes().Path("alice@contoso.com"), "new")
	stopped := false
	stop = func() {
		if !stopped {
			stopped = true
			cancel()
			<-done
		}
	}
	t.Cleanup(stop)
	return cfg, sock, box, stop
}

// waitMail waits for a message holding mark in box and returns it.
func waitMail(t *testing.T, box, mark string) string {
	t.Helper()
	deadline := time.Now().Add(20 * time.Second)
	for time.Now().Before(deadline) {
		entries, _ := os.ReadDir(box)
		for _, e := range entries {
			b, _ := os.ReadFile(filepath.Join(box, e.Name()))
			if strings.Contains(string(b), mark) {
				return string(b)
			}
		}
		time.Sleep(20 * time.Millisecond)
	}
	t.Fatalf("no message with %q arrived in %s", mark, box)
	return ""
}

// cron's way: the message on standard input, recipients from the header.
func TestSendmailFromCronAsRoot(t *testing.T) {
	cfg, sock, box, _ := sendmailDaemon(t)
	t.Setenv("TRANSPORTD_SUBMIT_SOCKET", sock)
	msg := "To: alice@contoso.com\nBcc: alice@contoso.com\nSubject: cron <root@mail> run-parts\n\nmark-cron-1\n.\nafter the dot\n"
	r := tdrun(t, cfg, msg, "sendmail", "-t", "-i")
	if r.code != 0 {
		t.Fatalf("exit %d: %s", r.code, r.stderr)
	}
	got := waitMail(t, box, "mark-cron-1")
	for _, want := range []string{"Received: by mail.contoso.com (transportd sendmail, from local user root (uid 0))",
		"From: <root@contoso.com>", "Message-ID: <", "Date: ", "after the dot"} {
		if !strings.Contains(got, want) {
			t.Errorf("delivered message lacks %q:\n%s", want, got)
		}
	}
	if strings.Contains(got, "Bcc:") {
		t.Errorf("Bcc: was not removed:\n%s", got)
	}
	// Without -i a line holding a dot ends the message, as sendmail does.
	r = tdrun(t, cfg, "Subject: dot\n\nmark-dot-2\n.\nnot sent\n", "sendmail", "-f", "app@contoso.com", "-F", "Nightly Job", "alice")
	if r.code != 0 {
		t.Fatalf("exit %d: %s", r.code, r.stderr)
	}
	got = waitMail(t, box, "mark-dot-2")
	if strings.Contains(got, "not sent") || !strings.Contains(got, "From: Nightly Job <app@contoso.com>") || !strings.Contains(got, "Return-Path: <app@contoso.com>") {
		t.Errorf("message:\n%s", got)
	}
	// Tracking names the local user (the log reaches its file within a second).
	deadline := time.Now().Add(15 * time.Second)
	for {
		out := ok(t, cfg, "", "trackinglog", "get", "-format", "json")
		if strings.Contains(out, "sendmail: local user root (uid 0)") {
			break
		}
		if time.Now().After(deadline) {
			t.Fatalf("message tracking does not name the local user:\n%s", out)
		}
		time.Sleep(100 * time.Millisecond)
	}
}

// What the caller does wrong ends with sendmail's exit codes.
func TestSendmailExitCodes(t *testing.T) {
	cfg, sock, _, stop := sendmailDaemon(t)
	t.Setenv("TRANSPORTD_SUBMIT_SOCKET", sock)
	for _, c := range []struct {
		args  []string
		stdin string
		code  int
		says  string
	}{
		{[]string{}, "Subject: x\n\nbody\n", submit.ExUsage, "no recipients"},
		{[]string{"-t"}, "Subject: x\n\nbody\n", submit.ExUsage, "no address in To:"},
		{[]string{"bad@@address"}, "Subject: x\n\nbody\n", submit.ExNoUser, "bad@@address"},
		{[]string{"-Z"}, "", submit.ExUsage, "unknown option -Z"},
		{[]string{"alice"}, "", submit.ExDataErr, "empty"},
	} {
		r := tdrun(t, cfg, c.stdin, append([]string{"sendmail"}, c.args...)...)
		if r.code != c.code || !strings.Contains(r.stderr, c.says) {
			t.Errorf("sendmail %q: exit %d, %q; want %d saying %q", c.args, r.code, r.stderr, c.code, c.says)
		}
	}
	// The daemon is down: root may write the pickup folder, so the message
	// waits there; the daemon takes it when it starts.
	stop()
	r := tdrun(t, cfg, "Subject: later\n\nmark-spooled\n", "sendmail", "alice@contoso.com")
	if r.code != 0 {
		t.Fatalf("daemon down, pickup writable: exit %d: %s", r.code, r.stderr)
	}
	c, err := config.Read(cfg)
	if err != nil {
		t.Fatal(err)
	}
	pk, _ := c.PickupDirs()
	entries, _ := filepath.Glob(filepath.Join(pk, "*.eml"))
	if len(entries) != 1 {
		t.Fatalf("pickup folder holds %v", entries)
	}
	b, _ := os.ReadFile(entries[0])
	if !strings.Contains(string(b), "X-Receiver: <alice@contoso.com>") || !strings.Contains(string(b), "mark-spooled") {
		t.Fatalf("spooled file:\n%s", b)
	}
	// No daemon and no pickup folder to write: EX_TEMPFAIL, the caller keeps the mail.
	os.Setenv("TRANSPORTD_SUBMIT_SOCKET", sock)
	r = tdrun(t, filepath.Join(t.TempDir(), "none", "transportd.yaml"), "Subject: x\n\nbody\n", "sendmail", "alice@contoso.com")
	if r.code != submit.ExTempFail || !strings.Contains(r.stderr, "not running") {
		t.Fatalf("no daemon: exit %d, %s", r.code, r.stderr)
	}
}

// asUser runs the test binary as the transportd command of another,
// unprivileged user (setpriv), with argv0 as its name.
func asUser(t *testing.T, uid, gid, argv0 string, env []string, stdin string, args ...string) (int, string) {
	t.Helper()
	if os.Geteuid() != 0 {
		t.Skip("needs root to switch users")
	}
	sp, err := exec.LookPath("setpriv")
	if err != nil {
		t.Skip("setpriv (util-linux) is not installed")
	}
	exe, err := os.Executable()
	if err != nil {
		t.Fatal(err)
	}
	// The test binary must be reachable by that user.
	dir := t.TempDir()
	os.Chmod(dir, 0o755)
	os.Chmod(filepath.Dir(dir), 0o755)
	bin := filepath.Join(dir, argv0)
	data, err := os.ReadFile(exe)
	if err != nil {
		t.Fatal(err)
	}
	if err := os.WriteFile(bin, data, 0o755); err != nil {
		t.Fatal(err)
	}
	cmd := exec.Command(sp, append([]string{"--reuid=" + uid, "--regid=" + gid, "--clear-groups", bin}, args...)...)
	cmd.Env = append([]string{"TRANSPORTD_TEST_DAEMON=1", "PATH=/usr/bin:/bin"}, env...)
	cmd.Stdin = strings.NewReader(stdin)
	out, err := cmd.CombinedOutput()
	code := 0
	if ee, ok := err.(*exec.ExitError); ok {
		code = ee.ExitCode()
	} else if err != nil {
		t.Fatal(err)
	}
	return code, string(out)
}

// A user without any right on the daemon's files sends through the
// binary linked as sendmail (git send-email --sendmail-cmd, PHP mail());
// the daemon learns who it is from the socket, not from what it says.
func TestSendmailAsUnprivilegedUser(t *testing.T) {
	cfg, sock, box, _ := sendmailDaemon(t)
	env := []string{"TRANSPORTD_SUBMIT_SOCKET=" + sock}
	code, out := asUser(t, "daemon", "daemon", "sendmail", env,
		"From: Someone Else <ceo@contoso.com>\nTo: alice@contoso.com\nSubject: from daemon\n\nmark-unpriv\n", "-t", "-oi")
	if code != 0 {
		t.Fatalf("exit %d: %s", code, out)
	}
	got := waitMail(t, box, "mark-unpriv")
	if !strings.Contains(got, "from local user daemon (uid 1)") || !strings.Contains(got, "Return-Path: <daemon@contoso.com>") {
		t.Errorf("message:\n%s", got)
	}
	// The same user cannot read the queue or the configuration.
	code, out = asUser(t, "daemon", "daemon", "transportd", nil, "", "-config", cfg, "queue", "get")
	if code == 0 {
		t.Errorf("an unprivileged user read the queue: %s", out)
	}
	// The daemon down and no pickup folder it may write: EX_TEMPFAIL.
	code, out = asUser(t, "daemon", "daemon", "sendmail", []string{"TRANSPORTD_SUBMIT_SOCKET=" + sock + ".gone"}, "Subject: x\n\nbody\n", "alice@contoso.com")
	if code != submit.ExTempFail {
		t.Errorf("daemon down: exit %d: %s", code, out)
	}
}

// -bs: an SMTP dialogue on standard input and output.
func TestSendmailBS(t *testing.T) {
	cfg, sock, box, _ := sendmailDaemon(t)
	t.Setenv("TRANSPORTD_SUBMIT_SOCKET", sock)
	dialogue := "EHLO client\r\nMAIL FROM:<app@contoso.com>\r\nRCPT TO:<alice@contoso.com>\r\nDATA\r\nSubject: bs\r\n\r\nmark-bs\r\n.\r\nQUIT\r\n"
	r := tdrun(t, cfg, dialogue, "sendmail", "-bs")
	if r.code != 0 || !strings.HasPrefix(r.stdout, "220 ") || !strings.Contains(r.stdout, "\r\n250 ") || !strings.Contains(r.stdout, "221 ") {
		t.Fatalf("exit %d\n%s\n%s", r.code, r.stdout, r.stderr)
	}
	waitMail(t, box, "mark-bs")
}

func TestParseSendmailOptions(t *testing.T) {
	o, err := parseSendmail([]string{"-oi", "-t", "-fapp@contoso.com", "-F", "Job", "-oem", "-B", "8BITMIME", "a@example.org", "--", "-b@example.org"})
	if err != nil {
		t.Fatal(err)
	}
	if !o.ignoreDots || !o.req.Extract || *o.req.From != "app@contoso.com" || o.req.FullName != "Job" ||
		strings.Join(o.req.Recipients, " ") != "a@example.org -b@example.org" {
		t.Fatalf("%+v", o)
	}
	for _, bad := range [][]string{{"-f"}, {"-Z"}, {"-bp"}} {
		if _, err := parseSendmail(bad); err == nil {
			t.Errorf("%q parsed", bad)
		}
	}
}

// git send-email runs `--sendmail-cmd` with -i and the recipients, as an
// unprivileged developer would.
func TestGitSendEmailThroughSendmail(t *testing.T) {
	if out, _ := exec.Command("git", "send-email", "-h").CombinedOutput(); !strings.Contains(string(out), "sendmail-cmd") {
		interopMissing(t, "git send-email with --sendmail-cmd (Debian package git-email)")
	}
	_, sock, box, _ := sendmailDaemon(t)
	t.Setenv("TRANSPORTD_SUBMIT_SOCKET", sock)
	dir := t.TempDir()
	exe, _ := os.Executable()
	link := filepath.Join(dir, "sendmail")
	if err := os.Symlink(exe, link); err != nil {
		t.Fatal(err)
	}
	patch := filepath.Join(dir, "0001-fix.patch")
	if err := os.WriteFile(patch, []byte("From 1111111111111111111111111111111111111111 Mon Sep 17 00:00:00 2001\nFrom: Dev <dev@contoso.com>\nDate: Tue, 1 Dec 2026 00:00:00 +0000\nSubject: [PATCH] mark-git-send-email\n\n---\n a | 1 +\n\ndiff --git a/a b/a\n"), 0o644); err != nil {
		t.Fatal(err)
	}
	cmd := exec.Command("git", "send-email", "--sendmail-cmd="+link, "--to=alice@contoso.com", "--from=Dev <dev@contoso.com>",
		"--confirm=never", "--no-chain-reply-to", "--suppress-cc=all", patch)
	cmd.Dir = dir
	cmd.Env = append(os.Environ(), "TRANSPORTD_TEST_DAEMON=1", "GIT_CONFIG_NOSYSTEM=1", "HOME="+dir,
		"GIT_COMMITTER_NAME=Dev", "GIT_COMMITTER_EMAIL=dev@contoso.com", "GIT_AUTHOR_NAME=Dev", "GIT_AUTHOR_EMAIL=dev@contoso.com")
	out, err := cmd.CombinedOutput()
	if err != nil {
		t.Fatalf("git send-email: %v\n%s", err, out)
	}
	got := waitMail(t, box, "mark-git-send-email")
	// Without --envelope-sender git gives no -f: the envelope is the local user's.
	if !strings.Contains(got, "From: Dev <dev@contoso.com>") || !strings.Contains(got, "Return-Path: <root@contoso.com>") {
		t.Errorf("message:\n%s", got)
	}
}

// interopMissing skips a test whose peer is not installed, and fails it
// under TRANSPORTD_INTEROP=require (CI installs every peer).
func interopMissing(t *testing.T, what string) {
	t.Helper()
	if os.Getenv("TRANSPORTD_INTEROP") == "require" {
		t.Fatalf("%s is missing and TRANSPORTD_INTEROP=require", what)
	}
	t.Skipf("%s is not installed", what)
}
