package queue

import (
	"bufio"
	"bytes"
	"fmt"
	"os"
	"path/filepath"
	"strings"
	"sync"
	"syscall"
)

// inflightLog remembers which messages are being delivered, so that after a
// crash the messages that were in flight can be counted towards the poison
// queue. It must survive a crash of the process, not a power loss: it is a
// file mapped into memory (MAP_SHARED), whose pages belong to the page
// cache, so what the process stored in them is in the file even when the
// process is killed the next instant. Marking a delivery costs no system
// call (the append-only log of earlier versions cost two writes per
// delivery attempt).
//
// The file, inflight.map, is a table of slots, one line each: "+" and the
// queue id, padded with spaces, while a delivery is in flight; spaces when
// the slot is free. A slot is filled id first and marked "+" last, and
// freed by clearing the mark, so a crash in the middle leaves a free slot
// or an id that matches no message.
type inflightLog struct {
	mu   sync.Mutex
	f    *os.File
	mem  []byte // the mapped file: len(mem)/slotSize slots
	free []int  // free slots, used last first
}

const (
	// slotSize is one slot: the mark, an id (journal ids are at most 32
	// bytes), padding and a line feed.
	slotSize = 48
	// initialSlots is the table's first size; it doubles when full (the
	// delivery pool bounds the deliveries in flight).
	initialSlots = 256
)

// inflightSlot identifies one marked delivery, for end.
type inflightSlot int

// openInflightLog reads what a previous run left (the ids still in flight
// when it died) and starts a fresh table.
func openInflightLog(dir string) (*inflightLog, map[string]bool, error) {
	if err := os.MkdirAll(dir, 0o700); err != nil {
		return nil, nil, fmt.Errorf("creating %s: %w", dir, err)
	}
	crashed := map[string]bool{}
	path := filepath.Join(dir, "inflight.map")
	if b, err := os.ReadFile(path); err == nil {
		for len(b) >= slotSize {
			if b[0] == '+' {
				if id := strings.TrimRight(string(b[1:slotSize-1]), " \x00"); id != "" {
					crashed[id] = true
				}
			}
			b = b[slotSize:]
		}
	}
	// The append-only log of earlier versions: "+id" and "-id" lines.
	legacy := filepath.Join(dir, "inflight.log")
	if f, err := os.Open(legacy); err == nil {
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
	// Markers from the per-file scheme of earlier versions still.
	if entries, err := os.ReadDir(dir); err == nil {
		for _, e := range entries {
			if name := e.Name(); name != "inflight.map" && !strings.HasPrefix(name, ".") {
				if name != "inflight.log" && name != "inflight.log.new" {
					crashed[name] = true
				}
				os.Remove(filepath.Join(dir, name))
			}
		}
	}
	f, err := os.OpenFile(path, os.O_CREATE|os.O_RDWR|os.O_TRUNC, 0o600)
	if err != nil {
		return nil, nil, fmt.Errorf("in-flight table: %w", err)
	}
	l := &inflightLog{f: f}
	if err := l.grow(initialSlots); err != nil {
		f.Close()
		return nil, nil, err
	}
	return l, crashed, nil
}

// grow makes the table n slots long, all new ones free (under l.mu or
// before use).
func (l *inflightLog) grow(n int) error {
	old := len(l.mem) / slotSize
	if err := l.f.Truncate(int64(n) * slotSize); err != nil {
		return fmt.Errorf("in-flight table: %w", err)
	}
	mem, err := syscall.Mmap(int(l.f.Fd()), 0, n*slotSize, syscall.PROT_READ|syscall.PROT_WRITE, syscall.MAP_SHARED)
	if err != nil {
		return fmt.Errorf("in-flight table: mapping %s: %w", l.f.Name(), err)
	}
	if l.mem != nil {
		syscall.Munmap(l.mem)
	}
	l.mem = mem
	blank := bytes.Repeat([]byte{' '}, slotSize-1)
	for i := n - 1; i >= old; i-- {
		s := l.mem[i*slotSize : (i+1)*slotSize]
		copy(s, blank)
		s[slotSize-1] = '\n'
		l.free = append(l.free, i)
	}
	return nil
}

// begin marks a delivery of id as in flight. When the table cannot grow,
// the delivery goes on unmarked (-1): a crash during it is not counted.
func (l *inflightLog) begin(id string) inflightSlot {
	l.mu.Lock()
	defer l.mu.Unlock()
	if l.mem == nil {
		return -1
	}
	if len(l.free) == 0 {
		if err := l.grow(2 * len(l.mem) / slotSize); err != nil || len(l.free) == 0 {
			return -1
		}
	}
	i := l.free[len(l.free)-1]
	l.free = l.free[:len(l.free)-1]
	s := l.mem[i*slotSize : (i+1)*slotSize-1]
	n := copy(s[1:], id)
	for k := 1 + n; k < len(s); k++ {
		s[k] = ' '
	}
	s[0] = '+' // last: a slot is either free or holds a whole id
	return inflightSlot(i)
}

// end marks the delivery begin returned slot for as finished.
func (l *inflightLog) end(slot inflightSlot) {
	if slot < 0 {
		return
	}
	l.mu.Lock()
	defer l.mu.Unlock()
	if l.mem == nil {
		return
	}
	l.mem[int(slot)*slotSize] = ' '
	l.free = append(l.free, int(slot))
}

func (l *inflightLog) close() {
	l.mu.Lock()
	defer l.mu.Unlock()
	if l.mem != nil {
		syscall.Munmap(l.mem)
		l.mem = nil
	}
	if l.f != nil {
		l.f.Close()
		l.f = nil
	}
}
