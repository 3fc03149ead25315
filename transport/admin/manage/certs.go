package manage

import (
	"errors"
	"fmt"
	"os"
	"slices"
	"strings"
	"time"

	"github.com/transportd/transportd/certs"
)

// CertRecord shows a certificate with Get-ExchangeCertificate's property names.
func CertRecord(c *certs.Certificate) Record {
	services := c.ServicesString()
	return Record{
		{"Thumbprint", c.Thumbprint},
		{"Services", services},
		{"Subject", c.Subject},
		{"Issuer", c.Issuer},
		{"CertificateDomains", "{" + strings.Join(c.CertificateDomains, ", ") + "}"},
		{"NotBefore", c.NotBefore.Local().Format("2006-01-02 15:04:05")},
		{"NotAfter", c.NotAfter.Local().Format("2006-01-02 15:04:05")},
		{"HasPrivateKey", FormatBool(c.HasPrivateKey)},
		{"IsSelfSigned", FormatBool(c.IsSelfSigned)},
		{"PublicKeySize", fmt.Sprint(c.PublicKeySize)},
		{"SerialNumber", c.SerialNumber},
		{"FriendlyName", c.FriendlyName},
		{"TlsCertificateName", c.Name()},
		{"Status", certStatus(c, time.Now())},
		{"PrivateKeyExportable", FormatBool(c.PrivateKeyExportable)},
	}
}

// certStatus is Get-ExchangeCertificate's Status of a certificate: Valid,
// or DateInvalid outside its validity period.
func certStatus(c *certs.Certificate, now time.Time) string {
	if !c.Valid(now) {
		return "DateInvalid"
	}
	return "Valid"
}

// RequestRecord shows a pending certificate request as
// Get-ExchangeCertificate does: Status PendingRequest, no services yet.
func RequestRecord(r *certs.Request) Record {
	return Record{
		{"Thumbprint", r.Thumbprint},
		{"Services", "None"},
		{"Subject", r.Subject},
		{"Issuer", ""},
		{"CertificateDomains", "{" + strings.Join(r.CertificateDomains, ", ") + "}"},
		{"NotBefore", ""},
		{"NotAfter", ""},
		{"HasPrivateKey", FormatBool(true)},
		{"IsSelfSigned", FormatBool(false)},
		{"PublicKeySize", fmt.Sprint(r.PublicKeySize)},
		{"SerialNumber", ""},
		{"FriendlyName", r.FriendlyName},
		{"TlsCertificateName", ""},
		{"Status", "PendingRequest"},
		{"PrivateKeyExportable", FormatBool(r.PrivateKeyExportable)},
		{"CertificateRequest", strings.TrimSpace(string(r.PEM()))},
	}
}

func (m *Manager) store() (*certs.Store, error) {
	c, err := m.Load()
	if err != nil {
		return nil, err
	}
	return m.Certs(c)
}

func splitList(s string) []string {
	var out []string
	for _, p := range strings.Split(s, ",") {
		if p = strings.TrimSpace(p); p != "" {
			out = append(out, p)
		}
	}
	return out
}

// GetCerts lists certificates and pending requests, or the one with
// -Thumbprint.
func (m *Manager) GetCerts(thumbprint string) ([]Record, error) {
	return m.GetCertsFor(thumbprint, "")
}

// GetCertsFor is Get-ExchangeCertificate [-Thumbprint] [-DomainName a,b]:
// with domain names, the certificates that cover any of them, the one a
// connector with that FQDN would serve first (as Exchange lists them).
func (m *Manager) GetCertsFor(thumbprint, domainNames string) ([]Record, error) {
	st, err := m.store()
	if err != nil {
		return nil, err
	}
	if thumbprint != "" {
		c, err := st.Get(thumbprint)
		if err == nil {
			return []Record{CertRecord(c)}, nil
		}
		if r, rerr := st.GetRequest(thumbprint); rerr == nil {
			return []Record{RequestRecord(r)}, nil
		}
		return nil, certNotFound(thumbprint, err)
	}
	list := st.List()
	if names := splitList(domainNames); len(names) > 0 {
		now := m.now()
		var picked []*certs.Certificate
		for _, d := range names {
			if c, _ := st.Select("", d, now); c != nil && !slices.Contains(picked, c) {
				picked = append(picked, c)
			}
		}
		for _, c := range list {
			if slices.Contains(picked, c) {
				continue
			}
			for _, d := range names {
				if c.Covers(d) {
					picked = append(picked, c)
					break
				}
			}
		}
		list = picked
	}
	var out []Record
	for _, c := range list {
		out = append(out, CertRecord(c))
	}
	if domainNames == "" {
		for _, r := range st.Requests() {
			out = append(out, RequestRecord(r))
		}
	}
	return out, nil
}

// NewCert creates a self-signed certificate or a certificate request
// (New-ExchangeCertificate); see NewCertFrom.
func (m *Manager) NewCert(ps Params) (Record, error) {
	return m.NewCertFrom(ps, "")
}

