package certs

import (
	"bytes"
	"cmp"
	"crypto"
	"crypto/x509"
	"encoding/json"
	"encoding/pem"
	"errors"
	"fmt"
	"io/fs"
	"log/slog"
	"os"
	"path/filepath"
	"slices"
	"strings"
	"sync"
)

// ServicesFile is the name of the file in the store folder that maps
// thumbprints to services and friendly names.
const ServicesFile = "services.json"

// ErrNotFound is wrapped by errors for a thumbprint the store does not hold.
var ErrNotFound = errors.New("certificate not found")

// ErrExists is wrapped by Import's error for a certificate the store holds
// already.
var ErrExists = errors.New("certificate already exists")

// serviceEntry is one value of services.json.
type serviceEntry struct {
	Services     []string `json:"services"`
	FriendlyName string   `json:"friendlyName,omitempty"`
	// Exportable is the certificate's PrivateKeyExportable.
	Exportable bool `json:"privateKeyExportable,omitempty"`
}

// WriteFileFunc replaces the file at path with data, atomically (readers
// see the old file or the new one, never a part, and the temporary file is
// a dot-file the store does not read) and durably (fsynced, and the folder
// too, before it returns). The daemon passes durable.WriteFile.
type WriteFileFunc func(path string, data []byte, perm os.FileMode) error

// Store is a folder of certificates. It is safe for concurrent use.
type Store struct {
	dir       string
	log       *slog.Logger
	writeFile WriteFileFunc

	opMu     sync.Mutex // serialises Import, Enable, Remove, NewSelfSigned, EnsureDefault
	reloadMu sync.Mutex // serialises reading the folder

	mu       sync.RWMutex // guards the fields below
	list     []*Certificate
	byThumb  map[string]*Certificate
	services map[string]serviceEntry // last good services.json

	cbMu      sync.Mutex
	callbacks []func()
}

// Open opens the certificate store in dir, creating the folder with mode
// 0700 if it is missing, and loads every certificate in it. The store
// writes its files (certificates, services.json) with writeFile, which is
// required. A nil logger discards logs.
func Open(dir string, writeFile WriteFileFunc, logger *slog.Logger) (*Store, error) {
	if logger == nil {
		logger = slog.New(slog.DiscardHandler)
	}
	if dir == "" {
		return nil, errors.New("certs: open store: empty folder name")
	}
	if writeFile == nil {
		return nil, errors.New("certs: open store: no function to write files durably (pass durable.WriteFile)")
	}
	if err := os.MkdirAll(dir, 0o700); err != nil {
		return nil, fmt.Errorf("certs: create store folder: %w", err)
	}
	s := &Store{
		dir:       dir,
		log:       logger.With("component", "certs", "store", dir),
		writeFile: writeFile,
		byThumb:   map[string]*Certificate{},
		services:  map[string]serviceEntry{},
	}
	if err := s.reload(); err != nil {
		return nil, err
	}
	return s, nil
}

// Dir returns the store's folder.
func (s *Store) Dir() string { return s.dir }

// OnChange registers fn to be called after each successful reload,
// including those done by Import, Enable, Remove, NewSelfSigned and Watch.
// Callbacks run synchronously, outside the store's locks, so they may call
// any Store method.
func (s *Store) OnChange(fn func()) {
	if fn == nil {
		return
	}
	s.cbMu.Lock()
	defer s.cbMu.Unlock()
	s.callbacks = append(s.callbacks, fn)
}

func (s *Store) notify() {
	s.cbMu.Lock()
	cbs := slices.Clone(s.callbacks)
	s.cbMu.Unlock()
	for _, fn := range cbs {
		fn()
	}
}

// Reload re-reads the folder. A file that cannot be used is logged with its
// name and the reason and skipped; Reload fails only when the folder itself
// cannot be read, in which case the previous contents stay in force.
func (s *Store) Reload() error {
	if err := s.reload(); err != nil {
		return err
	}
	s.notify()
	return nil
}

