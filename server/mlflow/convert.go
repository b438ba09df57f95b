package mlflow

import (
	"maps"
	"slices"
	"sort"
	"strconv"
	"strings"
	"time"

	"driftd/registry"
)

// MLflow's lifecycle stages.
const (
	stageActive  = "active"
	stageDeleted = "deleted"
)

// millis is a time as MLflow's milliseconds since the epoch.
func millis(t time.Time) int64 { return t.UnixMilli() }

// fromMillis is the time of MLflow's milliseconds since the epoch.
func fromMillis(ms int64) time.Time { return time.UnixMilli(ms).UTC() }

// lifecycle names a deletion state.
func lifecycle(deleted bool) string {
	if deleted {
		return stageDeleted
	}
	return stageActive
}

// experimentArtifactURI is where an experiment's artifacts are, for MLflow
// clients: the artifact proxy of this server.
func experimentArtifactURI(id string) string { return "mlflow-artifacts:/" + id }

// runArtifactURI is the artifact root of a run: mlflow-artifacts:/<experiment>/<run>/artifacts.
func runArtifactURI(r *registry.Run) string {
	return "mlflow-artifacts:/" + r.ExperimentID + "/" + r.ID + "/artifacts"
}

// Run statuses between driftd (lowercase) and MLflow (uppercase). MLflow's
// SCHEDULED has no driftd counterpart and is taken as running.
var (
	toMLflowStatus   = map[string]string{registry.RunRunning: "RUNNING", registry.RunFinished: "FINISHED", registry.RunFailed: "FAILED", registry.RunKilled: "KILLED"}
	fromMLflowStatus = map[string]string{"RUNNING": registry.RunRunning, "SCHEDULED": registry.RunRunning,
		"FINISHED": registry.RunFinished, "FAILED": registry.RunFailed, "KILLED": registry.RunKilled}
)

// mlflowStatus is a driftd run status in MLflow's spelling.
func mlflowStatus(s string) string {
	if m, ok := toMLflowStatus[s]; ok {
		return m
	}
	return strings.ToUpper(s)
}

// kvs lists a map as sorted {key, value} pairs (never nil).
func kvs(m map[string]string) []keyValue {
	out := make([]keyValue, 0, len(m))
	for k, v := range m {
		out = append(out, keyValue{Key: k, Value: v})
	}
	sort.Slice(out, func(i, j int) bool { return out[i].Key < out[j].Key })
	return out
}

// experimentJSON is MLflow's Experiment.
type experimentJSON struct {
	ExperimentID     string     `json:"experiment_id"`
	Name             string     `json:"name"`
	ArtifactLocation string     `json:"artifact_location"`
	LifecycleStage   string     `json:"lifecycle_stage"`
	LastUpdateTime   int64      `json:"last_update_time"`
	CreationTime     int64      `json:"creation_time"`
	Tags             []keyValue `json:"tags"`
}

// noteTag is the experiment tag MLflow shows as the description.
const noteTag = "mlflow.note.content"

// experimentOf converts an experiment and its MLflow state.
func experimentOf(e registry.Experiment, st registry.ExperimentState) experimentJSON {
	tags := e.Tags
	if _, ok := tags[noteTag]; !ok && e.Description != "" {
		tags = make(map[string]string, len(e.Tags)+1)
		for k, v := range e.Tags {
			tags[k] = v
		}
		tags[noteTag] = e.Description
	}
	updated := e.Created
	if st.Updated.After(updated) {
		updated = st.Updated
	}
	return experimentJSON{ExperimentID: e.ID, Name: e.Name, ArtifactLocation: experimentArtifactURI(e.ID),
		LifecycleStage: lifecycle(st.Deleted), LastUpdateTime: millis(updated), CreationTime: millis(e.Created), Tags: kvs(tags)}
}

// experimentField is the value of a filter or order_by identifier of an experiment.
func experimentField(x experimentJSON) fielder {
	return func(id Ident) value {
		if id.Kind == kindTag {
			for _, t := range x.Tags {
				if t.Key == id.Key {
					return textValue(t.Value)
				}
			}
			return value{}
		}
		switch id.Key {
		case "name":
			return textValue(x.Name)
		case "experiment_id":
			n, _ := strconv.ParseFloat(x.ExperimentID, 64)
			return value{text: x.ExperimentID, num: n, ok: true}
		case "lifecycle_stage":
			return textValue(x.LifecycleStage)
		case "creation_time":
			return numValue(float64(x.CreationTime))
		case "last_update_time":
			return numValue(float64(x.LastUpdateTime))
		}
		return value{}
	}
}

// runInfoJSON is MLflow's RunInfo (run_uuid is the deprecated twin of run_id).
type runInfoJSON struct {
	RunID          string `json:"run_id"`
	RunUUID        string `json:"run_uuid"`
	RunName        string `json:"run_name"`
	ExperimentID   string `json:"experiment_id"`
	UserID         string `json:"user_id"`
	Status         string `json:"status"`
	StartTime      int64  `json:"start_time"`
	EndTime        *int64 `json:"end_time,omitempty"`
	ArtifactURI    string `json:"artifact_uri"`
	LifecycleStage string `json:"lifecycle_stage"`
}

