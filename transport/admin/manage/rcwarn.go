package manage

import (
	"github.com/transportd/transportd/connector"
)

// This file holds the warnings of New-/Set-ReceiveConnector about
// parameters that are accepted and stored but have no meaning on Linux
// (OrarEnabled, EnableAuthGSSAPI, ...), each in one line that says why,
// and about settings that are stored but partly without effect
// (AuthMechanism Integrated, BinaryMimeEnabled without ChunkingEnabled).

// takeInertConnectorParams warns once per inert parameter in ps. (The
// common parameter -DomainController is dropped before this, by the shell
// and the command line.)
func (m *Manager) takeInertConnectorParams(ps *Params) {
	names := FieldNames(&connector.ReceiveConnector{})
	for _, p := range *ps {
		name, err := ResolveName(names, p.Name)
		if err != nil {
			continue // applyParams reports it
		}
		if w := connector.InertWarning(name); w != "" {
			m.warn("%s", w)
		}
	}
}

// connectorWarningParams are the parameters whose change makes the
// settings' own warnings (connector.ReceiveConnector.Warnings) worth saying.
var connectorWarningParams = []string{"AuthMechanism", "ChunkingEnabled", "BinaryMimeEnabled"}

// warnConnectorSettings says the warnings of the changed connectors when
// ps touches one of connectorWarningParams (always for a new connector).
func (m *Manager) warnConnectorSettings(ps Params, isNew bool, rcs ...*connector.ReceiveConnector) {
	if !isNew {
		names := FieldNames(&connector.ReceiveConnector{})
		touched := false
		for _, p := range ps {
			if name, err := ResolveName(names, p.Name); err == nil && contains(connectorWarningParams, name) {
				touched = true
			}
		}
		if !touched {
			return
		}
	}
	for _, rc := range rcs {
		for _, w := range rc.Warnings() {
			m.warn("%s", w)
		}
	}
}
