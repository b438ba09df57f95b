package web

import (
	"strconv"
	"time"
)

// TrainingView is the view model of the Training page.
type TrainingView struct {
	// CanTrain is true for operators and admins, who see the form.
	CanTrain bool
	// Database is the server's database for training queries as shown
	// (password redacted); "" when none is configured, and the form then
	// offers files only.
	Database string
	// Environments are the deployment environments offered after training.
	Environments []string
	// Error is a refused submission's reason, shown above the form.
	Error string
	// Form holds the values the form shows.
	Form TrainingForm
	// Columns are the columns of the data file in Form.Data (or of
	// Form.Query), when they could be read: the target and id fields are
	// then selects of them.
	Columns []string
	// ColumnsError says why the columns of Form.Data (or Form.Query) could not be read.
	ColumnsError string
	// Jobs are the running, queued and recently ended jobs.
	Jobs []TrainingJobRow
	// Curve is the loss curve of one job (the running one, or the newest),
	// nil when there is no job.
	Curve *TrainingCurve
	// QueueMax is how many jobs may wait behind the running one.
	QueueMax int
}

// TrainingForm is the content of the training form.
type TrainingForm struct {
	Data, Target, ID, Algo, Model, Deploy string
	// Source is "query" when the data is Query's rows, else a file.
	Source, Query                  string
	Rounds, MaxLeaves, MaxDepth    int
	EarlyStopping, LogisticMaxIter int
	LearningRate, LogisticC        float64
	Register                       bool
}

// TrainingJobRow is one training job in the jobs table.
type TrainingJobRow struct {
	RunID, Model, State, Error, Version, DeployedTo, MetricName string
	// Algo is the job's algorithm ("gbdt" or "logistic"), when known.
	Algo          string
	Round, Rounds int
	// TrainLoss, ValidLoss and ValidMetric are NaN until known.
	TrainLoss, ValidLoss, ValidMetric float64
	Elapsed                           time.Duration
}

// TrainingCurve is the live loss curve of one training job: train and
// validation loss by round, redrawn while the job runs.
type TrainingCurve struct {
	Job TrainingJobRow
	// Chart draws the logged losses; nil until a round has been logged.
	Chart *StepChart
}

// Final reports whether the job has ended, so the curve no longer changes.
func (c TrainingCurve) Final() bool { return c.Job.Ended() }

// Ended reports whether the job has finished, failed or been killed.
func (j TrainingJobRow) Ended() bool { return j.State != "queued" && j.State != "running" }

// EarlyStop reports whether a finished job ended before its round budget:
// a logistic fit that converged or a GBDT stopped early.
func (j TrainingJobRow) EarlyStop() bool {
	return j.State == "finished" && j.Round > 0 && j.Round < j.Rounds
}

// Progress says where the job is, in words that match its state: a job
// that stopped early is complete ("converged at round 14 of 100"), never
// "finished" beside a part-filled bar.
func (j TrainingJobRow) Progress() string {
	of := strconv.Itoa(j.Round) + " of " + strconv.Itoa(j.Rounds)
	switch {
	case j.State == "queued":
		return "waiting in the queue"
	case j.State == "running" && j.Round == 0:
		return "reading data"
	case j.State == "running":
		return strconv.Itoa(j.Round) + "/" + strconv.Itoa(j.Rounds) + " rounds"
	case j.EarlyStop() && j.Algo == "logistic":
		return "converged at round " + of
	case j.EarlyStop() && j.Algo == "gbdt":
		return "stopped early at round " + of
	case j.EarlyStop():
		return "done early at round " + of
	case j.State == "finished":
		return strconv.Itoa(j.Round) + "/" + strconv.Itoa(j.Rounds) + " rounds"
	case j.Round > 0:
		return j.State + " at round " + of
	}
	return j.State + " before the first round"
}

// BarMax and BarValue fill the progress bar: full for a finished job
// however many rounds it needed, the rounds done otherwise.
func (j TrainingJobRow) BarMax() int {
	if j.State == "finished" {
		return 1
	}
	return max(j.Rounds, j.Round, 1)
}

// BarValue is the filled part of the progress bar (see BarMax).
func (j TrainingJobRow) BarValue() int {
	if j.State == "finished" {
		return 1
	}
	return j.Round
}

// jobClass picks the badge colour of a training job state.
func jobClass(state string) string {
	if state == "queued" {
		return ""
	}
	return runClass(state)
}
