package web

import (
	"fmt"
	"html/template"
	"math"
	"strings"
	"time"
)

// Charts are drawn on the server as inline SVG: no script, no library,
// nothing fetched. Colours come from admin.css through the classes.

// series is one line of a chart.
type series struct {
	Name  string
	Class string // the CSS class of its line and legend (in, out, depth, refused)
	Data  []float64
}

const (
	chartW, chartH = 520, 170
	padL, padR     = 48, 20
	padT, padB     = 10, 24
)

// lineChart draws series over the bins from start to end. kind says what a
// bin's value is ("per minute"), for the accessible description.
func lineChart(title, kind string, start, end time.Time, ss []series) template.HTML {
	maxV := 1.0
	n := 0
	for _, s := range ss {
		n = max(n, len(s.Data))
		for _, v := range s.Data {
			maxV = math.Max(maxV, v)
		}
	}
	maxV = niceCeil(maxV)
	var b strings.Builder
	var desc []string
	for _, s := range ss {
		total := 0.0
		for _, v := range s.Data {
			total += v
		}
		desc = append(desc, fmt.Sprintf("%s %s", s.Name, number(total)))
	}
	fmt.Fprintf(&b, `<svg class="chart" viewBox="0 0 %d %d" role="img" aria-label="%s">`, chartW, chartH,
		template.HTMLEscapeString(title+" ("+kind+"): "+strings.Join(desc, ", ")))
	fmt.Fprintf(&b, `<title>%s</title>`, template.HTMLEscapeString(title))
	x0, x1, y0, y1 := float64(padL), float64(chartW-padR), float64(chartH-padB), float64(padT)
	// Grid and axis labels: 0, half and the top.
	for _, f := range []float64{0, .5, 1} {
		y := y0 - f*(y0-y1)
		fmt.Fprintf(&b, `<line class="grid" x1="%.1f" y1="%.1f" x2="%.1f" y2="%.1f"/>`, x0, y, x1, y)
		fmt.Fprintf(&b, `<text class="axis" x="%.1f" y="%.1f" text-anchor="end">%s</text>`, x0-4, y+4, number(f*maxV))
	}
	for i, t := range []time.Time{start, start.Add(end.Sub(start) / 2), end} {
		anchor := []string{"start", "middle", "end"}[i]
		x := x0 + float64(i)/2*(x1-x0)
		fmt.Fprintf(&b, `<text class="axis" x="%.1f" y="%d" text-anchor="%s">%s</text>`, x, chartH-6, anchor, t.Local().Format("15:04"))
	}
	for _, s := range ss {
		if len(s.Data) == 0 {
			continue
		}
		var pts []string
		for i, v := range s.Data {
			x := x0 + (float64(i)+0.5)/float64(n)*(x1-x0)
			y := y0 - v/maxV*(y0-y1)
			pts = append(pts, fmt.Sprintf("%.1f,%.1f", x, y))
		}
		fmt.Fprintf(&b, `<polyline class="series %s" points="%s"/>`, s.Class, strings.Join(pts, " "))
	}
	b.WriteString(`</svg>`)
	b.WriteString(`<ul class="legend">`)
	for _, s := range ss {
		fmt.Fprintf(&b, `<li><span class="swatch %s"></span>%s</li>`, s.Class, template.HTMLEscapeString(s.Name))
	}
	b.WriteString(`</ul>`)
	return template.HTML(b.String())
}

// niceCeil rounds v up to 1, 2 or 5 times a power of ten.
func niceCeil(v float64) float64 {
	if v <= 1 {
		return 1
	}
	p := math.Pow(10, math.Floor(math.Log10(v)))
	for _, m := range []float64{1, 2, 5, 10} {
		if m*p >= v {
			return m * p
		}
	}
	return 10 * p
}

// number prints a count without decimals (and a value below 10 with one
// when it has one).
func number(v float64) string {
	if v != math.Trunc(v) && v < 10 {
		return fmt.Sprintf("%.1f", v)
	}
	return fmt.Sprintf("%.0f", v)
}
