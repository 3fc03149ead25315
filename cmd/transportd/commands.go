package main

import (
	"fmt"
	"io"
	"strings"

	"github.com/transportd/transportd/transport/admin/manage"
	"github.com/transportd/transportd/transport/admin/shell"
)

// view is the output of a get with -fields a,b and -format list|table|json.
type view struct {
	io.Writer
	fields []string
	format string
}

// takeView removes -fields and -format from ps; it returns out unchanged
// when neither is given.
func takeView(ps *manage.Params, out io.Writer) (io.Writer, error) {
	fields, hasFields := ps.Take("fields")
	format, hasFormat := ps.Take("format")
	if !hasFields && !hasFormat {
		return out, nil
	}
	v := &view{Writer: out, format: strings.ToLower(strings.TrimSpace(format))}
	switch v.format {
	case "", "list", "table", "json":
	default:
		return nil, fmt.Errorf("-format %q: use list, table or json", format)
	}
	for _, f := range strings.Split(fields, ",") {
		if f = strings.TrimSpace(f); f != "" {
			v.fields = append(v.fields, f)
		}
	}
	return v, nil
}

// show prints records with the chosen fields and format.
func (v *view) show(recs []manage.Record, list bool, columns []string) error {
	if len(v.fields) > 0 && len(recs) > 0 {
		var names []string
		for _, p := range recs[0] {
			names = append(names, p.Name)
		}
		for _, f := range v.fields {
			if strings.ContainsAny(f, "*?") {
				continue
			}
			if _, err := manage.ResolveName(names, f); err != nil || !containsFold(names, f) {
				if s := manage.Closest(names, f); s != "" {
					return fmt.Errorf("-fields %s: no such property; did you mean %s?", f, s)
				}
				return fmt.Errorf("-fields %s: no such property (the properties are %s)", f, strings.Join(names, ", "))
			}
		}
		sel := make([]manage.Record, len(recs))
		for i, r := range recs {
			sel[i] = shell.SelectProperties(r, v.fields)
		}
		recs = sel
		if len(recs) > 0 {
			columns = nil
			for _, p := range recs[0] {
				columns = append(columns, p.Name)
			}
		}
	}
	switch v.format {
	case "json":
		fmt.Fprintln(v.Writer, shell.RecordsJSON(recs))
		return nil
	case "list":
		list = true
	case "table":
		list = false
		if len(columns) == 0 && len(recs) > 0 {
			for _, p := range recs[0] {
				columns = append(columns, p.Name)
			}
		}
	default:
		if len(v.fields) > 0 && len(recs) > 1 {
			list = false
		}
	}
	return show(v.Writer, recs, list, nil, columns...)
}

// nothing reports an empty result: the sentence for people, an empty JSON
// array for -format json, so that scripts always parse an array.
func nothing(out io.Writer, sentence string) error {
	if v, ok := out.(*view); ok && v.format == "json" {
		fmt.Fprintln(v.Writer, "[]")
		return nil
	}
	fmt.Fprintln(out, sentence)
	return nil
}

func containsFold(list []string, s string) bool {
	for _, x := range list {
		if strings.EqualFold(x, s) {
			return true
		}
	}
	return false
}

// pipedIdentities reads the identities of a JSON pipe (the output of a get
// with -format json) for a set or remove without -Identity.
func pipedIdentities(stdin io.Reader) ([]string, error) {
	if stdin == nil || isTerminal(stdin) {
		return nil, nil
	}
	b, err := io.ReadAll(stdin)
	if err != nil {
		return nil, fmt.Errorf("reading standard input: %w", err)
	}
	if strings.TrimSpace(string(b)) == "" {
		return nil, nil
	}
	return shell.IdentitiesFromJSON(b)
}

// dispatchPiped runs a set or remove for identities read from a JSON pipe:
// a set changes them all in one update, or none.
func dispatchPiped(m *manage.Manager, noun, verb string, ids []string, ps manage.Params, out io.Writer) error {
	switch noun + " " + verb {
	case "connector set", "receiveconnector set":
		n, err := m.SetConnectorsEach(ids, ps)
		return changed(out, n, "receive connector", err)
	case "accepteddomain set":
		n, err := m.SetAcceptedDomainsEach(ids, ps)
		return changed(out, n, "accepted domain", err)
	case "mailbox set":
		n, err := m.SetMailboxesEach(ids, ps, nil)
		return changed(out, n, "mailbox", err)
	case "sendconnector set":
		n, err := m.SetSendConnectorsEach(ids, ps, nil)
		return changed(out, n, "send connector", err)
	}
	for _, id := range ids {
		idps := append(manage.Params{{Name: "Identity", Value: id}}, ps...)
		if err := dispatch(m, noun, verb, idps, nil, out); err != nil {
			return err
		}
	}
	return nil
}

