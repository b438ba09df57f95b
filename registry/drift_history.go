package registry

import (
	"bytes"
	"context"
	"encoding/binary"
	"encoding/json"
	"errors"
	"fmt"
	"math"
	"slices"
	"strconv"
	"time"

	"go.etcd.io/bbolt"
)

// bucketDriftHistory holds the drift checks kept for the Drift page's charts:
// model/ -> time (BE unix nanoseconds) -> driftPointRecord, and per model the
// key "n/<model>" -> the number of points (BE uint64), so the bound is
// enforced without counting. It is created by the first append, so a
// registry file from before it opens unchanged.
var bucketDriftHistory = []byte("drift_history")

// Bounds of the drift history a store keeps per model.
const (
	// DefaultDriftHistoryAge is how long a point is kept.
	DefaultDriftHistoryAge = 30 * 24 * time.Hour
	// DefaultDriftHistoryPoints bounds the points per model: at one point a
	// minute, a little more than 30 days.
	DefaultDriftHistoryPoints = 50_000
	// maxHistoryFeatures bounds the features stored per point.
	maxHistoryFeatures = 1000
)

// DriftPoint is one drift check of a model kept in the drift history.
type DriftPoint struct {
	Time            time.Time `json:"time"`
	Version         string    `json:"version"`
	WindowRecords   int       `json:"window_records"`
	MaxPSI          float64   `json:"max_psi"`
	PredictionPSI   *float64  `json:"prediction_psi"` // nil when the model has no prediction profile
	DriftShare      float64   `json:"drift_share"`
	DriftedFeatures int       `json:"drifted_features"`
	DatasetDrift    bool      `json:"dataset_drift"`
	Retrain         bool      `json:"retrain"`
	Alert           bool      `json:"alert"`
	// Features maps each feature to its PSI (only the asked-for feature when
	// a query names one).
	Features map[string]float64 `json:"features"`
	// Drifted names the features whose test called drift, sorted.
	Drifted []string `json:"drifted,omitempty"`
	// Performance is the window's performance estimated without labels and
	// realised from joined labels; nil when the check had neither.
	Performance *PerformancePoint `json:"performance,omitempty"`
	// Multivariate is the window's PCA reconstruction error and the band it
	// keeps without drift; nil when the version has no PCA.
	Multivariate *MultivariatePoint `json:"multivariate,omitempty"`
	// Points is how many checks this point stands for: 1, or more for a
	// downsampled point, which holds their maximum PSIs and the verdict of
	// the last of them.
	Points int `json:"points"`
}

// MultivariatePoint is a check's multivariate drift: the window's mean
// PCA reconstruction error, the band it keeps without drift (Lo, Hi; nil
// when unknown) and whether it left it. A downsampled point keeps the
// largest error, the last band and any drift.
type MultivariatePoint struct {
	Error   float64  `json:"error"`
	Lo      *float64 `json:"lo,omitempty"`
	Hi      *float64 `json:"hi,omitempty"`
	Drifted bool     `json:"drifted,omitempty"`
}

// PerformancePoint is a check's model performance: estimated without
// labels (CBPE) with the band the estimate takes without a shift, and
// realised from the labels joined so far. A nil field is unknown. A
// downsampled point keeps the lowest estimates and realised figures of its
// checks (so a drop never disappears) and the last band.
type PerformancePoint struct {
	EstimatedAccuracy *float64 `json:"estimated_accuracy,omitempty"`
	EstimatedAUC      *float64 `json:"estimated_auc,omitempty"`
	AccuracyLo        *float64 `json:"accuracy_lo,omitempty"`
	AccuracyHi        *float64 `json:"accuracy_hi,omitempty"`
	AUCLo             *float64 `json:"auc_lo,omitempty"`
	AUCHi             *float64 `json:"auc_hi,omitempty"`
	// Drop is set when an estimate fell below its band.
	Drop bool `json:"drop,omitempty"`
	// Accuracy and AUC are realised from Labels joined labels.
	Accuracy *float64 `json:"accuracy,omitempty"`
	AUC      *float64 `json:"auc,omitempty"`
	Labels   int64    `json:"labels,omitempty"`
	// A regression's errors: estimated without labels (DLE) with the RMSE
	// band, and realised from the joined labels.
	EstimatedRMSE *float64 `json:"estimated_rmse,omitempty"`
	RMSELo        *float64 `json:"rmse_lo,omitempty"`
	RMSEHi        *float64 `json:"rmse_hi,omitempty"`
	RMSE          *float64 `json:"rmse,omitempty"`
	EstimatedMAE  *float64 `json:"estimated_mae,omitempty"`
	MAE           *float64 `json:"mae,omitempty"`
}

