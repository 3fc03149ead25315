package main

import (
	_ "embed"
	"errors"
	"flag"
	"fmt"
	"io"
	"os"
	"os/exec"
	"os/user"
	"path/filepath"
	"strconv"
	"strings"

	"github.com/transportd/transportd/transport/admin/config"
)

//go:embed transportd.service
var unitTemplate string

// renderUnit fills the unit template's paths and user.
func renderUnit(binary, cfgPath, dataDir, userName string) string {
	return strings.NewReplacer("@BINARY@", binary, "@CONFIG@", cfgPath, "@CONFIGDIR@", filepath.Dir(cfgPath),
		"@DATADIR@", dataDir, "@USER@", userName).Replace(unitTemplate)
}

const installUsage = `transportd install: run transportd as a systemd service, as an unprivileged user.

  transportd install [-user transportd] [-data /var/lib/transportd] [-unit /etc/systemd/system/transportd.service] [-dry-run]

Creates the system user (useradd --system) when missing, the configuration
folder and the data folder owned by it, a configuration with the embedded
defaults when there is none, and the systemd unit (Type=notify, reload on
SIGHUP, CAP_NET_BIND_SERVICE only, ProtectSystem=strict). Then:

  systemctl daemon-reload && systemctl enable --now transportd
`

// runInstall is `transportd install`.
func runInstall(cfgPath string, args []string, stdout, stderr io.Writer) int {
	fs := flag.NewFlagSet("install", flag.ContinueOnError)
	fs.SetOutput(stderr)
	fs.Usage = func() { fmt.Fprint(stderr, installUsage) }
	userName := fs.String("user", "transportd", "the system user the daemon runs as")
	dataDir := fs.String("data", "/var/lib/transportd", "the data folder (queue, mailboxes, certificates, logs)")
	unitPath := fs.String("unit", "/etc/systemd/system/transportd.service", "where the unit goes")
	dry := fs.Bool("dry-run", false, "print what would be done, change nothing")
	if err := fs.Parse(args); err != nil {
		if errors.Is(err, flag.ErrHelp) {
			return 0
		}
		return 2
	}
	abs, err := filepath.Abs(cfgPath)
	if err != nil {
		fmt.Fprintln(stderr, "transportd install:", err)
		return 1
	}
	bin, err := os.Executable()
	if err == nil {
		bin, err = filepath.EvalSymlinks(bin)
	}
	if err != nil {
		fmt.Fprintln(stderr, "transportd install: cannot tell where this binary is:", err)
		return 1
	}
	say := func(format string, a ...any) { fmt.Fprintf(stdout, format+"\n", a...) }
	if *dry {
		say("would create the system user %s (if missing), %s and %s owned by it, and %s:", *userName, filepath.Dir(abs), *dataDir, *unitPath)
		fmt.Fprint(stdout, renderUnit(bin, abs, *dataDir, *userName))
		return 0
	}
	if os.Geteuid() != 0 {
		fmt.Fprintln(stderr, "transportd install: run it as root (it creates a system user and writes the unit); -dry-run shows what it does")
		return 1
	}
	u, err := user.Lookup(*userName)
	if err != nil {
		cmd := exec.Command("useradd", "--system", "--user-group", "--home-dir", *dataDir, "--no-create-home",
			"--shell", "/usr/sbin/nologin", "--comment", "transportd mail transfer agent", *userName)
		if out, err := cmd.CombinedOutput(); err != nil {
			fmt.Fprintf(stderr, "transportd install: useradd %s: %v\n%s", *userName, err, out)
			return 1
		}
		say("created the system user %s", *userName)
		if u, err = user.Lookup(*userName); err != nil {
			fmt.Fprintln(stderr, "transportd install:", err)
			return 1
		}
	}
	uid, _ := strconv.Atoi(u.Uid)
	gid, _ := strconv.Atoi(u.Gid)
	if err := installFolders(abs, *dataDir, uid, gid); err != nil {
		fmt.Fprintln(stderr, "transportd install:", err)
		return 1
	}
	say("%s and %s belong to %s", filepath.Dir(abs), *dataDir, *userName)
	if err := os.WriteFile(*unitPath, []byte(renderUnit(bin, abs, *dataDir, *userName)), 0o644); err != nil {
		fmt.Fprintln(stderr, "transportd install:", err)
		return 1
	}
	say("wrote %s", *unitPath)
	if _, err := exec.LookPath("systemctl"); err == nil {
		if out, err := exec.Command("systemctl", "daemon-reload").CombinedOutput(); err != nil {
			say("systemctl daemon-reload: %v %s", err, strings.TrimSpace(string(out)))
		}
	}
	say("start it with: systemctl enable --now transportd")
	return 0
}

