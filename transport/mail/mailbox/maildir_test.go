package mailbox

import (
	"bytes"
	"context"
	"errors"
	"io"
	"log/slog"
	"os"
	"path/filepath"
	"regexp"
	"strconv"
	"strings"
	"sync"
	"testing"

	"github.com/transportd/transportd/transport/mail/delivery"
)

// testMessage is a stored message as the queue hands it over: CRLF text.
const testMessage = "Received: from client.example.org by mail.contoso.com; Mon, 1 Jan 2024 00:00:00 +0000\r\n" +
	"From: Partner <partner@example.net>\r\n" +
	"To: alice@contoso.com, bob@contoso.com\r\n" +
	"Subject: Quarterly numbers\r\n" +
	"Message-ID: <q1@example.net>\r\n" +
	"\r\n" +
	"Hello Alice,\r\n" +
	".a line with a leading dot\r\n" +
	"a lone CR\rstays\r\n" +
	"\r\n" +
	"Regards\r\n"

func newMessage(from, body string) *delivery.Message {
	return &delivery.Message{
		ID:   "Q1",
		From: from,
		Size: int64(len(body)),
		Open: func() (io.ReadCloser, error) { return io.NopCloser(strings.NewReader(body)), nil },
	}
}

// directory resolves addresses of contoso.com's two mailboxes; alias maps to alice.
func directory(address string) (string, bool) {
	switch strings.ToLower(address) {
	case "alice@contoso.com", "a.smith@contoso.com":
		return "alice@contoso.com", true
	case "bob@contoso.com":
		return "bob@contoso.com", true
	}
	return "", false
}

func newMaildir(t *testing.T) *Maildir {
	t.Helper()
	return &Maildir{
		Root:     filepath.Join(t.TempDir(), "mailboxes"),
		Resolve:  directory,
		Hostname: "mail.contoso.com",
		Logger:   slog.New(slog.NewTextHandler(testWriter{t}, nil)),
	}
}

type testWriter struct{ t *testing.T }

func (w testWriter) Write(p []byte) (int, error) {
	w.t.Helper()
	w.t.Log(strings.TrimRight(string(p), "\n"))
	return len(p), nil
}

var uniqueRE = regexp.MustCompile(`^(\d+)\.M(\d+)P(\d+)Q(\d+)\.mail\.contoso\.com,S=(\d+),W=(\d+)$`)

// files lists the names in a folder of a mailbox's Maildir.
func files(t *testing.T, m *Maildir, folder, sub string) []string {
	t.Helper()
	entries, err := os.ReadDir(filepath.Join(m.Path(folder), sub))
	if err != nil {
		t.Fatalf("reading %s/%s: %v", folder, sub, err)
	}
	var names []string
	for _, e := range entries {
		names = append(names, e.Name())
	}
	return names
}

// readOnly returns the content of the single message in new/, checking its name.
func readOnly(t *testing.T, m *Maildir, folder string) string {
	t.Helper()
	names := files(t, m, folder, "new")
	if len(names) != 1 {
		t.Fatalf("%s: new/ holds %d files, want 1: %v", folder, len(names), names)
	}
	if tmp := files(t, m, folder, "tmp"); len(tmp) != 0 {
		t.Fatalf("%s: tmp/ not empty after delivery: %v", folder, tmp)
	}
	data, err := os.ReadFile(filepath.Join(m.Path(folder), "new", names[0]))
	if err != nil {
		t.Fatal(err)
	}
	sm := uniqueRE.FindStringSubmatch(names[0])
	if sm == nil {
		t.Fatalf("file name %q is not <secs>.M<usec>P<pid>Q<n>.<host>,S=<size>,W=<vsize>", names[0])
	}
	if sm[3] != strconv.Itoa(os.Getpid()) {
		t.Errorf("file name %q: pid %s, want %d", names[0], sm[3], os.Getpid())
	}
	if size, _ := strconv.Atoi(sm[5]); size != len(data) {
		t.Errorf("file name %q: S=%d, file has %d bytes", names[0], size, len(data))
	}
	if vsize, _ := strconv.Atoi(sm[6]); vsize != len(data)+bytes.Count(data, []byte("\n")) {
		t.Errorf("file name %q: W=%d, want %d", names[0], vsize, len(data)+bytes.Count(data, []byte("\n")))
	}
	for _, sub := range []string{"", "tmp", "new", "cur"} {
		fi, err := os.Stat(filepath.Join(m.Path(folder), sub))
		if err != nil {
			t.Fatal(err)
		}
		if fi.Mode().Perm() != 0o700 {
			t.Errorf("%s/%s has mode %v, want 0700", folder, sub, fi.Mode().Perm())
		}
	}
	return string(data)
}

