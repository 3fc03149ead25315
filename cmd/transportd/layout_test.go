package main

import (
	"go/build"
	"io/fs"
	"path/filepath"
	"strings"
	"testing"
)

const module = "github.com/transportd/transportd/"

// under reports whether package p (a path inside the module) is dir or
// below it.
func under(p, dir string) bool { return p == dir || strings.HasPrefix(p, dir+"/") }

// inModule reports whether imp (module prefix trimmed) is one of ours:
// under one of the five top-level folders.
func inModule(imp string) bool {
	for _, top := range []string{"connector", "policies", "certs", "transport", "cmd"} {
		if under(imp, top) {
			return true
		}
	}
	return false
}

// layerRule returns why package p may not import imp ("" when it may).
// imp is a path inside the module (the module prefix trimmed), or a full
// import path outside it.
func layerRule(p, imp string) string {
	switch {
	case !inModule(imp) && !strings.HasPrefix(imp, "github.com/emersion/go-smtp"):
		return ""
	case under(imp, "cmd"):
		return "nothing imports the binary"
	case under(p, "policies") && !under(imp, "policies"):
		return "policies/ is the bottom layer: it imports only policies/"
	case under(p, "certs") && (under(imp, "connector") || under(imp, "transport")):
		return "certs/ sits below connector/ and transport/"
	case under(p, "connector") && under(imp, "transport"):
		return "connector/ sits below transport/: the daemon (transport/service) adapts between them"
	case under(p, "transport/mail") && (under(imp, "transport/admin") || under(imp, "transport/service") || under(imp, "transport/metrics")):
		return "the mail path does not depend on the management plane or the daemon"
	case under(p, "transport/admin") && under(imp, "transport/service"):
		return "the management plane talks to the daemon over the control socket (transport/admin/control), not by importing it"
	case under(p, "transport/mail/queue") && p != "transport/mail/queue" && imp == "transport/mail/queue":
		return "storage engines do not depend on the queue manager that consumes them"
	case under(p, "transport/mail/queue") && strings.HasPrefix(imp, "github.com/emersion/go-smtp"):
		return "the queue does not speak SMTP"
	}
	return ""
}

// The layout README describes has no upward edge: every package imports
// only what its layer may (see layerRule).
func TestLayoutHasNoUpwardImports(t *testing.T) {
	root, err := filepath.Abs("../..")
	if err != nil {
		t.Fatal(err)
	}
	checked := 0
	err = filepath.WalkDir(root, func(path string, d fs.DirEntry, err error) error {
		if err != nil {
			return err
		}
		if !d.IsDir() {
			return nil
		}
		if path != root && (strings.HasPrefix(d.Name(), ".") || d.Name() == "testdata") {
			return filepath.SkipDir
		}
		pkg, err := build.ImportDir(path, 0)
		if err != nil {
			return nil // no Go files here
		}
		rel, _ := filepath.Rel(root, path)
		rel = filepath.ToSlash(rel)
		checked++
		for _, imp := range pkg.Imports {
			short := strings.TrimPrefix(imp, module)
			if why := layerRule(rel, short); why != "" {
				t.Errorf("%s imports %s: %s", rel, short, why)
			}
		}
		return nil
	})
	if err != nil {
		t.Fatal(err)
	}
	if checked < 30 {
		t.Fatalf("checked only %d packages; is the walk broken?", checked)
	}
}

// The rules themselves: each upward edge the layout removed is refused.
func TestLayerRule(t *testing.T) {
	for _, tc := range []struct {
		p, imp string
		ok     bool
	}{
		{"connector/smtpd", "transport/mail/queue", false},
		{"connector", "policies/value", true},
		{"certs", "transport/durable", false},
		{"transport/admin/shell", "transport/service", false},
		{"transport/admin/shell", "transport/admin/control", true},
		{"transport/mail/queue", "github.com/emersion/go-smtp", false},
		{"transport/mail/queue/journal", "transport/mail/queue", false},
		{"transport/mail/queue/journal", "transport/mail/queue/message", true},
		{"transport/mail/routing", "transport/mail/queue", true},
		{"transport/mail/routing", "transport/admin/config", false},
		{"policies/permissions", "policies/domains", true},
		{"policies/value", "transport/durable", false},
		{"policies/sendas", "github.com/emersion/go-message", true},
		{"policies/value", "time", true},
		{"connector/smtpd", "github.com/emersion/go-smtp", true},
		{"transport/service", "connector/smtpd", true},
	} {
		if why := layerRule(tc.p, tc.imp); (why == "") != tc.ok {
			t.Errorf("%s -> %s: allowed %v, want %v (%s)", tc.p, tc.imp, why == "", tc.ok, why)
		}
	}
}
