package drift

import (
	"bytes"
	"encoding/binary"
	"encoding/json"
	"errors"
	"fmt"
	"hash/crc32"
	"math"
	"math/rand/v2"
	"os"
	"slices"
	"testing"
)

func testProfile(t testing.TB) *Profile {
	t.Helper()
	rng := rand.New(rand.NewPCG(11, 12))
	cols := genData(rng, 3000, 0)
	preds := make([]float64, 500)
	for i := range preds {
		preds[i] = rng.Float64()
	}
	p, err := BuildProfile(cols, preds, ProfileOptions{SummarySize: 200})
	if err != nil {
		t.Fatal(err)
	}
	return p
}

func TestProfileRoundTrip(t *testing.T) {
	p := testProfile(t)
	b, err := p.MarshalBinary()
	if err != nil {
		t.Fatal(err)
	}
	q, err := DecodeProfile(b)
	if err != nil {
		t.Fatal(err)
	}
	b2, _ := q.MarshalBinary()
	if !bytes.Equal(b, b2) {
		t.Fatal("re-encoded profile differs")
	}
	if q.Prediction == nil || len(q.Features) != 4 || q.Features[3].Categories[0] != p.Features[3].Categories[0] {
		t.Fatalf("decoded profile %+v", q)
	}
	if q.Features[0].KSError <= 0 || q.Features[0].W1Error <= 0 || len(q.Features[0].Summary) != 200 {
		t.Errorf("summary of 3000 values in 200: error bounds %v %v, len %d", q.Features[0].KSError, q.Features[0].W1Error, len(q.Features[0].Summary))
	}
	// A decoded profile drives a monitor (category index rebuilt).
	m, err := NewMonitor(q, MonitorOptions{WindowSize: 10, MinWindow: 10, CheckInterval: 10})
	if err != nil {
		t.Fatal(err)
	}
	for i := 0; i < 10; i++ {
		m.Observe([]float64{0, 1, 0.5, 0}, []string{"", "", "", q.Features[3].Categories[0]}, 0.5)
	}
	m.Close() // evaluates the queued check
	if ev := m.Snapshot(); ev.Features[3].Rows != 10 || ev.Features[3].PSI <= 0 {
		t.Errorf("monitor on a decoded profile: %+v", ev.Features[3])
	}
}

func TestDecodeProfileBadInput(t *testing.T) {
	good, _ := testProfile(t).MarshalBinary()
	flipped := bytes.Clone(good)
	flipped[len(flipped)/2] ^= 0xff
	cases := map[string][]byte{
		"empty":              nil,
		"foreign":            []byte("PK\x03\x04 a zip file"),
		"version":            append([]byte("DRFP\x09"), good[5:]...),
		"header only sealed": binary.LittleEndian.AppendUint32([]byte("DRFP\x01"), crc32.ChecksumIEEE([]byte("DRFP\x01"))),
		"truncated":          good[:len(good)-3],
		"trailing":           append(bytes.Clone(good), 0),
		"header only":        good[:5],
		"flipped byte":       flipped,
	}
	for name, b := range cases {
		if _, err := DecodeProfile(b); !errors.Is(err, ErrCorruptProfile) {
			t.Errorf("%s: error %v, want ErrCorruptProfile", name, err)
		}
	}
}

