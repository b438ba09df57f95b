package server

import (
	"context"
	"errors"
	"fmt"
	"log/slog"
	"path/filepath"
	"strconv"
	"sync"
	"sync/atomic"
	"time"

	"github.com/VictoriaMetrics/metrics"

	"driftd/drift"
	"driftd/registry"
	"driftd/server/cluster"
	"driftd/server/flows"
	"driftd/stream"
)

// pipeline owns the Kafka side of driftd: the embedded broker (when no
// external cluster is configured), the scorer, and the model and drift
// monitor it scores with, swapped when a deployment changes.
type pipeline struct {
	cfg     Config
	store   *registry.Store
	metrics *metrics.Set
	status  *statusBoard
	logger  *slog.Logger
	now     func() time.Time

	broker *stream.Broker
	scorer *stream.Scorer
	labels *stream.LabelJoiner
	admin  *stream.Admin
	events *eventPublisher
	// history keeps drift checks in the registry for the Drift page's charts.
	history *driftRecorder
	kafka   stream.Config
	topics  stream.Topics

	// hooks, set before Start: onDrift sees every drift check of the
	// deployed version (on the monitor's checker goroutine), onJoin every
	// label joined to its prediction, loaded every version built by a
	// reload before the scorer is swapped to it (tests hold a reload there).
	// Any may be nil.
	onDrift func(drift.Event)
	onJoin  func()
	loaded  func(version string)

	// share, with DRIFTD_CLUSTER=true, publishes the drift monitor's counts
	// and this process's heartbeat, merges every scoring process's counts
	// into the monitor's checks and lists the live instances; nil otherwise.
	share *clusterShare
	// addr returns the address HTTP listens on ("" before it does), for
	// the heartbeat; set by the App before Start.
	addr func() string

	wg     sync.WaitGroup
	cancel context.CancelFunc
	// reloadReq holds at most one pending "the deployment changed" request
	// for the reloader goroutine: requests coalesce, the latest state wins.
	reloadReq   chan struct{}
	unsubscribe func()

	mu       sync.Mutex // guards deployed, paused and closed; never held while loading
	deployed *deployment
	paused   string // why scoring is paused by an operator; "" = not paused
	closed   bool
}

// deployment is the model version the scorer currently uses.
type deployment struct {
	model   *scoringModel
	monitor *drift.Monitor
	obs     stream.Observer
	// fromStream and fromHTTP wrap obs for the two sources that feed the
	// monitor, counting their records; nil when obs is.
	fromStream, fromHTTP *countingObserver
	// loaded is when the deployment was loaded (the counters' start).
	loaded time.Time
	// weights are the features' shares of the model's importance (gain, or
	// |coefficient| for linear models), summing to 1; weightBasis names it.
	weights     map[string]float64
	weightBasis string
	// names are the profile's feature names, in the monitor's order.
	names  []string
	cancel func()
}

// stop closes the deployment's drift monitor, which evaluates and publishes
// the checks still queued, then unsubscribes from its events.
func (d *deployment) stop() {
	if d.monitor != nil {
		d.monitor.Close()
	}
	d.cancel()
}

func newPipeline(cfg Config, store *registry.Store, set *metrics.Set, status *statusBoard, logger *slog.Logger, now func() time.Time) *pipeline {
	topics := stream.DefaultTopics()
	topics.Features = cfg.KafkaTopic
	return &pipeline{cfg: cfg, store: store, metrics: set, status: status, logger: logger, now: now, topics: topics,
		history: newDriftRecorder(store, cfg.ModelName, set, logger.With("component", "drift-history"))}
}

