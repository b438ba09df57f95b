package web

import (
	"context"
	"io"
	"math"
	"strings"

	"github.com/a-h/templ"
)

// StepLine is one series of a step chart: values by training step.
type StepLine struct {
	Name   string
	Steps  []int64
	Values []float64
	// Class picks the colour: "" (accent), "alt", "c2", "c3", "c4".
	Class string
}

// StepChart draws lines over training steps (rounds) with a step axis, a
// value axis fitted to the data and a legend; lines are overlaid so train
// and validation, or several runs, read against each other. Non-finite
// values are skipped; a single point is drawn as a dot.
type StepChart struct {
	Label string
	Lines []StepLine
}

// Component renders the step chart.
func (c StepChart) Component() templ.Component {
	return templ.ComponentFunc(func(_ context.Context, w io.Writer) error {
		s := &svgWriter{w: w}
		lo, hi := math.Inf(1), math.Inf(-1)
		first, last := int64(math.MaxInt64), int64(math.MinInt64)
		for _, l := range c.Lines {
			for i, v := range l.Values {
				if math.IsNaN(v) || math.IsInf(v, 0) || i >= len(l.Steps) {
					continue
				}
				lo, hi = math.Min(lo, v), math.Max(hi, v)
				first, last = min(first, l.Steps[i]), max(last, l.Steps[i])
			}
		}
		if math.IsInf(lo, 1) {
			lo, hi, first, last = 0, 1, 0, 1
		}
		if hi == lo {
			lo, hi = lo-math.Max(math.Abs(lo)*0.1, 0.5), hi+math.Max(math.Abs(hi)*0.1, 0.5)
		}
		if last == first {
			first, last = first-1, last+1
		}
		yt, axisMin, axisMax := Ticks(lo, hi, 5)
		xt, xMin, xMax := Ticks(float64(first), float64(last), 6)
		h := float64(timeChartH)
		y0, y1 := float64(timeChartH-padBottom-legendSpace), float64(padTop)
		x0, x1 := float64(padLeft), float64(chartW-padRight)
		y := func(v float64) float64 { return y0 - (y0-y1)*(v-axisMin)/(axisMax-axisMin) }
		x := func(st float64) float64 { return x0 + (x1-x0)*(st-xMin)/(xMax-xMin) }
		s.open("steps", c.Label, h)
		for _, t := range yt {
			s.printf(`<line class="grid" x1="%s" y1="%s" x2="%s" y2="%s"/>`, f1(x0), f1(y(t)), f1(x1), f1(y(t)))
			s.printf(`<text class="tick" x="%s" y="%s" text-anchor="end">%s</text>`, f1(x0-4), f1(y(t)+4), esc(fmtTick(t, false)))
		}
		for _, t := range xt {
			if t != math.Trunc(t) {
				continue // steps are whole numbers
			}
			s.printf(`<line class="tickmark" x1="%s" y1="%s" x2="%s" y2="%s"/>`, f1(x(t)), f1(y0), f1(x(t)), f1(y0+4))
			s.printf(`<text class="tick" x="%s" y="%s" text-anchor="middle">%s</text>`, f1(x(t)), f1(y0+15), esc(fmtTick(t, false)))
		}
		s.printf(`<line class="axis" x1="%s" y1="%s" x2="%s" y2="%s"/>`, f1(x0), f1(y0), f1(x1), f1(y0))
		s.printf(`<line class="axis" x1="%s" y1="%s" x2="%s" y2="%s"/>`, f1(x0), f1(y1), f1(x0), f1(y0))
		for i, l := range c.Lines {
			var pts strings.Builder
			n := 0
			for k, v := range l.Values {
				if math.IsNaN(v) || math.IsInf(v, 0) || k >= len(l.Steps) {
					continue
				}
				if n > 0 {
					pts.WriteByte(' ')
				}
				pts.WriteString(f1(x(float64(l.Steps[k]))) + "," + f1(y(v)))
				n++
			}
			if n == 1 {
				xy := strings.Split(pts.String(), ",")
				s.printf(`<circle class="dot %s" cx="%s" cy="%s" r="3"><title>%s</title></circle>`, esc(l.Class), xy[0], xy[1], esc(l.Name))
			} else if n > 1 {
				s.printf(`<polyline class="line %s" points="%s"><title>%s</title></polyline>`, esc(l.Class), pts.String(), esc(l.Name))
			}
			lx := x0 + float64(i)*115
			ly := h - 5
			s.printf(`<line class="line %s" x1="%s" y1="%s" x2="%s" y2="%s"/><text class="legend" x="%s" y="%s">%s</text>`, esc(l.Class), f1(lx), f1(ly-4), f1(lx+14), f1(ly-4), f1(lx+18), f1(ly), esc(clip(l.Name, 17)))
		}
		s.printf(`</svg>`)
		return s.err
	})
}
