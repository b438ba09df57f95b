package server

import (
	"context"
	"crypto/subtle"
	"errors"
	"fmt"
	"log/slog"
	"net/http"
	"strings"
	"sync"
	"time"

	"github.com/VictoriaMetrics/metrics"
	"github.com/labstack/echo/v4"

	"driftd/registry"
	"driftd/stream"
)

// servingCacheSize bounds the model versions (other than the scorer's)
// that REST scoring keeps decoded.
const servingCacheSize = 8

// serving answers synchronous scoring requests: POST
// /api/v1/models/{name}/predict and MLflow's POST /invocations. It scores
// with the scorer's deployment when the request names it (so records feed
// the same drift monitor) and with versions it loads itself otherwise.
type serving struct {
	cfg      Config
	store    *registry.Store
	pipeline *pipeline
	auth     *authenticator
	metrics  *metrics.Set
	logger   *slog.Logger
	now      func() time.Time
	classify func(error) (int, apiError)

	duration *metrics.PrometheusHistogram

	mu    sync.Mutex
	cache map[string]*servedModel // name "\x00" version
	tick  uint64                  // LRU clock of cache
	prod  *stream.Producer        // predictions producer, made on first use
}

// servedModel is a decoded model version with its pool of decoders.
type servedModel struct {
	m        *scoringModel
	scratch  sync.Pool // *scoreScratch
	lastUsed uint64
}

// scoreScratch is one goroutine's decoder and record buffer, and the
// class probabilities of a multiclass request's records (kept from scoring
// to observing, for the drift monitor's CBPE).
type scoreScratch struct {
	dec   *stream.Decoder
	rec   stream.Decoded
	proba []float64
}

func newServedModel(m *scoringModel) *servedModel {
	s := &servedModel{m: m}
	schema := m.Schema()
	s.scratch.New = func() any { return &scoreScratch{dec: stream.NewDecoder(schema)} }
	return s
}

// servingBuckets are the upper bounds of the serving latency histogram:
// fine below 5 ms, where one scoring request lands, so histogram_quantile
// can tell a 1 ms p99 from a 2 ms one.
var servingBuckets = []float64{.0001, .00025, .0005, .00075, .001, .0015, .002, .003, .005, .0075, .01, .025, .05, .1, .25, .5, 1, 2.5, 5, 10}

// newServing builds the scoring service of a started App.
func (a *App) newServing() *serving {
	return &serving{cfg: a.cfg, store: a.store, pipeline: a.pipeline, auth: a.auth, metrics: a.metrics,
		logger: a.logger.With("component", "serving"), now: a.now, classify: a.classify,
		duration: a.metrics.GetOrCreatePrometheusHistogramExt(`driftd_serving_request_duration_seconds`, servingBuckets),
		cache:    map[string]*servedModel{}}
}

// servingRoutes registers the scoring routes. They sit outside the /api/v1
// group: the scoring token opens them and nothing else.
func (a *App) servingRoutes(e *echo.Echo) {
	s := a.newServing()
	a.serving = s
	e.POST("/api/v1/models/:name/predict", s.apiPredict, s.requireScoring)
	e.POST("/invocations", s.invocations, s.requireScoring)
}

// requireScoring lets a request through with the API token or the scoring
// token (DRIFTD_SCORING_TOKEN); anything else is a 401.
func (s *serving) requireScoring(next echo.HandlerFunc) echo.HandlerFunc {
	scoring := []byte(s.cfg.ScoringToken)
	return func(c echo.Context) error {
		h := c.Request().Header.Get(echo.HeaderAuthorization)
		ok := s.auth.checkToken(h)
		if !ok && len(scoring) > 0 {
			if tok, found := strings.CutPrefix(h, "Bearer "); found {
				ok = subtle.ConstantTimeCompare([]byte(strings.TrimSpace(tok)), scoring) == 1
			}
		}
		if !ok {
			c.Response().Header().Set("WWW-Authenticate", `Bearer realm="driftd"`)
			return echo.NewHTTPError(http.StatusUnauthorized, "scoring needs the API token or DRIFTD_SCORING_TOKEN: send Authorization: Bearer <token>")
		}
		return next(c)
	}
}

