package config

import (
	"strings"
	"testing"
)

// The logon lockout settings are validated like every other setting, and
// their errors name the parameter and the range.
func TestAuthLockoutSettingsValidated(t *testing.T) {
	tc := DefaultTransportConfig()
	if err := tc.Validate(); err != nil {
		t.Fatalf("defaults: %v", err)
	}
	if tc.AuthFailureLockoutThreshold != 10 || tc.AuthFailureWindow.String() != "00:15:00" || tc.AuthFailureLockoutDuration.String() != "00:15:00" {
		t.Errorf("defaults %d %v %v", tc.AuthFailureLockoutThreshold, tc.AuthFailureWindow, tc.AuthFailureLockoutDuration)
	}
	tc.AuthFailureLockoutThreshold = -1
	tc.AuthFailureWindow = 0
	tc.AuthFailureLockoutDuration = 0
	err := tc.Validate()
	for _, want := range []string{"Transport.AuthFailureLockoutThreshold: -1 is outside 0 (off) to 1000",
		"Transport.AuthFailureWindow: 00:00:00 is outside 00:00:01 to 1.00:00:00",
		"Transport.AuthFailureLockoutDuration: 00:00:00 is outside 00:00:01 to 1.00:00:00"} {
		if err == nil || !strings.Contains(err.Error(), want) {
			t.Errorf("Validate: %v, want %q", err, want)
		}
	}
}