func TestMaildirDeliver(t *testing.T) {
	lfBody := strings.ReplaceAll(testMessage, "\r\n", "\n")
	for _, tc := range []struct {
		name      string
		from      string
		rcpts     []string
		wantErr   map[string]string // recipient -> reply prefix; absent: delivered
		wantFiles map[string]string // folder -> Delivered-To
		returnTo  string
	}{
		{
			name:      "two mailboxes and an unknown recipient",
			from:      "partner@example.net",
			rcpts:     []string{"alice@contoso.com", "nobody@contoso.com", "bob@contoso.com"},
			wantErr:   map[string]string{"nobody@contoso.com": "550 5.1.1 <nobody@contoso.com>"},
			wantFiles: map[string]string{"alice@contoso.com": "alice@contoso.com", "bob@contoso.com": "bob@contoso.com"},
			returnTo:  "<partner@example.net>",
		},
		{
			name:      "recipients of one mailbox share one copy",
			from:      "partner@example.net",
			rcpts:     []string{"a.smith@contoso.com", "alice@contoso.com", "ALICE@contoso.com"},
			wantFiles: map[string]string{"alice@contoso.com": "a.smith@contoso.com"},
			returnTo:  "<partner@example.net>",
		},
		{
			name:      "null sender",
			from:      "",
			rcpts:     []string{"bob@contoso.com"},
			wantFiles: map[string]string{"bob@contoso.com": "bob@contoso.com"},
			returnTo:  "<>",
		},
		{
			name:    "only unknown recipients",
			from:    "partner@example.net",
			rcpts:   []string{"x@contoso.com", "y@example.org"},
			wantErr: map[string]string{"x@contoso.com": "550 5.1.1", "y@example.org": "550 5.1.1"},
		},
	} {
		t.Run(tc.name, func(t *testing.T) {
			m := newMaildir(t)
			res := m.Deliver(context.Background(), newMessage(tc.from, testMessage), tc.rcpts)
			if len(res) != len(tc.rcpts) {
				t.Fatalf("got %d results for %d recipients", len(res), len(tc.rcpts))
			}
			for i, r := range res {
				if r.Recipient != tc.rcpts[i] {
					t.Errorf("result %d is for %q, want %q", i, r.Recipient, tc.rcpts[i])
				}
				want, fail := tc.wantErr[r.Recipient]
				switch {
				case !fail && r.Err != nil:
					t.Errorf("%s: unexpected error %v", r.Recipient, r.Err)
				case fail && (r.Err == nil || !strings.HasPrefix(r.Err.Error(), want)):
					t.Errorf("%s: error %v, want %q...", r.Recipient, r.Err, want)
				case fail && !delivery.IsPermanent(r.Err):
					t.Errorf("%s: error %v should be permanent", r.Recipient, r.Err)
				}
			}
			for folder, deliveredTo := range tc.wantFiles {
				got := readOnly(t, m, folder)
				want := "Return-Path: " + tc.returnTo + "\nDelivered-To: " + deliveredTo + "\n" + lfBody
				if got != want {
					t.Errorf("%s: stored\n%q\nwant\n%q", folder, got, want)
				}
			}
			entries, _ := os.ReadDir(m.Root)
			if len(entries) != len(tc.wantFiles) {
				t.Errorf("root holds %d mailboxes, want %d", len(entries), len(tc.wantFiles))
			}
		})
	}
}

func TestMaildirSecondDeliveryAddsFile(t *testing.T) {
	m := newMaildir(t)
	for i := range 2 {
		for _, r := range m.Deliver(context.Background(), newMessage("p@example.net", testMessage), []string{"alice@contoso.com"}) {
			if r.Err != nil {
				t.Fatalf("delivery %d: %v", i, r.Err)
			}
		}
	}
	if n := len(files(t, m, "alice@contoso.com", "new")); n != 2 {
		t.Fatalf("new/ holds %d files, want 2", n)
	}
}

