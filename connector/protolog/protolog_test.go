package protolog

import (
	"bufio"
	"fmt"
	"io"
	"net"
	"path/filepath"
	"strings"
	"testing"

	"github.com/transportd/transportd/connector/protolog/csvlog"
)

func records(t *testing.T, dir, prefix string) [][]string {
	t.Helper()
	files, err := csvlog.Files(dir, prefix)
	if err != nil {
		t.Fatal(err)
	}
	var out [][]string
	for _, f := range files {
		if err := csvlog.ReadFile(f, func(fields, rec []string) bool {
			if strings.Join(fields, ",") != strings.Join(Fields, ",") {
				t.Fatalf("fields %v", fields)
			}
			out = append(out, rec)
			return true
		}); err != nil {
			t.Fatal(err)
		}
	}
	return out
}

func TestMaskCommand(t *testing.T) {
	for in, want := range map[string]string{
		"AUTH PLAIN AGFsaWNlAHNlY3JldA==": "AUTH PLAIN ****",
		"auth login YWxpY2U=":             "auth login ****",
		"AUTH LOGIN":                      "AUTH LOGIN",
		"MAIL FROM:<a@b>":                 "MAIL FROM:<a@b>",
	} {
		if got := MaskCommand(in); got != want {
			t.Errorf("MaskCommand(%q) = %q, want %q", in, got, want)
		}
	}
}

func TestReceiveSession(t *testing.T) {
	dir := t.TempDir()
	l, err := Open(Receive, Options{Dir: dir})
	if err != nil {
		t.Fatal(err)
	}
	s := l.Session("Client Frontend MAIL", "127.0.0.1:587", "127.0.0.1:40000")
	if len(s.ID()) != 16 {
		t.Errorf("session id %q is not 16 hex digits", s.ID())
	}
	s.Connect()
	s.Reply("220 mail.contoso.com ready\r\n")
	s.Command("AUTH LOGIN\r\n")
	s.Reply("334 VXNlcm5hbWU6\r\n")
	s.Command("YWxpY2U=\r\n")
	s.Reply("334 UGFzc3dvcmQ6\r\n")
	s.Command("c2VjcmV0\r\n")
	s.Reply("235 2.7.0 Authentication successful\r\n")
	s.Info("alice@contoso.com authenticated", "")
	s.Command("QUIT\r\n")
	s.Disconnect()
	s.Info("after the end", "") // dropped
	l.Close()
	recs := records(t, dir, "RECV")
	var got []string
	for i, r := range recs {
		if r[3] != fmt.Sprint(i) || r[2] != s.ID() || r[1] != "Client Frontend MAIL" || r[4] != "127.0.0.1:587" || r[5] != "127.0.0.1:40000" {
			t.Errorf("record %d: %q", i, r)
		}
		got = append(got, r[6]+" "+r[7])
	}
	want := []string{"+ ", "> 220 mail.contoso.com ready", "< AUTH LOGIN", "> 334 VXNlcm5hbWU6", "< ****", "> 334 UGFzc3dvcmQ6", "< ****",
		"> 235 2.7.0 Authentication successful", "* alice@contoso.com authenticated", "< QUIT", "- "}
	if strings.Join(got, "|") != strings.Join(want, "|") {
		t.Errorf("events:\n%s\nwant\n%s", strings.Join(got, "\n"), strings.Join(want, "\n"))
	}
}

// TestClientConn drives the send-side wrapper with a fake server: commands
// and replies are logged, message data and AUTH payloads are not.
func TestClientConn(t *testing.T) {
	dir := t.TempDir()
	l, err := Open(Send, Options{Dir: filepath.Join(dir, "send")})
	if err != nil {
		t.Fatal(err)
	}
	cli, srv := net.Pipe()
	s := l.Session("Outbound", "127.0.0.1:1", "127.0.0.1:2")
	s.Connect()
	c := s.Client(cli)
	go func() {
		br := bufio.NewReader(srv)
		io.WriteString(srv, "220 hi\r\n")
		for {
			line, err := br.ReadString('\n')
			if err != nil {
				return
			}
			switch {
			case strings.HasPrefix(line, "AUTH"):
				io.WriteString(srv, "235 ok\r\n")
			case strings.HasPrefix(line, "DATA"):
				io.WriteString(srv, "354 go\r\n")
				for {
					l, _ := br.ReadString('\n')
					if l == ".\r\n" {
						break
					}
				}
				io.WriteString(srv, "250 queued\r\n")
			default:
				io.WriteString(srv, "250 ok\r\n")
			}
		}
	}()
	br := bufio.NewReader(c)
	read := func() { br.ReadString('\n') }
	read()
	for _, cmd := range []string{"EHLO me\r\n", "AUTH PLAIN c2VjcmV0\r\n", "MAIL FROM:<a@b>\r\n", "DATA\r\n"} {
		io.WriteString(c, cmd)
		read()
	}
	io.WriteString(c, "Subject: secret body\r\n\r\nMAIL FROM:<not a command>\r\n")
	io.WriteString(c, ".\r\n")
	read()
	io.WriteString(c, "QUIT\r\n")
	read()
	s.Disconnect()
	c.Close()
	l.Close()
	var got []string
	for _, r := range records(t, filepath.Join(dir, "send"), "SEND") {
		got = append(got, r[6]+" "+r[7])
	}
	want := []string{"+ ", "< 220 hi", "> EHLO me", "< 250 ok", "> AUTH PLAIN ****", "< 235 ok", "> MAIL FROM:<a@b>", "< 250 ok",
		"> DATA", "< 354 go", "< 250 queued", "> QUIT", "< 250 ok", "- "}
	if strings.Join(got, "|") != strings.Join(want, "|") {
		t.Errorf("events:\n%s\nwant\n%s", strings.Join(got, "\n"), strings.Join(want, "\n"))
	}
}
