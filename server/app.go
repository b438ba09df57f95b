package server

import (
	"context"
	"errors"
	"fmt"
	"log/slog"
	"net"
	"net/http"
	"os"
	"path/filepath"
	"sync"
	"sync/atomic"
	"time"

	"github.com/VictoriaMetrics/metrics"
	"github.com/labstack/echo/v4"

	"driftd/registry"
	"driftd/scheduler"
	"driftd/server/cluster"
	"driftd/server/demo"
	"driftd/server/flows"
)

// BuildInfo names the running binary; it is shown in the UI and exported as
// driftd_build_info.
type BuildInfo struct {
	Version   string `json:"version"`
	GoVersion string `json:"goversion"`
}

// App is the composition root: it owns every long-lived part of driftd and
// starts and stops them in order.
type App struct {
	cfg    Config
	build  BuildInfo
	logger *slog.Logger
	now    func() time.Time

	metrics *metrics.Set
	status  *statusBoard
	http    *httpMetrics

	store    *registry.Store
	auth     *authenticator
	pipeline *pipeline
	engine   *scheduler.Engine
	retrain  *retrainTrigger
	synth    *synthProducer
	serving  *serving        // REST scoring; set when the routes are built
	overview overviewSampler // the scorer's last sample, for rates on the Overview
	demo     *demo.Runner

	echo     *echo.Echo
	srv      *http.Server
	listener net.Listener
	started  time.Time
	// httpAddr is the listener's address once bound (a string), for
	// goroutines that must not read listener while Start sets it.
	httpAddr atomic.Value

	closeOnce sync.Once
	wg        sync.WaitGroup
	cancel    context.CancelFunc
	lag       *lagSampler // the consumer groups' lag over time (Kafka page)

	worker  *worker          // DRIFTD_ROLE=worker: the scorer following the primary
	primary *cluster.Primary // DRIFTD_CLUSTER=true: publishes the deployment for workers
	lease   *cluster.Lease   // DRIFTD_CLUSTER=true: the primary's lease
}

// Options are the dependencies of an App that tests may replace.
type Options struct {
	Logger *slog.Logger
	Build  BuildInfo
	// Now is the clock; nil means time.Now.
	Now func() time.Time
}

// New builds an App from a validated Config. Nothing is started yet.
func New(cfg Config, opts Options) *App {
	if opts.Logger == nil {
		opts.Logger = slog.New(slog.NewTextHandler(os.Stderr, nil))
	}
	if opts.Now == nil {
		opts.Now = time.Now
	}
	set := metrics.NewSet()
	return &App{
		cfg:     cfg,
		build:   opts.Build,
		logger:  opts.Logger,
		now:     opts.Now,
		metrics: set,
		status:  newStatusBoard(opts.Now),
		http:    newHTTPMetrics(set),
	}
}

// Engine returns the run engine once Start has returned, for commands that
// run flows in-process (driftd pipeline).
func (a *App) Engine() *scheduler.Engine { return a.engine }

// Addr returns the bound HTTP address once Start has returned.
func (a *App) Addr() string {
	if a.listener == nil {
		return ""
	}
	return a.listener.Addr().String()
}