// dispatch runs one noun-verb command.
func dispatch(m *manage.Manager, noun, verb string, ps manage.Params, readPw func() (string, error), out io.Writer) error {
	identity, _ := ps.Take("Identity")
	switch noun {
	case "connector", "receiveconnector":
		switch verb {
		case "get":
			_, clientSettings := ps.Take("ClientSettings")
			if err := noneLeft(ps, "connector get", "Identity", "ClientSettings", "Fields", "Format"); err != nil {
				return err
			}
			if clientSettings {
				return showClientSettings(m, identity, out)
			}
			recs, err := m.GetConnectors(identity)
			return show(out, recs, identity != "", err, "Identity", "Bindings", "Enabled")
		case "set":
			n, err := m.SetConnectors(identity, ps)
			return changed(out, n, "receive connector", err)
		case "new":
			if identity != "" {
				ps = append(ps, manage.Param{Name: "Name", Value: identity})
			}
			rec, err := m.NewConnector(ps)
			return show(out, []manage.Record{rec}, true, err)
		case "remove":
			if err := noneLeft(ps, noun+" remove", "Identity"); err != nil {
				return err
			}
			n, err := m.RemoveConnectors(identity)
			return removed(out, n, "receive connector", err)
		}
	case "accepteddomain":
		switch verb {
		case "get":
			if err := noneLeft(ps, "accepteddomain get", "Identity", "Fields", "Format"); err != nil {
				return err
			}
			recs, err := m.GetAcceptedDomains(identity)
			return show(out, recs, identity != "", err, "Name", "DomainName", "DomainType", "Default")
		case "set":
			n, err := m.SetAcceptedDomains(identity, ps)
			return changed(out, n, "accepted domain", err)
		case "new":
			if identity != "" {
				ps = append(ps, manage.Param{Name: "Name", Value: identity})
			}
			rec, err := m.NewAcceptedDomain(ps)
			return show(out, []manage.Record{rec}, true, err)
		case "remove":
			if err := noneLeft(ps, noun+" remove", "Identity"); err != nil {
				return err
			}
			n, err := m.RemoveAcceptedDomains(identity)
			return removed(out, n, "accepted domain", err)
		}
	case "mailbox":
		switch verb {
		case "get":
			if err := noneLeft(ps, "mailbox get", "Identity", "Fields", "Format"); err != nil {
				return err
			}
			recs, err := m.GetMailboxes(identity)
			return show(out, recs, identity != "", err, "Name", "PrimarySmtpAddress", "Enabled", "PasswordSet")
		case "set":
			n, err := m.SetMailboxes(identity, ps, readPw)
			return changed(out, n, "mailbox", err)
		case "new":
			if identity != "" {
				ps = append(ps, manage.Param{Name: "Name", Value: identity})
			}
			rec, err := m.NewMailbox(ps, readPw)
			return show(out, []manage.Record{rec}, true, err)
		case "remove":
			if err := noneLeft(ps, noun+" remove", "Identity"); err != nil {
				return err
			}
			n, err := m.RemoveMailboxes(identity)
			return removed(out, n, "mailbox", err)
		}
	case "cert", "certificate", "exchangecertificate":
		thumb, _ := ps.Take("Thumbprint")
		if thumb == "" {
			thumb = identity
		}
		switch verb {
		case "get":
			if err := noneLeft(ps, "cert get", "Thumbprint", "Identity", "Fields", "Format"); err != nil {
				return err
			}
			recs, err := m.GetCerts(thumb)
			return show(out, recs, thumb != "", err, "Thumbprint", "Services", "Subject")
		case "new":
			rec, err := m.NewCert(ps)
			if err != nil {
				return err
			}
			fmt.Fprintln(out, mustGet(rec, "Thumbprint"))
			return nil
		case "import":
			rec, err := m.ImportCert(ps, readPw)
			return show(out, []manage.Record{rec}, false, err, "Thumbprint", "Services", "Subject")
		case "enable":
			services, _ := ps.Take("Services")
			ps.Take("Force") // Exchange scripts give it; nothing here asks
			if err := noneLeft(ps, "cert enable", "Thumbprint", "Identity", "Services", "Force"); err != nil {
				return err
			}
			return m.EnableCert(thumb, services)
		case "remove":
			if err := noneLeft(ps, "cert remove", "Thumbprint", "Identity"); err != nil {
				return err
			}
			return m.RemoveCert(thumb)
		}
	case "sendconnector":
		switch verb {
		case "get":
			if err := noneLeft(ps, "sendconnector get", "Identity", "Fields", "Format"); err != nil {
				return err
			}
			recs, err := m.GetSendConnectors(identity)
			return show(out, recs, identity != "", err, "Identity", "AddressSpaces", "SmartHosts", "Enabled")
		case "set":
			n, err := m.SetSendConnectors(identity, ps, readPw)
			return changed(out, n, "send connector", err)
		case "new":
			if identity != "" {
				ps = append(ps, manage.Param{Name: "Name", Value: identity})
			}
			rec, err := m.NewSendConnector(ps, readPw)
			return show(out, []manage.Record{rec}, true, err)
		case "remove":
			if err := noneLeft(ps, noun+" remove", "Identity"); err != nil {
				return err
			}
			n, err := m.RemoveSendConnectors(identity)
			return removed(out, n, "send connector", err)
		}
	case "transportconfig":
		switch verb {
		case "get":
			if identity != "" {
				return fmt.Errorf("transportconfig get takes no -Identity: there is one transport configuration")
			}
			if err := noneLeft(ps, "transportconfig get", "Fields", "Format"); err != nil {
				return err
			}
			rec, err := m.GetTransportConfig()
			return show(out, []manage.Record{rec}, true, err)
		case "set":
			if err := m.SetTransportConfig(ps); err != nil {
				return err
			}
			fmt.Fprintln(out, "Changed the transport configuration. A running transportd applies the change within seconds.")
			return nil
		}
	case "test":
		return testCommand(m, verb, identity, ps, readPw, out)
	case "trackinglog", "messagetrackinglog":
		return trackingLogCommand(m, verb, identity, ps, out)
	case "queue", "message":
		return queueCommand(m, noun, verb, identity, ps, out)
	default:
		nouns := []string{"connector", "sendconnector", "cert", "accepteddomain", "mailbox", "transportconfig", "queue", "message", "trackinglog", "test"}
		if s := manage.Closest(nouns, noun); s != "" {
			return fmt.Errorf("unknown command %q; did you mean %q?", noun, s)
		}
		return fmt.Errorf("unknown command %q (use %s)", noun, strings.Join(nouns, ", "))
	}
	return fmt.Errorf("unknown action %q for %s", verb, noun)
}

