package config

import (
	"bytes"
	"fmt"
	"reflect"
	"slices"
	"strings"

	yaml "go.yaml.in/yaml/v3"

	"github.com/transportd/transportd/transport/mail/sendconnector"
)

// MergeOrgDocs merges two changes made to the same organization-wide
// configuration (issue 14: two members edited it at the same moment):
// base is the document both started from, mine and theirs the two
// results. Objects are compared one by one — a send connector, accepted
// domain, mailbox, DKIM signing configuration or role group by its name,
// a certificate or DKIM key file by its path, a Set-TransportConfig or
// connection filter setting by its name: what one side changed and the
// other did not is taken from that side, so that two changes to
// different objects both survive. An object both changed differently is
// a conflict: the merged document keeps theirs (the change that won the
// race), and conflicts names it ("send connector Smart"). A nil base
// (this member never agreed with the cluster) keeps theirs everywhere,
// with the files only mine has (its own certificates).
func MergeOrgDocs(base *OrgDoc, mine, theirs OrgDoc) (OrgDoc, []string) {
	if base == nil {
		out := theirs
		out.Files = map[string][]byte{}
		for p, d := range mine.Files {
			out.Files[p] = d
		}
		for p, d := range theirs.Files {
			out.Files[p] = d
		}
		return out, nil
	}
	var m merger
	out := OrgDoc{
		SendConnectors: mergeList(&m, "send connector", base.SendConnectors, mine.SendConnectors, theirs.SendConnectors,
			func(s sendconnector.SendConnector) string { return s.Name }),
		AcceptedDomains: mergeList(&m, "accepted domain", base.AcceptedDomains, mine.AcceptedDomains, theirs.AcceptedDomains,
			func(d AcceptedDomain) string { return d.Name }),
		Mailboxes: mergeList(&m, "mailbox", base.Mailboxes, mine.Mailboxes, theirs.Mailboxes,
			func(mb Mailbox) string { return mb.Name }),
		DkimSigningConfigs: mergeList(&m, "DKIM signing configuration", base.DkimSigningConfigs, mine.DkimSigningConfigs, theirs.DkimSigningConfigs,
			func(d DkimSigningConfig) string { return d.Domain }),
		RoleGroups: mergeList(&m, "role group", base.RoleGroups, mine.RoleGroups, theirs.RoleGroups,
			func(g RoleGroup) string { return g.Name }),
	}
	mergeFields(&m, "transport config", &out.Transport, base.Transport, mine.Transport, theirs.Transport)
	mergeFields(&m, "connection filter", &out.ConnectionFilter, base.ConnectionFilter, mine.ConnectionFilter, theirs.ConnectionFilter)
	out.Files = map[string][]byte{}
	keys := map[string]bool{}
	for _, f := range []map[string][]byte{base.Files, mine.Files, theirs.Files} {
		for p := range f {
			keys[p] = true
		}
	}
	for p := range keys {
		b, bok := base.Files[p]
		l, lok := mine.Files[p]
		r, rok := theirs.Files[p]
		ok, keep := m.pick("file "+p, side[[]byte]{b, bok}, side[[]byte]{l, lok}, side[[]byte]{r, rok}, bytes.Equal)
		if ok && keep.present {
			out.Files[p] = keep.v
		}
	}
	slices.Sort(m.conflicts)
	return out, m.conflicts
}

type merger struct{ conflicts []string }

// side is one version of an object: present or not, and its value.
type side[T any] struct {
	v       T
	present bool
}

// pick chooses an object's version (three-way): the side that changed
// it, or theirs when both did differently (a conflict, recorded). ok is
// false when the object is absent from the result.
func (m *merger) pick(what string, b, l, r side[[]byte], eq func(a, b []byte) bool) (bool, side[[]byte]) {
	same := func(x, y side[[]byte]) bool { return x.present == y.present && (!x.present || eq(x.v, y.v)) }
	switch {
	case same(l, r), same(l, b):
		return r.present, r
	case same(r, b):
		return l.present, l
	}
	m.conflicts = append(m.conflicts, what)
	return r.present, r
}

// canon is an object's content for comparison: its config-file YAML.
func canon(v any) []byte {
	data, err := yaml.Marshal(v)
	if err != nil {
		return []byte(fmt.Sprintf("%#v", v))
	}
	return data
}

// mergeList merges a list of named objects (names compare as Exchange
// identities do, case-insensitively). The result keeps theirs' order,
// then the objects only mine added, in mine's order.
func mergeList[T any](m *merger, what string, base, mine, theirs []T, name func(T) string) []T {
	index := func(list []T) map[string]int {
		out := make(map[string]int, len(list))
		for i, x := range list {
			out[strings.ToLower(name(x))] = i
		}
		return out
	}
	bi, li, ri := index(base), index(mine), index(theirs)
	get := func(list []T, idx map[string]int, k string) (side[[]byte], T) {
		var zero T
		i, ok := idx[k]
		if !ok {
			return side[[]byte]{}, zero
		}
		return side[[]byte]{canon(list[i]), true}, list[i]
	}
	var order []string
	seen := map[string]bool{}
	for _, list := range [][]T{theirs, mine, base} {
		for _, x := range list {
			if k := strings.ToLower(name(x)); !seen[k] {
				seen[k] = true
				order = append(order, k)
			}
		}
	}
	out := make([]T, 0, len(order))
	for _, k := range order {
		b, _ := get(base, bi, k)
		l, lv := get(mine, li, k)
		r, rv := get(theirs, ri, k)
		ok, keep := m.pick(what+" "+displayName(k, mine, theirs, li, ri, name), b, l, r, bytes.Equal)
		if !ok {
			continue
		}
		if keep.present && l.present && bytes.Equal(keep.v, l.v) && !(r.present && bytes.Equal(keep.v, r.v)) {
			out = append(out, lv)
		} else {
			out = append(out, rv)
		}
	}
	return out
}

// displayName is the object's name as written (not lowercased).
func displayName[T any](k string, mine, theirs []T, li, ri map[string]int, name func(T) string) string {
	if i, ok := ri[k]; ok {
		return name(theirs[i])
	}
	if i, ok := li[k]; ok {
		return name(mine[i])
	}
	return k
}

// mergeFields merges a settings struct field by field.
func mergeFields[T any](m *merger, what string, out *T, base, mine, theirs T) {
	ov := reflect.ValueOf(out).Elem()
	bv, lv, rv := reflect.ValueOf(base), reflect.ValueOf(mine), reflect.ValueOf(theirs)
	t := ov.Type()
	for i := range t.NumField() {
		if !t.Field(i).IsExported() {
			continue
		}
		f := func(v reflect.Value) side[[]byte] { return side[[]byte]{canon(v.Field(i).Interface()), true} }
		l := f(lv)
		_, keep := m.pick(what+" "+t.Field(i).Name, f(bv), l, f(rv), bytes.Equal)
		if bytes.Equal(keep.v, l.v) {
			ov.Field(i).Set(lv.Field(i))
		} else {
			ov.Field(i).Set(rv.Field(i))
		}
	}
}
