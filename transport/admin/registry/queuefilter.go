package registry

import (
	"cmp"
	"errors"
	"fmt"
	"slices"
	"strconv"
	"strings"
	"time"

	"github.com/transportd/transportd/transport/admin/control"
	"github.com/transportd/transportd/transport/admin/manage"
	"github.com/transportd/transportd/transport/admin/opath"
)

// This file holds what the queue and message cmdlets share: -Filter (OPATH,
// transport/admin/opath) over Exchange's queue and message properties,
// -Include/-Exclude, -SortOrder, -ResultSize and -Server.

// queueStatuses and messageStatuses are Exchange's Status values.
var (
	queueStatuses   = []string{"Active", "Connecting", "Ready", "Retry", "Suspended"}
	messageStatuses = []string{"Active", "Locked", "Ready", "Retry", "Suspended", "PendingRemove", "PendingSuspend"}
	// deliveryTypes are Exchange's queue delivery types (NextHopSolutionKey):
	// those transportd has, and the others, so that an Exchange script's
	// filter is valid here and simply matches nothing.
	deliveryTypes = []string{"SmtpDeliveryToMailbox", "SmartHostConnectorDelivery", "DnsConnectorDelivery", "Unreachable", "Poison",
		"DeliveryAgent", "Heartbeat", "NonSmtpGatewayDelivery", "ShadowRedundancy", "SmtpRelayToConnectorSourceServers",
		"SmtpRelayToDag", "SmtpRelayToMailboxDeliveryGroup", "SmtpRelayToRemoteAdSite", "SmtpRelayToServers", "SmtpRelayToTiRg",
		"SmtpRelayWithinAdSite", "SmtpRelayWithinAdSiteToEdge", "Undefined", "MapiDelivery"}
)

// QueueSchema lists the properties a queue -Filter and -SortOrder take.
var QueueSchema = opath.Schema{Kind: "queue", Properties: []opath.Property{
	{Name: "Identity"}, {Name: "DeliveryType", Type: opath.Enum, Values: deliveryTypes},
	{Name: "NextHopDomain"}, {Name: "NextHopCategory", Type: opath.Enum, Values: []string{"Internal", "External"}},
	{Name: "Status", Type: opath.Enum, Values: queueStatuses}, {Name: "MessageCount", Type: opath.Number},
	{Name: "LastError"}, {Name: "RetryCount", Type: opath.Number}, {Name: "LastRetryTime", Type: opath.Time},
	{Name: "NextRetryTime", Type: opath.Time}, {Name: "FirstRetryTime", Type: opath.Time},
	{Name: "Server"}, // issue 14: the cluster member that holds the queue
}}

// MessageSchema lists the properties a message -Filter and -SortOrder take.
var MessageSchema = opath.Schema{Kind: "message", Properties: []opath.Property{
	{Name: "Identity"}, {Name: "FromAddress"}, {Name: "Status", Type: opath.Enum, Values: messageStatuses},
	{Name: "Size", Type: opath.Number}, {Name: "SCL", Type: opath.Number}, {Name: "Subject"},
	{Name: "DateReceived", Type: opath.Time}, {Name: "ExpirationTime", Type: opath.Time},
	{Name: "Queue", Multi: true}, {Name: "Recipients", Multi: true}, {Name: "LastError"},
	{Name: "RetryCount", Type: opath.Number}, {Name: "SourceIP"}, {Name: "InternetMessageId"},
	{Name: "MessageSourceName"},
	{Name: "Server"}, // issue 14: the cluster member that holds the message
}}

// nextHopCategory is Exchange's Internal (delivered on this server) or
// External (leaves it).
func nextHopCategory(deliveryType string) string {
	switch deliveryType {
	case "SmartHostConnectorDelivery", "DnsConnectorDelivery":
		return "External"
	}
	return "Internal"
}

