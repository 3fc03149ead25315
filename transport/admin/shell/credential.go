package shell

import (
	"errors"
	"fmt"
	"strings"

	"github.com/transportd/transportd/transport/admin/manage"
)

// This file holds the shell's secrets and the cmdlets that make them, as
// Exchange scripts use them: Get-Credential, Read-Host -AsSecureString,
// ConvertTo-SecureString and New-Object PSCredential. A secret passes to a
// parameter that takes a password (New-Mailbox -Password,
// Set-SendConnector -AuthenticationCredential) but never prints: it shows
// as System.Security.SecureString, as in PowerShell.

// secureStringName is how PowerShell shows a SecureString.
const secureStringName = "System.Security.SecureString"

// SecureString is a password the shell never prints.
type SecureString struct{ text string }

// NewSecureString returns a SecureString holding s.
func NewSecureString(s string) *SecureString { return &SecureString{text: s} }

// String shows System.Security.SecureString, never the secret.
func (s *SecureString) String() string { return secureStringName }

// Credential is a PSCredential: a user name and its password.
type Credential struct {
	User     string
	Password string
}

// String shows the user name only.
func (c *Credential) String() string { return c.User }

// credentialRecord is how Format-List and the default output show a credential.
func credentialRecord(c *Credential) manage.Record {
	return manage.Record{{Name: "UserName", Value: c.User}, {Name: "Password", Value: secureStringName}}
}

// secret reads a value as a password: a SecureString, or text.
func secret(v any) (string, bool) {
	switch x := v.(type) {
	case *SecureString:
		return x.text, true
	case string:
		return x, true
	case Number:
		return x.Text, true
	}
	return "", false
}

// readLine asks the admin for one line through sh.ReadLine.
func (sh *Shell) readLine(cmdlet, prompt string, hidden bool) (string, error) {
	if sh.ReadLine == nil {
		return "", fmt.Errorf("there is no terminal or standard input to read from: give the value in the script (ConvertTo-SecureString -String ... -AsPlainText -Force)")
	}
	s, err := sh.ReadLine(prompt, hidden)
	if err != nil {
		return "", fmt.Errorf("reading %s: %w", strings.TrimSuffix(strings.TrimSpace(prompt), ":"), err)
	}
	return s, nil
}

// HashValue is the value of @{Key = value; ...}: keys in the order
// written, looked up case-insensitively.
type HashValue struct {
	Keys []string
	Vals []any
}

// Get returns the value of key.
func (h *HashValue) Get(key string) (any, bool) {
	for i, k := range h.Keys {
		if strings.EqualFold(k, key) {
			return h.Vals[i], true
		}
	}
	return nil, false
}

// String is PowerShell's text for a hashtable.
func (h *HashValue) String() string { return "System.Collections.Hashtable" }

// editParam turns @{Add=...; Remove=...} for a multi-valued parameter into
// the values to add and remove.
func editParam(name string, h *HashValue) (manage.Param, error) {
	e := &manage.Edit{}
	p := manage.Param{Name: name, Edit: e}
	for i, k := range h.Keys {
		var vals []string
		for _, v := range flatten(h.Vals[i]) {
			if s := toText(v); s != "" {
				vals = append(vals, s)
			}
		}
		switch strings.ToLower(k) {
		case "add":
			e.Add = append(e.Add, vals...)
		case "remove":
			e.Remove = append(e.Remove, vals...)
		default:
			return p, fmt.Errorf("-%s @{%s=...}: the keys are Add and Remove, e.g. @{Add=\"x\"; Remove=\"y\"}", name, k)
		}
	}
	return p, nil
}

