package web

import (
	"context"
	"slices"
	"strconv"
	"strings"
	"testing"
	"time"

	"github.com/a-h/templ"
	"golang.org/x/net/html"
)

func TestTicks(t *testing.T) {
	cases := []struct {
		lo, hi   float64
		n        int
		want     []float64
		min, max float64
	}{
		{0, 1, 5, []float64{0, 0.25, 0.5, 0.75, 1}, 0, 1},
		{0, 0.37, 5, []float64{0, 0.1, 0.2, 0.3, 0.4}, 0, 0.4},
		{0, 7, 5, []float64{0, 2, 4, 6, 8}, 0, 8},
		{0, 0, 5, []float64{0, 0.25, 0.5, 0.75, 1}, 0, 1}, // nothing to show: 0 to 1
		{3, 3, 3, []float64{0, 2, 4, 6}, 0, 6},            // a flat series gets room
		{-0.2, 0.2, 5, []float64{-0.2, -0.1, 0, 0.1, 0.2}, -0.2, 0.2},
		{0, 1200, 4, []float64{0, 500, 1000, 1500}, 0, 1500},
	}
	for _, tc := range cases {
		got, min, max := Ticks(tc.lo, tc.hi, tc.n)
		if !slices.Equal(got, tc.want) || min != tc.min || max != tc.max {
			t.Errorf("Ticks(%v, %v, %d) = %v [%v, %v], want %v [%v, %v]", tc.lo, tc.hi, tc.n, got, min, max, tc.want, tc.min, tc.max)
		}
	}
}

func TestTimeTicks(t *testing.T) {
	t0 := time.Date(2026, 3, 1, 12, 3, 20, 0, time.UTC)
	cases := []struct {
		span   time.Duration
		step   time.Duration
		layout string
	}{
		{30 * time.Second, 5 * time.Second, "15:04:05"},
		{time.Hour, 15 * time.Minute, "15:04"},
		{24 * time.Hour, 6 * time.Hour, "15:04"},
		{30 * 24 * time.Hour, 7 * 24 * time.Hour, "Jan 2"},
	}
	for _, tc := range cases {
		ticks, layout := TimeTicks(t0, t0.Add(tc.span), 6)
		if layout != tc.layout || len(ticks) < 2 || len(ticks) > 7 {
			t.Errorf("span %v: %d ticks, layout %q; want 2–7 ticks and %q", tc.span, len(ticks), layout, tc.layout)
			continue
		}
		for i, tk := range ticks {
			if tk.Before(t0) || tk.After(t0.Add(tc.span)) || !tk.Equal(tk.Truncate(tc.step)) {
				t.Errorf("span %v: tick %v outside the range or not on a %v step", tc.span, tk, tc.step)
			}
			if i > 0 && tk.Sub(ticks[i-1]) != tc.step {
				t.Errorf("span %v: ticks %v apart, want %v", tc.span, tk.Sub(ticks[i-1]), tc.step)
			}
		}
	}
}

// renderSVG renders a chart and parses it.
func renderSVG(t *testing.T, c templ.Component) (*html.Node, string) {
	t.Helper()
	var b strings.Builder
	if err := c.Render(context.Background(), &b); err != nil {
		t.Fatal(err)
	}
	doc, err := html.Parse(strings.NewReader(b.String()))
	if err != nil {
		t.Fatal(err)
	}
	return doc, b.String()
}

// elems returns the elements named tag whose class contains class ("" any).
func elems(n *html.Node, tag, class string) []*html.Node {
	var out []*html.Node
	var walk func(*html.Node)
	walk = func(n *html.Node) {
		if n.Type == html.ElementNode && n.Data == tag {
			for _, a := range n.Attr {
				if a.Key == "class" && (class == "" || slices.Contains(strings.Fields(a.Val), class)) {
					out = append(out, n)
				}
			}
		}
		for c := n.FirstChild; c != nil; c = c.NextSibling {
			walk(c)
		}
	}
	walk(n)
	return out
}

func attr(n *html.Node, key string) string {
	for _, a := range n.Attr {
		if a.Key == key {
			return a.Val
		}
	}
	return ""
}

func num(t *testing.T, n *html.Node, key string) float64 {
	t.Helper()
	v, err := strconv.ParseFloat(attr(n, key), 64)
	if err != nil {
		t.Fatalf("%s=%q: %v", key, attr(n, key), err)
	}
	return v
}