// installFolders creates the configuration (with the embedded defaults
// and DataPath set) and the data folder, owned by the daemon's user.
func installFolders(cfgPath, dataDir string, uid, gid int) error {
	cfgDir := filepath.Dir(cfgPath)
	for _, d := range []string{cfgDir, dataDir} {
		if err := os.MkdirAll(d, 0o750); err != nil {
			return err
		}
		if err := os.Chown(d, uid, gid); err != nil {
			return err
		}
	}
	if _, err := os.Stat(cfgPath); errors.Is(err, os.ErrNotExist) {
		if _, err := config.Load(cfgPath); err != nil {
			return fmt.Errorf("writing the default configuration: %w", err)
		}
		if _, err := config.Update(cfgPath, func(c *config.Config) error {
			c.Server.DataPath = dataDir
			return nil
		}); err != nil {
			return fmt.Errorf("setting DataPath: %w", err)
		}
	}
	// What an administrator wrote as root before (a daemon run as root,
	// the shell's edits) stays usable by the daemon; later edits keep the
	// owner (package durable).
	for _, d := range []string{cfgDir, dataDir} {
		if err := filepath.WalkDir(d, func(p string, _ os.DirEntry, err error) error {
			if err != nil {
				return err
			}
			return os.Lchown(p, uid, gid)
		}); err != nil {
			return fmt.Errorf("giving %s to the service user: %w", d, err)
		}
	}
	return nil
}

const installSendmailUsage = `transportd install-sendmail: make this binary the system's sendmail.

  transportd install-sendmail [-link /usr/sbin/sendmail] [-force]

Links /usr/sbin/sendmail (and /usr/lib/sendmail) to transportd, which then
acts as sendmail when called by that name. An existing sendmail of another
MTA is kept unless -force, which renames it to sendmail.before-transportd.
`

// runInstallSendmail is `transportd install-sendmail`.
func runInstallSendmail(args []string, stdout, stderr io.Writer) int {
	fs := flag.NewFlagSet("install-sendmail", flag.ContinueOnError)
	fs.SetOutput(stderr)
	fs.Usage = func() { fmt.Fprint(stderr, installSendmailUsage) }
	link := fs.String("link", "", "the link to create (default /usr/sbin/sendmail and /usr/lib/sendmail)")
	force := fs.Bool("force", false, "replace another MTA's sendmail (kept as sendmail.before-transportd)")
	if err := fs.Parse(args); err != nil {
		if errors.Is(err, flag.ErrHelp) {
			return 0
		}
		return 2
	}
	bin, err := os.Executable()
	if err == nil {
		bin, err = filepath.EvalSymlinks(bin)
	}
	if err != nil {
		fmt.Fprintln(stderr, "transportd install-sendmail: cannot tell where this binary is:", err)
		return 1
	}
	links := []string{*link}
	if *link == "" {
		links = []string{"/usr/sbin/sendmail"}
		if st, err := os.Stat("/usr/lib"); err == nil && st.IsDir() {
			links = append(links, "/usr/lib/sendmail")
		}
	}
	for _, l := range links {
		if target, err := filepath.EvalSymlinks(l); err == nil {
			if target == bin {
				fmt.Fprintf(stdout, "%s is transportd already\n", l)
				continue
			}
			if !*force {
				fmt.Fprintf(stderr, "transportd install-sendmail: %s is another program's (%s); -force replaces it, keeping it as %s.before-transportd\n", l, target, l)
				return 1
			}
			if err := os.Rename(l, l+".before-transportd"); err != nil {
				fmt.Fprintln(stderr, "transportd install-sendmail:", err)
				return 1
			}
		} else if _, lerr := os.Lstat(l); lerr == nil {
			os.Remove(l) // a dangling link
		}
		if err := os.Symlink(bin, l); err != nil {
			fmt.Fprintln(stderr, "transportd install-sendmail:", err)
			return 1
		}
		fmt.Fprintf(stdout, "%s -> %s\n", l, bin)
	}
	return 0
}