// driftPointRecord is the format-1 (JSON) stored form of a point, read but
// no longer written (see drift_point_codec.go); the time is the key.
type driftPointRecord struct {
	V        int                `json:"v"`
	Version  string             `json:"ver"`
	Window   int                `json:"w"`
	MaxPSI   float64            `json:"max"`
	PredPSI  *float64           `json:"pred,omitempty"`
	Share    float64            `json:"share"`
	NDrifted int                `json:"nd"`
	Flags    uint8              `json:"fl"` // 1 dataset drift, 2 retrain, 4 alert
	Features map[string]float64 `json:"f"`
	Drifted  []string           `json:"d,omitempty"`
	Perf     *PerformancePoint  `json:"p,omitempty"`
}

// driftPointHead is driftPointRecord with the feature map left undecoded:
// reading a day of points for the verdicts or one feature's PSI need not
// build every point's map.
type driftPointHead struct {
	V        int               `json:"v"`
	Version  string            `json:"ver"`
	Window   int               `json:"w"`
	MaxPSI   float64           `json:"max"`
	PredPSI  *float64          `json:"pred,omitempty"`
	Share    float64           `json:"share"`
	NDrifted int               `json:"nd"`
	Flags    uint8             `json:"fl"`
	Features json.RawMessage   `json:"f"`
	Drifted  []string          `json:"d,omitempty"`
	Perf     *PerformancePoint `json:"p,omitempty"`
}

// DriftHistoryOptions bounds what AppendDriftPoint keeps; zero fields take
// the defaults.
type DriftHistoryOptions struct {
	MaxAge    time.Duration
	MaxPoints int
}

// AppendDriftPoint stores one drift check of model and drops the points
// older than opts.MaxAge before p.Time and, beyond opts.MaxPoints, the
// oldest. A point at the same time as a stored one replaces it. It returns
// a *FieldError for an invalid model name or a point without a time.
func (s *Store) AppendDriftPoint(ctx context.Context, model string, p DriftPoint, opts DriftHistoryOptions) error {
	return s.AppendDriftPoints(ctx, model, []DriftPoint{p}, opts)
}

// AppendDriftPoints is AppendDriftPoint for several points in one
// transaction (one disk sync): all are stored or, on an invalid point,
// none. The bounds apply from the latest of them.
func (s *Store) AppendDriftPoints(ctx context.Context, model string, pts []DriftPoint, opts DriftHistoryOptions) error {
	err := s.appendDriftPoints(model, pts, opts)
	s.observe("append_drift_point", err)
	if err != nil {
		return fmt.Errorf("append drift point of %s: %w", model, err)
	}
	return nil
}

func (s *Store) appendDriftPoints(model string, pts []DriftPoint, opts DriftHistoryOptions) error {
	if err := validName("model", model); err != nil {
		return err
	}
	if opts.MaxAge <= 0 {
		opts.MaxAge = DefaultDriftHistoryAge
	}
	if opts.MaxPoints <= 0 {
		opts.MaxPoints = DefaultDriftHistoryPoints
	}
	keys, raws := make([][]byte, len(pts)), make([][]byte, len(pts))
	var latest time.Time
	for i, p := range pts {
		raw, err := encodeDriftPoint(p)
		if err != nil {
			return err
		}
		keys[i], raws[i] = timeKey(p.Time), raw
		if p.Time.After(latest) {
			latest = p.Time
		}
	}
	if len(pts) == 0 {
		return nil
	}
	oldest := timeKey(latest.Add(-opts.MaxAge))
	return s.db.Update(func(tx *bbolt.Tx) error {
		root, err := tx.CreateBucketIfNotExists(bucketDriftHistory)
		if err != nil {
			return fmt.Errorf("create drift history bucket: %w", err)
		}
		b, err := root.CreateBucketIfNotExists([]byte(model))
		if err != nil {
			return fmt.Errorf("create drift history of %s: %w", model, err)
		}
		countKey := []byte("n/" + model)
		var n uint64
		if v := root.Get(countKey); len(v) == 8 {
			n = binary.BigEndian.Uint64(v)
		}
		for i, key := range keys {
			if b.Get(key) == nil {
				n++
			}
			if err := b.Put(key, raws[i]); err != nil {
				return err
			}
		}
		// Drop what is too old, then the oldest beyond the bound.
		c := b.Cursor()
		for k, _ := c.First(); k != nil && (string(k) < string(oldest) || n > uint64(opts.MaxPoints)); k, _ = c.First() {
			if err := b.Delete(k); err != nil {
				return err
			}
			n--
		}
		return root.Put(countKey, u64key(n))
	})
}

