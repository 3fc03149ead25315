package queue

import (
	"bytes"
)

var body4k = bytes.Repeat([]byte("0123456789abcdef0123456789abcdef0123456789abcdef0123456789abcde\r\n"), 64)

func benchEnv() Envelope {
	return Envelope{From: "app@contoso.com", Recipients: []Recipient{{Address: "ops@example.org"}}}
}