// observe records one finished scoring request in the serving metrics.
func (s *serving) observe(model string, err error, rows int, start time.Time) {
	status := http.StatusOK
	if err != nil {
		status, _ = s.classify(err)
	}
	s.metrics.GetOrCreateCounter(fmt.Sprintf(`driftd_serving_requests_total{model=%q,status="%d"}`, model, status)).Inc()
	s.duration.UpdateDuration(start)
	if err == nil && rows > 0 {
		s.metrics.GetOrCreateCounter(fmt.Sprintf(`driftd_serving_rows_total{model=%q}`, model)).Add(rows)
	}
}

// target says which version of a model a request scores.
type target struct {
	name, environment, alias, version string
}

// resolved is what one request scores with: the model, and the drift
// observer when the version is the one the scorer uses.
type resolved struct {
	sm  *servedModel
	obs stream.Observer
}

// resolve finds the version t names and returns it decoded. The scorer's
// deployment is used when t names its version, so a swap made meanwhile
// never affects a request that already holds its model. It returns
// registry.ErrNotFound (a 404) for an unknown model, version or alias, or
// nothing deployed.
func (s *serving) resolve(ctx context.Context, t target) (resolved, error) {
	var d *deployment
	if t.name == s.cfg.ModelName && s.pipeline != nil {
		d = s.pipeline.servingDeployment()
	}
	version := t.version
	switch {
	case version != "":
	case t.alias != "":
		v, err := s.store.AliasVersion(ctx, t.name, t.alias)
		if err != nil {
			return resolved{}, fmt.Errorf("alias %q of %s: %w", t.alias, t.name, err)
		}
		version = v.Version
	case t.environment == s.cfg.ScoringEnvironment && d != nil:
		version = d.model.version // what the scorer scores with, even while a new one loads
	default:
		v, err := s.store.Deployed(ctx, t.name, t.environment)
		if err != nil {
			return resolved{}, fmt.Errorf("version of %s deployed to %s: %w", t.name, t.environment, err)
		}
		version = v.Version
	}
	if d != nil && d.model.version == version {
		r := resolved{sm: s.cached(t.name, version, d.model)}
		if s.cfg.ServingDrift {
			r.obs = d.httpObserver()
		}
		return r, nil
	}
	if sm := s.cached(t.name, version, nil); sm != nil {
		return resolved{sm: sm}, nil
	}
	art, err := s.store.Artifact(ctx, t.name, version)
	if err != nil {
		return resolved{}, fmt.Errorf("model %s version %s: %w", t.name, version, err)
	}
	m, err := newScoringModel(t.name, version, art)
	if err != nil {
		return resolved{}, err
	}
	return resolved{sm: s.cached(t.name, version, m)}, nil
}

// cached returns the cache entry of name and version. With m non-nil it
// makes sure the entry holds m (a newly loaded model, or the scorer's); with
// m nil it returns nil when there is no entry. The least recently used entry
// is dropped beyond servingCacheSize; requests holding it are unaffected.
func (s *serving) cached(name, version string, m *scoringModel) *servedModel {
	key := name + "\x00" + version
	s.mu.Lock()
	defer s.mu.Unlock()
	s.tick++
	sm := s.cache[key]
	if m != nil && (sm == nil || sm.m != m) {
		sm = newServedModel(m)
		s.cache[key] = sm
		if len(s.cache) > servingCacheSize {
			oldest := ""
			for k, e := range s.cache {
				if k != key && (oldest == "" || e.lastUsed < s.cache[oldest].lastUsed) {
					oldest = k
				}
			}
			delete(s.cache, oldest)
		}
	}
	if sm != nil {
		sm.lastUsed = s.tick
	}
	return sm
}

// scored is the outcome of one request.
type scored struct {
	model, version string
	ids            []string
	scores         []float64
	labels         []string
	hasIDs         bool
}

