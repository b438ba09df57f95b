package main

import (
	"context"
	"encoding/json"
	"fmt"
	"io"
	"slices"
	"time"

	"driftd/train"
)

// testClassifier is `driftd drift --test classifier`: the batch domain
// classifier instead of the per-feature comparison.
const testClassifier = "classifier"

// domainJSON is the --json output of `driftd drift --test classifier`.
type domainJSON struct {
	Test          string              `json:"test"`
	AUC           float64             `json:"auc"`
	Threshold     float64             `json:"threshold"`
	Drifted       bool                `json:"drifted"`
	ReferenceRows int                 `json:"reference_rows"`
	CurrentRows   int                 `json:"current_rows"`
	Folds         int                 `json:"folds"`
	Features      []domainFeatureJSON `json:"features"`
}

type domainFeatureJSON struct {
	Name  string  `json:"name"`
	Share float64 `json:"share"`
}

// domainCheck runs the domain classifier on the named columns of the
// reference and current data and prints its verdict: a table, or one JSON
// object with jsonOut.
func domainCheck(ctx context.Context, ref, cur *train.Dataset, names []string, threads int, jsonOut bool, stdout, stderr io.Writer) error {
	r, err := selectColumns(ref, names)
	if err != nil {
		return fmt.Errorf("reference: %w", err)
	}
	c, err := selectColumns(cur, names)
	if err != nil {
		return fmt.Errorf("current: %w", err)
	}
	start := time.Now()
	res, err := train.DomainClassifier(ctx, r, c, train.DomainOptions{Threads: threads})
	if err != nil {
		return err
	}
	fmt.Fprintf(stderr, "trained %d domain classifiers on %d reference and %d current rows in %v\n",
		res.Folds, res.ReferenceRows, res.CurrentRows, time.Since(start).Round(time.Millisecond))
	if jsonOut {
		out := domainJSON{Test: testClassifier, AUC: res.AUC, Threshold: res.Threshold, Drifted: res.Drifted,
			ReferenceRows: res.ReferenceRows, CurrentRows: res.CurrentRows, Folds: res.Folds, Features: []domainFeatureJSON{}}
		for _, f := range res.Features {
			out.Features = append(out.Features, domainFeatureJSON{Name: f.Name, Share: f.Share})
		}
		enc := json.NewEncoder(stdout)
		enc.SetIndent("", "  ")
		return enc.Encode(out)
	}
	verdict := "no drift: the current rows cannot be told from the reference rows"
	if res.Drifted {
		verdict = "DRIFT: a classifier tells the current rows from the reference rows"
	}
	fmt.Fprintf(stdout, "domain classifier: ROC AUC %.4f (threshold %.4f, %d-fold cross-validation)\n%s\n", res.AUC, res.Threshold, res.Folds, verdict)
	fmt.Fprintln(stdout, "features that tell them apart (share of the classifiers' split gain):")
	for i, f := range res.Features {
		if i == 10 || f.Share == 0 {
			break
		}
		fmt.Fprintf(stdout, "  %-24s %5.1f%%\n", f.Name, 100*f.Share)
	}
	return nil
}

// selectColumns returns ds restricted to names, in that order.
func selectColumns(ds *train.Dataset, names []string) (*train.Dataset, error) {
	out := &train.Dataset{Rows: ds.Rows}
	for _, n := range names {
		j := slices.Index(ds.Names, n)
		if j < 0 {
			return nil, fmt.Errorf("no column %q", n)
		}
		out.Names = append(out.Names, n)
		out.Kinds = append(out.Kinds, ds.Kinds[j])
		out.Num = append(out.Num, ds.Num[j])
		out.Codes = append(out.Codes, ds.Codes[j])
		out.Levels = append(out.Levels, ds.Levels[j])
	}
	return out, nil
}