// Start creates the data directory, opens the registry, starts Kafka and the
// scorer, binds the HTTP listener and starts serving. On error, everything
// already started is stopped again.
func (a *App) Start(ctx context.Context) (err error) {
	a.started = a.now()
	ctx, a.cancel = context.WithCancel(context.WithoutCancel(ctx))
	defer func() {
		if err != nil {
			cctx, cancel := context.WithTimeout(context.Background(), a.cfg.ShutdownTimeout)
			defer cancel()
			_ = a.Close(cctx)
		}
	}()
	a.metrics.NewGauge(fmt.Sprintf(`driftd_build_info{version=%q,goversion=%q}`, a.build.Version, a.build.GoVersion), func() float64 { return 1 })
	a.metrics.NewGauge(`driftd_start_time_seconds`, func() float64 { return float64(a.started.UnixNano()) / 1e9 })
	if a.cfg.Role == "worker" {
		return a.startWorker(ctx)
	}

	if err := os.MkdirAll(a.cfg.DataDir, 0o750); err != nil {
		return fmt.Errorf("create data directory %s: %w", a.cfg.DataDir, err)
	}
	a.status.set("registry", true, StateStarting, "")
	dbPath := filepath.Join(a.cfg.DataDir, "driftd.db")
	store, err := registry.Open(dbPath, registry.Options{
		Timeout:      2 * time.Second,
		Now:          a.now,
		Environments: a.cfg.Environments,
		Metrics:      a.metrics,
		Logger:       a.logger, // the registry names its component
	})
	if err != nil {
		err = lockedError(a.cfg.DataDir, err)
		a.status.set("registry", true, StateFailed, err.Error())
		return err
	}
	a.store = store
	if err := writePIDFile(a.cfg.DataDir); err != nil {
		return err
	}
	a.status.set("registry", true, StateReady, dbPath)
	if a.cfg.Cluster {
		// Before anything joins a consumer group: a second primary must not
		// score, nor publish.
		if err := a.acquireLease(ctx); err != nil {
			return err
		}
	}

	a.auth, err = newAuthenticator(ctx, a.cfg, a.store, a.logger.With("component", "auth"))
	if err != nil {
		return err
	}

	a.engine, err = scheduler.New(scheduler.Options{
		Store:   a.store,
		Now:     a.now,
		Logger:  a.logger,
		Metrics: a.metrics,
	})
	if err != nil {
		return fmt.Errorf("scheduler: %w", err)
	}
	a.retrain = newRetrainTrigger(a.cfg, a.engine, a.store, a.metrics, a.logger.With("component", "retrain"), a.now)
	a.pipeline = newPipeline(a.cfg, a.store, a.metrics, a.status, a.logger, a.now)
	a.pipeline.addr = a.listenAddr
	a.pipeline.onDrift, a.pipeline.onJoin = a.retrain.observe, a.retrain.label
	if err := flows.Register(a.engine, flows.Deps{
		Store:              a.store,
		Kafka:              a.pipeline.KafkaConfig,
		Topics:             a.pipeline.Topics(),
		Logger:             a.logger.With("component", "flows"),
		Now:                a.now,
		ScoringEnvironment: a.cfg.ScoringEnvironment,
		DatabaseURL:        a.cfg.DatabaseURL,
		ScoredModel:        a.cfg.ModelName,
		DriftBins:          a.cfg.DriftBins,
		DataDir:            a.cfg.DataDir,
		TrainDataDirs:      a.cfg.TrainDataDirs,
		Live:               liveScorer{a.pipeline},
		Retrain: flows.RetrainDefaults{Lookback: a.cfg.RetrainLookback, MinLabels: a.cfg.RetrainMinLabels,
			Margin: a.cfg.PromotionMargin, Promotion: a.cfg.Promotion},
	}); err != nil {
		return err
	}
	if err := a.pipeline.Start(ctx); err != nil {
		return err
	}
	if a.cfg.Cluster {
		if err := a.startPrimary(ctx); err != nil {
			return err
		}
	}
	a.status.set("scheduler", true, StateStarting, "")
	if err := a.engine.Start(ctx); err != nil {
		a.status.set("scheduler", true, StateFailed, err.Error())
		return fmt.Errorf("start scheduler: %w", err)
	}
	a.status.set("scheduler", true, StateReady, fmt.Sprintf("%d flows", len(a.engine.Flows())))
	a.startSystemMetrics(ctx)
	if err := a.retrain.start(ctx); err != nil {
		return err
	}
	a.synth = newSynthProducer(synthConfig{Store: a.store, Kafka: a.pipeline.KafkaConfig(), Topic: a.pipeline.Topics().Features,
		Model: a.cfg.ModelName, Environment: a.cfg.ScoringEnvironment, Now: a.now, Logger: a.logger.With("component", "synth")})
	if a.cfg.Demo {
		if err := a.startDemo(ctx); err != nil {
			return err
		}
	}

	ln, err := a.listen()
	if err != nil {
		return err
	}
	a.lag = a.newLagSampler()
	if a.pipeline != nil {
		a.wg.Add(1)
		go func() {
			defer a.wg.Done()
			a.lag.run(ctx)
		}()
	}
	a.echo = a.newEcho()
	a.serve(ln, 5*time.Minute)
	a.logger.Info("driftd started", "addr", "http://"+ln.Addr().String(), "data_dir", a.cfg.DataDir, "version", a.build.Version)
	return nil
}