// score decodes and scores raw JSON records with r, feeding r's drift
// observer, and publishes the predictions when DRIFTD_SERVING_PUBLISH is on.
// A record that does not decode is a 400 naming its index and field; no
// record of such a request is observed or published.
func (s *serving) score(ctx context.Context, r resolved, records [][]byte) (scored, error) {
	out := scored{model: r.sm.m.name, version: r.sm.m.version,
		ids: make([]string, len(records)), scores: make([]float64, len(records)), labels: make([]string, len(records))}
	sc := r.sm.scratch.Get().(*scoreScratch)
	defer r.sm.scratch.Put(sc)
	// Decode and score everything first: a bad record fails the request
	// before any record reaches the drift monitor.
	sc.proba = sc.proba[:0]
	for i, b := range records {
		if err := sc.dec.Decode(b, &sc.rec); err != nil {
			return scored{}, recordError(i, err)
		}
		out.ids[i] = sc.rec.ID
		out.hasIDs = out.hasIDs || sc.rec.ID != ""
		out.scores[i], out.labels[i] = r.sm.m.Score(&sc.rec)
		if r.obs != nil {
			sc.proba = append(sc.proba, sc.rec.Proba...)
		}
	}
	if r.obs != nil && len(records) > 0 {
		// Each record goes to the monitor with its own class
		// probabilities (multiclass; none otherwise), not the last one's.
		k, own := len(sc.proba)/len(records), sc.rec.Proba
		for i, b := range records {
			_ = sc.dec.Decode(b, &sc.rec) // decoded fine above
			sc.rec.Proba = sc.proba[i*k : (i+1)*k : (i+1)*k]
			r.obs.Observe(&sc.rec, out.scores[i])
		}
		sc.rec.Proba = own
	}
	if s.cfg.ServingPublish && out.hasIDs {
		s.publish(ctx, out)
	}
	return out, nil
}

// recordError turns a decode error of record i into a 400 naming the
// record and, when there is one, the field.
func recordError(i int, err error) error {
	var de *stream.DecodeError
	if errors.As(err, &de) {
		return badRequest(de.Field, "record %d: %s", i, de.Error())
	}
	return badRequest("", "record %d: %v", i, err)
}

// publish produces the predictions that carry an id to the predictions
// topic, in the scorer's format, and hands them to the label joiner. It
// does not wait for the broker: failures are counted by the producer.
func (s *serving) publish(ctx context.Context, out scored) {
	prod, err := s.producer()
	if err != nil {
		s.logger.Warn("cannot publish REST predictions", "err", err)
		return
	}
	topic := s.pipeline.Topics().Predictions
	ts := s.now().UTC()
	var b []byte
	for i, id := range out.ids {
		if id == "" {
			continue
		}
		b = appendRESTPrediction(b[:0], id, out.model, out.version, out.scores[i], out.labels[i], ts)
		prod.Produce(context.WithoutCancel(ctx), topic, []byte(id), append([]byte(nil), b...))
		if s.pipeline.labels != nil {
			s.pipeline.labels.Remember(id, out.scores[i], out.labels[i])
		}
	}
}

// producer returns the predictions producer, making it on first use.
func (s *serving) producer() (*stream.Producer, error) {
	s.mu.Lock()
	defer s.mu.Unlock()
	if s.prod != nil {
		return s.prod, nil
	}
	p, err := stream.NewProducer(s.pipeline.KafkaConfig())
	if err != nil {
		return nil, fmt.Errorf("predictions producer: %w", err)
	}
	s.prod = p
	return p, nil
}

// appendRESTPrediction appends {"id","model","version","score","label","ts"},
// the scorer's prediction record.
func appendRESTPrediction(b []byte, id, model, version string, score float64, label string, ts time.Time) []byte {
	b = append(b, `{"id":`...)
	b = appendJSONString(b, id)
	b = append(b, `,"model":`...)
	b = appendJSONString(b, model)
	b = append(b, `,"version":`...)
	b = appendJSONString(b, version)
	b = append(b, `,"score":`...)
	b = appendScore(b, score)
	b = append(b, `,"label":`...)
	b = appendJSONString(b, label)
	b = append(b, `,"ts":"`...)
	b = ts.AppendFormat(b, time.RFC3339Nano)
	return append(b, `"}`...)
}

// close closes the predictions producer, if one was made. App.Close should
// call it after the HTTP server has shut down (see servingRoutes).
func (s *serving) close() {
	s.mu.Lock()
	p := s.prod
	s.prod = nil
	s.mu.Unlock()
	if p != nil {
		p.Close()
	}
}
