package queue

import (
	"bufio"
	"fmt"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"testing"
)

// TestInflightTable: the ids in flight when the process stopped without
// closing the table are what the next open reports, a delivery of the same
// id twice at once included; finished ones are not; the table grows past
// its first size; and the next open starts empty.
func TestInflightTable(t *testing.T) {
	dir := t.TempDir()
	l, crashed, err := openInflightLog(dir)
	if err != nil {
		t.Fatal(err)
	}
	if len(crashed) != 0 {
		t.Fatalf("fresh table reports %v", crashed)
	}
	a1, a2 := l.begin("AAAA0001"), l.begin("AAAA0001")
	b := l.begin("BBBB0002")
	done := l.begin("CCCC0003")
	l.end(done)
	var many []inflightSlot
	for i := range 3 * initialSlots {
		many = append(many, l.begin(fmt.Sprintf("M%07d", i)))
	}
	for _, s := range many {
		if s < 0 {
			t.Fatal("table did not grow")
		}
		l.end(s)
	}
	l.end(a2)
	_ = a1
	_ = b
	// No close: the process "died" here; what it stored is in the file.
	l2, crashed, err := openInflightLog(dir)
	if err != nil {
		t.Fatal(err)
	}
	defer l2.close()
	if len(crashed) != 2 || !crashed["AAAA0001"] || !crashed["BBBB0002"] {
		t.Fatalf("in flight after the crash: %v, want AAAA0001 and BBBB0002", crashed)
	}
	l2.close()
	l3, crashed, err := openInflightLog(dir)
	if err != nil {
		t.Fatal(err)
	}
	l3.close()
	if len(crashed) != 0 {
		t.Fatalf("after a clean start and close: %v", crashed)
	}
	l.close()
}

// TestInflightLegacyLog: the append-only log of earlier versions is read
// once, then removed.
func TestInflightLegacyLog(t *testing.T) {
	dir := t.TempDir()
	if err := os.WriteFile(filepath.Join(dir, "inflight.log"), []byte("+OLD1\n+OLD2\n-OLD2\n+OLD3\n"), 0o600); err != nil {
		t.Fatal(err)
	}
	l, crashed, err := openInflightLog(dir)
	if err != nil {
		t.Fatal(err)
	}
	l.close()
	if len(crashed) != 2 || !crashed["OLD1"] || !crashed["OLD3"] {
		t.Fatalf("from the old log: %v, want OLD1 and OLD3", crashed)
	}
	if _, err := os.Stat(filepath.Join(dir, "inflight.log")); !os.IsNotExist(err) {
		t.Fatalf("old log still there: %v", err)
	}
}

// TestInflightSurvivesKill9: a real process marks a delivery and is killed
// with SIGKILL; the mark is in the file (the mapped pages are the page
// cache's), and the next open reports it.
func TestInflightSurvivesKill9(t *testing.T) {
	if dir := os.Getenv("TRANSPORTD_INFLIGHT_CHILD"); dir != "" {
		l, _, err := openInflightLog(dir)
		if err != nil {
			fmt.Println("error:", err)
			os.Exit(1)
		}
		l.end(l.begin("FINISHED01"))
		l.begin("INFLIGHT01")
		fmt.Println("marked")
		select {} // until killed
	}
	dir := t.TempDir()
	cmd := exec.Command(os.Args[0], "-test.run=^TestInflightSurvivesKill9$")
	cmd.Env = append(os.Environ(), "TRANSPORTD_INFLIGHT_CHILD="+dir)
	out, err := cmd.StdoutPipe()
	if err != nil {
		t.Fatal(err)
	}
	if err := cmd.Start(); err != nil {
		t.Fatal(err)
	}
	line, _ := bufio.NewReader(out).ReadString('\n')
	if strings.TrimSpace(line) != "marked" {
		cmd.Process.Kill()
		cmd.Wait()
		t.Fatalf("child: %q", line)
	}
	cmd.Process.Kill() // SIGKILL
	cmd.Wait()
	l, crashed, err := openInflightLog(dir)
	if err != nil {
		t.Fatal(err)
	}
	l.close()
	if len(crashed) != 1 || !crashed["INFLIGHT01"] {
		t.Fatalf("after kill -9: %v, want INFLIGHT01 alone", crashed)
	}
}
