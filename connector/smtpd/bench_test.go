package smtpd

import (
	"bufio"
	"bytes"
	"context"
	"fmt"
	"io"
	"log/slog"
	"net"
	"net/netip"
	"strings"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/transportd/transportd/connector"
	"github.com/transportd/transportd/policies/domains"
)

// discardQueue takes every message and keeps nothing: the benchmark
// measures the SMTP server alone.
type discardQueue struct{ seq atomic.Uint64 }

func (q *discardQueue) NewID() string { return fmt.Sprintf("%016X", q.seq.Add(1)) }
func (q *discardQueue) Enqueue(_ context.Context, env Message, body io.Reader) (string, error) {
	// Hiding WriteTo makes io.Discard read with its pooled buffer rather
	// than io.MultiReader allocate one per message.
	if _, err := io.Copy(io.Discard, struct{ io.Reader }{body}); err != nil {
		return "", err
	}
	return env.ID, nil
}

// BenchmarkAccept measures accepted messages per second: 50 sessions over
// loopback, each sending 4 KB messages one after another on one
// connection, to a queue that discards them.
func BenchmarkAccept(b *testing.B) { benchAccept(b, false) }

// BenchmarkAcceptConnPerMessage is BenchmarkAccept with a new connection
// for every message, as smtp-source (the relay benchmark's client) and
// many applications send: connection set-up is part of the cost.
func BenchmarkAcceptConnPerMessage(b *testing.B) { benchAccept(b, true) }

func benchAccept(b *testing.B, connPerMessage bool) {
	tbl, err := domains.NewTable([]domains.AcceptedDomain{{Name: "contoso.com", DomainName: "contoso.com", DomainType: domains.Authoritative, Default: true}})
	if err != nil {
		b.Fatal(err)
	}
	srv := New(Deps{Queue: &discardQueue{}, Directory: stubDirectory{}, Logger: slog.New(slog.DiscardHandler)})
	defer srv.Close()
	cs := connector.Defaults("mail.contoso.com")[:1]
	l, err := net.Listen("tcp4", "127.0.0.1:0")
	if err != nil {
		b.Fatal(err)
	}
	cs[0].Bindings = []netip.AddrPort{l.Addr().(*net.TCPAddr).AddrPort()}
	l.Close()
	cs[0].MaxInboundConnectionPerSource = 0
	cs[0].TarpitInterval = 0
	cs[0].ProtocolLoggingLevel = "None"
	if err := srv.Apply(Snapshot{Connectors: cs, Domains: tbl}); err != nil {
		b.Fatal(err)
	}
	addr := cs[0].Bindings[0].String()
	line := strings.Repeat("x", 76) + "\r\n"
	msg := "Subject: bench\r\n\r\n" + strings.Repeat(line, 4096/len(line)) + ".\r\n"
	const sessions = 50
	var next atomic.Int64
	var wg sync.WaitGroup
	errs := make(chan error, sessions)
	b.SetBytes(int64(len(msg)))
	b.ResetTimer()
	start := time.Now()
	for range sessions {
		wg.Add(1)
		go func() {
			defer wg.Done()
			for next.Load() < int64(b.N) {
				if err := benchSession(addr, msg, func() bool { return next.Add(1) <= int64(b.N) }, connPerMessage); err != nil {
					errs <- err
					return
				}
			}
		}()
	}
	wg.Wait()
	b.StopTimer()
	close(errs)
	for err := range errs {
		b.Fatal(err)
	}
	b.ReportMetric(float64(b.N)/time.Since(start).Seconds(), "msg/s")
}

// benchSession sends messages on one connection while more() says so (just
// one when one is set), and quits.
func benchSession(addr, msg string, more func() bool, one bool) error {
	c, err := net.Dial("tcp", addr)
	if err != nil {
		return err
	}
	defer c.Close()
	r := bufio.NewReader(c)
	reply := func() (string, error) {
		for {
			l, err := r.ReadString('\n')
			if err != nil {
				return l, err
			}
			if len(l) < 4 || l[3] == ' ' {
				return l, nil
			}
		}
	}
	if _, err := reply(); err != nil {
		return err
	}
	fmt.Fprintf(c, "EHLO bench.example\r\n")
	if _, err := reply(); err != nil {
		return err
	}
	for more() {
		// One round trip for the envelope (PIPELINING), one for the data.
		io.WriteString(c, "MAIL FROM:<a@fabrikam.com>\r\nRCPT TO:<alice@contoso.com>\r\nDATA\r\n")
		for _, want := range []string{"250", "250", "354"} {
			if l, err := reply(); err != nil || !strings.HasPrefix(l, want) {
				return fmt.Errorf("got %q (%v), want %s", l, err, want)
			}
		}
		io.WriteString(c, msg)
		if l, err := reply(); err != nil || !strings.HasPrefix(l, "250") {
			return fmt.Errorf("after data: %q (%v)", l, err)
		}
		if one {
			break
		}
	}
	io.WriteString(c, "QUIT\r\n")
	reply()
	return nil
}

// benchMessage is a 4 KB message as the relay benchmark's smtp-source
// sends it: a few header fields, then lines of text with CRLF.
func benchMessage() string {
	line := strings.Repeat("x", 76) + "\r\n"
	return "From: <app@contoso.com>\r\nTo: <ops@example.org>\r\nDate: Tue, 1 Dec 2026 00:00:00 +0000\r\n" +
		"Message-Id: <20261201000000.1@bench.example>\r\nSubject: bench\r\n\r\n" + strings.Repeat(line, 4096/len(line))
}

// BenchmarkReceivePath measures what a message's data costs between the
// connection's read buffer and the queue: end of data and dot-stuffing
// (dataReader), line endings (normalizer), the header section read and
// parsed once (readHeader), copied to a buffer as the journal does.
func BenchmarkReceivePath(b *testing.B) {
	data := benchMessage() + ".\r\n"
	src := strings.NewReader(data)
	br := bufio.NewReaderSize(src, readBufferSize)
	b0 := newConnBuffers().(*connBuffers)
	c := &conn{normIn: b0.normIn, normOut: b0.normOut}
	var out bytes.Buffer
	b.SetBytes(int64(len(data)))
	b.ReportAllocs()
	for b.Loop() {
		src.Reset(data)
		br.Reset(src)
		out.Reset()
		in, rest, err := readHeader(c.normalized(newDataReader(br)), 256<<10, 30)
		if err != nil {
			b.Fatal(err)
		}
		out.Write(in.section)
		if _, err := out.ReadFrom(rest); err != nil {
			b.Fatal(err)
		}
	}
}

// BenchmarkNormalizer measures the normalizer alone on CRLF text.
func BenchmarkNormalizer(b *testing.B) {
	data := benchMessage()
	src := strings.NewReader(data)
	buf := make([]byte, normBufferSize)
	p := make([]byte, 32<<10)
	b.SetBytes(int64(len(data)))
	b.ReportAllocs()
	for b.Loop() {
		src.Reset(data)
		n := newNormalizer(src, buf)
		for {
			if _, err := n.Read(p); err != nil {
				break
			}
		}
	}
}
