// Package mailbox holds the local delivery targets of the transport
// pipeline: Maildir, which stores messages where Dovecot or any POP3/IMAP
// server can serve them, and LMTP (RFC 2033), which hands them to an
// external mailbox server. Both implement delivery.Target.
package mailbox

import (
	"context"
	"errors"
	"fmt"
	"io"
	"io/fs"
	"log/slog"
	"os"
	"path/filepath"
	"strconv"
	"strings"
	"sync/atomic"
	"syscall"
	"time"

	"github.com/transportd/transportd/transport/durable"
	"github.com/transportd/transportd/transport/mail/delivery"
)

// Maildir delivers into one Maildir per mailbox so that Dovecot or any
// POP3/IMAP server can serve it. The layout is <Root>/<folder>/Maildir with
// the tmp, new and cur folders of https://cr.yp.to/proto/maildir.html.
//
// A Maildir must not be copied after first use; it is safe for concurrent
// use.
type Maildir struct {
	// Root is the folder holding one folder per mailbox, e.g. <data>/mailboxes.
	Root string
	// Resolve maps a recipient address to the mailbox's folder name (the
	// lower-cased primary SMTP address, e.g. "alice@contoso.com"). ok=false
	// fails that recipient permanently with 550 5.1.1.
	Resolve func(address string) (folder string, ok bool)
	// Hostname is used in unique file names; empty means os.Hostname.
	Hostname string
	// Logger receives one line per delivered or failed copy; nil discards.
	Logger *slog.Logger
	// owner, when set (SetOwner), owns every folder and file delivery
	// creates, so that a mailbox server running as that user (Dovecot's
	// vmail user, say) can serve them although transportd runs as root to
	// bind port 25.
	owner atomic.Pointer[Owner]

	// seq is the per-process delivery counter (the Q part of unique names).
	seq atomic.Uint64
}

// Owner is a numeric user and group.
type Owner struct{ UID, GID int }

// SetOwner sets (or, with nil, clears) the owner of what delivery creates.
func (m *Maildir) SetOwner(o *Owner) { m.owner.Store(o) }

func (m *Maildir) chown(path string) error {
	o := m.owner.Load()
	if o == nil {
		return nil
	}
	return os.Lchown(path, o.UID, o.GID)
}

// Path returns the Maildir folder of a mailbox: <Root>/<folder>/Maildir.
func (m *Maildir) Path(folder string) string {
	return filepath.Join(m.Root, folder, "Maildir")
}

// Deliver stores one copy of msg per mailbox among rcpts and returns one
// result per recipient. Recipients that resolve to the same mailbox share
// the copy (and its result). Unknown recipients fail permanently with
// 550 5.1.1; disk trouble fails transiently with 451 4.3.x naming the
// mailbox, and leaves nothing behind in tmp/ or new/.
func (m *Maildir) Deliver(ctx context.Context, msg *delivery.Message, rcpts []string) []delivery.Result {
	log := m.logger().With("msgid", msg.ID)
	results := make([]delivery.Result, len(rcpts))
	type copyFor struct {
		folder string
		idx    []int // indexes into rcpts sharing this copy
	}
	var copies []*copyFor
	byFolder := make(map[string]*copyFor)
	for i, rcpt := range rcpts {
		results[i].Recipient = rcpt
		folder, ok := "", false
		if m.Resolve != nil {
			folder, ok = m.Resolve(rcpt)
		}
		if !ok {
			// RFC 3463 section 3.2: X.1.1 bad destination mailbox address.
			results[i].Err = delivery.Permanentf([3]int{5, 1, 1}, "<%s>: no such mailbox here", rcpt)
			continue
		}
		c := byFolder[folder]
		if c == nil {
			c = &copyFor{folder: folder}
			byFolder[folder] = c
			copies = append(copies, c)
		}
		c.idx = append(c.idx, i)
	}

	for _, c := range copies {
		// The first recipient of the mailbox names the copy in Delivered-To.
		rcpt := rcpts[c.idx[0]]
		file, err := m.deliverOne(ctx, msg, c.folder, rcpt)
		var derr error
		if err != nil {
			derr = diskFailure(c.folder, err)
			log.Warn("maildir delivery failed", "mailbox", c.folder, "recipient", rcpt, "err", err, "reply", derr.Error())
		} else {
			log.Debug("delivered to maildir", "mailbox", c.folder, "recipients", len(c.idx), "file", file)
		}
		for _, i := range c.idx {
			results[i].Err = derr
		}
	}
	return results
}

func (m *Maildir) logger() *slog.Logger {
	if m.Logger != nil {
		return m.Logger
	}
	return slog.New(slog.DiscardHandler)
}

// diskFailure turns a local storage error into a transient delivery error
// naming the mailbox (RFC 3463 section 3.4: X.3.0 other mail system status;
// X.3.1 mail system full; section 3.3: X.2.2 mailbox full; section 3.4:
// X.3.5 system incorrectly configured).
func diskFailure(folder string, err error) *delivery.Error {
	enhanced := [3]int{4, 3, 0}
	switch {
	case errors.Is(err, syscall.EDQUOT):
		enhanced = [3]int{4, 2, 2}
	case errors.Is(err, syscall.ENOSPC):
		enhanced = [3]int{4, 3, 1}
	case errors.Is(err, errBadFolder):
		enhanced = [3]int{4, 3, 5}
	}
	return delivery.Temporary(enhanced, "mailbox %s: cannot store message: %s", folder, publicReason(err))
}

