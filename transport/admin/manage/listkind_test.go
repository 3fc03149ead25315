package manage

import (
	"os"
	"strings"
	"testing"
)

// The kinds kept as lists check alike what their per-kind copies checked
// differently before: a rename onto another object's name is refused for
// every kind (mailboxes and accepted domains took it), a set that changes
// nothing is refused for every kind (a single-identity set of a mailbox,
// accepted domain or send connector took it), and a remove of several
// identities removes all or nothing.
func TestListKindsCheckAlike(t *testing.T) {
	m := newManager(t)
	if _, err := m.NewAcceptedDomain(Params{{Name: "DomainName", Value: "fabrikam.com"}}); err != nil {
		t.Fatal(err)
	}
	for _, name := range []string{"alice", "bob"} {
		if _, err := m.NewMailbox(Params{{Name: "Name", Value: name}, {Name: "PrimarySmtpAddress", Value: name + "@contoso.com"}}, nil); err != nil {
			t.Fatal(err)
		}
	}
	if _, err := m.NewSendConnector(Params{{Name: "Name", Value: "Out"}, {Name: "AddressSpaces", Value: "*"}}, nil); err != nil {
		t.Fatal(err)
	}
	before, _ := os.ReadFile(m.ConfigPath)
	for _, tt := range []struct {
		what string
		err  error
		want string
	}{
		{"mailbox renamed onto another", second(m.SetMailboxes("bob", Params{{Name: "Name", Value: "ALICE"}}, nil)), "must be unique"},
		{"accepted domain renamed onto another", second(m.SetAcceptedDomains("fabrikam.com", Params{{Name: "Name", Value: "contoso.com"}})), "must be unique"},
		{"mailbox renamed to nothing", second(m.SetMailboxes("bob", Params{{Name: "Name", Value: " "}}, nil)), "-Name is required"},
		{"empty mailbox set", second(m.SetMailboxes("bob", nil, nil)), "nothing to set"},
		{"empty accepted domain set", second(m.SetAcceptedDomains("fabrikam.com", nil)), "nothing to set"},
		{"empty send connector set", second(m.SetSendConnectors("Out", nil, nil)), "nothing to set"},
		{"new mailbox with a blank name", second(m.NewMailbox(Params{{Name: "Name", Value: " "}, {Name: "PrimarySmtpAddress", Value: "x@contoso.com"}}, nil)), "-Name is required"},
		{"remove of a known and an unknown mailbox", second(m.RemoveMailboxesEach([]string{"alice", "nobody"})), `no mailbox matches identity "nobody"`},
		{"remove of a known and an unknown domain", second(m.RemoveAcceptedDomainsEach([]string{"fabrikam.com", "nowhere"})), "no accepted domain matches"},
	} {
		if tt.err == nil || !strings.Contains(tt.err.Error(), tt.want) {
			t.Errorf("%s: err %v, want %q", tt.what, tt.err, tt.want)
		}
	}
	if after, _ := os.ReadFile(m.ConfigPath); string(after) != string(before) {
		t.Error("a refused change was saved")
	}
	c := load(t, m)
	if len(c.Mailboxes) != 2 || len(c.AcceptedDomains) != 2 {
		t.Errorf("mailboxes %d, domains %d; want 2 and 2", len(c.Mailboxes), len(c.AcceptedDomains))
	}
	if n, err := m.RemoveMailboxesEach([]string{"alice", "bob@contoso.com"}); n != 2 || err != nil {
		t.Errorf("remove both: %d, %v", n, err)
	}
}

func second[T any](_ T, err error) error { return err }