func FuzzDecodeProfile(f *testing.F) {
	good, _ := testProfile(f).MarshalBinary()
	body := good[:len(good)-4] // seeds without their checksum (the target seals them)
	f.Add(body)
	f.Add(body[:40])
	f.Add([]byte("DRFP\x01"))
	small, _ := BuildProfile([]Column{numCol("a", 1, 2), catCol("c", "x", "")}, nil, ProfileOptions{})
	sb, _ := small.MarshalBinary()
	f.Add(sb[:len(sb)-4])
	// A small profile with a PCA (version 4), with and without a calibrator.
	rng := rand.New(rand.NewPCG(1, 2))
	a, c := make([]float64, 120), make([]string, 120)
	for i := range a {
		a[i] = float64(i % 7)
		c[i] = []string{"x", "y", "z"}[(i+i/7)%3]
	}
	pca, err := BuildProfile([]Column{numCol("a", a...), catCol("c", c...)}, nil, ProfileOptions{SummarySize: 8, BandChunks: -1})
	if err != nil || pca.PCA == nil {
		f.Fatalf("seed profile without PCA: %v", err)
	}
	for _, cal := range []*Calibrator{nil, {X: []float64{rng.Float64()}, Y: []float64{0.5}, Threshold: 0.5, Rows: 3}} {
		pca.Calibration = cal
		pb, _ := pca.MarshalBinary()
		f.Add(pb[:len(pb)-4])
	}
	// Version 5: a multiclass calibration, a loss reference, with and
	// without a PCA.
	for _, q := range []*Profile{pca, small} {
		q.Multiclass, q.Loss = v5Parts()
		qb, _ := q.MarshalBinary()
		f.Add(qb[:len(qb)-4])
		q.Multiclass = nil
		qb, _ = q.MarshalBinary()
		f.Add(qb[:len(qb)-4])
	}
	f.Fuzz(func(t *testing.T, b []byte) {
		if _, err := DecodeProfile(b); err != nil && !errors.Is(err, ErrCorruptProfile) {
			t.Fatalf("error %v does not wrap ErrCorruptProfile", err)
		}
		// Seal the input with a valid checksum so the fuzzer reaches the parser.
		b = binary.LittleEndian.AppendUint32(bytes.Clone(b), crc32.ChecksumIEEE(b))
		p, err := DecodeProfile(b)
		if err != nil {
			if !errors.Is(err, ErrCorruptProfile) {
				t.Fatalf("error %v does not wrap ErrCorruptProfile", err)
			}
			return
		}
		// Anything accepted re-encodes identically and drives a window.
		out, _ := p.MarshalBinary()
		if !bytes.Equal(out, b) {
			t.Fatalf("re-encoding differs")
		}
		w, err := NewWindow(p, 4)
		if err != nil {
			return
		}
		num := make([]float64, len(p.Features))
		cat := make([]string, len(p.Features))
		for i := range cat {
			cat[i] = "zz"
		}
		w.Add(num, cat, 0)
		if _, _, err := p.CheckCounts(w.Counts(), CompareOptions{}); err != nil {
			t.Fatal(err)
		}
		// A PCA that decodes drives a monitor's multivariate check.
		m, err := NewMonitor(p, MonitorOptions{WindowSize: 3, MinWindow: 1, CheckInterval: 2, Thresholds: RuleFixed})
		if err != nil {
			return
		}
		for i := range 4 {
			num[0] = float64(i)
			if p.Multiclass != nil {
				m.ObserveProba(num, cat, 0, make([]float64, len(p.Multiclass.Classes)))
			} else {
				m.Observe(num, cat, 0)
			}
		}
		ev := m.Check()
		m.Close()
		if (ev.Estimated != nil) != (p.Multiclass != nil || p.Calibration != nil && p.Prediction != nil) {
			t.Fatalf("estimate %v with multiclass %v", ev.Estimated, p.Multiclass != nil)
		}
		if (ev.Multivariate != nil) != (p.PCA != nil) {
			t.Fatalf("multivariate %v with PCA %v", ev.Multivariate, p.PCA != nil)
		}
	})
}

