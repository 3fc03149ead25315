package registry

import (
	"strings"
	"testing"
)

// Every command that changes something takes -WhatIf and no other does;
// -Server is on the cmdlets that have it in Exchange, and a command that
// declares its own -Server (Test-SmtpConnectivity's host:port) keeps it.
func TestSharedParameters(t *testing.T) {
	for _, k := range Kinds() {
		for _, c := range k.Commands {
			_, whatIf := c.declared("WhatIf")
			if c.Changes() != whatIf {
				t.Errorf("%s: changes %v, -WhatIf %v", c.Cmdlet, c.Changes(), whatIf)
			}
			if strings.HasPrefix(c.Cmdlet, "Get-") && c.Changes() {
				t.Errorf("%s counts as changing", c.Cmdlet)
			}
			_, server := c.declared("Server")
			inList := containsFold(serverCmdlets, c.Cmdlet)
			if (inList && !server) || (c.sharedServer && !inList) {
				t.Errorf("%s: -Server declared %v, Exchange has it %v", c.Cmdlet, server, inList)
			}
		}
	}
	_, test, _ := FindCmdlet("Test-SmtpConnectivity")
	if p, ok := test.declared("Server"); !ok || p.Help == serverHelp || test.sharedServer {
		t.Errorf("Test-SmtpConnectivity -Server is %+v", p)
	}
	_, set, _ := FindCmdlet("Set-ReceiveConnector")
	if p, ok := set.declared("RemoteIPRanges"); !ok || !p.Multi {
		t.Errorf("Set-ReceiveConnector -RemoteIPRanges is not multi-valued: %+v", p)
	}
	if p, _ := set.declared("Banner"); p.Multi {
		t.Error("-Banner is multi-valued")
	}
}
