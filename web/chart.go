package web

// A small set of server-rendered SVG charts: axes with "nice" ticks,
// horizontal bars, grouped vertical bars (histograms side by side) and
// time lines, each with optional threshold overlays. They scale to their
// container (viewBox, width 100%) and carry role="img" with a label and a
// <title> per mark, so a screen reader and a hover both get the numbers.

import (
	"context"
	"fmt"
	"html"
	"io"
	"math"
	"strconv"
	"strings"
	"time"

	"github.com/a-h/templ"
)

// Threshold is a reference line drawn across a chart at Value.
type Threshold struct {
	Value float64
	Label string
	// Class colours the line: "warn", "bad", or "" for the muted colour.
	Class string
}

// HBar is one horizontal bar.
type HBar struct {
	Label string
	Value float64
	// Class colours the bar: "ok", "warn", "bad" or "".
	Class string
	// Href, when set, makes the bar and its label a link.
	Href string
	// Text is written right of the bar ("" writes the value).
	Text string
}

// HBarChart draws labelled horizontal bars from 0, one row each, with a
// value axis along the bottom and thresholds as vertical lines.
type HBarChart struct {
	Label      string
	Bars       []HBar
	Thresholds []Threshold
	// Max is the axis maximum; 0 fits the largest bar and threshold.
	Max float64
}

// Group is one category of a grouped bar chart: one value per series.
type Group struct {
	Label  string
	Values []float64
}

// GroupedBars draws, per category, one vertical bar per series side by side
// (a reference and a current histogram), with a y axis and a legend.
type GroupedBars struct {
	Label  string
	Series []string // names, in the order of Group.Values
	Groups []Group
	// Percent formats the y axis and values as percentages of 1.
	Percent bool
	// Overlay draws the series of a category on top of each other at the
	// full category width (the first filled, the next translucent and
	// outlined) instead of side by side.
	Overlay bool
}

// TimePoint is one point of a time line.
type TimePoint struct {
	T time.Time
	V float64
}

// Line is one series of a time chart.
type Line struct {
	Name   string
	Points []TimePoint
	// Class picks the colour: "" (accent), "alt", "warn", "bad".
	Class string
}

// Band is a shaded range over time: Lo[i] and Hi[i] are its edges at the
// same time.
type Band struct {
	Name   string
	Lo, Hi []TimePoint
}

// TimeChart draws lines over time with time and value axes and threshold
// lines, over shaded bands. A single point is drawn as a dot.
type TimeChart struct {
	Label      string
	Lines      []Line
	Bands      []Band
	Thresholds []Threshold
	// Min and Max bound the value axis; both 0 fits the data (from 0).
	Min, Max float64
}

// chart geometry, in viewBox units.
const (
	chartW      = 640
	padLeft     = 48
	padRight    = 16
	padTop      = 14
	padBottom   = 30
	hbarRow     = 22
	hbarLabelW  = 130
	hbarTextW   = 64
	groupedH    = 220
	timeChartH  = 220
	legendSpace = 18
)

// Ticks returns about n "nice" tick values (1, 2, 2.5 or 5 times a power
// of ten apart) covering [lo, hi], and the axis bounds they span.
func Ticks(lo, hi float64, n int) (ticks []float64, min, max float64) {
	if n < 2 {
		n = 2
	}
	if math.IsNaN(lo) || math.IsNaN(hi) || math.IsInf(lo, 0) || math.IsInf(hi, 0) {
		lo, hi = 0, 1
	}
	if hi < lo {
		lo, hi = hi, lo
	}
	if hi == lo {
		if hi == 0 {
			hi = 1
		} else {
			lo, hi = lo-math.Abs(lo)/2, hi+math.Abs(hi)/2
		}
	}
	raw := (hi - lo) / float64(n-1)
	mag := math.Pow(10, math.Floor(math.Log10(raw)))
	step := mag * 10
	for _, m := range []float64{1, 2, 2.5, 5, 10} {
		if m*mag >= raw {
			step = m * mag
			break
		}
	}
	min, max = math.Floor(lo/step)*step, math.Ceil(hi/step)*step
	if ticksMax, _ := strconv.ParseFloat(strconv.FormatFloat(max, 'g', 12, 64), 64); ticksMax != 0 {
		max = ticksMax
	}
	for v := min; v <= max+step/2; v += step {
		t, _ := strconv.ParseFloat(strconv.FormatFloat(math.Round(v/step)*step, 'g', 12, 64), 64) // 0.30000000000000004 → 0.3
		ticks = append(ticks, t)
	}
	return ticks, min, max
}

