// Command transportd is the transportd mail transfer agent: the daemon
// (`transportd` or `transportd run`) and its management commands
// (`transportd connector get`, `transportd cert new`, ...).
package main

import (
	"bufio"
	"context"
	"errors"
	"fmt"
	"io"
	"log/slog"
	"os"
	"os/signal"
	"path/filepath"
	"runtime/debug"
	"runtime/pprof"
	"slices"
	"strings"
	"sync"
	"syscall"

	"github.com/coreos/go-systemd/v22/daemon"

	"github.com/transportd/transportd/transport/admin/config"
	"github.com/transportd/transportd/transport/admin/manage"
	"github.com/transportd/transportd/transport/service"
)

func main() {
	// Linked as sendmail (transportd install-sendmail), the binary is the
	// sendmail command: every argument is sendmail's.
	os.Exit(runAs(os.Args, os.Stdin, os.Stdout, os.Stderr))
}

// runAs runs the binary called as argv[0]: as sendmail when linked under
// that name, else as transportd.
func runAs(argv []string, stdin io.Reader, stdout, stderr io.Writer) int {
	if filepath.Base(argv[0]) == "sendmail" {
		return runSendmail(config.DefaultPath(), argv[1:], stdin, stdout, stderr)
	}
	return run(argv[1:], stdin, stdout, stderr)
}

// run executes one command line and returns the exit code.
func run(args []string, stdin io.Reader, stdout, stderr io.Writer) int {
	cfgPath, args, err := takeConfig(args)
	if err != nil {
		fmt.Fprintln(stderr, "transportd:", err)
		return 2
	}
	if len(args) == 0 || strings.EqualFold(args[0], "run") {
		if len(args) > 1 {
			if isHelpFlag(args[1]) {
				_ = printHelp(stdout, args[:1])
				return 0
			}
			fmt.Fprintf(stderr, "transportd run: unexpected %q: the daemon takes only -config PATH\n", args[1])
			return 2
		}
		return runDaemon(cfgPath, stderr)
	}
	if isHelpFlag(args[0]) || strings.EqualFold(args[0], "help") {
		// transportd help [NOUN [VERB]]
		if err := printHelp(stdout, args[1:]); err != nil {
			fmt.Fprintln(stderr, "transportd help:", err)
			return 2
		}
		return 0
	}
	if strings.HasPrefix(args[0], "-") {
		opt := strings.SplitN(args[0], "=", 2)[0]
		hint := ""
		if s := manage.Closest([]string{"-config"}, strings.TrimPrefix(opt, "-")); s != "" || strings.Contains(strings.ToLower(opt), "conf") {
			hint = "; did you mean -config PATH?"
		}
		fmt.Fprintf(stderr, "transportd: unknown option %s%s (before the command, transportd takes only -config PATH; transportd help lists the commands)\n", opt, hint)
		return 2
	}
	if strings.EqualFold(args[0], "shell") {
		return runShell(cfgPath, args[1:], stdin, stdout, stderr)
	}
	if strings.EqualFold(args[0], "sendmail") {
		return runSendmail(cfgPath, args[1:], stdin, stdout, stderr)
	}
	if strings.EqualFold(args[0], "install-sendmail") {
		return runInstallSendmail(args[1:], stdout, stderr)
	}
	if strings.EqualFold(args[0], "install") {
		return runInstall(cfgPath, args[1:], stdout, stderr)
	}
	spec, found := findNoun(args[0])
	if !found {
		fmt.Fprintln(stderr, "transportd:", unknownCommand(args[0]))
		return 1
	}
	for _, a := range args[1:] {
		if isHelpFlag(a) {
			topic := args[:1]
			if !strings.HasPrefix(args[1], "-") {
				topic = args[:2]
			}
			if err := printHelp(stdout, topic); err != nil {
				fmt.Fprintf(stderr, "transportd %s: %v\n", spec.name, err)
				return 2
			}
			return 0
		}
	}
	if len(args) < 2 {
		fmt.Fprintf(stderr, "transportd %s: which action? (%s; transportd %s -h explains them)\n", spec.name, strings.Join(spec.verbNames(), ", "), spec.name)
		return 2
	}
	verb, ok := spec.verb(args[1])
	if !ok {
		fmt.Fprintf(stderr, "transportd %s: %v\n", spec.name, unknownVerb(spec, args[1]))
		return 1
	}
	noun := strings.ToLower(args[0])
	params, err := parseParamsFor(args[2:], func(name string) bool {
		n, err := manage.ResolveName(verb.cmd.ParamNames(), name)
		p, _ := verb.cmd.Param(n)
		return err == nil && p.Switch
	})
	if err != nil {
		fmt.Fprintln(stderr, "transportd:", err)
		return 2
	}
	m := &manage.Manager{ConfigPath: cfgPath, Warn: func(msg string) { fmt.Fprintln(stderr, "WARNING: "+msg) }}
	readPw := func() (string, error) { return readPassword(stdin) }
	out := io.Writer(stdout)
	if verb.cmd.Records {
		if out, err = takeView(&params, stdout); err != nil {
			fmt.Fprintf(stderr, "transportd %s %s: %v\n", noun, verb.name, err)
			return 2
		}
	}
	fail := func(err error) int {
		fmt.Fprintf(stderr, "transportd %s %s: %v\n", noun, verb.name, err)
		return 1
	}
	piped := verb.cmd.Pipe && !verb.cmd.Records && !hasIdentity(params)
	req, err := request(spec, verb, params)
	if err != nil {
		return fail(err)
	}
	if piped && len(req.Identities) == 0 {
		// set, remove, retry, ... without -Identity: the objects of a JSON
		// pipe (transportd connector get -format json | transportd connector set ...).
		if req.Identities, err = pipedIdentities(stdin); err != nil {
			return fail(err)
		}
		req.FromPipe = len(req.Identities) > 0
	}
	ctx, cancel := signal.NotifyContext(context.Background(), os.Interrupt)
	defer cancel()
	if err := execute(ctx, m, spec, verb, req, readPw, out); err != nil {
		return fail(err)
	}
	return 0
}