// Close stops every part in reverse order of start: HTTP (draining in-flight
// requests), the demo and synthetic producers, the scheduler (running flows
// are cancelled), the pipeline (scorer commits, then Kafka), then the registry.
// Every wait is bounded by ctx: once ctx ends, what has not stopped is left
// behind (and reported) so the process can exit. It returns the errors met,
// joined.
func (a *App) Close(ctx context.Context) error {
	var errs []error
	a.closeOnce.Do(func() {
		if a.srv != nil {
			if err := a.srv.Shutdown(ctx); err != nil {
				errs = append(errs, fmt.Errorf("shutdown http: %w", err))
			}
			a.status.set("http", true, StateStopped, "")
		}
		if a.serving != nil {
			a.serving.close() // after HTTP: no request publishes any more
		}
		if a.demo != nil {
			if err := a.demo.Close(ctx); err != nil {
				errs = append(errs, fmt.Errorf("close demo: %w", err))
			}
		}
		if a.synth != nil {
			if err := a.synth.Close(ctx); err != nil {
				errs = append(errs, fmt.Errorf("close synthetic producer: %w", err))
			}
		}
		if a.engine != nil {
			if err := a.engine.Close(ctx); err != nil {
				errs = append(errs, fmt.Errorf("close scheduler: %w", err))
			}
			a.status.set("scheduler", true, StateStopped, "")
		}
		if a.retrain != nil {
			a.retrain.close()
		}
		if a.primary != nil {
			a.primary.Close()
		}
		if a.worker != nil {
			if err := a.worker.close(ctx); err != nil {
				errs = append(errs, err)
			}
		}
		if a.pipeline != nil {
			if err := a.pipeline.Close(ctx); err != nil {
				errs = append(errs, err)
			}
		}
		if a.lease != nil {
			a.lease.Release() // once this primary no longer scores nor publishes
		}
		if a.cancel != nil {
			a.cancel()
		}
		if err := waitContext(ctx, &a.wg); err != nil {
			errs = append(errs, fmt.Errorf("http server goroutine: %w", err))
		}
		if a.store != nil {
			removePIDFile(a.cfg.DataDir)
			if err := a.store.Close(); err != nil {
				errs = append(errs, fmt.Errorf("close registry: %w", err))
			}
			a.status.set("registry", true, StateStopped, "")
		}
	})
	return errors.Join(errs...)
}

// acquireLease takes the primary lease, failing with an error naming its
// holder when another primary has it.
func (a *App) acquireLease(ctx context.Context) error {
	a.status.set("cluster", true, StateStarting, "taking the primary lease")
	lease, err := cluster.AcquireLease(ctx, cluster.LeaseConfig{Kafka: a.cfg.KafkaClient(), Instance: instanceName(a.cfg.Addr),
		Logger: a.logger.With("component", "cluster-lease")})
	if err != nil {
		a.status.set("cluster", true, StateFailed, err.Error())
		return fmt.Errorf("DRIFTD_CLUSTER=true: %w", err)
	}
	a.lease = lease
	return nil
}

