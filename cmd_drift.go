package main

import (
	"bufio"
	"context"
	"encoding/csv"
	"encoding/json"
	"fmt"
	"io"
	"math"
	"os"
	"slices"
	"strings"
	"text/tabwriter"
	"time"
	"unicode/utf8"

	"driftd/drift"
	"driftd/train"
)

// driftJSON is the --json output of driftd drift.
type driftJSON struct {
	RowsReference int                `json:"rows_reference"`
	RowsCurrent   int                `json:"rows_current"`
	Features      []driftFeatureJSON `json:"features"`
	DriftShare    float64            `json:"drift_share"`
	DatasetDrift  bool               `json:"dataset_drift"`
}

// driftFeatureJSON is one feature of the --json output; non-finite numbers
// (p-values of distance tests, an infinite statistic) are null.
type driftFeatureJSON struct {
	Name      string   `json:"name"`
	Type      string   `json:"type"`
	PSI       *float64 `json:"psi"`
	Level     string   `json:"level"`
	Test      string   `json:"test"`
	Statistic *float64 `json:"statistic"`
	PValue    *float64 `json:"p_value"`
	Drifted   bool     `json:"drifted"`
}

func finitePtr(v float64) *float64 {
	if math.IsNaN(v) || math.IsInf(v, 0) {
		return nil
	}
	return &v
}

// runDrift implements `driftd drift`: per-feature PSI and companion tests of
// a current data set against a reference one (CSV or Parquet files, or
// PostgreSQL queries), computed exactly on the full data.
func runDrift(ctx context.Context, args []string, stdout, stderr io.Writer) int {
	fs := newFlagSet("drift", stderr, "Compare current data with reference data (CSV or Parquet files, or PostgreSQL queries): per-feature PSI, level and companion test, and the dataset drift verdict.")
	ref := fs.String("reference", "", "reference CSV or Parquet file (e.g. the training data); required unless --reference-query")
	cur := fs.String("current", "", "current CSV or Parquet file to compare with the reference; required unless --current-query")
	refQuery := fs.String("reference-query", "", "PostgreSQL query of the reference rows, instead of --reference (needs --dsn or $"+dsnEnv+")")
	curQuery := fs.String("current-query", "", "PostgreSQL query of the current rows, instead of --current (needs --dsn or $"+dsnEnv+")")
	dsn := dsnFlag(fs)
	var o driftOptions
	fs.IntVar(&o.bins, "bins", drift.DefaultBins, "number of numeric bins")
	fs.StringVar(&o.binning, "binning", drift.BinningQuantile, "numeric binning: quantile or uniform")
	fs.StringVar(&o.test, "test", drift.TestAuto, "companion test: auto, ks, chisquare, z, wasserstein, jensenshannon, hellinger, kl or psi; or classifier: a domain classifier's cross-validated AUC at telling current rows from reference rows (multivariate), instead of per-feature tests")
	fs.Float64Var(&o.threshold, "threshold", 0, "drift threshold of the test (0 = the test's default: p < 0.05, or statistic >= 0.1)")
	fs.Float64Var(&o.share, "drift-share", drift.DefaultDriftShare, "dataset drift when the share of drifted features reaches this")
	features := fs.String("features", "", "comma-separated features to compare (default: every reference column)")
	exclude := fs.String("exclude", "", "comma-separated columns to ignore (e.g. id,label)")
	fs.IntVar(&o.maxCats, "max-categories", drift.DefaultMaxCategories, "tracked categories per categorical feature; the rest is \"other\"")
	fs.BoolVar(&o.asJSON, "json", false, "print one JSON object instead of a table")
	delim := fs.String("delimiter", ",", "field delimiter (one character; \"tab\" for a tab)")
	format := fs.String("format", "", "format of --reference and --current: csv or parquet (default: parquet for a .parquet file, else csv)")
	if code, done := parseFlags(fs, args); done {
		return code
	}
	if *ref == "" && *refQuery == "" || *cur == "" && *curQuery == "" {
		fmt.Fprintln(stderr, "driftd drift: --reference and --current are required (or --reference-query and --current-query)")
		fs.Usage()
		return 2
	}
	refSrc, err := newSource("reference", *ref, *format, "reference-query", *refQuery, dsnOrEnv(*dsn))
	var curSrc dataSource
	if err == nil {
		curSrc, err = newSource("current", *cur, *format, "current-query", *curQuery, dsnOrEnv(*dsn))
	}
	if err != nil {
		fmt.Fprintf(stderr, "driftd drift: %v\n", err)
		fs.Usage()
		return 2
	}
	o.features, o.exclude = splitList(*features), splitList(*exclude)
	if o.delim, err = parseDelimiter(*delim); err == nil {
		err = driftCommand(ctx, refSrc, curSrc, o, stdout, stderr)
	}
	if err != nil {
		fmt.Fprintf(stderr, "driftd drift: %v\n", err)
		return 1
	}
	return 0
}