func TestMaildirConcurrent(t *testing.T) {
	m := newMaildir(t)
	const n = 20
	var wg sync.WaitGroup
	errs := make(chan error, n)
	for range n {
		wg.Go(func() {
			for _, r := range m.Deliver(context.Background(), newMessage("p@example.net", testMessage), []string{"alice@contoso.com"}) {
				if r.Err != nil {
					errs <- r.Err
				}
			}
		})
	}
	wg.Wait()
	close(errs)
	for err := range errs {
		t.Error(err)
	}
	if got := len(files(t, m, "alice@contoso.com", "new")); got != n {
		t.Fatalf("new/ holds %d files, want %d", got, n)
	}
}

// TestMaildirLarge delivers a message bigger than every buffer, with CRLF
// pairs split across reads, and checks the conversion end to end.
func TestMaildirLarge(t *testing.T) {
	var b strings.Builder
	b.WriteString("Subject: big\r\n\r\n")
	for i := 0; b.Len() < 3<<20; i++ {
		b.WriteString(strings.Repeat("x", i%997))
		b.WriteString("\r\n")
	}
	body := b.String()
	msg := newMessage("p@example.net", body)
	msg.Open = func() (io.ReadCloser, error) {
		return io.NopCloser(&oddReader{s: body}), nil
	}
	m := newMaildir(t)
	for _, r := range m.Deliver(context.Background(), msg, []string{"bob@contoso.com"}) {
		if r.Err != nil {
			t.Fatal(r.Err)
		}
	}
	got := readOnly(t, m, "bob@contoso.com")
	want := "Return-Path: <p@example.net>\nDelivered-To: bob@contoso.com\n" + strings.ReplaceAll(body, "\r\n", "\n")
	if got != want {
		t.Fatalf("large message differs after conversion (got %d bytes, want %d)", len(got), len(want))
	}
}

// oddReader returns reads of varying, odd sizes.
type oddReader struct {
	s string
	n int
}

func (r *oddReader) Read(p []byte) (int, error) {
	if r.s == "" {
		return 0, io.EOF
	}
	r.n++
	k := min(len(p), len(r.s), 1+(r.n*7919)%65537)
	copy(p, r.s[:k])
	r.s = r.s[k:]
	return k, nil
}

func TestLFWriter(t *testing.T) {
	for _, tc := range []struct{ in, want string }{
		{"", ""},
		{"a\r\nb\r\n", "a\nb\n"},
		{"a\nb", "a\nb"},
		{"lone\rCR", "lone\rCR"},
		{"trailing\r", "trailing\r"},
		{"\r\r\n", "\r\n"},
		{"\r\n\r\n", "\n\n"},
		{"x\r\r\r\ny", "x\r\r\ny"},
	} {
		for _, chunk := range []int{1, 2, 3, 1 << 20} {
			var out bytes.Buffer
			w := newLFWriter(&out)
			for in := tc.in; in != ""; {
				k := min(chunk, len(in))
				if n, err := w.Write([]byte(in[:k])); err != nil || n != k {
					t.Fatalf("Write = %d, %v", n, err)
				}
				in = in[k:]
			}
			if err := w.Flush(); err != nil {
				t.Fatal(err)
			}
			if out.String() != tc.want {
				t.Errorf("%q in chunks of %d: got %q, want %q", tc.in, chunk, out.String(), tc.want)
			}
			if w.written != int64(out.Len()) || w.lines != int64(strings.Count(tc.want, "\n")) {
				t.Errorf("%q: counted %d bytes %d lines", tc.in, w.written, w.lines)
			}
		}
	}
}

