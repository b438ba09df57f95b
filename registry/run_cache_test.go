package registry

import (
	"context"
	"testing"

	"go.etcd.io/bbolt"
)

// TestRunCache: a search sees every change to a run (the cache keys on the
// stored bytes), and changing a returned run's maps never reaches the
// cache or the next search.
func TestRunCache(t *testing.T) {
	s, _ := mustOpen(t, Options{})
	ctx := context.Background()
	exp, err := s.EnsureExperiment(ctx, "cache")
	if err != nil {
		t.Fatal(err)
	}
	run, err := s.CreateRun(ctx, exp.ID, RunOptions{Name: "r"})
	if err != nil {
		t.Fatal(err)
	}
	if err := s.LogParams(ctx, run.ID, map[string]string{"algo": "gbdt"}); err != nil {
		t.Fatal(err)
	}
	search := func() Run {
		t.Helper()
		runs, err := s.SearchRuns(ctx, RunQuery{ExperimentID: exp.ID})
		if err != nil || len(runs) != 1 {
			t.Fatalf("search: %v %v", runs, err)
		}
		return runs[0]
	}
	first := search()
	first.Params["algo"] = "changed by the caller"
	first.Tags = nil
	if got := search(); got.Params["algo"] != "gbdt" {
		t.Fatalf("a caller's change reached the next search: %v", got.Params)
	}
	if err := s.LogParam(ctx, run.ID, "rounds", "100"); err != nil {
		t.Fatal(err)
	}
	if err := s.SetRunTag(ctx, run.ID, "team", "risk"); err != nil {
		t.Fatal(err)
	}
	if got := search(); got.Params["rounds"] != "100" || got.Tags["team"] != "risk" {
		t.Fatalf("search after changes = %+v", got)
	}
	// The cache decodes what the bucket holds, entry by entry.
	err = s.db.View(func(tx *bbolt.Tx) error {
		return tx.Bucket(bucketRuns).ForEach(func(k, v []byte) error {
			a, err := s.runs.decode(k, v)
			if err != nil {
				return err
			}
			b, err := s.runs.decode(k, v)
			if err != nil {
				return err
			}
			a.Params["x"] = "y"
			if _, ok := b.Params["x"]; ok || a.ID != b.ID {
				t.Errorf("two decodes share their maps")
			}
			return nil
		})
	})
	if err != nil {
		t.Fatal(err)
	}
	if _, err := s.runs.decode([]byte("k"), []byte("{not json")); err == nil {
		t.Error("a corrupt run decoded")
	}
}
