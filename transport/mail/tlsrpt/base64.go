package tlsrpt

import (
	"encoding/base64"
	"io"
)

// writeBase64 writes b in base64 lines of 76 characters (RFC 2045 section 6.8).
func writeBase64(w io.Writer, b []byte) {
	s := base64.StdEncoding.EncodeToString(b)
	for len(s) > 76 {
		_, _ = io.WriteString(w, s[:76]+"\r\n")
		s = s[76:]
	}
	_, _ = io.WriteString(w, s+"\r\n")
}
