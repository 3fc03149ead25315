// Package value holds the parameter value types that Exchange's transport
// configuration uses: sizes written as "36 MB", time spans written as
// "00:05:00", and counts that may be "Unlimited". Each type reads both the
// Exchange spelling and the natural one ("36MB", "5m", "unlimited") and writes
// the Exchange spelling, so a hand-edited YAML file and the shell accept what
// an Exchange admin would type.
package value

import (
	"fmt"
	"math"
	"strconv"
	"strings"
	"time"
)

// ByteSize is a size in bytes. Text forms: "36MB", "36 MB", "36 MB (37,748,736 bytes)",
// "37748736", "64KB", "2GB", "512B". Units are binary (1 KB = 1024 B) as in Exchange.
type ByteSize int64

// Byte-size units, binary as Exchange counts them.
const (
	B  ByteSize = 1
	KB          = 1024 * B
	MB          = 1024 * KB
	GB          = 1024 * MB
	TB          = 1024 * GB
)

// ParseByteSize parses the text forms described on ByteSize.
func ParseByteSize(s string) (ByteSize, error) {
	t := strings.TrimSpace(s)
	if i := strings.IndexByte(t, '('); i > 0 { // "36 MB (37,748,736 bytes)"
		t = strings.TrimSpace(t[:i])
	}
	t = strings.ReplaceAll(t, ",", "")
	t = strings.ReplaceAll(t, " ", "")
	if t == "" {
		return 0, fmt.Errorf("%q is not a size: empty", s)
	}
	upper := strings.ToUpper(t)
	mult := B
	for _, u := range []struct {
		suffix string
		mult   ByteSize
	}{{"TB", TB}, {"GB", GB}, {"MB", MB}, {"KB", KB}, {"BYTES", B}, {"B", B}} {
		if strings.HasSuffix(upper, u.suffix) {
			upper = strings.TrimSuffix(upper, u.suffix)
			mult = u.mult
			break
		}
	}
	f, err := strconv.ParseFloat(upper, 64)
	if err != nil || f < 0 || math.IsNaN(f) || math.IsInf(f, 0) {
		return 0, fmt.Errorf("%q is not a size: use a number with an optional unit (B, KB, MB, GB), e.g. 36MB", s)
	}
	v := f * float64(mult)
	if v > math.MaxInt64/2 {
		return 0, fmt.Errorf("%q is too large", s)
	}
	return ByteSize(v), nil
}

// String writes the size the way Exchange does: "36 MB (37,748,736 bytes)".
func (b ByteSize) String() string {
	n := int64(b)
	var short string
	switch {
	case n >= int64(GB) && n%int64(GB) == 0:
		short = fmt.Sprintf("%d GB", n/int64(GB))
	case n >= int64(MB) && n%int64(MB) == 0:
		short = fmt.Sprintf("%d MB", n/int64(MB))
	case n >= int64(KB) && n%int64(KB) == 0:
		short = fmt.Sprintf("%d KB", n/int64(KB))
	default:
		return fmt.Sprintf("%s B", groupThousands(n))
	}
	return fmt.Sprintf("%s (%s bytes)", short, groupThousands(n))
}

// MarshalText writes the compact form ("36MB") used in the config file.
func (b ByteSize) MarshalText() ([]byte, error) {
	n := int64(b)
	switch {
	case n >= int64(GB) && n%int64(GB) == 0:
		return []byte(fmt.Sprintf("%dGB", n/int64(GB))), nil
	case n >= int64(MB) && n%int64(MB) == 0:
		return []byte(fmt.Sprintf("%dMB", n/int64(MB))), nil
	case n >= int64(KB) && n%int64(KB) == 0:
		return []byte(fmt.Sprintf("%dKB", n/int64(KB))), nil
	}
	return []byte(strconv.FormatInt(n, 10)), nil
}

// UnmarshalText reads any of the text forms described on ByteSize.
func (b *ByteSize) UnmarshalText(text []byte) error {
	v, err := ParseByteSize(string(text))
	if err != nil {
		return err
	}
	*b = v
	return nil
}

func groupThousands(n int64) string {
	s := strconv.FormatInt(n, 10)
	var out []byte
	for i := range len(s) {
		if i > 0 && (len(s)-i)%3 == 0 {
			out = append(out, ',')
		}
		out = append(out, s[i])
	}
	return string(out)
}

// TimeSpan is a duration written as Exchange does: "[d.]hh:mm:ss". It also
// reads Go durations ("5m", "90s", "1h30m").
type TimeSpan time.Duration

