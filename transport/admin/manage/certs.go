package manage

import (
	"errors"
	"fmt"
	"os"
	"strings"

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

// GetCerts lists certificates, or the one with -Thumbprint.
func (m *Manager) GetCerts(thumbprint string) ([]Record, error) {
	st, err := m.store()
	if err != nil {
		return nil, err
	}
	if thumbprint != "" {
		c, err := st.Get(thumbprint)
		if err != nil {
			return nil, err
		}
		return []Record{CertRecord(c)}, nil
	}
	var out []Record
	for _, c := range st.List() {
		out = append(out, CertRecord(c))
	}
	return out, nil
}

// NewCert creates a self-signed certificate (New-ExchangeCertificate
// -SubjectName -DomainName [-Services] [-FriendlyName]).
func (m *Manager) NewCert(ps Params) (Record, error) {
	ps, err := resolve(ps, "SubjectName", "DomainName", "Services", "FriendlyName")
	if err != nil {
		return nil, err
	}
	subject, _ := ps.Take("SubjectName")
	domains, _ := ps.Take("DomainName")
	services, hasServices := ps.Take("Services")
	friendly, _ := ps.Take("FriendlyName")
	if err := noParamsLeft(ps, "SubjectName", "DomainName", "Services", "FriendlyName"); err != nil {
		return nil, err
	}
	if subject == "" && domains == "" {
		return nil, errors.New("give -SubjectName CN=mail.contoso.com and/or -DomainName mail.contoso.com")
	}
	req := certs.SelfSignedRequest{SubjectName: subject, DomainNames: splitList(domains), FriendlyName: friendly}
	if hasServices {
		req.Services = splitList(services)
	}
	st, err := m.store()
	if err != nil {
		return nil, err
	}
	c, err := st.NewSelfSigned(req)
	if err != nil {
		return nil, err
	}
	return CertRecord(c), nil
}

// ImportCert imports a PEM or PFX file (-FileName path or -FileData
// contents) with -Password for PFX.
func (m *Manager) ImportCert(ps Params, readPassword func() (string, error)) (Record, error) {
	ps, err := resolve(ps, "FileName", "FileData", "Password", "Services", "PrivateKeyExportable")
	if err != nil {
		return nil, err
	}
	file, hasFile := ps.Take("FileName")
	data, hasData := ps.Take("FileData")
	pw, _ := ps.Take("Password")
	services, hasServices := ps.Take("Services")
	ps.Take("PrivateKeyExportable")
	if err := noParamsLeft(ps, "FileName", "FileData", "Password", "Services", "PrivateKeyExportable"); err != nil {
		return nil, err
	}
	var raw []byte
	switch {
	case hasFile:
		b, err := os.ReadFile(file)
		if err != nil {
			return nil, fmt.Errorf("-FileName: %w", err)
		}
		raw = b
	case hasData:
		raw = []byte(data)
	default:
		return nil, errors.New("give -FileName PATH (a .pfx/.p12 or .pem file) or -FileData")
	}
	if pw == "-" {
		if readPassword == nil {
			return nil, errors.New("-Password -: no standard input")
		}
		var err error
		if pw, err = readPassword(); err != nil {
			return nil, err
		}
	}
	var svc []string
	if hasServices {
		svc = splitList(services)
	} else {
		svc = []string{"SMTP"}
	}
	st, err := m.store()
	if err != nil {
		return nil, err
	}
	c, err := st.Import(raw, pw, svc)
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
	return st.Enable(thumbprint, splitList(services))
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
	return st.Remove(thumbprint)
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
