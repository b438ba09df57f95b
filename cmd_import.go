package main

import (
	"context"
	"encoding/json"
	"fmt"
	"io"
	"maps"
	"os"
	"path/filepath"
	"slices"
	"strings"

	"driftd/server"
	"driftd/server/flows"
)

// importFlags holds the parsed flags of `driftd import`.
type importFlags struct {
	from, model, reference, target, format, out string
	jsonOut                                     bool
	driftBins                                   int
}

// runImport implements `driftd import`: convert an XGBoost or LightGBM
// model file into driftd's model format, build its drift reference profile
// from --reference (and, with --target, its metrics and score calibration),
// print a summary and write the model file to --out.
func runImport(ctx context.Context, args []string, stdout, stderr io.Writer) int {
	fs := newFlagSet("import", stderr, "Convert an XGBoost or LightGBM model into a driftd model file with the drift reference of --reference, and write it to --out.")
	var f importFlags
	fs.StringVar(&f.from, "from", "", "the library that saved the model: "+strings.Join(flows.ImportFormats, " or ")+" (required)")
	fs.StringVar(&f.model, "model", "", "model file: XGBoost's save_model JSON (or UBJSON), LightGBM's save_model text (required)")
	fs.StringVar(&f.reference, "reference", "", "reference data, CSV or Parquet, with the model's feature columns: training or validation data (required)")
	fs.StringVar(&f.target, "target", "", "label column of the reference: records metrics and, for binary models, the score calibration")
	fs.StringVar(&f.format, "format", "", "format of --reference: csv or parquet (default: by its extension)")
	fs.StringVar(&f.out, "out", "", "model file to write (required)")
	fs.BoolVar(&f.jsonOut, "json", false, "print one JSON summary object on stdout")
	sf := server.RegisterSettings(fs, "DRIFTD_DRIFT_BINS")
	if code, done := parseFlags(fs, args); done {
		return code
	}
	cfg, code := resolveSettings("import", sf, stderr)
	if code != 0 {
		return code
	}
	f.driftBins = cfg.DriftBins
	if err := f.check(); err != nil {
		fmt.Fprintf(stderr, "driftd import: %v\n", err)
		return 2
	}
	if err := importCommand(ctx, &f, stdout); err != nil {
		fmt.Fprintf(stderr, "driftd import: %v\n", err)
		return 1
	}
	return 0
}

// check validates the flags.
func (f *importFlags) check() error {
	switch {
	case f.from == "":
		return fmt.Errorf("--from is required: %s", strings.Join(flows.ImportFormats, " or "))
	case !slices.Contains(flows.ImportFormats, f.from):
		return fmt.Errorf("--from %q: must be %s", f.from, strings.Join(flows.ImportFormats, " or "))
	case f.model == "":
		return fmt.Errorf("--model is required")
	case f.reference == "":
		return fmt.Errorf("--reference is required")
	case f.out == "":
		return fmt.Errorf("--out is required")
	case f.format != "" && f.format != "csv" && f.format != "parquet":
		return fmt.Errorf("--format %q: must be csv or parquet", f.format)
	}
	return nil
}

// importSummary is the --json output of `driftd import`.
type importSummary struct {
	Source            string                        `json:"source"`
	Objective         string                        `json:"objective"`
	Trees             int                           `json:"trees"`
	Features          int                           `json:"features"`
	ReferenceRows     int                           `json:"reference_rows"`
	MetricsOn         string                        `json:"metrics_on"`
	Metrics           map[string]float64            `json:"metrics"`
	FeatureImportance map[string]map[string]float64 `json:"feature_importance"`
	Calibration       string                        `json:"calibration"`
	Out               string                        `json:"out"`
	Bytes             int                           `json:"bytes"`
}

// importCommand runs the shared import (flows.ImportModel) and writes the
// model file.
func importCommand(ctx context.Context, f *importFlags, stdout io.Writer) error {
	data, err := os.ReadFile(f.model)
	if err != nil {
		return fmt.Errorf("read model: %w", err)
	}
	out, err := flows.ImportModel(ctx, flows.ImportSpec{Format: f.from, Data: data, ModelName: f.model,
		Reference: f.reference, ReferenceFormat: f.format, Target: f.target, DriftBins: f.driftBins})
	if err != nil {
		return err
	}
	if err := writeFileAtomic(f.out, out.Artifact); err != nil {
		return err
	}
	sum := importSummary{Source: out.Source, Objective: out.Objective, Trees: out.Trees, Features: out.Features,
		ReferenceRows: out.Rows, MetricsOn: out.MetricsOn, Metrics: out.Metrics, FeatureImportance: out.FeatureImportance,
		Calibration: out.Calibration, Out: f.out, Bytes: len(out.Artifact)}
	if f.jsonOut {
		// The same NaN-free maps as `driftd train --json`.
		clean := jsonSafe(trainSummary{Metrics: sum.Metrics, FeatureImportance: sum.FeatureImportance})
		sum.Metrics, sum.FeatureImportance = clean.Metrics, clean.FeatureImportance
		enc := json.NewEncoder(stdout)
		enc.SetIndent("", "  ")
		return enc.Encode(sum)
	}
	fmt.Fprintf(stdout, "imported %s %s model from %s: %d trees, %d features\n",
		flows.SourceTitle(sum.Source), sum.Objective, filepath.Base(f.model), sum.Trees, sum.Features)
	fmt.Fprintf(stdout, "  reference %s: %d rows\n", filepath.Base(f.reference), sum.ReferenceRows)
	for _, k := range slices.Sorted(maps.Keys(sum.Metrics)) {
		fmt.Fprintf(stdout, "  %s %s %.6f\n", sum.MetricsOn, k, sum.Metrics[k])
	}
	fmt.Fprintf(stdout, "  calibration for estimates without labels: %s\n", sum.Calibration)
	fmt.Fprintf(stdout, "model written to %s (%d bytes)\n", f.out, sum.Bytes)
	return nil
}
