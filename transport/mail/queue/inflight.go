package queue

import (
	"bufio"
	"fmt"
	"os"
	"path/filepath"
	"strings"
	"sync"
)

// inflightLog remembers which messages are being delivered, so that after a
// crash the messages that were in flight can be counted towards the poison
// queue. It is an append-only file of "+id" and "-id" lines written without
// fsync: it must survive a crash of the process (the page cache does), not
// a power loss, and one write per event keeps it cheap on the hot path.
type inflightLog struct {
	mu    sync.Mutex
	path  string
	f     *os.File
	open  map[string]int
	lines int
}

// openInflightLog reads what a previous run left (the ids still in flight
// when it died) and starts a fresh log.
func openInflightLog(dir string) (*inflightLog, map[string]bool, error) {
	if err := os.MkdirAll(dir, 0o700); err != nil {
		return nil, nil, fmt.Errorf("creating %s: %w", dir, err)
	}
	path := filepath.Join(dir, "inflight.log")
	crashed := map[string]bool{}
	if f, err := os.Open(path); err == nil {
		count := map[string]int{}
		sc := bufio.NewScanner(f)
		for sc.Scan() {
			line := sc.Text()
			if len(line) < 2 {
				continue
			}
			switch line[0] {
			case '+':
				count[line[1:]]++
			case '-':
				count[line[1:]]--
			}
		}
		f.Close()
		for id, n := range count {
			if n > 0 {
				crashed[id] = true
			}
		}
	}
	// Markers from the per-file scheme of earlier versions.
	if entries, err := os.ReadDir(dir); err == nil {
		for _, e := range entries {
			if e.Name() != "inflight.log" && !strings.HasPrefix(e.Name(), ".") {
				crashed[e.Name()] = true
				os.Remove(filepath.Join(dir, e.Name()))
			}
		}
	}
	l := &inflightLog{path: path, open: map[string]int{}}
	if err := l.rewrite(); err != nil {
		return nil, nil, err
	}
	return l, crashed, nil
}

// rewrite starts the file over with the ids in flight now (under l.mu or
// before use).
func (l *inflightLog) rewrite() error {
	tmp := l.path + ".new"
	f, err := os.OpenFile(tmp, os.O_CREATE|os.O_TRUNC|os.O_WRONLY|os.O_APPEND, 0o600)
	if err != nil {
		return fmt.Errorf("in-flight log: %w", err)
	}
	var sb strings.Builder
	for id, n := range l.open {
		for range n {
			sb.WriteString("+" + id + "\n")
		}
	}
	if _, err := f.WriteString(sb.String()); err != nil {
		f.Close()
		return fmt.Errorf("in-flight log: %w", err)
	}
	if err := os.Rename(tmp, l.path); err != nil {
		f.Close()
		return fmt.Errorf("in-flight log: %w", err)
	}
	if l.f != nil {
		l.f.Close()
	}
	l.f, l.lines = f, 0
	return nil
}

func (l *inflightLog) begin(id string) {
	l.mu.Lock()
	defer l.mu.Unlock()
	l.open[id]++
	l.f.WriteString("+" + id + "\n")
	l.lines++
}

func (l *inflightLog) end(id string) {
	l.mu.Lock()
	defer l.mu.Unlock()
	if l.open[id]--; l.open[id] <= 0 {
		delete(l.open, id)
	}
	l.f.WriteString("-" + id + "\n")
	if l.lines++; l.lines > 200000 {
		l.rewrite() // keep the file small; on failure the old one goes on
	}
}

func (l *inflightLog) close() {
	l.mu.Lock()
	defer l.mu.Unlock()
	if l.f != nil {
		l.f.Close()
	}
}
