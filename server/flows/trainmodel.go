package flows

import (
	"cmp"
	"context"
	"crypto/sha256"
	"encoding/binary"
	"encoding/hex"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"math"
	"math/rand/v2"
	"os"
	"path/filepath"
	"slices"
	"time"

	"driftd/drift"
	"driftd/train"
)

// TrainSpec describes one training job: the data, how to read it and the
// training parameters. It is shared by `driftd train` and the server's
// training runner, so both produce the same model file.
type TrainSpec struct {
	// Data is the training CSV (or Parquet) file.
	Data string
	// Test is an optional test CSV (or Parquet) file used as the validation set.
	Test string
	// Query, when set, is a PostgreSQL query whose rows are the training
	// data instead of Data; TestQuery, when set, gives the test set
	// instead of Test. Both run on the server of DSN.
	DSN, Query, TestQuery string
	// CSV controls reading Data (Name defaults to Data; Regression is set
	// from Params.Objective).
	CSV train.CSVOptions
	// ValidFraction is the share of Data held out for validation when Test is "".
	ValidFraction float64
	// Seed drives the validation split.
	Seed int64
	// Params configures train.Train.
	Params train.Params
	// DriftBins is the number of bins of the drift reference profile (0 = default).
	DriftBins int
}

// TrainOutcome is the result of TrainModel: the model, its encoded file and
// the figures reported by the CLI and the server.
type TrainOutcome struct {
	// Model is the trained model with its metrics, profile and fingerprint attached.
	Model *train.Model
	// Artifact is Model.MarshalBinary(): the file written by `driftd train --out`.
	Artifact []byte
	// Rows and ValidRows count the training and validation (or test) rows.
	Rows, ValidRows int
	// Features is the number of model inputs.
	Features int
	// Rounds is the number of rounds actually trained (early stopping may cut it).
	Rounds int
	// MetricsOn is "validation", "test" or "" when there was no held-out data.
	MetricsOn string
	// Metrics are the evaluation metrics on the held-out data.
	Metrics map[string]float64
	// FeatureImportance is gain and split counts for trees, abs_coef for linear models.
	FeatureImportance map[string]map[string]float64
	// Calibration says what the drift profile (and, for regression, the
	// loss models attached as LossAttachment) carries for performance
	// estimation without labels: "isotonic on N validation rows" (binary),
	// "isotonic one-vs-rest per class …" (multiclass), "loss models …
	// (DLE) …" (regression), or "none: " and why (no held-out data, a
	// class missing from it).
	Calibration string
	// LoadSeconds and FitSeconds time reading the data and training.
	LoadSeconds, FitSeconds float64
}

// TrainModel reads spec.Data or spec.Query (and spec.Test or
// spec.TestQuery), splits a validation set, trains a model calling
// progress once per round, evaluates it, and attaches the drift reference
// profile ("drift.profile") and the dataset fingerprint ("dataset.json").
// Errors name the file and line, or the query's row and column, where the
// data is bad.
func TrainModel(ctx context.Context, spec TrainSpec, progress func(train.Round)) (*TrainOutcome, error) {
	t0 := time.Now()
	opts := spec.CSV
	if opts.Name == "" {
		opts.Name = cmp.Or(spec.Data, "query")
	}
	opts.Regression = spec.Params.Objective == "regression"
	full, err := spec.read(ctx, spec.Data, spec.Query, opts)
	if err != nil {
		return nil, err
	}
	if err := checkObjective(spec.Params.Objective, full); err != nil {
		return nil, fmt.Errorf("%s: %w", opts.Name, err)
	}
	var tr, va *train.Dataset
	metricsOn := "validation"
	if spec.Test != "" || spec.TestQuery != "" {
		topts := testOptions(opts, full)
		topts.Name = cmp.Or(spec.Test, "test query")
		if va, err = spec.read(ctx, spec.Test, spec.TestQuery, topts); err != nil {
			return nil, err
		}
		tr, metricsOn = full, "test"
	} else {
		tr, va = SplitDataset(full, spec.ValidFraction, spec.Seed)
	}
	full = nil
	out := &TrainOutcome{LoadSeconds: time.Since(t0).Seconds(), Rows: tr.Rows}

	t1 := time.Now()
	m, err := train.Train(ctx, tr, va, spec.Params, func(r train.Round) {
		out.Rounds = r.Round
		if progress != nil {
			progress(r)
		}
	})
	if err != nil {
		return nil, err
	}
	out.FitSeconds = time.Since(t1).Seconds()
	if spec.CSV.ID != "" {
		if p := m.Params(); p != nil {
			p["id"] = spec.CSV.ID
		}
	}
	out.Model, out.Features, out.FeatureImportance = m, len(m.Features()), Importance(m)
	// Scores of the validation (or test) rows: the metrics and the reference
	// distribution of the prediction for drift monitoring.
	var pr *train.Predictions
	if va != nil && va.Rows > 0 {
		out.ValidRows = va.Rows
		if pr, err = train.Predict(m, va); err != nil {
			return nil, fmt.Errorf("score validation data: %w", err)
		}
		if out.Metrics, err = train.EvaluatePredictions(m, va, pr); err != nil {
			return nil, err
		}
		out.MetricsOn = metricsOn
		for k, v := range out.Metrics {
			m.SetMetric(metricsOn+"_"+k, v)
		}
	}
	if out.Calibration, err = attachEstimatedProfile(ctx, m, tr, va, pr, spec.DriftBins); err != nil {
		return nil, err
	}
	split := spec.Test == "" && spec.TestQuery == ""
	if spec.Query != "" {
		err = attachQueryFingerprint(m, spec.Query, tr, va, split)
	} else {
		err = attachFingerprint(m, spec.Data, tr, va, split)
	}
	if err != nil {
		return nil, err
	}
	if out.Artifact, err = m.MarshalBinary(); err != nil {
		return nil, fmt.Errorf("encode model: %w", err)
	}
	return out, nil
}