// encodeDriftPoint validates p and returns its stored form.
func encodeDriftPoint(p DriftPoint) ([]byte, error) {
	if p.Time.IsZero() {
		return nil, fieldErr("time", "a drift point needs a time")
	}
	if len(p.Features) > maxHistoryFeatures {
		return nil, fieldErr("features", "%d features, at most %d", len(p.Features), maxHistoryFeatures)
	}
	return appendDriftPoint(nil, p), nil
}

// DriftHistoryQuery selects drift points of one model.
type DriftHistoryQuery struct {
	Model string
	// Feature, when set, keeps only that feature's PSI in each point.
	Feature string
	// Verdicts leaves every point's Features empty (the largest PSI and the
	// drifted names stay): what the drift events need, read faster.
	Verdicts bool
	// Since and Until bound the times (zero: no bound); Until is exclusive.
	Since, Until time.Time
	// MaxPoints downsamples a longer range into at most this many points of
	// equal time spans (default 500, at most 10000).
	MaxPoints int
}

// DriftHistory returns the drift points of a model in time order, at most
// q.MaxPoints: a longer range is cut into equal time spans, each keeping
// the maximum PSIs of its checks (so a spike never disappears), the OR of
// their alert flags and the verdict of the last. A model without history
// gives an empty slice. It returns a *FieldError for an invalid query.
func (s *Store) DriftHistory(ctx context.Context, q DriftHistoryQuery) ([]DriftPoint, error) {
	out, err := s.driftHistory(q)
	s.observe("drift_history", err)
	if err != nil {
		return nil, fmt.Errorf("drift history of %s: %w", q.Model, err)
	}
	return out, nil
}

func (s *Store) driftHistory(q DriftHistoryQuery) ([]DriftPoint, error) {
	if err := validName("model", q.Model); err != nil {
		return nil, err
	}
	switch {
	case q.MaxPoints == 0:
		q.MaxPoints = 500
	case q.MaxPoints < 0 || q.MaxPoints > 10000:
		return nil, fieldErr("max_points", "%d is not between 1 and 10000", q.MaxPoints)
	}
	if !q.Until.IsZero() && !q.Since.IsZero() && !q.Until.After(q.Since) {
		return nil, fieldErr("until", "must be after since")
	}
	var pts []DriftPoint
	err := s.db.View(func(tx *bbolt.Tx) error {
		root := tx.Bucket(bucketDriftHistory)
		if root == nil {
			return nil
		}
		b := root.Bucket([]byte(q.Model))
		if b == nil {
			return nil
		}
		c := b.Cursor()
		k, v := c.First()
		if !q.Since.IsZero() {
			k, v = c.Seek(timeKey(q.Since))
		}
		var until []byte
		if !q.Until.IsZero() {
			until = timeKey(q.Until)
		}
		for ; k != nil; k, v = c.Next() {
			if until != nil && string(k) >= string(until) {
				break
			}
			p, err := decodeDriftPoint(k, v, q.Feature, q.Verdicts)
			if err != nil {
				return err
			}
			pts = append(pts, p)
		}
		return nil
	})
	if err != nil {
		return nil, err
	}
	if pts == nil {
		return []DriftPoint{}, nil
	}
	return downsampleDrift(pts, q.MaxPoints), nil
}

