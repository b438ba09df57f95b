package server

import (
	"context"
	"errors"
	"fmt"
	"log/slog"
	"net/http"
	"os"
	"sync"
	"time"

	"github.com/VictoriaMetrics/metrics"
	"github.com/labstack/echo/v4"
	"github.com/labstack/echo/v4/middleware"

	"driftd/drift"
	"driftd/server/cluster"
	"driftd/stream"
)

// worker is the scoring side of DRIFTD_ROLE=worker: it follows the
// primary's deployment topics, loads the deployed version from the
// artifacts topic and scores its share of the features topic's partitions
// in the scorers' consumer group. It keeps no registry: its data directory
// is not used.
type worker struct {
	cfg    Config
	log    *slog.Logger
	status *statusBoard

	follower *cluster.Follower
	scorer   *stream.Scorer
	// artifactErrors counts bundles that could not be loaded (a chunk
	// missing, a digest mismatch, a model file that does not decode).
	artifactErrors *metrics.Counter
	swaps          *metrics.Counter

	// share publishes the drift monitor's counts for the primary to merge,
	// and this process's heartbeat.
	share *clusterShare
	set   *metrics.Set
	now   func() time.Time
	addr  func() string // the HTTP address ("" before it listens), for the heartbeat

	mu      sync.Mutex
	current cluster.Deployment // the deployment scoring now; zero when none
	failing string             // why the latest deployment record could not be loaded
	// monitor counts the scored records for the primary's merged drift
	// checks; nil when the version has no drift profile.
	monitor *drift.Monitor

	cancel context.CancelFunc
	wg     sync.WaitGroup
}

// workerRetry is how often a worker tries again to load a deployment whose
// bundle could not be loaded (the primary republishes missing chunks).
const workerRetry = 5 * time.Second

func newWorker(cfg Config, set *metrics.Set, status *statusBoard, logger *slog.Logger, now func() time.Time, addr func() string) (*worker, error) {
	kafka := cfg.KafkaClient()
	topics := stream.DefaultTopics()
	topics.Features = cfg.KafkaTopic
	sc, err := stream.NewScorer(stream.ScorerConfig{
		Client: kafka, Group: cfg.KafkaGroupID, SessionTimeout: cfg.KafkaSessionTimeout, Topics: topics, Logger: logger, Metrics: set,
		Partitions: int32(cfg.KafkaPartitions), Replication: int16(cfg.KafkaReplication),
	})
	if err != nil {
		return nil, fmt.Errorf("scorer: %w", err)
	}
	return &worker{cfg: cfg, log: logger.With("component", "worker"), status: status, scorer: sc, now: now, set: set, addr: addr,
		follower:       cluster.NewFollower(cluster.FollowerConfig{Kafka: kafka, Logger: logger, Metrics: set}),
		artifactErrors: set.GetOrCreateCounter(`driftd_cluster_artifact_errors_total`),
		swaps:          set.GetOrCreateCounter(`driftd_cluster_model_swaps_total`),
	}, nil
}

// start follows the deployment topics and starts the scorer, paused until
// the first deployment is loaded.
func (w *worker) start(ctx context.Context) error {
	ctx, w.cancel = context.WithCancel(ctx)
	w.status.set("kafka", true, StateReady, "external cluster "+fmt.Sprint(w.cfg.KafkaBrokers))
	w.status.set("deployment", true, StateStarting, "reading "+cluster.DeploymentsTopic+" and "+cluster.ArtifactsTopic)
	w.status.set("scorer", true, StateStarting, "")
	if err := cluster.WaitForKafka(ctx, w.cfg.KafkaClient(), 30*time.Second, w.log); err != nil {
		w.status.set("kafka", true, StateFailed, err.Error())
		return fmt.Errorf("KAFKA_BOOTSTRAP_SERVERS: %w", err)
	}
	w.follower.Start(ctx)
	id := shareID(w.cfg.Addr)
	share, err := startClusterShare(ctx, shareConfig{Kafka: w.cfg.KafkaClient(), ID: id,
		Snapshot: instanceSnapshot(id, "worker", w.now(), w.addr, w.scorer.Status, w.now),
		Logger:   w.log, Metrics: w.set, Now: w.now})
	if err != nil {
		return err
	}
	w.share = share
	if err := w.scorer.Start(ctx); err != nil {
		w.status.set("scorer", true, StateFailed, err.Error())
		return fmt.Errorf("start scorer: %w", err)
	}
	w.wg.Add(2)
	go w.follow(ctx)
	go w.tick(ctx)
	return nil
}

// tick closes expired tumbling drift windows and sends the sliding counts
// held back by the monitor's ContributeEvery on quiet streams until ctx
// ends; the window settings come with the deployment, so it ticks as often
// as a sliding contributor may contribute.
func (w *worker) tick(ctx context.Context) {
	defer w.wg.Done()
	tickTumbling(ctx, drift.DefaultContributeEvery, func() *drift.Monitor {
		w.mu.Lock()
		defer w.mu.Unlock()
		return w.monitor
	}, w.now)
}

