package main

import (
	"bufio"
	"errors"
	"fmt"
	"io"
	"os"
	"path/filepath"
	"strings"

	"github.com/peterh/liner"
	"golang.org/x/term"

	"github.com/transportd/transportd/transport/admin/shell"
)

const shellUsage = `transportd shell: the Exchange Management Shell for transportd.

  transportd shell                   interactive prompt (history, line editing, Tab completes cmdlets and -Parameters)
  transportd shell -c 'SCRIPT'       run one script line, e.g. -c 'Get-ReceiveConnector | Format-List Name,Fqdn'
  transportd shell FILE.ps1          run a script file
  ... | transportd shell             run the script on standard input

Get-Help lists the cmdlets; Get-Help NAME shows a cmdlet's parameters.
`

// runShell is `transportd shell`: a script from -c, a file or standard
// input, or the interactive prompt when standard input is a terminal.
func runShell(cfgPath string, args []string, stdin io.Reader, stdout, stderr io.Writer) int {
	sh := shell.New(cfgPath, stdout)
	// One reader of standard input for -Password -, Read-Host and
	// Get-Credential, so that none of them swallows another's lines.
	in := bufio.NewReader(stdin)
	sh.ReadLine = lineReader(stdin, in, stderr)
	var script, name string
	switch {
	case len(args) == 0:
		if isTerminal(stdin) {
			return interactive(sh, stdout, stderr)
		}
		b, err := io.ReadAll(stdin)
		if err != nil {
			fmt.Fprintln(stderr, "transportd shell: reading standard input:", err)
			return 1
		}
		script, name = string(b), "standard input"
	case len(args) == 1 && (args[0] == "-h" || args[0] == "-help" || args[0] == "--help"):
		fmt.Fprint(stdout, shellUsage)
		return 0
	case len(args) == 2 && (strings.EqualFold(args[0], "-c") || strings.EqualFold(args[0], "-command")):
		script, name = args[1], "-c"
		sh.ReadPassword = func() (string, error) { return readPassword(in) }
	case len(args) == 1 && !strings.HasPrefix(args[0], "-"):
		b, err := os.ReadFile(args[0])
		if err != nil {
			fmt.Fprintln(stderr, "transportd shell:", err)
			return 1
		}
		script, name = string(b), args[0]
		sh.ReadPassword = func() (string, error) { return readPassword(in) }
	default:
		fmt.Fprint(stderr, shellUsage)
		return 2
	}
	if err := sh.Run(script); err != nil {
		printShellErrors(stderr, name, err)
		return 1
	}
	return 0
}

// printShellErrors prints each statement's error on its own line.
func printShellErrors(w io.Writer, name string, err error) {
	var multi interface{ Unwrap() []error }
	if errors.As(err, &multi) {
		for _, e := range multi.Unwrap() {
			fmt.Fprintf(w, "%s: %v\n", name, e)
		}
		return
	}
	fmt.Fprintf(w, "%s: %v\n", name, err)
}

// lineReader reads the lines Read-Host and Get-Credential ask for: on a
// terminal after showing the prompt (on standard error, so that it stays
// out of the script's output), a hidden one without echo; otherwise the
// next line of standard input, so that scripts can be fed.
func lineReader(stdin io.Reader, in *bufio.Reader, stderr io.Writer) func(prompt string, hidden bool) (string, error) {
	return func(prompt string, hidden bool) (string, error) {
		if f, ok := stdin.(*os.File); ok && term.IsTerminal(int(f.Fd())) {
			fmt.Fprint(stderr, prompt)
			if hidden {
				b, err := term.ReadPassword(int(f.Fd()))
				fmt.Fprintln(stderr)
				return string(b), err
			}
		}
		line, err := in.ReadString('\n')
		if err != nil && (!errors.Is(err, io.EOF) || line == "") {
			if errors.Is(err, io.EOF) {
				return "", errors.New("standard input has no more lines")
			}
			return "", err
		}
		return strings.TrimRight(line, "\r\n"), nil
	}
}

func isTerminal(r io.Reader) bool {
	f, ok := r.(*os.File)
	if !ok {
		return false
	}
	st, err := f.Stat()
	return err == nil && st.Mode()&os.ModeCharDevice != 0
}

// historyPath is where the interactive shell keeps its history.
func historyPath() string {
	dir, err := os.UserConfigDir()
	if err != nil {
		return ""
	}
	return filepath.Join(dir, "transportd", "shell_history")
}

// interactive runs the prompt until exit or end of input.
func interactive(sh *shell.Shell, stdout, stderr io.Writer) int {
	ln := liner.NewLiner()
	defer ln.Close()
	ln.SetCtrlCAborts(true)
	ln.SetTabCompletionStyle(liner.TabPrints)
	ln.SetWordCompleter(shell.Complete)
	sh.ReadPassword = func() (string, error) { return ln.PasswordPrompt("Password: ") }
	sh.ReadLine = func(prompt string, hidden bool) (string, error) {
		if hidden {
			return ln.PasswordPrompt(prompt)
		}
		return ln.Prompt(prompt)
	}
	hist := historyPath()
	if hist != "" {
		if f, err := os.Open(hist); err == nil {
			ln.ReadHistory(f)
			f.Close()
		}
	}
	fmt.Fprintln(stdout, "transportd shell. Get-Help lists the cmdlets; exit leaves.")
	for {
		src, err := ln.Prompt("[PS] transportd> ")
		if err != nil {
			if errors.Is(err, liner.ErrPromptAborted) {
				continue
			}
			break // end of input
		}
		for {
			_, perr := shell.Parse(src)
			if perr == nil || !shell.Incomplete(perr) {
				break
			}
			more, err := ln.Prompt(">> ")
			if err != nil {
				break
			}
			src += "\n" + more
		}
		line := strings.TrimSpace(src)
		if line == "" {
			continue
		}
		ln.AppendHistory(src)
		if strings.EqualFold(line, "exit") || strings.EqualFold(line, "quit") {
			break
		}
		if err := sh.Run(src); err != nil {
			printShellErrors(stderr, "error", err)
		}
	}
	if hist != "" {
		if err := os.MkdirAll(filepath.Dir(hist), 0o700); err == nil {
			if f, err := os.OpenFile(hist, os.O_CREATE|os.O_TRUNC|os.O_WRONLY, 0o600); err == nil {
				ln.WriteHistory(f)
				f.Close()
			}
		}
	}
	fmt.Fprintln(stdout)
	return 0
}