// read reads a data set: the query when there is one (on spec.DSN), else
// the CSV or Parquet file path (by its extension).
func (spec TrainSpec) read(ctx context.Context, path, query string, opts train.CSVOptions) (*train.Dataset, error) {
	if query != "" {
		return train.ReadQuery(ctx, spec.DSN, query, opts)
	}
	return train.ReadDataFileContext(ctx, path, "", opts)
}

// checkObjective rejects an objective that contradicts the target.
func checkObjective(obj string, ds *train.Dataset) error {
	k := len(ds.TargetLevels)
	switch {
	case obj == "binary" && k != 2:
		return fmt.Errorf("target has %d classes, --objective binary needs 2", k)
	case obj == "multiclass" && k < 3:
		return fmt.Errorf("target has %d classes, --objective multiclass needs 3 or more", k)
	case obj != "regression" && k < 2:
		return fmt.Errorf("target has %d class, a classifier needs at least 2", k)
	}
	return nil
}

// testOptions reads a test file with the training file's column kinds and
// class mapping.
func testOptions(o train.CSVOptions, ds *train.Dataset) train.CSVOptions {
	o.Categorical, o.Numeric = nil, nil
	for j, name := range ds.Names {
		if ds.Kinds[j] == train.Categorical {
			o.Categorical = append(o.Categorical, name)
		} else {
			o.Numeric = append(o.Numeric, name)
		}
	}
	o.TargetLevels = ds.TargetLevels
	return o
}

// SplitDataset holds out a fraction of the rows, chosen by a seeded shuffle,
// as the validation set; both parts keep the original row order. A fraction
// that selects no row (or every row) returns ds itself and a nil validation set.
func SplitDataset(ds *train.Dataset, frac float64, seed int64) (tr, va *train.Dataset) {
	tIdx, vIdx := splitRows(ds.Rows, frac, seed)
	if vIdx == nil {
		return ds, nil
	}
	return ds.Subset(tIdx), ds.Subset(vIdx)
}

// splitRows returns the training and validation row indices of
// SplitDataset, each in order; vIdx is nil when the fraction selects no
// row or every row.
func splitRows(rows int, frac float64, seed int64) (tIdx, vIdx []int) {
	nv := int(math.Round(frac * float64(rows)))
	if nv == 0 || nv >= rows {
		return nil, nil
	}
	perm := make([]int, rows)
	for i := range perm {
		perm[i] = i
	}
	r := rand.New(rand.NewPCG(uint64(seed), 0x5eed5eed))
	// Partial Fisher-Yates: the first nv slots become the validation rows.
	for i := 0; i < nv; i++ {
		j := i + r.IntN(rows-i)
		perm[i], perm[j] = perm[j], perm[i]
	}
	vIdx, tIdx = perm[:nv], perm[nv:]
	slices.Sort(vIdx)
	slices.Sort(tIdx)
	return tIdx, vIdx
}

// Importance returns a model's feature importance: gain and split counts for
// trees, mean absolute standardised coefficients for linear models.
func Importance(m *train.Model) map[string]map[string]float64 {
	if m.Algo() == "logistic" {
		return map[string]map[string]float64{"abs_coef": train.LinearImportance(m)}
	}
	gain, splits := m.Importance()
	return map[string]map[string]float64{"gain": gain, "split": splits}
}