// decodeDriftPoint reads a stored point, keeping only feature when set,
// and no feature with verdicts.
func decodeDriftPoint(k, v []byte, feature string, verdicts bool) (DriftPoint, error) {
	if len(k) != 8 {
		return DriftPoint{}, fmt.Errorf("drift history key %x: not a time", k)
	}
	t := time.Unix(0, int64(binary.BigEndian.Uint64(k))).UTC()
	if len(v) > 0 && v[0] == driftPointFormat {
		p := DriftPoint{Time: t, Points: 1}
		if err := decodePointV2(v, &p, feature, verdicts); err != nil {
			return DriftPoint{}, fmt.Errorf("decode drift point %x: %w", k, err)
		}
		return p, nil
	}
	// Format 1: JSON.
	if feature == "" && !verdicts {
		var rec driftPointRecord
		if err := json.Unmarshal(v, &rec); err != nil {
			return DriftPoint{}, fmt.Errorf("decode drift point %x: %w", k, err)
		}
		p := DriftPoint{Time: t, Version: rec.Version, WindowRecords: rec.Window,
			MaxPSI: rec.MaxPSI, PredictionPSI: rec.PredPSI, DriftShare: rec.Share, DriftedFeatures: rec.NDrifted,
			DatasetDrift: rec.Flags&1 != 0, Retrain: rec.Flags&2 != 0, Alert: rec.Flags&4 != 0, Features: rec.Features, Drifted: rec.Drifted, Performance: rec.Perf, Points: 1}
		if p.Features == nil {
			p.Features = map[string]float64{}
		}
		return p, nil
	}
	var rec driftPointHead
	if err := json.Unmarshal(v, &rec); err != nil {
		return DriftPoint{}, fmt.Errorf("decode drift point %x: %w", k, err)
	}
	p := DriftPoint{Time: t, Version: rec.Version, WindowRecords: rec.Window,
		MaxPSI: rec.MaxPSI, PredictionPSI: rec.PredPSI, DriftShare: rec.Share, DriftedFeatures: rec.NDrifted,
		DatasetDrift: rec.Flags&1 != 0, Retrain: rec.Flags&2 != 0, Alert: rec.Flags&4 != 0, Features: map[string]float64{}, Drifted: rec.Drifted, Performance: rec.Perf, Points: 1}
	if feature != "" {
		x, ok, err := rawFeature(rec.Features, feature)
		if err != nil {
			return DriftPoint{}, fmt.Errorf("decode drift point %x: feature %q: %w", k, feature, err)
		}
		if ok {
			p.Features[feature] = x
		}
		p.Drifted = nil
		if slices.Contains(rec.Drifted, feature) {
			p.Drifted = []string{feature}
		}
	}
	return p, nil
}

// rawFeature finds name's value in a stored feature map ({"name":number,...},
// as json.Marshal wrote it) without decoding the map: the values are
// numbers, so the key's encoding right after '{' or ',' can only be that key.
func rawFeature(raw json.RawMessage, name string) (float64, bool, error) {
	key, err := json.Marshal(name)
	if err != nil {
		return 0, false, err
	}
	key = append(key, ':')
	if bytes.Contains(raw, []byte(`\ufffd`)) {
		// A key that was not valid UTF-8 is stored as U+FFFD: only a
		// decode finds it by its decoded name.
		var m map[string]float64
		if err := json.Unmarshal(raw, &m); err != nil {
			return 0, false, err
		}
		x, ok := m[name]
		return x, ok, nil
	}
	for off := 0; ; {
		i := bytes.Index(raw[off:], key)
		if i < 0 {
			return 0, false, nil
		}
		i += off
		if i > 0 && (raw[i-1] == '{' || raw[i-1] == ',') {
			rest := raw[i+len(key):]
			end := bytes.IndexAny(rest, ",}")
			if end < 0 {
				return 0, false, errors.New("unterminated value")
			}
			x, err := strconv.ParseFloat(string(rest[:end]), 64)
			if err != nil {
				return 0, false, err
			}
			return x, true, nil
		}
		off = i + 1
	}
}

