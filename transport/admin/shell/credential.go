package shell

import "github.com/transportd/transportd/transport/admin/manage"

// Credential is a PSCredential: what Get-Credential returns and
// -AuthenticationCredential takes. Passed to a parameter it becomes
// manage.EncodeCredential's text, which carries the password to the
// operation without it ever being shown: printed, it is the type name, as
// in PowerShell.
type Credential struct {
	User     string
	Password string
}

// credentialTypeName is how PowerShell prints a PSCredential.
const credentialTypeName = "System.Management.Automation.PSCredential"

// paramText is the text a parameter receives for c.
func (c Credential) paramText() string { return manage.EncodeCredential(c.User, c.Password) }
