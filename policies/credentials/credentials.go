// Package credentials hashes and verifies mailbox passwords with Argon2id
// (RFC 9106), stored in the PHC string format:
//
//	$argon2id$v=19$m=65536,t=3,p=2$<base64 salt>$<base64 key>
//
// Base64 is the standard alphabet without padding, as the PHC format and
// the reference implementation use.
//
// # Parameters
//
// New hashes use m=64 MiB, t=3 passes, p=2 lanes, a 16-byte salt and a
// 32-byte key. RFC 9106 section 4 gives two recommended settings: t=1 with
// 2 GiB of memory, or t=3 with 64 MiB when that much memory is not
// available. An MTA may verify many AUTH attempts at once, so 2 GiB per
// attempt is out of the question; we take the 64 MiB option with t=3. We
// use 2 lanes rather than the RFC's 4 to halve the CPU threads one login
// can occupy; the memory cost, which is what resists GPU/ASIC attackers, is
// unchanged. Verify reads the parameters from each stored string, so they
// can be raised later without invalidating existing hashes.
package credentials

import (
	"crypto/rand"
	"crypto/subtle"
	"encoding/base64"
	"errors"
	"fmt"
	"strconv"
	"strings"

	"golang.org/x/crypto/argon2"
)

// Parameters of new hashes; see the package documentation.
const (
	// MemoryKiB is the memory cost of new hashes in KiB (64 MiB).
	MemoryKiB = 64 * 1024
	// Time is the number of passes of new hashes.
	Time = 3
	// Threads is the degree of parallelism (lanes) of new hashes.
	Threads = 2
	// SaltLength is the salt length of new hashes in bytes (RFC 9106
	// section 3.1 recommends 16).
	SaltLength = 16
	// KeyLength is the tag length of new hashes in bytes.
	KeyLength = 32
)

// Limits on parameters read from a stored hash, so a hand-edited or hostile
// password file cannot make Verify use absurd memory or time.
const (
	maxMemoryKiB = 4 * 1024 * 1024 // 4 GiB, RFC 9106's largest suggested setting is 2 GiB
	maxTime      = 16
	maxThreads   = 64
	minSalt      = 8 // RFC 9106 section 3.1: at least 8 bytes
	maxSalt      = 64
	minKey       = 16 // RFC 9106 allows 4; less than 128 bits is not a serious hash
	maxKey       = 64
)

// argon2Version is the only Argon2 version there is in RFC 9106 (0x13).
const argon2Version = argon2.Version

// params are the cost parameters of one hash.
type params struct {
	memory  uint32 // KiB
	time    uint32
	threads uint8
	keyLen  uint32
}

// defaults are the parameters of new hashes.
func defaults() params {
	return params{memory: MemoryKiB, time: Time, threads: Threads, keyLen: KeyLength}
}

// dummySalt is the salt VerifyDummy hashes with. Its value does not matter.
const dummySalt = "transportd-dummy"

// Hash returns a PHC-format Argon2id hash of password with a fresh random
// salt and the package's default parameters.
func Hash(password string) (string, error) {
	return hashWith(password, defaults())
}

func hashWith(password string, p params) (string, error) {
	salt := make([]byte, SaltLength)
	if _, err := rand.Read(salt); err != nil {
		return "", fmt.Errorf("credentials: reading random salt: %w", err)
	}
	key := argon2.IDKey([]byte(password), salt, p.time, p.memory, p.threads, p.keyLen)
	return encode(p, salt, key), nil
}

func encode(p params, salt, key []byte) string {
	b64 := base64.RawStdEncoding
	return fmt.Sprintf("$argon2id$v=%d$m=%d,t=%d,p=%d$%s$%s",
		argon2Version, p.memory, p.time, p.threads, b64.EncodeToString(salt), b64.EncodeToString(key))
}

// Verify reports whether password matches the encoded hash. The comparison
// is constant-time. A mismatch is (false, nil); an error is returned only
// when encoded is malformed or has parameters out of bounds, and it names
// the problem without repeating the password or the hash.
func Verify(encoded, password string) (bool, error) {
	p, salt, key, err := decode(encoded)
	if err != nil {
		return false, err
	}
	got := argon2.IDKey([]byte(password), salt, p.time, p.memory, p.threads, p.keyLen)
	return subtle.ConstantTimeCompare(got, key) == 1, nil
}

// VerifyDummy spends the time and memory of a Verify against a hash with
// the default parameters, and discards the result. Call it when the user
// does not exist, so that response timing does not reveal which user names
// are valid.
func VerifyDummy(password string) {
	dummyVerify(password, defaults())
}

