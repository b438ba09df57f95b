package server

import (
	"context"
	"encoding/json"
	"time"

	"driftd/scheduler"
	"driftd/server/flows"
)

// trainRecentMax is the number of ended training runs the Training page and
// GET /api/v1/train/jobs show.
const trainRecentMax = 20

// Training job states shown by GET /api/v1/train/jobs and the UI: the train
// flow's run states, named as the training API has always named them.
const (
	JobQueued   = "queued"
	JobRunning  = "running"
	JobFinished = "finished"
	JobFailed   = "failed"
	JobKilled   = "killed"
)

// TrainJobStatus is the live state of one training job: a run of the train
// flow on the training queue, with its round-by-round progress.
type TrainJobStatus struct {
	RunID          string    `json:"run_id"`      // the experiment run
	FlowRunID      string    `json:"flow_run_id"` // the scheduler's run
	Model          string    `json:"model"`
	Experiment     string    `json:"experiment"`
	State          string    `json:"state"`
	Round          int       `json:"round"`
	Rounds         int       `json:"rounds"`
	TrainLoss      *float64  `json:"train_loss,omitempty"`
	ValidLoss      *float64  `json:"valid_loss,omitempty"`
	MetricName     string    `json:"metric_name,omitempty"`
	ValidMetric    *float64  `json:"valid_metric,omitempty"`
	ElapsedSeconds float64   `json:"elapsed_seconds"`
	Queued         time.Time `json:"queued"`
	Started        time.Time `json:"started,omitzero"`
	Ended          time.Time `json:"ended,omitzero"`
	Version        string    `json:"version,omitempty"`
	DeployedTo     string    `json:"deployed_to,omitempty"`
	Error          string    `json:"error,omitempty"`
	User           string    `json:"user"`
}

// trainJobs returns the train flow's runs as training jobs: the running one,
// the queued ones in order, then the recently ended ones, newest first.
func (a *App) trainJobs(ctx context.Context) ([]TrainJobStatus, error) {
	runs, err := a.engine.List(ctx, scheduler.RunFilter{Flow: flows.FlowTrain, Limit: trainRecentMax + 16})
	if err != nil {
		return nil, err
	}
	var running, queued, ended []TrainJobStatus
	for _, r := range runs {
		j := a.trainJob(r)
		switch j.State {
		case JobRunning:
			running = append(running, j)
		case JobQueued:
			queued = append([]TrainJobStatus{j}, queued...) // oldest first
		default:
			if len(ended) < trainRecentMax {
				ended = append(ended, j)
			}
		}
	}
	return append(append(running, queued...), ended...), nil
}

// trainJob turns one train flow run into a training job.
func (a *App) trainJob(r scheduler.Run) TrainJobStatus {
	str := func(k string) string { s, _ := r.Params[k].(string); return s }
	j := TrainJobStatus{RunID: str("run_id"), FlowRunID: r.ID, Model: str("model"), Experiment: str("experiment"),
		Queued: r.CreatedAt, Started: r.StartedAt, Ended: r.EndedAt, Error: r.Error, User: r.Trigger.By}
	switch n := r.Params["rounds"].(type) {
	case int64:
		j.Rounds = int(n)
	case float64:
		j.Rounds = int(n)
	}
	switch r.State {
	case scheduler.StateScheduled, scheduler.StatePending:
		j.State = JobQueued
	case scheduler.StateRunning:
		j.State = JobRunning
	case scheduler.StateCompleted:
		j.State = JobFinished
	case scheduler.StateFailed:
		j.State = JobFailed
	default:
		j.State = JobKilled
	}
	var p flows.TrainProgress
	if len(r.Progress) > 0 && json.Unmarshal(r.Progress, &p) == nil {
		j.Round, j.TrainLoss, j.ValidLoss, j.MetricName, j.ValidMetric = p.Round, p.TrainLoss, p.ValidLoss, p.MetricName, p.ValidMetric
		if p.Rounds > 0 {
			j.Rounds = p.Rounds
		}
		j.ElapsedSeconds = p.ElapsedSeconds
	}
	var res flows.TrainResult
	if len(r.Result) > 0 && json.Unmarshal(r.Result, &res) == nil {
		j.Version, j.DeployedTo = res.Version, res.DeployedTo
		if res.Rounds > 0 {
			j.Round = res.Rounds
		}
	}
	if d := r.Duration(a.now()); d > 0 {
		j.ElapsedSeconds = d.Seconds()
	}
	return j
}
