package mailbox

import (
	"fmt"
	"io/fs"
	"os"
	"path/filepath"
	"syscall"
)

// Owner returns the owner set with SetOwner, or nil.
func (m *Maildir) Owner() *Owner { return m.owner.Load() }

// UseOwner sets the owner of what delivery creates (as SetOwner) and, when
// it is not the owner already in force, hands the existing mailboxes to it
// (HandOver): a mailbox server running as that user can then serve mail
// delivered before the owner was configured.
func (m *Maildir) UseOwner(o *Owner) error {
	prev := m.owner.Load()
	m.SetOwner(o)
	if o == nil || (prev != nil && *prev == *o) {
		return nil
	}
	return m.HandOver()
}

// HandOver prepares Root for the owner's mailbox server (Dovecot's vmail
// user, say) while transportd runs as root:
//
//   - every folder above Root that this process owns and that others may
//     not traverse gets the execute bits for group and others (0700 becomes
//     0711): the owner can reach Root by its path, but cannot list or read
//     anything on the way, so the queue, the mailbox list and the secrets
//     beside Root stay private;
//   - Root and everything in it (folders and message files, never
//     following a symbolic link) is given to the owner.
//
// Without an owner it does nothing.
func (m *Maildir) HandOver() error {
	o := m.owner.Load()
	if o == nil {
		return nil
	}
	root, err := filepath.Abs(m.Root)
	if err != nil {
		return fmt.Errorf("mailbox folder %s: %w", m.Root, err)
	}
	if err := os.MkdirAll(root, 0o700); err != nil {
		return fmt.Errorf("creating the mailbox folder: %w", err)
	}
	if err := traversable(filepath.Dir(root), m.logf); err != nil {
		return err
	}
	n := 0
	err = filepath.WalkDir(root, func(p string, _ fs.DirEntry, err error) error {
		if err != nil {
			return err
		}
		fi, err := os.Lstat(p)
		if err != nil {
			return err
		}
		if st, ok := fi.Sys().(*syscall.Stat_t); ok && int(st.Uid) == o.UID && int(st.Gid) == o.GID {
			return nil
		}
		n++
		return os.Lchown(p, o.UID, o.GID)
	})
	if err != nil {
		return fmt.Errorf("giving the mailboxes under %s to uid %d gid %d (MaildirOwner): %w", root, o.UID, o.GID, err)
	}
	if n > 0 {
		m.logf("gave existing mailbox folders and messages to the MaildirOwner", "count", n, "uid", o.UID, "gid", o.GID, "root", root)
	}
	return nil
}

// traversable adds the execute bits for group and others to dir and every
// folder above it that this process owns and that lacks them.
func traversable(dir string, logf func(msg string, args ...any)) error {
	euid := os.Geteuid()
	for d := dir; ; d = filepath.Dir(d) {
		fi, err := os.Stat(d)
		if err != nil {
			return fmt.Errorf("making the path to the mailboxes traversable: %w", err)
		}
		st, ok := fi.Sys().(*syscall.Stat_t)
		perm := fi.Mode().Perm()
		if ok && int(st.Uid) == euid && perm&0o011 != 0o011 {
			if err := os.Chmod(d, perm|0o011); err != nil {
				return fmt.Errorf("making %s traversable for the MaildirOwner: %w", d, err)
			}
			logf("made a folder on the path to the mailboxes traversable (not readable) for the MaildirOwner",
				"folder", d, "mode", fmt.Sprintf("%04o", perm|0o011))
		}
		if filepath.Dir(d) == d {
			return nil
		}
	}
}

func (m *Maildir) logf(msg string, args ...any) {
	if m.Logger != nil {
		m.Logger.Info(msg, args...)
	}
}
