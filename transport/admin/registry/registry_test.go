package registry

import (
	"strings"
	"testing"
)

// Every declaration is whole: nouns, verbs and cmdlets are unique, the
// parameters named as positional or as carrying the identity are declared,
// no parameter is declared twice or shadows a common one, and every
// command has a synopsis and something to run. A new command or parameter
// is one declaration; this is what keeps it one.
func TestDeclarationsAreWhole(t *testing.T) {
	nouns := map[string]string{}
	cmdlets := map[string]string{}
	for _, k := range Kinds() {
		for _, n := range append([]string{k.Noun}, k.Aliases...) {
			if prev, dup := nouns[strings.ToLower(n)]; dup {
				t.Errorf("noun %s of %s is also %s's", n, k.Noun, prev)
			}
			nouns[strings.ToLower(n)] = k.Noun
		}
		if k.What == "" || len(k.Commands) == 0 {
			t.Errorf("%s: no help line or no commands", k.Noun)
		}
		verbs := map[string]bool{}
		for _, c := range k.Commands {
			where := k.Noun + " " + c.Verb
			for _, v := range append([]string{c.Verb}, c.VerbAliases...) {
				if verbs[v] {
					t.Errorf("%s: verb %s twice", where, v)
				}
				verbs[v] = true
			}
			for _, n := range append([]string{c.Cmdlet}, c.CmdletAliases...) {
				if prev, dup := cmdlets[strings.ToLower(n)]; dup || n == "" {
					t.Errorf("%s: cmdlet %q is also %s's", where, n, prev)
				}
				cmdlets[strings.ToLower(n)] = where
			}
			if c.Synopsis == "" || c.Run == nil {
				t.Errorf("%s: no synopsis or nothing to run", where)
			}
			seen := map[string]bool{}
			for _, p := range c.Params {
				if seen[strings.ToLower(p.Name)] || IsCommon(p.Name) {
					t.Errorf("%s: parameter -%s declared twice or shadows a common parameter", where, p.Name)
				}
				seen[strings.ToLower(p.Name)] = true
				if p.Help == "" {
					t.Errorf("%s: parameter -%s has no help", where, p.Name)
				}
			}
			for _, p := range append(append([]string{}, c.Positional...), c.IdentityParams...) {
				if !seen[strings.ToLower(p)] {
					t.Errorf("%s: -%s is positional or an identity but not declared", where, p)
				}
			}
			if c.Print != "" && !c.Records {
				t.Errorf("%s: prints a property of records it does not return", where)
			}
		}
	}
}
