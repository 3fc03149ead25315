// Package filestore reads the per-file queue of earlier transportd
// versions and moves it into the journal (Migrate), so that an upgrade
// loses nothing. It writes no new messages: the daemon queues into the
// journal (package journal) only.
//
// On disk, under the queue folder:
//
//	tmp/<id>         a message being received (it never got 250)
//	msg/<id>         a committed message: a header line, the JSON envelope, then the message
//	state/<id>.json  delivery progress of a message that was not finished at once
//
// A message file starts with "TDQ1 <json length> <body offset>\n", then
// the envelope JSON and a newline, padded with spaces up to the body
// offset, where the message begins.
package filestore

import (
	"bufio"
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"io/fs"
	"log/slog"
	"os"
	"path/filepath"
	"strings"

	"github.com/transportd/transportd/transport/mail/queue/message"
)

const fileMagic = "TDQ1 "

// Destination is where Migrate moves the messages: the journal. Enqueue
// must keep env.ID and return only once the message is durable.
type Destination interface {
	Enqueue(ctx context.Context, env message.Envelope, body io.Reader) (string, error)
	SaveState(id string, st *message.State) error
}

// Migrate moves every committed message of the per-file queue under dir
// into dst, keeping its queue id and delivery state, and removes it from
// the old queue once dst has it. Half-received messages (tmp/) never got
// 250 and are removed. A message file that cannot be read is renamed to
// msg/.<id>.damaged for the admin. Without an old queue it does nothing.
// It returns the number of messages moved.
//
// A crash half-way is safe: a message is removed from the old queue only
// after dst has it durably, and one moved twice keeps its id, so the
// journal holds it once.
func Migrate(ctx context.Context, dir string, dst Destination, log *slog.Logger) (int, error) {
	entries, err := os.ReadDir(filepath.Join(dir, "msg"))
	if errors.Is(err, fs.ErrNotExist) {
		return 0, nil
	}
	if err != nil {
		return 0, fmt.Errorf("reading the per-file queue: %w", err)
	}
	if tmp, err := os.ReadDir(filepath.Join(dir, "tmp")); err == nil {
		for _, e := range tmp {
			os.Remove(filepath.Join(dir, "tmp", e.Name()))
		}
	}
	moved := 0
	for _, e := range entries {
		if strings.HasPrefix(e.Name(), ".") {
			continue
		}
		if err := ctx.Err(); err != nil {
			return moved, err
		}
		ok, err := migrateOne(ctx, dir, e.Name(), dst)
		if err != nil {
			return moved, err
		}
		if !ok {
			log.Warn("a message file of the per-file queue is damaged; kept aside for the admin",
				"file", filepath.Join(dir, "msg", "."+e.Name()+".damaged"))
			continue
		}
		moved++
	}
	if moved > 0 {
		log.Info("moved queued messages from the per-file queue into the journal", "messages", moved)
	}
	return moved, nil
}

// migrateOne moves msg/name into dst; ok is false when the file is damaged
// (and was set aside).
func migrateOne(ctx context.Context, dir, name string, dst Destination) (ok bool, err error) {
	path := filepath.Join(dir, "msg", name)
	f, err := os.Open(path)
	if err != nil {
		return false, fmt.Errorf("reading the per-file queue: %w", err)
	}
	defer f.Close()
	env, off, err := readHeader(bufio.NewReader(f))
	if err != nil {
		// Keep it aside for the admin rather than lose or loop on it.
		if err := os.Rename(path, filepath.Join(dir, "msg", "."+name+".damaged")); err != nil {
			return false, fmt.Errorf("setting aside a damaged message file: %w", err)
		}
		return false, nil
	}
	st, err := f.Stat()
	if err != nil {
		return false, fmt.Errorf("reading message %s: %w", env.ID, err)
	}
	if _, err := dst.Enqueue(ctx, env, io.NewSectionReader(f, off, st.Size()-off)); err != nil {
		return false, fmt.Errorf("moving message %s into the journal: %w", env.ID, err)
	}
	statePath := filepath.Join(dir, "state", env.ID+".json")
	if data, err := os.ReadFile(statePath); err == nil {
		var s message.State
		if json.Unmarshal(data, &s) == nil {
			if err := dst.SaveState(env.ID, &s); err != nil {
				return false, fmt.Errorf("moving the state of message %s into the journal: %w", env.ID, err)
			}
		}
	}
	if err := os.Remove(path); err != nil {
		return false, fmt.Errorf("removing migrated message %s: %w", env.ID, err)
	}
	os.Remove(statePath)
	return true, nil
}

// readHeader reads the envelope of a stored message file and returns it
// with the offset of the message.
func readHeader(r *bufio.Reader) (message.Envelope, int64, error) {
	var env message.Envelope
	line, err := r.ReadString('\n')
	if err != nil || !strings.HasPrefix(line, fileMagic) {
		return env, 0, errors.New("not a queue file")
	}
	var n, off int
	if _, err := fmt.Sscanf(line[len(fileMagic):], "%d %d", &n, &off); err != nil || n <= 0 || n > 1<<24 || off < n {
		return env, 0, errors.New("bad envelope length")
	}
	js := make([]byte, n)
	if _, err := io.ReadFull(r, js); err != nil {
		return env, 0, fmt.Errorf("reading envelope: %w", err)
	}
	if err := json.Unmarshal(js, &env); err != nil {
		return env, 0, fmt.Errorf("decoding envelope: %w", err)
	}
	return env, int64(off), nil
}
