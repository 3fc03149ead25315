package config

import (
	"errors"
	"fmt"
	"strings"
)

// Sections of the config file (viper's lower-case keys) and of the mailbox
// list, as recorded in Config.stated.
const (
	secServer            = "server"
	secTransport         = "transport"
	secReceiveConnectors = "receiveconnectors"
	secSendConnectors    = "sendconnectors"
	secAcceptedDomains   = "accepteddomains"
	secClientSettings    = "clientsettings"
	secLogging           = "logging"
	secMailboxes         = "mailboxes"
)

// topLevel lists the config file's sections with their spelling.
var topLevel = []struct{ key, name string }{
	{secServer, "Server"},
	{secTransport, "Transport"},
	{secReceiveConnectors, "ReceiveConnectors"},
	{secSendConnectors, "SendConnectors"},
	{secAcceptedDomains, "AcceptedDomains"},
	{secClientSettings, "ClientSettings"},
	{secLogging, "Logging"},
}

// Stated reports whether the file this configuration was read from has the
// section (a top-level key such as "SendConnectors", or "Mailboxes" for the
// mailbox list) with a value, even an empty one such as `[]`. A section
// that is missing or null (`SendConnectors:` with nothing after it) is not
// stated. A configuration not read from a file states every section.
func (c *Config) Stated(section string) bool {
	if c.stated == nil {
		return true
	}
	return c.stated[strings.ToLower(section)]
}

// ErrLooksTruncated is wrapped by CheckReplacement's errors.
var ErrLooksTruncated = errors.New("the file looks empty or cut off")

// CheckReplacement reports why next, just read from the files, must not
// replace cur, the configuration in force. It guards against files that are
// empty, cut off, or caught half-written by an editor that truncates before
// it writes: such a file may still parse, and applying it would close every
// listener and fail every queued message.
//
// The rule: a list that has objects in cur (ReceiveConnectors,
// AcceptedDomains, SendConnectors, the mailbox list) may become empty only
// when next states the empty list explicitly, as `SendConnectors: []`. The
// management commands write exactly that when they remove the last object
// (and leave a section the file never had out), so `transportd sendconnector
// remove` of the last send connector applies, while a file that lost the
// section, or has it null, is refused. Likewise the Server, Transport and
// Logging sections cur's file had may not vanish. Everything else in next is
// judged by Validate, as for any file.
func CheckReplacement(cur, next *Config) error {
	var errs []error
	lists := []struct {
		key, name, what string
		had, has        int
	}{
		{secReceiveConnectors, "ReceiveConnectors", "receive connectors", len(cur.ReceiveConnectors), len(next.ReceiveConnectors)},
		{secAcceptedDomains, "AcceptedDomains", "accepted domains", len(cur.AcceptedDomains), len(next.AcceptedDomains)},
		{secSendConnectors, "SendConnectors", "send connectors", len(cur.SendConnectors), len(next.SendConnectors)},
		{secMailboxes, "Mailboxes", "mailboxes", len(cur.Mailboxes), len(next.Mailboxes)},
	}
	for _, l := range lists {
		if l.had > 0 && l.has == 0 && !next.Stated(l.key) {
			file := next.path
			if l.key == secMailboxes {
				file = next.MailboxFile()
			}
			errs = append(errs, fmt.Errorf("%w: %s has no %s section, which would remove all %d %s in force; to remove them all on purpose write \"%s: []\"",
				ErrLooksTruncated, file, l.name, l.had, l.what, l.name))
		}
	}
	for _, s := range []struct{ key, name string }{{secServer, "Server"}, {secTransport, "Transport"}, {secLogging, "Logging"}} {
		if cur.stated != nil && cur.Stated(s.key) && !next.Stated(s.key) {
			errs = append(errs, fmt.Errorf("%w: %s has lost its %s section; restore it (\"%s: {}\" means all defaults)",
				ErrLooksTruncated, next.path, s.name, s.name))
		}
	}
	return errors.Join(errs...)
}
