package server

import (
	"net/http"
	"slices"
	"time"

	"github.com/labstack/echo/v4"
)

// apiPredict scores JSON records (one object or an array of them, the
// stream's record format) with a version of a model: the one deployed to
// ?environment= (default DRIFTD_SCORING_ENVIRONMENT), the one ?alias= points
// at, or ?version=. It answers {"model", "version", "scores", "labels",
// "ids"}; a bad record is a 400 naming its index and field.
func (s *serving) apiPredict(c echo.Context) (err error) {
	start := time.Now()
	model, rows := "", 0
	defer func() { s.observe(model, err, rows, start) }()
	q := c.QueryParams()
	t := target{name: c.Param("name"), environment: q.Get("environment"), alias: q.Get("alias"), version: q.Get("version")}
	given := 0
	for _, v := range []string{t.environment, t.alias, t.version} {
		if v != "" {
			given++
		}
	}
	if given > 1 {
		return badRequest("", "give at most one of environment, alias and version")
	}
	if t.environment != "" && !slices.Contains(s.cfg.Environments, t.environment) {
		return badRequest("environment", "%q is not one of DRIFTD_ENVIRONMENTS %v", t.environment, s.cfg.Environments)
	}
	if given == 0 {
		t.environment = s.cfg.ScoringEnvironment
	}
	r, err := s.resolve(c.Request().Context(), t)
	if err != nil {
		return err
	}
	model = t.name
	rows, err = s.answer(c, r, false, func(body []byte) ([][]byte, error) { return splitRecords(body, s.cfg.ServingMaxRows) })
	return err
}

// answer reads the request body, splits it into JSON records with parse,
// scores them with r and writes the answer (with MLflow's "predictions"
// when mlflow is set); it returns the number of records scored.
func (s *serving) answer(c echo.Context, r resolved, mlflow bool, parse func(body []byte) ([][]byte, error)) (int, error) {
	body, err := readScoringBody(c.Request().Body)
	if err != nil {
		return 0, err
	}
	recs, err := parse(body)
	if err != nil {
		return 0, err
	}
	out, err := s.score(c.Request().Context(), r, recs)
	if err != nil {
		return 0, err
	}
	return len(recs), c.Blob(http.StatusOK, echo.MIMEApplicationJSON, appendScored(nil, out, r.sm.m.objective, mlflow))
}

// appendScored appends the JSON answer of a scoring request: model,
// version, scores, labels (not for regression) and ids (when any record had
// one); MLflow's "predictions" (labels, or values for regression) first when
// mlflow is set.
func appendScored(b []byte, out scored, objective string, mlflow bool) []byte {
	b = append(b, '{')
	if mlflow {
		b = append(b, `"predictions":`...)
		if objective == "regression" {
			b = appendScores(b, out.scores)
		} else {
			b = appendStrings(b, out.labels)
		}
		b = append(b, ',')
	}
	b = append(b, `"model":`...)
	b = appendJSONString(b, out.model)
	b = append(b, `,"version":`...)
	b = appendJSONString(b, out.version)
	b = append(b, `,"scores":`...)
	b = appendScores(b, out.scores)
	if objective != "regression" {
		b = append(b, `,"labels":`...)
		b = appendStrings(b, out.labels)
	}
	if out.hasIDs {
		b = append(b, `,"ids":`...)
		b = appendStrings(b, out.ids)
	}
	return append(b, '}')
}
