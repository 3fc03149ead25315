package manage

import (
	"fmt"
	"os"
	"path/filepath"
	"strings"
)

// WriteLocalFile writes data where a script asked (mode 0600); a Windows
// path goes to the data folder's WindowsFilesDir under its file name, with
// a warning, as the certificate cmdlets do. It returns the path written.
func (m *Manager) WriteLocalFile(param, path string, data []byte) (string, error) {
	return m.writeLocal(param, path, data)
}

// ReadLocalFile reads a file a script names; a Windows path is read from
// the data folder's WindowsFilesDir under its file name (where
// WriteLocalFile put it). The error names the path as the script gave it.
func (m *Manager) ReadLocalFile(path string) ([]byte, error) {
	target := path
	if windowsPath.MatchString(path) {
		c, err := m.Load()
		if err != nil {
			return nil, err
		}
		parts := strings.FieldsFunc(path, func(r rune) bool { return r == '\\' || r == '/' })
		target = filepath.Join(c.DataDir(), WindowsFilesDir, parts[len(parts)-1])
	}
	b, err := os.ReadFile(target)
	if err != nil {
		if target != path {
			return nil, fmt.Errorf("cannot read %s: it is a Windows path, looked for %s: %w", path, target, unwrapPathError(err))
		}
		return nil, fmt.Errorf("cannot read %s: %w", path, unwrapPathError(err))
	}
	return b, nil
}

func unwrapPathError(err error) error {
	if pe, ok := err.(*os.PathError); ok {
		return pe.Err
	}
	return err
}
