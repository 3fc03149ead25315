package main

import (
	"crypto/ecdsa"
	"crypto/elliptic"
	"crypto/rand"
	"crypto/sha1"
	"crypto/x509"
	"crypto/x509/pkix"
	"encoding/hex"
	"math/big"
	"os"
	"path/filepath"
	"regexp"
	"slices"
	"strings"
	"testing"
	"time"

	"software.sslmate.com/src/go-pkcs12"

	"github.com/transportd/transportd/transport/admin/config"
	"github.com/transportd/transportd/transport/admin/manage"
)

// newConfig writes a config for mail.contoso.com with the default
// connectors ("Default Frontend MAIL", "Client Frontend MAIL") into a temp
// dir and returns its path.
func newConfig(t *testing.T) string {
	t.Helper()
	path := filepath.Join(t.TempDir(), "transportd.yaml")
	if err := os.WriteFile(path, []byte("Server:\n  Fqdn: mail.contoso.com\n"), 0o640); err != nil {
		t.Fatal(err)
	}
	def := config.Defaults("mail.contoso.com")
	if _, err := config.Update(path, func(c *config.Config) error {
		c.ReceiveConnectors, c.AcceptedDomains = def.ReceiveConnectors, def.AcceptedDomains
		return nil
	}); err != nil {
		t.Fatal(err)
	}
	return path
}

type result struct {
	code           int
	stdout, stderr string
}

// tdrun runs one command line against the config at path.
func tdrun(t *testing.T, path, stdin string, args ...string) result {
	t.Helper()
	var out, errOut strings.Builder
	if path != "" {
		args = append([]string{"-config", path}, args...)
	}
	code := run(args, strings.NewReader(stdin), &out, &errOut)
	return result{code, out.String(), errOut.String()}
}

// ok runs a command that must succeed and returns its output.
func ok(t *testing.T, path, stdin string, args ...string) string {
	t.Helper()
	r := tdrun(t, path, stdin, args...)
	if r.code != 0 {
		t.Fatalf("transportd %q: exit %d\nstdout: %s\nstderr: %s", args, r.code, r.stdout, r.stderr)
	}
	return r.stdout
}

// listValue returns the value of name in Format-List output.
func listValue(t *testing.T, out, name string) string {
	t.Helper()
	m := regexp.MustCompile(`(?m)^` + regexp.QuoteMeta(name) + ` +: (.*)$`).FindStringSubmatch(out)
	if m == nil {
		t.Fatalf("no %s in:\n%s", name, out)
	}
	return m[1]
}

func TestConnectorGetTable(t *testing.T) {
	path := newConfig(t)
	out := ok(t, path, "", "connector", "get")
	lines := strings.Split(strings.TrimRight(out, "\n"), "\n")
	if len(lines) != 4 {
		t.Fatalf("want header, dashes and 2 rows, got:\n%s", out)
	}
	if !regexp.MustCompile(`^Identity +Bindings +Enabled$`).MatchString(lines[0]) || !strings.HasPrefix(lines[1], "--------") {
		t.Errorf("bad header:\n%s", out)
	}
	if !regexp.MustCompile(`^Default Frontend MAIL +\{0\.0\.0\.0:25, \[::\]:25\} +True$`).MatchString(lines[2]) ||
		!regexp.MustCompile(`^Client Frontend MAIL +\{0\.0\.0\.0:587, \[::\]:587\} +True$`).MatchString(lines[3]) {
		t.Errorf("bad rows:\n%s", out)
	}
	// Columns line up.
	col := strings.Index(lines[0], "Bindings")
	for _, l := range lines[2:] {
		if l[col-1] != ' ' || l[col] != '{' {
			t.Errorf("Bindings column not at %d in %q", col, l)
		}
	}
}

func TestConnectorGetList(t *testing.T) {
	path := newConfig(t)
	for _, args := range [][]string{
		{"connector", "get", "-identity", "Client Frontend*"},
		{"connector", "get", "Client Frontend*"},
		{"receiveconnector", "GET", "-Identity:Client Frontend*"},
	} {
		out := ok(t, path, "", args...)
		if got := listValue(t, out, "Identity"); got != "Client Frontend MAIL" {
			t.Errorf("%q: Identity = %q", args, got)
		}
		if got := listValue(t, out, "Fqdn"); got != "mail.contoso.com" {
			t.Errorf("%q: Fqdn = %q", args, got)
		}
		if got := listValue(t, out, "CertificateStatus"); got == "" {
			t.Errorf("%q: empty CertificateStatus", args)
		}
		if strings.Contains(out, "Default Frontend") {
			t.Errorf("%q: shows the other connector:\n%s", args, out)
		}
	}
}

