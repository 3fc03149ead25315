package shell

import (
	"sort"
	"strings"
)

// Complete completes the word before pos in line: a cmdlet name at the
// start of a command, a -Parameter of the command being typed otherwise.
// It returns the text before the word, the candidates (each a whole
// replacement for the word) and the text after pos, as line editors want.
func Complete(line string, pos int) (head string, completions []string, tail string) {
	if pos < 0 || pos > len(line) {
		pos = len(line)
	}
	before, tail := line[:pos], line[pos:]
	start := strings.LastIndexAny(before, " \t|;({") + 1
	word := before[start:]
	head = before[:start]
	seg := before[strings.LastIndexAny(before, "|;({")+1:]
	fields := strings.Fields(seg)
	atCommand := len(fields) == 0 || (len(fields) == 1 && !strings.HasSuffix(seg, " ") && !strings.HasSuffix(seg, "\t"))
	var cands []string
	switch {
	case strings.HasPrefix(word, "-") && len(fields) > 0:
		for _, p := range ParamNames(fields[0]) {
			if strings.HasPrefix(strings.ToLower(p), strings.ToLower(word[1:])) {
				cands = append(cands, "-"+p)
			}
		}
	case atCommand && !strings.HasPrefix(word, "$"):
		for _, n := range CmdletNames() {
			if strings.HasPrefix(strings.ToLower(n), strings.ToLower(word)) {
				cands = append(cands, n)
			}
		}
	}
	sort.Strings(cands)
	return head, cands, tail
}

// Incomplete reports whether err says the script stopped in the middle of
// a string, block or parenthesis, so that an interactive shell should read
// another line.
func Incomplete(err error) bool {
	se, ok := err.(*SyntaxError)
	if !ok {
		return false
	}
	for _, s := range []string{"not terminated", "missing ')'", "missing '}'", "is not closed", "expected a cmdlet after '|'"} {
		if strings.Contains(se.Msg, s) {
			return true
		}
	}
	return false
}
