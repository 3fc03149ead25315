package mailbox

import (
	"context"
	"os"
	"path/filepath"
	"syscall"
	"testing"
)

// As root, delivery hands folders and files to the configured owner, so a
// mailbox server running as that user can serve them.
func TestMaildirOwner(t *testing.T) {
	if os.Geteuid() != 0 {
		t.Skip("changing owners needs root")
	}
	root := t.TempDir()
	m := &Maildir{Root: root, Resolve: func(a string) (string, bool) { return a, true }}
	m.SetOwner(&Owner{UID: 65534, GID: 65534})
	res := m.Deliver(context.Background(), newMessage("a@example.net", "Subject: x\r\n\r\nhi\r\n"), []string{"alice@contoso.com"})
	if res[0].Err != nil {
		t.Fatal(res[0].Err)
	}
	check := func(p string) {
		st, err := os.Stat(p)
		if err != nil {
			t.Fatal(err)
		}
		sys := st.Sys().(*syscall.Stat_t)
		if sys.Uid != 65534 || sys.Gid != 65534 {
			t.Errorf("%s owned by %d:%d, want 65534:65534", p, sys.Uid, sys.Gid)
		}
	}
	box := m.Path("alice@contoso.com")
	for _, d := range []string{root, filepath.Dir(box), box, filepath.Join(box, "new"), filepath.Join(box, "tmp"), filepath.Join(box, "cur")} {
		check(d)
	}
	entries, _ := os.ReadDir(filepath.Join(box, "new"))
	if len(entries) != 1 {
		t.Fatalf("new/ holds %d files", len(entries))
	}
	check(filepath.Join(box, "new", entries[0].Name()))
}

// recipeLayout lays out what a first start creates: the config folder
// (0755), data/ beside it (0700, root's), a private file in data/, and the
// mailbox root under it, and returns the Maildir and the data folder.
func recipeLayout(t *testing.T) (*Maildir, string) {
	t.Helper()
	etc := filepath.Join(t.TempDir(), "transportd")
	data := filepath.Join(etc, "data")
	if err := os.MkdirAll(etc, 0o755); err != nil {
		t.Fatal(err)
	}
	if err := os.Mkdir(data, 0o700); err != nil {
		t.Fatal(err)
	}
	if err := os.WriteFile(filepath.Join(data, "mailboxes.yaml"), []byte("secret hashes\n"), 0o600); err != nil {
		t.Fatal(err)
	}
	m := newMaildir(t)
	m.Root = filepath.Join(data, "mailboxes")
	return m, data
}

// Setting MaildirOwner hands mail delivered before it to the owner and
// makes the path to the Maildirs traversable (0711), and nothing more: the
// other files in data/ stay private.
func TestUseOwnerHandsOverExistingMail(t *testing.T) {
	if os.Geteuid() != 0 {
		t.Skip("changing owners needs root")
	}
	m, data := recipeLayout(t)
	if res := m.Deliver(context.Background(), newMessage("a@example.net", "Subject: before\r\n\r\nhi\r\n"), []string{"alice@contoso.com"}); res[0].Err != nil {
		t.Fatal(res[0].Err)
	}
	if err := m.UseOwner(&Owner{UID: 65534, GID: 65534}); err != nil {
		t.Fatal(err)
	}
	err := filepath.WalkDir(m.Root, func(p string, _ os.DirEntry, err error) error {
		if err != nil {
			return err
		}
		st, err := os.Lstat(p)
		if err != nil {
			return err
		}
		if sys := st.Sys().(*syscall.Stat_t); sys.Uid != 65534 || sys.Gid != 65534 {
			t.Errorf("%s owned by %d:%d after UseOwner, want 65534:65534", p, sys.Uid, sys.Gid)
		}
		if st.Mode().Perm()&0o077 != 0 {
			t.Errorf("%s has mode %v: open to others", p, st.Mode())
		}
		return nil
	})
	if err != nil {
		t.Fatal(err)
	}
	for d := data; d != filepath.Dir(d); d = filepath.Dir(d) {
		st, err := os.Stat(d)
		if err != nil {
			t.Fatal(err)
		}
		if st.Mode().Perm()&0o001 == 0 {
			t.Errorf("%s has mode %v: others cannot traverse it", d, st.Mode())
		}
	}
	if st, _ := os.Stat(data); st.Mode().Perm() != 0o711 {
		t.Errorf("data folder mode %v, want 0711 (traversable, not readable)", st.Mode().Perm())
	}
	if st, _ := os.Stat(filepath.Join(data, "mailboxes.yaml")); st.Mode().Perm() != 0o600 {
		t.Errorf("mailboxes.yaml mode %v, want 0600", st.Mode().Perm())
	}
	// Setting the same owner again walks nothing (reloads are cheap).
	if err := m.UseOwner(&Owner{UID: 65534, GID: 65534}); err != nil {
		t.Fatal(err)
	}
}
