package pickup

import (
	"context"
	"errors"
	"log/slog"
	"os"
	"path/filepath"
	"slices"
	"strings"
	"sync"
	"testing"
	"time"
)

const goodMsg = "From: app@contoso.com\r\nTo: ops@contoso.com\r\nBcc: audit@contoso.com\r\nSubject: disk full\r\n\r\nbody\r\n"

// permanentErr is a Submit refusal that retrying cannot help.
type permanentErr struct{}

func (permanentErr) Error() string   { return "554 5.7.1 refused by policy" }
func (permanentErr) Permanent() bool { return true }

// fakeQueue records submissions and fails as told.
type fakeQueue struct {
	mu        sync.Mutex
	envs      []Envelope
	msgs      [][]byte
	err       error
	submitted chan string // receives the first recipient of each success, if not nil
}

func (q *fakeQueue) submit(ctx context.Context, env Envelope, msg []byte) (string, error) {
	q.mu.Lock()
	defer q.mu.Unlock()
	if q.err != nil {
		return "", q.err
	}
	q.envs = append(q.envs, env)
	q.msgs = append(q.msgs, msg)
	if q.submitted != nil {
		q.submitted <- env.Recipients[0]
	}
	return "Q" + string(rune('0'+len(q.envs))), nil
}

func newDir(t *testing.T, q *fakeQueue) *Dir {
	t.Helper()
	root := t.TempDir()
	d := &Dir{
		Pickup:  filepath.Join(root, "Pickup"),
		Badmail: filepath.Join(root, "Badmail"),
		Submit:  q.submit,
		MaxSize: 1 << 20,
		Logger:  slog.New(slog.NewTextHandler(testWriter{t}, nil)),
		Settle:  10 * time.Millisecond,
	}
	if err := os.MkdirAll(d.Pickup, 0o755); err != nil {
		t.Fatal(err)
	}
	return d
}

// testWriter sends log lines to t.Log.
type testWriter struct{ t *testing.T }

func (w testWriter) Write(p []byte) (int, error) {
	w.t.Log(strings.TrimSpace(string(p)))
	return len(p), nil
}

func drop(t *testing.T, dir, name, content string) {
	t.Helper()
	if err := os.WriteFile(filepath.Join(dir, name), []byte(content), 0o644); err != nil {
		t.Fatal(err)
	}
}

func listDir(t *testing.T, dir string) []string {
	t.Helper()
	entries, err := os.ReadDir(dir)
	if errors.Is(err, os.ErrNotExist) {
		return nil
	}
	if err != nil {
		t.Fatal(err)
	}
	var names []string
	for _, e := range entries {
		names = append(names, e.Name())
	}
	return names
}

