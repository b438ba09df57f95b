package demo

import (
	"bufio"
	"bytes"
	"fmt"
	"io"
	"math"
	"math/rand/v2"
	"os"
	"path/filepath"
	"strconv"
	"time"
)

// NumFeatures is the number of numeric features, f0..f5.
const NumFeatures = 6

// NumConcepts is the number of distinct concepts the demo cycles through.
const NumConcepts = 4

// Levels are the levels of the categorical feature c0.
var Levels = [4]string{"a", "b", "c", "d"}

// Concept is one synthetic data-generating process: how the features are
// distributed and how they decide the binary label.
type Concept struct {
	Index int
	// Mean and Scale are the normal distribution of each numeric feature.
	Mean, Scale [NumFeatures]float64
	// CatProb are the proportions of c0's levels a..d.
	CatProb [len(Levels)]float64
	// Weights and CatWeight are the logit's coefficients; Bias centres the
	// logit on zero under the concept's own distribution, so that both
	// labels stay common.
	Weights   [NumFeatures]float64
	CatWeight [len(Levels)]float64
	Bias      float64
}

// concepts are the tables of ConceptAt. Each differs from the one before it
// in the distribution of some features (so that drift shows) and in the
// weights (so that the model of the previous concept scores the new data
// badly, below chance for most pairs, and a model trained on a few hundred
// new records beats it). The logit's standard deviation is about 2.3 to 2.6
// under every concept, which a GBDT turns into an AUC of about 0.85.
var concepts = [NumConcepts]Concept{
	{
		Mean:      [NumFeatures]float64{0, 0, 0, 0, 0, 0},
		Scale:     [NumFeatures]float64{1, 1, 1, 1, 1, 1},
		CatProb:   [4]float64{0.4, 0.3, 0.2, 0.1},
		Weights:   [NumFeatures]float64{1.4, -1.1, 0.9, 0.7, -0.6, 0},
		CatWeight: [4]float64{-0.9, 0, 0.6, 1.2},
	},
	{ // f0 mean +1.5, f2 scale ×2, c0 proportions reversed
		Mean:      [NumFeatures]float64{1.5, 0, 0, 0, 0, 0},
		Scale:     [NumFeatures]float64{1, 1, 2, 1, 1, 1},
		CatProb:   [4]float64{0.1, 0.2, 0.3, 0.4},
		Weights:   [NumFeatures]float64{-1.2, 0.9, 0.4, 1.3, 0.8, 0.6},
		CatWeight: [4]float64{0.8, 0.3, -0.2, -0.7},
	},
	{ // f0 back, f4 mean +2, f1 scale ×1.8, c0 uniform
		Mean:      [NumFeatures]float64{0, 0, 0, 0, 2, 0},
		Scale:     [NumFeatures]float64{1, 1.8, 1, 1, 1, 1},
		CatProb:   [4]float64{0.25, 0.25, 0.25, 0.25},
		Weights:   [NumFeatures]float64{0.5, 0.8, -1.3, -0.9, -0.7, 1.1},
		CatWeight: [4]float64{0, 1.0, -0.8, 0.2},
	},
	{ // f3 mean -1.5, f5 mean +1, f1 scale ×0.5, c0 to b and c
		Mean:      [NumFeatures]float64{0, 0, 0, -1.5, 0, 1},
		Scale:     [NumFeatures]float64{1, 0.5, 1, 1, 1, 1},
		CatProb:   [4]float64{0.1, 0.4, 0.4, 0.1},
		Weights:   [NumFeatures]float64{-0.8, -1.6, 0.9, 1.2, 0.6, -1.0},
		CatWeight: [4]float64{1.0, -0.6, 0.6, -1.0},
	},
}

// ConceptAt returns concept k (modulo NumConcepts) with its bias set.
func ConceptAt(k int) Concept {
	k = ((k % NumConcepts) + NumConcepts) % NumConcepts
	c := concepts[k]
	c.Index = k
	mean := 0.0
	for i := range NumFeatures {
		mean += c.Weights[i] * c.Mean[i]
	}
	for j := range Levels {
		mean += c.CatProb[j] * c.CatWeight[j]
	}
	c.Bias = -mean
	return c
}

// Row is one generated example.
type Row struct {
	F     [NumFeatures]float64
	Cat   int // index into Levels
	Label int // 0 or 1
}