// reload re-reads the folder without calling the callbacks.
func (s *Store) reload() error {
	s.reloadMu.Lock()
	defer s.reloadMu.Unlock()

	entries, err := os.ReadDir(s.dir)
	if err != nil {
		return fmt.Errorf("certs: read store folder: %w", err)
	}

	s.mu.RLock()
	services := s.services
	s.mu.RUnlock()
	if m, err := s.readServices(); err != nil {
		s.log.Error("cannot parse services file; keeping the previous services", "file", filepath.Join(s.dir, ServicesFile), "err", err)
	} else {
		services = m
	}

	byThumb := map[string]*Certificate{}
	for _, e := range entries {
		name := e.Name()
		if e.IsDir() || strings.HasPrefix(name, ".") || !storeExts[strings.ToLower(filepath.Ext(name))] {
			continue
		}
		path := filepath.Join(s.dir, name)
		c, err := loadFile(path, s.log.Warn)
		if err != nil {
			s.log.Warn("skipping certificate file", "file", path, "err", err)
			continue
		}
		if prev, ok := byThumb[c.Thumbprint]; ok {
			keep, drop := prev, c
			if preferFile(c, prev) {
				keep, drop = c, prev
			}
			s.log.Info("certificate is in two files; using one", "thumbprint", c.Thumbprint, "file", keep.Path, "ignored", drop.Path)
			keep.files = append(keep.files, drop.files...)
			byThumb[c.Thumbprint] = keep
			continue
		}
		byThumb[c.Thumbprint] = c
	}

	list := make([]*Certificate, 0, len(byThumb))
	for tp, c := range byThumb {
		if e, ok := services[tp]; ok {
			svcs, err := NormalizeServices(e.Services)
			if err != nil {
				s.log.Warn("ignoring bad services entry", "file", filepath.Join(s.dir, ServicesFile), "thumbprint", tp, "err", err)
			}
			c.Services = svcs
			c.FriendlyName = e.FriendlyName
			c.PrivateKeyExportable = e.Exportable
		}
		list = append(list, c)
	}
	sortNewestFirst(list)

	s.mu.Lock()
	s.list, s.byThumb, s.services = list, byThumb, services
	s.mu.Unlock()
	s.log.Debug("certificate store loaded", "certificates", len(list))
	return nil
}

// preferFile reports whether a should be used instead of b for the same
// thumbprint: the one with a key, then <THUMBPRINT>.pem, then by name.
func preferFile(a, b *Certificate) bool {
	if a.HasPrivateKey != b.HasPrivateKey {
		return a.HasPrivateKey
	}
	an := strings.EqualFold(filepath.Base(a.Path), a.Thumbprint+".pem")
	bn := strings.EqualFold(filepath.Base(b.Path), b.Thumbprint+".pem")
	if an != bn {
		return an
	}
	return a.Path < b.Path
}

func sortNewestFirst(list []*Certificate) {
	slices.SortStableFunc(list, func(a, b *Certificate) int {
		if c := b.NotBefore.Compare(a.NotBefore); c != 0 {
			return c
		}
		return cmp.Compare(a.Thumbprint, b.Thumbprint)
	})
}

// readServices reads services.json; a missing file is an empty mapping.
func (s *Store) readServices() (map[string]serviceEntry, error) {
	data, err := os.ReadFile(filepath.Join(s.dir, ServicesFile))
	if errors.Is(err, fs.ErrNotExist) {
		return map[string]serviceEntry{}, nil
	}
	if err != nil {
		return nil, err
	}
	var raw map[string]serviceEntry
	if err := json.Unmarshal(data, &raw); err != nil {
		return nil, err
	}
	out := make(map[string]serviceEntry, len(raw))
	for k, v := range raw {
		tp, err := NormalizeThumbprint(k)
		if err != nil {
			s.log.Warn("ignoring services entry with a bad thumbprint", "file", filepath.Join(s.dir, ServicesFile), "key", k, "err", err)
			continue
		}
		out[tp] = v
	}
	return out, nil
}

// updateServices read-modify-writes services.json; it refuses to overwrite
// a file it cannot parse.
func (s *Store) updateServices(fn func(m map[string]serviceEntry)) error {
	m, err := s.readServices()
	if err != nil {
		return fmt.Errorf("certs: %s is broken, not overwriting it: %w", filepath.Join(s.dir, ServicesFile), err)
	}
	fn(m)
	data, err := json.MarshalIndent(m, "", "  ")
	if err != nil {
		return fmt.Errorf("certs: encode services: %w", err)
	}
	data = append(data, '\n')
	if err := s.writeFile(filepath.Join(s.dir, ServicesFile), data, 0o600); err != nil {
		return fmt.Errorf("certs: write services: %w", err)
	}
	return nil
}

// List returns every certificate, newest NotBefore first.
func (s *Store) List() []*Certificate {
	s.mu.RLock()
	defer s.mu.RUnlock()
	return slices.Clone(s.list)
}

