package sendconnector

import (
	"fmt"
	"log/slog"
	"strings"
)

// Credential is a send connector's AuthenticationCredential: the user name
// and password given to a smart host with AUTH (Exchange takes a
// PSCredential). The config file stores the UserName; the password is
// kept apart in the data folder's secrets.yaml (mode 0600) by the config
// package, so the config file can be shown or shared.
//
// Credential deliberately has no MarshalText: its printed forms (String,
// Display, GoString, LogValue) never contain the password, so `connector
// get`, %v, %#v and log lines cannot leak it.
type Credential struct {
	// UserName is the account on the smart host.
	UserName string `yaml:"UserName"`
	// Password is the account's password, in clear: the smart host needs it.
	Password string `yaml:"Password,omitempty"`
}

// IsZero reports whether no credential is set.
func (c Credential) IsZero() bool { return c.UserName == "" && c.Password == "" }

// Display prints the credential for people: "user (password set)", never
// the password itself. An empty credential prints as "".
func (c Credential) Display() string {
	switch {
	case c.IsZero():
		return ""
	case c.Password == "":
		return c.UserName + " (no password)"
	}
	return c.UserName + " (password set)"
}

// String is Display, so fmt's %v and %s never print the password.
func (c Credential) String() string { return c.Display() }

// GoString keeps %#v from printing the password.
func (c Credential) GoString() string {
	return fmt.Sprintf("sendconnector.Credential{UserName:%q, Password:<redacted>}", c.UserName)
}

// LogValue keeps slog from printing the password.
func (c Credential) LogValue() slog.Value { return slog.StringValue(c.Display()) }

// UnmarshalText reads "user:password" as the shell passes it (the password
// is everything after the first colon); "" and "$null" clear the credential.
func (c *Credential) UnmarshalText(b []byte) error {
	s := string(b)
	if strings.TrimSpace(s) == "" || strings.EqualFold(strings.TrimSpace(s), "$null") {
		*c = Credential{}
		return nil
	}
	user, pass, ok := strings.Cut(s, ":")
	if !ok || strings.TrimSpace(user) == "" {
		// Do not echo the text: it may be a password typed in the wrong place.
		return fmt.Errorf("a credential is written user:password")
	}
	*c = Credential{UserName: strings.TrimSpace(user), Password: pass}
	return nil
}

var _ slog.LogValuer = Credential{}