// ImportCert imports a certificate (Import-ExchangeCertificate -FileName
// or -Path, or -FileData with the contents): a PFX with -Password, PEM, or
// the CA's answer to a pending request (PEM, DER .cer, PKCS#7 .p7b), which
// completes it.
func (m *Manager) ImportCert(ps Params, readPassword func() (string, error)) (Record, error) {
	known := []string{"FileName", "Path", "FileData", "Password", "Services", "PrivateKeyExportable", "FriendlyName"}
	ps, err := resolve(ps, known...)
	if err != nil {
		return nil, err
	}
	file, hasFile := ps.Take("FileName")
	if p, ok := ps.Take("Path"); ok {
		file, hasFile = p, true
	}
	data, hasData := ps.Take("FileData")
	pw, _ := ps.Take("Password")
	services, hasServices := ps.Take("Services")
	exportable, hasExportable := ps.Take("PrivateKeyExportable")
	friendly, _ := ps.Take("FriendlyName")
	if err := noParamsLeft(ps, known...); err != nil {
		return nil, err
	}
	opts := certs.ImportOptions{FriendlyName: friendly}
	if hasExportable {
		if opts.PrivateKeyExportable, err = ParseBool(exportable); err != nil {
			return nil, fmt.Errorf("-PrivateKeyExportable: %w", err)
		}
	}
	var raw []byte
	switch {
	case hasFile:
		b, err := os.ReadFile(file)
		if err != nil {
			return nil, fmt.Errorf("%w%s", err, windowsPathHint(file))
		}
		raw = b
	case hasData:
		raw = []byte(data)
	default:
		return nil, errors.New("give -FileName PATH (a .pfx/.p12, .pem, .cer or .p7b file) or -FileData")
	}
	if pw == "-" {
		if readPassword == nil {
			return nil, errors.New("-Password -: no standard input")
		}
		if pw, err = readPassword(); err != nil {
			return nil, err
		}
	}
	opts.Password = pw
	if hasServices {
		opts.Services = m.certServices(services)
	} else {
		opts.Services = []string{"SMTP"}
	}
	st, err := m.store()
	if err != nil {
		return nil, err
	}
	c, err := st.ImportWith(raw, opts)
	if err != nil {
		return nil, err
	}
	return CertRecord(c), nil
}

// EnableCert adds services to a certificate (Enable-ExchangeCertificate).
func (m *Manager) EnableCert(thumbprint, services string) error {
	if thumbprint == "" || services == "" {
		return errors.New("give -Thumbprint and -Services (SMTP, IMAP, POP, IIS)")
	}
	st, err := m.store()
	if err != nil {
		return err
	}
	return certNotFound(thumbprint, st.Enable(thumbprint, m.certServices(services)))
}

// RemoveCert deletes a certificate from the store.
func (m *Manager) RemoveCert(thumbprint string) error {
	if thumbprint == "" {
		return errors.New("-Thumbprint is required")
	}
	st, err := m.store()
	if err != nil {
		return err
	}
	if _, err := st.GetRequest(thumbprint); err == nil {
		return st.RemoveRequest(thumbprint)
	}
	if err := m.checkNotServed(st, thumbprint); err != nil {
		return err
	}
	if err := st.Remove(thumbprint); err != nil {
		return certNotFound(thumbprint, err)
	}
	return nil
}

// certNotFound names the thumbprint as the admin wrote it when the store
// has no such certificate (errors name it in upper case otherwise).
func certNotFound(thumbprint string, err error) error {
	if errors.Is(err, certs.ErrNotFound) {
		return fmt.Errorf("no certificate or pending request %s in the store (Get-ExchangeCertificate lists them): %w", thumbprint, err)
	}
	return err
}

func noParamsLeft(ps Params, known ...string) error {
	for _, p := range ps {
		if _, err := ResolveName(known, p.Name); err != nil {
			return err
		}
		return fmt.Errorf("parameter -%s given twice", p.Name)
	}
	return nil
}

// resolve renames each parameter to the known name it abbreviates.
func resolve(ps Params, known ...string) (Params, error) {
	out := make(Params, len(ps))
	for i, p := range ps {
		n, err := ResolveName(known, p.Name)
		if err != nil {
			return nil, err
		}
		p.Name = n
		out[i] = p
	}
	return out, nil
}

// checkNotServed refuses to remove a certificate one of this server's
// receive connectors serves: STARTTLS (and AUTH after it) would stop
// there. Another cluster member's connectors are checked by the caller,
// from the members' heartbeats (cluster.ServedElsewhere).
func (m *Manager) checkNotServed(st *certs.Store, thumbprint string) error {
	c, err := m.Load()
	if err != nil {
		return err
	}
	cert, err := st.Get(thumbprint)
	if err != nil {
		return nil // the store says it is not there
	}
	if name, ok := c.ServedCertificates(st, m.now())[strings.ToUpper(cert.Thumbprint)]; ok {
		return fmt.Errorf("certificate %s is in use: receive connector %q serves it for STARTTLS; give the connector another certificate first (Set-ReceiveConnector %q -TlsCertificateName ...), then remove it",
			cert.Thumbprint, name, name)
	}
	for _, sc := range c.SendConnectors {
		if strings.TrimSpace(sc.TlsCertificateName) == "" {
			continue
		}
		if used, _ := st.Select(sc.TlsCertificateName, "", m.now()); used != nil && strings.EqualFold(used.Thumbprint, cert.Thumbprint) {
			return fmt.Errorf("certificate %s is in use: send connector %q presents it to its smart hosts (TlsCertificateName); clear it first (Set-SendConnector %q -TlsCertificateName $null), then remove it",
				cert.Thumbprint, sc.Name, sc.Name)
		}
	}
	return nil
}