func TestConnectorSet(t *testing.T) {
	path := newConfig(t)
	for i, spelling := range []string{"-fqdn", "-Fqdn", "-FQDN", "-fq"} {
		fqdn := []string{"mail.contoso.com", "smtp.contoso.com", "relay.contoso.com", "mx.contoso.com"}[i]
		out := ok(t, path, "", "connector", "set", "-identity", "Client Frontend*", spelling, fqdn)
		if !strings.Contains(out, "Changed 1 receive connector.") {
			t.Errorf("set output = %q", out)
		}
		got := listValue(t, ok(t, path, "", "connector", "get", "-identity", "Client Frontend*"), "Fqdn")
		if got != fqdn {
			t.Errorf("after %s %s: Fqdn = %q", spelling, fqdn, got)
		}
	}
	out := ok(t, path, "", "connector", "set", "-identity", "*", "-MaxMessageSize", "20MB")
	if !strings.Contains(out, "Changed 2 receive connectors.") {
		t.Errorf("set * output = %q", out)
	}

	// Positional identity, $false and PowerShell's -Param:value.
	ok(t, path, "", "connector", "set", "Client*", "-enabled", "$false")
	if got := listValue(t, ok(t, path, "", "connector", "get", "Client*"), "Enabled"); got != "False" {
		t.Errorf("Enabled = %q after -enabled $false", got)
	}
	ok(t, path, "", "connector", "set", "Client*", "-Enabled:$true", "-MaxLogonFailures", "5")
	got := ok(t, path, "", "connector", "get", "Client*")
	if listValue(t, got, "Enabled") != "True" || listValue(t, got, "MaxLogonFailures") != "5" {
		t.Errorf("after -Enabled:$true:\n%s", got)
	}
}

func TestConnectorSetErrors(t *testing.T) {
	path := newConfig(t)
	before, _ := os.ReadFile(path)
	tests := []struct {
		args []string
		code int
		want []string
	}{
		{[]string{"connector", "set", "-identity", "nomatch*", "-fqdn", "x.y"}, 1, []string{"no receive connector matches", `"nomatch*"`}},
		{[]string{"connector", "set", "-identity", "Client Frontend*", "-fqdnn", "x.y"}, 1, []string{"did you mean -Fqdn"}},
		{[]string{"connector", "set", "-identity", "Client Frontend*", "-maxlogonfailures", "11"}, 1, []string{"MaxLogonFailures", "11"}},
		{[]string{"connector", "set", "-identity", "Client Frontend*", "-enabled", "perhaps"}, 1, []string{"-Enabled", `"perhaps"`}},
		{[]string{"connector", "set", "-fqdn", "x.y"}, 1, []string{"-Identity is required"}},
		{[]string{"connector", "set", "Client*", "extra", "-fqdn", "x.y"}, 2, []string{`unexpected value "extra"`}},
		{[]string{"connector", "frobnicate"}, 1, []string{`unknown action "frobnicate"`}},
		{[]string{"conector", "get"}, 1, []string{`did you mean "connector"`}},
		{[]string{"connector"}, 2, []string{"which action"}},
	}
	for _, tt := range tests {
		r := tdrun(t, path, "", tt.args...)
		if r.code != tt.code {
			t.Errorf("%q: exit %d, want %d (stderr %q)", tt.args, r.code, tt.code, r.stderr)
		}
		for _, w := range tt.want {
			if !strings.Contains(r.stderr, w) {
				t.Errorf("%q: stderr %q does not contain %q", tt.args, r.stderr, w)
			}
		}
	}
	if after, _ := os.ReadFile(path); string(after) != string(before) {
		t.Error("a failed command changed the config file")
	}
}