// Start starts the embedded broker when needed, then the scorer, and loads
// the model deployed to the scoring environment.
func (p *pipeline) Start(ctx context.Context) error {
	ctx, p.cancel = context.WithCancel(ctx)
	p.reloadReq = make(chan struct{}, 1)
	brokers := p.cfg.KafkaBrokers
	if len(brokers) == 0 {
		p.status.set("kafka", true, StateStarting, "embedded broker")
		b, err := stream.NewBroker(stream.BrokerConfig{
			Addr:       p.cfg.KafkaListen,
			DataDir:    filepath.Join(p.cfg.DataDir, "kafka"),
			Partitions: p.cfg.KafkaPartitions,
			SyncWrites: p.cfg.KafkaSyncWrites,
			Retention: stream.RetentionConfig{
				Age: p.cfg.KafkaRetention, Bytes: p.cfg.KafkaRetentionBytes, Topics: p.topics.All(),
				// Records these groups have not committed are never deleted.
				Consumers: map[string][]string{
					p.topics.Features: {p.cfg.KafkaGroupID},
					p.topics.Labels:   {p.cfg.KafkaGroupID + "-labels"},
				},
			},
			Metrics: p.metrics,
		}, p.logger.With("component", "broker"))
		if err != nil {
			p.status.set("kafka", true, StateFailed, err.Error())
			return fmt.Errorf("embedded Kafka broker (DRIFTD_KAFKA_LISTEN): %w", err)
		}
		if err := b.Start(ctx); err != nil {
			p.status.set("kafka", true, StateFailed, err.Error())
			return fmt.Errorf("start embedded Kafka broker: %w", err)
		}
		p.broker = b
		brokers = []string{b.Addr()}
		p.status.set("kafka", true, StateReady, "embedded broker on "+b.Addr())
	} else {
		p.status.set("kafka", true, StateReady, "external cluster "+fmt.Sprint(brokers))
	}
	p.kafka = p.cfg.KafkaClient()
	p.kafka.Brokers = brokers
	adm, err := stream.NewAdmin(p.kafka)
	if err != nil {
		return fmt.Errorf("kafka admin client: %w", err)
	}
	p.admin = adm
	p.events = newEventPublisher(adm, p.topics.DriftEvents, p.metrics, p.logger.With("component", "drift-events"))
	p.events.start()
	p.history.start()
	lc := stream.LabelConfig{
		Client: p.kafka, Group: p.cfg.KafkaGroupID + "-labels", Topic: p.topics.Labels,
		Now: p.now, Logger: p.logger, Metrics: p.metrics, // the joiner names its component
		OnJoin: p.onLabel,
	}
	if p.cfg.Cluster {
		// Workers score too: the primary remembers every process's
		// predictions from the predictions topic, so a label joins
		// whichever process scored its record, and accuracy covers them all.
		lc.Predictions = p.topics.Predictions
	}
	lj, err := stream.NewLabelJoiner(lc)
	if err != nil {
		return fmt.Errorf("label joiner: %w", err)
	}
	onPrediction := lj.Remember
	if p.cfg.Cluster {
		onPrediction = nil // read back from the topic
	}
	p.labels = lj
	sc, err := stream.NewScorer(stream.ScorerConfig{
		Client:         p.kafka,
		Group:          p.cfg.KafkaGroupID,
		SessionTimeout: p.cfg.KafkaSessionTimeout,
		Topics:         p.topics,
		Logger:         p.logger, // the scorer names its component
		Metrics:        p.metrics,
		Partitions:     int32(p.cfg.KafkaPartitions),
		Replication:    int16(p.cfg.KafkaReplication),
		OnPrediction:   onPrediction,
	})
	if err != nil {
		return fmt.Errorf("scorer: %w", err)
	}
	p.status.set("scorer", true, StateStarting, "")
	p.scorer = sc
	if p.cfg.Cluster {
		id := shareID(p.cfg.Addr)
		share, err := startClusterShare(ctx, shareConfig{Kafka: p.kafka, ID: id,
			Snapshot: instanceSnapshot(id, "primary", p.now(), p.addr, sc.Status, p.now),
			OnMerged: p.onMerged, Logger: p.logger.With("component", "cluster-drift"), Metrics: p.metrics, Now: p.now})
		if err != nil {
			return err
		}
		p.share = share
	}
	if err := lj.Start(ctx); err != nil {
		return fmt.Errorf("start label joiner: %w", err)
	}
	// The subscriber only asks for a reload: registry notifications are
	// delivered in commit order on the registry's goroutine for this
	// subscription, and decoding an artifact (up to 256 MB) there would
	// hold up every later notification.
	p.unsubscribe = p.store.Subscribe(func(ch registry.DeploymentChange) {
		if ch.Model == p.cfg.ModelName && ch.Environment == p.cfg.ScoringEnvironment {
			p.requestReload()
		}
	})
	if p.cfg.DriftTumbling > 0 || p.share != nil {
		p.wg.Add(1)
		go p.tick(ctx)
	}
	// The version deployed now scores when Start returns; changes made from
	// here on are loaded by the reloader. It is handed to the scorer before
	// the scorer starts, so a restart does not pause it ("no model
	// deployed") for the moment the model takes to load.
	if err := p.reloadDeployed(ctx); err != nil {
		return fmt.Errorf("read deployed model: %w", err)
	}
	if err := sc.Start(ctx); err != nil {
		p.status.set("scorer", true, StateFailed, err.Error())
		return fmt.Errorf("start scorer: %w", err)
	}
	p.wg.Add(1)
	go p.reloader(ctx)
	return nil
}

