package web

import (
	"errors"

	"github.com/transportd/transportd/transport/admin/shell"
)

// Secret adds a password parameter as "-name -": the shell reads the value
// as it reads a password from standard input, so the secret is never part
// of the line shown in the command log or written to the admin audit log,
// and the line still runs as shown in `transportd shell` (which asks for
// the password). The cmdlet must take "-name -" (New-Mailbox, Set-Mailbox,
// Set-SendConnector, Import-ExchangeCertificate -Password).
func (c *Cmd) Secret(name, value string) *Cmd {
	c.args = append(c.args, arg{name: name, kind: argRaw, value: "-"})
	c.secrets = append(c.secrets, value)
	return c
}

// Raw adds a parameter whose value is written as is (@{Add='x'}); the
// caller quotes what it puts in.
func (c *Cmd) Raw(name, value string) *Cmd {
	c.args = append(c.args, arg{name: name, kind: argRaw, value: value})
	return c
}

// feedSecrets lets sh read the command's secrets, in order, as standard input.
func (c *Cmd) feedSecrets(sh *shell.Shell) {
	if len(c.secrets) == 0 {
		return
	}
	next := 0
	sh.ReadPassword = func() (string, error) {
		if next >= len(c.secrets) {
			return "", errors.New("no more passwords were given in the form")
		}
		next++
		return c.secrets[next-1], nil
	}
}
