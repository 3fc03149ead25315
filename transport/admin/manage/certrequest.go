package manage

import (
	"encoding/base64"
	"errors"
	"fmt"
	"os"
	"path/filepath"
	"regexp"
	"slices"
	"strconv"
	"strings"

	"github.com/transportd/transportd/certs"
)

// newCertParams are New-ExchangeCertificate's parameters.
var newCertParams = []string{"SubjectName", "DomainName", "Services", "FriendlyName", "PrivateKeyExportable", "KeySize",
	"GenerateRequest", "RequestFile", "BinaryEncoded", "Force", "IncludeAcceptedDomains", "IncludeAutoDiscover",
	"IncludeServerFQDN", "IncludeServerNetBIOSName", "SubjectKeyIdentifier"}

// NewCertFrom is New-ExchangeCertificate. Without parameters it creates
// the host's default self-signed certificate (CN=<Server.Fqdn>, the FQDN
// and the server name as domains, services IMAP, POP and SMTP, as Exchange
// does). With -GenerateRequest it writes a PKCS#10 request (-RequestFile,
// Base64 or -BinaryEncoded) and keeps its key pending until
// Import-ExchangeCertificate brings the CA's answer. renew, when set, is
// the thumbprint of a certificate piped in (Get-ExchangeCertificate
// -Thumbprint X | New-ExchangeCertificate ...): its subject, domains, key
// size, friendly name and services are the defaults, for a renewal.
func (m *Manager) NewCertFrom(ps Params, renew string) (Record, error) {
	ps, err := resolve(ps, newCertParams...)
	if err != nil {
		return nil, err
	}
	get := func(name string) (string, bool) { return ps.Take(name) }
	flag := func(name string) (bool, error) {
		v, ok := get(name)
		if !ok {
			return false, nil
		}
		b, err := ParseBool(v)
		if err != nil {
			return false, fmt.Errorf("-%s: %w", name, err)
		}
		return b, nil
	}
	subject, _ := get("SubjectName")
	domains, _ := get("DomainName")
	services, hasServices := get("Services")
	friendly, hasFriendly := get("FriendlyName")
	keySizeText, hasKeySize := get("KeySize")
	requestFile, hasRequestFile := get("RequestFile")
	var exportable, generate, binary bool
	var include [4]bool
	for _, f := range []struct {
		name string
		to   *bool
	}{{"PrivateKeyExportable", &exportable}, {"GenerateRequest", &generate}, {"BinaryEncoded", &binary},
		{"IncludeAcceptedDomains", &include[0]}, {"IncludeAutoDiscover", &include[1]}, {"IncludeServerFQDN", &include[2]},
		{"IncludeServerNetBIOSName", &include[3]}} {
		if *f.to, err = flag(f.name); err != nil {
			return nil, err
		}
	}
	if _, err := flag("Force"); err != nil { // no prompt to replace the default SMTP certificate here
		return nil, err
	}
	if _, ok := get("SubjectKeyIdentifier"); ok {
		m.warn("-SubjectKeyIdentifier is ignored: transportd derives the subject key identifier from the public key (RFC 5280 section 4.2.1.2)")
	}
	if err := noParamsLeft(ps, newCertParams...); err != nil {
		return nil, err
	}
	keySize := 0
	if hasKeySize {
		if keySize, err = strconv.Atoi(strings.TrimSpace(keySizeText)); err != nil {
			return nil, fmt.Errorf("-KeySize %q: a whole number: 2048, 3072 or 4096", keySizeText)
		}
	}
	if generate && hasServices {
		return nil, errors.New("-Services cannot be given with -GenerateRequest: a request has no services yet; enable them after the import with Enable-ExchangeCertificate")
	}
	if !generate && (hasRequestFile || binary) {
		return nil, errors.New("-RequestFile and -BinaryEncoded need -GenerateRequest")
	}
	c, err := m.Load()
	if err != nil {
		return nil, err
	}
	st, err := m.Certs(c)
	if err != nil {
		return nil, err
	}

	var svc []string
	if hasServices {
		svc = m.certServices(services)
	}
	names := splitList(domains)
	if renew != "" {
		old, err := st.Get(renew)
		if err != nil {
			return nil, fmt.Errorf("renew: %w", certNotFound(renew, err))
		}
		if subject == "" {
			subject = old.Subject
		}
		if len(names) == 0 {
			names = slices.Clone(old.CertificateDomains)
		}
		if !hasKeySize && old.PublicKeySize >= 2048 && old.X509().PublicKeyAlgorithm.String() == "RSA" {
			keySize = old.PublicKeySize
		}
		if !hasFriendly {
			friendly = old.FriendlyName
		}
		if !hasServices && !generate {
			svc = slices.Clone(old.Services)
		}
	}
	fqdn := strings.ToLower(c.Server.Fqdn)
	short := strings.ToLower(c.Server.Name)
	if include[0] || include[1] {
		for _, d := range c.AcceptedDomains {
			name := strings.TrimPrefix(strings.ToLower(d.DomainName), "*.")
			if include[0] {
				names = append(names, name)
			}
			if include[1] {
				names = append(names, "autodiscover."+name)
			}
		}
	}
	if include[2] {
		names = append(names, fqdn)
	}
	if include[3] && short != "" {
		names = append(names, short)
	}
	usedInclude := include[0] || include[1] || include[2] || include[3]
	if subject == "" && len(names) == 0 {
		// Example 1 of New-ExchangeCertificate: the server's own certificate.
		if fqdn == "" {
			return nil, errors.New("the server has no Fqdn to name the certificate after: set it with Set-TransportService -Fqdn, or give -SubjectName")
		}
		subject = "CN=" + fqdn
		names = []string{fqdn}
		if short != "" && short != fqdn {
			names = append(names, short)
		}
		if !hasServices && renew == "" {
			svc = []string{certs.ServiceIMAP, certs.ServicePOP, certs.ServiceSMTP}
		}
	}
	if len(svc) == 0 && !hasServices && renew == "" && usedInclude {
		svc = []string{certs.ServiceSMTP}
	}
	if friendly == "" {
		friendly = certs.DefaultFriendlyName
	}

	if generate {
		r, err := st.NewRequest(certs.RequestSpec{SubjectName: subject, DomainNames: names, KeySize: keySize,
			FriendlyName: friendly, PrivateKeyExportable: exportable})
		if err != nil {
			return nil, err
		}
		rec := RequestRecord(r)
		if hasRequestFile {
			data := r.PEM()
			if binary {
				data = r.DER()
			}
			path, err := m.writeLocal("-RequestFile", requestFile, data)
			if err != nil {
				return nil, err
			}
			rec = append(rec, Property{"RequestFile", path})
		}
		return rec, nil
	}
	cert, err := st.NewSelfSigned(certs.SelfSignedRequest{SubjectName: subject, DomainNames: names, Services: svc,
		FriendlyName: friendly, PrivateKeyExportable: exportable, KeySize: keySize})
	if err != nil {
		return nil, err
	}
	return CertRecord(cert), nil
}

