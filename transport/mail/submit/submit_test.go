package submit

import (
	"context"
	"errors"
	"net"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"
)

func ptr(s string) *string { return &s }

func TestPrepare(t *testing.T) {
	root := User{UID: 0, Name: "root"}
	for _, c := range []struct {
		name  string
		req   Request
		msg   string
		from  string
		rcpts []string
		has   []string
		lacks []string
		code  int
	}{
		{name: "arguments and own address", req: Request{Recipients: []string{"alice", "bob@example.org, carol@example.org"}},
			msg: "Subject: x\n\nbody\n", from: "root@contoso.com",
			rcpts: []string{"alice@contoso.com", "bob@example.org", "carol@example.org"}, has: []string{"From: <root@contoso.com>\r\n", "body\r\n"}},
		{name: "-t adds header recipients and drops Bcc", req: Request{Extract: true, Recipients: []string{"x@example.org"}},
			msg:  "From: A <a@contoso.com>\nTo: b@example.org\nCc: \"C\" <c@example.org>, b@example.org\nBcc: hidden@example.org\n\nbody\n",
			from: "root@contoso.com", rcpts: []string{"x@example.org", "b@example.org", "c@example.org", "hidden@example.org"},
			has: []string{"From: A <a@contoso.com>"}, lacks: []string{"Bcc", "hidden@example.org"}},
		{name: "-f and -F", req: Request{From: ptr("app@contoso.com"), FullName: "Nightly Job", Recipients: []string{"a@example.org"}},
			msg: "Subject: x\n\nbody\n", from: "app@contoso.com", rcpts: []string{"a@example.org"}, has: []string{"From: Nightly Job <app@contoso.com>"}},
		{name: "null sender", req: Request{From: ptr("<>"), Recipients: []string{"a@example.org"}},
			msg: "Subject: x\n\nbody\n", from: "", rcpts: []string{"a@example.org"}, has: []string{"From: <root@contoso.com>"}},
		{name: "text without a header is the body", req: Request{Recipients: []string{"a@example.org"}},
			msg: "just a line of text\n", from: "root@contoso.com", rcpts: []string{"a@example.org"}, has: []string{"\r\n\r\njust a line of text\r\n"}},
		{name: "no recipients", req: Request{}, msg: "Subject: x\n\nbody\n", code: ExUsage},
		{name: "-t without any", req: Request{Extract: true}, msg: "Subject: x\n\nbody\n", code: ExUsage},
		{name: "bad argument", req: Request{Recipients: []string{"a@@b"}}, msg: "Subject: x\n\nbody\n", code: ExNoUser},
		{name: "bad -f", req: Request{From: ptr("a@@b"), Recipients: []string{"a@example.org"}}, msg: "Subject: x\n\nbody\n", code: ExNoUser},
		{name: "bad To with -t", req: Request{Extract: true}, msg: "To: <<<\n\nbody\n", code: ExDataErr},
		{name: "empty", req: Request{Recipients: []string{"a@example.org"}}, msg: "\n", code: ExDataErr},
		{name: "NUL", req: Request{Recipients: []string{"a@example.org"}}, msg: "Subject: x\n\nb\x00dy\n", code: ExDataErr},
	} {
		t.Run(c.name, func(t *testing.T) {
			p, err := Prepare(Submission{User: root, Request: c.req, Message: []byte(c.msg)}, "contoso.com")
			if c.code != 0 {
				var e *Error
				if !errors.As(err, &e) || e.Status != c.code {
					t.Fatalf("got %v, want exit %d", err, c.code)
				}
				return
			}
			if err != nil {
				t.Fatal(err)
			}
			if p.From != c.from || strings.Join(p.Recipients, " ") != strings.Join(c.rcpts, " ") {
				t.Errorf("envelope %q %q", p.From, p.Recipients)
			}
			for _, h := range c.has {
				if !strings.Contains(string(p.Message), h) {
					t.Errorf("message lacks %q:\n%s", h, p.Message)
				}
			}
			for _, h := range c.lacks {
				if strings.Contains(string(p.Message), h) {
					t.Errorf("message has %q:\n%s", h, p.Message)
				}
			}
			if strings.Contains(strings.ReplaceAll(string(p.Message), "\r\n", ""), "\n") {
				t.Errorf("bare LF left:\n%q", p.Message)
			}
		})
	}
}

