package manage

import (
	"errors"
	"fmt"
	"strings"

	"github.com/transportd/transportd/connector"
	"github.com/transportd/transportd/transport/admin/config"
	"github.com/transportd/transportd/transport/mail/sendconnector"
)

// This file holds what the kinds of objects kept as lists in the
// configuration (receive connectors, send connectors, accepted domains,
// mailboxes) have in common: finding them by identity, showing them,
// removing them, and the checks every kind needs (a name, and one object
// per name). What is particular to a kind (its defaults, its parameters,
// its validation) stays with the kind, in one place.

// listKind describes one kind of object kept as a list.
type listKind[T any] struct {
	what  string // "receive connector", for messages
	items func(c *config.Config) *[]T
	name  func(t *T) string
	// match reports whether identity (wildcards allowed) names t; nil: its name.
	match func(identity string, t *T) bool
	// recorder returns how to show one object of c.
	recorder func(m *Manager, c *config.Config) (func(t *T) Record, error)
	// removed, when set, tidies c after objects were removed.
	removed func(c *config.Config)
}

func (k listKind[T]) matches(identity string, t *T) bool {
	if k.match != nil {
		return k.match(identity, t)
	}
	return MatchIdentity(identity, k.name(t))
}

func (k listKind[T]) names(c *config.Config) []string {
	var out []string
	for i := range *k.items(c) {
		out = append(out, k.name(&(*k.items(c))[i]))
	}
	return out
}

// get lists the objects matching identity ("" = all).
func (k listKind[T]) get(m *Manager, identity string) ([]Record, error) {
	c, err := m.Load()
	if err != nil {
		return nil, err
	}
	show, err := k.recorder(m, c)
	if err != nil {
		return nil, err
	}
	var out []Record
	items := *k.items(c)
	for i := range items {
		if identity == "" || k.matches(identity, &items[i]) {
			out = append(out, show(&items[i]))
		}
	}
	if len(out) == 0 && identity != "" {
		return nil, noMatch(k.what, identity, k.names(c))
	}
	return out, nil
}

// removeEach removes every object one of identities names, in one update:
// an identity that matches nothing removes nothing at all.
func (k listKind[T]) removeEach(m *Manager, identities []string) (int, error) {
	if len(identities) == 0 || (len(identities) == 1 && identities[0] == "") {
		return 0, errors.New("-Identity is required")
	}
	n := 0
	_, err := config.Update(m.ConfigPath, func(c *config.Config) error {
		n = 0
		items := k.items(c)
		gone := make([]bool, len(*items))
		for _, id := range identities {
			hit := false
			for i := range *items {
				if k.matches(id, &(*items)[i]) {
					hit, gone[i] = true, true
				}
			}
			if !hit {
				return noMatch(k.what, id, k.names(c))
			}
		}
		var keep []T
		for i, t := range *items {
			if gone[i] {
				n++
				continue
			}
			keep = append(keep, t)
		}
		*items = keep
		if k.removed != nil {
			k.removed(c)
		}
		return nil
	})
	return n, err
}

// setEach applies set to every object one of identities names, in one
// update, then checks the names; finish runs last (the kind's validation).
func (k listKind[T]) setEach(m *Manager, identities []string, set func(c *config.Config, t *T) error, finish ...func(c *config.Config) error) (int, error) {
	return m.updateEach(identities, k.what, k.names,
		func(c *config.Config, i int, id string) bool { return k.matches(id, &(*k.items(c))[i]) },
		func(c *config.Config, i int) error { return set(c, &(*k.items(c))[i]) },
		append([]func(*config.Config) error{k.checkNames}, finish...)...)
}

