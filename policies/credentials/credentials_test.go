package credentials

import (
	"errors"
	"regexp"
	"strings"
	"testing"
	"time"
)

// cheap are small parameters for tests that do not care about cost.
func cheap() params {
	return params{memory: 64, time: 1, threads: 1, keyLen: KeyLength}
}

var phc = regexp.MustCompile(`^\$argon2id\$v=19\$m=65536,t=3,p=2\$[A-Za-z0-9+/]{22}\$[A-Za-z0-9+/]{43}$`)

func TestHashFormatAndVerify(t *testing.T) {
	h, err := Hash("correct horse")
	if err != nil {
		t.Fatal(err)
	}
	if !phc.MatchString(h) {
		t.Fatalf("Hash = %q, not in the expected PHC format", h)
	}
	h2, err := Hash("correct horse")
	if err != nil {
		t.Fatal(err)
	}
	if h == h2 {
		t.Error("two hashes of the same password are equal: salt is not random")
	}
	tests := []struct {
		password string
		want     bool
	}{
		{"correct horse", true},
		{"correct horse ", false},
		{"Correct horse", false},
		{"", false},
	}
	for _, tc := range tests {
		ok, err := Verify(h, tc.password)
		if err != nil || ok != tc.want {
			t.Errorf("Verify(%q) = %v, %v; want %v", tc.password, ok, err, tc.want)
		}
	}
}

// TestKnownVector checks decoding against a reference-CLI vector
// (password "password", salt "somesalt", t=2, m=64 KiB, p=1, 24-byte tag),
// the one golang.org/x/crypto/argon2 tests with.
func TestKnownVector(t *testing.T) {
	const ref = "$argon2id$v=19$m=64,t=2,p=1$c29tZXNhbHQ$Bo1ismRVk2qm6+YAYLCmWHDb+j3fjUH3"
	ok, err := Verify(ref, "password")
	if err != nil || !ok {
		t.Fatalf("Verify(reference) = %v, %v", ok, err)
	}
}

func TestVerifyOtherParameters(t *testing.T) {
	// Verify takes the parameters from the string, not the defaults.
	for _, p := range []params{cheap(), {memory: 256, time: 2, threads: 4, keyLen: 16}, {memory: 1024, time: 1, threads: 2, keyLen: 64}} {
		h, err := hashWith("pw", p)
		if err != nil {
			t.Fatal(err)
		}
		if ok, err := Verify(h, "pw"); !ok || err != nil {
			t.Errorf("Verify(%s) = %v, %v", h, ok, err)
		}
		if ok, err := Verify(h, "pW"); ok || err != nil {
			t.Errorf("Verify(%s, wrong) = %v, %v", h, ok, err)
		}
	}
}

