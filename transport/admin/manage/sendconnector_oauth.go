package manage

import (
	"encoding/json"
	"errors"
	"fmt"
	"strings"

	"github.com/transportd/transportd/transport/mail/sendconnector"
)

// takeOAuthSecret handles -OAuthClientSecret: "-" reads the secret (or a
// Google service account key file's JSON) from standard input, so it never
// shows in the process list or the shell history; "$null" clears it.
func takeOAuthSecret(sc *sendconnector.SendConnector, ps Params, readSecret func() (string, error)) (Params, error) {
	v, ok := ps.Take("OAuthClientSecret")
	if !ok {
		return ps, nil
	}
	switch t := strings.TrimSpace(v); {
	case strings.EqualFold(t, "$null") || t == "":
		sc.OAuthClientSecret = ""
		return ps, nil
	case t == "-":
		if readSecret == nil {
			return nil, errors.New("-OAuthClientSecret -: no standard input to read the secret from")
		}
		s, err := readSecret()
		if err != nil {
			return nil, fmt.Errorf("-OAuthClientSecret: %w", err)
		}
		if strings.TrimSpace(s) == "" {
			return nil, errors.New("-OAuthClientSecret -: standard input was empty; pipe the client secret in, e.g. printf %s \"$SECRET\" | transportd sendconnector set ... -OAuthClientSecret -")
		}
		if t := strings.TrimSpace(s); strings.HasPrefix(t, "{") && !json.Valid([]byte(t)) {
			// Standard input is read as one line.
			return nil, errors.New("-OAuthClientSecret -: the service account key must be one line of JSON: jq -c . key.json | transportd sendconnector set ... -OAuthClientSecret -")
		}
		sc.OAuthClientSecret = sendconnector.Secret(s)
	default:
		sc.OAuthClientSecret = sendconnector.Secret(v)
	}
	return ps, nil
}