// driftOptions are the settings of `driftd drift` besides its sources.
type driftOptions struct {
	bins, maxCats     int
	binning, test     string
	threshold, share  float64
	features, exclude []string
	asJSON            bool
	delim             rune
}

// driftCommand compares cur with ref and writes the report to stdout,
// timings to stderr.
func driftCommand(ctx context.Context, ref, cur dataSource, o driftOptions, stdout, stderr io.Writer) error {
	if !drift.ValidTest(o.test) && o.test != testClassifier {
		return fmt.Errorf("--test %q: must be auto, %s or %s", o.test, strings.Join(drift.Tests(), ", "), testClassifier)
	}
	if o.share < 0 || o.share > 1 {
		return fmt.Errorf("--drift-share %v: must be between 0 and 1", o.share)
	}
	refNames, err := ref.columns(ctx, o.delim)
	if err != nil {
		return err
	}
	curNames, err := cur.columns(ctx, o.delim)
	if err != nil {
		return err
	}
	var want []string
	for _, name := range refNames {
		if !slices.Contains(o.exclude, name) {
			want = append(want, name)
		}
	}
	if len(o.features) > 0 {
		for _, name := range o.features {
			if !slices.Contains(want, name) {
				return fmt.Errorf("--features: %q is not a column of the reference %s", name, ref)
			}
		}
		want = o.features
	}
	for _, name := range want {
		if !slices.Contains(curNames, name) {
			return fmt.Errorf("feature %q of the reference is missing from the current data %s", name, cur)
		}
	}
	start := time.Now()
	rds, cds, err := readDriftPair(ctx, ref, cur, o, want)
	if err != nil {
		return err
	}
	fmt.Fprintf(stderr, "read %s (%d rows) and %s (%d rows), %d features, in %v\n", ref, rds.Rows, cur, cds.Rows, len(want), time.Since(start).Round(time.Millisecond))
	if err := ctx.Err(); err != nil {
		return err
	}
	if o.test == testClassifier {
		return domainCheck(ctx, rds, cds, want, 0, o.asJSON, stdout, stderr)
	}
	t2 := time.Now()
	rep, err := drift.Compare(datasetColumns(rds, want), datasetColumns(cds, want),
		drift.ProfileOptions{Bins: o.bins, Binning: o.binning, MaxCategories: o.maxCats},
		drift.CompareOptions{Test: o.test, Threshold: o.threshold, DriftShare: o.share})
	if err != nil {
		return err
	}
	fmt.Fprintf(stderr, "compared %d features in %v\n", len(rep.Features), time.Since(t2).Round(time.Millisecond))
	if o.asJSON {
		return writeDriftJSON(stdout, rep)
	}
	writeDriftTable(stdout, rep, o.share)
	return nil
}

// readDriftPair reads both data sets at once; the current one's types are
// inferred on their own and it is read again with the reference's types
// in the rare case they disagree on the features in want.
func readDriftPair(ctx context.Context, ref, cur dataSource, o driftOptions, want []string) (rds, cds *train.Dataset, err error) {
	type read struct {
		ds  *train.Dataset
		err error
	}
	curDone := make(chan read, 1)
	copts := train.CSVOptions{Delimiter: o.delim, Exclude: o.exclude}
	go func() {
		ds, err := cur.read(ctx, copts)
		curDone <- read{ds, err}
	}()
	rds, err = ref.read(ctx, train.CSVOptions{Delimiter: o.delim, Exclude: o.exclude})
	cr := <-curDone
	if err != nil {
		return nil, nil, err
	}
	if cr.err != nil {
		return nil, nil, cr.err
	}
	cds = cr.ds
	if rds.Rows == 0 {
		return nil, nil, fmt.Errorf("%s: %w", ref, drift.ErrNoRows)
	}
	if cds.Rows == 0 {
		return nil, nil, fmt.Errorf("%s: %w", cur, drift.ErrNoCurrentRows)
	}
	if !sameKinds(rds, cds, want) {
		for i, name := range rds.Names {
			if !slices.Contains(cds.Names, name) {
				continue
			}
			if rds.Kinds[i] == train.Categorical {
				copts.Categorical = append(copts.Categorical, name)
			} else {
				copts.Numeric = append(copts.Numeric, name)
			}
		}
		if cds, err = cur.read(ctx, copts); err != nil {
			return nil, nil, err
		}
	}
	return rds, cds, nil
}

