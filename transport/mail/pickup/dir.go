package pickup

import (
	"context"
	"errors"
	"fmt"
	"io"
	"io/fs"
	"log/slog"
	"os"
	"path/filepath"
	"slices"
	"strings"
	"syscall"
	"time"

	"github.com/fsnotify/fsnotify"
)

// Submitter queues a picked-up message and returns its queue id. An error
// whose chain holds a Permanent() bool method returning true (such as
// *delivery.Error with a 5xx code) means the message is refused for good:
// the file goes to badmail. Any other error is transient: the file stays
// for the next scan.
type Submitter func(ctx context.Context, env Envelope, msg []byte) (queueID string, err error)

// File names, as IIS uses them.
const (
	// ext is the extension of the files taken from the pickup folder.
	ext = ".eml"
	// processingSuffix marks a file a scanner has claimed.
	processingSuffix = ".processing"
	// BadSuffix is the extension of a refused message in the badmail
	// folder.
	BadSuffix = ".BAD"
	// ReasonSuffix is the extension of the text file that says why, next
	// to the .BAD file (IIS's .BDR, "bad mail reason").
	ReasonSuffix = ".BDR"
)

// Defaults for the optional Dir and Run settings.
const (
	// DefaultSettle is how long a file's size and time must stay unchanged
	// before it is taken.
	DefaultSettle = 250 * time.Millisecond
	// DefaultInterval is how often Run scans without a file notification.
	DefaultInterval = 30 * time.Second
	// staleClaim is how long a claimed file may stay claimed before a scan
	// takes it back: the scanner that claimed it has died.
	staleClaim = time.Hour
)

// Dir is a pickup folder and what to do with the files dropped in it.
type Dir struct {
	// Pickup is the folder watched for *.eml files.
	Pickup string
	// Badmail receives malformed and refused files; created when needed.
	Badmail string
	// Submit queues a message.
	Submit Submitter
	// MaxSize is the biggest message taken, in bytes; zero or less: no
	// limit.
	MaxSize int64
	// Logger receives one line per file; nil discards.
	Logger *slog.Logger
	// Settle is how long a file's size and modification time must stay
	// unchanged before it is taken, so that a file still being written is
	// left alone; zero means DefaultSettle. Writers should still write to
	// another name (a dot-file, or another folder on the same file system)
	// and rename into place, which is atomic.
	Settle time.Duration
	// OnBadmail, when set, is told of every file moved to Badmail (for
	// message tracking's BADMAIL event).
	OnBadmail func(file, badmailPath string, reason error)
}

func (d *Dir) logger() *slog.Logger {
	if d.Logger == nil {
		return slog.New(slog.DiscardHandler)
	}
	return d.Logger
}

func (d *Dir) settle() time.Duration {
	if d.Settle <= 0 {
		return DefaultSettle
	}
	return d.Settle
}

// check reports a Dir that cannot work.
func (d *Dir) check() error {
	switch {
	case d.Pickup == "":
		return errors.New("pickup: no Pickup folder")
	case d.Badmail == "":
		return errors.New("pickup: no Badmail folder")
	case filepath.Clean(d.Pickup) == filepath.Clean(d.Badmail):
		return fmt.Errorf("pickup: Pickup and Badmail are the same folder %s", d.Pickup)
	case d.Submit == nil:
		return errors.New("pickup: no Submit function")
	}
	return nil
}

// look is what a scan saw of a file.
type look struct {
	size int64
	mod  time.Time
}