// The socket tells the daemon who submits; the client cannot claim it.
func TestServerNamesThePeer(t *testing.T) {
	dir := t.TempDir()
	path := filepath.Join(dir, SocketName)
	got := make(chan Submission, 1)
	s := &Server{Submit: func(_ context.Context, sub Submission) (string, error) {
		got <- sub
		if strings.Contains(string(sub.Message), "refuse") {
			return "", &Error{ExDataErr, errors.New("refused as asked")}
		}
		return "QID", nil
	}, MaxSize: 100}
	if err := s.Listen(path); err != nil {
		t.Fatal(err)
	}
	if st, err := os.Stat(path); err != nil || st.Mode().Perm() != 0o666 {
		t.Fatalf("socket mode %v %v", st.Mode(), err)
	}
	ctx, cancel := context.WithCancel(context.Background())
	done := make(chan error)
	go func() { done <- s.Serve(ctx) }()
	defer func() { cancel(); <-done }()
	r, err := Send(ctx, path, Request{Recipients: []string{"a@example.org"}}, strings.NewReader("Subject: x\r\n\r\nbody\r\n"))
	if err != nil || r.ID != "QID" || r.Status != 0 {
		t.Fatalf("%+v %v", r, err)
	}
	sub := <-got
	if sub.User.UID != os.Getuid() || sub.User.Name == "" || string(sub.Message) != "Subject: x\r\n\r\nbody\r\n" {
		t.Fatalf("%+v", sub)
	}
	if r, _ := Send(ctx, path, Request{}, strings.NewReader("refuse")); r.Status != ExDataErr || r.Error != "refused as asked" {
		t.Fatalf("%+v", r)
	}
	<-got
	if r, _ := Send(ctx, path, Request{}, strings.NewReader(strings.Repeat("x", 101))); r.Status != ExDataErr || !strings.Contains(r.Error, "bigger") {
		t.Fatalf("%+v", r)
	}
	if _, err := Send(ctx, path+".none", Request{}, strings.NewReader("x")); !errors.Is(err, ErrNotRunning) {
		t.Fatalf("no daemon: %v", err)
	}
}

func FuzzPrepare(f *testing.F) {
	f.Add([]byte("To: a@example.org\nBcc: b@example.org\nSubject: x\n\nbody\n"), true)
	f.Add([]byte("just text"), false)
	f.Add([]byte("From: =?utf-8?q?x?= <a@b>\r\nTo: undisclosed-recipients:;\r\n\r\n"), true)
	f.Fuzz(func(t *testing.T, msg []byte, extract bool) {
		p, err := Prepare(Submission{User: User{Name: "u"}, Request: Request{Extract: extract, Recipients: []string{"r@example.org"}}, Message: msg}, "example.org")
		if err != nil {
			var e *Error
			if !errors.As(err, &e) || e.Status == 0 {
				t.Fatalf("error without an exit code: %v", err)
			}
			return
		}
		if len(p.Recipients) == 0 {
			t.Fatal("prepared without recipients")
		}
		if strings.Contains(strings.ReplaceAll(string(p.Message), "\r\n", ""), "\n") {
			t.Fatalf("bare LF left: %q", p.Message)
		}
	})
}

// A local user who opens many connections and sends nothing holds at most
// MaxConcurrent of them; the others wait in the backlog, and a submission
// goes through once one of them ends.
func TestServerBoundsConcurrentSubmissions(t *testing.T) {
	path := filepath.Join(t.TempDir(), SocketName)
	s := &Server{Submit: func(context.Context, Submission) (string, error) { return "QID", nil }, MaxConcurrent: 2}
	if err := s.Listen(path); err != nil {
		t.Fatal(err)
	}
	ctx, cancel := context.WithCancel(context.Background())
	done := make(chan error)
	go func() { done <- s.Serve(ctx) }()
	defer func() { cancel(); <-done }()
	var idle []net.Conn
	for i := 0; i < 2; i++ {
		c, err := net.Dial("unix", path)
		if err != nil {
			t.Fatal(err)
		}
		defer c.Close()
		idle = append(idle, c)
	}
	sent := make(chan Reply, 1)
	go func() {
		r, _ := Send(ctx, path, Request{Recipients: []string{"a@example.org"}}, strings.NewReader("Subject: x\r\n\r\nbody\r\n"))
		sent <- r
	}()
	select {
	case r := <-sent:
		t.Fatalf("a third submission was served while two held their slots: %+v", r)
	case <-time.After(200 * time.Millisecond): // nothing to wait for: proving absence
	}
	idle[0].Close()
	select {
	case r := <-sent:
		if r.ID != "QID" {
			t.Fatalf("%+v", r)
		}
	case <-time.After(10 * time.Second):
		t.Fatal("the waiting submission was not served after a slot freed")
	}
}