// queueGetter gives a queue's properties to a filter.
func queueGetter(q control.Queue) opath.Getter {
	return func(name string) any {
		switch name {
		case "Server":
			return q.Server
		case "Identity":
			return q.Identity
		case "DeliveryType":
			return q.DeliveryType
		case "NextHopDomain":
			return q.NextHopDomain
		case "NextHopCategory":
			return nextHopCategory(q.DeliveryType)
		case "Status":
			return q.Status
		case "MessageCount":
			return int64(q.MessageCount)
		case "LastError":
			return q.LastError
		case "RetryCount":
			return int64(q.RetryCount)
		case "LastRetryTime":
			return q.LastRetryTime
		case "NextRetryTime":
			return q.NextRetryTime
		case "FirstRetryTime":
			return q.FirstRetryTime
		}
		return nil
	}
}

// noSCL is the SCL of a message no content filter has rated: transportd
// has no content filter, so every message has it (Exchange's -1, "not
// scanned").
const noSCL = -1

// messageGetter gives a message's properties to a filter.
func messageGetter(m control.Message) opath.Getter {
	return func(name string) any {
		switch name {
		case "Server":
			return m.Server
		case "Identity":
			return m.Identity
		case "FromAddress":
			return m.FromAddress
		case "Status":
			return m.Status
		case "Size":
			return m.Size
		case "SCL":
			return int64(noSCL)
		case "Subject":
			return m.Subject
		case "DateReceived":
			return m.DateReceived
		case "ExpirationTime":
			return m.ExpirationTime
		case "Queue":
			// Each queue as the daemon names it (contoso.com) and in
			// Exchange's form (MAIL\contoso.com), so either matches.
			srv, _, _ := strings.Cut(m.Identity, `\`)
			out := slices.Clone(m.Queue)
			for _, q := range m.Queue {
				out = append(out, srv+`\`+q)
			}
			return out
		case "Recipients":
			out := make([]string, len(m.Recipients))
			for i, r := range m.Recipients {
				out[i] = r.Address
			}
			return out
		case "LastError":
			return m.LastError
		case "RetryCount":
			return int64(m.RetryCount)
		case "SourceIP":
			return m.SourceIP
		case "InternetMessageId":
			return m.InternetMessageId
		case "MessageSourceName":
			return m.MessageSourceName
		}
		return nil
	}
}

// view is what -Filter, -SortOrder and -ResultSize ask of a list.
type view struct {
	filter *opath.Filter
	sort   []sortKey
	limit  int // 0: unlimited
	// explicit tells that -ResultSize was given (no warning when it cuts).
	explicit bool
}

type sortKey struct {
	prop string
	desc bool
}

// defaultResultSize is Exchange's default -ResultSize.
const defaultResultSize = 1000

// takeView reads -Filter, -SortOrder and -ResultSize.
func takeView(env *Env, r *Request, s opath.Schema, withFilter bool) (view, error) {
	v := view{limit: defaultResultSize}
	if err := takeServer(env, r); err != nil {
		return v, err
	}
	if withFilter {
		if text, ok := r.Params.TakeExact("Filter"); ok {
			f, err := opath.Parse(text, s)
			if err != nil {
				return v, err
			}
			v.filter = f
		}
	}
	if text, ok := r.Params.TakeExact("SortOrder"); ok {
		keys, err := parseSortOrder(text, s)
		if err != nil {
			return v, err
		}
		v.sort = keys
	}
	if text, ok := r.Params.TakeExact("ResultSize"); ok {
		n, err := parseResultSize(text)
		if err != nil {
			return v, err
		}
		v.limit, v.explicit = n, true
	}
	return v, nil
}

// parseSortOrder reads Exchange's "+FromAddress,-Size": ascending with +
// (or nothing), descending with -.
func parseSortOrder(text string, s opath.Schema) ([]sortKey, error) {
	var keys []sortKey
	for _, f := range strings.FieldsFunc(text, func(r rune) bool { return r == ',' || r == ' ' }) {
		k := sortKey{}
		switch f[0] {
		case '-':
			k.desc, f = true, f[1:]
		case '+':
			f = f[1:]
		}
		p, ok := s.Lookup(f)
		if !ok {
			return nil, fmt.Errorf("-SortOrder %q: %s is not a property of a %s; valid properties: %s", text, f, s.Kind, strings.Join(s.Names(), ", "))
		}
		k.prop = p.Name
		keys = append(keys, k)
	}
	if len(keys) == 0 {
		return nil, fmt.Errorf("-SortOrder %q: give properties such as +FromAddress,-Size", text)
	}
	return keys, nil
}

// parseResultSize reads a -ResultSize: a positive number, or Unlimited (0).
func parseResultSize(text string) (int, error) {
	if strings.EqualFold(strings.TrimSpace(text), "Unlimited") {
		return 0, nil
	}
	n, err := strconv.Atoi(strings.TrimSpace(text))
	if err != nil || n < 1 {
		return 0, fmt.Errorf("-ResultSize %q: give a number of results (1 or more) or Unlimited", text)
	}
	return n, nil
}

// apply filters, sorts and cuts a list; it warns, as Exchange does, when
// the default -ResultSize cut it.
func apply[T any](env *Env, v view, list []T, get func(T) opath.Getter) []T {
	var out []T
	for _, x := range list {
		if v.filter.Match(get(x)) {
			out = append(out, x)
		}
	}
	if len(v.sort) > 0 {
		slices.SortStableFunc(out, func(a, b T) int {
			ga, gb := get(a), get(b)
			for _, k := range v.sort {
				c := compareValues(ga(k.prop), gb(k.prop))
				if k.desc {
					c = -c
				}
				if c != 0 {
					return c
				}
			}
			return 0
		})
	}
	if v.limit > 0 && len(out) > v.limit {
		if !v.explicit {
			env.say("WARNING: By default, only the first %d items are returned. Use the ResultSize parameter to specify the number of items returned. To return all items, specify \"-ResultSize Unlimited\".", v.limit)
		}
		out = out[:v.limit]
	}
	return out
}

func compareValues(a, b any) int {
	switch x := a.(type) {
	case int64:
		y, _ := b.(int64)
		return cmp.Compare(x, y)
	case time.Time:
		y, _ := b.(time.Time)
		return x.Compare(y)
	case []string:
		y, _ := b.([]string)
		return strings.Compare(strings.ToLower(strings.Join(x, ",")), strings.ToLower(strings.Join(y, ",")))
	case string:
		y, _ := b.(string)
		return strings.Compare(strings.ToLower(x), strings.ToLower(y))
	}
	return 0
}

// takeServer reads -Server: this server's name or FQDN; another server is
// refused with this one's name, since transportd manages only the server
// it runs on.
func takeServer(env *Env, r *Request) error {
	v, ok := r.Params.TakeExact("Server")
	if !ok || v == "" {
		return nil
	}
	cfg, err := env.Manager.Load()
	if err != nil {
		return err
	}
	if cfg.Clustered() { // issue 14: the daemon knows the members
		r.Server = v
		return nil
	}
	if strings.EqualFold(v, cfg.Server.Name) || strings.EqualFold(v, cfg.Server.Fqdn) {
		return nil
	}
	return fmt.Errorf("-Server %s: this is %s (%s); transportd manages only the server it runs on: leave -Server out, or give %s", v, cfg.Server.Name, cfg.Server.Fqdn, cfg.Server.Name)
}

// includeExclude reads Get-Queue's -Include and -Exclude: Internal,
// External or delivery types, comma-separated.
func includeExclude(r *Request) (func(control.Queue) bool, error) {
	var lists [2][]string
	for i, name := range []string{"Include", "Exclude"} {
		text, ok := r.Params.TakeExact(name)
		if !ok {
			continue
		}
		for _, f := range strings.FieldsFunc(text, func(r rune) bool { return r == ',' || r == ' ' }) {
			valid := append([]string{"Internal", "External"}, deliveryTypes...)
			j := slices.IndexFunc(valid, func(s string) bool { return strings.EqualFold(s, f) })
			if j < 0 {
				return nil, fmt.Errorf("-%s %q: %s is not a queue type; valid values: %s", name, text, f, strings.Join(valid, ", "))
			}
			lists[i] = append(lists[i], valid[j])
		}
	}
	is := func(q control.Queue, t string) bool {
		return t == q.DeliveryType || t == nextHopCategory(q.DeliveryType)
	}
	return func(q control.Queue) bool {
		if len(lists[0]) > 0 && !slices.ContainsFunc(lists[0], func(t string) bool { return is(q, t) }) {
			return false
		}
		return !slices.ContainsFunc(lists[1], func(t string) bool { return is(q, t) })
	}, nil
}

// errFilterOrIdentity is the error for a command given both.
var errFilterOrIdentity = errors.New("give -Identity or -Filter, not both (Exchange's parameter sets)")

// filterParam, serverParam, ... are the declarations the queue and
// message cmdlets share.
func filterParam(kind string) Param {
	if kind == "queue" {
		return val("Filter", `an OPATH filter such as {MessageCount -gt 100} or "NextHopDomain -eq 'contoso.com' -and Status -eq 'Retry'"; properties: `+strings.Join(QueueSchema.Names(), ", "))
	}
	return val("Filter", `an OPATH filter such as "FromAddress -like '*@contoso.com' -and Size -gt 1MB"; properties: `+strings.Join(MessageSchema.Names(), ", "))
}

func serverParam() Param {
	return val("Server", "this server's name or FQDN; on a cluster member, any member's (every member's queues and messages when left out)")
}

func viewParams(kind string) []Param {
	ex := "+FromAddress,-Size"
	if kind == "queue" {
		ex = "-MessageCount,+Identity"
	}
	return []Param{
		val("ResultSize", "at most this many results, or Unlimited (default 1000)"),
		val("SortOrder", "properties to sort by, + ascending, - descending: "+ex),
	}
}

// acceptedParams are Exchange's paging parameters, accepted with a
// warning: every result comes in one page here.
var pagingParams = []string{"BookmarkIndex", "BookmarkObject", "IncludeBookmark", "ReturnPageInfo", "SearchForward", "IncludeComponentLatencyInfo"}

func pagingParamDecls() []Param {
	var out []Param
	for _, n := range pagingParams {
		p := val(n, "accepted with a warning: transportd returns every result in one page")
		if n == "IncludeComponentLatencyInfo" {
			p = sw(n, "accepted with a warning: transportd records no per-component latency")
		}
		out = append(out, p)
	}
	return out
}

// warnPaging says once per parameter that a paging parameter does nothing.
func warnPaging(env *Env, r *Request) {
	for _, n := range pagingParams {
		if _, ok := r.Params.TakeExact(n); ok {
			if n == "IncludeComponentLatencyInfo" {
				env.say("WARNING: -%s has no effect: transportd records no per-component latency.", n)
				continue
			}
			env.say("WARNING: -%s has no effect: transportd returns every result in one page.", n)
		}
	}
}

// matchingQueues gets the daemon's queues that -Identity or -Filter select.
func matchingQueues(env *Env, r *Request, f *opath.Filter) ([]control.Queue, error) {
	var qs []control.Queue
	if err := env.callDaemon(control.OpQueueGet, control.Selector{Identity: r.Identity(), Server: r.Server}, &qs); err != nil {
		return nil, err
	}
	var out []control.Queue
	for _, q := range qs {
		if f.Match(queueGetter(q)) {
			out = append(out, q)
		}
	}
	return out, nil
}

// queueChange runs a queue operation (Retry, Suspend, Resume-Queue) on the
// queues -Identity, the pipeline or -Filter name.
func queueChange(cmdlet, op, done string, resubmit bool) func(env *Env, r Request) ([]manage.Record, error) {
	return func(env *Env, r Request) ([]manage.Record, error) {
		if err := takeServer(env, &r); err != nil {
			return nil, err
		}
		sel := control.Selector{Server: r.Server}
		if resubmit {
			if v, ok := r.Params.TakeExact("Resubmit"); ok {
				b, err := manage.ParseBool(v)
				if err != nil {
					return nil, fmt.Errorf("-Resubmit %q: %w", v, err)
				}
				sel.Resubmit = b
			}
		}
		ids := r.Identities
		if text, ok := r.Params.TakeExact("Filter"); ok {
			if len(ids) > 0 && !r.FromPipe {
				return nil, errFilterOrIdentity
			}
			f, err := opath.Parse(text, QueueSchema)
			if err != nil {
				return nil, err
			}
			qs, err := matchingQueues(env, &Request{Server: r.Server}, f)
			if err != nil {
				return nil, err
			}
			ids = nil
			for _, q := range qs {
				ids = append(ids, q.Identity)
			}
			if len(ids) == 0 {
				env.say("No queue matches the filter.")
				return nil, nil
			}
		} else if len(ids) == 0 {
			return nil, needIdentities(r, "Identity", cmdlet+" (or give -Filter)")
		}
		total := 0
		for _, id := range ids {
			s := sel
			s.Identity = id
			var ch control.Changed
			if err := env.callDaemon(op, s, &ch); err != nil {
				return nil, err
			}
			total += ch.Count
		}
		env.say(done, plural(total, "queue"))
		return nil, nil
	}
}

// getMessage runs Get-Message.
func getMessage(env *Env, r Request) ([]manage.Record, error) {
	v, err := takeView(env, &r, MessageSchema, true)
	if err != nil {
		return nil, err
	}
	if v.filter != nil && len(r.Identities) > 0 && !r.FromPipe {
		return nil, errFilterOrIdentity
	}
	detail := false
	if s, ok := r.Params.TakeExact("IncludeRecipientInfo"); ok {
		if detail, err = manage.ParseBool(s); err != nil {
			return nil, fmt.Errorf("-IncludeRecipientInfo %q: %w", s, err)
		}
	}
	warnPaging(env, &r)
	sels, err := selectors(r, false)
	if err != nil {
		return nil, err
	}
	var ms []control.Message
	for _, s := range sels {
		var got []control.Message
		if err := env.callDaemon(control.OpMessageGet, s, &got); err != nil {
			return nil, err
		}
		ms = append(ms, got...)
	}
	var out []manage.Record
	for _, m := range apply(env, v, ms, messageGetter) {
		rec := MessageRecord(m)
		if detail {
			rec = append(rec, manage.Property{Name: "RecipientInfo", Value: recipientInfo(m)})
		}
		out = append(out, rec)
	}
	return out, nil
}

// recipientInfo lists each recipient with its status, queue and last error.
func recipientInfo(m control.Message) string {
	var parts []string
	for _, rc := range m.Recipients {
		s := rc.Address + " (" + rc.Status
		if rc.Queue != "" {
			s += ", " + rc.Queue
		}
		if rc.LastError != "" {
			s += ": " + rc.LastError
		}
		parts = append(parts, s+")")
	}
	return "{" + strings.Join(parts, "; ") + "}"
}

// filteredSelectors are the selectors of Suspend-, Resume- and
// Remove-Message: with -Filter, one per matching message, by its full
// identity; else those of -Identity, the pipeline or -Queue.
func filteredSelectors(env *Env, r *Request) ([]control.Selector, error) {
	text, ok := r.Params.TakeExact("Filter")
	if !ok {
		return selectors(*r, true)
	}
	if len(r.Identities) > 0 && !r.FromPipe {
		return nil, errFilterOrIdentity
	}
	f, err := opath.Parse(text, MessageSchema)
	if err != nil {
		return nil, err
	}
	base, err := selectors(Request{Params: r.Params, Server: r.Server}, false)
	if err != nil {
		return nil, err
	}
	var ms []control.Message
	if err := env.callDaemon(control.OpMessageGet, control.Selector{Queue: base[0].Queue, Server: r.Server}, &ms); err != nil {
		return nil, err
	}
	var out []control.Selector
	for _, m := range ms {
		if f.Match(messageGetter(m)) {
			s := base[0]
			s.Identity = m.Identity
			out = append(out, s)
		}
	}
	return out, nil
}
