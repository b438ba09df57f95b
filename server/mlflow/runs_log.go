package mlflow

import (
	"encoding/json"

	"github.com/labstack/echo/v4"

	"driftd/registry"
)

// metricRequest is one metric of log-metric and log-batch.
type metricRequest struct {
	Key       string   `json:"key"`
	Value     optFloat `json:"value"`
	Timestamp optInt   `json:"timestamp"`
	Step      optInt   `json:"step"`
}

// point converts a metric of a request; i names it in errors (-1: the only one).
func (m metricRequest) point(i int) (registry.MetricPoint, error) {
	if m.Key == "" {
		if i >= 0 {
			return registry.MetricPoint{}, invalid("Missing value for required parameter 'metrics[%d].key'.", i)
		}
		return registry.MetricPoint{}, missing("key")
	}
	if !m.Value.Set {
		if i >= 0 {
			return registry.MetricPoint{}, invalid("Missing value for required parameter 'metrics[%d].value' (metric %q).", i, m.Key)
		}
		return registry.MetricPoint{}, missing("value")
	}
	p := registry.MetricPoint{Key: m.Key, Value: m.Value.V, Step: m.Step.V}
	if m.Timestamp.Set {
		p.Time = fromMillis(m.Timestamp.V)
	}
	return p, nil
}

// logBatch writes a batch to the run named by ref.
func (a *api) logBatch(c echo.Context, ref runRef, b registry.RunBatch) (any, error) {
	id, err := ref.id()
	if err != nil {
		return nil, err
	}
	if err := a.store.LogRunBatch(a.ctx(c), id, b); err != nil {
		return nil, err
	}
	return empty{}, nil
}

// runLogMetric answers runs/log-metric {run_id, key, value, timestamp, step} with {}.
func (a *api) runLogMetric(c echo.Context) (any, error) {
	var req struct {
		runRef
		metricRequest
	}
	if err := bind(c, &req); err != nil {
		return nil, err
	}
	p, err := req.point(-1)
	if err != nil {
		return nil, err
	}
	return a.logBatch(c, req.runRef, registry.RunBatch{Metrics: []registry.MetricPoint{p}})
}

// kvRequest is the body of log-parameter, set-tag and delete-tag.
type kvRequest struct {
	runRef
	Key   string `json:"key"`
	Value string `json:"value"`
}

// runLogParam answers runs/log-parameter {run_id, key, value} with {}. A param
// is write-once: the same value again is accepted, another is
// INVALID_PARAMETER_VALUE.
func (a *api) runLogParam(c echo.Context) (any, error) {
	var req kvRequest
	if err := bind(c, &req); err != nil {
		return nil, err
	}
	if req.Key == "" {
		return nil, missing("key")
	}
	return a.logBatch(c, req.runRef, registry.RunBatch{Params: []registry.KeyValue{{Key: req.Key, Value: req.Value}}})
}

// runSetTag answers runs/set-tag {run_id, key, value} with {}; setting
// mlflow.runName renames the run.
func (a *api) runSetTag(c echo.Context) (any, error) {
	var req kvRequest
	if err := bind(c, &req); err != nil {
		return nil, err
	}
	if req.Key == "" {
		return nil, missing("key")
	}
	return a.logBatch(c, req.runRef, registry.RunBatch{Tags: []registry.KeyValue{{Key: req.Key, Value: req.Value}}})
}

// runDeleteTag answers runs/delete-tag {run_id, key} with {};
// RESOURCE_DOES_NOT_EXIST when the run has no such tag.
func (a *api) runDeleteTag(c echo.Context) (any, error) {
	var req kvRequest
	if err := bind(c, &req); err != nil {
		return nil, err
	}
	id, err := req.id()
	if err != nil {
		return nil, err
	}
	if req.Key == "" {
		return nil, missing("key")
	}
	if err := a.store.DeleteRunTag(a.ctx(c), id, req.Key); err != nil {
		return nil, err
	}
	return empty{}, nil
}

// runLogBatch answers runs/log-batch {run_id, metrics, params, tags} with {}.
// MLflow's limits hold: 1000 metrics, 100 params, 100 tags, 1000 items in all;
// the batch is written whole or not at all.
func (a *api) runLogBatch(c echo.Context) (any, error) {
	var req struct {
		runRef
		Metrics []metricRequest `json:"metrics"`
		Params  []keyValue      `json:"params"`
		Tags    []keyValue      `json:"tags"`
	}
	if err := bind(c, &req); err != nil {
		return nil, err
	}
	b := registry.RunBatch{Metrics: make([]registry.MetricPoint, len(req.Metrics))}
	for i, m := range req.Metrics {
		p, err := m.point(i)
		if err != nil {
			return nil, err
		}
		b.Metrics[i] = p
	}
	for _, p := range req.Params {
		b.Params = append(b.Params, registry.KeyValue(p))
	}
	for _, t := range req.Tags {
		b.Tags = append(b.Tags, registry.KeyValue(t))
	}
	return a.logBatch(c, req.runRef, b)
}

// runLogInputs answers runs/log-inputs {run_id, datasets: [{tags, dataset}]}
// with {}; the inputs come back in the run's "inputs".
func (a *api) runLogInputs(c echo.Context) (any, error) {
	var req struct {
		runRef
		Datasets []datasetInputJSON `json:"datasets"`
	}
	if err := bind(c, &req); err != nil {
		return nil, err
	}
	id, err := req.id()
	if err != nil {
		return nil, err
	}
	ins := make([]registry.DatasetInput, len(req.Datasets))
	for i, d := range req.Datasets {
		ins[i].Dataset = d.Dataset
		for _, t := range d.Tags {
			ins[i].Tags = append(ins[i].Tags, registry.KeyValue(t))
		}
	}
	if err := a.store.LogRunInputs(a.ctx(c), id, ins); err != nil {
		return nil, err
	}
	return empty{}, nil
}

// logModelHistoryTag is the run tag where MLflow lists the models logged by a run.
const logModelHistoryTag = "mlflow.log-model.history"

// runLogModel answers runs/log-model {run_id, model_json} with {}: the model's
// metadata is appended to the mlflow.log-model.history tag, dropping the oldest
// entries when the tag would pass its length bound.
func (a *api) runLogModel(c echo.Context) (any, error) {
	var req struct {
		runRef
		ModelJSON string `json:"model_json"`
	}
	if err := bind(c, &req); err != nil {
		return nil, err
	}
	id, err := req.id()
	if err != nil {
		return nil, err
	}
	var model json.RawMessage
	if err := json.Unmarshal([]byte(req.ModelJSON), &model); err != nil {
		return nil, invalid("Invalid value for parameter 'model_json': not JSON: %v", err)
	}
	ctx := a.ctx(c)
	r, err := a.store.GetRun(ctx, id)
	if err != nil {
		return nil, err
	}
	var history []json.RawMessage
	if old := r.Tags[logModelHistoryTag]; old != "" {
		_ = json.Unmarshal([]byte(old), &history) // a foreign value is replaced
	}
	history = append(history, model)
	for {
		raw, err := json.Marshal(history)
		if err != nil {
			return nil, err
		}
		if len(raw) <= registry.MaxRunTagValue {
			return a.logBatch(c, req.runRef, registry.RunBatch{Tags: []registry.KeyValue{{Key: logModelHistoryTag, Value: string(raw)}}})
		}
		if len(history) == 1 {
			return nil, invalid("Invalid value for parameter 'model_json': %d bytes; at most %d", len(raw), registry.MaxRunTagValue)
		}
		history = history[1:]
	}
}