// publicReason is err without file system paths: the reply text may end up
// in a DSN to the sender, the full error goes to the log only.
func publicReason(err error) string {
	var step *stepError
	if !errors.As(err, &step) {
		return err.Error()
	}
	inner := step.err
	var pe *fs.PathError
	var le *os.LinkError
	switch {
	case errors.As(inner, &pe):
		inner = pe.Err
	case errors.As(inner, &le):
		inner = le.Err
	}
	return step.step + ": " + inner.Error()
}

// stepError wraps an error with the step of the delivery that failed.
type stepError struct {
	step string
	err  error
}

func (e *stepError) Error() string { return e.step + ": " + e.err.Error() }
func (e *stepError) Unwrap() error { return e.err }

func failed(step string, err error) error { return &stepError{step: step, err: err} }

var errBadFolder = errors.New("invalid mailbox folder name")

// validFolder refuses folder names that would leave Root or nest folders.
func validFolder(folder string) error {
	// filepath.IsLocal and the Clean/Base comparison keep the folder one
	// component inside Root whatever the address text (a mailbox from an
	// old mailboxes.yaml was never checked by address.ParseMailbox).
	if folder == "" || folder == "." || folder == ".." ||
		strings.ContainsAny(folder, "/\\\x00") || strings.HasPrefix(folder, ".") ||
		!filepath.IsLocal(folder) || filepath.Base(filepath.Clean(folder)) != folder {
		return fmt.Errorf("%w %q", errBadFolder, folder)
	}
	return nil
}

// deliverOne writes one copy into the mailbox and returns its file name in new/.
//
// The Maildir protocol (https://cr.yp.to/proto/maildir.html): create a
// uniquely named file in tmp/, write and fsync it, then move it into new/.
// A reader never sees a partial file, and a crash leaves at most a stale
// file in tmp/, never a half message in new/.
func (m *Maildir) deliverOne(ctx context.Context, msg *delivery.Message, folder, rcpt string) (name string, err error) {
	if err := validFolder(folder); err != nil {
		return "", failed("resolve mailbox", err)
	}
	if err := ctx.Err(); err != nil {
		return "", failed("deliver", err)
	}
	dir := m.Path(folder)
	if err := m.ensureDirs(folder); err != nil {
		return "", err
	}
	host := m.hostname()

	var f *os.File
	var tmpPath, base string
	for attempt := 0; ; attempt++ {
		base = m.uniqueName(host)
		tmpPath = filepath.Join(dir, "tmp", base)
		f, err = os.OpenFile(tmpPath, os.O_WRONLY|os.O_CREATE|os.O_EXCL, 0o600)
		if err == nil {
			if o := m.owner.Load(); o != nil {
				if err = f.Chown(o.UID, o.GID); err != nil {
					f.Close()
					os.Remove(tmpPath)
					return "", failed("give the file to the mailbox owner", err)
				}
			}
			break
		}
		if !errors.Is(err, fs.ErrExist) || attempt >= 10 {
			return "", failed("create file in tmp", err)
		}
	}
	published := false
	defer func() {
		if f != nil {
			f.Close()
		}
		if !published {
			os.Remove(tmpPath)
		}
	}()

	size, vsize, err := writeMessage(ctx, f, msg, rcpt)
	if err != nil {
		return "", err
	}
	if err := f.Sync(); err != nil {
		return "", failed("sync file", err)
	}
	err = f.Close()
	f = nil
	if err != nil {
		return "", failed("close file", err)
	}

	// Dovecot reads S= (physical size) and W= (size with CRLF line ends)
	// from the name and skips stat()ing or reading the file for them.
	sizes := ",S=" + strconv.FormatInt(size, 10) + ",W=" + strconv.FormatInt(vsize, 10)
	name, err = publish(tmpPath, filepath.Join(dir, "new"), base+sizes, func() string { return m.uniqueName(host) + sizes })
	if err != nil {
		return "", err
	}
	published = true
	if err := durable.SyncDir(filepath.Join(dir, "new")); err != nil {
		// The message is in new/ but maybe not durable: report a transient
		// failure; a retry may duplicate it, which is better than losing it.
		return "", failed("sync new", err)
	}
	return name, nil
}

