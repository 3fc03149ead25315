package manage

import (
	"fmt"
	"strconv"
	"strings"

	"github.com/transportd/transportd/transport/admin/config"
)

// inertNewMailbox are New-Mailbox parameters that have no meaning here;
// each is accepted with a warning that says why.
var inertNewMailbox = map[string]string{
	"ResetPasswordOnNextLogon": "no client asks for a new password over SMTP, POP3 or IMAP",
	"Database":                 "mail is kept in one Maildir per mailbox under data/mailboxes",
	"OrganizationalUnit":       "there is no Active Directory",
}

// takeInertMailboxParams removes the New-Mailbox parameters that have no
// meaning here and warns, in one line, about those given.
func (m *Manager) takeInertMailboxParams(ps *Params) {
	var said []string
	for _, name := range []string{"ResetPasswordOnNextLogon", "Database", "OrganizationalUnit"} {
		if _, ok := ps.TakeExact(name); ok {
			said = append(said, "-"+name+" ("+inertNewMailbox[name]+")")
		}
	}
	if len(said) > 0 && m.Warn != nil {
		m.Warn("ignored: " + strings.Join(said, "; "))
	}
}

// localPartOf is the local part a new mailbox's address is built from:
// Alias, else the UserPrincipalName's, else the Name without spaces.
func localPartOf(mb *config.Mailbox) string {
	if mb.Alias != "" {
		return strings.ToLower(mb.Alias)
	}
	if l, _, ok := strings.Cut(mb.UserPrincipalName, "@"); ok && l != "" {
		return strings.ToLower(l)
	}
	return strings.ToLower(strings.ReplaceAll(mb.Name, " ", ""))
}

// normalizeAddresses reads Exchange's proxy address forms in
// EmailAddresses: "SMTP:a@b" makes a@b the primary address (the old one
// stays as a further address), "smtp:a@b" is a@b; the primary address is
// not repeated among the others. ForwardingSmtpAddress loses its smtp:.
func normalizeAddresses(mb *config.Mailbox) error {
	var others []string
	primary := ""
	for _, a := range mb.EmailAddresses {
		a = strings.TrimSpace(a)
		if typ, addr, ok := strings.Cut(a, ":"); ok {
			switch {
			case typ == "SMTP":
				primary = addr
				continue
			case strings.EqualFold(typ, "smtp"):
				a = addr
			default:
				return fmt.Errorf("mailbox %q: -EmailAddresses %q: only SMTP addresses are kept here (SMTP:primary or smtp:further)", mb.Name, a)
			}
		}
		others = append(others, a)
	}
	if primary != "" && !strings.EqualFold(primary, mb.PrimarySmtpAddress) {
		if mb.PrimarySmtpAddress != "" {
			others = append(others, mb.PrimarySmtpAddress)
		}
		mb.PrimarySmtpAddress = primary
	}
	var out []string
	seen := map[string]bool{strings.ToLower(mb.PrimarySmtpAddress): true}
	for _, a := range others {
		if k := strings.ToLower(a); !seen[k] {
			seen[k] = true
			out = append(out, a)
		}
	}
	mb.EmailAddresses = out
	if a := mb.ForwardingSmtpAddress; len(a) > 5 && strings.EqualFold(a[:5], "smtp:") {
		mb.ForwardingSmtpAddress = a[5:]
	}
	return nil
}

// ParseResultSize reads Exchange's -ResultSize: Unlimited (0) or a count.
func ParseResultSize(s string) (int, error) {
	if strings.EqualFold(strings.TrimSpace(s), "Unlimited") {
		return 0, nil
	}
	n, err := strconv.Atoi(strings.TrimSpace(s))
	if err != nil || n < 1 {
		return 0, fmt.Errorf("-ResultSize %q: give a count (1 or more) or Unlimited", s)
	}
	return n, nil
}
