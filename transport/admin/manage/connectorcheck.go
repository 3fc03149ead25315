package manage

import (
	"context"
	"errors"
	"fmt"
	"net"
	"net/netip"
	"slices"
	"strings"
	"syscall"
	"time"

	"github.com/transportd/transportd/certs"
	"github.com/transportd/transportd/connector"
	"github.com/transportd/transportd/policies/permissions"
	"github.com/transportd/transportd/transport/admin/config"
)

// This file holds the set-time checks of receive connectors against this
// machine: the certificate a connector will serve for STARTTLS, and whether
// its new bindings are free. A change the daemon would apply silently but
// that breaks the connector is said at once, as a warning naming the
// consequence and the fix; a -TlsCertificateName that takes STARTTLS, and
// with it AUTH, away from a submission connector is refused unless -Force.

// warn passes a warning to the admin (Manager.Warn), if anyone listens.
func (m *Manager) warn(format string, args ...any) {
	if m.Warn != nil {
		m.Warn(fmt.Sprintf(format, args...))
	}
}

// takeForce removes the -Force switch from ps: Exchange's switch for
// "do it although it is dangerous".
func takeForce(ps *Params) (bool, error) {
	v, ok := ps.TakeExact("Force")
	if !ok {
		return false, nil
	}
	b, err := ParseBool(v)
	if err != nil {
		return false, fmt.Errorf("-Force: %w", err)
	}
	return b, nil
}

// connectorCheck compares connectors before and after a change.
type connectorCheck struct {
	m     *Manager
	force bool
	store *certs.Store
	held  map[uint16]bool // ports the daemon listens on under the old configuration
	now   time.Time
}

// newConnectorCheck notes the state before the change.
func (m *Manager) newConnectorCheck(c *config.Config, force bool) (*connectorCheck, error) {
	store, err := m.Certs(c)
	if err != nil {
		return nil, fmt.Errorf("certificate store: %w", err)
	}
	held := map[uint16]bool{}
	for _, rc := range c.ReceiveConnectors {
		if !rc.Enabled {
			continue
		}
		for _, b := range rc.Bindings {
			held[b.Port()] = true
		}
	}
	return &connectorCheck{m: m, force: force, store: store, held: held, now: m.now()}, nil
}

// offersTLS reports whether rc will offer STARTTLS (some certificate, maybe with problems).
func (k *connectorCheck) offersTLS(rc *connector.ReceiveConnector) bool {
	if !rc.AuthMechanism.Has(permissions.MechTLS) {
		return false
	}
	cert, _ := k.store.Select(rc.TlsCertificateName, rc.Fqdn, k.now)
	return cert != nil
}

// check looks at one changed connector (before is nil for a new one). It
// refuses taking STARTTLS away from a connector whose AUTH needs it, unless
// -Force, and warns about every other certificate problem and about
// bindings in use by another program.
func (k *connectorCheck) check(before, after *connector.ReceiveConnector) error {
	if after.Enabled {
		if err := k.checkTLS(before, after); err != nil {
			return err
		}
		k.checkBindings(after)
	}
	return nil
}

func (k *connectorCheck) checkTLS(before, after *connector.ReceiveConnector) error {
	status, ok := after.TLSStatus(k.store, k.now)
	if ok {
		return nil
	}
	fix := fmt.Sprintf("create a certificate for %s (transportd cert new -subjectname CN=%s -domainname %s; "+
		"New-ExchangeCertificate in the shell), or set -TlsCertificateName to the thumbprint of one that covers it (transportd cert get)",
		after.Fqdn, after.Fqdn, after.Fqdn)
	if after.TlsCertificateName != "" {
		fix += `, or -TlsCertificateName "" to serve the valid certificate that covers the FQDN`
	}
	authNeedsTLS := after.AuthMechanism.Has(permissions.MechBasicAuthRequireTLS) || after.ImplicitTls
	// Refused: this change names a certificate that takes STARTTLS away
	// from a connector that offered it and whose AUTH needs it (a
	// thumbprint not in the store is a mistake, not a step). A new -Fqdn
	// that no certificate covers yet only warns: Microsoft's procedure
	// sets the FQDN first and creates its certificate next. A connector
	// that was already without STARTTLS (or is new or re-enabled) gets the
	// warning too.
	withdrawn := authNeedsTLS && !k.offersTLS(after) && before != nil && before.Enabled && k.offersTLS(before) &&
		!strings.EqualFold(before.TlsCertificateName, after.TlsCertificateName)
	if withdrawn && !k.force {
		return fmt.Errorf("receive connector %q: %s. Fix: %s. To save the change anyway, add -Force", after.Name, status, fix)
	}
	k.m.warn("receive connector %q: %s. Fix: %s.", after.Name, status, fix)
	return nil
}

// checkBindings warns about each new binding that another program holds
// (or that names an address this machine does not have). Ports the daemon
// itself listens on under the old configuration are not probed: it holds
// them, and its make-before-break reload moves them.
func (k *connectorCheck) checkBindings(rc *connector.ReceiveConnector) {
	for _, b := range rc.Bindings {
		if k.held[b.Port()] {
			continue
		}
		if why := bindingBusy(b); why != "" {
			k.m.warn("receive connector %q: binding %s: %s; transportd cannot listen there until that changes (choose another -Bindings port, or stop the program that holds it: ss -ltnp 'sport = :%d')",
				rc.Name, b, why, b.Port())
		}
	}
}

// bindingBusy tries to listen on b, as the daemon will, and says why it
// cannot, or "". Without the right to bind a port below 1024 it connects
// instead: an answer means another program listens there.
func bindingBusy(b netip.AddrPort) string {
	l, err := net.Listen("tcp", b.String())
	if err == nil {
		l.Close()
		return ""
	}
	switch {
	case errors.Is(err, syscall.EADDRINUSE):
		return "the port is in use by another program"
	case errors.Is(err, syscall.EADDRNOTAVAIL):
		return "the address is not one of this machine's"
	case errors.Is(err, syscall.EACCES):
		ip := b.Addr()
		if ip.IsUnspecified() {
			ip = netip.AddrFrom4([4]byte{127, 0, 0, 1})
			if b.Addr().Is6() {
				ip = netip.IPv6Loopback()
			}
		}
		ctx, cancel := context.WithTimeout(context.Background(), 500*time.Millisecond)
		defer cancel()
		var d net.Dialer
		if c, err := d.DialContext(ctx, "tcp", netip.AddrPortFrom(ip, b.Port()).String()); err == nil {
			c.Close()
			return "the port is in use by another program"
		}
	}
	return ""
}

// all checks every changed connector; before[i] is nil for a new one.
func (k *connectorCheck) all(before, after []*connector.ReceiveConnector) error {
	var errs []error
	for i := range after {
		if err := k.check(before[i], after[i]); err != nil {
			errs = append(errs, err)
		}
	}
	return errors.Join(errs...)
}

// changedConnector keeps a copy of a connector before a change.
func changedConnector(rc *connector.ReceiveConnector) *connector.ReceiveConnector {
	old := *rc
	old.Bindings = slices.Clone(rc.Bindings)
	old.AuthMechanism = slices.Clone(rc.AuthMechanism)
	return &old
}
