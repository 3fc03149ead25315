package shell

import (
	"embed"
	"fmt"
	"io/fs"
	"path"
	"slices"
	"strings"

	"github.com/transportd/transportd/transport/admin/manage"
)

// examples holds the example corpus: for a cmdlet, Microsoft's documented
// examples that run here (testdata/examples/<Cmdlet-Name>.ps1, which a test
// runs against a live daemon). Get-Help -Examples shows them, so what it
// shows is known to work.
//
//go:embed testdata/examples
var examples embed.FS

// HelpOptions selects Get-Help's view.
type HelpOptions struct {
	// Parameter, when set, shows only the parameters it matches (wildcards allowed).
	Parameter string
	// Full and Detailed show the parameters in detail and the examples.
	Full, Detailed bool
	// Examples shows only the examples.
	Examples bool
}

// HelpWith is Get-Help with its switches: the summary (synopsis, syntax,
// each parameter with its description), -Parameter X, -Examples, or
// -Detailed/-Full (parameters in detail, then the examples).
func HelpWith(name string, o HelpOptions) (string, error) {
	if name == "" {
		return helpSummary("", "")
	}
	cl, err := lookupCmdlet(name)
	if err != nil {
		return "", err
	}
	switch {
	case o.Parameter != "" && strings.ContainsAny(o.Parameter, "*?"):
		var sb strings.Builder
		for _, p := range append(slices.Clone(cl.params), commonParams()...) {
			if manage.MatchIdentity(o.Parameter, p.name) {
				writeParamDetail(&sb, cl, p)
			}
		}
		if sb.Len() == 0 {
			return "", fmt.Errorf("%s has no parameter matching -%s", cl.name, o.Parameter)
		}
		return sb.String(), nil
	case o.Parameter != "":
		n, err := manage.ResolveName(cl.paramNames(), o.Parameter)
		if err != nil {
			return "", err
		}
		var sb strings.Builder
		writeParamDetail(&sb, cl, cl.param(n))
		return sb.String(), nil
	case o.Examples:
		return fmt.Sprintf("NAME\n    %s\n\nSYNOPSIS\n    %s\n\n%s", cl.name, cl.synopsis, examplesText(cl.name)), nil
	case o.Full || o.Detailed:
		summary, err := helpSummary(cl.name, "")
		if err != nil {
			return "", err
		}
		head, _, _ := strings.Cut(summary, "\nPARAMETERS\n")
		var sb strings.Builder
		sb.WriteString(head)
		sb.WriteString("\nPARAMETERS\n")
		for _, p := range cl.params {
			writeParamDetail(&sb, cl, p)
		}
		if o.Full {
			sb.WriteString("    <CommonParameters>\n        -Confirm, -Verbose, -ErrorAction and -WarningAction are accepted and ignored; -DomainController is accepted with a warning (there is no Active Directory).\n\n")
		}
		sb.WriteString(examplesText(cl.name))
		return sb.String(), nil
	}
	return helpSummary(cl.name, "")
}

// writeParamDetail writes one parameter as Get-Help -Full does.
func writeParamDetail(sb *strings.Builder, cl *cmdlet, p paramSpec) {
	fmt.Fprintf(sb, "    -%s%s\n        %s\n\n", p.name, paramSyntax(p), p.help)
	pos := "named"
	if i := slices.IndexFunc(cl.positional, func(s string) bool { return strings.EqualFold(s, p.name) }); i >= 0 {
		pos = fmt.Sprint(i + 1)
	}
	fmt.Fprintf(sb, "        Position?                    %s\n", pos)
	if p.multi {
		sb.WriteString("        Multiple values?             a,b or @{Add=\"x\"; Remove=\"y\"}\n")
	}
	if p.isSwitch {
		sb.WriteString("        Switch?                      true\n")
	}
	sb.WriteString("\n")
}

// Example is one example of the corpus: its title and its script.
type Example struct {
	Title  string
	Expect string
	// Stdin are the lines the example reads (Read-Host, Get-Credential),
	// from "# Stdin: line" lines after "# Expect:".
	Stdin  []string
	Script string
}

// Examples returns the corpus examples for a cmdlet (without the setup
// ones), as Get-Help -Examples shows them.
func Examples(cmdlet string) []Example {
	b, err := fs.ReadFile(examples, path.Join("testdata/examples", cmdlet+".ps1"))
	if err != nil {
		return nil
	}
	var out []Example
	for _, ex := range ParseExamples(string(b)) {
		if !strings.EqualFold(ex.Title, "setup") {
			out = append(out, ex)
		}
	}
	return out
}

// ParseExamples splits a corpus file into its examples: each starts at a
// "# Example: TITLE" line, may have a "# Expect: ..." line, and runs to
// the next example. "# Stdin: line" lines after "# Expect:" give the lines
// it reads.
func ParseExamples(src string) []Example {
	var out []Example
	for _, line := range strings.SplitAfter(src, "\n") {
		trimmed := strings.TrimSpace(line)
		if t, ok := strings.CutPrefix(trimmed, "# Example:"); ok {
			out = append(out, Example{Title: strings.TrimSpace(t)})
			continue
		}
		if len(out) == 0 {
			continue
		}
		ex := &out[len(out)-1]
		if e, ok := strings.CutPrefix(trimmed, "# Expect:"); ok && ex.Script == "" {
			ex.Expect = strings.TrimSpace(e)
			continue
		}
		if in, ok := strings.CutPrefix(strings.TrimRight(line, "\r\n"), "# Stdin: "); ok && ex.Script == "" {
			ex.Stdin = append(ex.Stdin, in)
			continue
		}
		ex.Script += line
	}
	for i := range out {
		out[i].Script = strings.TrimSpace(out[i].Script)
	}
	return out
}

func examplesText(cmdlet string) string {
	exs := Examples(cmdlet)
	var sb strings.Builder
	sb.WriteString("EXAMPLES\n")
	if len(exs) == 0 {
		sb.WriteString("    None recorded here yet.\n")
		return sb.String()
	}
	for _, ex := range exs {
		fmt.Fprintf(&sb, "    -------------------------- Example %s --------------------------\n\n", strings.TrimSpace(strings.TrimPrefix(ex.Title, cmdlet)))
		for _, l := range strings.Split(ex.Script, "\n") {
			fmt.Fprintf(&sb, "    %s\n", l)
		}
		sb.WriteString("\n")
	}
	return sb.String()
}

// commandMatches applies Get-Command's -Name, -Noun and -Verb.
func commandMatches(c *call, name string) bool {
	verb, noun, _ := strings.Cut(name, "-")
	for _, f := range []struct{ param, what string }{{"Name", name}, {"Noun", noun}, {"Verb", verb}} {
		v, ok := c.params[f.param]
		if !ok {
			continue
		}
		hit := false
		for _, pat := range flatten(v) {
			hit = hit || manage.MatchIdentity(toString(pat), f.what)
		}
		if !hit {
			return false
		}
	}
	return true
}
