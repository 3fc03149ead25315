// Package saslserver provides SASL servers for SMTP AUTH (RFC 4954): LOGIN,
// which github.com/emersion/go-sasl lacks, and a PLAIN server that refuses
// to act on behalf of another identity.
//
// Errors returned by the Authenticator are passed through unchanged, so an
// error type the SMTP layer understands (such as go-smtp's *SMTPError, which
// go-smtp detects by type assertion, not errors.As) reaches the client
// intact. Protocol errors detected here are of type Error.
package saslserver

import (
	"bytes"

	"github.com/emersion/go-sasl"
)

// Authenticator checks a user name and password. It returns nil when they
// are valid.
type Authenticator func(username, password string) error

// Error is a protocol error detected by the servers in this package.
type Error string

// Error implements error.
func (e Error) Error() string { return string(e) }

// Protocol errors.
const (
	// ErrEmptyUsername refuses an empty user name.
	ErrEmptyUsername Error = "sasl: empty username"
	// ErrNUL refuses a user name or password containing a NUL byte.
	ErrNUL Error = "sasl: NUL byte in username or password"
	// ErrIdentityMismatch refuses a PLAIN authorization identity that
	// differs from the authentication identity.
	ErrIdentityMismatch Error = "sasl: authorization identity differs from authentication identity"
	// ErrUnexpectedResponse refuses a response after the exchange is over.
	ErrUnexpectedResponse Error = "sasl: unexpected client response"
)

// Login is the LOGIN mechanism name.
const Login = "LOGIN"

// Plain is the PLAIN mechanism name.
const Plain = sasl.Plain

// Challenges of the LOGIN mechanism (draft-murchison-sasl-login-00 section
// 2). They are raw bytes; the SMTP layer base64-encodes them.
const (
	usernameChallenge = "Username:"
	passwordChallenge = "Password:"
)

type loginState int

const (
	loginStart loginState = iota
	loginWantUsername
	loginWantPassword
	loginDone
)

type loginServer struct {
	auth     Authenticator
	state    loginState
	username string
}

// NewLoginServer returns a server for the LOGIN mechanism
// (draft-murchison-sasl-login). It sends the challenge "Username:", then
// "Password:", and passes the two responses to auth. An initial response
// (AUTH LOGIN <base64 user name>) is taken as the user name, so the first
// challenge is "Password:". An empty user name or a NUL byte in either
// response ends the exchange with an error. Each server handles one
// exchange.
func NewLoginServer(auth Authenticator) sasl.Server {
	return &loginServer{auth: auth}
}

// Next implements sasl.Server.
func (s *loginServer) Next(response []byte) (challenge []byte, done bool, err error) {
	switch s.state {
	case loginStart:
		if response == nil {
			s.state = loginWantUsername
			return []byte(usernameChallenge), false, nil
		}
		return s.takeUsername(response)
	case loginWantUsername:
		return s.takeUsername(response)
	case loginWantPassword:
		s.state = loginDone
		if bytes.IndexByte(response, 0) >= 0 {
			return nil, true, ErrNUL
		}
		if err := s.auth(s.username, string(response)); err != nil {
			return nil, true, err
		}
		return nil, true, nil
	default:
		return nil, true, ErrUnexpectedResponse
	}
}

func (s *loginServer) takeUsername(response []byte) ([]byte, bool, error) {
	if len(response) == 0 {
		s.state = loginDone
		return nil, true, ErrEmptyUsername
	}
	if bytes.IndexByte(response, 0) >= 0 {
		s.state = loginDone
		return nil, true, ErrNUL
	}
	s.username = string(response)
	s.state = loginWantPassword
	return []byte(passwordChallenge), false, nil
}

// NewPlainServer returns a server for the PLAIN mechanism (RFC 4616),
// built on sasl.NewPlainServer. The message is
// [authzid] NUL authcid NUL passwd (RFC 4616 section 2). An authorization
// identity other than empty or the authentication identity itself is
// refused: transportd does not let one user act as another. An empty
// authentication identity is refused as well.
func NewPlainServer(auth Authenticator) sasl.Server {
	return sasl.NewPlainServer(func(identity, username, password string) error {
		if username == "" {
			return ErrEmptyUsername
		}
		if identity != "" && identity != username {
			return ErrIdentityMismatch
		}
		return auth(username, password)
	})
}
