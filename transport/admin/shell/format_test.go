package shell

import (
	"flag"
	"os"
	"path/filepath"
	"strings"
	"testing"

	"github.com/transportd/transportd/transport/admin/manage"
)

var update = flag.Bool("update", false, "rewrite the golden files in testdata/")

func golden(t *testing.T, name, got string) {
	t.Helper()
	path := filepath.Join("testdata", name+".golden")
	if *update {
		if err := os.WriteFile(path, []byte(got), 0o644); err != nil {
			t.Fatal(err)
		}
		return
	}
	want, err := os.ReadFile(path)
	if err != nil {
		t.Fatalf("%v (run go test -update to create it)", err)
	}
	if got != string(want) {
		t.Errorf("%s differs from %s:\n--- got\n%s--- want\n%s", name, path, got, want)
	}
}

func TestGoldenFormats(t *testing.T) {
	sh := New(newConfig(t), nil)
	runOK(t, sh, `New-AcceptedDomain -Name fabrikam -DomainName fabrikam.com -DomainType InternalRelay`)
	for _, tt := range []struct{ name, src string }{
		{"format-list-name-fqdn", `Get-ReceiveConnector -Identity "Client Frontend*" | Format-List Name,Fqdn`},
		{"format-list-all", `Get-ReceiveConnector "Default Frontend*" | Format-List`},
		{"format-table-default", `Get-ReceiveConnector`},
		{"format-table-columns", `Get-ReceiveConnector | Format-Table Name,PermissionGroups,AuthMechanism,MaxMessageSize`},
		{"format-table-domains", `Get-AcceptedDomain`},
		{"format-list-wildcard", `Get-ReceiveConnector "Client*" | fl Max*`},
		{"select-sort", `Get-ReceiveConnector | Sort-Object Name -Descending | Select-Object Name,Bindings`},
		{"measure", `Get-ReceiveConnector | Measure-Object -Property MaxRecipientsPerMessage -Sum -Maximum`},
		{"json", `Get-AcceptedDomain | Select-Object Name,DomainName,Default | ConvertTo-Json`},
	} {
		t.Run(tt.name, func(t *testing.T) { golden(t, tt.name, runOK(t, sh, tt.src)) })
	}
}

// The shell's Format-List and Format-Table print exactly what the
// noun-verb commands print.
func TestFormatAlignment(t *testing.T) {
	recs := []manage.Record{
		{{Name: "Name", Value: "a"}, {Name: "MaxMessageSize", Value: "36 MB (37,748,736 bytes)"}},
		{{Name: "Name", Value: "longer name"}, {Name: "MaxMessageSize", Value: ""}},
	}
	var l, tb strings.Builder
	FormatList(&l, recs)
	FormatTable(&tb, recs, []string{"Name", "MaxMessageSize"})
	wantList := "Name           : a\nMaxMessageSize : 36 MB (37,748,736 bytes)\n\nName           : longer name\nMaxMessageSize : \n"
	wantTable := "Name        MaxMessageSize\n----        --------------\na           36 MB (37,748,736 bytes)\nlonger name\n"
	if l.String() != wantList {
		t.Errorf("list:\n%q\nwant\n%q", l.String(), wantList)
	}
	if tb.String() != wantTable {
		t.Errorf("table:\n%q\nwant\n%q", tb.String(), wantTable)
	}
}