// requestReload asks the reloader to load what is deployed now; a request
// made while another is pending coalesces with it.
func (p *pipeline) requestReload() {
	select {
	case p.reloadReq <- struct{}{}:
	default:
	}
}

// reloader loads the deployed version after each deployment change, one at a
// time, until ctx ends. It reads the version from the registry rather than
// from the change, so however requests coalesce the latest deployment wins.
func (p *pipeline) reloader(ctx context.Context) {
	defer p.wg.Done()
	for {
		select {
		case <-ctx.Done():
			return
		case <-p.reloadReq:
		}
		if err := p.reloadDeployed(ctx); err != nil && ctx.Err() == nil {
			p.logger.Error("cannot read the deployed model", "model", p.cfg.ModelName, "environment", p.cfg.ScoringEnvironment, "err", err)
		}
	}
}

// reloadDeployed swaps the scorer to the version deployed in the scoring
// environment (or pauses it when there is none). The artifact is decoded and
// the drift monitor built without p.mu held, so label joins, /api/v1/drift
// and Pause go on meanwhile; a version superseded by a newer deployment
// change while it loads is dropped unused. It returns the registry's error
// when the deployed version cannot be read.
func (p *pipeline) reloadDeployed(ctx context.Context) error {
	version, err := p.deployedVersion(ctx)
	if err != nil {
		return err
	}
	p.mu.Lock()
	current := p.deployed != nil && p.deployed.model.version == version
	p.mu.Unlock()
	if current {
		return nil
	}
	var d *deployment
	if version != "" {
		d, err = p.load(ctx, version)
		if p.loaded != nil {
			p.loaded(version)
		}
		if len(p.reloadReq) > 0 {
			// The deployment changed while this version loaded. Take the
			// request, then ask the registry: when it still names this
			// version (the change was the notification of this very
			// deployment, arriving late) keep the load; otherwise drop it and
			// ask again. A change after the take re-arms the request itself.
			select {
			case <-p.reloadReq:
			default:
			}
			if latest, lerr := p.deployedVersion(ctx); lerr != nil || latest != version {
				if d != nil {
					d.stop()
				}
				p.requestReload()
				return nil
			}
		}
	}
	if old := p.swap(version, d, err); old != nil {
		// Stopped once the scorer has switched away from it, so that its
		// queued checks are still published.
		old.stop()
	}
	return nil
}

// deployedVersion returns the version deployed in the scoring environment,
// "" when there is none.
func (p *pipeline) deployedVersion(ctx context.Context) (string, error) {
	v, err := p.store.Deployed(ctx, p.cfg.ModelName, p.cfg.ScoringEnvironment)
	switch {
	case err == nil:
		return v.Version, nil
	case errors.Is(err, registry.ErrNotFound):
		return "", nil
	default:
		return "", err
	}
}

