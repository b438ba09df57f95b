// Command rotation streams data whose joint distribution is rotated while
// every marginal distribution stays as it was through a drift monitor, and
// prints per window what the univariate tests and the multivariate PCA
// reconstruction error say: the first is blind to it, the second is not.
//
//	go run ./bench/drift/rotation [-seed 1] [-windows 5]
//
// Two cases: NannyML's "butterfly" data (x1 = s + ε/8, x2 = s + ε/8,
// x3 = ε/8, turned 90° about the third axis, so x1 and x2 become
// anti-correlated; chunks of 2,016 records, a week of 5-minute records, a
// reference of 10 of them, as in NannyML's documentation), and 28 features
// as `driftd gen` writes (independent normals) except that f1 = f0 + ε/10,
// rotated to f1 = −f0 + ε/10, in windows of 1,000. Each case streams
// -windows undrifted windows, drawn afresh from the reference distribution,
// then as many rotated ones, with the monitor's default thresholds (bands
// learned from the reference).
package main

import (
	"flag"
	"fmt"
	"io"
	"math/rand/v2"
	"os"
	"strconv"
	"text/tabwriter"
	"time"

	"driftd/drift"
)

func main() { os.Exit(run(os.Args[1:], os.Stdout, os.Stderr)) }

func run(args []string, stdout, stderr io.Writer) int {
	fs := flag.NewFlagSet("rotation", flag.ContinueOnError)
	fs.SetOutput(stderr)
	seed := fs.Uint64("seed", 1, "random seed")
	windows := fs.Int("windows", 5, "undrifted windows, then as many rotated ones, per case")
	if err := fs.Parse(args); err != nil {
		return 2
	}
	tw := tabwriter.NewWriter(stdout, 0, 0, 2, ' ', 0)
	fmt.Fprintln(tw, "case\twindow\tdata\tmax_psi\tdrifted_features\tpca_error\tband_lo\tband_hi\tpca_drift")
	var summaries []string
	for _, c := range []struct {
		name   string
		gen    func(*rand.Rand, int, bool) []drift.Column
		window int
	}{{"butterfly", butterfly, 2016}, {"pair-of-28", pairOf28, 1000}} {
		sum, err := runCase(tw, c.name, c.gen, c.window, *windows, rand.New(rand.NewPCG(*seed, 2)))
		if err != nil {
			fmt.Fprintf(stderr, "rotation: %s: %v\n", c.name, err)
			return 1
		}
		summaries = append(summaries, sum)
	}
	if err := tw.Flush(); err != nil {
		fmt.Fprintln(stderr, "rotation:", err)
		return 1
	}
	fmt.Fprintln(stdout)
	for _, s := range summaries {
		fmt.Fprintln(stdout, s)
	}
	return 0
}

// runCase builds the reference profile of 10 windows and streams the
// undrifted and the rotated windows through a monitor checked once per
// window; it returns the case's summary line.
func runCase(w io.Writer, name string, gen func(*rand.Rand, int, bool) []drift.Column, window, windows int, rng *rand.Rand) (string, error) {
	start := time.Now()
	p, err := drift.BuildProfile(gen(rng, 10*window, false), nil, drift.ProfileOptions{})
	if err != nil {
		return "", err
	}
	if p.PCA == nil {
		return "", fmt.Errorf("no PCA: %s", p.PCASkipped)
	}
	built := time.Since(start)
	m, err := drift.NewMonitor(p, drift.MonitorOptions{Model: name, WindowSize: window, MinWindow: window, CheckInterval: window})
	if err != nil {
		return "", err
	}
	defer m.Close()
	nf := len(p.Features)
	num, cat := make([]float64, nf), make([]string, nf)
	flagged := map[bool]int{}
	var maxPSI float64 // over the rotated windows
	maxDrifted := 0
	for _, rotated := range []bool{false, true} {
		for range windows {
			cols := gen(rng, window, rotated)
			for i := range window {
				for j, c := range cols {
					num[j] = c.Values[i]
				}
				m.Observe(num, cat, 0)
			}
			m.Flush()
			ev := m.Snapshot()
			mv := ev.Multivariate
			if mv == nil {
				return "", fmt.Errorf("no multivariate result")
			}
			data := "reference"
			if rotated {
				data = "rotated"
			}
			if mv.Drifted {
				flagged[rotated]++
			}
			if rotated {
				maxPSI = max(maxPSI, ev.MaxPSI)
				maxDrifted = max(maxDrifted, ev.DriftedFeatures)
			}
			fmt.Fprintf(w, "%s\t%d\t%s\t%.4f\t%d/%d\t%.4f\t%.4f\t%.4f\t%v\n", name, window, data, ev.MaxPSI,
				ev.DriftedFeatures, len(ev.Features), mv.Error, mv.Lo, mv.Hi, mv.Drifted)
		}
	}
	return fmt.Sprintf("%s: reference error %.4f, %d of %d components kept; out of band: rotated %d/%d, undrifted %d/%d; "+
		"rotated windows: max PSI %.4f, at most %d of %d features drifted; profile built in %v",
		name, p.PCA.RefError, p.PCA.K, p.PCA.Dims(), flagged[true], windows, flagged[false], windows,
		maxPSI, maxDrifted, nf, built.Round(time.Millisecond)), nil
}

// butterfly is NannyML's butterfly data (see the package comment).
func butterfly(rng *rand.Rand, n int, rotated bool) []drift.Column {
	cols := numeric(3, n)
	for i := range n {
		s := rng.NormFloat64()
		x1, x2, x3 := s+rng.NormFloat64()/8, s+rng.NormFloat64()/8, rng.NormFloat64()/8
		if rotated {
			x1, x2 = -x2, x1
		}
		cols[0].Values[i], cols[1].Values[i], cols[2].Values[i] = x1, x2, x3
	}
	return cols
}

// pairOf28 is 28 independent normal features but f1 = ±f0 + ε/10.
func pairOf28(rng *rand.Rand, n int, rotated bool) []drift.Column {
	cols := numeric(28, n)
	sign := 1.0
	if rotated {
		sign = -1
	}
	for i := range n {
		for j := range cols {
			cols[j].Values[i] = rng.NormFloat64()
		}
		cols[1].Values[i] = sign*cols[0].Values[i] + rng.NormFloat64()/10
	}
	return cols
}

func numeric(nf, n int) []drift.Column {
	cols := make([]drift.Column, nf)
	for j := range cols {
		cols[j] = drift.Column{Name: "f" + strconv.Itoa(j), Values: make([]float64, n)}
	}
	return cols
}
