package service

import (
	"log/slog"
	"strings"
	"testing"
	"time"

	"github.com/transportd/transportd/transport/admin/config"
	"github.com/transportd/transportd/transport/mail/delivery"
	"github.com/transportd/transportd/transport/mail/queue"
)

// After a smart-host AUTH failure the DSNs carry the real reply and
// status and the queue's dates, not "didn't answer" (4.4.1) and
// "couldn't be reached" (5.4.7) (issue 12 item 10).
func TestDSNCarriesTheLastRealErrorAndTheQueueDates(t *testing.T) {
	authErr := &delivery.Error{Code: 451, Enhanced: [3]int{4, 7, 8}, RemoteMTA: "smarthost.example.net", Connection: true,
		Message: "authentication as relay@contoso.com to smarthost.example.net failed: 535 5.7.8 Authentication credentials invalid"}
	received := time.Date(2026, 3, 2, 8, 0, 0, 0, time.UTC)
	lastTry := received.Add(3 * time.Hour)
	until := received.Add(24 * time.Hour) // the queue's expiry, not the notifier's stale 48h
	cfg := config.Defaults("mail.contoso.com")
	cfg.Transport.ExternalPostmasterAddress = "postmaster@contoso.com"
	n := &notifier{config: func() *config.Config { return cfg }, log: slog.New(slog.DiscardHandler)}
	env := queue.Envelope{ID: "Q1", From: "alice@contoso.com", ReceivedAt: received}
	orig := "Subject: report\r\nMessage-ID: <1@contoso.com>\r\n\r\nhi\r\n"
	rcpt := queue.RecipientState{Address: "friend@example.org", Status: queue.StatusRetry, Attempts: 3,
		LastError: authErr.Error(), LastReply: authErr, LastAttempt: lastTry, RetryUntil: until}

	delay := string(n.DSN(env, strings.NewReader(orig), []queue.RecipientState{rcpt}, true, received.Add(4*time.Hour)))
	unfold := strings.ReplaceAll(delay, "\r\n ", " ")
	for _, want := range []string{"Status: 4.7.8", "535 5.7.8 Authentication credentials invalid",
		"Will-Retry-Until: " + until.Format(time.RFC1123Z), "Last-Attempt-Date: " + lastTry.Format(time.RFC1123Z),
		"Remote-MTA: dns; smarthost.example.net", "sign-in"} {
		if !strings.Contains(unfold, want) {
			t.Errorf("delay DSN lacks %q:\n%s", want, delay)
		}
	}
	if strings.Contains(unfold, "didn't answer") || strings.Contains(unfold, "4.4.1") {
		t.Errorf("delay DSN blames an unreachable server:\n%s", delay)
	}

	rcpt.Status, rcpt.Expired = queue.StatusFailed, true
	rcpt.Reply = &delivery.Error{Code: 550, Enhanced: [3]int{4, 4, 7}, Message: "Message expired: could not be delivered within 24h0m0s; last error: " + authErr.Error()}
	fail := string(n.DSN(env, strings.NewReader(orig), []queue.RecipientState{rcpt}, false, until))
	unfold = strings.ReplaceAll(fail, "\r\n ", " ")
	for _, want := range []string{"Status: 5.7.8", "535 5.7.8 Authentication credentials invalid", "expired", "sign-in",
		"Last-Attempt-Date: " + lastTry.Format(time.RFC1123Z)} {
		if !strings.Contains(unfold, want) {
			t.Errorf("failure DSN lacks %q:\n%s", want, fail)
		}
	}
	if strings.Contains(unfold, "couldn't be reached") || strings.Contains(unfold, "5.4.7") {
		t.Errorf("failure DSN blames an unreachable server:\n%s", fail)
	}
}