// swap makes d (version, or nothing for "") the deployment the scorer uses,
// or records why version cannot score (loadErr), and returns the deployment
// it replaced for the caller to stop. After Close it only stops d.
func (p *pipeline) swap(version string, d *deployment, loadErr error) (old *deployment) {
	p.mu.Lock()
	defer p.mu.Unlock()
	if p.closed {
		if d != nil {
			d.stop()
		}
		return nil
	}
	old, p.deployed = p.deployed, nil
	switch {
	case version == "":
		p.scorer.SetModel(nil, nil)
		p.status.set("scorer", true, StateDegraded, fmt.Sprintf("no model deployed: deploy a version of %q to %s to start scoring (records wait in Kafka)", p.cfg.ModelName, p.cfg.ScoringEnvironment))
	case loadErr != nil:
		p.logger.Error("cannot score with the deployed model", "model", p.cfg.ModelName, "version", version, "err", loadErr)
		p.scorer.SetModel(nil, nil)
		p.status.set("scorer", true, StateFailed, loadErr.Error())
	default:
		p.deployed = d
		if p.paused != "" {
			p.status.set("scorer", true, StateDegraded, fmt.Sprintf("paused (%s); %s %s is deployed and scores on resume", p.paused, p.cfg.ModelName, version))
		} else {
			p.scoreWith(d)
		}
	}
	return old
}

// scoreWith hands d to the scorer; p.mu is held.
func (p *pipeline) scoreWith(d *deployment) {
	p.scorer.SetModel(d.model, d.streamObserver())
	p.status.set("scorer", true, StateReady, fmt.Sprintf("scoring %s with %s %s", p.topics.Features, p.cfg.ModelName, d.model.version))
	p.logger.Info("scoring with model", "model", p.cfg.ModelName, "version", d.model.version, "environment", p.cfg.ScoringEnvironment)
}

// Pause stops scoring until Resume: records wait in Kafka, offsets stay
// uncommitted, and deployments go on being loaded.
func (p *pipeline) Pause(reason string) {
	p.mu.Lock()
	defer p.mu.Unlock()
	if reason == "" {
		reason = "paused by an operator"
	}
	p.paused = reason
	p.scorer.SetModel(nil, nil)
	p.status.set("scorer", true, StateDegraded, fmt.Sprintf("paused (%s): records wait in Kafka", reason))
	p.logger.Info("scoring paused", "reason", reason)
}

// Resume scores again with the deployed version after Pause.
func (p *pipeline) Resume() {
	p.mu.Lock()
	defer p.mu.Unlock()
	if p.paused == "" {
		return
	}
	p.paused = ""
	p.logger.Info("scoring resumed")
	if p.deployed != nil {
		p.scoreWith(p.deployed)
		return
	}
	p.status.set("scorer", true, StateDegraded, fmt.Sprintf("no model deployed: deploy a version of %q to %s to start scoring (records wait in Kafka)", p.cfg.ModelName, p.cfg.ScoringEnvironment))
}

// Paused returns why scoring is paused, "" when it is not.
func (p *pipeline) Paused() string {
	p.mu.Lock()
	defer p.mu.Unlock()
	return p.paused
}

// KafkaConfig returns the Kafka client configuration: the embedded broker's
// address or the external cluster with its TLS and SASL settings.
func (p *pipeline) KafkaConfig() stream.Config { return p.kafka }