// metricJSON is MLflow's Metric.
type metricJSON struct {
	Key       string  `json:"key"`
	Value     float64 `json:"value"`
	Timestamp int64   `json:"timestamp"`
	Step      int64   `json:"step"`
}

// runDataJSON is MLflow's RunData.
type runDataJSON struct {
	Metrics []metricJSON `json:"metrics"`
	Params  []keyValue   `json:"params"`
	Tags    []keyValue   `json:"tags"`
}

// datasetInputJSON is MLflow's DatasetInput.
type datasetInputJSON struct {
	Tags    []keyValue       `json:"tags"`
	Dataset registry.Dataset `json:"dataset"`
}

// runInputsJSON is MLflow's RunInputs.
type runInputsJSON struct {
	DatasetInputs []datasetInputJSON `json:"dataset_inputs"`
}

// runJSON is MLflow's Run.
type runJSON struct {
	Info   runInfoJSON   `json:"info"`
	Data   runDataJSON   `json:"data"`
	Inputs runInputsJSON `json:"inputs"`
}

// runInfoOf converts a run's metadata.
func runInfoOf(r *registry.Run, deleted bool) runInfoJSON {
	info := runInfoJSON{RunID: r.ID, RunUUID: r.ID, RunName: r.Name, ExperimentID: r.ExperimentID, UserID: r.CreatedBy,
		Status: mlflowStatus(r.Status), StartTime: millis(r.Start), ArtifactURI: runArtifactURI(r), LifecycleStage: lifecycle(deleted)}
	if r.End != nil {
		end := millis(*r.End)
		info.EndTime = &end
	}
	return info
}

// runOf converts a run with its latest metrics, params, tags and inputs. The
// mlflow.runName tag is the run's name, as MLflow keeps it.
func runOf(r *registry.Run, deleted bool, inputs []registry.DatasetInput) runJSON {
	out := runJSON{Info: runInfoOf(r, deleted), Data: runDataJSON{Metrics: make([]metricJSON, 0, len(r.Metrics)),
		Params: kvs(r.Params)}, Inputs: runInputsJSON{DatasetInputs: make([]datasetInputJSON, 0, len(inputs))}}
	for _, k := range slices.Sorted(maps.Keys(r.Metrics)) {
		p := r.Metrics[k]
		out.Data.Metrics = append(out.Data.Metrics, metricJSON{Key: k, Value: p.Value, Timestamp: millis(p.Time), Step: p.Step})
	}
	tags := r.Tags
	if tags[registry.RunNameTag] != r.Name && r.Name != "" {
		tags = make(map[string]string, len(r.Tags)+1)
		for k, v := range r.Tags {
			tags[k] = v
		}
		tags[registry.RunNameTag] = r.Name
	}
	out.Data.Tags = kvs(tags)
	for _, in := range inputs {
		tags := make([]keyValue, len(in.Tags))
		for i, t := range in.Tags {
			tags[i] = keyValue{Key: t.Key, Value: t.Value}
		}
		out.Inputs.DatasetInputs = append(out.Inputs.DatasetInputs, datasetInputJSON{Tags: tags, Dataset: in.Dataset})
	}
	return out
}

// runField is the value of a filter or order_by identifier of a run.
func runField(r *registry.Run, deleted bool) fielder {
	return func(id Ident) value {
		switch id.Kind {
		case kindMetric:
			p, ok := r.Metrics[id.Key]
			if !ok {
				return value{}
			}
			return numValue(p.Value)
		case kindParam:
			v, ok := r.Params[id.Key]
			return maybeText(v, ok)
		case kindTag:
			if id.Key == registry.RunNameTag && r.Name != "" {
				return textValue(r.Name)
			}
			v, ok := r.Tags[id.Key]
			return maybeText(v, ok)
		}
		switch id.Key {
		case "run_id":
			n, _ := strconv.ParseFloat(r.ID, 64)
			return value{text: r.ID, num: n, ok: true}
		case "run_name":
			return textValue(r.Name)
		case "status":
			return textValue(mlflowStatus(r.Status))
		case "user_id":
			return textValue(r.CreatedBy)
		case "artifact_uri":
			return textValue(runArtifactURI(r))
		case "experiment_id":
			n, _ := strconv.ParseFloat(r.ExperimentID, 64)
			return value{text: r.ExperimentID, num: n, ok: true}
		case "lifecycle_stage":
			return textValue(lifecycle(deleted))
		case "start_time":
			return numValue(float64(millis(r.Start)))
		case "end_time":
			if r.End == nil {
				return value{}
			}
			return numValue(float64(millis(*r.End)))
		}
		return value{}
	}
}
