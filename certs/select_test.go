package certs

import (
	"crypto"
	"crypto/x509"
	"slices"
	"strings"
	"testing"
	"time"
)

// importCert imports a leaf with its key (and the CA) into s.
func importCert(t *testing.T, s *Store, leaf *x509.Certificate, key crypto.Signer, services []string, chain ...*x509.Certificate) *Certificate {
	t.Helper()
	c, err := s.Import(slices.Concat(certPEM(append([]*x509.Certificate{leaf}, chain...)...), keyPEM(t, key, "pkcs8")), "", services)
	if err != nil {
		t.Fatalf("Import %s: %v", leaf.Subject, err)
	}
	return c
}

func TestSelect(t *testing.T) {
	now := time.Now()
	day := 24 * time.Hour
	s, _ := openTestStore(t)
	ca := newTestCA(t, "Contoso Test CA")
	smtp := []string{"SMTP"}

	mk := func(subject string, dns []string, nb, na time.Time, services []string) *Certificate {
		leaf, key := ca.issue(t, leafOpts{subject: cn(subject), dns: dns, notBefore: nb, notAfter: na})
		return importCert(t, s, leaf, key, services, ca.cert)
	}
	mail := []string{"mail.contoso.com"}
	oldCA := mk("mail.contoso.com", mail, now.Add(-30*day), now.Add(300*day), smtp)
	newCA := mk("mail.contoso.com", mail, now.Add(-10*day), now.Add(300*day), smtp)
	expired := mk("mail.contoso.com", mail, now.Add(-400*day), now.Add(-5*day), smtp)
	future := mk("mail.contoso.com", mail, now.Add(5*day), now.Add(400*day), smtp)
	wildcard := mk("*.contoso.com", nil, now.Add(-20*day), now.Add(300*day), smtp)
	mk("imap.fabrikam.com", nil, now.Add(-20*day), now.Add(300*day), []string{"IMAP"})

	ssLeaf, ssKey := selfSigned(t, leafOpts{subject: cn("mail.contoso.com"), dns: []string{"mail.contoso.com", "mail.fabrikam.com"}, notBefore: now.Add(-day)})
	self := importCert(t, s, ssLeaf, ssKey, smtp)

	noKeyLeaf, _ := ca.issue(t, leafOpts{subject: cn("nokey.fabrikam.com"), notBefore: now.Add(-day)})
	dropFile(t, s.Dir(), "nokey.pem", certPEM(noKeyLeaf), 0o600)
	if err := s.Reload(); err != nil {
		t.Fatal(err)
	}
	noKey, err := s.Get(Thumbprint(noKeyLeaf.Raw))
	if err != nil {
		t.Fatal(err)
	}
	if err := s.Enable(noKey.Thumbprint, smtp); err != nil {
		t.Fatal(err)
	}

	spaced := func(tp string) string {
		var b strings.Builder
		for i := 0; i < len(tp); i += 2 {
			b.WriteString(strings.ToLower(tp[i:i+2]) + " ")
		}
		return b.String()
	}
	const missing = "0000000000000000000000000000000000000000"

	tests := []struct {
		name        string
		tlsName     string
		fqdn        string
		want        *Certificate
		wantProblem []string // substrings; nil means no problem
	}{
		{name: "by name picks newest valid", tlsName: newCA.Name(), fqdn: "mail.contoso.com", want: newCA},
		{name: "by name, other spacing and case", tlsName: "<i>cn=contoso test ca,o=contoso,c=us <s> CN=MAIL.contoso.com,O=Contoso,C=US", fqdn: "mail.contoso.com", want: newCA},
		{name: "by thumbprint", tlsName: oldCA.Thumbprint, fqdn: "mail.contoso.com", want: oldCA},
		{name: "by thumbprint lower with spaces", tlsName: spaced(oldCA.Thumbprint), fqdn: "mail.contoso.com", want: oldCA},
		{name: "missing thumbprint", tlsName: missing, fqdn: "mail.contoso.com", wantProblem: []string{missing, "not found in the store"}},
		{name: "missing name", tlsName: "<I>CN=Nobody<S>CN=mail.contoso.com", fqdn: "mail.contoso.com", wantProblem: []string{"not found in the store"}},
		{name: "invalid name", tlsName: "mail.contoso.com", fqdn: "mail.contoso.com", wantProblem: []string{"invalid", "STARTTLS will not be offered"}},
		{name: "expired is served with a problem", tlsName: expired.Thumbprint, fqdn: "mail.contoso.com", want: expired, wantProblem: []string{"expired on", "served anyway"}},
		{name: "not yet valid", tlsName: future.Thumbprint, fqdn: "mail.contoso.com", want: future, wantProblem: []string{"not valid before"}},
		{name: "fqdn mismatch", tlsName: newCA.Thumbprint, fqdn: "smtp.fabrikam.com", want: newCA, wantProblem: []string{"does not cover smtp.fabrikam.com"}},
		{name: "several issues", tlsName: expired.Thumbprint, fqdn: "smtp.fabrikam.com", want: expired, wantProblem: []string{"expired on", "does not cover"}},
		{name: "no private key", tlsName: noKey.Thumbprint, fqdn: "nokey.fabrikam.com", want: noKey, wantProblem: []string{"no private key"}},
		{name: "named self-signed is fine", tlsName: self.Thumbprint, fqdn: "mail.fabrikam.com", want: self},
		{name: "auto prefers CA-issued, then newest", fqdn: "mail.contoso.com", want: newCA},
		{name: "auto wildcard", fqdn: "smtp.contoso.com", want: wildcard},
		{name: "auto wildcard, case and trailing dot", fqdn: "SMTP.Contoso.com.", want: wildcard},
		{name: "auto wildcard is one label only", fqdn: "a.b.contoso.com", wantProblem: []string{"no valid certificate for a.b.contoso.com", "STARTTLS will not be offered"}},
		{name: "auto falls back to self-signed", fqdn: "mail.fabrikam.com", want: self},
		{name: "auto needs SMTP", fqdn: "imap.fabrikam.com", wantProblem: []string{"no valid certificate"}},
		{name: "auto needs a key", fqdn: "nokey.fabrikam.com", wantProblem: []string{"no valid certificate"}},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			got, p := s.Select(tt.tlsName, tt.fqdn, now)
			if (got == nil) != (tt.want == nil) || got != nil && got.Thumbprint != tt.want.Thumbprint {
				t.Errorf("Select = %v, want %v", subjectOf(got), subjectOf(tt.want))
			}
			if tt.wantProblem == nil && p != "" {
				t.Errorf("unexpected problem %q", p)
			}
			if tt.wantProblem != nil && p == "" {
				t.Errorf("no problem, want one containing %q", tt.wantProblem)
			}
			for _, w := range tt.wantProblem {
				if !strings.Contains(string(p), w) {
					t.Errorf("problem %q lacks %q", p, w)
				}
			}
		})
	}

	// List is newest NotBefore first.
	list := s.List()
	if !slices.IsSortedFunc(list, func(a, b *Certificate) int { return b.NotBefore.Compare(a.NotBefore) }) {
		t.Error("List is not sorted newest first")
	}
	if list[0].Thumbprint != future.Thumbprint {
		t.Errorf("List()[0] = %s, want the future one", list[0].Subject)
	}
}

func subjectOf(c *Certificate) string {
	if c == nil {
		return "<nil>"
	}
	return c.Thumbprint + " " + c.Subject + " NotBefore " + c.NotBefore.String()
}