// TestHBarChart: one bar per row, lengths proportional to the values on a
// shared axis, classes, links and thresholds kept, labels escaped.
func TestHBarChart(t *testing.T) {
	c := HBarChart{Label: "PSI by feature", Bars: []HBar{
		{Label: "x1", Value: 0.4, Class: "bad", Href: "/drift?feature=x1"},
		{Label: "<b>x2</b>", Value: 0.2, Class: "warn"},
		{Label: "x3", Value: 0.01, Class: "ok"},
	}, Thresholds: []Threshold{{Value: 0.1, Label: "moderate"}, {Value: 0.25, Label: "major", Class: "bad"}}}
	doc, raw := renderSVG(t, c.Component())
	bars := elems(doc, "rect", "bar")
	if len(bars) != 3 {
		t.Fatalf("%d bars", len(bars))
	}
	w0, w1 := num(t, bars[0], "width"), num(t, bars[1], "width")
	if w0 < 1.9*w1 || w0 > 2.1*w1 {
		t.Errorf("bar widths %v and %v are not 2:1 like 0.4 and 0.2", w0, w1)
	}
	if !strings.Contains(attr(bars[0], "class"), "bad") || !strings.Contains(attr(bars[2], "class"), "ok") {
		t.Errorf("bar classes %q, %q", attr(bars[0], "class"), attr(bars[2], "class"))
	}
	if len(elems(doc, "line", "threshold")) != 2 || len(elems(doc, "text", "tick")) < 3 {
		t.Errorf("thresholds or ticks missing:\n%s", raw)
	}
	if strings.Contains(raw, "<b>x2</b>") || !strings.Contains(raw, "&lt;b&gt;x2&lt;/b&gt;") {
		t.Errorf("label not escaped:\n%s", raw)
	}
	if !strings.Contains(raw, `<a href="/drift?feature=x1">`) {
		t.Errorf("bar link missing:\n%s", raw)
	}
}

// TestGroupedBars: one bar per group and series, heights proportional,
// series told apart by class, percent ticks, a legend.
func TestGroupedBars(t *testing.T) {
	c := GroupedBars{Label: "x1", Series: []string{"reference", "current"}, Percent: true, Groups: []Group{
		{Label: "≤ 0", Values: []float64{0.5, 0.1}},
		{Label: "> 0", Values: []float64{0.5, 0.9}},
	}}
	doc, raw := renderSVG(t, c.Component())
	ref, cur := elems(doc, "rect", "s0"), elems(doc, "rect", "s1")
	if len(ref) != 3 || len(cur) != 3 { // two bars and one legend swatch each
		t.Fatalf("%d reference and %d current rects", len(ref), len(cur))
	}
	if h0, h1 := num(t, cur[0], "height"), num(t, cur[1], "height"); h1 < 8.9*h0 || h1 > 9.1*h0 {
		t.Errorf("current heights %v, %v are not 1:9", h0, h1)
	}
	if !strings.Contains(raw, ">100%<") || !strings.Contains(raw, "reference</text>") {
		t.Errorf("percent ticks or legend missing:\n%s", raw)
	}
}

// TestTimeChart: a line of several points spans the plot from left to
// right, its highest value at the top; a single point is a dot; time ticks
// and thresholds are drawn.
func TestTimeChart(t *testing.T) {
	t0 := time.Date(2026, 3, 1, 12, 0, 0, 0, time.UTC)
	c := TimeChart{Label: "PSI over time", Lines: []Line{
		{Name: "x1", Points: []TimePoint{{t0, 0}, {t0.Add(30 * time.Minute), 0.5}, {t0.Add(time.Hour), 0.2}}},
		{Name: "one", Points: []TimePoint{{t0.Add(10 * time.Minute), 0.1}}, Class: "alt"},
	}, Thresholds: []Threshold{{Value: 0.25, Label: "major", Class: "bad"}}}
	doc, raw := renderSVG(t, c.Component())
	lines := elems(doc, "polyline", "line")
	if len(lines) != 1 {
		t.Fatalf("%d polylines", len(lines))
	}
	pts := strings.Fields(attr(lines[0], "points"))
	if len(pts) != 3 || !strings.HasPrefix(pts[0], f1(padLeft)+",") || !strings.HasPrefix(pts[2], f1(chartW-padRight)+",") {
		t.Errorf("points %v do not span the plot", pts)
	}
	ys := make([]float64, 3)
	for i, p := range pts {
		ys[i], _ = strconv.ParseFloat(strings.Split(p, ",")[1], 64)
	}
	if !(ys[1] < ys[2] && ys[2] < ys[0]) || ys[0] != timeChartH-padBottom-legendSpace {
		t.Errorf("y of 0, 0.5, 0.2 = %v: want 0 on the axis and 0.5 highest", ys)
	}
	if len(elems(doc, "circle", "dot")) != 1 || len(elems(doc, "line", "threshold")) != 1 {
		t.Errorf("dot or threshold missing:\n%s", raw)
	}
	if !strings.Contains(raw, ">12:15<") || !strings.Contains(raw, ">12:45<") {
		t.Errorf("15-minute time ticks missing:\n%s", raw)
	}
}