func TestScan(t *testing.T) {
	tests := []struct {
		name        string
		files       map[string]string
		submitErr   error
		wantErr     bool
		wantPickup  []string
		wantBadmail []string
		wantQueued  int
		wantReason  string // substring of the .BDR file
	}{
		{
			name:       "success removes the file",
			files:      map[string]string{"alert.eml": goodMsg},
			wantQueued: 1,
		},
		{
			name:        "malformed goes to badmail with a reason",
			files:       map[string]string{"bad.eml": "From: app@contoso.com\r\nSubject: no recipients\r\n\r\nbody\r\n"},
			wantBadmail: []string{"bad.BAD", "bad.BDR"},
			wantReason:  "no recipients",
		},
		{
			name:       "transient error keeps the file",
			files:      map[string]string{"alert.eml": goodMsg},
			submitErr:  errors.New("queue disk full"),
			wantErr:    true,
			wantPickup: []string{"alert.eml"},
		},
		{
			name:        "permanent error goes to badmail",
			files:       map[string]string{"alert.eml": goodMsg},
			submitErr:   permanentErr{},
			wantBadmail: []string{"alert.BAD", "alert.BDR"},
			wantReason:  "refused by policy",
		},
		{
			name: "dot-files and other extensions are left alone",
			files: map[string]string{
				".hidden.eml": goodMsg, "notes.txt": goodMsg, "upper.EML": goodMsg,
				"partial.eml.tmp": goodMsg,
			},
			wantPickup: []string{".hidden.eml", "notes.txt", "partial.eml.tmp"},
			wantQueued: 1,
		},
		{
			name:        "mixed",
			files:       map[string]string{"a.eml": goodMsg, "b.eml": "garbage without header\r\n", "c.eml": goodMsg},
			wantBadmail: []string{"b.BAD", "b.BDR"},
			wantQueued:  2,
			wantReason:  "not a header field",
		},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			q := &fakeQueue{err: tt.submitErr}
			d := newDir(t, q)
			for name, content := range tt.files {
				drop(t, d.Pickup, name, content)
			}
			err := d.Scan(context.Background())
			if (err != nil) != tt.wantErr {
				t.Fatalf("Scan error = %v, want error %v", err, tt.wantErr)
			}
			if got := listDir(t, d.Pickup); !slices.Equal(got, tt.wantPickup) {
				t.Errorf("Pickup holds %q, want %q", got, tt.wantPickup)
			}
			if got := listDir(t, d.Badmail); !slices.Equal(got, tt.wantBadmail) {
				t.Errorf("Badmail holds %q, want %q", got, tt.wantBadmail)
			}
			if len(q.envs) != tt.wantQueued {
				t.Errorf("%d messages queued, want %d", len(q.envs), tt.wantQueued)
			}
			for i, env := range q.envs {
				if env.From != "app@contoso.com" || !slices.Equal(env.Recipients, []string{"ops@contoso.com", "audit@contoso.com"}) {
					t.Errorf("envelope %+v", env)
				}
				if strings.Contains(string(q.msgs[i]), "Bcc") {
					t.Errorf("queued message has Bcc: %q", q.msgs[i])
				}
			}
			if tt.wantReason != "" {
				base := strings.TrimSuffix(tt.wantBadmail[0], BadSuffix)
				reason, err := os.ReadFile(filepath.Join(d.Badmail, base+ReasonSuffix))
				if err != nil {
					t.Fatal(err)
				}
				if !strings.Contains(string(reason), tt.wantReason) {
					t.Errorf("reason file %q lacks %q", reason, tt.wantReason)
				}
				bad, err := os.ReadFile(filepath.Join(d.Badmail, tt.wantBadmail[0]))
				if err != nil || string(bad) != tt.files[base+".eml"] {
					t.Errorf(".BAD file = %q (%v), want the dropped file", bad, err)
				}
			}
		})
	}
}

func TestScanBadmailNameTaken(t *testing.T) {
	q := &fakeQueue{}
	d := newDir(t, q)
	for i := 0; i < 2; i++ {
		drop(t, d.Pickup, "x.eml", "garbage\r\n")
		if err := d.Scan(context.Background()); err != nil {
			t.Fatal(err)
		}
	}
	want := []string{"x-1.BAD", "x-1.BDR", "x.BAD", "x.BDR"}
	if got := listDir(t, d.Badmail); !slices.Equal(got, want) {
		t.Errorf("Badmail holds %q, want %q", got, want)
	}
}

func TestScanSkipsFileBeingWritten(t *testing.T) {
	q := &fakeQueue{}
	d := newDir(t, q)
	d.Settle = 200 * time.Millisecond
	path := filepath.Join(d.Pickup, "growing.eml")
	f, err := os.Create(path)
	if err != nil {
		t.Fatal(err)
	}
	defer f.Close()
	if _, err := f.WriteString("From: app@contoso.com\r\n"); err != nil {
		t.Fatal(err)
	}
	done := make(chan struct{})
	go func() {
		defer close(done)
		time.Sleep(50 * time.Millisecond)
		_, _ = f.WriteString("To: ops@contoso.com\r\n\r\nbody\r\n")
	}()
	if err := d.Scan(context.Background()); err != nil {
		t.Fatal(err)
	}
	<-done
	if len(q.envs) != 0 || !slices.Equal(listDir(t, d.Pickup), []string{"growing.eml"}) {
		t.Fatalf("a file being written was taken")
	}
	if err := d.Scan(context.Background()); err != nil {
		t.Fatal(err)
	}
	if len(q.envs) != 1 {
		t.Errorf("the finished file was not taken")
	}
}