// startPrimary publishes the scoring environment's deployment for workers,
// then every change of it.
func (a *App) startPrimary(ctx context.Context) error {
	instance := instanceName(a.cfg.Addr)
	p, err := cluster.NewPrimary(cluster.PrimaryConfig{
		Kafka: a.pipeline.KafkaConfig(), Registry: a.store, Model: a.cfg.ModelName, Environment: a.cfg.ScoringEnvironment,
		Instance: instance, Replication: int16(a.cfg.KafkaReplication), Logger: a.logger, Metrics: a.metrics, Now: a.now,
		Drift: cluster.DriftSettings{WindowSize: a.cfg.DriftWindowSize, CheckInterval: a.cfg.DriftCheckInterval,
			TumblingMillis: a.cfg.DriftTumbling.Milliseconds()},
	})
	if err != nil {
		return err
	}
	if err := p.Start(ctx); err != nil {
		a.status.set("cluster", true, StateFailed, err.Error())
		return err
	}
	a.primary = p
	a.status.set("cluster", true, StateReady, fmt.Sprintf("primary %s publishing %s/%s to %s", instance, a.cfg.ModelName, a.cfg.ScoringEnvironment, cluster.DeploymentsTopic))
	return nil
}

// listen binds DRIFTD_ADDR and records the address for the cluster
// heartbeat, which reads it from other goroutines (listenAddr).
func (a *App) listen() (net.Listener, error) {
	ln, err := net.Listen("tcp", a.cfg.Addr)
	if err != nil {
		return nil, fmt.Errorf("listen on DRIFTD_ADDR %s: %w", a.cfg.Addr, err)
	}
	a.listener = ln
	a.httpAddr.Store(ln.Addr().String())
	return ln, nil
}

// listenAddr is the address HTTP listens on, "" before it does.
func (a *App) listenAddr() string {
	s, _ := a.httpAddr.Load().(string)
	return s
}

// instanceName names this process for the cluster: host and HTTP address.
func instanceName(addr string) string {
	host, err := os.Hostname()
	if err != nil {
		host = "unknown-host"
	}
	return fmt.Sprintf("%s/%s/pid-%d", host, addr, os.Getpid())
}

// waitContext waits for wg until ctx ends; it returns ctx's error when wg
// had not finished by then (its goroutines are left to end on their own).
func waitContext(ctx context.Context, wg *sync.WaitGroup) error {
	done := make(chan struct{})
	go func() { wg.Wait(); close(done) }()
	select {
	case <-done:
		return nil
	case <-ctx.Done():
		select {
		case <-done:
			return nil
		default:
			return ctx.Err()
		}
	}
}

// Run starts the App, waits for ctx to be cancelled (SIGINT/SIGTERM in main),
// then shuts down within the configured timeout.
func (a *App) Run(ctx context.Context) error {
	if err := a.Start(ctx); err != nil {
		return err
	}
	<-ctx.Done()
	a.logger.Info("shutting down", "timeout", a.cfg.ShutdownTimeout)
	sctx, cancel := context.WithTimeout(context.Background(), a.cfg.ShutdownTimeout)
	defer cancel()
	return a.Close(sctx)
}

// serve runs a.echo on ln until Close, reads and writes bounded by
// ioTimeout, and marks the http component ready.
func (a *App) serve(ln net.Listener, ioTimeout time.Duration) {
	a.srv = &http.Server{
		Handler:           a.echo,
		ReadHeaderTimeout: 10 * time.Second,
		ReadTimeout:       ioTimeout,
		WriteTimeout:      ioTimeout,
		IdleTimeout:       2 * time.Minute,
		ErrorLog:          slog.NewLogLogger(a.logger.Handler(), slog.LevelWarn),
	}
	a.wg.Add(1)
	go func() {
		defer a.wg.Done()
		if err := a.srv.Serve(ln); err != nil && !errors.Is(err, http.ErrServerClosed) {
			a.logger.Error("http server stopped", "err", err)
			a.status.set("http", true, StateFailed, err.Error())
		}
	}()
	a.status.set("http", true, StateReady, "http://"+ln.Addr().String())
}