// sameKinds reports whether the named columns have the same kind in both
// data sets.
func sameKinds(a, b *train.Dataset, names []string) bool {
	for _, name := range names {
		i, j := slices.Index(a.Names, name), slices.Index(b.Names, name)
		if i < 0 || j < 0 || a.Kinds[i] != b.Kinds[j] {
			return false
		}
	}
	return true
}

// csvHeader returns the column names of a CSV file's first line.
func dataHeader(path, format string, delim rune) ([]string, error) {
	if format == train.FormatParquet {
		return train.ParquetColumns(path)
	}
	return csvHeader(path, delim)
}

// csvHeader returns the column names of a CSV file's header.
func csvHeader(path string, delim rune) ([]string, error) {
	f, err := os.Open(path)
	if err != nil {
		return nil, fmt.Errorf("read csv header: %w", err)
	}
	defer f.Close()
	r := csv.NewReader(bufio.NewReader(f))
	r.Comma = delim
	r.FieldsPerRecord = -1
	r.LazyQuotes = true
	names, err := r.Read()
	if err != nil {
		return nil, fmt.Errorf("read csv header: %s:1: %w", path, err)
	}
	return names, nil
}

func parseDelimiter(s string) (rune, error) {
	if s == "tab" || s == `\t` {
		return '\t', nil
	}
	r, n := utf8.DecodeRuneInString(s)
	if n == 0 || n != len(s) || r >= utf8.RuneSelf || r == '"' || r == '\n' || r == '\r' {
		return 0, fmt.Errorf("--delimiter %q: must be one ASCII character other than a quote or newline", s)
	}
	return r, nil
}

func splitList(s string) []string {
	var out []string
	for _, p := range strings.Split(s, ",") {
		if p = strings.TrimSpace(p); p != "" {
			out = append(out, p)
		}
	}
	return out
}

// datasetColumns returns the named columns of ds as drift columns.
func datasetColumns(ds *train.Dataset, names []string) []drift.Column {
	cols := make([]drift.Column, 0, len(names))
	for _, name := range names {
		i := slices.Index(ds.Names, name)
		c := drift.Column{Name: name, Categorical: ds.Kinds[i] == train.Categorical}
		if c.Categorical {
			c.Codes, c.Levels = ds.Codes[i], ds.Levels[i]
		} else {
			c.Values = ds.Num[i]
		}
		cols = append(cols, c)
	}
	return cols
}

func writeDriftJSON(w io.Writer, rep *drift.Report) error {
	out := driftJSON{RowsReference: rep.RowsReference, RowsCurrent: rep.RowsCurrent,
		Features: make([]driftFeatureJSON, len(rep.Features)), DriftShare: rep.DriftShare, DatasetDrift: rep.DatasetDrift}
	for i, f := range rep.Features {
		typ := "numeric"
		if f.Categorical {
			typ = "categorical"
		}
		out.Features[i] = driftFeatureJSON{Name: f.Name, Type: typ, PSI: finitePtr(f.PSI), Level: f.Level, Test: f.Test,
			Statistic: finitePtr(f.Statistic), PValue: finitePtr(f.PValue), Drifted: f.Drifted}
	}
	enc := json.NewEncoder(w)
	enc.SetIndent("", "  ")
	if err := enc.Encode(out); err != nil {
		return fmt.Errorf("write json: %w", err)
	}
	return nil
}

func fmtNum(v float64) string {
	switch {
	case math.IsNaN(v):
		return "-"
	case math.IsInf(v, 1):
		return "inf"
	}
	return fmt.Sprintf("%.6g", v)
}

func writeDriftTable(w io.Writer, rep *drift.Report, share float64) {
	tw := tabwriter.NewWriter(w, 0, 0, 2, ' ', 0)
	fmt.Fprintln(tw, "FEATURE\tTYPE\tPSI\tLEVEL\tTEST\tSTATISTIC\tP-VALUE\tDRIFTED")
	for _, f := range rep.Features {
		typ := "numeric"
		if f.Categorical {
			typ = "categorical"
		}
		drifted := "no"
		if f.Drifted {
			drifted = "yes"
		}
		fmt.Fprintf(tw, "%s\t%s\t%.4f\t%s\t%s\t%s\t%s\t%s\n", f.Name, typ, f.PSI, f.Level, f.Test,
			fmtNum(f.Statistic), fmtNum(f.PValue), drifted)
	}
	tw.Flush()
	verdict := "no dataset drift"
	if rep.DatasetDrift {
		verdict = "DATASET DRIFT"
	}
	fmt.Fprintf(w, "\n%s: %d of %d features drifted (share %.3f, threshold %.3g); reference %d rows, current %d rows\n",
		verdict, rep.DriftedFeatures, len(rep.Features), rep.DriftShare, share, rep.RowsReference, rep.RowsCurrent)
}