func TestScanClaimedFiles(t *testing.T) {
	q := &fakeQueue{}
	d := newDir(t, q)
	// Claimed by a live scanner: left alone.
	drop(t, d.Pickup, "live.eml.processing", goodMsg)
	// Claimed by a scanner that died long ago: taken back and submitted.
	drop(t, d.Pickup, "dead.eml.processing", goodMsg)
	old := time.Now().Add(-2 * staleClaim)
	if err := os.Chtimes(filepath.Join(d.Pickup, "dead.eml.processing"), old, old); err != nil {
		t.Fatal(err)
	}
	if err := d.Scan(context.Background()); err != nil {
		t.Fatal(err)
	}
	if len(q.envs) != 1 {
		t.Errorf("%d submitted, want 1", len(q.envs))
	}
	if got := listDir(t, d.Pickup); !slices.Equal(got, []string{"live.eml.processing"}) {
		t.Errorf("Pickup holds %q", got)
	}
}

func TestScanSymlinkIgnored(t *testing.T) {
	q := &fakeQueue{}
	d := newDir(t, q)
	secret := filepath.Join(t.TempDir(), "secret")
	drop(t, filepath.Dir(secret), "secret", goodMsg)
	if err := os.Symlink(secret, filepath.Join(d.Pickup, "link.eml")); err != nil {
		t.Fatal(err)
	}
	if err := d.Scan(context.Background()); err != nil {
		t.Fatal(err)
	}
	if len(q.envs) != 0 {
		t.Errorf("a symbolic link was followed")
	}
}

func TestScanConfigErrors(t *testing.T) {
	q := &fakeQueue{}
	tests := []struct {
		name string
		edit func(*Dir)
	}{
		{"no pickup", func(d *Dir) { d.Pickup = "" }},
		{"no badmail", func(d *Dir) { d.Badmail = "" }},
		{"same folder", func(d *Dir) { d.Badmail = d.Pickup + "/" }},
		{"no submit", func(d *Dir) { d.Submit = nil }},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			d := newDir(t, q)
			tt.edit(d)
			if err := d.Scan(context.Background()); err == nil {
				t.Error("Scan accepted a bad Dir")
			}
			if err := d.Run(context.Background(), time.Second); err == nil {
				t.Error("Run accepted a bad Dir")
			}
		})
	}
}

func TestRunReactsToDroppedFile(t *testing.T) {
	q := &fakeQueue{submitted: make(chan string, 4)}
	d := newDir(t, q)
	drop(t, d.Pickup, "early.eml", strings.Replace(goodMsg, "ops@", "early@", 1))

	ctx, cancel := context.WithCancel(context.Background())
	done := make(chan error, 1)
	go func() { done <- d.Run(ctx, time.Hour) }() // the interval never fires

	wait := func(want string) {
		t.Helper()
		select {
		case got := <-q.submitted:
			if got != want {
				t.Errorf("submitted %q, want %q", got, want)
			}
		case <-time.After(10 * time.Second):
			t.Fatalf("%s was not submitted within 10 s", want)
		}
	}
	wait("early@contoso.com") // the scan at start

	// Written under a dot-name, then renamed into place, as applications should.
	drop(t, d.Pickup, ".tmp-late", strings.Replace(goodMsg, "ops@", "late@", 1))
	if err := os.Rename(filepath.Join(d.Pickup, ".tmp-late"), filepath.Join(d.Pickup, "late.eml")); err != nil {
		t.Fatal(err)
	}
	wait("late@contoso.com")

	cancel()
	select {
	case err := <-done:
		if err != nil {
			t.Errorf("Run = %v", err)
		}
	case <-time.After(10 * time.Second):
		t.Fatal("Run did not return after cancel")
	}
	if got := listDir(t, d.Pickup); len(got) != 0 {
		t.Errorf("Pickup holds %q", got)
	}
}

func TestRunPollsWithoutEvents(t *testing.T) {
	q := &fakeQueue{submitted: make(chan string, 4)}
	d := newDir(t, q)
	d.Pickup = filepath.Join(d.Pickup, "created-by-run")
	ctx, cancel := context.WithCancel(context.Background())
	defer cancel()
	done := make(chan error, 1)
	go func() { done <- d.Run(ctx, 50*time.Millisecond) }()
	deadline := time.Now().Add(10 * time.Second)
	for {
		if _, err := os.Stat(d.Pickup); err == nil {
			break
		}
		if time.Now().After(deadline) {
			t.Fatal("Run did not create Pickup")
		}
		time.Sleep(10 * time.Millisecond)
	}
	drop(t, d.Pickup, "a.eml", goodMsg)
	select {
	case <-q.submitted:
	case <-time.After(10 * time.Second):
		t.Fatal("not submitted within 10 s")
	}
	cancel()
	<-done
}
