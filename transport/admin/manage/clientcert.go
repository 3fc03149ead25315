package manage

import (
	"fmt"
	"strings"

	"github.com/transportd/transportd/transport/admin/config"
	"github.com/transportd/transportd/transport/mail/sendconnector"
)

// checkClientCertificate refuses a send connector's new TlsCertificateName
// that the daemon could not present: the certificate must be in the store,
// with its private key, and valid now. An unchanged name is not checked
// again, so that other settings of a connector whose certificate has
// lapsed can still be changed (its deliveries wait, naming the problem).
func (m *Manager) checkClientCertificate(c *config.Config, before string, sc *sendconnector.SendConnector) error {
	name := strings.TrimSpace(sc.TlsCertificateName)
	if name == "" || strings.EqualFold(name, strings.TrimSpace(before)) {
		return nil
	}
	store, err := m.Certs(c)
	if err != nil {
		return fmt.Errorf("certificate store: %w", err)
	}
	if _, err := store.ClientCertificate(name, m.now()); err != nil {
		return fmt.Errorf("send connector %q: -TlsCertificateName: %w", sc.Name, err)
	}
	return nil
}
