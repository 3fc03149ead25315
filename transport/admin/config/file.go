package config

import (
	"bytes"
	"encoding"
	"errors"
	"fmt"
	"io"
	"io/fs"
	"os"
	"path/filepath"
	"reflect"
	"slices"
	"strconv"
	"strings"
	"syscall"

	"github.com/go-viper/mapstructure/v2"
	"github.com/spf13/viper"
	yaml "go.yaml.in/yaml/v3"

	"github.com/transportd/transportd/connector"
	"github.com/transportd/transportd/transport/durable"
	"github.com/transportd/transportd/transport/mail/sendconnector"
)

const fileHeader = `# transportd configuration. Parameter names are Exchange's (Set-ReceiveConnector,
# Set-AcceptedDomain). Edit by hand or with "transportd connector set ..."; the
# running daemon applies changes within seconds, without a restart.
# Send connector passwords are kept in data/secrets.yaml (mode 0600), not here.
# Sizes: 36MB, 256KB. Time spans: hh:mm:ss. Counts: a number or Unlimited.
`

// Load reads the config file at path. When it does not exist it is created
// with Defaults for this host (and the data folder beside it). The mailbox
// list is read from the data folder.
func Load(path string) (*Config, error) {
	abs, err := filepath.Abs(path)
	if err != nil {
		return nil, fmt.Errorf("config path %q: %w", path, err)
	}
	if _, err := os.Stat(abs); errors.Is(err, fs.ErrNotExist) {
		c := Defaults(connector.HostFQDN())
		c.path = abs
		if err := c.Save(); err != nil {
			return nil, fmt.Errorf("creating default config: %w", err)
		}
	}
	return read(abs)
}

// LoadForEdit reads the config file at path for a management command: as
// Load, but when the file is missing and a daemon has applied a
// configuration from it (AppliedFile exists), it is an error naming that
// copy, not the defaults: the running daemon refuses a deleted file, and
// writing the defaults in its place would remove every send connector.
func LoadForEdit(path string) (*Config, error) {
	abs, err := filepath.Abs(path)
	if err != nil {
		return nil, fmt.Errorf("config path %q: %w", path, err)
	}
	if _, err := os.Stat(abs); errors.Is(err, fs.ErrNotExist) {
		if hint := RestoreHint(abs); hint != "" {
			return nil, fmt.Errorf("%w; transportd keeps the configuration in force until it is restored: %s", err, hint)
		}
	}
	c, err := Load(abs)
	if hint := RestoreHint(abs); errors.Is(err, ErrLooksTruncated) && hint != "" {
		return nil, fmt.Errorf("%w; %s", err, hint)
	}
	return c, err
}

// Read reads the config file at path as Load does, but never creates it: a
// missing file is an error. The running daemon reloads with Read, so that a
// file deleted by mistake is not replaced by the defaults.
func Read(path string) (*Config, error) {
	abs, err := filepath.Abs(path)
	if err != nil {
		return nil, fmt.Errorf("config path %q: %w", path, err)
	}
	if _, err := os.Stat(abs); err != nil {
		return nil, fmt.Errorf("%w; restore it (the configuration in force stays until then)", err)
	}
	return read(abs)
}

func read(abs string) (*Config, error) {
	data, err := os.ReadFile(abs)
	if err != nil {
		return nil, fmt.Errorf("reading %s: %w", abs, err)
	}
	c, err := parse(abs, data)
	if err != nil {
		return nil, err
	}
	if err := c.Validate(); err != nil {
		return nil, fmt.Errorf("%s: %w", abs, err)
	}
	return c, nil
}

