package flows

import (
	"context"
	"encoding/json"
	"fmt"
	"path/filepath"
	"slices"
	"strings"

	"driftd/train"
)

// Model file formats ImportModel converts.
const (
	ImportXGBoost  = "xgboost"
	ImportLightGBM = "lightgbm"
)

// ImportFormats lists the formats ImportModel converts, for messages.
var ImportFormats = []string{ImportXGBoost, ImportLightGBM}

// ImportSpec describes one import: a model file saved by XGBoost or
// LightGBM and the reference data its drift profile is built from. It is
// shared by `driftd import` and the server's import route, so both produce
// the same model file.
type ImportSpec struct {
	// Format is ImportXGBoost or ImportLightGBM: how Data is read.
	Format string
	// Data is the model file's bytes (XGBoost's JSON or UBJSON model,
	// LightGBM's text model).
	Data []byte
	// Model is a model already in driftd's form; when set, Format and Data
	// are not read (a driftd model given a new reference, a test's model).
	// ImportModel records its metrics and attachments in it.
	Model *train.Model
	// ModelName names the model file in messages (default "model").
	ModelName string
	// Reference is the reference data file, CSV or Parquet: the training
	// or validation data the drift profile and the score reference come from.
	Reference string
	// ReferenceFormat is "csv", "parquet" or "" (by Reference's extension).
	ReferenceFormat string
	// ReferenceName names the reference file in messages and in the dataset
	// fingerprint (default Reference; an upload's own name).
	ReferenceName string
	// Target is the label column of the reference ("" = none): with it the
	// outcome has metrics and a binary model's profile a score calibrator.
	Target string
	// DriftBins is the number of bins of the drift reference profile (0 = default).
	DriftBins int
}

// ImportOutcome is the result of ImportModel: the converted model, its
// encoded file and the figures reported by the CLI and the server.
type ImportOutcome struct {
	// Model is the converted model with its metrics, profile and fingerprint attached.
	Model *train.Model
	// Artifact is Model.MarshalBinary(): the file written by `driftd import --out`.
	Artifact []byte
	// Source is where the model came from: "xgboost", "lightgbm" or "driftd".
	Source string
	// Objective is "binary", "multiclass" or "regression".
	Objective string
	// Trees is the number of trees; Features the number of model inputs.
	Trees, Features int
	// Rows is the number of reference rows.
	Rows int
	// MetricsOn is "reference" with a target, "" without.
	MetricsOn string
	// Metrics are the evaluation metrics on the reference rows (nil without a target).
	Metrics map[string]float64
	// FeatureImportance is gain and split counts per feature, as the file has them.
	FeatureImportance map[string]map[string]float64
	// Calibration says whether the drift profile carries a score calibrator
	// (see TrainOutcome.Calibration).
	Calibration string
}

// InputError is an import refused for its input; Field names the input at
// fault: "format", "model", "reference" or "target".
type InputError struct {
	Field string
	Err   error
}

// Error implements error.
func (e *InputError) Error() string { return e.Err.Error() }

// Unwrap returns the underlying error.
func (e *InputError) Unwrap() error { return e.Err }

// inputErrorf returns an *InputError on field.
func inputErrorf(field, format string, args ...any) error {
	return &InputError{Field: field, Err: fmt.Errorf(format, args...)}
}

// MetricsOnReference is ImportOutcome.MetricsOn with a target: the metrics
// are recorded in the model as "reference_<metric>".
const MetricsOnReference = "reference"

// ImportModel converts spec's model file, reads the reference data with the
// model's feature names and kinds, and attaches what training attaches: the
// drift reference profile (the reference columns and the model's scores on
// them; with a target, a binary model's score calibrator) and the dataset
// fingerprint. With a target it records the model's metrics on the
// reference. Errors for bad input are *InputError naming the input and,
// inside it, the place (file, line, column, JSON field).
func ImportModel(ctx context.Context, spec ImportSpec) (ImportOutcome, error) {
	m, err := convertModel(spec)
	if err != nil {
		return ImportOutcome{}, err
	}
	name := spec.ReferenceName
	if name == "" {
		name = spec.Reference
	}
	ref, err := readReference(ctx, m, spec, name)
	if err != nil {
		return ImportOutcome{}, err
	}
	out := ImportOutcome{Model: m, Source: m.Source(), Objective: m.Objective(), Trees: m.Trees(),
		Features: len(m.Features()), Rows: ref.Rows, FeatureImportance: Importance(m)}
	// The model's scores of the reference rows: the reference distribution
	// of the prediction, and with labels the metrics and the calibration.
	pr, err := train.Predict(m, ref)
	if err != nil {
		return ImportOutcome{}, inputErrorf("reference", "%s: score the reference rows: %w", name, err)
	}
	var labelled *train.Dataset
	if ref.Target != nil {
		labelled = ref
		if out.Metrics, err = train.EvaluatePredictions(m, ref, pr); err != nil {
			return ImportOutcome{}, inputErrorf("target", "%s: %w", name, err)
		}
		out.MetricsOn = MetricsOnReference
		for k, v := range out.Metrics {
			m.SetMetric(MetricsOnReference+"_"+k, v)
		}
	}
	if out.Calibration, err = attachEstimatedProfile(ctx, m, ref, labelled, pr, spec.DriftBins); err != nil {
		return ImportOutcome{}, inputErrorf("reference", "%s: %w", name, err)
	}
	if labelled == nil {
		out.Calibration = "none: no target in the reference"
	}
	if err := attachFingerprint(m, spec.Reference, ref, nil, false); err != nil {
		return ImportOutcome{}, err
	}
	if err := renameFingerprint(m, filepath.Base(name), ref.Target != nil); err != nil {
		return ImportOutcome{}, err
	}
	if out.Artifact, err = m.MarshalBinary(); err != nil {
		return ImportOutcome{}, fmt.Errorf("encode model: %w", err)
	}
	return out, nil
}

