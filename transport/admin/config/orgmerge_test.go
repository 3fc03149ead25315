package config

import (
	"reflect"
	"testing"

	"github.com/transportd/transportd/transport/mail/sendconnector"
)

// Two members change the organization at the same moment: changes to
// different objects (and different settings of one section) both
// survive; the same object changed differently is a conflict that keeps
// theirs; a removal on one side and no change on the other removes.
func TestMergeOrgDocs(t *testing.T) {
	base := OrgDoc{
		AcceptedDomains: []AcceptedDomain{{Name: "contoso.com", DomainName: "contoso.com"}, {Name: "old.com", DomainName: "old.com"}},
		SendConnectors:  []sendconnector.SendConnector{sendconnector.New("Smart")},
		Transport:       OrgTransport{MaxSendSize: 10, MaxReceiveSize: 10},
		Files:           map[string][]byte{"certs/A.pem": []byte("a"), "certs/B.pem": []byte("b")},
	}
	clone := func(d OrgDoc) OrgDoc {
		d.AcceptedDomains = append([]AcceptedDomain(nil), d.AcceptedDomains...)
		d.SendConnectors = append([]sendconnector.SendConnector(nil), d.SendConnectors...)
		f := map[string][]byte{}
		for k, v := range d.Files {
			f[k] = v
		}
		d.Files = f
		return d
	}
	mine, theirs := clone(base), clone(base)
	mine.AcceptedDomains = append(mine.AcceptedDomains, AcceptedDomain{Name: "mine.com", DomainName: "mine.com"})
	mine.Transport.MaxSendSize = 20
	delete(mine.Files, "certs/A.pem")
	theirs.AcceptedDomains = append(theirs.AcceptedDomains[:1], AcceptedDomain{Name: "theirs.com", DomainName: "theirs.com"})
	theirs.Transport.MaxReceiveSize = 30
	theirs.Files["certs/C.pem"] = []byte("c")
	got, conflicts := MergeOrgDocs(&base, mine, theirs)
	if len(conflicts) != 0 {
		t.Fatalf("conflicts on different objects: %v", conflicts)
	}
	var names []string
	for _, d := range got.AcceptedDomains {
		names = append(names, d.Name)
	}
	if !reflect.DeepEqual(names, []string{"contoso.com", "theirs.com", "mine.com"}) {
		t.Errorf("accepted domains: %v (old.com removed by theirs, both additions kept)", names)
	}
	if got.Transport.MaxSendSize != 20 || got.Transport.MaxReceiveSize != 30 {
		t.Errorf("transport config: %+v", got.Transport)
	}
	if _, ok := got.Files["certs/A.pem"]; ok || string(got.Files["certs/C.pem"]) != "c" || string(got.Files["certs/B.pem"]) != "b" {
		t.Errorf("files: %v", got.Files)
	}
	if len(got.SendConnectors) != 1 {
		t.Errorf("send connectors: %v", got.SendConnectors)
	}

	// The same object, both ways: theirs wins, and the conflict is named.
	mine, theirs = clone(base), clone(base)
	mine.SendConnectors[0].MaxMessageSize, theirs.SendConnectors[0].MaxMessageSize = 1, 2
	mine.Transport.MaxSendSize, theirs.Transport.MaxSendSize = 1, 2
	got, conflicts = MergeOrgDocs(&base, mine, theirs)
	if !reflect.DeepEqual(conflicts, []string{"send connector Smart", "transport config MaxSendSize"}) {
		t.Errorf("conflicts: %v", conflicts)
	}
	if got.Hash() != theirs.Hash() {
		t.Errorf("a conflict does not keep theirs")
	}
	// Removed on one side, changed on the other: a conflict too.
	mine, theirs = clone(base), clone(base)
	mine.SendConnectors = nil
	theirs.SendConnectors[0].MaxMessageSize = 5
	if _, conflicts = MergeOrgDocs(&base, mine, theirs); len(conflicts) != 1 {
		t.Errorf("removed here, changed there: %v", conflicts)
	}
	// Without a base, theirs, with the files only mine has.
	got, _ = MergeOrgDocs(nil, mine, OrgDoc{Files: map[string][]byte{}})
	if len(got.Files) != 2 || len(got.AcceptedDomains) != 0 {
		t.Errorf("no base: %+v", got)
	}
}