// Scan submits every complete *.eml file in Pickup, in name order. It
// leaves alone dot-files, anything that is not a regular file (a symbolic
// link could make it read a file it must not), and files still being
// written: a file is taken only if its size and modification time are the
// same at two looks Settle apart. Scan claims a file by renaming it to
// <name>.processing, so that another scanner cannot take it too, and then:
//
//   - after a successful Submit, removes it;
//   - when it is malformed or refused for good, moves it to Badmail as
//     <name>.BAD next to <name>.BDR, a text file that says why, as IIS does;
//   - after a transient Submit error, renames it back for the next scan.
//
// A file claimed more than an hour ago, by a scanner that died, is
// renamed back and taken again. Scan returns the errors that left files in
// Pickup, joined, or ctx's error when it was cancelled.
func (d *Dir) Scan(ctx context.Context) error {
	if err := d.check(); err != nil {
		return err
	}
	d.recoverStale()
	first, err := d.candidates()
	if err != nil {
		return err
	}
	if len(first) == 0 {
		return nil
	}
	t := time.NewTimer(d.settle())
	select {
	case <-ctx.Done():
		t.Stop()
		return ctx.Err()
	case <-t.C:
	}
	second, err := d.candidates()
	if err != nil {
		return err
	}
	names := make([]string, 0, len(second))
	for name, l := range second {
		if f, ok := first[name]; ok && f.size == l.size && f.mod.Equal(l.mod) {
			names = append(names, name)
		}
	}
	slices.Sort(names)
	var errs []error
	for _, name := range names {
		if err := ctx.Err(); err != nil {
			return err
		}
		if err := d.take(ctx, name); err != nil {
			errs = append(errs, err)
		}
	}
	return errors.Join(errs...)
}

// isCandidate reports whether a file name in Pickup is one to take.
func isCandidate(name string) bool {
	return !strings.HasPrefix(name, ".") && strings.EqualFold(filepath.Ext(name), ext)
}

// candidates lists the *.eml regular files in Pickup.
func (d *Dir) candidates() (map[string]look, error) {
	entries, err := os.ReadDir(d.Pickup)
	if err != nil {
		return nil, fmt.Errorf("pickup: reading %s: %w", d.Pickup, err)
	}
	out := map[string]look{}
	for _, e := range entries {
		if !isCandidate(e.Name()) || !e.Type().IsRegular() {
			continue
		}
		info, err := e.Info()
		if err != nil {
			continue // gone since ReadDir: another scanner took it
		}
		out[e.Name()] = look{size: info.Size(), mod: info.ModTime()}
	}
	return out, nil
}

// recoverStale renames back the files claimed more than staleClaim ago.
func (d *Dir) recoverStale() {
	log := d.logger()
	entries, err := os.ReadDir(d.Pickup)
	if err != nil {
		return // candidates reports it
	}
	for _, e := range entries {
		name, ok := strings.CutSuffix(e.Name(), processingSuffix)
		if !ok || !isCandidate(name) || !e.Type().IsRegular() {
			continue
		}
		info, err := e.Info()
		if err != nil || time.Since(info.ModTime()) < staleClaim {
			continue
		}
		back, err := d.unclaim(name)
		if err != nil {
			log.Error("pickup: cannot take back a stale claimed file", "file", e.Name(), "err", err)
			continue
		}
		log.Warn("pickup: taking back a file claimed over an hour ago; it may be submitted twice", "file", back)
	}
}

// take processes one file of Pickup.
func (d *Dir) take(ctx context.Context, name string) error {
	log := d.logger()
	src := filepath.Join(d.Pickup, name)
	claimed := src + processingSuffix
	if err := os.Rename(src, claimed); err != nil {
		if errors.Is(err, fs.ErrNotExist) {
			return nil // another scanner took it
		}
		return fmt.Errorf("pickup: claiming %s: %w", name, err)
	}
	// The modification time now says when the file was claimed, for
	// recoverStale.
	now := time.Now()
	_ = os.Chtimes(claimed, now, now)

	env, msg, err := d.read(claimed)
	if err != nil {
		if errors.Is(err, ErrMalformed) {
			return d.reject(name, claimed, err)
		}
		return d.retryLater(name, err)
	}
	id, err := d.Submit(ctx, env, msg)
	if err != nil {
		if isPermanent(err) {
			return d.reject(name, claimed, fmt.Errorf("the message was refused: %w", err))
		}
		return d.retryLater(name, fmt.Errorf("submitting: %w", err))
	}
	if err := os.Remove(claimed); err != nil {
		log.Error("pickup: message queued but its file could not be removed; remove it by hand or it will be submitted again in an hour",
			"file", claimed, "queue_id", id, "err", err)
		return fmt.Errorf("pickup: removing %s after queuing it as %s: %w", claimed, id, err)
	}
	log.Info("pickup: message queued", "file", name, "queue_id", id, "from", env.From,
		"recipients", len(env.Recipients), "size", len(msg))
	return nil
}