func TestConnectorNew(t *testing.T) {
	path := newConfig(t)
	out := ok(t, path, "", "connector", "new", "-name", "Anonymous Relay", "-usage", "Custom", "-bindings", "0.0.0.0:25", "-remoteipranges", "192.168.5.10,192.168.5.0/24")
	if got := listValue(t, out, "Name"); got != "Anonymous Relay" {
		t.Errorf("Name = %q", got)
	}
	if got := listValue(t, out, "RemoteIPRanges"); got != "{192.168.5.10, 192.168.5.0/24}" {
		t.Errorf("RemoteIPRanges = %q", got)
	}
	if got := listValue(t, out, "PermissionGroups"); got != "None" {
		t.Errorf("PermissionGroups = %q", got)
	}
	ok(t, path, "", "connector", "set", "Anonymous Relay", "-permissiongroups", "AnonymousUsers", "-anonymousrelay", "$true")
	got := ok(t, path, "", "connector", "get", "Anonymous Relay")
	if listValue(t, got, "AnonymousRelay") != "True" || listValue(t, got, "PermissionGroups") != "AnonymousUsers" {
		t.Errorf("after set:\n%s", got)
	}

	r := tdrun(t, path, "", "connector", "new", "-name", "Anonymous Relay 2", "-usage", "Custom", "-bindings", "0.0.0.0:25", "-remoteipranges", "192.168.5.10,192.168.5.0/24")
	if r.code == 0 {
		t.Fatal("a second connector with the same binding and ranges was accepted")
	}
	if !strings.Contains(r.stderr, `"Anonymous Relay"`) || !strings.Contains(r.stderr, `"Anonymous Relay 2"`) {
		t.Errorf("error does not name both connectors: %s", r.stderr)
	}
	table := ok(t, path, "", "connector", "get")
	if strings.Contains(table, "Anonymous Relay 2") || !strings.Contains(table, "Anonymous Relay") {
		t.Errorf("connectors after the failed new:\n%s", table)
	}

	// Positional name and the remove command.
	ok(t, path, "", "connector", "new", "Submission", "-usage", "client", "-bindings", "0.0.0.0:2525")
	if out := ok(t, path, "", "connector", "remove", "-identity", "Submission"); !strings.Contains(out, "Removed 1 receive connector.") {
		t.Errorf("remove output = %q", out)
	}
	if r := tdrun(t, path, "", "connector", "get", "Submission"); r.code == 0 {
		t.Error("removed connector still found")
	}
}

func TestMailboxNew(t *testing.T) {
	path := newConfig(t)
	const pw = "s3cret password"
	out := ok(t, path, pw+"\n", "mailbox", "new", "-name", "alice", "-primarysmtpaddress", "alice@contoso.com", "-password", "-")
	if got := listValue(t, out, "PasswordSet"); got != "True" {
		t.Errorf("PasswordSet = %q", got)
	}
	table := ok(t, path, "", "mailbox", "get")
	if !regexp.MustCompile(`(?m)^alice +alice@contoso\.com +True +True$`).MatchString(table) {
		t.Errorf("mailbox get:\n%s", table)
	}
	c, err := config.Load(path)
	if err != nil {
		t.Fatal(err)
	}
	if len(c.Mailboxes) != 1 || !strings.HasPrefix(c.Mailboxes[0].PasswordHash, "$argon2id$") {
		t.Errorf("mailboxes = %+v", c.Mailboxes)
	}
	for _, f := range []string{path, c.MailboxFile()} {
		if data, _ := os.ReadFile(f); strings.Contains(string(data), pw) {
			t.Errorf("%s holds the password", f)
		}
	}
	if r := tdrun(t, path, "", "mailbox", "new", "-name", "bob", "-password", "-"); r.code == 0 || !strings.Contains(r.stderr, "no password") {
		t.Errorf("empty stdin: exit %d, stderr %q", r.code, r.stderr)
	}
}

