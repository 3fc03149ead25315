package value

import (
	"strings"
	"testing"
	"time"
)

func TestParseByteSize(t *testing.T) {
	tests := []struct {
		in   string
		want ByteSize
	}{
		{"36MB", 36 * MB},
		{"36 MB", 36 * MB},
		{"36 MB (37,748,736 bytes)", 37748736},
		{"  36mb  ", 36 * MB},
		{"64KB", 64 * 1024},
		{"37748736", 37748736},
		{"37,748,736", 37748736},
		{"2GB", 2 * 1024 * 1024 * 1024},
		{"1TB", 1 << 40},
		{"512B", 512},
		{"100 bytes", 100},
		{"1.5KB", 1536},
		{"0", 0},
	}
	for _, tt := range tests {
		got, err := ParseByteSize(tt.in)
		if err != nil {
			t.Errorf("ParseByteSize(%q): %v", tt.in, err)
			continue
		}
		if got != tt.want {
			t.Errorf("ParseByteSize(%q) = %d, want %d", tt.in, got, tt.want)
		}
	}
}

func TestParseByteSizeBad(t *testing.T) {
	for _, in := range []string{"", "   ", "lots", "36XB", "-5MB", "MB", "NaN", "Inf", "1e30GB", "36 MB MB"} {
		_, err := ParseByteSize(in)
		if err == nil {
			t.Errorf("ParseByteSize(%q) succeeded, want an error", in)
			continue
		}
		if !strings.Contains(err.Error(), `"`+in+`"`) {
			t.Errorf("ParseByteSize(%q) error %q does not name the value", in, err)
		}
	}
}

func TestByteSizeString(t *testing.T) {
	tests := []struct {
		in   ByteSize
		want string
	}{
		{36 * MB, "36 MB (37,748,736 bytes)"},
		{256 * KB, "256 KB (262,144 bytes)"},
		{64 * KB, "64 KB (65,536 bytes)"},
		{2 * GB, "2 GB (2,147,483,648 bytes)"},
		{999, "999 B"},
		{1000, "1,000 B"},
		{0, "0 B"},
	}
	for _, tt := range tests {
		if got := tt.in.String(); got != tt.want {
			t.Errorf("ByteSize(%d).String() = %q, want %q", int64(tt.in), got, tt.want)
		}
		// What we print must read back as the same value.
		back, err := ParseByteSize(tt.in.String())
		if err != nil || back != tt.in {
			t.Errorf("ParseByteSize(%q) = %d, %v; want %d", tt.in.String(), back, err, int64(tt.in))
		}
	}
}

func TestByteSizeMarshalText(t *testing.T) {
	tests := []struct {
		in   ByteSize
		want string
	}{
		{36 * MB, "36MB"},
		{256 * KB, "256KB"},
		{2 * GB, "2GB"},
		{1536 * KB, "1536KB"},
		{1000, "1000"},
		{0, "0"},
	}
	for _, tt := range tests {
		b, err := tt.in.MarshalText()
		if err != nil {
			t.Fatalf("MarshalText(%d): %v", int64(tt.in), err)
		}
		if string(b) != tt.want {
			t.Errorf("MarshalText(%d) = %q, want %q", int64(tt.in), b, tt.want)
		}
		var back ByteSize
		if err := back.UnmarshalText(b); err != nil {
			t.Errorf("UnmarshalText(%q): %v", b, err)
		} else if back != tt.in {
			t.Errorf("UnmarshalText(%q) = %d, want %d", b, back, int64(tt.in))
		}
	}
	var b ByteSize = 7
	if err := b.UnmarshalText([]byte("lots")); err == nil {
		t.Error("UnmarshalText(lots) succeeded")
	} else if b != 7 {
		t.Errorf("a failed UnmarshalText changed the value to %d", b)
	}
}

func TestParseTimeSpan(t *testing.T) {
	tests := []struct {
		in   string
		want time.Duration
	}{
		{"00:05:00", 5 * time.Minute},
		{"00:10:00", 10 * time.Minute},
		{"1.00:00:00", 24 * time.Hour},
		{"2.03:04:05", 51*time.Hour + 4*time.Minute + 5*time.Second},
		{"05:00", 5 * time.Minute},
		{"00:00:05.5", 5500 * time.Millisecond},
		{"36:00:00", 36 * time.Hour},
		{"5m", 5 * time.Minute},
		{"90s", 90 * time.Second},
		{"1h30m", 90 * time.Minute},
		{" 00:00:00 ", 0},
	}
	for _, tt := range tests {
		got, err := ParseTimeSpan(tt.in)
		if err != nil {
			t.Errorf("ParseTimeSpan(%q): %v", tt.in, err)
			continue
		}
		if got.Duration() != tt.want {
			t.Errorf("ParseTimeSpan(%q) = %v, want %v", tt.in, got.Duration(), tt.want)
		}
	}
}

