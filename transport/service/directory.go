package service

import (
	"context"
	"errors"
	"fmt"
	"runtime"
	"strings"
	"sync/atomic"

	"github.com/transportd/transportd/policies/address"
	"github.com/transportd/transportd/policies/credentials"
	"github.com/transportd/transportd/transport/admin/config"
)

// directory answers mailbox questions from one configuration version.
type directory struct {
	byAddr map[string]*config.Mailbox
	byName map[string]*config.Mailbox
	// sendAs maps a user (lower-case primary address) to the mailboxes it
	// was granted Send As on.
	sendAs map[string][]*config.Mailbox
}

func newDirectory(c *config.Config) *directory {
	d := &directory{byAddr: map[string]*config.Mailbox{}, byName: map[string]*config.Mailbox{}, sendAs: map[string][]*config.Mailbox{}}
	for i := range c.Mailboxes {
		m := &c.Mailboxes[i]
		if _, err := address.ParseMailbox(m.PrimarySmtpAddress); err != nil {
			// A mailbox from an older mailboxes.yaml whose address cannot
			// name its folder: leave it out, so that its addresses are
			// refused at RCPT instead of being accepted and deferred.
			continue
		}
		d.byName[strings.ToLower(m.Name)] = m
		if upn := strings.ToLower(m.UserPrincipalName); upn != "" {
			if _, taken := d.byName[upn]; !taken {
				d.byName[upn] = m // a logon name (Authenticate); never an address
			}
		}
		d.byAddr[strings.ToLower(m.PrimarySmtpAddress)] = m
		for _, a := range m.EmailAddresses {
			d.byAddr[strings.ToLower(a)] = m
		}
	}
	for i := range c.Mailboxes {
		m := &c.Mailboxes[i]
		for _, u := range m.GrantSendAsTo {
			if t := c.FindMailboxUser(u); t != nil {
				k := strings.ToLower(t.PrimarySmtpAddress)
				d.sendAs[k] = append(d.sendAs[k], m)
			}
		}
	}
	return d
}

// liveDirectory is the Directory the SMTP server uses; the daemon swaps the
// mailbox list underneath on every reload. Password checks are argon2id
// with 64 MiB each, so at most a few run at once: a flood of AUTH attempts
// waits instead of exhausting memory. The SMTP server orders and bounds
// the checks before they get here (smtpd.NewAuthQueue, never more than
// this semaphore allows), so this is only a backstop.
type liveDirectory struct {
	cur atomic.Pointer[directory]
	sem chan struct{}
}

func newLiveDirectory() *liveDirectory {
	n := runtime.NumCPU()
	if n < 2 {
		n = 2
	}
	l := &liveDirectory{sem: make(chan struct{}, n)}
	l.cur.Store(&directory{byAddr: map[string]*config.Mailbox{}, byName: map[string]*config.Mailbox{}})
	return l
}

func (l *liveDirectory) set(c *config.Config) { l.cur.Store(newDirectory(c)) }

// MailboxExists reports whether address belongs to a mailbox.
func (l *liveDirectory) MailboxExists(address string) bool {
	_, ok := l.cur.Load().byAddr[strings.ToLower(address)]
	return ok
}

// errBadCredentials is the one answer for every kind of failed logon, so
// that the reply does not tell which user names exist.
var errBadCredentials = errors.New("wrong user name or password")

// Authenticate checks a logon by primary address, proxy address or mailbox name.
func (l *liveDirectory) Authenticate(ctx context.Context, user, password string) (string, error) {
	select {
	case l.sem <- struct{}{}:
		defer func() { <-l.sem }()
	case <-ctx.Done():
		return "", ctx.Err()
	}
	d := l.cur.Load()
	key := strings.ToLower(strings.TrimSpace(user))
	m, ok := d.byAddr[key]
	if !ok {
		m, ok = d.byName[key]
	}
	if !ok || m.PasswordHash == "" {
		credentials.VerifyDummy(password)
		return "", errBadCredentials
	}
	good, err := credentials.Verify(m.PasswordHash, password)
	if err != nil {
		return "", fmt.Errorf("mailbox %q: stored password hash: %w", m.Name, err)
	}
	if !good {
		return "", errBadCredentials
	}
	if !m.Enabled {
		return "", fmt.Errorf("mailbox %q is disabled: %w", m.Name, errBadCredentials)
	}
	return m.PrimarySmtpAddress, nil
}

// MaySendAs reports whether the mailbox user (its primary address) owns
// address or was granted Send As on the mailbox that owns it.
func (l *liveDirectory) MaySendAs(user, address string) bool {
	d := l.cur.Load()
	m, ok := d.byAddr[strings.ToLower(address)]
	if !ok {
		return false
	}
	if strings.EqualFold(m.PrimarySmtpAddress, user) {
		return true
	}
	for _, g := range d.sendAs[strings.ToLower(user)] {
		if g == m {
			return true
		}
	}
	return false
}

// resolveFolder maps a recipient to its mailbox folder: the lower-cased
// primary SMTP address (Dovecot's %u when users log in with it).
func (l *liveDirectory) resolveFolder(address string) (string, bool) {
	m, ok := l.cur.Load().byAddr[strings.ToLower(address)]
	if !ok {
		return "", false
	}
	return strings.ToLower(m.PrimarySmtpAddress), true
}