// TestPCAProfileRoundTrip encodes profiles with a PCA (format version 4),
// with and without a calibrator and bands, and decodes them to the same
// PCA and bytes.
func TestPCAProfileRoundTrip(t *testing.T) {
	cal := &Calibrator{X: []float64{0.1, 0.9}, Y: []float64{0.2, 0.8}, Threshold: 0.5, Rows: 40}
	for _, tc := range []struct {
		name  string
		cal   *Calibrator
		bands bool
	}{{"bands", nil, true}, {"bands and calibrator", cal, true}, {"calibrator", cal, false}, {"neither", nil, false}} {
		t.Run(tc.name, func(t *testing.T) {
			o := ProfileOptions{SummarySize: 100}
			if !tc.bands {
				o.BandChunks = -1
			}
			p := mustPCAProfile(t, genData(rand.New(rand.NewPCG(3, 4)), 1500, 0), o)
			p.Calibration = tc.cal
			b, err := p.MarshalBinary()
			if err != nil {
				t.Fatal(err)
			}
			if b[4] != profileVersionV4 {
				t.Fatalf("format version %d, want 4", b[4])
			}
			q, err := DecodeProfile(b)
			if err != nil {
				t.Fatal(err)
			}
			if fmt.Sprintf("%+v", *q.PCA) != fmt.Sprintf("%+v", *p.PCA) {
				t.Fatalf("PCA %+v, want %+v", *q.PCA, *p.PCA)
			}
			if (q.Calibration != nil) != (tc.cal != nil) || len(q.PCA.Bands) != len(q.BandSizes) || tc.bands != (len(q.BandSizes) > 0) {
				t.Fatalf("calibrator %v, %d PCA bands for %d sizes", q.Calibration, len(q.PCA.Bands), len(q.BandSizes))
			}
			again, _ := q.MarshalBinary()
			if !bytes.Equal(again, b) {
				t.Fatal("re-encoded profile differs")
			}
		})
	}
}

// TestDecodeProfileBadPCA encodes profiles whose PCA is inconsistent and
// checks that decoding refuses each one.
func TestDecodeProfileBadPCA(t *testing.T) {
	base := mustPCAProfile(t, genData(rand.New(rand.NewPCG(3, 4)), 1500, 0), ProfileOptions{SummarySize: 100})
	for _, tc := range []struct {
		name   string
		change func(c *PCA)
	}{
		{"slots of a missing feature", func(c *PCA) { c.Slots = c.Slots[:len(c.Slots)-1] }},
		{"numeric with two slots", func(c *PCA) { c.Slots[0] = 2 }},
		{"more slots than categories", func(c *PCA) { c.Slots[3] = 99 }},
		{"centres short", func(c *PCA) { c.Center = c.Center[1:] }},
		{"zero scale", func(c *PCA) { c.Scale[1] = 0 }},
		{"NaN centre", func(c *PCA) { c.Center[0] = math.NaN() }},
		{"no component", func(c *PCA) { c.K, c.Components = 0, nil }},
		{"components short", func(c *PCA) { c.Components = c.Components[1:] }},
		{"infinite component", func(c *PCA) { c.Components[0] = math.Inf(1) }},
		{"negative error", func(c *PCA) { c.RefError = -1 }},
		{"no fitted rows", func(c *PCA) { c.FitRows = 0 }},
		{"bands short", func(c *PCA) { c.Bands = c.Bands[1:] }},
		{"negative band SD", func(c *PCA) { c.Bands[0].SD = -1 }},
	} {
		t.Run(tc.name, func(t *testing.T) {
			p := *base
			c := *base.PCA
			c.Slots, c.Center, c.Scale = slices.Clone(c.Slots), slices.Clone(c.Center), slices.Clone(c.Scale)
			c.Components, c.Bands = slices.Clone(c.Components), slices.Clone(c.Bands)
			tc.change(&c)
			p.PCA = &c
			b, err := p.MarshalBinary()
			if err != nil {
				t.Fatal(err)
			}
			if _, err := DecodeProfile(b); !errors.Is(err, ErrCorruptProfile) {
				t.Errorf("decoded with error %v, want ErrCorruptProfile", err)
			}
		})
	}
}

