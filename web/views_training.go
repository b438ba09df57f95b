package web

import "time"

// TrainingView is the view model of the Training page.
type TrainingView struct {
	// CanTrain is true for operators and admins, who see the form.
	CanTrain bool
	// Environments are the deployment environments offered after training.
	Environments []string
	// Error is a refused submission's reason, shown above the form.
	Error string
	// Form holds the values the form shows.
	Form TrainingForm
	// Jobs are the running, queued and recently ended jobs.
	Jobs []TrainingJobRow
	// QueueMax is how many jobs may wait behind the running one.
	QueueMax int
}

// TrainingForm is the content of the training form.
type TrainingForm struct {
	Data, Target, ID, Algo, Model, Deploy string
	Rounds, MaxLeaves                     int
	LearningRate                          float64
	Register                              bool
}

// TrainingJobRow is one training job in the jobs table.
type TrainingJobRow struct {
	RunID, Model, State, Error, Version, DeployedTo, MetricName string
	Round, Rounds                                               int
	// TrainLoss, ValidLoss and ValidMetric are NaN until known.
	TrainLoss, ValidLoss, ValidMetric float64
	Elapsed                           time.Duration
}

// jobClass picks the badge colour of a training job state.
func jobClass(state string) string {
	if state == "queued" {
		return ""
	}
	return runClass(state)
}