// ExportCert is Export-ExchangeCertificate: a pending request as PKCS#10,
// or a certificate with an exportable key as PKCS#12 encrypted with
// -Password, Base64 unless -BinaryEncoded. The record's FileData holds the
// Base64 text (for -BinaryEncoded, the DER in Base64); -FileName writes the
// file as well.
func (m *Manager) ExportCert(thumbprint string, ps Params, readPassword func() (string, error)) (Record, error) {
	known := []string{"BinaryEncoded", "FileName", "Password"}
	ps, err := resolve(ps, known...)
	if err != nil {
		return nil, err
	}
	binText, _ := ps.Take("BinaryEncoded")
	file, hasFile := ps.Take("FileName")
	pw, _ := ps.Take("Password")
	if err := noParamsLeft(ps, known...); err != nil {
		return nil, err
	}
	binary := false
	if binText != "" {
		if binary, err = ParseBool(binText); err != nil {
			return nil, fmt.Errorf("-BinaryEncoded: %w", err)
		}
	}
	if thumbprint == "" {
		return nil, errors.New("-Thumbprint is required (Get-ExchangeCertificate lists them)")
	}
	if pw == "-" {
		if readPassword == nil {
			return nil, errors.New("-Password -: no standard input")
		}
		if pw, err = readPassword(); err != nil {
			return nil, err
		}
	}
	st, err := m.store()
	if err != nil {
		return nil, err
	}
	if _, rerr := st.GetRequest(thumbprint); rerr != nil {
		if _, err := st.Get(thumbprint); err != nil {
			return nil, certNotFound(thumbprint, err)
		}
		if pw == "" {
			return nil, errors.New("-Password is required to export a certificate with its private key: the PKCS#12 file is encrypted with it")
		}
	}
	data, err := st.Export(thumbprint, pw, binary)
	if err != nil {
		return nil, certNotFound(thumbprint, err)
	}
	text := string(data)
	if binary {
		text = base64.StdEncoding.EncodeToString(data)
	}
	rec := Record{{"Thumbprint", thumbprint}, {"FileData", text}}
	if hasFile {
		path, err := m.writeLocal("-FileName", file, data)
		if err != nil {
			return nil, err
		}
		rec = append(rec, Property{"FileName", path})
	}
	return rec, nil
}