// convertModel returns spec.Model, or the model file converted from its format.
func convertModel(spec ImportSpec) (*train.Model, error) {
	if spec.Model != nil {
		return spec.Model, nil
	}
	name := spec.ModelName
	if name == "" {
		name = "model"
	}
	if len(spec.Data) == 0 {
		return nil, inputErrorf("model", "%s: empty model file", name)
	}
	var (
		m   *train.Model
		err error
	)
	switch spec.Format {
	case ImportXGBoost:
		m, err = train.ImportXGBoost(spec.Data)
	case ImportLightGBM:
		m, err = train.ImportLightGBM(spec.Data)
	default:
		return nil, inputErrorf("format", "unknown model format %q: want %s", spec.Format, strings.Join(ImportFormats, " or "))
	}
	if err != nil {
		return nil, inputErrorf("model", "%s: %w", name, err)
	}
	return m, nil
}

// SourceTitle is a model source ("xgboost", "lightgbm", "driftd") as
// people write it: "XGBoost", "LightGBM", "driftd".
func SourceTitle(source string) string {
	switch source {
	case ImportXGBoost:
		return "XGBoost"
	case ImportLightGBM:
		return "LightGBM"
	}
	return source
}

// readReference reads the reference file with the model's features, in the
// model's order, as their kinds (categorical features carry the integer
// codes the libraries were trained on), and the target when spec names one.
// Columns the model does not use are skipped. A model feature missing from
// the file is an error naming every missing feature and the file.
func readReference(ctx context.Context, m *train.Model, spec ImportSpec, name string) (*train.Dataset, error) {
	format, err := train.DataFormat(spec.Reference, spec.ReferenceFormat)
	if err != nil {
		return nil, inputErrorf("reference", "%s: %w", name, err)
	}
	var header []string
	if format == train.FormatParquet {
		header, err = train.ParquetColumns(spec.Reference)
	} else {
		header, err = CSVHeader(spec.Reference)
	}
	if err != nil {
		return nil, inputErrorf("reference", "%s: %w", name, err)
	}
	feats := m.Features()
	var missing []string
	used := map[string]bool{}
	opts := train.CSVOptions{Name: name, Target: spec.Target, Regression: m.Objective() == "regression"}
	for _, f := range feats {
		used[f.Name] = true
		if !slices.Contains(header, f.Name) {
			missing = append(missing, f.Name)
		} else if f.Kind == train.Categorical {
			opts.Categorical = append(opts.Categorical, f.Name)
		} else {
			opts.Numeric = append(opts.Numeric, f.Name)
		}
	}
	if len(missing) > 0 {
		return nil, inputErrorf("reference", "%s: %d of the model's %d features are not columns of the reference: %s (its columns: %s)",
			name, len(missing), len(feats), strings.Join(missing, ", "), clipList(header, 20))
	}
	if spec.Target != "" {
		switch {
		case used[spec.Target]:
			return nil, inputErrorf("target", "%s: target column %q is a feature of the model", name, spec.Target)
		case !slices.Contains(header, spec.Target):
			return nil, inputErrorf("target", "%s: no target column %q (its columns: %s)", name, spec.Target, clipList(header, 20))
		}
		opts.TargetLevels = m.Classes() // nil for regression
	}
	for _, h := range header {
		if !used[h] && h != spec.Target && !slices.Contains(opts.Exclude, h) {
			opts.Exclude = append(opts.Exclude, h)
		}
	}
	ds, err := train.ReadDataFileContext(ctx, spec.Reference, format, opts)
	if err != nil {
		if ctx.Err() != nil {
			return nil, err
		}
		return nil, &InputError{Field: "reference", Err: err}
	}
	if ds.Rows == 0 {
		return nil, inputErrorf("reference", "%s: no data rows: the drift profile needs the reference's rows", name)
	}
	return inModelOrder(ds, feats), nil
}

// inModelOrder returns ds with its feature columns in the model's order
// (every model feature is a column of ds).
func inModelOrder(ds *train.Dataset, feats []train.FeatureSpec) *train.Dataset {
	out := *ds
	out.Names, out.Kinds = make([]string, len(feats)), make([]train.ColumnKind, len(feats))
	out.Num, out.Codes, out.Levels = make([][]float64, len(feats)), make([][]int32, len(feats)), make([][]string, len(feats))
	for j, f := range feats {
		k := slices.Index(ds.Names, f.Name)
		out.Names[j], out.Kinds[j] = f.Name, ds.Kinds[k]
		out.Num[j], out.Codes[j], out.Levels[j] = ds.Num[k], ds.Codes[k], ds.Levels[k]
	}
	return &out
}

// renameFingerprint sets the file name of m's dataset fingerprint (an
// upload is read from a temporary file) and counts the target column only
// when there is one.
func renameFingerprint(m *train.Model, file string, hasTarget bool) error {
	b, _ := m.Attachment("dataset.json")
	var fp DatasetFingerprint
	if err := json.Unmarshal(b, &fp); err != nil {
		return fmt.Errorf("fingerprint: %w", err)
	}
	fp.File = file
	if !hasTarget {
		fp.Columns--
	}
	b, err := json.Marshal(fp)
	if err != nil {
		return fmt.Errorf("fingerprint: %w", err)
	}
	m.Attach("dataset.json", b)
	return nil
}

// clipList joins names with ", ", the first n of them and how many more.
func clipList(names []string, n int) string {
	if len(names) <= n {
		return strings.Join(names, ", ")
	}
	return fmt.Sprintf("%s and %d more", strings.Join(names[:n], ", "), len(names)-n)
}
