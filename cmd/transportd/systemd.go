package main

import (
	"context"
	"log/slog"
	"os"
	"time"

	"github.com/coreos/go-systemd/v22/daemon"
)

// submitSocketFromEnv is where the daemon listens for `transportd
// sendmail`: TRANSPORTD_SUBMIT_SOCKET, else the systemd unit's runtime
// folder (RuntimeDirectory=transportd, reachable by every local user),
// else "" (the data folder: the daemon's own user and root only).
func submitSocketFromEnv() string {
	if p := os.Getenv("TRANSPORTD_SUBMIT_SOCKET"); p != "" {
		return p
	}
	if d := os.Getenv("RUNTIME_DIRECTORY"); d != "" {
		return d + "/submit.sock"
	}
	return ""
}

// systemdNotifier speaks sd_notify(3) when systemd started the daemon
// (NOTIFY_SOCKET set) and does nothing otherwise.
type systemdNotifier struct{ log *slog.Logger }

func newSystemdNotifier(log *slog.Logger) systemdNotifier { return systemdNotifier{log: log} }

func (n systemdNotifier) state(s string) {
	if _, err := daemon.SdNotify(false, s); err != nil {
		n.log.Warn("sd_notify failed", "state", s, "err", err)
	}
}

// watchdog sends WATCHDOG=1 at half the interval systemd asks for
// (WatchdogSec=), as long as healthy answers in time, until ctx is done.
// A daemon that hangs stops sending, and systemd restarts it.
func (n systemdNotifier) watchdog(ctx context.Context, healthy func(context.Context) error) {
	every, err := daemon.SdWatchdogEnabled(false)
	if err != nil || every <= 0 {
		return
	}
	t := time.NewTicker(every / 2)
	defer t.Stop()
	for {
		select {
		case <-ctx.Done():
			return
		case <-t.C:
			hctx, cancel := context.WithTimeout(ctx, every/2)
			err := healthy(hctx)
			cancel()
			if err != nil {
				n.log.Error("watchdog: not telling systemd we are alive", "err", err)
				continue
			}
			n.state("WATCHDOG=1")
		}
	}
}