func TestVerifyTampered(t *testing.T) {
	h, err := hashWith("secret-password", cheap())
	if err != nil {
		t.Fatal(err)
	}
	fields := strings.Split(h, "$")
	flip := func(s string) string {
		b := []byte(s)
		if b[3] == 'A' {
			b[3] = 'B'
		} else {
			b[3] = 'A'
		}
		return string(b)
	}
	join := func(f []string) string { return strings.Join(f, "$") }
	with := func(i int, v string) string {
		f := append([]string(nil), fields...)
		f[i] = v
		return join(f)
	}
	// Tampered but well-formed: no error, no match.
	for name, enc := range map[string]string{
		"key":    with(5, flip(fields[5])),
		"salt":   with(4, flip(fields[4])),
		"params": with(3, "m=64,t=2,p=1"),
	} {
		ok, err := Verify(enc, "secret-password")
		if ok || err != nil {
			t.Errorf("%s tampered: Verify = %v, %v; want false, nil", name, ok, err)
		}
	}

	// Malformed: error naming the problem.
	tests := []struct {
		name, enc, mention string
	}{
		{"empty", "", "fields"},
		{"bcrypt", "$2y$10$abcdefghijklmnopqrstuuAbcdefghijklmnopqrstuvwxyz01234", "fields"},
		{"argon2i", with(1, "argon2i"), "not argon2id"},
		{"version", with(2, "v=16"), "version"},
		{"no version", with(2, "19"), "v="},
		{"memory huge", with(3, "m=4194305,t=1,p=1"), "memory"},
		{"memory overflow", with(3, "m=99999999999,t=1,p=1"), "too large"},
		{"memory tiny", with(3, "m=4,t=1,p=1"), "memory"},
		{"memory below 8p", with(3, "m=16,t=1,p=4"), "8*p"},
		{"time zero", with(3, "m=64,t=0,p=1"), "time"},
		{"time huge", with(3, "m=64,t=1000,p=1"), "time"},
		{"threads zero", with(3, "m=64,t=1,p=0"), "parallelism"},
		{"threads huge", with(3, "m=65536,t=1,p=255"), "parallelism"},
		{"missing p", with(3, "m=64,t=1"), "must include"},
		{"duplicate", with(3, "m=64,t=1,p=1,t=2"), "twice"},
		{"unknown", with(3, "m=64,t=1,p=1,x=2"), "unknown parameter"},
		{"negative", with(3, "m=64,t=-1,p=1"), "decimal"},
		{"leading zero", with(3, "m=064,t=1,p=1"), "decimal"},
		{"no equals", with(3, "m64,t=1,p=1"), "name=value"},
		{"salt b64", with(4, "!!!!"), "salt"},
		{"salt padded", with(4, fields[4]+"=="), "salt"},
		{"salt short", with(4, "c29tZQ"), "salt is 4 bytes"},
		{"key b64", with(5, "*"), "key"},
		{"key short", with(5, "c29tZXNhbHQ"), "key is 8 bytes"},
		{"extra field", h + "$x", "fields"},
		{"no leading dollar", strings.TrimPrefix(h, "$"), "fields"},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			ok, err := Verify(tc.enc, "secret-password")
			if ok || err == nil {
				t.Fatalf("Verify = %v, %v; want error", ok, err)
			}
			if !errors.Is(err, ErrMalformed) {
				t.Errorf("error %v does not wrap ErrMalformed", err)
			}
			if !strings.Contains(err.Error(), tc.mention) {
				t.Errorf("error %q does not mention %q", err, tc.mention)
			}
			if strings.Contains(err.Error(), "secret-password") {
				t.Errorf("error %q echoes the password", err)
			}
		})
	}
}

func TestVerifyDummyTiming(t *testing.T) {
	if testing.Short() {
		t.Skip("timing test")
	}
	h, err := Hash("pw")
	if err != nil {
		t.Fatal(err)
	}
	// Warm up, then compare one Verify with one VerifyDummy. Generous
	// bounds: this guards against VerifyDummy doing no work at all.
	VerifyDummy("x")
	start := time.Now()
	if _, err := Verify(h, "wrong"); err != nil {
		t.Fatal(err)
	}
	real := time.Since(start)
	start = time.Now()
	VerifyDummy("wrong")
	dummy := time.Since(start)
	if dummy < real/10 || dummy > real*10 {
		t.Errorf("VerifyDummy took %v, Verify took %v", dummy, real)
	}
}

func FuzzVerify(f *testing.F) {
	f.Add("$argon2id$v=19$m=64,t=1,p=1$c29tZXNhbHQ$CTFhFdXPJO1aFaMaO6Mm5c8y7cJHAph8ArZWb2GRPPc", "password")
	f.Add("$argon2id$v=19$m=65536,t=3,p=2$c29tZXNhbHQ$CTFhFdXPJO1aFaMaO6Mm5c8y7cJHAph8ArZWb2GRPPc", "")
	f.Add("$argon2id$v=19$m=64,t=1,p=1,p=1$$", "x")
	f.Fuzz(func(t *testing.T, enc, pw string) {
		p, _, _, err := decode(enc)
		if err != nil {
			if !errors.Is(err, ErrMalformed) {
				t.Fatalf("error %v does not wrap ErrMalformed", err)
			}
			return
		}
		if p.memory > maxMemoryKiB || p.time > maxTime || p.threads > maxThreads || p.memory < 8*uint32(p.threads) {
			t.Fatalf("decode accepted %+v", p)
		}
		// Only run the hash when it is cheap.
		if p.memory <= 1024 && p.time <= 2 {
			if _, err := Verify(enc, pw); err != nil {
				t.Fatalf("Verify after successful decode: %v", err)
			}
		}
	})
}
