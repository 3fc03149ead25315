package web

import (
	"fmt"
	"html/template"
	"maps"
	"slices"
	"sort"
	"strconv"
	"strings"
	"time"

	"github.com/transportd/transportd/transport/metrics"
)

// The dashboard, the landing page after sign-in: the certificate and
// configuration warnings first, then messages in and out, the queues and
// their oldest message, refusals by reason and TLS use over the last hour
// and day, from the daemon's metrics as its Sampler kept them.

// Stats is the daemon's metrics history (metrics.Sampler).
type Stats interface {
	// Current reads the metrics now.
	Current() metrics.Sample
	// Since returns the samples kept from t on and the newest one before t.
	Since(t time.Time) (before metrics.Sample, since []metrics.Sample)
}

func dashboardPages() []Page {
	return []Page{
		{Path: "/dashboard", Title: "Dashboard", Nav: "Dashboard", Section: "Overview",
			Read: OrgRead, Write: OrgWrite, Template: "dashboard.html", Handler: dashboardPage},
	}
}

// windows are the periods the dashboard shows: their length and the bin
// of their charts.
var windows = []struct {
	Name     string
	Length   time.Duration
	Bin      time.Duration
	BinLabel string
}{
	{"Last hour", time.Hour, time.Minute, "per minute"},
	{"Last 24 hours", 24 * time.Hour, time.Hour, "per hour"},
}

// refusalReasons says what a reply means, for the refusals table. A reply
// not listed is shown with its code alone.
var refusalReasons = map[string]string{
	"5.7.54": "relay not permitted (the recipient's domain is not accepted and the sender may not relay)",
	"5.7.1":  "not authorized (permissions, or a block list)",
	"5.1.1":  "unknown recipient",
	"5.1.2":  "bad destination domain",
	"5.1.3":  "malformed address",
	"5.7.60": "sending as an address the user may not send as",
	"5.7.57": "authentication required to send",
	"5.7.8":  "authentication failed",
	"4.7.0":  "temporary refusal (too many errors, locked out, TLS required)",
	"5.3.3":  "unrecognized command",
	"5.5.2":  "commands out of order",
	"5.5.4":  "bad command arguments",
	"5.3.4":  "message too large",
	"5.6.11": "SMTP smuggling (a lone dot next to a bare line ending)",
	"5.4.6":  "mail loop (too many hops)",
	"4.3.2":  "too many connections",
	"4.4.2":  "connection timed out",
	"5.7.3":  "STARTTLS required",
	"5.7.30": "REQUIRETLS not possible",
}

type countRow struct {
	Key, What string
	Count     string
	n         float64
}

type windowView struct {
	Name                             string
	In, Out, Failed, Deferred, Conns string
	TLS, TLSShare                    string
	Versions                         []countRow
	Refusals                         []countRow
	Traffic, Depth, Refused          template.HTML
}

func dashboardPage(c *Context) {
	now := c.srv.opt.Now()
	data := map[string]any{"Warnings": dashboardWarnings(c, now)}
	qs, qerr := c.Query(NewCmd("Get-Queue"))
	total := 0
	var troubled []map[string]string
	for _, q := range qs {
		get := func(n string) string { v, _ := q.Get(n); return v }
		n, _ := strconv.Atoi(get("MessageCount"))
		total += n
		if get("Status") != "Ready" || get("LastError") != "" {
			troubled = append(troubled, map[string]string{"Identity": get("Identity"), "Status": get("Status"), "MessageCount": get("MessageCount"), "LastError": get("LastError"), "NextRetryTime": get("NextRetryTime")})
		}
	}
	data["QueueMessages"], data["Queues"], data["Troubled"], data["QueueError"] = total, len(qs), troubled, errText(qerr)
	if st := c.srv.opt.Stats; st != nil {
		cur := st.Current()
		data["Oldest"] = age(cur.OldestAge)
		var ws []windowView
		for _, w := range windows {
			ws = append(ws, windowOf(st, cur, now, w.Name, w.Length, w.Bin, w.BinLabel))
		}
		data["Windows"] = ws
	}
	c.Render(data)
}

// age prints a duration as the dashboard shows an age ("3 min", "2 h 5 min").
func age(d time.Duration) string {
	switch {
	case d <= 0:
		return "none waiting"
	case d < time.Minute:
		return fmt.Sprintf("%d s", int(d.Seconds()))
	case d < time.Hour:
		return fmt.Sprintf("%d min", int(d.Minutes()))
	}
	return fmt.Sprintf("%d h %d min", int(d.Hours()), int(d.Minutes())%60)
}