func TestCertNew(t *testing.T) {
	path := newConfig(t)
	out := ok(t, path, "", "cert", "new", "-subjectname", "CN=mail.contoso.com", "-domainname", "mail.contoso.com")
	if !regexp.MustCompile(`^[0-9A-F]{40}\n$`).MatchString(out) {
		t.Fatalf("cert new printed %q, want a thumbprint alone on a line", out)
	}
	thumb := strings.TrimSpace(out)
	list := ok(t, path, "", "cert", "get")
	if !strings.Contains(list, thumb) {
		t.Errorf("cert get does not list %s:\n%s", thumb, list)
	}
	one := ok(t, path, "", "cert", "get", "-thumbprint", thumb)
	if listValue(t, one, "Thumbprint") != thumb || listValue(t, one, "Subject") != "CN=mail.contoso.com" {
		t.Errorf("cert get -thumbprint:\n%s", one)
	}
	ok(t, path, "", "connector", "set", "Client*", "-tlscertificatename", thumb)
	status := listValue(t, ok(t, path, "", "connector", "get", "Client*"), "CertificateStatus")
	if !strings.Contains(status, thumb) {
		t.Errorf("CertificateStatus = %q", status)
	}
}

func TestConfigFromEnv(t *testing.T) {
	path := newConfig(t)
	t.Setenv(config.EnvConfig, path)
	ok(t, "", "", "connector", "set", "Client*", "-fqdn", "env.contoso.com")
	c, err := config.Load(path)
	if err != nil {
		t.Fatal(err)
	}
	if c.ReceiveConnectors[1].Fqdn != "env.contoso.com" {
		t.Errorf("TRANSPORTD_CONFIG not used: Fqdn = %q", c.ReceiveConnectors[1].Fqdn)
	}
	// -config wins over the environment.
	other := newConfig(t)
	ok(t, other, "", "connector", "set", "Client*", "-fqdn", "flag.contoso.com")
	if c, _ := config.Load(path); c.ReceiveConnectors[1].Fqdn != "env.contoso.com" {
		t.Errorf("-config ignored: env config changed to %q", c.ReceiveConnectors[1].Fqdn)
	}
	if c, _ := config.Load(other); c.ReceiveConnectors[1].Fqdn != "flag.contoso.com" {
		t.Errorf("-config ignored: Fqdn = %q", c.ReceiveConnectors[1].Fqdn)
	}
}

func TestCreatesConfig(t *testing.T) {
	path := filepath.Join(t.TempDir(), "new", "transportd.yaml")
	out := ok(t, "", "", "-config="+path, "connector", "get")
	if !strings.Contains(out, "Default Frontend ") || !strings.Contains(out, "Client Frontend ") {
		t.Errorf("connector get on a new config:\n%s", out)
	}
	if _, err := os.Stat(path); err != nil {
		t.Errorf("config not created: %v", err)
	}
}

func TestHelpAndArgs(t *testing.T) {
	r := tdrun(t, "", "", "help")
	if r.code != 0 || !strings.Contains(r.stdout, "transportd connector get") {
		t.Errorf("help: exit %d, %q", r.code, r.stdout)
	}
	r = tdrun(t, "", "", "connector", "get", "-config")
	if r.code != 2 || !strings.Contains(r.stderr, "-config needs a file path") {
		t.Errorf("-config without path: exit %d, %q", r.code, r.stderr)
	}
}

func TestParseParams(t *testing.T) {
	tests := []struct {
		args []string
		want manage.Params
		err  bool
	}{
		{[]string{"-Identity", "x", "-Fqdn", "a.b"}, manage.Params{{Name: "Identity", Value: "x"}, {Name: "Fqdn", Value: "a.b"}}, false},
		{[]string{"Client*", "-enabled", "$false"}, manage.Params{{Name: "Identity", Value: "Client*"}, {Name: "enabled", Value: "$false"}}, false},
		{[]string{"-Enabled:$false"}, manage.Params{{Name: "Enabled", Value: "$false"}}, false},
		{[]string{"-Force", "-Password", "-"}, manage.Params{{Name: "Force", Switch: true}, {Name: "Password", Value: "-"}}, false},
		{[]string{"-MaxLogonFailures", "-1"}, manage.Params{{Name: "MaxLogonFailures", Value: "-1"}}, false},
		{[]string{"--fqdn", "a.b", "-Client"}, manage.Params{{Name: "fqdn", Value: "a.b"}, {Name: "Client", Switch: true}}, false},
		{[]string{"-a", "b", "c"}, nil, true},
	}
	for _, tt := range tests {
		got, err := parseParams(tt.args)
		if (err != nil) != tt.err {
			t.Errorf("parseParams(%q) error = %v", tt.args, err)
			continue
		}
		if !slices.Equal(got, tt.want) {
			t.Errorf("parseParams(%q) = %+v, want %+v", tt.args, got, tt.want)
		}
	}
}

