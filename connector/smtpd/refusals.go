package smtpd

import "strconv"

// RefusalObserver, when the server's Observer implements it, learns of
// every refusal the server sends (a 4xx or 5xx reply, RFC 5321 section
// 4.2.1), so that the admin center's dashboard can show refusals by
// reason. reply is the code and the enhanced status code ("550 5.7.54";
// the code alone when the reply carries none), never the text: the text
// can name addresses, and the set of labels must stay small.
type RefusalObserver interface {
	Refused(connector, reply string)
}

// noteRefusal tells the observer about a 4xx or 5xx reply.
func (c *conn) noteRefusal(code int, enhanced string) {
	o, ok := c.srv.deps.Observer.(RefusalObserver)
	if !ok {
		return
	}
	reply := strconv.Itoa(code)
	if enhanced != "" {
		reply += " " + enhanced
	}
	o.Refused(c.cs.rc.Name, reply)
}