// ParseTimeSpan reads "hh:mm:ss", "d.hh:mm:ss", "mm:ss" or a Go duration.
func ParseTimeSpan(s string) (TimeSpan, error) {
	t := strings.TrimSpace(s)
	if t == "" {
		return 0, fmt.Errorf("%q is not a time span: empty", s)
	}
	if !strings.Contains(t, ":") {
		d, err := time.ParseDuration(t)
		if err != nil || d < 0 {
			return 0, fmt.Errorf("%q is not a time span: use hh:mm:ss (e.g. 00:05:00) or a duration such as 5m", s)
		}
		return TimeSpan(d), nil
	}
	days := int64(0)
	if dot := strings.IndexByte(t, '.'); dot >= 0 && dot < strings.IndexByte(t, ':') {
		n, ok := digits(t[:dot])
		if !ok {
			return 0, fmt.Errorf("%q is not a time span: bad day count", s)
		}
		days, t = n, t[dot+1:]
	}
	parts := strings.Split(t, ":")
	if len(parts) < 2 || len(parts) > 3 {
		return 0, fmt.Errorf("%q is not a time span: use hh:mm:ss", s)
	}
	if len(parts) == 2 {
		parts = append([]string{"0"}, parts...)
	}
	// Only digits (and a fraction of a second): ParseFloat would take
	// "NaN", "Inf", "-0", "+1" and "1e2", and overflow into negative spans.
	bad := fmt.Errorf("%q is not a time span: use hh:mm:ss with minutes and seconds below 60", s)
	secText, fracText, hasFrac := strings.Cut(parts[2], ".")
	h, ok1 := digits(parts[0])
	m, ok2 := digits(parts[1])
	sec, ok3 := digits(secText)
	if !ok1 || !ok2 || !ok3 || m >= 60 || sec >= 60 {
		return 0, bad
	}
	var frac time.Duration
	if hasFrac {
		if fracText == "" || len(fracText) > 9 {
			return 0, bad
		}
		n, ok := digits(fracText)
		if !ok {
			return 0, bad
		}
		frac = time.Duration(n)
		for range 9 - len(fracText) {
			frac *= 10
		}
	}
	const maxHours = int64(math.MaxInt64 / int64(time.Hour))
	if days > maxHours/24 || h > maxHours-days*24-1 {
		return 0, fmt.Errorf("%q is not a time span: too long", s)
	}
	d := time.Duration(days*24+h)*time.Hour + time.Duration(m)*time.Minute + time.Duration(sec)*time.Second + frac
	return TimeSpan(d), nil
}

// digits reads a non-empty run of ASCII digits that fits in an int64.
func digits(s string) (int64, bool) {
	if s == "" {
		return 0, false
	}
	for _, r := range s {
		if r < '0' || r > '9' {
			return 0, false
		}
	}
	n, err := strconv.ParseInt(s, 10, 64)
	return n, err == nil
}

// Duration returns the span as a time.Duration.
func (t TimeSpan) Duration() time.Duration { return time.Duration(t) }

// String writes "hh:mm:ss", with a "d." prefix past a day and fractional
// seconds when the span has them.
func (t TimeSpan) String() string {
	d := time.Duration(t)
	days := d / (24 * time.Hour)
	d -= days * 24 * time.Hour
	h := d / time.Hour
	d -= h * time.Hour
	m := d / time.Minute
	d -= m * time.Minute
	sec := d / time.Second
	frac := d - sec*time.Second
	s := fmt.Sprintf("%02d:%02d:%02d", h, m, sec)
	if frac > 0 {
		s += strings.TrimRight(fmt.Sprintf(".%09d", frac), "0")
	}
	if days > 0 {
		s = fmt.Sprintf("%d.%s", days, s)
	}
	return s
}

// MarshalText writes the Exchange form.
func (t TimeSpan) MarshalText() ([]byte, error) { return []byte(t.String()), nil }

// UnmarshalText reads any form ParseTimeSpan accepts.
func (t *TimeSpan) UnmarshalText(text []byte) error {
	v, err := ParseTimeSpan(string(text))
	if err != nil {
		return err
	}
	*t = v
	return nil
}

// Unlimited is a count that may be "Unlimited" (stored as 0 or less).
type Unlimited int64

// IsUnlimited reports whether no limit applies.
func (u Unlimited) IsUnlimited() bool { return u <= 0 }

// String writes "Unlimited" or the number.
func (u Unlimited) String() string {
	if u.IsUnlimited() {
		return "Unlimited"
	}
	return strconv.FormatInt(int64(u), 10)
}

// MarshalText writes "Unlimited" or the number.
func (u Unlimited) MarshalText() ([]byte, error) { return []byte(u.String()), nil }

// UnmarshalText reads "Unlimited" (any case) or a whole number from 1.
func (u *Unlimited) UnmarshalText(text []byte) error {
	s := strings.TrimSpace(string(text))
	if strings.EqualFold(s, "unlimited") {
		*u = 0
		return nil
	}
	n, err := strconv.ParseInt(s, 10, 64)
	if err != nil || n < 0 {
		return fmt.Errorf("%q is not a count: use a whole number or Unlimited", string(text))
	}
	if n == 0 {
		// 0 is how Unlimited is stored; reading "0" as "no limit" would
		// turn an admin's "allow nothing" into its opposite.
		return fmt.Errorf("%q is not allowed: use a number from 1, or Unlimited", string(text))
	}
	*u = Unlimited(n)
	return nil
}