func TestParseTimeSpanBad(t *testing.T) {
	for _, in := range []string{
		"", "soon", "5", "-5m", "00:60:00", "00:00:60", "1:2:3:4", ":",
		"x.00:00:00", "-1.00:00:00", "-00:05:00", "NaN:00:00", "Inf:00:00",
		"00:NaN:00", "+1:00:00", "1e2:00:00", "00:05:00.x",
		"99999999999:00:00", "999999999.00:00:00",
	} {
		got, err := ParseTimeSpan(in)
		if err == nil {
			t.Errorf("ParseTimeSpan(%q) = %v, want an error", in, got.Duration())
			continue
		}
		if !strings.Contains(err.Error(), `"`+in+`"`) {
			t.Errorf("ParseTimeSpan(%q) error %q does not name the value", in, err)
		}
	}
}

func TestTimeSpanString(t *testing.T) {
	tests := []struct {
		in   time.Duration
		want string
	}{
		{0, "00:00:00"},
		{5 * time.Second, "00:00:05"},
		{5 * time.Minute, "00:05:00"},
		{10 * time.Minute, "00:10:00"},
		{23*time.Hour + 59*time.Minute + 59*time.Second, "23:59:59"},
		{24 * time.Hour, "1.00:00:00"},
		{49*time.Hour + 30*time.Minute, "2.01:30:00"},
		{1500 * time.Millisecond, "00:00:01.5"},
	}
	for _, tt := range tests {
		ts := TimeSpan(tt.in)
		if got := ts.String(); got != tt.want {
			t.Errorf("TimeSpan(%v).String() = %q, want %q", tt.in, got, tt.want)
		}
		b, err := ts.MarshalText()
		if err != nil || string(b) != tt.want {
			t.Errorf("TimeSpan(%v).MarshalText() = %q, %v; want %q", tt.in, b, err, tt.want)
		}
		var back TimeSpan
		if err := back.UnmarshalText(b); err != nil || back != ts {
			t.Errorf("UnmarshalText(%q) = %v, %v; want %v", b, back.Duration(), err, tt.in)
		}
	}
}

func TestUnlimited(t *testing.T) {
	tests := []struct {
		in        string
		want      Unlimited
		unlimited bool
		str       string
	}{
		{"Unlimited", 0, true, "Unlimited"},
		{"unlimited", 0, true, "Unlimited"},
		{" UNLIMITED ", 0, true, "Unlimited"},
		{"20", 20, false, "20"},
		{"5000", 5000, false, "5000"},
	}
	for _, tt := range tests {
		var u Unlimited = 99
		if err := u.UnmarshalText([]byte(tt.in)); err != nil {
			t.Errorf("UnmarshalText(%q): %v", tt.in, err)
			continue
		}
		if u != tt.want || u.IsUnlimited() != tt.unlimited || u.String() != tt.str {
			t.Errorf("UnmarshalText(%q) = %d (unlimited %v, %q), want %d (unlimited %v, %q)",
				tt.in, u, u.IsUnlimited(), u.String(), tt.want, tt.unlimited, tt.str)
		}
		b, err := u.MarshalText()
		if err != nil || string(b) != tt.str {
			t.Errorf("MarshalText(%d) = %q, %v; want %q", u, b, err, tt.str)
		}
	}
}

func TestUnlimitedBad(t *testing.T) {
	// "0" is refused rather than read as Unlimited: an admin who types 0 to
	// stop something must not get "no limit" instead.
	for _, in := range []string{"-1", "", "lots", "1.5", "0", "20 messages"} {
		var u Unlimited = 7
		err := u.UnmarshalText([]byte(in))
		if err == nil {
			t.Errorf("UnmarshalText(%q) = %v, want an error", in, u)
			continue
		}
		if !strings.Contains(err.Error(), `"`+in+`"`) {
			t.Errorf("UnmarshalText(%q) error %q does not name the value", in, err)
		}
		if u != 7 {
			t.Errorf("a failed UnmarshalText(%q) changed the value to %d", in, u)
		}
	}
}