// parse reads the configuration from data, the contents of the config file
// at abs (the mailbox list and the secrets come from abs's data folder),
// without validating it.
func parse(abs string, data []byte) (*Config, error) {
	v := viper.New()
	v.SetConfigType("yaml")
	if err := v.ReadConfig(bytes.NewReader(data)); err != nil {
		return nil, fmt.Errorf("reading %s: %w", abs, err)
	}
	c := &Config{path: abs, stated: map[string]bool{}, raw: data}
	for _, sec := range topLevel {
		c.stated[sec.key] = v.IsSet(sec.key)
	}
	if len(v.AllSettings()) == 0 && !c.stated[secServer] && !c.stated[secTransport] && !c.stated[secLogging] {
		// Never "no connectors, no domains": that would close every
		// listener and bounce every queued message.
		return nil, fmt.Errorf("%s: %w: it has no settings at all; restore it, or delete it to have the defaults written at the next start", abs, ErrLooksTruncated)
	}
	if err := decode(v.Get("server"), &c.Server, "Server"); err != nil {
		return nil, fmt.Errorf("%s: %w", abs, err)
	}
	if c.Server.Fqdn == "" {
		c.Server.Fqdn = connector.HostFQDN()
	}
	if c.Server.Name == "" {
		c.Server.Name = connector.ShortHostName(c.Server.Fqdn)
	}
	for key := range v.AllSettings() {
		switch key {
		case "server", "transport", "receiveconnectors", "sendconnectors", "accepteddomains", "clientsettings", "logging":
		case "dkimsigningconfigs": // issue 13
		case "connectionfilter": // issue 13
		case "cluster": // issue 14
		default:
			return nil, fmt.Errorf("%s: unknown top-level key %q (expected Server, Transport, ReceiveConnectors, SendConnectors, AcceptedDomains, ClientSettings, Logging, DkimSigningConfigs, ConnectionFilter, Cluster)", abs, key)
		}
	}
	rawConns, err := list(v.Get("receiveconnectors"), "ReceiveConnectors")
	if err != nil {
		return nil, fmt.Errorf("%s: %w", abs, err)
	}
	for i, raw := range rawConns {
		// Start from Exchange's defaults so a hand-written connector may
		// give only what differs. A connector without PermissionGroups
		// accepts nothing (as a Custom connector in Exchange).
		rc := connector.New("", connector.UsageCustom, c.Server.Fqdn)
		if err := decode(raw, &rc, fmt.Sprintf("ReceiveConnectors[%d]", i)); err != nil {
			return nil, fmt.Errorf("%s: %w", abs, err)
		}
		if rc.Fqdn == "" {
			rc.Fqdn = c.Server.Fqdn // a connector without its own Fqdn follows the server's
		}
		rc.Normalize()
		c.ReceiveConnectors = append(c.ReceiveConnectors, rc)
	}
	c.Transport = DefaultTransportConfig()
	if err := decode(v.Get("transport"), &c.Transport, "Transport"); err != nil {
		return nil, fmt.Errorf("%s: %w", abs, err)
	}
	c.ClientSettings = DefaultClientSettings()
	if err := decode(v.Get("clientsettings"), &c.ClientSettings, "ClientSettings"); err != nil {
		return nil, fmt.Errorf("%s: %w", abs, err)
	}
	c.Logging = DefaultLoggingConfig()
	if err := decode(v.Get("logging"), &c.Logging, "Logging"); err != nil {
		return nil, fmt.Errorf("%s: %w", abs, err)
	}
	rawSend, err := list(v.Get("sendconnectors"), "SendConnectors")
	if err != nil {
		return nil, fmt.Errorf("%s: %w", abs, err)
	}
	for i, raw := range rawSend {
		sc := sendconnector.New("")
		if err := decode(raw, &sc, fmt.Sprintf("SendConnectors[%d]", i)); err != nil {
			return nil, fmt.Errorf("%s: %w", abs, err)
		}
		c.SendConnectors = append(c.SendConnectors, sc)
	}
	rawDomains, err := list(v.Get("accepteddomains"), "AcceptedDomains")
	if err != nil {
		return nil, fmt.Errorf("%s: %w", abs, err)
	}
	for i, raw := range rawDomains {
		var d AcceptedDomain
		if err := decode(raw, &d, fmt.Sprintf("AcceptedDomains[%d]", i)); err != nil {
			return nil, fmt.Errorf("%s: %w", abs, err)
		}
		if d.Name == "" {
			d.Name = d.DomainName
		}
		c.AcceptedDomains = append(c.AcceptedDomains, d)
	}
	if err := c.parseDkim(v.Get("dkimsigningconfigs")); err != nil {
		return nil, fmt.Errorf("%s: %w", abs, err)
	}
	if err := c.parseConnectionFilter(v.Get("connectionfilter")); err != nil {
		return nil, fmt.Errorf("%s: %w", abs, err)
	}
	if err := decode(v.Get("cluster"), &c.Cluster, "Cluster"); err != nil { // issue 14
		return nil, fmt.Errorf("%s: %w", abs, err)
	}
	if err := c.readMailboxes(); err != nil {
		return nil, err
	}
	if err := c.readSecrets(); err != nil {
		return nil, err
	}
	return c, nil
}

