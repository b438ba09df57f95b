package server

import (
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"maps"
	"mime/multipart"
	"net/http"
	"os"
	"path/filepath"
	"slices"
	"strconv"
	"strings"

	"github.com/labstack/echo/v4"

	"driftd/scheduler"
	"driftd/server/flows"
)

// trainRequest is the body of POST /api/v1/train (JSON), or the same fields
// of a form (multipart with the CSV uploaded as file field "data"). Query
// and TestQuery, PostgreSQL queries run on the server's
// DRIFTD_DATABASE_URL, replace Data and Test.
type trainRequest struct {
	Data          string                     `json:"data"`
	Test          string                     `json:"test"`
	Query         string                     `json:"query"`
	TestQuery     string                     `json:"test_query"`
	Target        string                     `json:"target"`
	ID            string                     `json:"id"`
	Categorical   []string                   `json:"categorical"`
	Algo          string                     `json:"algo"`
	Objective     string                     `json:"objective"`
	Params        map[string]json.RawMessage `json:"params"`
	ValidFraction *float64                   `json:"valid_fraction"`
	Model         string                     `json:"model"`
	Experiment    string                     `json:"experiment"`
	Register      *bool                      `json:"register"`
	Deploy        string                     `json:"deploy"`

	upload     string // stored upload path, removed when the request is refused
	uploadName string // the uploaded file's own name, for error messages
}

// trainFormParams are the training parameters a form may carry as fields.
var trainFormParams = []string{"rounds", "learning_rate", "max_leaves", "max_depth", "early_stopping", "seed", "logistic_c", "logistic_max_iter"}

// apiTrain answers POST /api/v1/train: it validates the request, queues the
// job and answers 202 {"run_id", "state"} at once; 429 when the queue is full.
func (a *App) apiTrain(c echo.Context) error {
	st, err := a.submitTraining(c)
	if err != nil {
		return err
	}
	return c.JSON(http.StatusAccepted, map[string]any{"run_id": st.RunID, "state": st.State, "model": st.Model})
}

// apiTrainJobs answers GET /api/v1/train/jobs with {"jobs": [...]}: the
// running job, the queued ones and the recently ended ones with their progress.
func (a *App) apiTrainJobs(c echo.Context) error {
	jobs, err := a.trainJobs(c.Request().Context())
	if err != nil {
		return err
	}
	if jobs == nil {
		jobs = []TrainJobStatus{}
	}
	return c.JSON(http.StatusOK, map[string]any{"jobs": jobs})
}

// trainTopLevel are the fields of a training request that are not under
// "params": the train flow's errors name them without the prefix.
var trainTopLevel = map[string]bool{"data": true, "test": true, "query": true, "test_query": true, "target": true, "id": true, "categorical": true,
	"algo": true, "objective": true, "valid_fraction": true, "model": true, "experiment": true, "register": true, "deploy": true}

// submitTraining reads a training request and submits it as a run of the
// train flow on the training queue; the API and the UI form share it. Bad
// fields are 400s naming the field, a full queue is a 429.
func (a *App) submitTraining(c echo.Context) (TrainJobStatus, error) {
	req, err := a.readTrainRequest(c)
	if err != nil {
		return TrainJobStatus{}, err
	}
	return a.queueTraining(c, req)
}

// queueTraining submits a read training request to the training queue. On
// refusal it removes the request's upload and answers as the API does: bad
// fields are 400s naming the field, a full queue is a 429.
func (a *App) queueTraining(c echo.Context, req *trainRequest) (TrainJobStatus, error) {
	params, err := req.flowParams()
	if err == nil {
		var run scheduler.Run
		run, err = a.engine.Submit(c.Request().Context(), flows.FlowTrain, params, scheduler.SubmitOptions{
			Trigger: scheduler.Trigger{Kind: scheduler.TriggerManual, By: currentUser(c).Name}})
		if err == nil {
			return a.trainJob(run), nil
		}
	}
	if req.upload != "" {
		os.Remove(req.upload)
	}
	return TrainJobStatus{}, trainSubmitError(err)
}

// trainSubmitError turns the train flow's refusal into the API's errors:
// bad fields are 400s naming the field, a full queue is a 429.
func trainSubmitError(err error) error {
	var pe *scheduler.ParamError
	switch {
	case errors.As(err, &pe):
		field := pe.Field
		if k, ok := strings.CutPrefix(field, "params."); ok && trainTopLevel[k] {
			field = k
		}
		return badRequest(field, "%s", pe.Msg)
	case errors.Is(err, scheduler.ErrQueueFull):
		return echo.NewHTTPError(http.StatusTooManyRequests,
			fmt.Sprintf("the training queue is full: %v; try again when a job has ended", err))
	}
	return err
}

