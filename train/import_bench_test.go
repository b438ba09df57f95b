package train

import (
	"context"
	"testing"
)

// BenchmarkImportedPredict scores the same rows (the XGBoost binary
// fixture's held-out rows, 20% missing values) with the imported XGBoost
// model (30 trees of depth 4) and with a model trained here of the same
// shape (30 rounds, depthwise, depth 4, on the same rows labelled by the
// XGBoost model), through PredictBatch on one thread and PredictRow. Both
// use the same walkers, so ns/row should match up to the trees' sizes
// (reported as nodes).
//
//	go test -run '^$' -bench BenchmarkImportedPredict -benchtime 2s ./train/
func BenchmarkImportedPredict(b *testing.B) {
	imported, err := ImportXGBoost(mustReadImportFixture(b, "xgb_binary.json"))
	if err != nil {
		b.Fatal(err)
	}
	header, cells := mustReadCSVCells(b, "xgb_binary_data.csv")
	base := mustImportRows(b, imported, header, cells)
	var rows [][]float64
	for len(rows) < 8192 {
		rows = append(rows, base...)
	}
	rows = rows[:8192]

	// a driftd model of the same shape, trained on the rows XGBoost labels
	ds := &Dataset{Rows: len(base), Target: make([]float64, len(base)), TargetLevels: []string{"0", "1"}}
	for j, f := range imported.Features() {
		col := make([]float64, len(base))
		for i, r := range base {
			col[i] = r[j]
		}
		ds.Names, ds.Kinds = append(ds.Names, f.Name), append(ds.Kinds, Numeric)
		ds.Num, ds.Codes, ds.Levels = append(ds.Num, col), append(ds.Codes, nil), append(ds.Levels, nil)
	}
	for i, r := range base {
		if imported.PredictRow(r) > 0.5 {
			ds.Target[i] = 1
		}
	}
	p := DefaultParams()
	p.Rounds, p.Grow, p.MaxDepth, p.MinSamplesLeaf, p.Threads = imported.Trees(), "depthwise", 4, 5, 1
	own, err := Train(context.Background(), ds, nil, p, nil)
	if err != nil {
		b.Fatal(err)
	}
	dst := make([]float64, len(rows))
	for _, m := range []struct {
		name  string
		model *Model
	}{{"xgboost", imported}, {"driftd", own}} {
		b.Run("batch/"+m.name, func(b *testing.B) {
			for b.Loop() {
				m.model.PredictBatch(rows, dst, 1)
			}
			b.ReportMetric(float64(len(m.model.nodes)), "nodes")
			b.ReportMetric(float64(b.Elapsed().Nanoseconds())/float64(b.N*len(rows)), "ns/row")
		})
		b.Run("row/"+m.name, func(b *testing.B) {
			for b.Loop() {
				for i, r := range rows {
					dst[i] = m.model.PredictRow(r)
				}
			}
			b.ReportMetric(float64(b.Elapsed().Nanoseconds())/float64(b.N*len(rows)), "ns/row")
		})
	}
}