// SecretsFile returns the path of the file that keeps send connector
// passwords out of the config file.
func (c *Config) SecretsFile() string { return filepath.Join(c.DataDir(), "secrets.yaml") }

type secretsDoc struct {
	// SendConnectorPasswords maps a send connector's name to the password
	// of its AuthenticationCredential.
	SendConnectorPasswords map[string]string `yaml:"SendConnectorPasswords"`

	// SendConnectorOAuthSecrets maps a send connector's name to its
	// OAuthClientSecret.
	SendConnectorOAuthSecrets map[string]string `yaml:"SendConnectorOAuthSecrets,omitempty"`
}

// readSecrets fills in send connector passwords from the secrets file; a
// password written by hand in the config file wins (and moves to the
// secrets file at the next save).
func (c *Config) readSecrets() error {
	data, err := os.ReadFile(c.SecretsFile())
	if errors.Is(err, fs.ErrNotExist) {
		return nil
	}
	if err != nil {
		return fmt.Errorf("reading secrets: %w", err)
	}
	var doc secretsDoc
	dec := yaml.NewDecoder(bytes.NewReader(data))
	dec.KnownFields(true)
	if err := dec.Decode(&doc); err != nil && !errors.Is(err, io.EOF) {
		return fmt.Errorf("%s: %w", c.SecretsFile(), err)
	}
	for i := range c.SendConnectors {
		sc := &c.SendConnectors[i]
		if pw, ok := doc.SendConnectorPasswords[sc.Name]; ok && sc.AuthenticationCredential.Password == "" {
			sc.AuthenticationCredential.Password = pw
		}
		if sec, ok := doc.SendConnectorOAuthSecrets[sc.Name]; ok && sc.OAuthClientSecret == "" {
			sc.OAuthClientSecret = sendconnector.Secret(sec)
		}
	}
	return nil
}

func (c *Config) readMailboxes() error {
	data, err := os.ReadFile(c.MailboxFile())
	if errors.Is(err, fs.ErrNotExist) {
		return nil
	}
	if err != nil {
		return fmt.Errorf("reading mailboxes: %w", err)
	}
	var doc struct {
		Mailboxes *[]Mailbox `yaml:"Mailboxes"` // nil: missing or null, not stated
	}
	dec := yaml.NewDecoder(bytes.NewReader(data))
	dec.KnownFields(true)
	if err := dec.Decode(&doc); err != nil && !errors.Is(err, io.EOF) {
		return fmt.Errorf("%s: %w", c.MailboxFile(), err)
	}
	if doc.Mailboxes != nil {
		c.Mailboxes = *doc.Mailboxes
		if c.stated != nil {
			c.stated[secMailboxes] = true
		}
	}
	return nil
}

func list(v any, key string) ([]any, error) {
	if v == nil {
		return nil, nil
	}
	l, ok := v.([]any)
	if !ok {
		return nil, fmt.Errorf("%s must be a list, got %T", key, v)
	}
	return l, nil
}

// decode fills out from raw (maps from viper) strictly: unknown keys and
// values that do not parse are errors naming the key and the value.
func decode(raw any, out any, where string) error {
	if raw == nil {
		return nil
	}
	dec, err := mapstructure.NewDecoder(&mapstructure.DecoderConfig{
		Result:      out,
		ErrorUnused: true,
		DecodeHook:  textHook,
		MatchName:   func(mapKey, fieldName string) bool { return strings.EqualFold(mapKey, fieldName) },
	})
	if err != nil {
		return err
	}
	if err := dec.Decode(raw); err != nil {
		return fmt.Errorf("%s: %s", where, cleanDecodeError(err))
	}
	return nil
}

func cleanDecodeError(err error) string {
	s := err.Error()
	s = strings.ReplaceAll(s, "decoding failed due to the following error(s):\n\n", "")
	s = strings.ReplaceAll(s, "has invalid keys", "has unknown keys")
	return s
}

var textUnmarshaler = reflect.TypeOf((*encoding.TextUnmarshaler)(nil)).Elem()

