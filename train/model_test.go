package train

import (
	"context"
	"encoding/binary"
	"errors"
	"hash/crc32"
	"math"
	"sort"
	"strings"
	"testing"
)

func trainedModel(t testing.TB) (*Model, *Dataset) {
	ds := synth(3000, 11)
	p := DefaultParams()
	p.Threads, p.Rounds = 2, 20
	m, err := Train(context.Background(), ds, synth(500, 12), p, nil)
	if err != nil {
		t.Fatal(err)
	}
	return m, ds
}

func linearModel() *Model {
	feats := []FeatureSpec{{Name: "x", Kind: Numeric}, {Name: "c", Kind: Categorical, Levels: []string{"a", "b"}}}
	lin := &Linear{Classes: 3, Coef: [][]float64{{1, 2, -1}, {0.5, -1, 0}, {-2, 0.1, 3}}, Intercept: []float64{0.1, 0, -0.2},
		Mean: []float64{1, 0.5, 0.5}, Scale: []float64{2, 0.5, 0.5},
		Expand: []LinearInput{{Feature: 0, Level: -1}, {Feature: 1, Level: 0}, {Feature: 1, Level: 1}}}
	m := newLinearModel("multiclass", feats, []string{"p", "q", "r"}, lin)
	m.params["c"] = 1.0
	return m
}

func TestEncodeDecodeRoundTrip(t *testing.T) {
	gb, ds := trainedModel(t)
	gb.Attach("drift.profile", []byte{1, 2, 3})
	gb.SetMetric("test_auc", 0.91)
	for name, m := range map[string]*Model{"gbdt": gb, "linear": linearModel()} {
		t.Run(name, func(t *testing.T) {
			b, err := m.MarshalBinary()
			if err != nil {
				t.Fatal(err)
			}
			d, err := Decode(b)
			if err != nil {
				t.Fatal(err)
			}
			b2, err := d.MarshalBinary()
			if err != nil {
				t.Fatal(err)
			}
			if string(b) != string(b2) {
				t.Fatal("re-encoding a decoded model changed its bytes")
			}
			if d.Algo() != m.Algo() || d.Objective() != m.Objective() || strings.Join(d.Classes(), ",") != strings.Join(m.Classes(), ",") {
				t.Fatalf("header changed: %s %s %v", d.Algo(), d.Objective(), d.Classes())
			}
			rows := [][]float64{{0.3, 1}, {math.NaN(), 0}, {-5, math.NaN()}, {2, 7}}
			if name == "gbdt" {
				rows = rowsOf(t, m, ds)[:500]
				rows = append(rows, []float64{math.NaN(), math.NaN(), math.NaN(), math.NaN(), math.NaN(), math.NaN(), math.NaN()})
			}
			pa, pb := make([]float64, 3), make([]float64, 3)
			for i, row := range rows {
				if x, y := m.PredictRow(row), d.PredictRow(row); math.Float64bits(x) != math.Float64bits(y) {
					t.Fatalf("row %d: %v before, %v after", i, x, y)
				}
				m.PredictProba(row, pa)
				d.PredictProba(row, pb)
				for c := range pa {
					if math.Float64bits(pa[c]) != math.Float64bits(pb[c]) {
						t.Fatalf("row %d class %d: proba %v before, %v after", i, c, pa[c], pb[c])
					}
				}
			}
		})
	}
	d, _ := Decode(must(gb.MarshalBinary()))
	if a, ok := d.Attachment("drift.profile"); !ok || string(a) != "\x01\x02\x03" {
		t.Fatalf("attachment %v %v", a, ok)
	}
	if d.Metrics()["test_auc"] != 0.91 || d.Params()["max_leaves"] != 31.0 {
		t.Fatalf("metrics %v params %v", d.Metrics(), d.Params())
	}
	g1, s1 := gb.Importance()
	g2, s2 := d.Importance()
	if g1["x0"] != g2["x0"] || s1["c"] != s2["c"] || s1["c"] == 0 {
		t.Fatalf("importance changed: %v %v / %v %v", g1, s1, g2, s2)
	}
}

func must(b []byte, err error) []byte {
	if err != nil {
		panic(err)
	}
	return b
}

func TestDecodeErrors(t *testing.T) {
	m, _ := trainedModel(t)
	good := must(m.MarshalBinary())
	flip := append([]byte(nil), good...)
	flip[len(flip)/2] ^= 0x40
	version := append([]byte(nil), good...)
	version[8] = 9
	cases := map[string][]byte{
		"empty":     nil,
		"foreign":   []byte("PK\x03\x04 this is a zip file, not a model"),
		"truncated": good[:len(good)-10],
		"corrupted": flip,
		"version":   version,
	}
	want := map[string]string{"empty": "header", "foreign": "header", "truncated": "checksum", "corrupted": "checksum", "version": "format version 9"}
	for name, b := range cases {
		_, err := Decode(b)
		if err == nil || !errors.Is(err, ErrModelFormat) || !strings.Contains(err.Error(), want[name]) {
			t.Errorf("%s: error %v, want ErrModelFormat mentioning %q", name, err, want[name])
		}
	}
}

func TestCategoryCode(t *testing.T) {
	m, _ := trainedModel(t)
	c := 6 // the categorical feature of synth
	levels := m.Features()[c].Levels
	if len(levels) != 7 {
		t.Fatalf("levels %v", levels)
	}
	for i, l := range levels {
		if m.CategoryCode(c, l) != float64(i) {
			t.Fatalf("level %q code %v", l, m.CategoryCode(c, l))
		}
	}
	if m.CategoryCode(c, "never-seen") != 7 || !math.IsNaN(m.CategoryCode(0, "x")) {
		t.Fatal("unknown level must map to the other code, numeric features to NaN")
	}
	// an unknown category must score like any other valid input
	row := make([]float64, 7)
	row[c] = m.CategoryCode(c, "never-seen")
	if p := m.PredictRow(row); p <= 0 || p >= 1 {
		t.Fatalf("prediction %v", p)
	}
}