// TestDecodeProfileBeforePCA decodes profiles written before PCA existed
// (committed fixtures: format version 2, and version 3 with a calibrator,
// written by the encoder of that time): they load without a PCA, a monitor
// of them reports no multivariate drift, and the same profile built without
// a PCA is still encoded to the same bytes.
func TestDecodeProfileBeforePCA(t *testing.T) {
	for _, tc := range []struct {
		file    string
		version byte
		rebuild func() *Profile
	}{
		{"testdata/profile_v2_before_calibration.bin", profileVersionV2, nil},
		{"testdata/profile_v3_before_pca.bin", profileVersionV3, func() *Profile {
			// How the fixture was made (before format version 4).
			rng := rand.New(rand.NewPCG(16, 3))
			cols := genData(rng, 600, 0)
			preds := make([]float64, 600)
			for i := range preds {
				preds[i] = rng.Float64()
			}
			p, err := BuildProfile(cols, preds, ProfileOptions{SummarySize: 50, BandChunks: 10, PCAVariance: -1})
			if err != nil {
				t.Fatal(err)
			}
			p.Calibration = &Calibrator{X: []float64{0.1, 0.5, 0.9}, Y: []float64{0, 0.4, 1}, Threshold: 0.5, Rows: 600}
			return p
		}},
	} {
		t.Run(tc.file, func(t *testing.T) {
			raw, err := os.ReadFile(tc.file)
			if err != nil {
				t.Fatal(err)
			}
			if raw[4] != tc.version {
				t.Fatalf("fixture version %d, want %d", raw[4], tc.version)
			}
			p, err := DecodeProfile(raw)
			if err != nil {
				t.Fatal(err)
			}
			if p.PCA != nil {
				t.Fatal("an old profile decoded with a PCA")
			}
			m, err := NewMonitor(p, MonitorOptions{WindowSize: 20, MinWindow: 20, CheckInterval: 20})
			if err != nil {
				t.Fatal(err)
			}
			num, cat := make([]float64, len(p.Features)), make([]string, len(p.Features))
			for i := range 20 {
				num[0] = float64(i)
				m.Observe(num, cat, 0.5)
			}
			m.Close()
			if ev := m.Snapshot(); ev.WindowRecords != 20 || ev.Multivariate != nil {
				t.Fatalf("event on %d records, multivariate %+v", ev.WindowRecords, ev.Multivariate)
			}
			if tc.rebuild == nil {
				return
			}
			if p.Calibration == nil || len(p.Features) != 4 {
				t.Fatalf("calibrator %v, %d features", p.Calibration, len(p.Features))
			}
			b, err := tc.rebuild().MarshalBinary()
			if err != nil {
				t.Fatal(err)
			}
			if !bytes.Equal(b, raw) {
				t.Fatal("a profile without a PCA is no longer encoded as before")
			}
			// The same data with a PCA is written as version 4.
			q := tc.rebuild()
			q2, err := BuildProfile(genData(rand.New(rand.NewPCG(16, 3)), 600, 0), nil, ProfileOptions{SummarySize: 50, BandChunks: 10})
			if err != nil || q2.PCA == nil {
				t.Fatalf("rebuilt with PCA: %v, %s", err, q2.PCASkipped)
			}
			q.PCA = q2.PCA
			if b, _ := q.MarshalBinary(); b[4] != profileVersionV4 {
				t.Errorf("with a PCA: version %d, want 4", b[4])
			}
		})
	}
}

func TestEventAndPerformanceJSONHaveNoNaN(t *testing.T) {
	p, _ := BuildProfile([]Column{numCol("a", 1, 2, 3)}, nil, ProfileOptions{})
	m, _ := NewMonitor(p, MonitorOptions{Model: "m", WindowSize: 2, MinWindow: 2, CheckInterval: 2})
	m.Observe([]float64{nan}, nil, 0)
	m.Observe([]float64{9}, nil, 0)
	m.Close()
	for _, v := range []any{m.Snapshot(), m.Performance()} {
		b, err := json.Marshal(v)
		if err != nil || bytes.Contains(b, []byte("NaN")) {
			t.Fatalf("%s: %v", b, err)
		}
		if !bytes.Contains(b, []byte(`"prediction_psi":null`)) && !bytes.Contains(b, []byte(`"auc":null`)) {
			t.Errorf("non-finite field not null: %s", b)
		}
	}
}

// v5Parts are a small multiclass calibration and loss reference.
func v5Parts() (*MulticlassCalibration, *LossReference) {
	mc := &MulticlassCalibration{Classes: []string{"a", "b", "c"}, Rows: 7,
		Calibrators: []*Calibrator{
			{X: []float64{0.1, 0.9}, Y: []float64{0, 1}, Threshold: 0.5, Rows: 7},
			{X: []float64{0.2}, Y: []float64{0.4}, Threshold: 0.5, Rows: 7},
			{X: []float64{0, 0.5, 1}, Y: []float64{0.1, 0.2, 0.9}, Threshold: 0.5, Rows: 7},
		},
		Reference: []float64{0.6, 0.3, 0.1, 0.2, 0.2, 0.6}}
	loss := &LossReference{Rows: 9, MAE: 0.8, RMSE: 1.1, Abs: []float64{0.5, 1, 0}, Sq: []float64{0.3, 2, 0.1}}
	return mc, loss
}

