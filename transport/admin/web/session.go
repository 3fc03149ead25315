package web

import (
	"crypto/rand"
	"crypto/subtle"
	"encoding/base64"
	"net/http"
	"slices"
	"sync"
	"time"
)

// cookieName is the session cookie. The __Host- prefix makes browsers
// insist on Secure, Path=/ and no Domain, so no other host can set it.
const (
	cookieName       = "__Host-ecp-session"
	signInCookieName = "__Host-ecp-signin"
	// maxSessions bounds the memory sessions take; the least recently
	// used goes first.
	maxSessions = 1000
	// maxLogged is how many command lines a session's log keeps.
	maxLogged = 200
)

// Logged is one shell line run in a session, for Show Command Logging.
type Logged struct {
	Time   time.Time
	Line   string
	OK     bool
	Output string
}

type session struct {
	id       string
	user     string // mailbox name
	address  string // primary SMTP address
	csrf     string
	ip       string
	lastUsed time.Time
	log      []Logged
	flash    []Result // shown by the next page (after a redirect)
}

type sessions struct {
	mu   sync.Mutex
	now  func() time.Time
	byID map[string]*session
}

func newSessions(now func() time.Time) *sessions {
	return &sessions{now: now, byID: map[string]*session{}}
}

// randomToken returns 32 random bytes, URL-safe Base64.
func randomToken() string {
	b := make([]byte, 32)
	rand.Read(b) // never fails (crypto/rand since Go 1.24)
	return base64.RawURLEncoding.EncodeToString(b)
}

// equalTokens compares in constant time.
func equalTokens(a, b string) bool {
	return a != "" && subtle.ConstantTimeCompare([]byte(a), []byte(b)) == 1
}

func (ss *sessions) create(user, address, ip string) *session {
	ss.mu.Lock()
	defer ss.mu.Unlock()
	if len(ss.byID) >= maxSessions {
		var oldest *session
		for _, s := range ss.byID {
			if oldest == nil || s.lastUsed.Before(oldest.lastUsed) {
				oldest = s
			}
		}
		delete(ss.byID, oldest.id)
	}
	s := &session{id: randomToken(), user: user, address: address, csrf: randomToken(), ip: ip, lastUsed: ss.now()}
	ss.byID[s.id] = s
	return s
}

// get returns the session of r that has been used within idle, and marks it used.
func (ss *sessions) get(r *http.Request, idle time.Duration) *session {
	c, err := r.Cookie(cookieName)
	if err != nil {
		return nil
	}
	ss.mu.Lock()
	defer ss.mu.Unlock()
	now := ss.now()
	for id, s := range ss.byID { // forget expired sessions as we go
		if now.Sub(s.lastUsed) > idle {
			delete(ss.byID, id)
		}
	}
	s := ss.byID[c.Value]
	if s == nil {
		return nil
	}
	s.lastUsed = now
	return s
}

func (ss *sessions) remove(id string) {
	ss.mu.Lock()
	defer ss.mu.Unlock()
	delete(ss.byID, id)
}

func (ss *sessions) logLine(s *session, l Logged) {
	ss.mu.Lock()
	defer ss.mu.Unlock()
	s.log = append(s.log, l)
	if len(s.log) > maxLogged {
		s.log = s.log[len(s.log)-maxLogged:]
	}
}

func (ss *sessions) logged(s *session) []Logged {
	ss.mu.Lock()
	defer ss.mu.Unlock()
	out := slices.Clone(s.log)
	slices.Reverse(out)
	return out
}

func setCookie(w http.ResponseWriter, name, value string, maxAge int) {
	http.SetCookie(w, &http.Cookie{Name: name, Value: value, Path: "/", Secure: true, HttpOnly: true,
		SameSite: http.SameSiteStrictMode, MaxAge: maxAge})
}

func (ss *sessions) flash(s *session, rs []Result) {
	ss.mu.Lock()
	defer ss.mu.Unlock()
	s.flash = append(s.flash, rs...)
}

func (ss *sessions) takeFlash(s *session) []Result {
	ss.mu.Lock()
	defer ss.mu.Unlock()
	out := s.flash
	s.flash = nil
	return out
}