// load reads one version's artifact and profile and builds its adapter,
// monitor and drift observer. It takes no lock.
func (p *pipeline) load(ctx context.Context, version string) (*deployment, error) {
	art, err := p.store.Artifact(ctx, p.cfg.ModelName, version)
	if err != nil {
		return nil, err
	}
	m, err := newScoringModel(p.cfg.ModelName, version, art)
	if err != nil {
		return nil, err
	}
	d := &deployment{model: m, cancel: func() {}, loaded: p.now()}
	d.weights, d.weightBasis = importanceShares(m.m)
	raw, err := p.store.Profile(ctx, p.cfg.ModelName, version)
	if err != nil && !errors.Is(err, registry.ErrNotFound) {
		return nil, err
	}
	if len(raw) == 0 {
		p.logger.Warn("version has no drift reference profile; drift monitoring is off", "version", version)
		return d, nil
	}
	prof, err := drift.DecodeProfile(raw)
	if err != nil {
		return nil, fmt.Errorf("drift profile of %s: %w", version, err)
	}
	loss := lossEstimator(m, prof, version, p.logger)
	mon, err := drift.NewMonitor(prof, drift.MonitorOptions{
		Model: p.cfg.ModelName, Version: version, Environment: p.cfg.ScoringEnvironment,
		WindowSize: p.cfg.DriftWindowSize, CheckInterval: p.cfg.DriftCheckInterval, MinWindow: p.cfg.DriftMinWindow,
		RetrainThreshold: p.cfg.RetrainThreshold, AlertThreshold: p.cfg.AlertThreshold, DriftShare: p.cfg.DriftShare,
		Metrics: p.metrics, Now: p.now, PositiveClass: positiveClass(m.classes, m.objective),
		Tumbling: p.cfg.DriftTumbling, Thresholds: p.cfg.DriftThresholds, Loss: loss,
		Contribute: p.contribute(),
	})
	if err != nil {
		return nil, fmt.Errorf("drift monitor of %s: %w", version, err)
	}
	d.monitor, d.names = mon, prof.FeatureNames()
	if o, err := newDriftObserver(mon, d.names, m.Schema()); err != nil {
		p.logger.Warn("drift monitoring off for this version", "version", version, "err", err)
	} else {
		d.obs = o
		d.fromStream, d.fromHTTP = &countingObserver{next: o}, &countingObserver{next: o}
	}
	var alerting atomic.Bool
	// RETRAIN_THRESHOLD's verdict, for alerts and dashboards.
	retrain := p.metrics.GetOrCreateGauge(fmt.Sprintf(`driftd_retrain_recommended{model=%q}`, p.cfg.ModelName), nil)
	// Drift that matters: the features' PSIs weighted by their importance.
	var weighted *metrics.Gauge
	if d.weights != nil {
		weighted = p.metrics.GetOrCreateGauge(fmt.Sprintf(`driftd_drift_weighted_psi{model=%q}`, p.cfg.ModelName), nil)
	}
	d.cancel = mon.Subscribe(func(ev drift.Event) {
		if weighted != nil {
			weighted.Set(weightedPSI(ev.Features, d.weights))
		}
		if ev.Retrain {
			retrain.Set(1)
		} else {
			retrain.Set(0)
		}
		if ev.Alert && alerting.CompareAndSwap(false, true) {
			p.logger.Warn("drift alert: a feature passed the alert threshold", "model", ev.Model, "version", ev.Version, "max_psi", ev.MaxPSI, "drift_share", ev.DriftShare, "dataset_drift", ev.DatasetDrift)
		} else if !ev.Alert && alerting.CompareAndSwap(true, false) {
			p.logger.Info("drift alert cleared", "model", ev.Model, "version", ev.Version, "max_psi", ev.MaxPSI)
		}
		if p.onDrift != nil {
			p.onDrift(ev)
		}
		p.history.record(ev, mon)
		if p.events.due(ev) {
			p.events.publish(DriftView{Model: ev.Model, Version: ev.Version, Environment: p.cfg.ScoringEnvironment, Event: ev, Performance: mon.Performance()})
		}
	})
	return d, nil
}

// lossEstimator returns the DLE loss models a regression version's model
// file carries, adapted to its profile; nil (and DLE off, with a warning
// when the profile expected them) when there are none or they do not fit.
func lossEstimator(m *scoringModel, prof *drift.Profile, version string, log *slog.Logger) drift.LossEstimator {
	b, ok := m.m.Attachment(flows.LossAttachment)
	if !ok || prof.Loss == nil {
		if prof.Loss != nil {
			log.Warn("drift profile has a DLE reference but the model file no loss models; estimated RMSE is off", "version", version)
		}
		return nil
	}
	lm, err := flows.DecodeLossModels(b)
	if err == nil {
		kinds := make([]bool, len(prof.Features))
		for i := range prof.Features {
			kinds[i] = prof.Features[i].Categorical
		}
		var est drift.LossEstimator
		if est, err = lm.Estimator(prof.FeatureNames(), kinds); err == nil {
			return est
		}
	}
	log.Warn("loss models unusable; estimated RMSE is off", "version", version, "err", err)
	return nil
}

