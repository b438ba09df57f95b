package server

import (
	"os"

	"github.com/labstack/echo/v4"
)

// algoFormFields are the form fields that only one algorithm uses. The
// form shows all of them without JavaScript; the server drops those of the
// algorithm not chosen, so a logistic run never records GBDT parameters.
var algoFormFields = map[string][]string{
	"gbdt":     {"rounds", "learning_rate", "max_leaves", "max_depth", "early_stopping"},
	"logistic": {"logistic_c", "logistic_max_iter"},
}

// submitTrainingForm queues a training job from the Training page's form:
// submitTraining with the other algorithm's fields dropped, the fields of
// the data source not chosen ("source": file or query) dropped, and, for
// a logistic run, the iteration bound as the job's round budget so its
// progress reads against it. Errors are as submitTraining's.
func (a *App) submitTrainingForm(c echo.Context) (TrainJobStatus, error) {
	form, err := c.FormParams() // parses the form once; readTrainRequest sees the same values
	if err != nil {
		return TrainJobStatus{}, badRequest("", "read form: %v", err)
	}
	algo := form.Get("algo")
	if algo == "" {
		algo = "gbdt"
	}
	for other, fields := range algoFormFields {
		if other != algo {
			for _, f := range fields {
				form.Del(f)
			}
		}
	}
	source := form.Get("source")
	switch source {
	case "query":
		form.Del("data")
		form.Del("test")
	case "file":
		form.Del("query")
		form.Del("test_query")
	}
	req, err := a.readTrainRequest(c)
	if err != nil {
		return TrainJobStatus{}, err
	}
	if source == "query" && req.upload != "" { // a file chosen, then the query
		os.Remove(req.upload)
		req.Data, req.upload, req.uploadName = "", "", ""
	}
	if n := req.Params["logistic_max_iter"]; algo == "logistic" && n != nil {
		req.Params["rounds"] = n
	}
	return a.queueTraining(c, req)
}