// windowOf sums the counters over the window ending at now and bins them.
func windowOf(st Stats, cur metrics.Sample, now time.Time, name string, length, bin time.Duration, binLabel string) windowView {
	start := now.Add(-length)
	before, since := st.Since(start)
	base := before
	if base.Time.IsZero() { // the daemon started inside the window: its counters started at zero
		base = metrics.Sample{Time: start}
	}
	points := append(append([]metrics.Sample{base}, since...), cur)
	// at is the sample in force at t: the newest taken at or before it.
	at := func(t time.Time) metrics.Sample {
		i := sort.Search(len(points), func(i int) bool { return points[i].Time.After(t) })
		if i == 0 {
			return points[0]
		}
		return points[i-1]
	}
	nbins := int(length / bin)
	in, out, depth, refused := make([]float64, nbins), make([]float64, nbins), make([]float64, nbins), make([]float64, nbins)
	for i := range nbins {
		a, b := at(start.Add(time.Duration(i)*bin)), at(start.Add(time.Duration(i+1)*bin))
		if i == nbins-1 {
			b = cur
		}
		in[i], out[i] = b.Received-a.Received, b.Sent()-a.Sent()
		refused[i] = b.RefusalTotal() - a.RefusalTotal()
		depth[i] = b.QueueDepth
	}
	v := windowView{Name: name,
		In: number(cur.Received - base.Received), Out: number(cur.Sent() - base.Sent()),
		Failed: number(cur.Failed - base.Failed), Deferred: number(cur.Deferred - base.Deferred),
		Conns: number(cur.Connections - base.Connections), TLS: number(cur.TLSTotal() - base.TLSTotal())}
	if conns := cur.Connections - base.Connections; conns > 0 {
		v.TLSShare = fmt.Sprintf("%.0f%%", 100*(cur.TLSTotal()-base.TLSTotal())/conns)
	} else {
		v.TLSShare = "no sessions"
	}
	v.Versions = deltas(cur.TLS, base.TLS, func(string) string { return "" })
	v.Refusals = deltas(cur.Refusals, base.Refusals, func(k string) string {
		_, enh, _ := strings.Cut(k, " ")
		return refusalReasons[enh]
	})
	v.Traffic = lineChart("Messages in and out, "+strings.ToLower(name), binLabel, start, now,
		[]series{{Name: "in", Class: "in", Data: in}, {Name: "out", Class: "out", Data: out}})
	v.Depth = lineChart("Messages in the queues, "+strings.ToLower(name), "at the end of each bin", start, now,
		[]series{{Name: "queued", Class: "depth", Data: depth}})
	v.Refused = lineChart("Refusals, "+strings.ToLower(name), binLabel, start, now,
		[]series{{Name: "refused", Class: "refused", Data: refused}})
	return v
}

// deltas are the counts of cur minus base by key, largest first, without zeros.
func deltas(cur, base map[string]float64, what func(string) string) []countRow {
	var out []countRow
	for _, k := range slices.Sorted(maps.Keys(cur)) {
		if n := cur[k] - base[k]; n > 0 {
			out = append(out, countRow{Key: k, What: what(k), Count: number(n), n: n})
		}
	}
	sort.SliceStable(out, func(i, j int) bool { return out[i].n > out[j].n })
	return out
}

// dashboardWarnings are the certificate and configuration problems the
// shell reports: the connectors' certificate status (Get-ReceiveConnector),
// certificates out of date or expiring within 30 days
// (Get-ExchangeCertificate), a server name without a dot.
func dashboardWarnings(c *Context, now time.Time) []string {
	var out []string
	rcs, err := c.Query(NewCmd("Get-ReceiveConnector"))
	if err != nil {
		out = append(out, "The receive connectors cannot be read: "+err.Error())
	}
	for _, r := range rcs {
		if st, _ := r.Get("CertificateStatus"); strings.HasPrefix(st, "WARNING") {
			id, _ := r.Get("Identity")
			out = append(out, "Receive connector "+id+": "+strings.TrimSpace(strings.TrimPrefix(st, "WARNING:")))
		}
	}
	certs, err := c.Query(NewCmd("Get-ExchangeCertificate"))
	if err != nil {
		out = append(out, "The certificate store cannot be read: "+err.Error())
	}
	for _, r := range certs {
		get := func(n string) string { v, _ := r.Get(n); return v }
		name := get("TlsCertificateName")
		if name == "" {
			name = get("Thumbprint")
		}
		switch st := get("Status"); {
		case st == "DateInvalid":
			out = append(out, "Certificate "+name+" is not valid now (valid "+get("NotBefore")+" to "+get("NotAfter")+"): renew it (New-ExchangeCertificate) or import a new one (Import-ExchangeCertificate).")
		case st == "Valid":
			if t, err := time.ParseInLocation("2006-01-02 15:04:05", get("NotAfter"), time.Local); err == nil && t.Sub(now) < 30*24*time.Hour {
				out = append(out, fmt.Sprintf("Certificate %s expires on %s (in %d days): renew it before then.", name, get("NotAfter"), int(t.Sub(now).Hours()/24)))
			}
		}
	}
	if cfg := c.srv.opt.Config(); cfg != nil && !strings.Contains(cfg.Server.Fqdn, ".") {
		out = append(out, "The server name "+cfg.Server.Fqdn+" has no dot: no other server can resolve it. Set-TransportService -Fqdn mail.contoso.com sets a full name.")
	}
	return out
}
