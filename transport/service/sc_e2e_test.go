package service

import (
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/transportd/transportd/transport/admin/config"
)

// waitSinkMark waits for the smart host to receive a message containing mark.
func waitSinkMark(t *testing.T, d *testDaemon, mark string) sinkMsg {
	t.Helper()
	deadline := time.After(10 * time.Second)
	for {
		if m, ok := d.sink.find(mark); ok {
			return m
		}
		select {
		case <-d.sink.got:
		case <-deadline:
			t.Fatalf("the smart host did not get %q within 10 s", mark)
		}
	}
}

// sendLogText flushes the send protocol log and returns the text of the
// SEND*.log files in dir.
func sendLogText(t *testing.T, d *testDaemon, dir string) string {
	t.Helper()
	_, send := d.svc.ProtocolLogs()
	if err := send.Flush(); err != nil {
		t.Fatal(err)
	}
	files, _ := filepath.Glob(filepath.Join(dir, "SEND*.log"))
	var b strings.Builder
	for _, f := range files {
		data, err := os.ReadFile(f)
		if err != nil {
			t.Fatal(err)
		}
		b.Write(data)
	}
	return b.String()
}

// The daemon binds the connector's SourceIPAddress, writes the send
// protocol log for a connector whose own ProtocolLoggingLevel is Verbose
// (the server-wide level is None) into SendProtocolLogPath, and moves the
// log when the path changes, without a restart.
func TestSendConnectorSourceIPAndLogPathLive(t *testing.T) {
	first := filepath.Join(t.TempDir(), "send1")
	d := startDaemon(t, func(c *config.Config, d *testDaemon) {
		c.SendConnectors[0].SourceIPAddress = "127.0.0.2"
		c.SendConnectors[0].ProtocolLoggingLevel = "Verbose"
		c.Logging.SendProtocolLoggingLevel = "None"
		c.Logging.SendProtocolLogPath = first
	})
	d.submit(t, []string{"friend@example.org"}, "Subject: from .2\r\n\r\nmark-one\r\n")
	waitSinkMark(t, d, "mark-one")
	log1 := sendLogText(t, d, first)
	if !strings.Contains(log1, ",127.0.0.2:") || !strings.Contains(log1, d.sink.addr) {
		t.Fatalf("send protocol log in %s does not show the connection from 127.0.0.2 to %s:\n%s", first, d.sink.addr, log1)
	}

	second := filepath.Join(t.TempDir(), "send2")
	if _, err := config.Update(d.cfgPath, func(c *config.Config) error {
		c.Logging.SendProtocolLogPath = second
		c.SendConnectors[0].SmtpMaxMessagesPerConnection = 1 // a new connection, logged in the new folder
		return nil
	}); err != nil {
		t.Fatal(err)
	}
	d.waitReload()
	d.submit(t, []string{"friend@example.org"}, "Subject: moved\r\n\r\nmark-two\r\n")
	waitSinkMark(t, d, "mark-two")
	if log2 := sendLogText(t, d, second); !strings.Contains(log2, ",127.0.0.2:") {
		t.Fatalf("after SendProtocolLogPath changed, no send protocol log in %s:\n%s", second, log2)
	}
}