func TestTakeConfig(t *testing.T) {
	t.Setenv(config.EnvConfig, "/env/transportd.yaml")
	tests := []struct {
		args []string
		path string
		rest []string
	}{
		{[]string{"connector", "get"}, "/env/transportd.yaml", []string{"connector", "get"}},
		{[]string{"-config", "/a.yaml", "connector", "get"}, "/a.yaml", []string{"connector", "get"}},
		{[]string{"connector", "get", "--Config=/b.yaml"}, "/b.yaml", []string{"connector", "get"}},
	}
	for _, tt := range tests {
		path, rest, err := takeConfig(tt.args)
		if err != nil || path != tt.path || !slices.Equal(rest, tt.rest) {
			t.Errorf("takeConfig(%q) = %q, %q, %v", tt.args, path, rest, err)
		}
	}
}

// A PFX exported from Windows (PKCS#12 with a password) imports through the
// command line, the password read from standard input.
func TestCertImportPFX(t *testing.T) {
	path := newConfig(t)
	key, err := ecdsa.GenerateKey(elliptic.P256(), rand.Reader)
	if err != nil {
		t.Fatal(err)
	}
	tmpl := &x509.Certificate{
		SerialNumber: big.NewInt(42), Subject: pkix.Name{CommonName: "mail.contoso.com", Organization: []string{"Contoso"}},
		DNSNames: []string{"mail.contoso.com", "autodiscover.contoso.com"}, NotBefore: time.Now().Add(-time.Hour), NotAfter: time.Now().Add(24 * time.Hour),
	}
	der, err := x509.CreateCertificate(rand.Reader, tmpl, tmpl, &key.PublicKey, key)
	if err != nil {
		t.Fatal(err)
	}
	cert, _ := x509.ParseCertificate(der)
	pfx, err := pkcs12.Modern.Encode(key, cert, nil, "pfx-pass")
	if err != nil {
		t.Fatal(err)
	}
	file := filepath.Join(t.TempDir(), "mail.pfx")
	if err := os.WriteFile(file, pfx, 0o600); err != nil {
		t.Fatal(err)
	}
	if r := tdrun(t, path, "wrong\n", "cert", "import", "-filename", file, "-password", "-"); r.code == 0 {
		t.Fatalf("import with a wrong PFX password succeeded: %s", r.stdout)
	}
	out := ok(t, path, "pfx-pass\n", "cert", "import", "-filename", file, "-password", "-")
	sum := sha1.Sum(der)
	thumb := strings.ToUpper(hex.EncodeToString(sum[:]))
	if !strings.Contains(out, thumb) {
		t.Fatalf("import output lacks thumbprint %s:\n%s", thumb, out)
	}
	one := ok(t, path, "", "cert", "get", "-thumbprint", thumb)
	if d := listValue(t, one, "CertificateDomains"); !strings.Contains(d, "autodiscover.contoso.com") {
		t.Errorf("CertificateDomains = %q", d)
	}
	if s := listValue(t, one, "Subject"); s != "CN=mail.contoso.com, O=Contoso" {
		t.Errorf("Subject = %q", s)
	}
}

// Command-level parameters take PowerShell-style abbreviations too.
func TestAbbreviatedCommandParameters(t *testing.T) {
	path := newConfig(t)
	out := ok(t, path, "pw-abbrev-1\n", "mailbox", "new", "-nam", "bob", "-primarysmtp", "bob@contoso.com", "-pass", "-")
	if listValue(t, out, "PasswordSet") != "True" || listValue(t, out, "Name") != "bob" {
		t.Fatalf("mailbox new with abbreviations:\n%s", out)
	}
	out = ok(t, path, "", "connector", "new", "-nam", "Client Two", "-usa", "Client", "-bind", "127.0.0.1:2600")
	if listValue(t, out, "PermissionGroups") != "ExchangeUsers" {
		t.Fatalf("connector new -usa Client:\n%s", out)
	}
}
