package cluster

import (
	"strings"
	"testing"
)

// FuzzParseToken: a join token is pasted by an admin from elsewhere; any
// text is refused or parsed, never a panic, and a parsed one has a seed,
// a 64-hex-digit pin and a secret.
func FuzzParseToken(f *testing.F) {
	f.Add(Token{Seed: "127.0.0.1:4222", Pin: strings.Repeat("ab", 32), Secret: "s"}.String())
	f.Add(Token{Seed: "127.0.0.1:4222", Pin: strings.Repeat("ab", 32), Secret: "s", Exp: 1767225600, Epoch: 2, Mac: "m"}.String())
	f.Add("TDJ1-")
	f.Add("TDJ1-e30")
	f.Add("garbage")
	f.Fuzz(func(t *testing.T, s string) {
		tok, err := ParseToken(s)
		if err != nil {
			return
		}
		if tok.Seed == "" || len(tok.Pin) != 64 || tok.Secret == "" {
			t.Fatalf("parsed an incomplete token: %+v", tok)
		}
		if back, err := ParseToken(tok.String()); err != nil || back != tok {
			t.Fatalf("round trip: %+v %v", back, err)
		}
	})
}