// C0 returns the level of the categorical feature.
func (r Row) C0() string { return Levels[r.Cat] }

// Sample draws one example from the concept; the same generator state gives
// the same row.
func (c Concept) Sample(rng *rand.Rand) Row {
	var r Row
	for i := range NumFeatures {
		// Rounded so that the CSV and the JSON records carry the same value.
		r.F[i] = math.Round((c.Mean[i]+c.Scale[i]*rng.NormFloat64())*1e4) / 1e4
	}
	u := rng.Float64()
	r.Cat = len(Levels) - 1
	for j, p := range c.CatProb {
		if u < p {
			r.Cat = j
			break
		}
		u -= p
	}
	if rng.Float64() < 1/(1+math.Exp(-c.Logit(r))) {
		r.Label = 1
	}
	return r
}

// Logit returns the log-odds of label 1 for the row's features under c.
func (c Concept) Logit(r Row) float64 {
	z := c.Bias + c.CatWeight[r.Cat]
	for i := range NumFeatures {
		z += c.Weights[i] * r.F[i]
	}
	return z
}

// newRand returns the generator of one stream of rows for the seed.
func newRand(seed, stream uint64) *rand.Rand {
	return rand.New(rand.NewPCG(seed, 0x6a09e667f3bcc909^stream))
}

// WriteCSV writes n rows of concept c drawn from a generator seeded with
// seed: columns id, f0..f5, c0, label; ids are "train-<n>".
func WriteCSV(w io.Writer, c Concept, n int, seed uint64) error {
	bw := bufio.NewWriter(w)
	bw.WriteString("id")
	for i := range NumFeatures {
		bw.WriteString(",f" + strconv.Itoa(i))
	}
	bw.WriteString(",c0,label\n")
	rng := newRand(seed, uint64(c.Index))
	var line []byte
	for k := range n {
		r := c.Sample(rng)
		line = strconv.AppendInt(append(line[:0], "train-"...), int64(k+1), 10)
		for _, v := range r.F {
			line = strconv.AppendFloat(append(line, ','), v, 'f', -1, 64)
		}
		line = append(line, ',')
		line = append(line, r.C0()...)
		line = append(line, ',', byte('0'+r.Label), '\n')
		if _, err := bw.Write(line); err != nil {
			return fmt.Errorf("write demo data: %w", err)
		}
	}
	if err := bw.Flush(); err != nil {
		return fmt.Errorf("write demo data: %w", err)
	}
	return nil
}

// AppendRecord appends the features record of r as a JSON object:
// {"id", "ts" (RFC 3339), "f0".."f5", "c0"}.
func AppendRecord(b []byte, id string, ts time.Time, r Row) []byte {
	b = append(b, `{"id":"`...)
	b = append(b, id...) // ids are made of [a-z0-9-]
	b = append(b, `","ts":"`...)
	b = ts.UTC().AppendFormat(b, time.RFC3339Nano)
	b = append(b, '"')
	for i, v := range r.F {
		b = append(b, `,"f`...)
		b = strconv.AppendInt(b, int64(i), 10)
		b = append(b, `":`...)
		b = strconv.AppendFloat(b, v, 'f', -1, 64)
	}
	b = append(b, `,"c0":"`...)
	b = append(b, r.C0()...)
	return append(b, `"}`...)
}

// AppendLabel appends the label record {"id", "label": "0"|"1"}.
func AppendLabel(b []byte, id string, label int) []byte {
	b = append(b, `{"id":"`...)
	b = append(b, id...)
	b = append(b, `","label":"`...)
	b = append(b, byte('0'+label))
	return append(b, `"}`...)
}

// WriteSampleFile writes n labelled rows of the first concept as CSV to
// path (its directory created), through a temporary file so a reader never
// sees half of it: the demo's training data, and the Overview's one-click
// sample.
func WriteSampleFile(path string, n int, seed uint64) error {
	var buf bytes.Buffer
	if err := WriteCSV(&buf, ConceptAt(0), n, seed); err != nil {
		return err
	}
	if err := os.MkdirAll(filepath.Dir(path), 0o750); err != nil {
		return fmt.Errorf("write %s: %w", path, err)
	}
	return writeFileAtomic(path, buf.Bytes())
}