// read opens a claimed file without following a symbolic link and parses
// it.
func (d *Dir) read(path string) (Envelope, []byte, error) {
	f, err := os.OpenFile(path, os.O_RDONLY|syscall.O_NOFOLLOW, 0)
	if err != nil {
		return Envelope{}, nil, fmt.Errorf("opening: %w", err)
	}
	defer f.Close()
	if info, err := f.Stat(); err != nil {
		return Envelope{}, nil, fmt.Errorf("stat: %w", err)
	} else if !info.Mode().IsRegular() {
		return Envelope{}, nil, fmt.Errorf("%w: not a regular file", ErrMalformed)
	}
	return Parse(f, d.MaxSize)
}

// isPermanent reports whether a Submit error refuses the message for good.
func isPermanent(err error) bool {
	var p interface{ Permanent() bool }
	return errors.As(err, &p) && p.Permanent()
}

// retryLater gives a claimed file back to Pickup after a transient error.
func (d *Dir) retryLater(name string, cause error) error {
	back, err := d.unclaim(name)
	if err != nil {
		return fmt.Errorf("pickup: %s: %w; and putting it back failed: %w", name, cause, err)
	}
	d.logger().Warn("pickup: file left for the next scan", "file", back, "err", cause)
	return fmt.Errorf("pickup: %s: %w", name, cause)
}

// unclaim renames <name>.processing back to <name>, or to a new name if a
// file called <name> was dropped meanwhile, and returns the name used.
func (d *Dir) unclaim(name string) (string, error) {
	claimed := filepath.Join(d.Pickup, name+processingSuffix)
	base := strings.TrimSuffix(name, filepath.Ext(name))
	for i := 0; i < 100; i++ {
		back := name
		if i > 0 {
			back = fmt.Sprintf("%s-%d%s", base, i, ext)
		}
		// A hard link fails when the name exists, unlike rename.
		err := os.Link(claimed, filepath.Join(d.Pickup, back))
		if errors.Is(err, fs.ErrExist) {
			continue
		}
		if err != nil {
			return "", err
		}
		return back, os.Remove(claimed)
	}
	return "", fmt.Errorf("no free name for %s", name)
}

// reject moves a claimed file to Badmail as <base>.BAD and writes the
// reason to <base>.BDR.
func (d *Dir) reject(name, claimed string, reason error) error {
	log := d.logger()
	if err := os.MkdirAll(d.Badmail, 0o750); err != nil {
		return d.retryLater(name, fmt.Errorf("creating the badmail folder: %w (the file was refused: %v)", err, reason))
	}
	base := strings.TrimSuffix(name, filepath.Ext(name))
	var bad, rsn string
	var rf *os.File
	for i := 0; i < 1000 && rf == nil; i++ {
		b := base
		if i > 0 {
			b = fmt.Sprintf("%s-%d", base, i)
		}
		bad = filepath.Join(d.Badmail, b+BadSuffix)
		rsn = filepath.Join(d.Badmail, b+ReasonSuffix)
		if _, err := os.Lstat(bad); err == nil {
			continue
		}
		f, err := os.OpenFile(rsn, os.O_WRONLY|os.O_CREATE|os.O_EXCL, 0o640)
		if errors.Is(err, fs.ErrExist) {
			continue
		}
		if err != nil {
			return d.retryLater(name, fmt.Errorf("writing the reason file: %w (the file was refused: %v)", err, reason))
		}
		rf = f
	}
	if rf == nil {
		return d.retryLater(name, fmt.Errorf("no free name in %s (the file was refused: %v)", d.Badmail, reason))
	}
	text := fmt.Sprintf("File: %s\r\nDate: %s\r\nReason: %s\r\n", name, time.Now().Format(time.RFC1123Z), reason)
	_, werr := io.WriteString(rf, text)
	if cerr := rf.Close(); werr == nil {
		werr = cerr
	}
	if werr != nil {
		_ = os.Remove(rsn)
		return d.retryLater(name, fmt.Errorf("writing %s: %w (the file was refused: %v)", rsn, werr, reason))
	}
	if err := moveFile(claimed, bad); err != nil {
		_ = os.Remove(rsn)
		return d.retryLater(name, fmt.Errorf("moving it to %s: %w (the file was refused: %v)", bad, err, reason))
	}
	log.Warn("pickup: file moved to badmail", "file", name, "badmail", bad, "reason", reason.Error())
	if d.OnBadmail != nil {
		d.OnBadmail(name, bad, reason)
	}
	return nil
}

