package mailbox

import (
	"errors"
	"testing"
)

// TestValidFolder: the folder of a mailbox is one path component inside
// Root, whatever address a hand-edited or old mailboxes.yaml holds.
func TestValidFolder(t *testing.T) {
	for _, ok := range []string{"alice@contoso.com", "o'brien@contoso.com", "a..b@contoso.com"} {
		if err := validFolder(ok); err != nil {
			t.Errorf("validFolder(%q) = %v", ok, err)
		}
	}
	for _, bad := range []string{"", ".", "..", "../alice", "a/b@contoso.com", "a/../../etc", ".hidden@contoso.com", "a\x00b", `a\b`, "/abs"} {
		if err := validFolder(bad); !errors.Is(err, errBadFolder) {
			t.Errorf("validFolder(%q) = %v, want errBadFolder", bad, err)
		}
	}
}