// TestProfileV5RoundTrip encodes profiles with a multiclass calibration
// and/or a DLE loss reference (format version 5), with and without a PCA
// and calibrator, and decodes them to the same parts and bytes; profiles
// without either keep their older version.
func TestProfileV5RoundTrip(t *testing.T) {
	base := testProfile(t)
	if base.PCA == nil {
		t.Fatal("test profile without a PCA")
	}
	mc, loss := v5Parts()
	for _, tc := range []struct {
		name string
		mc   *MulticlassCalibration
		loss *LossReference
		pca  bool
		want byte
	}{
		{"multiclass", mc, nil, true, profileVersionV5},
		{"loss", nil, loss, true, profileVersionV5},
		{"both, no PCA", mc, loss, false, profileVersionV5},
		{"neither", nil, nil, true, profileVersionV4},
		{"neither, no PCA", nil, nil, false, profileVersionV2},
	} {
		t.Run(tc.name, func(t *testing.T) {
			p := testProfile(t)
			p.Multiclass, p.Loss = tc.mc, tc.loss
			if !tc.pca {
				p.PCA = nil
			}
			b, err := p.MarshalBinary()
			if err != nil {
				t.Fatal(err)
			}
			if b[4] != tc.want {
				t.Fatalf("version %d, want %d", b[4], tc.want)
			}
			q, err := DecodeProfile(b)
			if err != nil {
				t.Fatal(err)
			}
			if b2, _ := q.MarshalBinary(); !bytes.Equal(b, b2) {
				t.Fatal("re-encoded profile differs")
			}
			if (q.PCA != nil) != tc.pca || (q.Multiclass != nil) != (tc.mc != nil) || (q.Loss != nil) != (tc.loss != nil) {
				t.Fatalf("decoded PCA %v, multiclass %v, loss %v", q.PCA != nil, q.Multiclass != nil, q.Loss != nil)
			}
			if tc.mc != nil && (!slices.Equal(q.Multiclass.Classes, mc.Classes) || !slices.Equal(q.Multiclass.Reference, mc.Reference) ||
				q.Multiclass.Rows != 7 || !slices.Equal(q.Multiclass.Calibrators[2].Y, mc.Calibrators[2].Y)) {
				t.Errorf("multiclass %+v, want %+v", q.Multiclass, mc)
			}
			if tc.loss != nil && (q.Loss.Rows != 9 || q.Loss.MAE != 0.8 || q.Loss.RMSE != 1.1 || !slices.Equal(q.Loss.Abs, loss.Abs) || !slices.Equal(q.Loss.Sq, loss.Sq)) {
				t.Errorf("loss %+v, want %+v", q.Loss, loss)
			}
		})
	}
}

// TestDecodeProfileBadV5 corrupts version 5 parts: each must be refused
// with ErrCorruptProfile.
func TestDecodeProfileBadV5(t *testing.T) {
	_, loss := v5Parts()
	cases := []struct {
		name   string
		mutate func(*Profile)
	}{
		{"one class", func(p *Profile) {
			p.Multiclass.Classes, p.Multiclass.Calibrators = p.Multiclass.Classes[:1], p.Multiclass.Calibrators[:1]
			p.Multiclass.Reference = nil
		}},
		{"duplicate class", func(p *Profile) { p.Multiclass.Classes = []string{"a", "a", "c"} }},
		{"reference not a multiple of the classes", func(p *Profile) { p.Multiclass.Reference = []float64{0.5, 0.5} }},
		{"reference not a probability", func(p *Profile) { p.Multiclass.Reference = []float64{2, 0, 0} }},
		{"calibrator out of order", func(p *Profile) { p.Multiclass.Calibrators[0].Y = []float64{1, 0} }},
		{"negative predicted loss", func(p *Profile) { p.Loss.Abs = []float64{-1, 0, 0} }},
		{"loss lengths differ", func(p *Profile) { p.Loss.Sq = []float64{1} }},
		{"NaN realised error", func(p *Profile) { p.Loss.RMSE = math.NaN() }},
	}
	for _, c := range cases {
		t.Run(c.name, func(t *testing.T) {
			p := testProfile(t)
			m2, l2 := v5Parts()
			p.Multiclass, p.Loss = m2, l2
			c.mutate(p)
			b, _ := p.MarshalBinary()
			if _, err := DecodeProfile(b); !errors.Is(err, ErrCorruptProfile) {
				t.Fatalf("err %v, want ErrCorruptProfile", err)
			}
		})
	}
	// A version 5 profile whose flags say it has neither part would not
	// encode back as version 5.
	p := testProfile(t)
	p.Loss = loss
	b, _ := p.MarshalBinary()
	body := b[:len(b)-4]
	tail := appendLoss(nil, loss)
	body = append(bytes.Clone(body[:len(body)-len(tail)-1]), 0)
	body = binary.LittleEndian.AppendUint32(body, crc32.ChecksumIEEE(body))
	if _, err := DecodeProfile(body); !errors.Is(err, ErrCorruptProfile) {
		t.Fatalf("version 5 without its parts: err %v", err)
	}
}