// TestMaildirFailures checks that local trouble is a transient failure
// naming the mailbox, leaves no file behind and does not touch the stored
// message.
func TestMaildirFailures(t *testing.T) {
	for _, tc := range []struct {
		name     string
		setup    func(t *testing.T, m *Maildir, msg *delivery.Message)
		ctx      func() context.Context
		want     string
		asRoot   bool // whether the case works when the test runs as root
		wantTmpE bool // whether tmp/ exists and must be empty afterwards
	}{
		{
			name: "read-only root",
			setup: func(t *testing.T, m *Maildir, _ *delivery.Message) {
				if err := os.MkdirAll(m.Root, 0o700); err != nil {
					t.Fatal(err)
				}
				if err := os.Chmod(m.Root, 0o500); err != nil {
					t.Fatal(err)
				}
				t.Cleanup(func() { os.Chmod(m.Root, 0o700) })
			},
			want: "451 4.3.0 mailbox alice@contoso.com: cannot store message: create maildir: permission denied",
		},
		{
			name: "read-only tmp",
			setup: func(t *testing.T, m *Maildir, msg *delivery.Message) {
				m.Deliver(context.Background(), msg, []string{"alice@contoso.com"}) // creates the folders
				os.RemoveAll(filepath.Join(m.Path("alice@contoso.com"), "new"))
				os.Mkdir(filepath.Join(m.Path("alice@contoso.com"), "new"), 0o700)
				if err := os.Chmod(filepath.Join(m.Path("alice@contoso.com"), "tmp"), 0o500); err != nil {
					t.Fatal(err)
				}
			},
			want: "451 4.3.0 mailbox alice@contoso.com: cannot store message: create file in tmp: permission denied",
		},
		{
			name: "root is a file",
			setup: func(t *testing.T, m *Maildir, _ *delivery.Message) {
				if err := os.WriteFile(m.Root, nil, 0o600); err != nil {
					t.Fatal(err)
				}
			},
			want:   "451 4.3.0 mailbox alice@contoso.com: cannot store message: create mailbox root: not a directory",
			asRoot: true,
		},
		{
			name: "new is a file",
			setup: func(t *testing.T, m *Maildir, _ *delivery.Message) {
				dir := m.Path("alice@contoso.com")
				for _, d := range []string{"tmp", "cur"} {
					if err := os.MkdirAll(filepath.Join(dir, d), 0o700); err != nil {
						t.Fatal(err)
					}
				}
				if err := os.WriteFile(filepath.Join(dir, "new"), nil, 0o600); err != nil {
					t.Fatal(err)
				}
			},
			want:     "451 4.3.0 mailbox alice@contoso.com: cannot store message: create maildir: not a directory",
			asRoot:   true,
			wantTmpE: true,
		},
		{
			name: "stored message unreadable",
			setup: func(t *testing.T, m *Maildir, msg *delivery.Message) {
				msg.Open = func() (io.ReadCloser, error) {
					return io.NopCloser(io.MultiReader(strings.NewReader("Subject: x\r\n"), errReader{})), nil
				}
			},
			want:     "451 4.3.0 mailbox alice@contoso.com: cannot store message: read stored message: disk read error",
			asRoot:   true,
			wantTmpE: true,
		},
		{
			name: "cancelled",
			ctx: func() context.Context {
				ctx, cancel := context.WithCancel(context.Background())
				cancel()
				return ctx
			},
			want:   "451 4.3.0 mailbox alice@contoso.com: cannot store message: deliver: context canceled",
			asRoot: true,
		},
		{
			name: "folder escaping root",
			setup: func(t *testing.T, m *Maildir, _ *delivery.Message) {
				m.Resolve = func(string) (string, bool) { return "../alice", true }
			},
			want:   "451 4.3.5 mailbox ../alice: cannot store message: resolve mailbox: invalid mailbox folder name",
			asRoot: true,
		},
	} {
		t.Run(tc.name, func(t *testing.T) {
			if !tc.asRoot && os.Geteuid() == 0 {
				t.Skip("root ignores file permissions")
			}
			m := newMaildir(t)
			msg := newMessage("p@example.net", testMessage)
			if tc.setup != nil {
				tc.setup(t, m, msg)
			}
			ctx := context.Background()
			if tc.ctx != nil {
				ctx = tc.ctx()
			}
			res := m.Deliver(ctx, msg, []string{"alice@contoso.com", "a.smith@contoso.com"})
			for _, r := range res {
				var de *delivery.Error
				if !errors.As(r.Err, &de) || delivery.IsPermanent(r.Err) || !strings.HasPrefix(de.Error(), tc.want) {
					t.Fatalf("%s: got %v, want transient %q...", r.Recipient, r.Err, tc.want)
				}
				if strings.Contains(de.Message, m.Root) {
					t.Errorf("reply text reveals the path: %q", de.Message)
				}
			}
			if tc.wantTmpE {
				if tmp := files(t, m, "alice@contoso.com", "tmp"); len(tmp) != 0 {
					t.Errorf("tmp/ not empty after a failed delivery: %v", tmp)
				}
			}
		})
	}
}

type errReader struct{}

func (errReader) Read([]byte) (int, error) { return 0, errors.New("disk read error") }
