package cluster

import (
	"fmt"
	"strings"
)

// SetServing gives the node the function that lists the thumbprints of
// the certificates this member's receive connectors serve now; every
// heartbeat carries them (Member.Serving).
func (n *Node) SetServing(f func() []string) {
	n.mu.Lock()
	n.serving = f
	n.mu.Unlock()
}

// ServedElsewhere says which member other than self serves the
// certificate thumbprint, as the members' last heartbeats tell (members
// Down are counted too: their connectors serve it again when they come
// back; members leaving are not); "" when none.
func ServedElsewhere(members []Member, self, thumbprint string) string {
	for _, m := range members {
		if strings.EqualFold(m.Name, self) || m.Leaving || m.State == "Leaving" {
			continue
		}
		for _, t := range m.Serving {
			if strings.EqualFold(t, thumbprint) {
				return m.Name
			}
		}
	}
	return ""
}

// ErrServedElsewhere is the refusal to remove a certificate that another
// member's receive connector serves.
func ErrServedElsewhere(thumbprint, member string) error {
	return fmt.Errorf("certificate %s is in use on %s: a receive connector there serves it; give that connector another certificate first (on %s: Set-ReceiveConnector -TlsCertificateName), then remove it",
		strings.ToUpper(thumbprint), member, member)
}
