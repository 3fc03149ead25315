package main

import (
	"bufio"
	"bytes"
	"context"
	"fmt"
	"net"
	"net/netip"
	"os"
	"os/exec"
	"path/filepath"
	"regexp"
	"strconv"
	"strings"
	"syscall"
	"testing"
	"time"

	"github.com/transportd/transportd/transport/admin/config"
)

// readmeBlock is one fenced code block of README.md.
type readmeBlock struct {
	lang string // sh, powershell, yaml, ...
	line int    // line of the opening fence
	text string
	skip string // why the README test does not run it ("" runs it)
}

// readmeSkip marks the block that follows as one the README test does not
// run, with the reason: <!-- readme-test: skip REASON -->.
var readmeSkip = regexp.MustCompile(`^<!-- readme-test: skip (.+) -->$`)

// readmeBlocks extracts the fenced code blocks of a Markdown file, in order.
func readmeBlocks(md string) ([]readmeBlock, error) {
	var blocks []readmeBlock
	var cur *readmeBlock
	skip := ""
	sc := bufio.NewScanner(strings.NewReader(md))
	for n := 1; sc.Scan(); n++ {
		l := sc.Text()
		switch {
		case cur == nil && strings.HasPrefix(l, "```"):
			cur = &readmeBlock{lang: strings.TrimSpace(strings.TrimPrefix(l, "```")), line: n, skip: skip}
			skip = ""
		case cur != nil && strings.TrimSpace(l) == "```":
			blocks = append(blocks, *cur)
			cur = nil
		case cur != nil:
			cur.text += l + "\n"
		case readmeSkip.MatchString(l):
			skip = readmeSkip.FindStringSubmatch(l)[1]
		case strings.TrimSpace(l) != "":
			skip = "" // a marker applies to the block right after it
		}
	}
	if cur != nil {
		return nil, fmt.Errorf("README line %d: code block never closed", cur.line)
	}
	return blocks, sc.Err()
}