// noneLeft refuses the parameters left in ps after a command took those it
// knows, as set does: a misspelt -Identity must not widen a get to every
// object or make a remove act on something else.
func noneLeft(ps manage.Params, command string, known ...string) error {
	for _, p := range ps {
		if _, err := manage.ResolveName(known, p.Name); err != nil {
			return fmt.Errorf("%w (%s takes -%s)", err, command, strings.Join(known, ", -"))
		}
		return fmt.Errorf("parameter -%s given twice", p.Name)
	}
	return nil
}

func mustGet(r manage.Record, name string) string {
	v, _ := r.Get(name)
	return v
}

func changed(out io.Writer, n int, kind string, err error) error {
	if err != nil {
		return err
	}
	plural := ""
	if n != 1 {
		plural = "s"
	}
	fmt.Fprintf(out, "Changed %d %s%s. A running transportd applies the change within seconds.\n", n, kind, plural)
	return nil
}

func removed(out io.Writer, n int, kind string, err error) error {
	if err != nil {
		return err
	}
	plural := ""
	if n != 1 {
		plural = "s"
	}
	fmt.Fprintf(out, "Removed %d %s%s.\n", n, kind, plural)
	return nil
}

// show prints records as a list (all properties) or a table (the given columns).
func show(out io.Writer, recs []manage.Record, list bool, err error, columns ...string) error {
	if err != nil {
		return err
	}
	if v, ok := out.(*view); ok {
		return v.show(recs, list, columns)
	}
	if list || len(columns) == 0 {
		FormatList(out, recs)
		return nil
	}
	FormatTable(out, recs, columns)
	return nil
}

// FormatList prints records as Format-List does (the shell's printer).
func FormatList(out io.Writer, recs []manage.Record) { shell.FormatList(out, recs) }

// FormatTable prints records as Format-Table does (the shell's printer).
func FormatTable(out io.Writer, recs []manage.Record, columns []string) {
	shell.FormatTable(out, recs, columns)
}