// add builds a new object from c and appends it, in one update, after
// checking its name; check (the kind's validation) then sees c with the
// new object in place. It returns the object as saved.
func (k listKind[T]) add(m *Manager, build func(c *config.Config) (T, error), check func(c *config.Config, t *T) error) (T, error) {
	var made T
	_, err := config.Update(m.ConfigPath, func(c *config.Config) error {
		t, err := build(c)
		if err != nil {
			return err
		}
		name := strings.TrimSpace(k.name(&t))
		if name == "" {
			return errors.New("-Name is required")
		}
		for _, o := range *k.items(c) {
			if strings.EqualFold(strings.TrimSpace(k.name(&o)), name) {
				return fmt.Errorf("a %s named %q already exists", k.what, k.name(&o))
			}
		}
		items := k.items(c)
		*items = append(*items, t)
		p := &(*items)[len(*items)-1]
		if check != nil {
			if err := check(c, p); err != nil {
				return err
			}
		}
		made = *p
		return k.checkNames(c)
	})
	return made, err
}

// checkNames refuses an empty name and two objects with one name (any
// case), as New refuses them; Set -Name would otherwise make them.
func (k listKind[T]) checkNames(c *config.Config) error {
	seen := map[string]string{}
	for _, n := range k.names(c) {
		key := strings.ToLower(strings.TrimSpace(n))
		if key == "" {
			return fmt.Errorf("-Name is required: a %s needs a name", k.what)
		}
		if prev, dup := seen[key]; dup {
			return fmt.Errorf("-Name %q: a %s named %q already exists; Name must be unique", n, k.what, prev)
		}
		seen[key] = n
	}
	return nil
}

func plainRecorder[T any](show func(t *T) Record) func(*Manager, *config.Config) (func(*T) Record, error) {
	return func(*Manager, *config.Config) (func(*T) Record, error) { return show, nil }
}

var receiveConnectors = listKind[connector.ReceiveConnector]{
	what:  "receive connector",
	items: func(c *config.Config) *[]connector.ReceiveConnector { return &c.ReceiveConnectors },
	name:  func(rc *connector.ReceiveConnector) string { return rc.Name },
	recorder: func(m *Manager, c *config.Config) (func(*connector.ReceiveConnector) Record, error) {
		store, err := m.Certs(c)
		if err != nil {
			return nil, err
		}
		return func(rc *connector.ReceiveConnector) Record { return m.ConnectorRecord(rc, store) }, nil
	},
}

var sendConnectors = listKind[sendconnector.SendConnector]{
	what:     "send connector",
	items:    func(c *config.Config) *[]sendconnector.SendConnector { return &c.SendConnectors },
	name:     func(sc *sendconnector.SendConnector) string { return sc.Name },
	recorder: plainRecorder(sendConnectorRecord),
}

var acceptedDomains = listKind[config.AcceptedDomain]{
	what:  "accepted domain",
	items: func(c *config.Config) *[]config.AcceptedDomain { return &c.AcceptedDomains },
	name:  func(d *config.AcceptedDomain) string { return d.Name },
	match: func(id string, d *config.AcceptedDomain) bool {
		return MatchIdentity(id, d.Name) || MatchIdentity(id, d.DomainName)
	},
	recorder: plainRecorder(domainRecord),
}

var mailboxes = listKind[config.Mailbox]{
	what:     "mailbox",
	items:    func(c *config.Config) *[]config.Mailbox { return &c.Mailboxes },
	name:     func(mb *config.Mailbox) string { return mb.Name },
	match:    matchMailbox,
	recorder: plainRecorder(mailboxRecord),
	removed:  pruneSendAs,
}

// pruneSendAs drops the Send As grants to mailboxes that are gone.
func pruneSendAs(c *config.Config) {
	for i := range c.Mailboxes {
		mb := &c.Mailboxes[i]
		var grants []string
		for _, u := range mb.GrantSendAsTo {
			if c.FindMailboxUser(u) != nil {
				grants = append(grants, u)
			}
		}
		mb.GrantSendAsTo = grants
	}
}

func domainRecord(d *config.AcceptedDomain) Record {
	return append(Record{{Name: "Identity", Value: d.Name}}, Properties(d)...)
}