// takeConfig removes -config PATH (or -config=PATH) from args.
func takeConfig(args []string) (string, []string, error) {
	path := config.DefaultPath()
	var rest []string
	for i := 0; i < len(args); i++ {
		a := args[i]
		low := strings.ToLower(a)
		switch {
		case low == "-config" || low == "--config":
			if i+1 >= len(args) {
				return "", nil, errors.New("-config needs a file path")
			}
			path = args[i+1]
			i++
		case strings.HasPrefix(low, "-config=") || strings.HasPrefix(low, "--config="):
			path = a[strings.IndexByte(a, '=')+1:]
		default:
			rest = append(rest, a)
		}
	}
	return path, rest, nil
}

// parseParams reads "-Name value" pairs and "-Switch" flags. A first bare
// value is the positional -Identity, as in PowerShell.
func parseParams(args []string) (manage.Params, error) { return parseParamsFor(args, nil) }

// parseParamsFor is parseParams for a command whose switches isSwitch
// knows: a switch takes the next word only when it is $true or $false, so
// that in `connector get -ClientSettings "Client*"` the bare word is the
// identity.
func parseParamsFor(args []string, isSwitch func(name string) bool) (manage.Params, error) {
	var ps manage.Params
	for i := 0; i < len(args); i++ {
		a := args[i]
		// Knowing the switches, a bare value anywhere is the positional
		// one, as in PowerShell; without, only the first word.
		positional := isSwitch != nil && !slices.ContainsFunc(ps, func(p manage.Param) bool { return p.Name == "Identity" })
		if !strings.HasPrefix(a, "-") || len(a) == 1 || isNumber(a) {
			if i == 0 || positional {
				ps = append(ps, manage.Param{Name: "Identity", Value: a})
				continue
			}
			return nil, fmt.Errorf("unexpected value %q: values follow a -Parameter", a)
		}
		name := strings.TrimLeft(a, "-")
		if n, v, ok := strings.Cut(name, ":"); ok { // PowerShell's -Enabled:$false
			ps = append(ps, manage.Param{Name: n, Value: v})
			continue
		}
		if isSwitch != nil && isSwitch(name) && i+1 < len(args) {
			if _, err := manage.ParseBool(args[i+1]); err != nil {
				ps = append(ps, manage.Param{Name: name, Switch: true})
				continue
			}
		}
		if i+1 < len(args) && (!strings.HasPrefix(args[i+1], "-") || args[i+1] == "-" || isNumber(args[i+1])) {
			ps = append(ps, manage.Param{Name: name, Value: args[i+1]})
			i++
			continue
		}
		ps = append(ps, manage.Param{Name: name, Switch: true})
	}
	return ps, nil
}

