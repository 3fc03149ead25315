package opath

import (
	"strings"
	"testing"
	"time"
)

var queueSchema = Schema{Kind: "queue", Properties: []Property{
	{Name: "Identity"}, {Name: "NextHopDomain"},
	{Name: "Status", Type: Enum, Values: []string{"Active", "Ready", "Retry", "Suspended"}},
	{Name: "MessageCount", Type: Number}, {Name: "NextRetryTime", Type: Time},
}}

var messageSchema = Schema{Kind: "message", Properties: []Property{
	{Name: "FromAddress"}, {Name: "Size", Type: Number}, {Name: "SCL", Type: Number},
	{Name: "Subject"}, {Name: "ExpirationTime", Type: Time}, {Name: "Recipients", Multi: true},
	{Name: "Status", Type: Enum, Values: []string{"Active", "Ready", "Retry", "Suspended"}},
}}

type obj map[string]any

func (o obj) get(name string) any { return o[name] }

func TestMatch(t *testing.T) {
	utc := time.UTC
	q := obj{"Identity": `MAIL\contoso.com`, "NextHopDomain": "contoso.com", "Status": "Retry", "MessageCount": int64(150),
		"NextRetryTime": time.Date(2018, 3, 13, 9, 30, 0, 0, utc)}
	m := obj{"FromAddress": "Kweku@Contoso.com", "Size": int64(2 << 20), "SCL": int64(-1), "Subject": "It's done",
		"ExpirationTime": time.Date(2018, 1, 5, 14, 0, 0, 0, utc), "Recipients": []string{"a@fabrikam.com", "b@contoso.com"},
		"Status": "Ready"}
	for _, c := range []struct {
		s      Schema
		o      obj
		filter string
		want   bool
	}{
		{queueSchema, q, "MessageCount -gt 100", true},
		{queueSchema, q, "MessageCount -gt 150", false},
		{queueSchema, q, "MessageCount -ge 150", true},
		{queueSchema, q, "messagecount -LT 1KB", true},
		{queueSchema, q, `NextHopDomain -eq "contoso.com" -and Status -eq 'Retry'`, true},
		{queueSchema, q, `NextHopDomain -eq contoso.com -and Status -eq Retry`, true},
		{queueSchema, q, `NextHopDomain -eq 'CONTOSO.COM' -and Status -ne 'Retry'`, false},
		{queueSchema, q, `NextHopDomain -eq 'fabrikam.com' -or Status -eq 'retry'`, true},
		{queueSchema, q, `-not (Status -eq 'Retry')`, false},
		{queueSchema, q, `!(Status -eq 'Ready')`, true},
		{queueSchema, q, `Identity -like 'MAIL\*'`, true},
		{queueSchema, q, `Identity -notlike '*fabrikam*'`, true},
		{queueSchema, q, `NextRetryTime -lt '03/13/2018 09:31:00'`, true},
		{queueSchema, q, `NextRetryTime -lt '3/13/2018 9:30 AM'`, false},
		{queueSchema, q, `NextRetryTime -le 2018-03-13T09:30:00Z`, true},
		{queueSchema, q, `NextRetryTime -gt '2018-03-13 09:00'`, true},
		{queueSchema, q, `$_.MessageCount -gt 100`, true},
		{queueSchema, q, `(Status -eq Ready -or Status -eq Retry) -and MessageCount -gt 100`, true},
		{queueSchema, q, `Status -eq Ready -or Status -eq Retry -and MessageCount -gt 1000`, false},
		{queueSchema, q, `NextHopDomain -ne $null`, true},
		{messageSchema, m, `FromAddress -like '*@contoso.com'`, true},
		{messageSchema, m, `FromAddress -like '*@contoso.com' -and SCL -gt 3`, false},
		{messageSchema, m, `FromAddress -eq 'kweku@contoso.com' -and ExpirationTime -lt '1/5/2018 3:00 PM'`, true},
		{messageSchema, m, `Size -gt 1MB -and Size -le 2MB`, true},
		{messageSchema, m, `Size -eq '2 MB (2,097,152 bytes)'`, true},
		{messageSchema, m, `Size -lt 1.5MB`, false},
		{messageSchema, m, `Subject -eq 'It''s done'`, true},
		{messageSchema, m, "Subject -eq \"It's done\"", true},
		{messageSchema, m, `Recipients -like '*@fabrikam.com'`, true},
		{messageSchema, m, `Recipients -eq 'b@contoso.com'`, true},
		{messageSchema, m, `Recipients -ne 'b@contoso.com'`, false},
		{messageSchema, m, `Recipients -notlike '*@northwind.com'`, true},
		{messageSchema, m, `Recipients -notlike '*@contoso.com'`, false},
		{messageSchema, m, `Subject -like 'it?s*'`, true},
	} {
		f, err := ParseInLocation(c.filter, c.s, utc)
		if err != nil {
			t.Errorf("%s: %v", c.filter, err)
			continue
		}
		if got := f.Match(c.o.get); got != c.want {
			t.Errorf("%s (parsed %s): %v, want %v", c.filter, f, got, c.want)
		}
		// The canonical form parses to the same filter.
		again, err := ParseInLocation(f.String(), c.s, utc)
		if err != nil || again.String() != f.String() {
			t.Errorf("%s: canonical %q parses to %v, %v", c.filter, f, again, err)
		}
	}
}