func dummyVerify(password string, p params) {
	got := argon2.IDKey([]byte(password), []byte(dummySalt), p.time, p.memory, p.threads, p.keyLen)
	// Compare like Verify does so the work is the same.
	subtle.ConstantTimeCompare(got, make([]byte, len(got)))
}

// ErrMalformed is wrapped by every error Verify returns for a bad hash.
var ErrMalformed = errors.New("malformed argon2id hash")

func malformed(format string, args ...any) error {
	return fmt.Errorf("credentials: %w: %s", ErrMalformed, fmt.Sprintf(format, args...))
}

// decode parses and bounds-checks a PHC argon2id string.
func decode(encoded string) (params, []byte, []byte, error) {
	var p params
	fields := strings.Split(encoded, "$")
	if len(fields) != 6 || fields[0] != "" {
		return p, nil, nil, malformed("want 5 '$'-separated fields ($argon2id$v=..$m=..,t=..,p=..$salt$key), got %d", len(fields)-1)
	}
	if fields[1] != "argon2id" {
		return p, nil, nil, malformed("algorithm %q is not argon2id", limit(fields[1]))
	}
	v, ok := strings.CutPrefix(fields[2], "v=")
	if !ok {
		return p, nil, nil, malformed("version field %q does not start with v=", limit(fields[2]))
	}
	if n, err := parseUint(v); err != nil || n != argon2Version {
		return p, nil, nil, malformed("unsupported version %q (want %d)", limit(v), argon2Version)
	}
	var seen [3]bool
	for _, kv := range strings.Split(fields[3], ",") {
		k, val, ok := strings.Cut(kv, "=")
		if !ok {
			return p, nil, nil, malformed("parameter %q is not name=value", limit(kv))
		}
		n, err := parseUint(val)
		if err != nil {
			return p, nil, nil, malformed("parameter %s: %v", limit(k), err)
		}
		var idx int
		switch k {
		case "m":
			idx = 0
			if n < 8 || n > maxMemoryKiB {
				return p, nil, nil, malformed("memory m=%d KiB out of range 8..%d", n, maxMemoryKiB)
			}
			p.memory = uint32(n)
		case "t":
			idx = 1
			if n < 1 || n > maxTime {
				return p, nil, nil, malformed("time t=%d out of range 1..%d", n, maxTime)
			}
			p.time = uint32(n)
		case "p":
			idx = 2
			if n < 1 || n > maxThreads {
				return p, nil, nil, malformed("parallelism p=%d out of range 1..%d", n, maxThreads)
			}
			p.threads = uint8(n)
		default:
			return p, nil, nil, malformed("unknown parameter %q", limit(k))
		}
		if seen[idx] {
			return p, nil, nil, malformed("parameter %s given twice", k)
		}
		seen[idx] = true
	}
	if !seen[0] || !seen[1] || !seen[2] {
		return p, nil, nil, malformed("parameters must include m, t and p")
	}
	// RFC 9106 section 3.1: memory must be at least 8*p KiB.
	if p.memory < 8*uint32(p.threads) {
		return p, nil, nil, malformed("memory m=%d KiB is less than 8*p", p.memory)
	}
	b64 := base64.RawStdEncoding.Strict()
	salt, err := b64.DecodeString(fields[4])
	if err != nil {
		return p, nil, nil, malformed("salt is not unpadded base64: %v", err)
	}
	if len(salt) < minSalt || len(salt) > maxSalt {
		return p, nil, nil, malformed("salt is %d bytes, want %d..%d", len(salt), minSalt, maxSalt)
	}
	key, err := b64.DecodeString(fields[5])
	if err != nil {
		return p, nil, nil, malformed("key is not unpadded base64: %v", err)
	}
	if len(key) < minKey || len(key) > maxKey {
		return p, nil, nil, malformed("key is %d bytes, want %d..%d", len(key), minKey, maxKey)
	}
	p.keyLen = uint32(len(key))
	return p, salt, key, nil
}

// parseUint parses a decimal number without sign or leading zeros.
func parseUint(s string) (uint64, error) {
	if s == "" || (len(s) > 1 && s[0] == '0') || strings.Trim(s, "0123456789") != "" {
		return 0, fmt.Errorf("%q is not a decimal number", limit(s))
	}
	n, err := strconv.ParseUint(s, 10, 32)
	if err != nil {
		return 0, fmt.Errorf("%q is too large", limit(s))
	}
	return n, nil
}

// limit shortens s for error messages.
func limit(s string) string {
	if len(s) > 32 {
		return s[:32] + "..."
	}
	return s
}