// Close stops the scorer (committing what is acknowledged), then the broker.
func (p *pipeline) Close(ctx context.Context) error {
	var errs []error
	if p.unsubscribe != nil {
		p.unsubscribe()
	}
	if p.labels != nil {
		if err := p.labels.Close(ctx); err != nil {
			errs = append(errs, fmt.Errorf("close label joiner: %w", err))
		}
	}
	if p.scorer != nil {
		if err := p.scorer.Close(ctx); err != nil {
			errs = append(errs, fmt.Errorf("close scorer: %w", err))
		}
		p.status.set("scorer", true, StateStopped, "")
	}
	if p.cancel != nil {
		p.cancel()
	}
	if err := waitContext(ctx, &p.wg); err != nil {
		errs = append(errs, fmt.Errorf("pipeline goroutines (a model still loading?): %w", err))
	}
	// The scorer no longer observes: the monitor's queued checks are
	// published before the drift events publisher closes. A reload still
	// running finds the pipeline closed and drops what it loaded.
	p.mu.Lock()
	d := p.deployed
	p.deployed, p.closed = nil, true
	p.mu.Unlock()
	if d != nil {
		d.stop()
	}
	if p.share != nil {
		// After the monitor's close, which hands over its last counts.
		if err := p.share.close(ctx); err != nil {
			errs = append(errs, fmt.Errorf("cluster drift: %w", err))
		}
	}
	if err := p.history.close(ctx); err != nil {
		errs = append(errs, err)
	}
	if p.events != nil {
		if err := p.events.close(ctx); err != nil {
			errs = append(errs, err)
		}
	}
	if p.admin != nil {
		p.admin.Close()
	}
	if p.broker != nil {
		if err := p.broker.Close(ctx); err != nil {
			errs = append(errs, fmt.Errorf("close broker: %w", err))
		}
		p.status.set("kafka", true, StateStopped, "")
	}
	return errors.Join(errs...)
}

// contribute is the drift monitors' Contribute: with DRIFTD_CLUSTER=true
// they publish their counts for the merger, nil otherwise.
func (p *pipeline) contribute() func(drift.WindowCounts) {
	if p.share == nil {
		return nil
	}
	return p.share.contribute
}

// onMerged checks the window merged from every scoring process's counts
// with the deployed version's monitor, whose subscribers (drift history,
// events, metrics, retrain) take it as its own check. Counts of another
// model or version are not this monitor's.
func (p *pipeline) onMerged(model, version string, w drift.MergedWindow, instances []string) {
	if model != p.cfg.ModelName {
		return
	}
	p.mu.Lock()
	d := p.deployed
	p.mu.Unlock()
	if d == nil || d.monitor == nil || d.model.version != version {
		p.logger.Debug("merged drift window of a version not deployed here", "model", model, "version", version, "window", w.Window)
		return
	}
	if _, err := d.monitor.CheckMerged(w); err != nil {
		p.logger.Warn("merged drift window does not fit the profile", "model", model, "version", version, "window", w.Window,
			"instances", instances, "err", err)
	}
}

// LiveInstances lists the cluster's live scoring processes; nil when this
// is not a cluster's primary.
func (p *pipeline) LiveInstances() []cluster.Instance { return p.share.live() }

// onLabel feeds a joined label to the monitor of the deployed version, for
// live accuracy.
func (p *pipeline) onLabel(_ string, score float64, predicted, actual string) {
	p.mu.Lock()
	d := p.deployed
	p.mu.Unlock()
	if p.onJoin != nil {
		p.onJoin()
	}
	if d == nil || d.monitor == nil {
		return
	}
	if d.model.objective == "regression" {
		pv, err1 := strconv.ParseFloat(predicted, 64)
		av, err2 := strconv.ParseFloat(actual, 64)
		if err1 != nil {
			pv, err1 = score, nil
		}
		if err1 == nil && err2 == nil {
			d.monitor.ObserveValue(pv, av)
		}
		return
	}
	d.monitor.ObserveLabel(score, predicted, actual)
}