// attachScoredProfile is attachEstimatedProfile for callers holding only
// the validation scores (scores[i] is row i of va): a multiclass model's
// class probabilities are recomputed from va.
func attachScoredProfile(ctx context.Context, m *train.Model, tr, va *train.Dataset, scores []float64, bins int) (string, error) {
	pr := &train.Predictions{Score: scores}
	if m.Objective() == "multiclass" && va != nil && va.Rows > 0 && len(scores) == va.Rows {
		var err error
		if pr, err = train.Predict(m, va); err != nil {
			return "", fmt.Errorf("score validation data: %w", err)
		}
	}
	return attachEstimatedProfile(ctx, m, tr, va, pr, bins)
}

// attachEstimatedProfile builds the drift reference profile from the
// training columns and the validation predictions pr (row i of va; nil or
// empty without validation data) and attaches it as "drift.profile", with
// what the monitor needs to estimate performance without labels:
//   - binary: the isotonic calibration of the validation scores against
//     the validation labels (CBPE);
//   - multiclass: each class's probability calibrated one-vs-rest, and a
//     sample of validation probability vectors (CBPE). The profile's
//     prediction reference is the probability of the predicted class, the
//     score the model adapter gives the monitor;
//   - regression: the DLE loss models fitted on the validation rows,
//     attached as LossAttachment, and their predicted losses in the
//     profile.
//
// Without validation data, or with a single class in it, there is none. It
// returns TrainOutcome.Calibration: what was fitted, or "none: " and why.
func attachEstimatedProfile(ctx context.Context, m *train.Model, tr, va *train.Dataset, pr *train.Predictions, bins int) (string, error) {
	cols := make([]drift.Column, len(tr.Names))
	for j, name := range tr.Names {
		cols[j] = drift.Column{Name: name, Categorical: tr.Kinds[j] == train.Categorical,
			Values: tr.Num[j], Codes: tr.Codes[j], Levels: tr.Levels[j]}
	}
	var scores []float64
	if pr != nil {
		scores = pr.Score
	}
	k := len(m.Classes())
	multi := m.Objective() == "multiclass" && pr != nil && pr.Classes == k && len(pr.Proba) == k*len(scores)
	if multi {
		scores = maxProba(pr.Proba, k)
	}
	p, err := drift.BuildProfile(cols, scores, drift.ProfileOptions{Bins: bins})
	if err != nil {
		return "", fmt.Errorf("drift profile: %w", err)
	}
	valid := va != nil && va.Target != nil && len(scores) == va.Rows && va.Rows > 0
	note := "none: no validation data"
	switch {
	case !valid:
	case m.Objective() == "binary":
		c, err := drift.FitIsotonic(scores, va.Target)
		switch {
		case err == nil:
			p.Calibration = c
			note = fmt.Sprintf("isotonic on %d validation rows", c.Rows)
		case errors.Is(err, drift.ErrNoCalibration):
			note = "none: " + err.Error()
		default:
			return "", fmt.Errorf("calibrate scores: %w", err)
		}
	case m.Objective() == "multiclass" && multi:
		mc, err := drift.FitMulticlass(m.Classes(), pr.Proba, va.Target)
		switch {
		case err == nil:
			p.Multiclass = mc
			note = fmt.Sprintf("isotonic one-vs-rest per class (%d classes) on %d validation rows", k, mc.Rows)
		case errors.Is(err, drift.ErrNoCalibration):
			note = "none: " + err.Error()
		default:
			return "", fmt.Errorf("calibrate class probabilities: %w", err)
		}
	case m.Objective() == "multiclass":
		note = "none: no class probabilities of the validation data"
	case m.Objective() == "regression":
		lm, ref, err := FitLossModels(ctx, va, scores)
		if err != nil {
			return "", err
		}
		b, err := lm.MarshalBinary()
		if err != nil {
			return "", err
		}
		m.Attach(LossAttachment, b)
		p.Loss = ref
		note = fmt.Sprintf("loss models of |error| and error² (DLE) on %d validation rows", ref.Rows)
	default:
		note = "none: objective " + m.Objective()
	}
	b, err := p.MarshalBinary()
	if err != nil {
		return "", fmt.Errorf("drift profile: %w", err)
	}
	m.Attach("drift.profile", b)
	return note, nil
}

// maxProba returns each row's largest probability (k per row): the score
// the model adapter reports for a multiclass model.
func maxProba(proba []float64, k int) []float64 {
	out := make([]float64, len(proba)/k)
	for i := range out {
		out[i] = slices.Max(proba[i*k : i*k+k])
	}
	return out
}