// textHook turns scalars into values of types that implement
// encoding.TextUnmarshaler, and a comma-separated string into a list.
func textHook(from, to reflect.Type, data any) (any, error) {
	if reflect.PointerTo(to).Implements(textUnmarshaler) {
		var text string
		switch d := data.(type) {
		case string:
			text = d
		case int, int64, uint64, float64, bool, int32, uint32:
			text = fmt.Sprint(d)
		case []any:
			if to.Kind() != reflect.Slice {
				return data, nil
			}
			parts := make([]string, 0, len(d))
			for _, p := range d {
				parts = append(parts, fmt.Sprint(p))
			}
			text = strings.Join(parts, ", ")
		default:
			return data, nil
		}
		v := reflect.New(to)
		if err := v.Interface().(encoding.TextUnmarshaler).UnmarshalText([]byte(text)); err != nil {
			if to == reflect.TypeOf(sendconnector.Credential{}) {
				return nil, err // never repeat what may be a password
			}
			if q := fmt.Sprintf("%q", text); !strings.Contains(err.Error(), q) {
				return nil, fmt.Errorf("%s: %w", q, err) // name the whole value, not just the part that failed
			}
			return nil, err
		}
		return v.Elem().Interface(), nil
	}
	if s, ok := data.(string); ok {
		// Without this, mapstructure says only "expected type 'bool', got
		// unconvertible type 'string'", leaving out the bad value.
		switch to.Kind() {
		case reflect.Bool:
			switch strings.ToLower(strings.TrimSpace(s)) {
			case "true", "$true":
				return true, nil
			case "false", "$false":
				return false, nil
			}
			return nil, fmt.Errorf("%q is not a boolean: use true or false", s)
		case reflect.Int, reflect.Int64:
			n, err := strconv.ParseInt(strings.TrimSpace(s), 10, 64)
			if err != nil {
				return nil, fmt.Errorf("%q is not a whole number", s)
			}
			return n, nil
		}
	}
	if to.Kind() == reflect.Slice && from.Kind() == reflect.String {
		s := strings.TrimSpace(data.(string))
		if s == "" {
			return []any{}, nil
		}
		parts := strings.Split(s, ",")
		out := make([]any, 0, len(parts))
		for _, p := range parts {
			out = append(out, strings.TrimSpace(p))
		}
		return out, nil
	}
	return data, nil
}

// Save validates the configuration and writes the config file and the
// mailbox list atomically.
func (c *Config) Save() error {
	if err := c.Validate(); err != nil {
		return err
	}
	if err := os.MkdirAll(filepath.Dir(c.path), 0o755); err != nil {
		return fmt.Errorf("creating config folder: %w", err)
	}
	if err := os.MkdirAll(c.DataDir(), 0o700); err != nil {
		return fmt.Errorf("creating data folder: %w", err)
	}
	// Passwords go to the secrets file, written first so that a crash in
	// between never leaves a config without its password anywhere.
	shown := *c
	// A receive connector whose Fqdn is the server's is written without
	// one, so that changing Server.Fqdn changes it too (as every default
	// that comes from the server FQDN: HELO to smart hosts, the DSN sender
	// without an accepted domain, the self-signed certificate).
	shown.ReceiveConnectors = slices.Clone(c.ReceiveConnectors)
	for i := range shown.ReceiveConnectors {
		if strings.EqualFold(shown.ReceiveConnectors[i].Fqdn, c.Server.Fqdn) {
			shown.ReceiveConnectors[i].Fqdn = ""
		}
	}
	shown.SendConnectors = make([]sendconnector.SendConnector, len(c.SendConnectors))
	secrets := secretsDoc{SendConnectorPasswords: map[string]string{}}
	for i, sc := range c.SendConnectors {
		if sc.AuthenticationCredential.Password != "" {
			secrets.SendConnectorPasswords[sc.Name] = sc.AuthenticationCredential.Password
			sc.AuthenticationCredential.Password = ""
		}
		if sc.OAuthClientSecret != "" {
			if secrets.SendConnectorOAuthSecrets == nil {
				secrets.SendConnectorOAuthSecrets = map[string]string{}
			}
			secrets.SendConnectorOAuthSecrets[sc.Name] = string(sc.OAuthClientSecret)
			sc.OAuthClientSecret = ""
		}
		shown.SendConnectors[i] = sc
	}
	var buf bytes.Buffer
	buf.WriteString("# transportd secrets: send connector passwords, kept out of the config file.\n")
	enc := yaml.NewEncoder(&buf)
	enc.SetIndent(2)
	if err := enc.Encode(secrets); err != nil {
		return fmt.Errorf("encoding secrets: %w", err)
	}
	if err := WriteFileAtomic(c.SecretsFile(), buf.Bytes(), 0o600); err != nil {
		return err
	}
	buf.Reset()
	buf.WriteString(fileHeader)
	var doc yaml.Node
	if err := doc.Encode(&shown); err != nil {
		return fmt.Errorf("encoding config: %w", err)
	}
	c.omitUnstated(&doc)
	enc = yaml.NewEncoder(&buf)
	enc.SetIndent(2)
	if err := enc.Encode(&doc); err != nil {
		return fmt.Errorf("encoding config: %w", err)
	}
	if err := WriteFileAtomic(c.path, buf.Bytes(), 0o600); err != nil {
		return err
	}
	buf.Reset()
	buf.WriteString("# transportd mailboxes: managed with \"transportd mailbox ...\". Passwords are argon2id hashes.\n")
	enc = yaml.NewEncoder(&buf)
	enc.SetIndent(2)
	mailboxes := &c.Mailboxes
	if len(c.Mailboxes) == 0 && !c.Stated(secMailboxes) {
		mailboxes = nil // keep a list the file never had out (see CheckReplacement)
	}
	if err := enc.Encode(struct {
		Mailboxes *[]Mailbox `yaml:"Mailboxes,omitempty"`
	}{mailboxes}); err != nil {
		return fmt.Errorf("encoding mailboxes: %w", err)
	}
	return WriteFileAtomic(c.MailboxFile(), buf.Bytes(), 0o600)
}