// DriftView is the live drift state of the deployed model.
type DriftView struct {
	Model, Version, Environment string
	Event                       drift.Event
	Performance                 drift.Performance
	// FedByStream and FedByHTTP count the records the Kafka scorer and HTTP
	// scoring fed to this version's monitor since it was loaded (Since).
	FedByStream, FedByHTTP uint64
	Since                  time.Time
	// Weights are the features' shares of the model's importance and
	// WeightBasis what they measure; nil when the model reports none.
	Weights     map[string]float64
	WeightBasis string
}

// streamObserver is the observer the Kafka scorer feeds; nil when the
// version has no drift monitor.
func (d *deployment) streamObserver() stream.Observer {
	if d.fromStream == nil {
		return nil
	}
	return d.fromStream
}

// httpObserver is the observer HTTP scoring feeds; nil when the version has
// no drift monitor.
func (d *deployment) httpObserver() stream.Observer {
	if d.fromHTTP == nil {
		return nil
	}
	return d.fromHTTP
}

// Drift returns the latest drift check and live performance of the deployed
// model; ok is false when nothing is deployed or it has no drift profile.
func (p *pipeline) Drift() (DriftView, bool) {
	p.mu.Lock()
	d := p.deployed
	p.mu.Unlock()
	if d == nil || d.monitor == nil {
		return DriftView{}, false
	}
	return DriftView{Model: d.model.name, Version: d.model.version, Environment: p.cfg.ScoringEnvironment,
		Event: d.monitor.Snapshot(), Performance: d.monitor.Performance(), Since: d.loaded,
		FedByStream: counted(d.fromStream), FedByHTTP: counted(d.fromHTTP), Weights: d.weights, WeightBasis: d.weightBasis}, true
}

// counted is o's count, 0 for nil.
func counted(o *countingObserver) uint64 {
	if o == nil {
		return 0
	}
	return o.n.Load()
}

// Admin returns the Kafka admin client for the topic, group and message views.
func (p *pipeline) Admin() *stream.Admin { return p.admin }

// ScorerStatus returns the scorer's state and counters.
func (p *pipeline) ScorerStatus() stream.Status { return p.scorer.Status() }

// Topics returns the topic names the pipeline uses.
func (p *pipeline) Topics() stream.Topics { return p.topics }

// positiveClass is the class whose probability a binary model scores.
func positiveClass(classes []string, objective string) string {
	if objective == "binary" && len(classes) == 2 {
		return classes[1]
	}
	return ""
}

// tick closes expired tumbling drift windows, and sends a cluster's
// sliding counts held back by the monitor's ContributeEvery, on quiet
// streams until ctx ends.
func (p *pipeline) tick(ctx context.Context) {
	defer p.wg.Done()
	every := drift.DefaultContributeEvery
	if p.cfg.DriftTumbling > 0 {
		every = max(min(p.cfg.DriftTumbling/10, time.Second), 10*time.Millisecond)
	}
	tickTumbling(ctx, every, func() *drift.Monitor {
		p.mu.Lock()
		defer p.mu.Unlock()
		if p.deployed == nil {
			return nil
		}
		return p.deployed.monitor
	}, p.now)
}

// tickTumbling ticks the monitor scoring now (nil: none) every interval
// until ctx ends, closing expired tumbling windows on quiet streams, where
// no record arrives to close them (and sending a contributor's held-back
// sliding counts).
func tickTumbling(ctx context.Context, every time.Duration, monitor func() *drift.Monitor, now func() time.Time) {
	t := time.NewTicker(every)
	defer t.Stop()
	for {
		select {
		case <-ctx.Done():
			return
		case <-t.C:
			if m := monitor(); m != nil {
				m.Tick(now())
			}
		}
	}
}

// servingDeployment returns the deployment the scorer uses, nil when none
// is loaded, for REST scoring (it stays set while scoring is paused).
func (p *pipeline) servingDeployment() *deployment {
	p.mu.Lock()
	defer p.mu.Unlock()
	return p.deployed
}
