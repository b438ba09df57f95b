package registry

import (
	"context"
	"fmt"

	"go.etcd.io/bbolt"
)

// Dataset describes a data set a run used (MLflow's Dataset entity).
type Dataset struct {
	Name       string `json:"name"`
	Digest     string `json:"digest"`
	SourceType string `json:"source_type"`
	Source     string `json:"source"`
	Schema     string `json:"schema,omitempty"`
	Profile    string `json:"profile,omitempty"`
}

// DatasetInput is one data set logged as an input of a run, with its tags
// (e.g. mlflow.data.context = "training").
type DatasetInput struct {
	Dataset Dataset    `json:"dataset"`
	Tags    []KeyValue `json:"tags"`
}

// Bounds of run inputs: entries per run and bytes of all of them together.
const (
	maxRunInputs     = 1000
	maxRunInputBytes = 4 << 20
)

type inputsRecord struct {
	V      int            `json:"v"`
	Inputs []DatasetInput `json:"inputs"`
}

// LogRunInputs records data sets as inputs of run id. Logging a data set again
// (same name and digest) replaces its tags. It returns a *FieldError for a data
// set without name or digest, or past the bounds (1000 inputs, 4 MiB per run),
// ErrNotFound for an unknown run and ErrConflict for a deleted one.
func (s *Store) LogRunInputs(ctx context.Context, id string, inputs []DatasetInput) error {
	for i, in := range inputs {
		if in.Dataset.Name == "" || in.Dataset.Digest == "" {
			err := fieldErr("datasets", "dataset %d: name and digest are required", i)
			s.observe("log_inputs", err)
			return fmt.Errorf("log inputs: %w", err)
		}
		for j, t := range in.Tags {
			if err := validKey("datasets", t.Key); err != nil {
				err = fieldErr("datasets", "dataset %d tag %d: %s", i, j, err.(*FieldError).Msg)
				s.observe("log_inputs", err)
				return fmt.Errorf("log inputs: %w", err)
			}
		}
	}
	_, err := s.updateRun("log_inputs", id, func(tx *bbolt.Tx, key []byte, r *runRecord) error {
		if err := activeRun(tx, key, r); err != nil {
			return err
		}
		b, err := mlflowBucketW(tx, bucketMLflowInputs)
		if err != nil {
			return err
		}
		var rec inputsRecord
		if _, err := getJSON(b, key, &rec); err != nil {
			return err
		}
		for _, in := range inputs {
			replaced := false
			for i := range rec.Inputs {
				if rec.Inputs[i].Dataset.Name == in.Dataset.Name && rec.Inputs[i].Dataset.Digest == in.Dataset.Digest {
					rec.Inputs[i] = in
					replaced = true
				}
			}
			if !replaced {
				rec.Inputs = append(rec.Inputs, in)
			}
		}
		if len(rec.Inputs) > maxRunInputs {
			return fieldErr("datasets", "run %s would have %d inputs; at most %d", id, len(rec.Inputs), maxRunInputs)
		}
		rec.V = 1
		if err := putJSON(b, key, rec); err != nil {
			return err
		}
		if n := len(b.Get(key)); n > maxRunInputBytes {
			return fieldErr("datasets", "inputs of run %s would take %d bytes; at most %d", id, n, maxRunInputBytes)
		}
		return nil
	})
	return err
}

// RunInputs returns the data sets logged as inputs of run id, in logging order;
// ErrNotFound for an unknown run.
func (s *Store) RunInputs(ctx context.Context, id string) ([]DatasetInput, error) {
	out := []DatasetInput{}
	n, err := parseID("run_id", id)
	if err == nil {
		err = s.db.View(func(tx *bbolt.Tx) error {
			if _, err := getRun(tx, u64key(n), id); err != nil {
				return err
			}
			b := mlflowBucket(tx, bucketMLflowInputs)
			if b == nil {
				return nil
			}
			var rec inputsRecord
			if _, err := getJSON(b, u64key(n), &rec); err != nil {
				return err
			}
			out = append(out, rec.Inputs...)
			return nil
		})
	}
	s.observe("run_inputs", err)
	if err != nil {
		return nil, fmt.Errorf("run inputs: %w", err)
	}
	return out, nil
}