// shellCommands splits a shell block into commands: continuation lines
// joined, comment-only and empty lines dropped.
func shellCommands(text string) []string {
	var cmds []string
	var cur strings.Builder
	for _, l := range strings.Split(text, "\n") {
		if cur.Len() == 0 && (strings.TrimSpace(l) == "" || strings.HasPrefix(strings.TrimSpace(l), "#")) {
			continue
		}
		if s, ok := strings.CutSuffix(l, `\`); ok {
			cur.WriteString(s)
			continue
		}
		cur.WriteString(l)
		cmds = append(cmds, cur.String())
		cur.Reset()
	}
	return cmds
}

// smtpComment is a trailing comment that says which SMTP reply a command
// gets: "# 250 2.6.0 <id> Queued", "# 550 5.7.54 Unable to relay", "# 250: ...".
var smtpComment = regexp.MustCompile(`#\s*([245]\d\d)(?:[ :]|$)(\d\.\d{1,3}\.\d{1,3})?`)

// expectation returns the SMTP reply a README command says it gets ("" when
// it says none), from its trailing comment.
func expectation(cmd string) (code, enhanced string) {
	i := strings.LastIndex(cmd, "  #")
	if i < 0 {
		return "", ""
	}
	m := smtpComment.FindStringSubmatch(cmd[i:])
	if m == nil {
		return "", ""
	}
	return m[1], m[2]
}

// TestREADMEParsing checks the extraction the README test relies on.
func TestREADMEParsing(t *testing.T) {
	md := "text\n<!-- readme-test: skip needs the moon -->\n```sh\na \\\n  b   # 550 5.7.54 nope\n# only a comment\n\nc   # 250: fine\n```\n\n```powershell\nGet-X\n```\n"
	blocks, err := readmeBlocks(md)
	if err != nil || len(blocks) != 2 || blocks[0].skip != "needs the moon" || blocks[1].skip != "" || blocks[1].lang != "powershell" {
		t.Fatalf("blocks %+v %v", blocks, err)
	}
	cmds := shellCommands(blocks[0].text)
	if len(cmds) != 2 || cmds[0] != "a   b   # 550 5.7.54 nope" {
		t.Fatalf("commands %q", cmds)
	}
	if c, e := expectation(cmds[0]); c != "550" || e != "5.7.54" {
		t.Fatalf("expectation %q %q", c, e)
	}
	if c, _ := expectation(cmds[1]); c != "250" {
		t.Fatalf("expectation %q", c)
	}
	if c, _ := expectation("transportd connector get   # table of connectors"); c != "" {
		t.Fatalf("expectation %q", c)
	}
}

// TestREADMEInOrder runs the README's shell blocks (sh, and PowerShell
// through "transportd shell") in order against a daemon started on a fresh
// default configuration, as a reader on a fresh machine would: every
// command must succeed, and a command whose comment names an SMTP reply
// must get it. Blocks marked <!-- readme-test: skip REASON --> are not run.
//
// The README's daemon runs as root on ports 25 and 587; this one runs on
// free loopback ports, and the commands are rewritten to match (0.0.0.0:25
// and --port 25/587). transportd is this test binary.
func TestREADMEInOrder(t *testing.T) {
	if testing.Short() {
		t.Skip("runs the README against a daemon")
	}
	t.Parallel() // it waits on swaks and on reloads most of the time
	md, err := os.ReadFile("../../README.md")
	if err != nil {
		t.Fatal(err)
	}
	blocks, err := readmeBlocks(string(md))
	if err != nil {
		t.Fatal(err)
	}
	if _, err := exec.LookPath("swaks"); err != nil {
		if os.Getenv("TRANSPORTD_INTEROP") == "require" {
			t.Fatal("the README uses swaks, which is missing, and TRANSPORTD_INTEROP=require: apt-get install swaks libnet-ssleay-perl libio-socket-ssl-perl")
		}
		t.Skip("the README uses swaks, which is not installed (apt-get install swaks libnet-ssleay-perl libio-socket-ssl-perl)")
	}
	if out, _ := exec.Command("swaks", "--support").CombinedOutput(); !bytes.Contains(out, []byte("=== TLS supported")) {
		if os.Getenv("TRANSPORTD_INTEROP") == "require" {
			t.Fatal("the README uses swaks --tls, and swaks lacks its TLS modules: apt-get install libnet-ssleay-perl libio-socket-ssl-perl")
		}
		t.Skip("the README uses swaks --tls, and swaks lacks its TLS modules (apt-get install libnet-ssleay-perl libio-socket-ssl-perl)")
	}

	dir := t.TempDir()
	bin := filepath.Join(dir, "bin")
	if err := os.Mkdir(bin, 0o755); err != nil {
		t.Fatal(err)
	}
	wrapper := fmt.Sprintf("#!/bin/sh\nTRANSPORTD_TEST_DAEMON=1 exec %q \"$@\"\n", os.Args[0])
	if err := os.WriteFile(filepath.Join(bin, "transportd"), []byte(wrapper), 0o755); err != nil {
		t.Fatal(err)
	}
	cfgPath := filepath.Join(dir, "etc", "transportd.yaml")
	c, err := config.Load(cfgPath) // the defaults, as a first start writes them
	if err != nil {
		t.Fatal(err)
	}
	p25, p587, pHTTP := freeLoopbackPort(t), freeLoopbackPort(t), freeLoopbackPort(t)
	for i := range c.ReceiveConnectors {
		rc := &c.ReceiveConnectors[i]
		port := p25
		if rc.Bindings[0].Port() == 587 {
			port = p587
		}
		rc.Bindings = []netip.AddrPort{netip.AddrPortFrom(netip.MustParseAddr("127.0.0.1"), uint16(port))}
	}
	c.Logging.MetricsAddress = ""
	c.ClientSettings.HttpBindings = []netip.AddrPort{netip.AddrPortFrom(netip.MustParseAddr("127.0.0.1"), uint16(pHTTP))}
	if err := c.Save(); err != nil {
		t.Fatal(err)
	}
	rewrite := strings.NewReplacer(
		"0.0.0.0:25", "127.0.0.1:"+strconv.Itoa(p25),
		"--port 25 ", "--port "+strconv.Itoa(p25)+" ",
		"--port 587 ", "--port "+strconv.Itoa(p587)+" ",
	)

	daemon := startDaemonProcess(t, cfgPath)
	t.Cleanup(func() {
		daemon.Process.Signal(syscall.SIGTERM)
		daemon.Wait()
		if t.Failed() {
			if log, err := os.ReadFile(cfgPath + ".log"); err == nil {
				t.Logf("daemon log:\n%s", log)
			}
		}
	})
	waitListening(t, "127.0.0.1:"+strconv.Itoa(p25))
	waitListening(t, "127.0.0.1:"+strconv.Itoa(p587))

	env := append(os.Environ(), "PATH="+bin+":"+os.Getenv("PATH"), config.EnvConfig+"="+cfgPath, "HOME="+dir)
	env = slicesDeleteEnv(env, "TRANSPORTD_TEST_DAEMON")
	applied := func() int {
		log, _ := os.ReadFile(cfgPath + ".log")
		if bytes.Contains(log, []byte("configuration not applied")) {
			t.Fatalf("the daemon refused a configuration the README wrote:\n%s", log)
		}
		return bytes.Count(log, []byte("configuration applied"))
	}
	state := func() string {
		var b strings.Builder
		for _, p := range []string{cfgPath, c.MailboxFile(), c.SecretsFile()} {
			data, _ := os.ReadFile(p)
			b.Write(data)
		}
		return b.String()
	}
	run := func(where, script, stdin string) (string, error) {
		ctx, cancel := context.WithTimeout(context.Background(), 60*time.Second)
		defer cancel()
		cmd := exec.CommandContext(ctx, "bash", "-c", script)
		cmd.Env, cmd.Dir = env, dir
		cmd.Stdin = strings.NewReader(stdin)
		var out bytes.Buffer
		cmd.Stdout, cmd.Stderr = &out, &out
		before, gen := state(), applied()
		err := cmd.Run()
		// A command that changed the configuration is applied by the
		// daemon within a second; the next command may rely on it. The
		// daemon's log line is the signal.
		if state() != before {
			deadline := time.Now().Add(10 * time.Second)
			for applied() == gen {
				if time.Now().After(deadline) {
					t.Fatalf("%s: the daemon did not apply the change within 10s", where)
				}
				time.Sleep(20 * time.Millisecond) // polling the daemon's log, the only signal a reader has too
			}
		}
		return out.String(), err
	}

	ran := 0
	for _, b := range blocks {
		where := fmt.Sprintf("README.md:%d (```%s)", b.line, b.lang)
		if b.skip != "" {
			t.Logf("%s not run: %s", where, b.skip)
			continue
		}
		switch b.lang {
		case "sh":
			for _, cmd := range shellCommands(b.text) {
				cmd = rewrite.Replace(cmd + " ")
				code, enhanced := expectation(cmd)
				out, err := run(where, cmd, "")
				ran++
				switch {
				case code == "" && err != nil:
					t.Fatalf("%s: %s\nfailed (%v):\n%s", where, cmd, err, out)
				case code != "" && (err == nil) != (code[0] == '2'):
					t.Fatalf("%s: %s\nexit status %v, but the README says it gets %s:\n%s", where, cmd, err, code, out)
				case code != "" && !strings.Contains(out, code+" "+enhanced):
					t.Fatalf("%s: %s\nthe README says it gets %s %s:\n%s", where, cmd, code, enhanced, out)
				}
			}
		case "powershell":
			if strings.Contains(b.text, "PS> ") {
				t.Fatalf("%s: a shell transcript (PS> lines) cannot be run; mark it <!-- readme-test: skip REASON -->", where)
			}
			out, err := run(where, "transportd shell", rewrite.Replace(b.text))
			ran++
			if err != nil {
				t.Fatalf("%s: transportd shell failed (%v):\n%s", where, err, out)
			}
		}
	}
	if ran < 20 {
		t.Fatalf("only %d README commands ran: is the README test still finding the blocks?", ran)
	}
	t.Logf("%d README commands ran in order", ran)
}

// freeLoopbackPort returns a loopback port nobody listens on right now.
func freeLoopbackPort(t *testing.T) int {
	t.Helper()
	l, err := net.Listen("tcp4", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	defer l.Close()
	return l.Addr().(*net.TCPAddr).Port
}

// slicesDeleteEnv removes the variable name from env.
func slicesDeleteEnv(env []string, name string) []string {
	out := env[:0:0]
	for _, e := range env {
		if !strings.HasPrefix(e, name+"=") {
			out = append(out, e)
		}
	}
	return out
}

// The README's Layout section names every package of the tree, by its path
// or its last element, in backticks.
func TestREADMELayoutMatchesTree(t *testing.T) {
	md, err := os.ReadFile("../../README.md")
	if err != nil {
		t.Fatal(err)
	}
	_, layout, ok := strings.Cut(string(md), "\n## Layout\n")
	if !ok {
		t.Fatal("README.md has no Layout section")
	}
	layout, _, _ = strings.Cut(layout, "\n## ")
	named := map[string]bool{}
	for _, m := range regexp.MustCompile("`([^`]+)`").FindAllStringSubmatch(layout, -1) {
		named[strings.TrimSuffix(m[1], "/")] = true
	}
	err = filepath.WalkDir("../..", func(p string, d os.DirEntry, err error) error {
		if err != nil {
			return err
		}
		if d.IsDir() && (strings.HasPrefix(d.Name(), ".") && p != "../.." || d.Name() == "testdata") {
			return filepath.SkipDir
		}
		if d.IsDir() || !strings.HasSuffix(p, ".go") || strings.HasSuffix(p, "_test.go") {
			return nil
		}
		pkg, _ := filepath.Rel("../..", filepath.Dir(p))
		if pkg == "." {
			return nil
		}
		if !named[pkg] && !named[filepath.Base(pkg)] {
			t.Errorf("README's Layout does not name package %s", pkg)
		}
		return nil
	})
	if err != nil {
		t.Fatal(err)
	}
}
