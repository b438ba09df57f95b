package server

import (
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"mime/multipart"
	"net/http"
	"os"
	"path/filepath"
	"slices"
	"strconv"
	"strings"

	"github.com/labstack/echo/v4"

	"driftd/registry"
	"driftd/train"
)

// trainRequest is the body of POST /api/v1/train (JSON), or the same fields
// of a form (multipart with the CSV uploaded as file field "data").
type trainRequest struct {
	Data          string                     `json:"data"`
	Test          string                     `json:"test"`
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
var trainFormParams = []string{"rounds", "learning_rate", "max_leaves", "max_depth", "early_stopping", "seed"}

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
	return c.JSON(http.StatusOK, map[string]any{"jobs": a.trainer.jobs()})
}

// submitTraining reads, validates and queues a training request; the API and
// the UI form share it.
func (a *App) submitTraining(c echo.Context) (TrainJobStatus, error) {
	req, err := a.readTrainRequest(c)
	if err != nil {
		return TrainJobStatus{}, err
	}
	js, err := a.trainJobSpec(req, currentUser(c).Name)
	if err == nil {
		var st TrainJobStatus
		if st, err = a.trainer.submit(c.Request().Context(), js); err == nil {
			return st, nil
		}
	}
	if req.upload != "" {
		os.Remove(req.upload)
	}
	if errors.Is(err, errQueueFull) {
		return TrainJobStatus{}, echo.NewHTTPError(http.StatusTooManyRequests,
			fmt.Sprintf("%v: %d jobs are waiting behind the running one; try again when one has ended", err, trainQueueMax))
	}
	return TrainJobStatus{}, err
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
		return req, nil
	}
	form, err := c.FormParams()
	if err != nil {
		return nil, badRequest("", "read form: %v", err)
	}
	req.Data, req.Test, req.Target, req.ID = form.Get("data"), form.Get("test"), form.Get("target"), form.Get("id")
	req.Algo, req.Objective, req.Model = form.Get("algo"), form.Get("objective"), form.Get("model")
	req.Experiment, req.Deploy = form.Get("experiment"), form.Get("deploy")
	req.Categorical = splitFields(form.Get("categorical"))
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

// trainJobSpec validates a request and turns it into a job; every error is a
// 400 naming the field.
func (a *App) trainJobSpec(req *trainRequest, user string) (trainJobSpec, error) {
	js := trainJobSpec{Model: req.Model, Experiment: req.Experiment, Register: true, Deploy: req.Deploy, User: user}
	if req.Target == "" {
		return js, badRequest("target", "required: the column to learn")
	}
	for _, f := range [][2]string{{"data", req.Data}, {"test", req.Test}} {
		field, p := f[0], f[1]
		if p == "" {
			continue
		}
		fi, err := os.Stat(p)
		switch {
		case err != nil:
			return js, badRequest(field, "file %s not found on the server: %v", p, err)
		case fi.IsDir():
			return js, badRequest(field, "%s is a directory, not a CSV file", p)
		case !a.readableTrainPath(p):
			return js, badRequest(field, "%s is outside the directories training may read: the data directory and DRIFTD_TRAIN_DATA_DIRS %v (or upload the file)", p, a.cfg.TrainDataDirs)
		}
	}
	if req.Data == "" {
		return js, badRequest("data", "required: a CSV path on the server or an uploaded file")
	}
	p := train.DefaultParams()
	p.Algo, p.Objective = req.Algo, req.Objective
	if p.Algo == "" {
		p.Algo = "gbdt"
	}
	if p.Algo != "gbdt" && p.Algo != "logistic" {
		return js, badRequest("algo", "%q: must be gbdt or logistic", req.Algo)
	}
	switch p.Objective {
	case "", "binary", "multiclass", "regression":
	default:
		return js, badRequest("objective", "%q: must be binary, multiclass or regression (or empty: from the target)", p.Objective)
	}
	for _, k := range sortedKeys(req.Params) {
		if err := setTrainParam(&p, k, req.Params[k]); err != nil {
			return js, err
		}
	}
	frac := 0.2
	if req.ValidFraction != nil {
		frac = *req.ValidFraction
	}
	if frac < 0 || frac >= 1 {
		return js, badRequest("valid_fraction", "%v: must be in [0, 1)", frac)
	}
	if js.Model == "" {
		js.Model = a.cfg.ModelName
	}
	if err := registry.ValidateName("model", js.Model); err != nil {
		return js, err
	}
	if js.Experiment == "" {
		js.Experiment = "default"
	}
	if req.Register != nil {
		js.Register = *req.Register
	}
	if js.Deploy == "none" {
		js.Deploy = ""
	}
	if js.Deploy != "" {
		if !slices.Contains(a.store.Environments(), js.Deploy) {
			return js, badRequest("deploy", "unknown environment %q (one of %s)", js.Deploy, strings.Join(a.store.Environments(), ", "))
		}
		if !js.Register {
			return js, badRequest("deploy", "deploying needs register: true")
		}
	}
	name := req.uploadName
	if name == "" {
		name = req.Data
	}
	js.Spec = TrainSpec{Data: req.Data, Test: req.Test, ValidFraction: frac, Seed: p.Seed, Params: p,
		CSV: train.CSVOptions{Delimiter: ',', Target: req.Target, ID: req.ID, Categorical: req.Categorical, Name: name}}
	js.Params = map[string]string{
		"algo": p.Algo, "objective": p.Objective, "data": name, "test": req.Test, "target": req.Target, "id": req.ID,
		"categorical": strings.Join(req.Categorical, ","), "valid_fraction": ftoa(frac), "model": js.Model,
		"rounds": strconv.Itoa(p.Rounds), "learning_rate": ftoa(p.LearningRate), "max_leaves": strconv.Itoa(p.MaxLeaves),
		"max_depth": strconv.Itoa(p.MaxDepth), "max_bins": strconv.Itoa(p.MaxBins), "min_child_weight": ftoa(p.MinChildWeight),
		"min_samples_leaf": strconv.Itoa(p.MinSamplesLeaf), "lambda": ftoa(p.Lambda), "min_split_gain": ftoa(p.MinSplitGain),
		"subsample": ftoa(p.Subsample), "colsample": ftoa(p.Colsample), "grow": p.Grow, "early_stopping": strconv.Itoa(p.EarlyStopping),
		"seed": itoa64(p.Seed), "logistic_c": ftoa(p.LogisticC), "logistic_max_iter": strconv.Itoa(p.LogisticMaxIter),
	}
	for k, v := range js.Params {
		if v == "" {
			delete(js.Params, k)
		}
	}
	return js, nil
}