// DatasetFingerprint is the "dataset.json" attachment of a model: the training
// file's hash and size (for a query: the query and the hash of the data it
// returned) and the row counts of the split.
type DatasetFingerprint struct {
	File      string   `json:"file"`
	Query     string   `json:"query,omitempty"`
	SHA256    string   `json:"sha256"`
	Bytes     int64    `json:"bytes"`
	Rows      int      `json:"rows"`
	Columns   int      `json:"columns"`
	Names     []string `json:"names"`
	TrainRows int      `json:"train_rows"`
	ValidRows int      `json:"valid_rows"`
	Split     bool     `json:"valid_split"`
}

// attachFingerprint hashes the training file and attaches its fingerprint as
// "dataset.json".
func attachFingerprint(m *train.Model, path string, tr, va *train.Dataset, split bool) error {
	fh, err := os.Open(path)
	if err != nil {
		return fmt.Errorf("fingerprint: %w", err)
	}
	defer fh.Close()
	h := sha256.New()
	n, err := io.Copy(h, fh)
	if err != nil {
		return fmt.Errorf("fingerprint %s: %w", path, err)
	}
	fp := DatasetFingerprint{File: filepath.Base(path), SHA256: hex.EncodeToString(h.Sum(nil)), Bytes: n}
	return attachFingerprintJSON(m, fp, tr, va, split)
}

// attachQueryFingerprint attaches the fingerprint of data read by a
// query: the query and the hash of the data it returned (which changes
// with the tables while the query stays).
func attachQueryFingerprint(m *train.Model, query string, tr, va *train.Dataset, split bool) error {
	return attachFingerprintJSON(m, DatasetFingerprint{File: "query", Query: query, SHA256: hashDatasets(tr, va)}, tr, va, split)
}

// attachFingerprintJSON completes fp with the split's counts and attaches it.
func attachFingerprintJSON(m *train.Model, fp DatasetFingerprint, tr, va *train.Dataset, split bool) error {
	fp.Rows, fp.Names, fp.TrainRows, fp.Split = tr.Rows, tr.Names, tr.Rows, split
	if va != nil && split {
		fp.Rows += va.Rows
		fp.ValidRows = va.Rows
	}
	fp.Columns = len(tr.Names) + 1 // features + target
	if tr.IDs != nil {
		fp.Columns++
	}
	b, err := json.Marshal(fp)
	if err != nil {
		return fmt.Errorf("fingerprint: %w", err)
	}
	m.Attach("dataset.json", b)
	return nil
}

// hashDatasets returns the SHA-256 of the data sets' columns, targets and
// ids in order (numbers as IEEE bits, categories as their levels' text).
func hashDatasets(sets ...*train.Dataset) string {
	h := sha256.New()
	buf := make([]byte, 0, 64<<10)
	flush := func(need int) {
		if len(buf)+need > cap(buf) {
			h.Write(buf)
			buf = buf[:0]
		}
	}
	num := func(v float64) {
		flush(8)
		buf = binary.LittleEndian.AppendUint64(buf, math.Float64bits(v))
	}
	str := func(s string) {
		flush(8)
		buf = binary.LittleEndian.AppendUint64(buf, uint64(len(s)))
		h.Write(buf)
		buf = buf[:0]
		h.Write([]byte(s))
	}
	for _, ds := range sets {
		if ds == nil {
			continue
		}
		for j, name := range ds.Names {
			str(name)
			for _, v := range ds.Num[j] {
				num(v)
			}
			for _, c := range ds.Codes[j] {
				if c < 0 {
					num(math.NaN())
				} else {
					str(ds.Levels[j][c])
				}
			}
		}
		for _, v := range ds.Target {
			num(v)
		}
		for _, id := range ds.IDs {
			str(id)
		}
	}
	h.Write(buf)
	return hex.EncodeToString(h.Sum(nil))
}

// RoundLine formats one round as `driftd train` prints it on stderr.
func RoundLine(r train.Round) string {
	line := fmt.Sprintf("round %4d  train_loss %.6f", r.Round, r.TrainLoss)
	if !math.IsNaN(r.ValidLoss) {
		line += fmt.Sprintf("  valid_loss %.6f", r.ValidLoss)
	}
	if r.MetricName != "" && !math.IsNaN(r.ValidMetric) {
		line += fmt.Sprintf("  valid_%s %.6f", r.MetricName, r.ValidMetric)
	}
	return fmt.Sprintf("%s  elapsed %.2fs", line, r.Elapsed.Seconds())
}

func isFinite(v float64) bool { return !math.IsNaN(v) && !math.IsInf(v, 0) }
