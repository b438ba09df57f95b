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
	// Title tells runs apart: a given name, or algorithm, key parameters and data.
	Title    string
	Start    time.Time
	Duration time.Duration
	// Params are the run's key parameters; Metrics the last value of each metric.
	Params, Metrics []KV
	MoreParams      int
	// Cells are the values of ExperimentView.MetricCols for this run ("" when absent).
	Cells []string
}

// SortOption is one choice of the run list's sort menu.
type SortOption struct{ Value, Label string }

// ExperimentView is the view model of one experiment's page.
type ExperimentView struct {
	Experiment ExperimentRow
	Tags       []KV
	Runs       []RunRow
	// Query is the search filter as typed, Sort the order ("metrics.valid_auc desc").
	Query, Sort string
	SortOptions []SortOption
	// MetricCols are the metric columns of the table; SortURLs link each
	// column header ("name", "start", "metrics.<key>") to its sorted list.
	MetricCols []string
	SortURLs   map[string]string
	// Page (from 1) of Pages; Total runs match.
	Page, Pages, Total int
	PrevURL, NextURL   string
	CSVURL             string
	Error              string
}

// ArtifactLink is a run artifact that can be downloaded.
type ArtifactLink struct {
	Name string
	Size int64
	URL  string
}

// Link is a labelled link.
type Link struct{ Label, URL string }

// NamedChart is a step chart with the metric it draws.
type NamedChart struct {
	Key   string
	Chart StepChart
}

// CompareRow is one parameter or metric of the compared runs.
type CompareRow struct {
	Key    string
	Values []string
	// Differs is set when the runs do not all have the same value.
	Differs bool
}

// CompareView is the view model of the run comparison page.
type CompareView struct {
	Runs            []RunRow
	Params, Metrics []CompareRow
	Charts          []NamedChart
	Error           string
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
	ID, Name, Status, Title  string
	ExperimentID, Experiment string
	Start                    time.Time
	End                      time.Time
	Duration                 time.Duration
	CreatedBy                string
	Params, Tags, Metrics    []KV
	// HiddenParams counts parameters of the other algorithm, not shown.
	HiddenParams int
	Algo         string
	// Numbers are the metrics with a single point, shown as values.
	Numbers   []KV
	Artifacts []ArtifactLink
	Versions  []Link
	// StepCharts are the metrics logged over steps, train and validation overlaid.
	StepCharts []NamedChart
	// Importance is the feature importance bar chart (nil when unknown);
	// ImportanceKind says what it measures.
	Importance           *HBarChart
	ImportanceKind       string
	Charts               []Chart
	Logs                 []string
	LogLines, LogDropped int
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
