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