// Get returns the certificate with the given thumbprint (any case, spaces
// and colons allowed). The error wraps ErrNotFound when there is none.
func (s *Store) Get(thumbprint string) (*Certificate, error) {
	tp, err := NormalizeThumbprint(thumbprint)
	if err != nil {
		return nil, fmt.Errorf("certs: get %q: %w", thumbprint, err)
	}
	s.mu.RLock()
	c, ok := s.byThumb[tp]
	s.mu.RUnlock()
	if !ok {
		return nil, fmt.Errorf("certs: certificate %s: %w in store %s", tp, ErrNotFound, s.dir)
	}
	return c, nil
}

// Import adds a certificate with its private key to the store, like
// Import-ExchangeCertificate, and enables it for services. It is ImportWith
// without a friendly name, and with a key that may not be exported.
func (s *Store) Import(data []byte, password string, services []string) (*Certificate, error) {
	return s.ImportWith(data, ImportOptions{Password: password, Services: services})
}

// ImportOptions are the parameters of Import-ExchangeCertificate besides
// the file.
type ImportOptions struct {
	// Password decrypts a PFX.
	Password string
	// Services the certificate is enabled for (none: "None").
	Services []string
	// FriendlyName labels the certificate; empty keeps the pending
	// request's.
	FriendlyName string
	// PrivateKeyExportable lets Export-ExchangeCertificate write the key
	// out; a pending request's setting is kept when it says so.
	PrivateKeyExportable bool
}

// ImportWith adds a certificate to the store, like
// Import-ExchangeCertificate. data is PEM (certificates, PKCS#7 and a
// PKCS#1, PKCS#8 or EC private key, in any order), PKCS#12 (PFX), a DER
// certificate or a DER PKCS#7 chain (.p7b), detected automatically.
//
// Data without a private key is a CA's answer to a pending request (New
// -GenerateRequest): the certificate whose public key is that request's
// is completed with the request's key, and the request is removed. The
// key must match the leaf. The certificate is stored as <THUMBPRINT>.pem.
// Importing a thumbprint the store holds already fails (wrapping ErrExists).
func (s *Store) ImportWith(data []byte, o ImportOptions) (*Certificate, error) {
	svcs, err := NormalizeServices(o.Services)
	if err != nil {
		return nil, fmt.Errorf("certs: import: %w", err)
	}
	b, err := parseImport(data, o.Password)
	if err != nil {
		return nil, fmt.Errorf("certs: import: %w", err)
	}
	s.opMu.Lock()
	defer s.opMu.Unlock()
	var req *Request
	entry := serviceEntry{Services: svcs, FriendlyName: o.FriendlyName, Exportable: o.PrivateKeyExportable}
	if len(b.keys) == 0 {
		var leaf int
		if req, leaf = s.requestFor(b.certs); req == nil {
			return nil, fmt.Errorf("certs: import: no private key in the data, and no pending request (New-ExchangeCertificate -GenerateRequest) for certificate %s (%s): import a PFX with its key, or the CA's answer to a request made here",
				Thumbprint(b.certs[0].Raw), formatDN(b.certs[0].RawSubject))
		}
		b.keys = []crypto.PrivateKey{req.key}
		b.certs[0], b.certs[leaf] = b.certs[leaf], b.certs[0]
		if entry.FriendlyName == "" {
			entry.FriendlyName = req.FriendlyName
		}
		entry.Exportable = entry.Exportable || req.PrivateKeyExportable
	}
	c, err := b.assemble("", true)
	if err != nil {
		return nil, fmt.Errorf("certs: import: %w", err)
	}
	got, err := s.addEntry(c, entry)
	if err != nil {
		return nil, fmt.Errorf("certs: import: %w", err)
	}
	if req != nil {
		if err := os.Remove(req.Path); err != nil && !errors.Is(err, fs.ErrNotExist) {
			s.log.Error("certificate imported, but its completed request could not be removed", "file", req.Path, "err", err)
		}
		s.log.Info("certificate request completed", "request", req.Thumbprint, "thumbprint", got.Thumbprint)
	}
	s.notify()
	return got, nil
}