// publish moves the finished file from tmp/ into newDir without ever
// replacing an existing message: link(2) fails with EEXIST where rename(2)
// would overwrite (the qmail way). On file systems without hard links it
// falls back to rename.
func publish(tmpPath, newDir, name string, another func() string) (string, error) {
	for attempt := 0; ; attempt++ {
		target := filepath.Join(newDir, name)
		err := os.Link(tmpPath, target)
		switch {
		case err == nil:
			// A leftover in tmp/ is harmless (readers clean files older
			// than 36 hours); failing now would deliver the message twice.
			_ = os.Remove(tmpPath)
			return name, nil
		case errors.Is(err, fs.ErrExist) && attempt < 10:
			name = another()
			continue
		case errors.Is(err, syscall.EPERM) || errors.Is(err, syscall.ENOTSUP) || errors.Is(err, syscall.EOPNOTSUPP):
			if _, serr := os.Lstat(target); serr == nil {
				name = another()
				continue
			}
			if err := os.Rename(tmpPath, target); err != nil {
				return "", failed("move file to new", err)
			}
			return name, nil
		default:
			return "", failed("move file to new", err)
		}
	}
}

// ensureDirs creates <Root>/<folder>/Maildir/{tmp,new,cur} with mode 0700
// as needed, fsyncing each parent after a creation so the folders survive a
// crash along with the first message.
func (m *Maildir) ensureDirs(folder string) error {
	dir := m.Path(folder)
	if fi, err := os.Stat(filepath.Join(dir, "new")); err == nil && fi.IsDir() {
		if fi, err := os.Stat(filepath.Join(dir, "tmp")); err == nil && fi.IsDir() {
			return nil
		}
	}
	if err := os.MkdirAll(m.Root, 0o700); err != nil {
		return failed("create mailbox root", err)
	}
	if err := m.chown(m.Root); err != nil {
		return failed("give the mailbox root to its owner", err)
	}
	for _, d := range []string{
		filepath.Join(m.Root, folder),
		dir,
		filepath.Join(dir, "tmp"),
		filepath.Join(dir, "new"),
		filepath.Join(dir, "cur"),
	} {
		err := os.Mkdir(d, 0o700)
		if errors.Is(err, fs.ErrExist) {
			if fi, serr := os.Stat(d); serr != nil || !fi.IsDir() {
				return failed("create maildir", &fs.PathError{Op: "mkdir", Path: d, Err: syscall.ENOTDIR})
			}
			continue
		}
		if err != nil {
			return failed("create maildir", err)
		}
		if err := m.chown(d); err != nil {
			return failed("give the maildir to its owner", err)
		}
		if err := durable.SyncDir(filepath.Dir(d)); err != nil {
			return failed("create maildir", err)
		}
	}
	return nil
}

func (m *Maildir) hostname() string {
	h := m.Hostname
	if h == "" {
		h, _ = os.Hostname()
	}
	if h == "" {
		h = "localhost"
	}
	// The spec: "/" and ":" in the host name become \057 and \072 (":"
	// separates the info part of the name).
	return strings.NewReplacer("/", `\057`, ":", `\072`, ",", `\054`).Replace(h)
}

// uniqueName builds <unix seconds>.M<microseconds>P<pid>Q<counter>.<host>,
// the modern form of the unique names of https://cr.yp.to/proto/maildir.html.
func (m *Maildir) uniqueName(host string) string {
	now := time.Now()
	return fmt.Sprintf("%d.M%dP%dQ%d.%s", now.Unix(), now.Nanosecond()/1000, os.Getpid(), m.seq.Add(1), host)
}

// writeMessage writes the trace headers and the message with LF line ends
// and returns the bytes written and the size the message has with CRLF
// line ends.
func writeMessage(ctx context.Context, w io.Writer, msg *delivery.Message, rcpt string) (size, vsize int64, err error) {
	lw := newLFWriter(w)
	// RFC 5321 section 4.4: the final delivery MTA adds Return-Path with
	// the envelope sender, "<>" for the null reverse-path (section 4.5.5).
	// Delivered-To records the envelope recipient of this copy (the
	// convention of qmail, Postfix and Dovecot's LDA, also used for loop
	// detection).
	hdr := "Return-Path: <" + oneLine(msg.From) + ">\r\nDelivered-To: " + oneLine(rcpt) + "\r\n"
	if _, err := io.WriteString(lw, hdr); err != nil {
		return 0, 0, failed("write file", err)
	}
	if msg.Open == nil {
		return 0, 0, failed("open stored message", errors.New("message has no content"))
	}
	r, err := msg.Open()
	if err != nil {
		return 0, 0, failed("open stored message", err)
	}
	defer r.Close()
	if _, err := io.Copy(lw, ctxReader{ctx: ctx, r: r}); err != nil {
		var we *writeError
		if errors.As(err, &we) {
			return 0, 0, failed("write file", we.err)
		}
		return 0, 0, failed("read stored message", err)
	}
	if err := lw.Flush(); err != nil {
		return 0, 0, failed("write file", err)
	}
	return lw.written, lw.written + lw.lines, nil
}

// oneLine drops CR and LF so that an address cannot inject header lines.
func oneLine(s string) string {
	return strings.NewReplacer("\r", "", "\n", "").Replace(s)
}

// ctxReader stops a copy when the context is done.
type ctxReader struct {
	ctx context.Context
	r   io.Reader
}

func (c ctxReader) Read(p []byte) (int, error) {
	if err := c.ctx.Err(); err != nil {
		return 0, err
	}
	return c.r.Read(p)
}