func TestBinning(t *testing.T) {
	ds := higgsLike(50000, 3)
	bn := newBinner(ds, 255, 2)
	for f := range ds.Names {
		e := bn.edges[f]
		if len(e) == 0 || len(e) > 254 || !sort.Float64sAreSorted(e) {
			t.Fatalf("feature %d: %d edges", f, len(e))
		}
		lk := newEdgeLookup(e)
		probes := append(append([]float64(nil), ds.Num[f][:2000]...), e...)
		probes = append(probes, math.Inf(-1), math.Inf(1), e[0]-1e-300, math.Nextafter(e[len(e)-1], 1e9))
		for _, v := range probes {
			want := sort.SearchFloat64s(e, v)
			if got := searchEdge(e, v); got != want {
				t.Fatalf("searchEdge(%v) = %d, want %d", v, got, want)
			}
			if got := lk.find(v); got != want {
				t.Fatalf("lookup(%v) = %d, want %d", v, got, want)
			}
		}
	}
	vals := append([]float64(nil), ds.Num[0]...)
	vals = append(vals, -0.0, 0, math.Inf(1), math.Inf(-1), -1e-300, 1e300)
	want := append([]float64(nil), vals...)
	sort.Float64s(want)
	sortFloats(vals, &sortScratch{})
	for i := range vals {
		if vals[i] != want[i] {
			t.Fatalf("sortFloats: position %d: %v, want %v", i, vals[i], want[i])
		}
	}
	// categorical: most frequent levels kept, the rest share "other"
	codes := make([]int32, 0, 1000)
	levels := []string{"rare1", "common", "rare2", "mid"}
	for i := 0; i < 1000; i++ {
		switch {
		case i < 600:
			codes = append(codes, 1)
		case i < 900:
			codes = append(codes, 3)
		case i < 950:
			codes = append(codes, 0)
		default:
			codes = append(codes, 2)
		}
	}
	if got := catLevels(codes, levels, 3); strings.Join(got, ",") != "common,mid" {
		t.Fatalf("kept levels %v", got)
	}
	// few distinct numeric values: one bin each
	if e := numEdges([]float64{1, 1, 2, 3, 3, math.NaN()}, 255, &sortScratch{}); len(e) != 2 || e[0] != 1.5 || e[1] != 2.5 {
		t.Fatalf("edges %v", e)
	}
}

func FuzzDecode(f *testing.F) {
	// Small seeds keep mutation and minimisation fast.
	p := DefaultParams()
	p.Rounds, p.MaxLeaves, p.Threads = 2, 4, 1
	m, err := Train(context.Background(), synth(300, 1), nil, p, nil)
	if err != nil {
		f.Fatal(err)
	}
	f.Add(must(m.MarshalBinary()))
	mc, err := Train(context.Background(), multiclassData(300, 1), nil, p, nil)
	if err != nil {
		f.Fatal(err)
	}
	f.Add(must(mc.MarshalBinary()))
	f.Add(must(linearModel().MarshalBinary()))
	f.Add([]byte("DRIFTDMD\x01\x00"))
	f.Fuzz(func(t *testing.T, b []byte) {
		// Also decode a copy with a valid checksum, so mutations reach the
		// body parser instead of stopping at the CRC.
		fixed := append([]byte(nil), b...)
		if n := len(fixed); n >= 14 {
			binary.LittleEndian.PutUint32(fixed[n-4:], crc32.ChecksumIEEE(fixed[:n-4]))
		}
		for _, in := range [][]byte{b, fixed} {
			fuzzOne(t, in)
		}
	})
}

func fuzzOne(t *testing.T, b []byte) {
	{
		d, err := Decode(b)
		if err != nil {
			return
		}
		row := make([]float64, len(d.Features()))
		for i := range row {
			row[i] = float64(i%3) - 1
		}
		d.PredictRow(row)
		dst := make([]float64, len(d.Classes())+1)
		d.PredictProba(row, dst)
		if _, err := d.MarshalBinary(); err != nil {
			t.Fatal(err)
		}
	}
}

func TestPredictBatchMatchesPredictRow(t *testing.T) {
	ds := synth(3000, 21)
	for _, cat := range []bool{false, true} {
		d := ds
		if !cat { // numeric only: the lockstep fast paths
			d = &Dataset{Names: ds.Names[:6], Kinds: ds.Kinds[:6], Num: ds.Num[:6], Codes: ds.Codes[:6],
				Levels: ds.Levels[:6], Target: ds.Target, TargetLevels: ds.TargetLevels, Rows: ds.Rows}
		}
		p := DefaultParams()
		p.Threads, p.Rounds = 2, 30
		m, err := Train(context.Background(), d, nil, p, nil)
		if err != nil {
			t.Fatal(err)
		}
		rows := rowsOf(t, m, d)
		got := make([]float64, len(rows))
		m.PredictBatch(rows, got, 2)
		for i, row := range rows {
			if want := m.PredictRow(row); math.Float64bits(got[i]) != math.Float64bits(want) {
				t.Fatalf("categorical %v row %d: batch %v, row %v", cat, i, got[i], want)
			}
		}
	}
}
