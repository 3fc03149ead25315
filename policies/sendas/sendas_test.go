package sendas

import (
	"strings"
	"testing"
)

// alice owns alice@contoso.com and al@contoso.com and was granted Send As
// on shared@contoso.com.
func aliceMay(a string) bool {
	switch strings.ToLower(a) {
	case "alice@contoso.com", "al@contoso.com", "shared@contoso.com":
		return true
	}
	return false
}

func TestCheckHeader(t *testing.T) {
	for _, tc := range []struct {
		name, header string
		refused      string // "" accepted, else a part of the reason
	}{
		{"own address", "From: Alice <alice@contoso.com>\r\nTo: x@example.net\r\n\r\nbody", ""},
		{"own address, case", "From: ALICE@Contoso.COM\r\n\r\n", ""},
		{"proxy address", "From: al@contoso.com\r\n\r\n", ""},
		{"granted address", "From: Shared <shared@contoso.com>\r\nSender: alice@contoso.com\r\n\r\n", ""},
		{"comment", "From: alice@contoso.com (Alice Smith)\r\n\r\n", ""},
		{"folded", "From: \"Alice\r\n Smith\"\r\n <alice@contoso.com>\r\n\r\n", ""},
		{"encoded word", "From: =?utf-8?q?Al=C3=AFce?= <alice@contoso.com>\r\n\r\n", ""},
		{"no From", "Subject: hi\r\n\r\n", ""},
		{"no header, body only", "\r\nbody\r\n", ""},
		{"header only, no body", "From: alice@contoso.com\r\n", ""},
		{"several own in From with Sender", "From: alice@contoso.com, al@contoso.com\r\nSender: alice@contoso.com\r\n\r\n", ""},
		{"group of own", "From: team: alice@contoso.com, al@contoso.com;\r\nSender: alice@contoso.com\r\n\r\n", ""},

		{"other user", "From: bob@contoso.com\r\n\r\n", "header From:"},
		{"foreign", "From: CEO <ceo@microsoft.com>\r\n\r\n", "ceo@microsoft.com"},
		{"lower-case key", "from: bob@contoso.com\r\n\r\n", "header From:"},
		{"space before colon", "From : bob@contoso.com\r\n\r\n", "header From:"},
		{"Sender forged", "From: alice@contoso.com\r\nSender: bob@contoso.com\r\n\r\n", "header Sender:"},
		{"two From lines", "From: alice@contoso.com\r\nFrom: bob@contoso.com\r\n\r\n", "2 From: header fields"},
		{"two From lines, both own", "From: alice@contoso.com\r\nFrom: al@contoso.com\r\n\r\n", "2 From: header fields"},
		{"two Sender lines", "From: alice@contoso.com\r\nSender: alice@contoso.com\r\nSender: bob@contoso.com\r\n\r\n", "2 Sender: header fields"},
		{"second address forged", "From: alice@contoso.com, bob@contoso.com\r\nSender: alice@contoso.com\r\n\r\n", "bob@contoso.com"},
		{"several without Sender", "From: alice@contoso.com, al@contoso.com\r\n\r\n", "no Sender:"},
		{"Sender with two", "From: alice@contoso.com\r\nSender: alice@contoso.com, al@contoso.com\r\n\r\n", "Sender: holds 2"},
		{"group hides forgery", "From: team: alice@contoso.com, bob@contoso.com;\r\nSender: alice@contoso.com\r\n\r\n", "bob@contoso.com"},
		{"empty group", "From: undisclosed:;\r\n\r\n", "no address"},
		{"empty From", "From: \r\n\r\n", "no address"},
		{"folded forgery", "From: Alice\r\n <bob@contoso.com>\r\n\r\n", "bob@contoso.com"},
		{"encoded word address", "From: =?utf-8?q?bob=40contoso=2Ecom?=\r\n\r\n", "header From:"},
		{"obsolete route", "From: <@relay.example:bob@contoso.com>\r\n\r\n", "cannot be parsed"},
		{"unparsable", "From: alice@contoso.com <<bob@contoso.com>>\r\n\r\n", "cannot be parsed"},
		{"mbox From line", "From bob@contoso.com Mon Jan  1 00:00:00 2024\r\nFrom: alice@contoso.com\r\n\r\n", "header cannot be parsed"},
	} {
		t.Run(tc.name, func(t *testing.T) {
			r := CheckHeader([]byte(tc.header), "alice@contoso.com", aliceMay)
			switch {
			case tc.refused == "" && r != nil:
				t.Fatalf("refused: %v", r)
			case tc.refused != "" && r == nil:
				t.Fatalf("accepted, want a refusal with %q", tc.refused)
			case r != nil && (r.Code != 550 || r.Enhanced != [3]int{5, 7, 60} || !strings.Contains(r.Reason, tc.refused)):
				t.Fatalf("refusal %q, want 550 5.7.60 with %q", r.Error(), tc.refused)
			}
		})
	}
}

// FuzzCheckHeader: whatever the header, the check answers without
// panicking, and it never accepts a header whose From: or Sender: names
// an address alice may not use in a form go-message reads.
func FuzzCheckHeader(f *testing.F) {
	for _, s := range []string{
		"From: alice@contoso.com\r\n\r\n",
		"From: a: alice@contoso.com, bob@contoso.com;\r\nSender: alice@contoso.com\r\n\r\n",
		"From: =?utf-8?q?x?= <alice@contoso.com>\r\n\r\n",
		"From : bob@contoso.com\r\n\r\n",
		"Subject: x\r\n\tfolded\r\n\r\n",
	} {
		f.Add([]byte(s))
	}
	f.Fuzz(func(t *testing.T, header []byte) {
		var used []string
		r := CheckHeader(header, "alice@contoso.com", func(a string) bool {
			used = append(used, a)
			return aliceMay(a)
		})
		if r != nil {
			if r.Code != 550 || r.Enhanced != [3]int{5, 7, 60} || r.Reason == "" || strings.ContainsAny(r.Reason, "\r\n") {
				t.Fatalf("bad refusal %q", r.Error())
			}
			return
		}
		for _, a := range used {
			if !aliceMay(a) {
				t.Fatalf("accepted although %q was refused", a)
			}
		}
	})
}