// omitUnstated drops from the encoded config the empty lists that the file
// it was read from did not have, so that writing the file back never turns
// a missing section into an explicit "remove them all" (see
// CheckReplacement). A list emptied by a command was stated, and is written
// as [].
func (c *Config) omitUnstated(doc *yaml.Node) {
	m := doc
	if m.Kind == yaml.DocumentNode && len(m.Content) == 1 {
		m = m.Content[0]
	}
	if m.Kind != yaml.MappingNode {
		return
	}
	empty := map[string]bool{
		"ReceiveConnectors": len(c.ReceiveConnectors) == 0 && !c.Stated(secReceiveConnectors),
		"SendConnectors":    len(c.SendConnectors) == 0 && !c.Stated(secSendConnectors),
		"AcceptedDomains":   len(c.AcceptedDomains) == 0 && !c.Stated(secAcceptedDomains),
	}
	kept := m.Content[:0]
	for i := 0; i+1 < len(m.Content); i += 2 {
		if empty[m.Content[i].Value] {
			continue
		}
		kept = append(kept, m.Content[i], m.Content[i+1])
	}
	m.Content = kept
}

// WriteFileAtomic writes data to path durably and atomically.
func WriteFileAtomic(path string, data []byte, perm os.FileMode) error {
	return durable.WriteFile(path, data, perm)
}

// Update applies change to the configuration at path under an exclusive
// lock, validates the result as a whole and saves it. Nothing is written
// when change or validation fails: a command changes all or nothing.
func Update(path string, change func(*Config) error) (*Config, error) {
	abs, err := filepath.Abs(path)
	if err != nil {
		return nil, err
	}
	if err := os.MkdirAll(filepath.Dir(abs), 0o755); err != nil {
		return nil, fmt.Errorf("creating config folder: %w", err)
	}
	lock, err := os.OpenFile(abs+".lock", os.O_CREATE|os.O_RDWR, 0o600)
	if err != nil {
		return nil, fmt.Errorf("locking config: %w", err)
	}
	defer lock.Close()
	if err := syscall.Flock(int(lock.Fd()), syscall.LOCK_EX); err != nil {
		return nil, fmt.Errorf("locking config: %w", err)
	}
	defer syscall.Flock(int(lock.Fd()), syscall.LOCK_UN)
	c, err := LoadForEdit(abs)
	if err != nil {
		return nil, err
	}
	// A file an editor left cut off may still parse; saving it would
	// write the loss for good, and the daemon refuses it anyway. Judge it
	// as the daemon does, before the change (whose own errors would only
	// puzzle: "no connector matches") and after it.
	applied, err := readApplied(abs)
	if err != nil {
		return nil, err
	}
	if err := checkAgainst(applied, c); err != nil {
		return nil, err
	}
	if err := change(c); err != nil {
		return nil, err
	}
	if err := checkAgainst(applied, c); err != nil {
		return nil, err
	}
	if err := c.Save(); err != nil {
		return nil, err
	}
	return c, nil
}