// setTrainParam sets one training parameter from its JSON value (a number,
// or a string holding one), checking its range; errors name "params.<key>".
func setTrainParam(p *train.Params, key string, raw json.RawMessage) error {
	field := "params." + key
	s := strings.TrimSpace(string(raw))
	if strings.HasPrefix(s, `"`) {
		if err := json.Unmarshal(raw, &s); err != nil {
			return badRequest(field, "not a valid JSON string: %v", err)
		}
	}
	num := func(lo, hi float64, dst *float64) error {
		v, err := strconv.ParseFloat(s, 64)
		if err != nil || v < lo || v > hi {
			return badRequest(field, "%q: must be a number in [%v, %v]", s, lo, hi)
		}
		*dst = v
		return nil
	}
	integer := func(lo, hi int, dst *int) error {
		v, err := strconv.Atoi(s)
		if err != nil || v < lo || v > hi {
			return badRequest(field, "%q: must be an integer in [%d, %d]", s, lo, hi)
		}
		*dst = v
		return nil
	}
	switch key {
	case "rounds":
		return integer(1, 100000, &p.Rounds)
	case "learning_rate":
		if err := num(0, 10, &p.LearningRate); err != nil || p.LearningRate == 0 {
			return badRequest(field, "%q: must be a number in (0, 10]", s)
		}
	case "max_leaves":
		return integer(2, 1<<16, &p.MaxLeaves)
	case "max_depth":
		return integer(0, 64, &p.MaxDepth)
	case "max_bins":
		return integer(2, 255, &p.MaxBins)
	case "min_child_weight":
		return num(0, 1e12, &p.MinChildWeight)
	case "min_samples_leaf":
		return integer(0, 1<<30, &p.MinSamplesLeaf)
	case "lambda":
		return num(0, 1e12, &p.Lambda)
	case "min_split_gain":
		return num(0, 1e12, &p.MinSplitGain)
	case "subsample":
		return num(1e-9, 1, &p.Subsample)
	case "colsample":
		return num(1e-9, 1, &p.Colsample)
	case "early_stopping":
		return integer(0, 100000, &p.EarlyStopping)
	case "threads":
		return integer(0, 1024, &p.Threads)
	case "logistic_max_iter":
		return integer(1, 1000000, &p.LogisticMaxIter)
	case "logistic_c":
		if err := num(0, 1e12, &p.LogisticC); err != nil || p.LogisticC == 0 {
			return badRequest(field, "%q: must be a number in (0, 1e12]", s)
		}
	case "seed":
		v, err := strconv.ParseInt(s, 10, 64)
		if err != nil {
			return badRequest(field, "%q: must be an integer", s)
		}
		p.Seed = v
	case "grow":
		if s != "leafwise" && s != "depthwise" {
			return badRequest(field, "%q: must be leafwise or depthwise", s)
		}
		p.Grow = s
	default:
		return badRequest(field, "unknown training parameter")
	}
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

func sortedKeys[V any](m map[string]V) []string {
	ks := make([]string, 0, len(m))
	for k := range m {
		ks = append(ks, k)
	}
	slices.Sort(ks)
	return ks
}

// readableTrainPath reports whether a server-side CSV path lies inside the
// data directory or one of DRIFTD_TRAIN_DATA_DIRS, after resolving symbolic
// links, so a training job cannot be pointed at arbitrary files.
func (a *App) readableTrainPath(p string) bool {
	real, err := filepath.EvalSymlinks(p)
	if err != nil {
		return false
	}
	if real, err = filepath.Abs(real); err != nil {
		return false
	}
	for _, root := range append([]string{a.cfg.DataDir}, a.cfg.TrainDataDirs...) {
		r, err := filepath.EvalSymlinks(root)
		if err != nil {
			continue
		}
		if r, err = filepath.Abs(r); err != nil {
			continue
		}
		if rel, err := filepath.Rel(r, real); err == nil && rel != ".." && !strings.HasPrefix(rel, ".."+string(filepath.Separator)) {
			return true
		}
	}
	return false
}