// TimeTicks returns tick times at a round step (seconds to days) giving
// about n ticks within [from, to], and the format to write them with.
func TimeTicks(from, to time.Time, n int) ([]time.Time, string) {
	span := to.Sub(from)
	steps := []time.Duration{time.Second, 5 * time.Second, 15 * time.Second, 30 * time.Second, time.Minute, 5 * time.Minute,
		15 * time.Minute, 30 * time.Minute, time.Hour, 3 * time.Hour, 6 * time.Hour, 12 * time.Hour, 24 * time.Hour, 7 * 24 * time.Hour}
	step := steps[len(steps)-1]
	for _, s := range steps {
		if span/s <= time.Duration(n) {
			step = s
			break
		}
	}
	layout := "15:04"
	switch {
	case step < time.Minute:
		layout = "15:04:05"
	case step >= 24*time.Hour:
		layout = "Jan 2"
	case span > 24*time.Hour:
		layout = "Jan 2 15:04"
	}
	var out []time.Time
	for t := from.UTC().Truncate(step); !t.After(to); t = t.Add(step) {
		if !t.Before(from) {
			out = append(out, t)
		}
	}
	return out, layout
}

// fmtTick writes an axis value compactly.
func fmtTick(v float64, percent bool) string {
	if percent {
		return strconv.FormatFloat(v*100, 'f', -1, 64) + "%"
	}
	if v != 0 && math.Abs(v) < 0.001 {
		return strconv.FormatFloat(v, 'e', 1, 64)
	}
	return strconv.FormatFloat(v, 'f', -1, 64)
}

// svgWriter writes SVG with the errors of the first failed write kept.
type svgWriter struct {
	w   io.Writer
	err error
}

func (s *svgWriter) printf(format string, args ...any) {
	if s.err == nil {
		_, s.err = fmt.Fprintf(s.w, format, args...)
	}
}

// esc escapes text and attribute values.
func esc(s string) string { return html.EscapeString(s) }

// f1 writes a coordinate with one decimal.
func f1(v float64) string { return strconv.FormatFloat(v, 'f', 1, 64) }

// open starts an svg element of the given height.
func (s *svgWriter) open(class, label string, h float64) {
	s.printf(`<svg class="chart %s" viewBox="0 0 %d %s" width="%d" height="%s" role="img" aria-label="%s" preserveAspectRatio="xMinYMin meet">`,
		esc(class), chartW, f1(h), chartW, f1(h), esc(label))
	s.printf(`<title>%s</title>`, esc(label))
}