// flowParams turns a training request into the train flow's parameters.
func (req *trainRequest) flowParams() (map[string]any, error) {
	p := map[string]any{}
	for k, v := range map[string]string{"data": req.Data, "test": req.Test, "query": req.Query, "test_query": req.TestQuery,
		"target": req.Target, "id": req.ID,
		"algo": req.Algo, "objective": req.Objective, "model": req.Model, "experiment": req.Experiment,
		"deploy": req.Deploy, "data_name": req.uploadName, "categorical": strings.Join(req.Categorical, ",")} {
		if v != "" {
			p[k] = v
		}
	}
	if p["deploy"] == "none" {
		delete(p, "deploy")
	}
	if req.ValidFraction != nil {
		p["valid_fraction"] = *req.ValidFraction
	}
	if req.Register != nil {
		p["register"] = *req.Register
	}
	for _, k := range slices.Sorted(maps.Keys(req.Params)) {
		if trainTopLevel[k] || k == "run_id" || k == "data_name" {
			return nil, badRequest("params."+k, "not a training parameter (set %s at the top level)", k)
		}
		var v any
		dec := json.NewDecoder(strings.NewReader(string(req.Params[k])))
		dec.UseNumber()
		if err := dec.Decode(&v); err != nil {
			return nil, badRequest("params."+k, "not valid JSON: %v", err)
		}
		p[k] = v
	}
	return p, nil
}

// readTrainRequest decodes a JSON body or a form (multipart or urlencoded).
func (a *App) readTrainRequest(c echo.Context) (*trainRequest, error) {
	req := &trainRequest{}
	ct := c.Request().Header.Get(echo.HeaderContentType)
	if strings.HasPrefix(ct, echo.MIMEApplicationJSON) {
		dec := json.NewDecoder(c.Request().Body)
		dec.DisallowUnknownFields()
		if err := dec.Decode(req); err != nil {
			return nil, badRequest("", "body is not valid JSON for this call: %v", err)
		}
		req.resolvePaths(a.cfg.DataDir)
		return req, nil
	}
	form, err := c.FormParams()
	if err != nil {
		return nil, badRequest("", "read form: %v", err)
	}
	req.Data, req.Test, req.Target, req.ID = form.Get("data"), form.Get("test"), form.Get("target"), form.Get("id")
	req.Query, req.TestQuery = form.Get("query"), form.Get("test_query")
	req.Algo, req.Objective, req.Model = form.Get("algo"), form.Get("objective"), form.Get("model")
	req.Experiment, req.Deploy = form.Get("experiment"), form.Get("deploy")
	req.Categorical = splitFields(form.Get("categorical"))
	req.resolvePaths(a.cfg.DataDir)
	if s := form.Get("valid_fraction"); s != "" {
		f, err := strconv.ParseFloat(s, 64)
		if err != nil {
			return nil, badRequest("valid_fraction", "not a number: %q", s)
		}
		req.ValidFraction = &f
	}
	if form.Has("register") || form.Has("register_present") {
		v := form.Get("register")
		reg := v == "on" || v == "true" || v == "1"
		req.Register = &reg
	}
	req.Params = map[string]json.RawMessage{}
	for _, k := range trainFormParams {
		if s := strings.TrimSpace(form.Get(k)); s != "" {
			req.Params[k] = json.RawMessage(strconv.Quote(s))
		}
	}
	if fh, err := c.FormFile("data"); err == nil {
		if err := a.storeUpload(req, fh); err != nil {
			return nil, err
		}
	} else if !errors.Is(err, http.ErrMissingFile) && strings.HasPrefix(ct, echo.MIMEMultipartForm) {
		return nil, badRequest("data", "read upload: %v", err)
	}
	return req, nil
}

// resolvePaths makes the server-side paths data and test that are relative
// relative to the data directory instead of the server's working directory:
// {"data": "train.csv"} is <data-dir>/train.csv. Which directories a job may
// read is checked by the train flow.
func (req *trainRequest) resolvePaths(dataDir string) {
	for _, p := range []*string{&req.Data, &req.Test} {
		if *p != "" && !filepath.IsAbs(*p) {
			*p = filepath.Join(dataDir, *p)
		}
	}
}

// storeUpload copies an uploaded CSV under <data-dir>/uploads/ with a
// generated name; the request body limit bounds its size.
func (a *App) storeUpload(req *trainRequest, fh *multipart.FileHeader) error {
	dir := filepath.Join(a.cfg.DataDir, "uploads")
	if err := os.MkdirAll(dir, 0o750); err != nil {
		return fmt.Errorf("create upload directory: %w", err)
	}
	src, err := fh.Open()
	if err != nil {
		return badRequest("data", "read upload: %v", err)
	}
	defer src.Close()
	path := filepath.Join(dir, randomToken(12)+".csv")
	dst, err := os.OpenFile(path, os.O_WRONLY|os.O_CREATE|os.O_EXCL, 0o640)
	if err != nil {
		return fmt.Errorf("store upload: %w", err)
	}
	if _, err := io.Copy(dst, src); err != nil {
		dst.Close()
		os.Remove(path)
		return badRequest("data", "read upload: %v", err)
	}
	if err := dst.Close(); err != nil {
		os.Remove(path)
		return fmt.Errorf("store upload: %w", err)
	}
	req.Data, req.upload, req.uploadName = path, path, filepath.Base(fh.Filename)
	return nil
}

// splitFields splits a comma-separated list, dropping empty items.
func splitFields(s string) []string {
	var out []string
	for _, f := range strings.Split(s, ",") {
		if f = strings.TrimSpace(f); f != "" {
			out = append(out, f)
		}
	}
	return out
}