// follow applies each deployment record to the scorer until ctx ends.
func (w *worker) follow(ctx context.Context) {
	defer w.wg.Done()
	retry := time.NewTicker(workerRetry)
	defer retry.Stop()
	wait := time.NewTicker(time.Second) // refreshes "waiting for the primary's topics"
	defer wait.Stop()
	for {
		select {
		case <-ctx.Done():
			return
		case <-w.follower.Changed():
		case <-retry.C:
			w.mu.Lock()
			failing := w.failing
			w.mu.Unlock()
			if failing == "" {
				continue
			}
		case <-wait.C:
			if ok, why := w.follower.Ready(); !ok {
				w.status.set("deployment", true, StateStarting, why)
			}
			continue
		}
		w.apply(ctx)
	}
}

// apply loads the deployment the topics name now and swaps the scorer to
// it between batches; a bundle that cannot be loaded leaves the scorer on
// the model it has.
func (w *worker) apply(ctx context.Context) {
	if ok, why := w.follower.Ready(); !ok {
		w.status.set("deployment", true, StateStarting, why)
		return
	}
	model, env := w.cfg.ModelName, w.cfg.ScoringEnvironment
	d, ok := w.follower.Deployment(model, env)
	w.mu.Lock()
	cur := w.current
	w.mu.Unlock()
	if !ok {
		if cur.Version != "" {
			w.log.Info("undeployed on the primary: scoring paused", "model", model, "environment", env)
		}
		w.scorer.SetModel(nil, nil)
		w.setCurrent(cluster.Deployment{}, "")
		// Not ready: a worker cannot tell "nothing deployed" from "no
		// primary has published yet", and it serves nothing but scoring.
		msg := fmt.Sprintf("no deployment of %s in %s on %s yet: deploy a version on the primary (records wait in Kafka)", model, env, cluster.DeploymentsTopic)
		w.status.set("deployment", true, StateStarting, msg)
		w.status.set("scorer", true, StateStarting, "paused until a deployment is loaded")
		return
	}
	if d.Digest == cur.Digest && d.Version == cur.Version && d.Drift == cur.Drift {
		w.setCurrent(cur, "")
		return
	}
	lctx, cancel := context.WithTimeout(ctx, 2*time.Minute)
	defer cancel()
	m, b, err := w.load(lctx, d)
	if err != nil {
		if ctx.Err() != nil {
			return
		}
		w.artifactErrors.Inc()
		w.log.Error("cannot load the deployed version; the scorer keeps its model", "model", model, "version", d.Version,
			"digest", d.Digest, "scoring", cur.Version, "err", err)
		w.setCurrent(cur, err.Error())
		if cur.Version == "" {
			w.status.set("deployment", true, StateFailed, fmt.Sprintf("cannot load %s %s: %v", model, d.Version, err))
		} else {
			w.status.set("deployment", true, StateDegraded, fmt.Sprintf("scoring %s %s; cannot load %s: %v", model, cur.Version, d.Version, err))
		}
		return
	}
	mon, obs := w.driftMonitor(b, m, d.Drift)
	w.scorer.SetModel(m, obs)
	w.mu.Lock()
	old := w.monitor
	w.monitor = mon
	w.mu.Unlock()
	if old != nil {
		old.Close() // hands over its last counts
	}
	w.swaps.Inc()
	w.setCurrent(d, "")
	detail := fmt.Sprintf("scoring %s with %s %s (deployed %s by %s)", w.cfg.KafkaTopic, model, d.Version, d.Time.Format(time.RFC3339), orUnknown(d.User))
	w.status.set("deployment", true, StateReady, detail)
	w.status.set("scorer", true, StateReady, detail)
	w.log.Info("scoring with model", "model", model, "version", d.Version, "digest", d.Digest, "previous", cur.Version)
}

func orUnknown(s string) string {
	if s == "" {
		return "unknown"
	}
	return s
}

// load reads and decodes the bundle of d.
func (w *worker) load(ctx context.Context, d cluster.Deployment) (*scoringModel, cluster.Bundle, error) {
	b, err := w.follower.Load(ctx, d)
	if err != nil {
		return nil, b, err
	}
	m, err := newScoringModel(b.Model, b.Version, b.ModelFile)
	return m, b, err
}

