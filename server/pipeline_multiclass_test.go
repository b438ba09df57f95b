package server

import (
	"context"
	"encoding/json"
	"strings"
	"testing"

	"driftd/stream"
)

// TestPipelineMulticlassCBPE loads a multiclass version trained with its
// class probabilities calibrated: the model adapter leaves each record's
// probabilities in the record, the drift observer hands them to the
// monitor, and each check estimates the window's accuracy and macro AUC
// with a band. Probabilities left in the record by another record's
// scoring (their largest is not this score) are not taken for its own.
func TestPipelineMulticlassCBPE(t *testing.T) {
	p, _ := mustStartPipeline(t, nil)
	out := trainEstimated(t, p, "multiclass", "1.0.0")
	d, err := p.load(context.Background(), "1.0.0")
	if err != nil {
		t.Fatal(err)
	}
	defer d.cancel()
	defer d.monitor.Close()
	scoreRecords(d, 400, 0)
	ev := d.monitor.Check()
	e := ev.Estimated
	if e == nil || e.Records != 400 || len(e.Classes) != 3 || e.Band == nil || !(e.Accuracy > 0.4 && e.Accuracy <= 1) || !(e.AUC > 0.5) {
		t.Fatalf("estimated %+v (training: %s)", e, out.Calibration)
	}
	var sum float64
	for _, v := range e.Confusion {
		sum += v
	}
	if sum < 399.999 || sum > 400.001 || len(e.Confusion) != 9 {
		t.Errorf("expected confusion matrix %v sums to %v, want 400 records", e.Confusion, sum)
	}

	// The API's JSON: the confusion matrix by rows, no NaN threshold.
	js, err := json.Marshal(toDriftJSON(DriftView{Event: ev}))
	if err != nil || !strings.Contains(string(js), `"confusion":[[`) || !strings.Contains(string(js), `"decision_threshold":null`) {
		t.Errorf("drift JSON %.300s: %v", js, err)
	}

	// A record observed with another record's probabilities.
	names := d.model.Schema().Names
	rec := &stream.Decoded{Num: make([]float64, len(names)), Cat: make([]string, len(names))}
	for i, n := range names {
		if n == "plan" {
			rec.Cat[i] = "pro"
		}
	}
	score, _ := d.model.Score(rec)
	d.obs.Observe(rec, score+0.01*(1-score)) // not this record's score
	if e2 := d.monitor.Check().Estimated; e2.Records != 400 {
		t.Errorf("estimate over %d records after a mismatched one, want 400", e2.Records)
	}
}

// TestScoreObserveMulticlassAllocs checks that scoring a record and
// feeding it to the drift monitor allocates nothing, for a binary model
// (the path unchanged by multiclass CBPE) and a multiclass one (the
// probabilities reuse the record's buffer).
func TestScoreObserveMulticlassAllocs(t *testing.T) {
	p, _ := mustStartPipeline(t, nil)
	registerArtifact(t, p, uiModelFileCalibrated(t, 1, true), "0.1.0")
	trainEstimated(t, p, "multiclass", "1.0.0")
	for _, v := range []string{"0.1.0", "1.0.0"} {
		d, err := p.load(context.Background(), v)
		if err != nil {
			t.Fatal(err)
		}
		names := d.model.Schema().Names
		rec := &stream.Decoded{Num: make([]float64, len(names)), Cat: make([]string, len(names))}
		for i, n := range names {
			if n == "plan" {
				rec.Cat[i] = "pro"
			}
		}
		i := 0
		allocs := testing.AllocsPerRun(500, func() {
			rec.Num[0] = float64(i % 7)
			i++
			score, _ := d.model.Score(rec)
			d.obs.Observe(rec, score)
		})
		d.cancel()
		d.monitor.Close()
		// AllocsPerRun rounds down: a check's snapshot every
		// DRIFT_CHECK_INTERVAL records (a few allocations) reads as 0.
		if allocs != 0 {
			t.Errorf("version %s (%s): %v allocations per scored and observed record", v, d.model.objective, allocs)
		}
	}
}