// downsampleDrift merges time-ordered points into at most max points of
// equal time spans.
func downsampleDrift(pts []DriftPoint, max int) []DriftPoint {
	if len(pts) <= max {
		return pts
	}
	first, last := pts[0].Time, pts[len(pts)-1].Time
	span := last.Sub(first)/time.Duration(max) + 1
	out := make([]DriftPoint, 0, max)
	for _, p := range pts {
		slot := int(p.Time.Sub(first) / span)
		if len(out) > 0 && int(out[len(out)-1].Time.Sub(first)/span) == slot {
			mergeDriftPoint(&out[len(out)-1], p)
			continue
		}
		p.Features = cloneFeatures(p.Features)
		out = append(out, p)
	}
	return out
}

// mergeDriftPoint folds p, a later check, into agg.
func mergeDriftPoint(agg *DriftPoint, p DriftPoint) {
	agg.MaxPSI = math.Max(agg.MaxPSI, p.MaxPSI)
	if p.PredictionPSI != nil && (agg.PredictionPSI == nil || *p.PredictionPSI > *agg.PredictionPSI) {
		x := *p.PredictionPSI
		agg.PredictionPSI = &x
	}
	for k, v := range p.Features {
		if v > agg.Features[k] {
			agg.Features[k] = v
		}
	}
	for _, d := range p.Drifted {
		if !slices.Contains(agg.Drifted, d) {
			agg.Drifted = append(agg.Drifted, d)
		}
	}
	slices.Sort(agg.Drifted)
	agg.Alert = agg.Alert || p.Alert
	agg.Performance = mergePerformance(agg.Performance, p.Performance)
	if m := p.Multivariate; m != nil {
		c := *m
		if a := agg.Multivariate; a != nil {
			c.Error, c.Drifted = math.Max(a.Error, m.Error), a.Drifted || m.Drifted
		}
		agg.Multivariate = &c
	}
	agg.Time, agg.Version, agg.WindowRecords = p.Time, p.Version, p.WindowRecords
	agg.DriftShare, agg.DriftedFeatures, agg.DatasetDrift, agg.Retrain = p.DriftShare, p.DriftedFeatures, p.DatasetDrift, p.Retrain
	agg.Points += p.Points
}

// mergePerformance folds b, a later check's performance, into a: the worst
// figures (lowest accuracy and AUC, highest errors) and b's bands.
func mergePerformance(a, b *PerformancePoint) *PerformancePoint {
	if a == nil || b == nil {
		if b == nil {
			return a
		}
		c := *b
		return &c
	}
	low := func(x, y *float64) *float64 {
		if x == nil || (y != nil && *y < *x) {
			return y
		}
		return x
	}
	high := func(x, y *float64) *float64 {
		if x == nil || (y != nil && *y > *x) {
			return y
		}
		return x
	}
	c := *b
	c.EstimatedAccuracy, c.EstimatedAUC = low(a.EstimatedAccuracy, b.EstimatedAccuracy), low(a.EstimatedAUC, b.EstimatedAUC)
	c.Accuracy, c.AUC = low(a.Accuracy, b.Accuracy), low(a.AUC, b.AUC)
	c.EstimatedRMSE, c.EstimatedMAE = high(a.EstimatedRMSE, b.EstimatedRMSE), high(a.EstimatedMAE, b.EstimatedMAE)
	c.RMSE, c.MAE = high(a.RMSE, b.RMSE), high(a.MAE, b.MAE)
	c.Drop = a.Drop || b.Drop
	return &c
}

// cloneFeatures copies a map, so merging never writes into a decoded point's map.
func cloneFeatures(m map[string]float64) map[string]float64 {
	out := make(map[string]float64, len(m))
	for k, v := range m {
		out[k] = v
	}
	return out
}

// timeKey encodes t as a sortable key: big-endian unix nanoseconds (times
// before 1970 sort as 0).
func timeKey(t time.Time) []byte {
	n := t.UnixNano()
	if n < 0 {
		n = 0
	}
	return u64key(uint64(n))
}

// finiteOr0 stores NaN and infinities as 0: the history keeps PSIs, which a
// check without data reports as 0 too.
func finiteOr0(v float64) float64 {
	if math.IsNaN(v) || math.IsInf(v, 0) {
		return 0
	}
	return v
}

// finitePtr drops a pointer to a non-finite number.
func finitePtr(p *float64) *float64 {
	if p == nil || math.IsNaN(*p) || math.IsInf(*p, 0) {
		return nil
	}
	x := *p
	return &x
}