// TestDecodeProfileBeforeMulticlass decodes a profile written before
// format version 5 (a version 4 fixture: bands, calibrator, PCA), drives a
// monitor with it, and checks that the same profile is still written byte
// for byte as before. DRIFTD_WRITE_FIXTURES=1 rewrites the fixture (it was
// written by the code of format version 4).
func TestDecodeProfileBeforeMulticlass(t *testing.T) {
	const file = "testdata/profile_v4_before_multiclass.bin"
	rebuild := func() *Profile {
		rng := rand.New(rand.NewPCG(16, 5))
		cols := genData(rng, 600, 0)
		preds := make([]float64, 600)
		for i := range preds {
			preds[i] = rng.Float64()
		}
		p, err := BuildProfile(cols, preds, ProfileOptions{SummarySize: 50, BandChunks: 10})
		if err != nil || p.PCA == nil {
			t.Fatalf("build: %v (PCA %v)", err, p.PCA != nil)
		}
		p.Calibration = &Calibrator{X: []float64{0.1, 0.5, 0.9}, Y: []float64{0, 0.4, 1}, Threshold: 0.5, Rows: 600}
		return p
	}
	if os.Getenv("DRIFTD_WRITE_FIXTURES") == "1" {
		b, _ := rebuild().MarshalBinary()
		if err := os.WriteFile(file, b, 0o644); err != nil {
			t.Fatal(err)
		}
	}
	raw, err := os.ReadFile(file)
	if err != nil {
		t.Fatal(err)
	}
	if raw[4] != profileVersionV4 {
		t.Fatalf("fixture version %d, want 4", raw[4])
	}
	p, err := DecodeProfile(raw)
	if err != nil {
		t.Fatal(err)
	}
	if p.Multiclass != nil || p.Loss != nil || p.PCA == nil || p.Calibration == nil {
		t.Fatalf("decoded multiclass %v, loss %v, PCA %v, calibrator %v", p.Multiclass, p.Loss, p.PCA != nil, p.Calibration != nil)
	}
	m, err := NewMonitor(p, MonitorOptions{WindowSize: 50, MinWindow: 50, CheckInterval: 50, Loss: lookupLoss{}})
	if err != nil {
		t.Fatal(err)
	}
	num, cat := make([]float64, len(p.Features)), make([]string, len(p.Features))
	for i := range 50 {
		num[0] = float64(i)
		m.Observe(num, cat, 0.5)
	}
	m.Close()
	if ev := m.Snapshot(); ev.WindowRecords != 50 || ev.Estimated == nil || ev.EstimatedLoss != nil || ev.Multivariate == nil {
		t.Fatalf("event on %d records: estimated %v, estimated loss %v, multivariate %v", ev.WindowRecords, ev.Estimated, ev.EstimatedLoss, ev.Multivariate)
	}
	if b, _ := rebuild().MarshalBinary(); !bytes.Equal(b, raw) {
		t.Fatal("a version 4 profile is no longer encoded as before")
	}
}