// Component renders the horizontal bar chart.
func (c HBarChart) Component() templ.Component {
	return templ.ComponentFunc(func(_ context.Context, w io.Writer) error {
		s := &svgWriter{w: w}
		max := c.Max
		if max <= 0 {
			for _, b := range c.Bars {
				max = math.Max(max, b.Value)
			}
			for _, t := range c.Thresholds {
				max = math.Max(max, t.Value)
			}
		}
		ticks, _, axisMax := Ticks(0, max, 5)
		h := float64(padTop + len(c.Bars)*hbarRow + padBottom)
		x0, x1 := float64(hbarLabelW), float64(chartW-hbarTextW)
		x := func(v float64) float64 { return x0 + (x1-x0)*math.Max(0, math.Min(v, axisMax))/axisMax }
		s.open("hbar", c.Label, h)
		yAxis := float64(padTop + len(c.Bars)*hbarRow)
		for _, t := range ticks {
			s.printf(`<line class="grid" x1="%s" y1="%d" x2="%s" y2="%s"/>`, f1(x(t)), padTop, f1(x(t)), f1(yAxis))
			s.printf(`<text class="tick" x="%s" y="%s" text-anchor="middle">%s</text>`, f1(x(t)), f1(yAxis+14), esc(fmtTick(t, false)))
		}
		s.printf(`<line class="axis" x1="%s" y1="%s" x2="%s" y2="%s"/>`, f1(x0), f1(yAxis), f1(x1), f1(yAxis))
		for i, b := range c.Bars {
			y := float64(padTop + i*hbarRow)
			text := b.Text
			if text == "" {
				text = fmtTick(b.Value, false)
			}
			if b.Href != "" {
				s.printf(`<a href="%s">`, esc(b.Href))
			}
			s.printf(`<g class="bar-row" data-label="%s"><title>%s: %s</title>`, esc(b.Label), esc(b.Label), esc(text))
			s.printf(`<text class="label" x="%s" y="%s" text-anchor="end">%s</text>`, f1(x0-6), f1(y+hbarRow/2+4), esc(clip(b.Label, 20)))
			s.printf(`<rect class="bar %s" x="%s" y="%s" width="%s" height="%d" rx="2"/>`, esc(b.Class), f1(x0), f1(y+4), f1(math.Max(x(b.Value)-x0, 1)), hbarRow-8)
			s.printf(`<text class="value" x="%s" y="%s">%s</text>`, f1(x(b.Value)+4), f1(y+hbarRow/2+4), esc(text))
			s.printf(`</g>`)
			if b.Href != "" {
				s.printf(`</a>`)
			}
		}
		for _, t := range c.Thresholds {
			if t.Value > axisMax {
				continue
			}
			s.printf(`<line class="threshold %s" x1="%s" y1="%d" x2="%s" y2="%s"><title>%s</title></line>`, esc(t.Class), f1(x(t.Value)), padTop-6, f1(x(t.Value)), f1(yAxis), esc(t.Label))
		}
		s.printf(`</svg>`)
		return s.err
	})
}

// Component renders the grouped bar chart.
func (c GroupedBars) Component() templ.Component {
	return templ.ComponentFunc(func(_ context.Context, w io.Writer) error {
		s := &svgWriter{w: w}
		max := 0.0
		for _, g := range c.Groups {
			for _, v := range g.Values {
				max = math.Max(max, v)
			}
		}
		ticks, _, axisMax := Ticks(0, max, 5)
		h := float64(groupedH)
		y0, y1 := float64(groupedH-padBottom-legendSpace), float64(padTop)
		y := func(v float64) float64 { return y0 - (y0-y1)*math.Max(0, v)/axisMax }
		x0, x1 := float64(padLeft), float64(chartW-padRight)
		class := "grouped"
		if c.Overlay {
			class += " overlay"
		}
		s.open(class, c.Label, h)
		for _, t := range ticks {
			s.printf(`<line class="grid" x1="%s" y1="%s" x2="%s" y2="%s"/>`, f1(x0), f1(y(t)), f1(x1), f1(y(t)))
			s.printf(`<text class="tick" x="%s" y="%s" text-anchor="end">%s</text>`, f1(x0-4), f1(y(t)+4), esc(fmtTick(t, c.Percent)))
		}
		s.printf(`<line class="axis" x1="%s" y1="%s" x2="%s" y2="%s"/>`, f1(x0), f1(y0), f1(x1), f1(y0))
		n := len(c.Groups)
		if n > 0 {
			gw := (x1 - x0) / float64(n)
			ns := math.Max(1, float64(len(c.Series)))
			bw := math.Max(1, (gw-4)/ns)
			if c.Overlay {
				bw = math.Max(1, gw-4)
			}
			labelEvery := int(math.Ceil(float64(n) / 6)) // at most about 6 labels, each readable
			for i, g := range c.Groups {
				gx := x0 + float64(i)*gw + 2
				for j, v := range g.Values {
					name := ""
					if j < len(c.Series) {
						name = c.Series[j]
					}
					bx := gx + float64(j)*bw
					if c.Overlay {
						bx = gx
					}
					s.printf(`<rect class="bar s%d" x="%s" y="%s" width="%s" height="%s"><title>%s, %s: %s</title></rect>`, j, f1(bx), f1(y(v)),
						f1(math.Max(bw-1, 0.5)), f1(math.Max(y0-y(v), 0)), esc(g.Label), esc(name), esc(fmtValue(v, c.Percent)))
				}
				if i%labelEvery == 0 {
					s.printf(`<text class="tick" x="%s" y="%s" text-anchor="middle">%s</text>`, f1(gx+gw/2-2), f1(y0+14), esc(clip(g.Label, 14)))
				}
			}
		}
		for j, name := range c.Series {
			lx := x0 + float64(j)*130
			s.printf(`<rect class="bar s%d" x="%s" y="%s" width="10" height="10"/><text class="legend" x="%s" y="%s">%s</text>`, j, f1(lx), f1(h-14), f1(lx+14), f1(h-5), esc(name))
		}
		s.printf(`</svg>`)
		return s.err
	})
}