// hasIdentity reports whether the command names its objects itself.
func hasIdentity(ps manage.Params) bool {
	for _, p := range ps {
		if strings.EqualFold(p.Name, "Identity") || strings.EqualFold(p.Name, "Thumbprint") {
			return true
		}
		if p.Value == "-" { // standard input carries a password
			return true
		}
	}
	return false
}

func isNumber(s string) bool {
	if len(s) < 2 || s[0] != '-' {
		return false
	}
	for _, r := range s[1:] {
		if r < '0' || r > '9' {
			return false
		}
	}
	return true
}

func readPassword(r io.Reader) (string, error) {
	line, err := bufio.NewReader(r).ReadString('\n')
	if err != nil && !errors.Is(err, io.EOF) {
		return "", err
	}
	line = strings.TrimRight(line, "\r\n")
	if line == "" {
		return "", errors.New("no password on standard input")
	}
	return line, nil
}

func runDaemon(cfgPath string, stderr io.Writer) int {
	// Info holds what needs an admin's attention and what changed; every
	// message's life is in message tracking, and TRANSPORTD_LOG_LEVEL=debug
	// adds a line per message queued and delivered.
	level := slog.LevelInfo
	if v := os.Getenv("TRANSPORTD_LOG_LEVEL"); v != "" {
		if err := level.UnmarshalText([]byte(v)); err != nil {
			fmt.Fprintf(stderr, "transportd: TRANSPORTD_LOG_LEVEL=%q: use debug, info, warn or error\n", v)
			return 2
		}
	}
	log := slog.New(slog.NewTextHandler(stderr, &slog.HandlerOptions{Level: level}))
	// A mail server's live heap is small (envelopes, not bodies): trade a
	// little memory for less garbage collection, unless GOGC says otherwise.
	if os.Getenv("GOGC") == "" {
		debug.SetGCPercent(400)
	}
	if os.Getenv("GOMEMLIMIT") == "" {
		debug.SetMemoryLimit(1 << 30) // collect harder rather than grow past 1 GiB
	}
	// TRANSPORTD_CPUPROFILE=file writes a CPU profile until the daemon
	// stops (for `go tool pprof`), as used when measuring throughput.
	if p := os.Getenv("TRANSPORTD_CPUPROFILE"); p != "" {
		if f, err := os.Create(p); err == nil {
			if err := pprof.StartCPUProfile(f); err == nil {
				defer func() { pprof.StopCPUProfile(); f.Close() }()
			}
		}
	}
	ctx, cancel := signal.NotifyContext(context.Background(), os.Interrupt, syscall.SIGTERM)
	defer cancel()
	svc, err := service.Open(ctx, cfgPath, log)
	if err != nil {
		log.Error("transportd cannot start", "config", cfgPath, "err", err)
		return 1
	}
	svc.SubmitSocketPath = submitSocketFromEnv()
	notify := newSystemdNotifier(log)
	svc.OnReload = func(int, error) { notify.state("READY=1") }
	hup := make(chan os.Signal, 1)
	signal.Notify(hup, syscall.SIGHUP)
	defer signal.Stop(hup)
	var wg sync.WaitGroup
	defer wg.Wait()
	loopCtx, stopLoops := context.WithCancel(ctx)
	defer stopLoops()
	wg.Add(2)
	go func() {
		defer wg.Done()
		for {
			select {
			case <-loopCtx.Done():
				return
			case <-hup:
				// systemd's Type=notify reload protocol: RELOADING=1 now,
				// READY=1 when the reload is done (OnReload).
				notify.state("RELOADING=1\nMONOTONIC_USEC=" + daemon.SdNotifyMonotonicUsec())
				svc.RequestReload()
			}
		}
	}()
	go func() {
		defer wg.Done()
		notify.watchdog(loopCtx, svc.Healthy)
	}()
	log.Info("transportd running", "config", svc.Config().Path(), "data", svc.Config().DataDir())
	notify.state("READY=1\nSTATUS=accepting mail")
	err = svc.Run(ctx)
	notify.state("STOPPING=1")
	stopLoops()
	if err != nil {
		log.Error("transportd stopped", "err", err)
		return 1
	}
	log.Info("transportd stopped")
	return 0
}
