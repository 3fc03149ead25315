package connectivity

import (
	"fmt"
	"os"
	"path/filepath"
	"testing"
	"time"

	"github.com/transportd/transportd/transport/admin/connectivity/dovecottest"
)

const testPassword = "Pa55word!"

// testDovecot is a Dovecot serving alice@contoso.com's Maildir.
type testDovecot struct {
	*dovecottest.Server
	maildir string
}

func startDovecot(t *testing.T) *testDovecot {
	t.Helper()
	root := filepath.Join(t.TempDir(), "mail")
	d := &testDovecot{maildir: filepath.Join(root, "alice@contoso.com", "Maildir")}
	for _, sub := range []string{"new", "cur", "tmp"} {
		if err := os.MkdirAll(filepath.Join(d.maildir, sub), 0o700); err != nil {
			t.Fatal(err)
		}
	}
	dovecottest.Traversable(t, filepath.Dir(root))
	d.Server = dovecottest.Start(t, root, map[string]string{"alice@contoso.com": testPassword})
	d.Chown(t, root)
	return d
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
	d.Chown(t, tmp)
	return os.Rename(tmp, filepath.Join(d.maildir, "new", name))
}
