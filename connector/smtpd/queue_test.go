package smtpd

import (
	"context"
	"errors"
	"io"
	"log/slog"
	"testing"

	"github.com/transportd/transportd/certs"
	"github.com/transportd/transportd/policies/domains"
	"github.com/transportd/transportd/transport/durable"
	"github.com/transportd/transportd/transport/mail/queue/journal"
	"github.com/transportd/transportd/transport/mail/queue/message"
)

// journalQueue is a Queue on the real journal, as the daemon's adapter
// (service.smtpIntake) makes of the queue manager.
type journalQueue struct{ *journal.Journal }

func (q journalQueue) Enqueue(ctx context.Context, m Message, body io.Reader) (string, error) {
	env := message.Envelope{ID: m.ID, Source: "SMTP", From: m.From, Connector: m.Connector, RemoteAddr: m.RemoteAddr.String(),
		HeloName: m.HeloName, AuthUser: m.AuthUser, TLS: m.TLS, ReceivedAt: m.ReceivedAt, MaxMessageLen: m.MaxMessageLen}
	for _, r := range m.Recipients {
		env.Recipients = append(env.Recipients, message.Recipient{Address: r.Address, Local: r.Local, Notify: r.Notify})
	}
	id, err := q.Journal.Enqueue(ctx, env, body)
	if errors.Is(err, message.ErrTooLarge) {
		return "", ErrMessageTooLarge
	}
	return id, err
}

// openTestQueue opens a journal in dir, closed when the test ends.
func openTestQueue(tb testing.TB, dir string) journalQueue {
	tb.Helper()
	j, err := journal.Open(dir, slog.New(slog.DiscardHandler))
	if err != nil {
		tb.Fatal(err)
	}
	tb.Cleanup(func() { j.Close() })
	return journalQueue{j}
}

// testCerts opens a certificate store in dir with a self-signed
// certificate for mail.contoso.com, as the daemon makes at first start.
func testCerts(tb testing.TB, dir string) *certs.Store {
	tb.Helper()
	store, err := certs.Open(dir, durable.WriteFile, slog.New(slog.DiscardHandler))
	if err != nil {
		tb.Fatal(err)
	}
	if _, _, err := store.EnsureDefault("mail.contoso.com"); err != nil {
		tb.Fatal(err)
	}
	return store
}

// testDomains is the accepted domain table of the tests: contoso.com,
// authoritative and default.
func testDomains(tb testing.TB) *domains.Table {
	tb.Helper()
	tbl, err := domains.NewTable([]domains.AcceptedDomain{{Name: "contoso.com", DomainName: "contoso.com", DomainType: domains.Authoritative, Default: true}})
	if err != nil {
		tb.Fatal(err)
	}
	return tbl
}
