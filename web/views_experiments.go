package web

import (
	"math"
	"strconv"
	"strings"
	"time"
)

// ExperimentRow is one experiment in the list.
type ExperimentRow struct {
	ID, Name, Description string
	Created               time.Time
	Runs                  int
}

// ExperimentsView is the view model of the Experiments page.
type ExperimentsView struct {
	Experiments []ExperimentRow
}

// RunRow is one run of an experiment.
type RunRow struct {
	ID, Name, Status string
	Start            time.Time
	Duration         time.Duration
	// Params are the first few parameters; Metrics the last value of each metric.
	Params, Metrics []KV
	MoreParams      int
}

// ExperimentView is the view model of one experiment's page.
type ExperimentView struct {
	Experiment ExperimentRow
	Tags       []KV
	Runs       []RunRow
}

// Chart is a metric history drawn as an SVG polyline, computed server side.
type Chart struct {
	Key string
	// Points is the polyline "x,y x,y ..." in the Width×Height view box.
	Points              string
	Width, Height       int
	N                   int
	Min, Max, Last      float64
	FirstStep, LastStep int64
}

// RunView is the view model of one run's page.
type RunView struct {
	ID, Name, Status         string
	ExperimentID, Experiment string
	Start                    time.Time
	End                      time.Time
	Duration                 time.Duration
	CreatedBy                string
	Params, Tags, Metrics    []KV
	Artifacts                []KV
	Versions                 []string
	Charts                   []Chart
	Logs                     []string
	LogLines, LogDropped     int
}

// NewChart lays out a metric history (steps and values of equal length) as an
// SVG polyline of width×height; non-finite values are skipped.
func NewChart(key string, steps []int64, values []float64, width, height int) Chart {
	c := Chart{Key: key, Width: width, Height: height, Min: math.Inf(1), Max: math.Inf(-1), Last: math.NaN()}
	var xs []int64
	var ys []float64
	for i, v := range values {
		if math.IsNaN(v) || math.IsInf(v, 0) {
			continue
		}
		xs, ys = append(xs, steps[i]), append(ys, v)
		c.Min, c.Max, c.Last = math.Min(c.Min, v), math.Max(c.Max, v), v
	}
	c.N = len(ys)
	if c.N == 0 {
		c.Min, c.Max = math.NaN(), math.NaN()
		return c
	}
	c.FirstStep, c.LastStep = xs[0], xs[len(xs)-1]
	const pad = 4.0
	w, h := float64(width)-2*pad, float64(height)-2*pad
	spanX, spanY := float64(c.LastStep-c.FirstStep), c.Max-c.Min
	var b strings.Builder
	for i := range ys {
		x, y := pad+w/2, pad+h/2
		if spanX > 0 {
			x = pad + w*float64(xs[i]-c.FirstStep)/spanX
		} else if c.N > 1 {
			x = pad + w*float64(i)/float64(c.N-1)
		}
		if spanY > 0 {
			y = pad + h*(1-(ys[i]-c.Min)/spanY)
		}
		if i > 0 {
			b.WriteByte(' ')
		}
		b.WriteString(strconv.FormatFloat(x, 'f', 1, 64))
		b.WriteByte(',')
		b.WriteString(strconv.FormatFloat(y, 'f', 1, 64))
	}
	c.Points = b.String()
	return c
}
