package csvlog

import (
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"
)

func open(t *testing.T, dir string, lim Limits, now func() time.Time) *Log {
	t.Helper()
	l, err := Open(Options{Dir: dir, Prefix: "RECV", LogType: "SMTP Receive Protocol Log", Fields: []string{"a", "b"},
		Limits: lim, Now: now, FlushInterval: time.Hour})
	if err != nil {
		t.Fatal(err)
	}
	return l
}

func TestHeaderAndQuoting(t *testing.T) {
	dir := t.TempDir()
	now := func() time.Time { return time.Date(2026, 5, 4, 9, 25, 35, 815e6, time.UTC) }
	l := open(t, dir, Limits{}, now)
	l.Write("plain", `has "quotes", and commas`)
	l.Write("multi\r\nline", "")
	if err := l.Close(); err != nil {
		t.Fatal(err)
	}
	data, err := os.ReadFile(filepath.Join(dir, "RECV20260504-1.log"))
	if err != nil {
		t.Fatal(err)
	}
	want := "#Software: transportd\r\n#Version: 15.0.0.0\r\n#Log-type: SMTP Receive Protocol Log\r\n#Date: 2026-05-04T09:25:35.815Z\r\n#Fields: a,b\r\n" +
		"plain,\"has \"\"quotes\"\", and commas\"\r\n\"multi\r\nline\",\r\n"
	if string(data) != want {
		t.Fatalf("file:\n%q\nwant\n%q", data, want)
	}
	var got [][]string
	if err := ReadFile(filepath.Join(dir, "RECV20260504-1.log"), func(f, rec []string) bool {
		if strings.Join(f, ",") != "a,b" {
			t.Errorf("fields %v", f)
		}
		got = append(got, rec)
		return true
	}); err != nil {
		t.Fatal(err)
	}
	if len(got) != 2 || got[0][1] != `has "quotes", and commas` || got[1][0] != "multi\nline" /* encoding/csv reads a quoted CRLF as LF */ {
		t.Errorf("read back %q", got)
	}
}

func TestRotationBySizeAndDay(t *testing.T) {
	dir := t.TempDir()
	clock := time.Date(2026, 5, 4, 23, 0, 0, 0, time.UTC)
	now := func() time.Time { return clock }
	l := open(t, dir, Limits{MaxFileSize: 1024, MaxDirectorySize: 1 << 30}, now)
	rec := strings.Repeat("x", 100)
	for range 30 {
		l.Write(rec, "y")
	}
	clock = clock.Add(2 * time.Hour) // the next day
	l.Write("next", "day")
	l.Close()
	files, err := Files(dir, "RECV")
	if err != nil {
		t.Fatal(err)
	}
	var names []string
	for _, f := range files {
		names = append(names, filepath.Base(f))
		fi, _ := os.Stat(f)
		if fi.Size() > 1024 {
			t.Errorf("%s is %d bytes, over the 1024 limit", f, fi.Size())
		}
		b, _ := os.ReadFile(f)
		if !strings.HasPrefix(string(b), "#Software: transportd\r\n") {
			t.Errorf("%s has no header", f)
		}
	}
	if len(names) < 4 || names[0] != "RECV20260504-1.log" || names[1] != "RECV20260504-2.log" || names[len(names)-1] != "RECV20260505-1.log" {
		t.Fatalf("files %v", names)
	}
	// Records all survive, in order, across the files.
	n := 0
	for _, f := range files {
		ReadFile(f, func(_, rec []string) bool { n++; return true })
	}
	if n != 31 {
		t.Errorf("%d records, want 31", n)
	}
}

func TestReopenAppends(t *testing.T) {
	dir := t.TempDir()
	now := func() time.Time { return time.Date(2026, 5, 4, 1, 0, 0, 0, time.UTC) }
	l := open(t, dir, Limits{}, now)
	l.Write("one", "1")
	l.Close()
	l = open(t, dir, Limits{}, now)
	l.Write("two", "2")
	l.Close()
	b, _ := os.ReadFile(filepath.Join(dir, "RECV20260504-1.log"))
	if strings.Count(string(b), "#Fields") != 1 || !strings.Contains(string(b), "one,1\r\ntwo,2\r\n") {
		t.Errorf("reopened file:\n%s", b)
	}
}

func TestCleanup(t *testing.T) {
	dir := t.TempDir()
	clock := time.Date(2026, 5, 4, 1, 0, 0, 0, time.UTC)
	old := filepath.Join(dir, "RECV20260301-1.log")
	os.WriteFile(old, []byte("old"), 0o600)
	os.Chtimes(old, clock.Add(-60*24*time.Hour), clock.Add(-60*24*time.Hour))
	big := filepath.Join(dir, "RECV20260502-1.log")
	os.WriteFile(big, []byte(strings.Repeat("b", 5000)), 0o600)
	os.Chtimes(big, clock.Add(-48*time.Hour), clock.Add(-48*time.Hour))
	other := filepath.Join(dir, "notes.txt")
	os.WriteFile(other, []byte(strings.Repeat("n", 9000)), 0o600)
	os.Chtimes(other, clock.Add(-90*24*time.Hour), clock.Add(-90*24*time.Hour))
	l := open(t, dir, Limits{MaxFileSize: 1024, MaxDirectorySize: 4096, MaxAge: 30 * 24 * time.Hour}, func() time.Time { return clock })
	l.Write("new", "x")
	l.Close()
	for _, p := range []string{old, big} {
		if _, err := os.Stat(p); !os.IsNotExist(err) {
			t.Errorf("%s should be deleted", filepath.Base(p))
		}
	}
	if _, err := os.Stat(other); err != nil {
		t.Errorf("a file that is not a log was touched: %v", err)
	}
	if _, err := os.Stat(filepath.Join(dir, "RECV20260504-1.log")); err != nil {
		t.Errorf("the current file is gone: %v", err)
	}
}