func langCmdlets() []*cmdlet {
	return []*cmdlet{
		{name: "Get-Credential", synopsis: "Asks for a user name and a password (without echo on a terminal; lines of standard input otherwise) and returns a PSCredential.",
			params: params(val("Credential", "the user name to ask the password for"), val("UserName", "the user name to ask the password for"),
				val("Message", "text shown before the prompts"), val("Title", "accepted for scripts")),
			positional: []string{"Credential"},
			run: func(sh *Shell, c *call) ([]any, error) {
				if m, ok := c.text("Message"); ok && m != "" {
					sh.say("%s", m)
				}
				user, ok := c.text("UserName")
				if !ok {
					user, ok = c.text("Credential")
				}
				if cr, isCred := c.params["Credential"].(*Credential); isCred {
					user, ok = cr.User, true
				}
				if !ok || user == "" {
					var err error
					if user, err = sh.readLine(c.cmd.name, "User: ", false); err != nil {
						return nil, err
					}
					if user = strings.TrimSpace(user); user == "" {
						return nil, errors.New("no user name given")
					}
				}
				pw, err := sh.readLine(c.cmd.name, "Password for user "+user+": ", true)
				if err != nil {
					return nil, err
				}
				return []any{&Credential{User: user, Password: pw}}, nil
			}},
		{name: "Read-Host", synopsis: "Reads a line the admin types (standard input when it is not a terminal); -AsSecureString hides it.",
			params:     params(val("Prompt", "the text to show before ': '"), sw("AsSecureString", "read without echo and return a SecureString"), sw("MaskInput", "as -AsSecureString, but returns the text")),
			positional: []string{"Prompt"},
			run: func(sh *Shell, c *call) ([]any, error) {
				prompt := ""
				if p, ok := c.text("Prompt"); ok && p != "" {
					prompt = p + ": "
				}
				hidden := truthy(c.params["AsSecureString"]) || truthy(c.params["MaskInput"])
				s, err := sh.readLine(c.cmd.name, prompt, hidden)
				if err != nil {
					return nil, err
				}
				if truthy(c.params["AsSecureString"]) {
					return []any{&SecureString{text: s}}, nil
				}
				return []any{s}, nil
			}},
		{name: "ConvertTo-SecureString", synopsis: "Makes a SecureString of a text (-AsPlainText -Force), for -Password and PSCredential.",
			params: params(val("String", "the text, e.g. the password"), sw("AsPlainText", "the text is plain, not encrypted (required, as in PowerShell)"),
				sw("Force", "confirms -AsPlainText (required, as in PowerShell)"), val("Key", "not supported: give -AsPlainText -Force"),
				val("SecureKey", "not supported: give -AsPlainText -Force")),
			positional: []string{"String"},
			run: func(sh *Shell, c *call) ([]any, error) {
				v, ok := c.params["String"]
				if !ok && len(c.input) > 0 {
					v, ok = c.input[0], true
				}
				if !ok {
					return nil, errors.New("-String is required: ConvertTo-SecureString -String \"P@ssw0rd\" -AsPlainText -Force")
				}
				if c.has("Key") || c.has("SecureKey") {
					return nil, errors.New("encrypted standard strings (-Key, -SecureKey) are Windows DPAPI data: give the password with -AsPlainText -Force")
				}
				s, ok := secret(v)
				if !ok {
					return nil, fmt.Errorf("-String takes text, not %s", display(v))
				}
				if _, already := v.(*SecureString); !already && (!truthy(c.params["AsPlainText"]) || !truthy(c.params["Force"])) {
					return nil, errors.New("plain text needs -AsPlainText -Force (PowerShell's rule): ConvertTo-SecureString -String \"...\" -AsPlainText -Force")
				}
				return []any{&SecureString{text: s}}, nil
			}},
		{name: "New-Object", synopsis: "Makes a System.Management.Automation.PSCredential from a user name and a SecureString.",
			params: params(val("TypeName", "System.Management.Automation.PSCredential"),
				val("ArgumentList", "\"user\", $securePassword")),
			positional: []string{"TypeName", "ArgumentList"},
			run: func(sh *Shell, c *call) ([]any, error) {
				tn, _ := c.text("TypeName")
				switch strings.ToLower(tn) {
				case "system.management.automation.pscredential", "management.automation.pscredential", "pscredential":
				default:
					return nil, fmt.Errorf("-TypeName %q: only System.Management.Automation.PSCredential can be made here", tn)
				}
				args := flatten(c.params["ArgumentList"])
				if len(args) != 2 {
					return nil, errors.New("a PSCredential takes two arguments: (\"user\", $securePassword)")
				}
				pw, ok := args[1].(*SecureString)
				if !ok {
					return nil, errors.New("the password of a PSCredential must be a SecureString: $pw = ConvertTo-SecureString -String \"...\" -AsPlainText -Force")
				}
				return []any{&Credential{User: toString(args[0]), Password: pw.text}}, nil
			}},
	}
}
