package smtpd

import (
	"errors"
	"fmt"
	"io"
	"strconv"
	"strings"
)

// BDAT (CHUNKING, RFC 3030): the message comes in chunks of announced
// sizes, "BDAT <size>" or "BDAT <size> LAST", each followed by exactly
// that many octets with no dot-stuffing and no end marker. The octets of
// every BDAT are read, whatever its reply, so the next command is read
// where the client sent it (section 2: the server must stay in step even
// when it refuses a chunk). Between the chunks of one message only BDAT
// continues it; RSET and QUIT end it, NOOP is answered, DATA is refused
// with 503 (section 3: DATA and BDAT are not mixed in one transaction)
// and other commands are refused without ending it.

// errBDATAborted ends a chunked message the client abandoned (RSET, QUIT,
// a BDAT that cannot be parsed, too many protocol errors). It wraps
// io.ErrUnexpectedEOF: for the queue it is data that ended early.
var errBDATAborted = fmt.Errorf("BDAT transaction abandoned: %w", io.ErrUnexpectedEOF)

// parseBDAT reads "<size> [LAST]" (RFC 3030 section 2, bdat-cmd).
func parseBDAT(arg string) (size int64, last bool, ok bool) {
	f := strings.Fields(arg)
	if len(f) == 0 || len(f) > 2 {
		return 0, false, false
	}
	n, err := strconv.ParseInt(f[0], 10, 64)
	if err != nil || n < 0 || strings.HasPrefix(f[0], "+") {
		return 0, false, false
	}
	if len(f) == 2 {
		if !strings.EqualFold(f[1], "LAST") {
			return 0, false, false
		}
		last = true
	}
	return n, last, true
}

// bdat runs the first BDAT of a message and, through the chunk reader,
// every further one until LAST.
func (c *conn) bdat(arg string) {
	size, last, ok := parseBDAT(arg)
	if !ok {
		// Without the size we cannot find the next command: close.
		c.closeAfterNextWrite()
		c.reply(501, "5.5.4", "Invalid arguments: use BDAT <size> [LAST]; closing connection")
		return
	}
	refuse := func(code int, enh, text string) {
		if err := c.discard(size); err != nil {
			c.quit = true
			return
		}
		c.reply(code, enh, text)
	}
	switch {
	case c.sess.helo == "":
		refuse(replyNoHello.code, replyNoHello.enh, replyNoHello.text)
		return
	case !c.sess.hasFrom:
		refuse(replyNoMail.code, replyNoMail.enh, replyNoMail.text)
		return
	case len(c.sess.rcpts) == 0:
		refuse(replyNoRcpt.code, replyNoRcpt.enh, replyNoRcpt.text)
		return
	}
	cr := &bdatReader{c: c, remaining: size, last: last, total: size}
	err := c.sess.Data(cr)
	// Whatever the session answered, read the rest of the chunk that was
	// being read; later chunks the client pipelined find no transaction
	// and are read and refused one by one.
	if cr.err == nil && cr.remaining > 0 {
		if derr := c.discard(cr.remaining); derr != nil {
			cr.err = derr
		}
	}
	c.sess.Reset()
	switch {
	case errors.Is(cr.err, errBDATAborted):
		c.replyAbort(cr)
		return
	case cr.err != nil && cr.err != io.EOF:
		// The connection failed mid-chunk: nothing was queued and there
		// is no one to answer.
		c.quit = true
		return
	}
	if err == nil {
		c.reply(250, "2.0.0", "OK")
		return
	}
	c.replyErr(err, 554, "5.0.0")
}

// replyAbort answers the command that abandoned a chunked message.
func (c *conn) replyAbort(cr *bdatReader) {
	switch cr.abortVerb {
	case "RSET":
		c.reply(250, "2.0.0", replyReset)
	case "QUIT":
		c.reply(221, "2.0.0", c.replyQuit())
		c.quit = true
	case "BDAT":
		c.closeAfterNextWrite()
		c.reply(501, "5.5.4", "Invalid arguments: use BDAT <size> [LAST]; closing connection")
	}
}

// discard reads and drops n octets of chunk data.
func (c *conn) discard(n int64) error {
	m, err := io.CopyN(io.Discard, c.br, n)
	if err == nil && m < n {
		err = io.ErrUnexpectedEOF
	}
	return err
}

// bdatReader hands the session the octets of one BDAT chunk after
// another. At the end of a chunk that is not LAST it acknowledges the
// chunk and reads the next command itself.
type bdatReader struct {
	c         *conn
	remaining int64 // octets of the current chunk not read yet
	last      bool  // the current chunk is the LAST one
	total     int64 // octets announced so far
	err       error // io.EOF after LAST, errBDATAborted, or the connection's error
	abortVerb string
}

func (r *bdatReader) Read(p []byte) (int, error) {
	for r.remaining == 0 {
		if r.err != nil {
			return 0, r.err
		}
		if r.last {
			r.err = io.EOF
			return 0, io.EOF
		}
		r.next()
	}
	if r.err != nil && r.err != io.EOF {
		return 0, r.err
	}
	if int64(len(p)) > r.remaining {
		p = p[:r.remaining]
	}
	n, err := r.c.br.Read(p)
	r.remaining -= int64(n)
	if err != nil {
		if err == io.EOF {
			err = io.ErrUnexpectedEOF
		}
		r.err = err
		if n > 0 {
			return n, nil
		}
		return 0, err
	}
	return n, nil
}

// next acknowledges the chunk just read and reads commands until the next
// BDAT, or until the client abandons the message.
func (r *bdatReader) next() {
	c := r.c
	c.reply(250, "2.0.0", fmt.Sprintf("%d octets received", r.total))
	for {
		line, err := c.readLine()
		if err != nil {
			c.readFailed(err)
			r.err = err
			return
		}
		c.plog.Command(line)
		verb, arg := parseCommand(line)
		switch verb {
		case "BDAT":
			size, last, ok := parseBDAT(arg)
			if !ok {
				r.abortVerb, r.err = verb, errBDATAborted
				return
			}
			r.remaining, r.last = size, last
			r.total += size
			if size == 0 && !last {
				c.reply(250, "2.0.0", fmt.Sprintf("%d octets received", r.total))
				continue
			}
			return
		case "RSET", "QUIT":
			r.abortVerb, r.err = verb, errBDATAborted
			return
		case "NOOP":
			c.reply(250, "2.0.0", replyNoop)
		case "DATA":
			c.protocolError(503, "5.5.1", "DATA and BDAT cannot be mixed in one transaction (RFC 3030 section 3)")
		default:
			c.protocolError(503, "5.5.1", "Only BDAT, NOOP, RSET or QUIT may follow BDAT before BDAT LAST")
		}
		if c.quit {
			r.abortVerb, r.err = "", errBDATAborted
			return
		}
	}
}