// Component renders the time chart.
func (c TimeChart) Component() templ.Component {
	return templ.ComponentFunc(func(_ context.Context, w io.Writer) error {
		s := &svgWriter{w: w}
		var from, to time.Time
		lo, hi := c.Min, c.Max
		fit := lo == 0 && hi == 0
		for _, l := range c.Lines {
			for _, p := range l.Points {
				if from.IsZero() || p.T.Before(from) {
					from = p.T
				}
				if p.T.After(to) {
					to = p.T
				}
				if fit {
					hi = math.Max(hi, p.V)
				}
			}
		}
		if fit {
			for _, t := range c.Thresholds {
				hi = math.Max(hi, t.Value)
			}
			for _, b := range c.Bands {
				for _, p := range b.Hi {
					hi = math.Max(hi, p.V)
				}
			}
		}
		if !to.After(from) {
			from, to = from.Add(-time.Minute), from.Add(time.Minute)
		}
		ticks, axisMin, axisMax := Ticks(lo, hi, 5)
		h := float64(timeChartH)
		y0, y1 := float64(timeChartH-padBottom-legendSpace), float64(padTop)
		x0, x1 := float64(padLeft), float64(chartW-padRight)
		y := func(v float64) float64 {
			return y0 - (y0-y1)*(math.Max(axisMin, math.Min(v, axisMax))-axisMin)/(axisMax-axisMin)
		}
		x := func(t time.Time) float64 { return x0 + (x1-x0)*float64(t.Sub(from))/float64(to.Sub(from)) }
		s.open("time", c.Label, h)
		for _, t := range ticks {
			s.printf(`<line class="grid" x1="%s" y1="%s" x2="%s" y2="%s"/>`, f1(x0), f1(y(t)), f1(x1), f1(y(t)))
			s.printf(`<text class="tick" x="%s" y="%s" text-anchor="end">%s</text>`, f1(x0-4), f1(y(t)+4), esc(fmtTick(t, false)))
		}
		tt, layout := TimeTicks(from, to, 6)
		for _, t := range tt {
			s.printf(`<line class="tickmark" x1="%s" y1="%s" x2="%s" y2="%s"/>`, f1(x(t)), f1(y0), f1(x(t)), f1(y0+4))
			anchor := "middle" // a label at an edge stays inside the chart
			switch {
			case x(t) > x1-30:
				anchor = "end"
			case x(t) < x0+30:
				anchor = "start"
			}
			s.printf(`<text class="tick" x="%s" y="%s" text-anchor="%s">%s</text>`, f1(x(t)), f1(y0+15), anchor, esc(t.UTC().Format(layout)))
		}
		s.printf(`<line class="axis" x1="%s" y1="%s" x2="%s" y2="%s"/>`, f1(x0), f1(y0), f1(x1), f1(y0))
		for _, b := range c.Bands {
			if len(b.Lo) == 0 || len(b.Lo) != len(b.Hi) {
				continue
			}
			var pts strings.Builder
			lo, hi := b.Lo, b.Hi
			if len(lo) == 1 { // one check: its band across the chart
				lo = []TimePoint{{from, lo[0].V}, {to, lo[0].V}}
				hi = []TimePoint{{from, hi[0].V}, {to, hi[0].V}}
			}
			for _, p := range hi {
				pts.WriteString(f1(x(p.T)) + "," + f1(y(p.V)) + " ")
			}
			for k := len(lo) - 1; k >= 0; k-- {
				pts.WriteString(f1(x(lo[k].T)) + "," + f1(y(lo[k].V)) + " ")
			}
			s.printf(`<polygon class="band" points="%s"><title>%s</title></polygon>`, strings.TrimSpace(pts.String()), esc(b.Name))
		}
		lastLabel := math.Inf(1)
		for _, t := range c.Thresholds {
			if t.Value < axisMin || t.Value > axisMax {
				continue
			}
			ty := y(t.Value)
			s.printf(`<line class="threshold %s" x1="%s" y1="%s" x2="%s" y2="%s"><title>%s</title></line>`, esc(t.Class), f1(x0), f1(ty), f1(x1), f1(ty), esc(t.Label))
			if math.Abs(ty-lastLabel) >= 12 { // labels that would overlap are left to the line's title
				s.printf(`<text class="threshold-label %s" x="%s" y="%s" text-anchor="end">%s</text>`, esc(t.Class), f1(x1-2), f1(ty-3), esc(t.Label))
				lastLabel = ty
			}
		}
		for i, l := range c.Lines {
			if len(l.Points) == 1 {
				p := l.Points[0]
				s.printf(`<circle class="dot %s" cx="%s" cy="%s" r="3"><title>%s %s: %s</title></circle>`, esc(l.Class), f1(x(p.T)), f1(y(p.V)), esc(l.Name), esc(fmtTime(p.T)), esc(fmtTick(p.V, false)))
			} else if len(l.Points) > 1 {
				var pts strings.Builder
				for k, p := range l.Points {
					if k > 0 {
						pts.WriteByte(' ')
					}
					pts.WriteString(f1(x(p.T)) + "," + f1(y(p.V)))
				}
				s.printf(`<polyline class="line %s" points="%s"><title>%s</title></polyline>`, esc(l.Class), pts.String(), esc(l.Name))
			}
			lx := x0 + float64(i)*130
			s.printf(`<line class="line %s" x1="%s" y1="%s" x2="%s" y2="%s"/><text class="legend" x="%s" y="%s">%s</text>`, esc(l.Class), f1(lx), f1(h-9), f1(lx+14), f1(h-9), f1(lx+18), f1(h-5), esc(l.Name))
		}
		for j, b := range c.Bands {
			lx := x0 + float64(len(c.Lines)+j)*130
			s.printf(`<rect class="band" x="%s" y="%s" width="14" height="8"/><text class="legend" x="%s" y="%s">%s</text>`, f1(lx), f1(h-13), f1(lx+18), f1(h-5), esc(b.Name))
		}
		s.printf(`</svg>`)
		return s.err
	})
}

// fmtValue writes a bar's value for its tooltip.
func fmtValue(v float64, percent bool) string {
	if percent {
		return strconv.FormatFloat(v*100, 'f', 1, 64) + "%"
	}
	return fmtNum(v)
}

// clip shortens s to n runes with an ellipsis.
func clip(s string, n int) string {
	r := []rune(s)
	if len(r) <= n {
		return s
	}
	return string(r[:n-1]) + "…"
}