// windowsPath matches the paths Microsoft's examples use: a drive letter
// ("C:\Cert Requests\woodgrovebank.req") or a UNC share
// ("\\FileServer01\Data\Fabrikam.req").
var windowsPath = regexp.MustCompile(`^(?:[A-Za-z]:[\\/]|\\\\)`)

// windowsPathHint explains a failure to read a Windows path.
func windowsPathHint(path string) string {
	if windowsPath.MatchString(path) {
		return " (a Windows path: give the file's path on this Linux machine)"
	}
	return ""
}

// WindowsFilesDir is the folder, in the data folder, where a file that an
// Exchange script names by a Windows path is written.
const WindowsFilesDir = "files"

// writeLocal writes a file the admin asked for (mode 0600: it may hold a
// key). A Windows path, as Microsoft's examples give
// ("C:\Cert Requests\woodgrovebank.req"), is written under its file name in
// the folder WindowsFilesDir of the data folder, with a warning saying
// where: a script written for Exchange runs, and nothing lands in whatever
// folder the shell happens to run in.
func (m *Manager) writeLocal(param, path string, data []byte) (string, error) {
	target := path
	if windowsPath.MatchString(path) {
		c, err := m.Load()
		if err != nil {
			return "", err
		}
		parts := strings.FieldsFunc(path, func(r rune) bool { return r == '\\' || r == '/' })
		dir := filepath.Join(c.DataDir(), WindowsFilesDir)
		if err := os.MkdirAll(dir, 0o700); err != nil {
			return "", fmt.Errorf("%s: %w", param, err)
		}
		target = filepath.Join(dir, parts[len(parts)-1])
		m.warn("%s %s is a Windows path; wrote %s instead", param, path, target)
	}
	if err := os.WriteFile(target, data, 0o600); err != nil {
		return "", fmt.Errorf("%s: %w", param, err)
	}
	return target, nil
}

// inertServices are Exchange services a certificate can be enabled for
// that have nothing to serve here.
var inertServices = []string{"Federation", "UM", "UMCallRouter"}

// certServices splits a -Services list, leaving out (with a one-line
// warning) the Exchange services that do not exist on Linux; the rest is
// checked by the store.
func (m *Manager) certServices(list string) []string {
	var out []string
	for _, s := range splitList(list) {
		if i := slices.IndexFunc(inertServices, func(x string) bool { return strings.EqualFold(x, s) }); i >= 0 {
			m.warn("-Services %s does nothing here: transportd has no %s service (it serves SMTP, and hands certificates to POP and IMAP)", inertServices[i], inertServices[i])
			continue
		}
		out = append(out, s)
	}
	if len(out) == 0 {
		return []string{"None"} // not the default services: none was asked for
	}
	return out
}
