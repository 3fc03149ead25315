package msgauth

import (
	"testing"

	"github.com/emersion/go-msgauth/dmarc"
)

// RFC 7489 section 3.1: relaxed alignment compares organizational domains,
// strict the exact domain.
func TestAligned(t *testing.T) {
	for _, tc := range []struct {
		id, from string
		mode     dmarc.AlignmentMode
		want     bool
	}{
		{"contoso.com", "contoso.com", dmarc.AlignmentStrict, true},
		{"mail.contoso.com", "contoso.com", dmarc.AlignmentRelaxed, true},
		{"mail.contoso.com", "contoso.com", dmarc.AlignmentStrict, false},
		{"contoso.co.uk", "news.contoso.co.uk", "", true}, // default relaxed; co.uk is a public suffix
		{"fabrikam.co.uk", "contoso.co.uk", dmarc.AlignmentRelaxed, false},
		{"", "contoso.com", dmarc.AlignmentRelaxed, false},
		{"evilcontoso.com", "contoso.com", dmarc.AlignmentRelaxed, false},
	} {
		if got := aligned(tc.id, tc.from, tc.mode); got != tc.want {
			t.Errorf("aligned(%q, %q, %q) = %v, want %v", tc.id, tc.from, tc.mode, got, tc.want)
		}
	}
}