// parseImport reads what Import-ExchangeCertificate may be given.
func parseImport(data []byte, password string) (bundle, error) {
	if isPEM(data) {
		b, err := parsePEM(data)
		if err != nil {
			return b, fmt.Errorf("PEM: %w", err)
		}
		if len(b.certs) == 0 {
			// Export-ExchangeCertificate without -BinaryEncoded: a PFX in Base64.
			if blk, _ := pem.Decode(data[bytes.Index(data, []byte("-----BEGIN ")):]); blk != nil && blk.Type == "PKCS12" {
				return parsePFX(blk.Bytes, password)
			}
			return b, errors.New("the PEM data holds no certificate")
		}
		return b, nil
	}
	b, pfxErr := parsePFX(data, password)
	if pfxErr == nil {
		return b, nil
	}
	if cs, err := x509.ParseCertificates(data); err == nil && len(cs) > 0 {
		return bundle{certs: cs}, nil
	}
	if cs, err := parsePKCS7(data); err == nil {
		return bundle{certs: cs}, nil
	}
	return bundle{}, fmt.Errorf("neither PEM, a DER certificate nor PKCS#7; as PKCS#12: %w", pfxErr)
}

// addEntry writes c as <THUMBPRINT>.pem, records its services.json entry, reloads and
// returns the reloaded certificate. The caller holds opMu and calls notify.
func (s *Store) addEntry(c *Certificate, entry serviceEntry) (*Certificate, error) {
	if err := s.reload(); err != nil {
		return nil, err
	}
	if prev, err := s.Get(c.Thumbprint); err == nil {
		return nil, fmt.Errorf("certificate %s (%s): %w in %s", c.Thumbprint, c.Subject, ErrExists, prev.Path)
	}
	data, err := encodeStorePEM(c)
	if err != nil {
		return nil, err
	}
	path := filepath.Join(s.dir, c.Thumbprint+".pem")
	if err := s.writeFile(path, data, 0o600); err != nil {
		return nil, fmt.Errorf("write %s: %w", path, err)
	}
	if err := s.updateServices(func(m map[string]serviceEntry) {
		m[c.Thumbprint] = entry
	}); err != nil {
		if rmErr := os.Remove(path); rmErr != nil {
			s.log.Error("cannot remove certificate file after failure", "file", path, "err", rmErr)
		}
		return nil, err
	}
	if err := s.reload(); err != nil {
		return nil, err
	}
	got, err := s.Get(c.Thumbprint)
	if err != nil {
		return nil, fmt.Errorf("certificate written to %s but not loaded: %w", path, err)
	}
	s.log.Info("certificate added", "thumbprint", got.Thumbprint, "subject", got.Subject, "services", got.ServicesString(), "file", path)
	return got, nil
}

// Enable adds services to a certificate, like Enable-ExchangeCertificate.
// Services it already has are kept.
func (s *Store) Enable(thumbprint string, services []string) error {
	svcs, err := NormalizeServices(services)
	if err != nil {
		return fmt.Errorf("certs: enable: %w", err)
	}
	s.opMu.Lock()
	defer s.opMu.Unlock()
	if err := s.reload(); err != nil {
		return err
	}
	c, err := s.Get(thumbprint)
	if err != nil {
		return fmt.Errorf("certs: enable: %w", err)
	}
	merged, _ := NormalizeServices(append(slices.Clone(c.Services), svcs...))
	if err := s.updateServices(func(m map[string]serviceEntry) {
		e := m[c.Thumbprint]
		e.Services = merged
		if e.FriendlyName == "" {
			e.FriendlyName = c.FriendlyName
		}
		m[c.Thumbprint] = e
	}); err != nil {
		return err
	}
	if err := s.reload(); err != nil {
		return err
	}
	s.log.Info("certificate services enabled", "thumbprint", c.Thumbprint, "services", strings.Join(merged, ", "))
	s.notify()
	return nil
}

// Remove deletes a certificate from the store: its file, the sidecar key
// and password files and any duplicate files, and its services entry.
func (s *Store) Remove(thumbprint string) error {
	s.opMu.Lock()
	defer s.opMu.Unlock()
	if err := s.reload(); err != nil {
		return err
	}
	c, err := s.Get(thumbprint)
	if err != nil {
		return fmt.Errorf("certs: remove: %w", err)
	}
	var errs []error
	for _, f := range c.files {
		if err := os.Remove(f); err != nil && !errors.Is(err, fs.ErrNotExist) {
			errs = append(errs, err)
		}
	}
	if err := s.updateServices(func(m map[string]serviceEntry) { delete(m, c.Thumbprint) }); err != nil {
		errs = append(errs, err)
	}
	if err := s.reload(); err != nil {
		errs = append(errs, err)
	}
	s.notify()
	if len(errs) > 0 {
		return fmt.Errorf("certs: remove %s: %w", c.Thumbprint, errors.Join(errs...))
	}
	s.log.Info("certificate removed", "thumbprint", c.Thumbprint, "subject", c.Subject, "file", c.Path)
	return nil
}