func TestErrors(t *testing.T) {
	for filter, want := range map[string]string{
		"":                             "empty",
		"Velocityy -gt 1":              "valid properties: Identity, NextHopDomain, Status, MessageCount, NextRetryTime",
		"MessageCount -gt lots":        "not a number",
		"Status -eq Retyr":             "valid values: Active, Ready, Retry, Suspended",
		"NextRetryTime -lt 'tomorrow'": "not a date",
		"MessageCount -gt":             "expected a value",
		"MessageCount 100":             "expected an operator",
		"MessageCount -contains 100":   "expected an operator",
		"(MessageCount -gt 1":          "expected ')'",
		"MessageCount -gt 1 Status":    "join conditions with -and or -or",
		"Status -eq 'Retry":            "no closing quote",
		"MessageCount -gt $limit":      "cannot use variables",
		strings.Repeat("(", 200) + "x": "nests deeper",
		strings.Repeat("-not ", 200):   "nests deeper",
	} {
		_, err := Parse(filter, queueSchema)
		if err == nil || !strings.Contains(err.Error(), want) {
			t.Errorf("%q: error %v, want one containing %q", filter, err, want)
		}
	}
}

func TestParseTime(t *testing.T) {
	want := time.Date(2018, 1, 5, 15, 0, 0, 0, time.UTC)
	for _, s := range []string{"1/5/2018 3:00 PM", "01/05/2018 15:00:00", "1/5/2018 3:00pm", "2018-01-05T15:00:00", "2018-01-05 15:00", "2018-01-05T15:00:00Z"} {
		got, err := ParseTime(s, time.UTC)
		if err != nil || !got.Equal(want) {
			t.Errorf("%q: %v %v", s, got, err)
		}
	}
}

func TestWildcard(t *testing.T) {
	for _, c := range []struct {
		p, s string
		want bool
	}{{"*", "", true}, {"a*b", "axxb", true}, {"a*b", "axxc", false}, {"*@c.com", "x@c.com", true}, {"?", "", false},
		{"a**b*c", "abxc", true}, {strings.Repeat("*a", 30) + "b", strings.Repeat("a", 1000), false}} {
		if got := wildcard(c.p, c.s); got != c.want {
			t.Errorf("wildcard(%q, %q) = %v", c.p, c.s, got)
		}
	}
}

func FuzzParse(f *testing.F) {
	for _, s := range []string{"MessageCount -gt 100", `NextHopDomain -eq "contoso.com" -and Status -eq 'Retry'`,
		"-not (Status -eq Ready) -or NextRetryTime -lt '1/5/2018 3:00 PM'", "Identity -like 'MAIL\\*'", `Status -eq "a""b"`} {
		f.Add(s)
	}
	q := obj{"Identity": `MAIL\contoso.com`, "NextHopDomain": "contoso.com", "Status": "Retry", "MessageCount": int64(150), "NextRetryTime": time.Time{}}
	f.Fuzz(func(t *testing.T, s string) {
		flt, err := ParseInLocation(s, queueSchema, time.UTC)
		if err != nil {
			return
		}
		got := flt.Match(q.get)
		again, err := ParseInLocation(flt.String(), queueSchema, time.UTC)
		if err != nil {
			t.Fatalf("%q: canonical form %q does not parse: %v", s, flt, err)
		}
		if again.String() != flt.String() || again.Match(q.get) != got {
			t.Fatalf("%q: canonical form %q parses to %q", s, flt, again)
		}
	})
}