// driftMonitor builds the contributor drift monitor of a loaded bundle,
// counting in the windows the primary published (ds), and the observer the
// scorer feeds it; both nil (and drift off on this worker, logged) when the
// bundle has no usable profile.
func (w *worker) driftMonitor(b cluster.Bundle, m *scoringModel, ds cluster.DriftSettings) (*drift.Monitor, stream.Observer) {
	if len(b.Profile) == 0 {
		w.log.Warn("version has no drift reference profile; this worker counts no drift", "version", b.Version)
		return nil, nil
	}
	prof, err := drift.DecodeProfile(b.Profile)
	if err == nil {
		var mon *drift.Monitor
		mon, err = drift.NewMonitor(prof, drift.MonitorOptions{Model: b.Model, Version: b.Version, Environment: w.cfg.ScoringEnvironment,
			WindowSize: ds.WindowSize, CheckInterval: ds.CheckInterval, Tumbling: ds.Tumbling(), Now: w.now,
			PositiveClass: positiveClass(m.classes, m.objective), Contribute: w.share.contribute,
			Loss: lossEstimator(m, prof, b.Version, w.log)})
		if err == nil {
			var obs *driftObserver
			if obs, err = newDriftObserver(mon, prof.FeatureNames(), m.Schema()); err == nil {
				return mon, obs
			}
			mon.Close()
		}
	}
	w.log.Warn("drift counting off on this worker for this version", "version", b.Version, "err", err)
	return nil, nil
}

func (w *worker) setCurrent(d cluster.Deployment, failing string) {
	w.mu.Lock()
	w.current, w.failing = d, failing
	w.mu.Unlock()
}

// workerStatus is the worker's part of GET /api/v1/status.
type workerStatus struct {
	Role        string              `json:"role"`
	Deployment  *cluster.Deployment `json:"deployment,omitempty"`
	LoadError   string              `json:"load_error,omitempty"`
	Scorer      stream.Status       `json:"scorer"`
	CaughtUp    bool                `json:"caught_up"`
	WaitingFor  string              `json:"waiting_for,omitempty"`
	Group       string              `json:"group"`
	Topic       string              `json:"topic"`
	Environment string              `json:"environment"`
}

func (w *worker) snapshot() workerStatus {
	w.mu.Lock()
	cur, failing := w.current, w.failing
	w.mu.Unlock()
	ok, why := w.follower.Ready()
	st := workerStatus{Role: "worker", LoadError: failing, Scorer: w.scorer.Status(), CaughtUp: ok, WaitingFor: why,
		Group: w.cfg.KafkaGroupID, Topic: w.cfg.KafkaTopic, Environment: w.cfg.ScoringEnvironment}
	if cur.Version != "" {
		st.Deployment = &cur
	}
	return st
}

// close stops the scorer (committing what is acknowledged) and the follower.
func (w *worker) close(ctx context.Context) error {
	var errs []error
	if err := w.scorer.Close(ctx); err != nil {
		errs = append(errs, fmt.Errorf("close scorer: %w", err))
	}
	w.status.set("scorer", true, StateStopped, "")
	if w.cancel != nil {
		w.cancel()
	}
	if err := waitContext(ctx, &w.wg); err != nil {
		errs = append(errs, fmt.Errorf("worker goroutine (a model still loading?): %w", err))
	}
	w.mu.Lock()
	mon := w.monitor
	w.monitor = nil
	w.mu.Unlock()
	if mon != nil {
		mon.Close() // hands over its last counts before the publisher flushes
	}
	if w.share != nil {
		if err := w.share.close(ctx); err != nil {
			errs = append(errs, fmt.Errorf("cluster drift: %w", err))
		}
	}
	w.follower.Close()
	w.status.set("deployment", true, StateStopped, "")
	return errors.Join(errs...)
}

// startWorker starts the App as a worker: the scorer following the
// primary's deployments, and HTTP with /healthz, /readyz, /metrics and a
// read-only /api/v1/status; no registry, UI, API, scheduler or trainer.
func (a *App) startWorker(ctx context.Context) error {
	w, err := newWorker(a.cfg, a.metrics, a.status, a.logger, a.now, a.listenAddr)
	if err != nil {
		return err
	}
	a.worker = w
	if err := w.start(ctx); err != nil {
		return err
	}
	ln, err := a.listen()
	if err != nil {
		return err
	}
	e := echo.New()
	e.HideBanner, e.HidePort = true, true
	e.Use(middleware.Recover())
	e.Use(a.requestLog)
	e.GET("/healthz", a.healthz)
	e.GET("/readyz", a.readyz)
	e.GET("/metrics", a.metricsHandler)
	e.GET("/api/v1/status", a.workerStatus)
	a.echo = e
	a.serve(ln, time.Minute)
	host, _ := os.Hostname()
	a.logger.Info("driftd worker started", "addr", "http://"+ln.Addr().String(), "host", host, "brokers", a.cfg.KafkaBrokers,
		"group", a.cfg.KafkaGroupID, "model", a.cfg.ModelName, "environment", a.cfg.ScoringEnvironment, "version", a.build.Version)
	return nil
}

// workerStatusResponse is the body of a worker's GET /api/v1/status.
type workerStatusResponse struct {
	statusResponse
	Worker workerStatus `json:"worker"`
}

// workerStatus answers a worker's read-only status.
func (a *App) workerStatus(c echo.Context) error {
	return c.JSON(http.StatusOK, workerStatusResponse{
		statusResponse: statusResponse{Build: a.build, Ready: len(a.status.notReady()) == 0, Components: a.status.list()},
		Worker:         a.worker.snapshot(),
	})
}