// moveFile renames src to dst, copying when they are on different file
// systems.
func moveFile(src, dst string) error {
	err := os.Rename(src, dst)
	if err == nil || !errors.Is(err, syscall.EXDEV) {
		return err
	}
	in, err := os.Open(src)
	if err != nil {
		return err
	}
	defer in.Close()
	out, err := os.OpenFile(dst, os.O_WRONLY|os.O_CREATE|os.O_EXCL, 0o640)
	if err != nil {
		return err
	}
	if _, err := io.Copy(out, in); err != nil {
		out.Close()
		os.Remove(dst)
		return err
	}
	if err := out.Close(); err != nil {
		os.Remove(dst)
		return err
	}
	return os.Remove(src)
}

// Run scans Pickup at start, whenever a file in it is created or written
// (fsnotify), and every interval (zero or less: DefaultInterval) as a
// fallback, until ctx is done; then it returns nil. It creates Pickup if
// it does not exist. Without file notifications (inotify unavailable or
// out of watches) it only polls, and says so in the log. After a scan
// that left files because of a transient error, it waits for the next
// interval rather than retrying at once on the next notification.
func (d *Dir) Run(ctx context.Context, interval time.Duration) error {
	if err := d.check(); err != nil {
		return err
	}
	if interval <= 0 {
		interval = DefaultInterval
	}
	log := d.logger()
	if err := os.MkdirAll(d.Pickup, 0o750); err != nil {
		return fmt.Errorf("pickup: creating %s: %w", d.Pickup, err)
	}

	var events <-chan fsnotify.Event
	var watchErrs <-chan error
	w, err := fsnotify.NewWatcher()
	if err == nil {
		defer w.Close()
		err = w.Add(d.Pickup)
	}
	if err != nil {
		log.Warn("pickup: no file notifications; polling only", "folder", d.Pickup, "interval", interval, "err", err)
	} else {
		events, watchErrs = w.Events, w.Errors
	}

	backoff := false
	scan := func() {
		err := d.Scan(ctx)
		backoff = err != nil
		if err != nil && ctx.Err() == nil {
			log.Warn("pickup: scan", "folder", d.Pickup, "err", err)
		}
	}
	scan()
	tick := time.NewTicker(interval)
	defer tick.Stop()
	for {
		select {
		case <-ctx.Done():
			return nil
		case <-tick.C:
			scan()
		case err, ok := <-watchErrs:
			if !ok {
				watchErrs = nil
				continue
			}
			log.Warn("pickup: file notifications", "folder", d.Pickup, "err", err)
		case ev, ok := <-events:
			if !ok {
				events = nil
				continue
			}
			if backoff || ev.Op&(fsnotify.Create|fsnotify.Write) == 0 || !isCandidate(filepath.Base(ev.Name)) {
				continue
			}
			scan()
		}
	}
}
