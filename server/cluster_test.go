package server

import (
	"bufio"
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"log/slog"
	"math/rand/v2"
	"net/http"
	"os"
	"os/exec"
	"os/signal"
	"path/filepath"
	"strconv"
	"strings"
	"sync"
	"syscall"
	"testing"
	"time"

	"driftd/server/cluster"
	"driftd/stream"
)

// clusterEnv is the environment of one instance of a test cluster.
func clusterEnv(t *testing.T, brokers []string, secrets string, extra map[string]string) map[string]string {
	t.Helper()
	env := map[string]string{
		"DRIFTD_ADDR": "127.0.0.1:0", "DRIFTD_DATA_DIR": t.TempDir(), "DRIFTD_ADMIN_PASSWORD": "correct-horse",
		"KAFKA_BOOTSTRAP_SERVERS": strings.Join(brokers, ","), "DRIFTD_KAFKA_PARTITIONS": "6", "DRIFTD_KAFKA_REPLICATION": "3",
		"DRIFTD_API_TOKEN_FILE": filepath.Join(secrets, "api-token"), "DRIFTD_SESSION_KEY_FILE": filepath.Join(secrets, "session-key"),
		"DRIFTD_RETRAIN": "off", "DRIFTD_TRAIN_DATA_DIRS": os.TempDir(),
	}
	for k, v := range extra {
		env[k] = v
	}
	return env
}

// writeSecrets writes the shared token and session key files into a new directory.
func writeSecrets(t *testing.T) (dir, token string) {
	t.Helper()
	dir = t.TempDir()
	token = "shared-token-" + strconv.FormatUint(rand.Uint64(), 16)
	if err := os.WriteFile(filepath.Join(dir, "api-token"), []byte(token+"\n"), 0o600); err != nil {
		t.Fatal(err)
	}
	if err := os.WriteFile(filepath.Join(dir, "session-key"), []byte(strings.Repeat("k3y", 16)), 0o600); err != nil {
		t.Fatal(err)
	}
	return dir, token
}

// startClusterApp starts an in-process App with env; it is closed at test end.
func startClusterApp(t *testing.T, env map[string]string) *App {
	t.Helper()
	cfg, err := LoadConfig(nil, lookupMap(env), "", io.Discard)
	if err != nil {
		t.Fatal(err)
	}
	logger := slog.New(slog.NewTextHandler(io.Discard, nil))
	if testing.Verbose() {
		logger = slog.New(slog.NewTextHandler(os.Stderr, &slog.HandlerOptions{Level: slog.LevelInfo}))
	}
	a := New(cfg, Options{Logger: logger, Build: BuildInfo{Version: "test", GoVersion: "go"}})
	if err := a.Start(context.Background()); err != nil {
		t.Fatalf("start %s: %v", cfg.Role, err)
	}
	t.Cleanup(func() {
		ctx, cancel := context.WithTimeout(context.Background(), 15*time.Second)
		defer cancel()
		if err := a.Close(ctx); err != nil {
			t.Errorf("close %s: %v", cfg.Role, err)
		}
	})
	return a
}

// TestClusterWorkerProcess is the body of the worker subprocess that
// TestClusterScaleOut starts (and kills with SIGKILL); run alone it skips.
func TestClusterWorkerProcess(t *testing.T) {
	if os.Getenv("DRIFTD_CLUSTER_TEST_WORKER") != "1" {
		t.Skip("the worker process of TestClusterScaleOut")
	}
	cfg, err := LoadConfig(nil, os.LookupEnv, "", io.Discard)
	if err != nil {
		t.Fatal(err)
	}
	ctx, stop := signal.NotifyContext(context.Background(), syscall.SIGTERM, os.Interrupt)
	defer stop()
	a := New(cfg, Options{Logger: slog.New(slog.NewTextHandler(os.Stderr, &slog.HandlerOptions{Level: slog.LevelWarn}))})
	if err := a.Start(ctx); err != nil {
		t.Fatal(err)
	}
	fmt.Printf("worker listening on http://%s\n", a.Addr())
	<-ctx.Done()
	cctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
	defer cancel()
	_ = a.Close(cctx)
}

// startWorkerProcess runs a worker in a child process (this test binary)
// and returns its base URL; the child is killed at test end.
func startWorkerProcess(t *testing.T, env map[string]string) (*exec.Cmd, string) {
	t.Helper()
	cmd := exec.Command(os.Args[0], "-test.run=^TestClusterWorkerProcess$", "-test.v")
	cmd.Env = append(os.Environ(), "DRIFTD_CLUSTER_TEST_WORKER=1")
	for k, v := range env {
		cmd.Env = append(cmd.Env, k+"="+v)
	}
	cmd.Stderr = os.Stderr
	out, err := cmd.StdoutPipe()
	if err != nil {
		t.Fatal(err)
	}
	if err := cmd.Start(); err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() {
		_ = cmd.Process.Kill()
		_ = cmd.Wait()
	})
	found := make(chan string, 1)
	go func() {
		sc := bufio.NewScanner(out)
		for sc.Scan() {
			if u, ok := strings.CutPrefix(sc.Text(), "worker listening on "); ok {
				found <- u
			}
		}
	}()
	select {
	case u := <-found:
		return cmd, u
	case <-time.After(60 * time.Second):
		t.Fatal("worker process did not report its address within 60s")
		return nil, ""
	}
}

// clusterMetric returns the value of the series named exactly series on
// base's /metrics (0 when absent).
func clusterMetric(t *testing.T, base, series string) float64 {
	t.Helper()
	resp, err := http.Get(base + "/metrics")
	if err != nil {
		t.Fatalf("GET %s/metrics: %v", base, err)
	}
	defer resp.Body.Close()
	sc := bufio.NewScanner(resp.Body)
	sc.Buffer(make([]byte, 1<<20), 1<<20)
	for sc.Scan() {
		if v, ok := strings.CutPrefix(sc.Text(), series+" "); ok {
			f, err := strconv.ParseFloat(v, 64)
			if err != nil {
				t.Fatalf("%s: %v", series, err)
			}
			return f
		}
	}
	return 0
}

const scoredSeries = `driftd_records_produced_total{topic="predictions"}`

// workerView is the part of a worker's /api/v1/status the tests read.
type workerView struct {
	Ready  bool `json:"ready"`
	Worker struct {
		Deployment *cluster.Deployment `json:"deployment"`
		LoadError  string              `json:"load_error"`
	} `json:"worker"`
}

func getWorkerView(t *testing.T, base string) workerView {
	t.Helper()
	resp, err := http.Get(base + "/api/v1/status")
	if err != nil {
		t.Fatalf("GET %s/api/v1/status: %v", base, err)
	}
	defer resp.Body.Close()
	var v workerView
	if err := json.NewDecoder(resp.Body).Decode(&v); err != nil {
		t.Fatal(err)
	}
	return v
}

// scoringVersionOf is the version a worker scores with, "" for none.
func scoringVersionOf(t *testing.T, base string) string {
	if d := getWorkerView(t, base).Worker.Deployment; d != nil {
		return d.Version
	}
	return ""
}

// pollUntil polls cond every 10ms until it holds, failing after within.
func pollUntil(t *testing.T, within time.Duration, what string, cond func() bool) time.Duration {
	t.Helper()
	start := time.Now()
	for !cond() {
		if time.Since(start) > within {
			t.Fatalf("%s: not within %s", what, within)
		}
		time.Sleep(10 * time.Millisecond) // polling interval, not synchronisation
	}
	return time.Since(start)
}

// produceFeatures produces records lo..hi-1 keyed by their id.
func produceFeatures(ctx context.Context, t *testing.T, kafka stream.Config, topic string, lo, hi int) error {
	p, err := stream.NewProducer(kafka)
	if err != nil {
		return err
	}
	defer p.Close()
	plans := []string{"basic", "pro", "max"}
	for i := lo; i < hi; i++ {
		r := rand.New(rand.NewPCG(uint64(i), 3))
		id := "r-" + strconv.Itoa(i)
		v := fmt.Sprintf(`{"id":%q,"x1":%.4f,"x2":%.4f,"plan":%q}`, id, r.NormFloat64(), r.Float64()*10, plans[i%3])
		p.Produce(ctx, topic, []byte(id), []byte(v))
	}
	return p.Flush(ctx)
}

// TestClusterScaleOut runs a primary and two workers (one in-process, one a
// child process) on a 3-broker embedded cluster with topics replicated 3
// times. One deploy on the primary reaches both workers over Kafka; all
// three score; the child worker is killed with SIGKILL mid-stream and no
// record is lost (every id is predicted; duplicates, the killed worker's
// uncommitted batches, are counted and bounded); the shared token file
// makes every primary accept the same token; a deploy and a rollback on the
// primary reach the worker; a deployment record whose bundle is missing
// leaves the worker on its model and counts an artifact error; a second
// primary refuses to start and names the holder of the lease.
func TestClusterScaleOut(t *testing.T) {
	ctx := context.Background()
	b, err := stream.NewBroker(stream.BrokerConfig{Addr: "127.0.0.1:0", Brokers: 3, Partitions: 6}, nil)
	if err != nil {
		t.Fatal(err)
	}
	if err := b.Start(ctx); err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { _ = b.Close(context.Background()) })
	brokers := b.Addrs()
	kafka := stream.Config{Brokers: brokers}
	if err := stream.EnsureTopics(ctx, kafka, []string{"drift-data"}, 6, 3); err != nil {
		t.Fatal(err)
	}
	secrets, token := writeSecrets(t)

	primary := startClusterApp(t, clusterEnv(t, brokers, secrets, map[string]string{"DRIFTD_CLUSTER": "true"}))
	pBase := "http://" + primary.Addr()
	// A worker started before any deployment is not ready and says why.
	workerEnv := clusterEnv(t, brokers, secrets, map[string]string{"DRIFTD_ROLE": "worker"})
	wa := startClusterApp(t, workerEnv)
	aBase := "http://" + wa.Addr()
	pollUntil(t, 20*time.Second, "worker A not ready, waiting for a deployment", func() bool {
		resp, err := http.Get(aBase + "/readyz")
		if err != nil {
			t.Fatal(err)
		}
		defer resp.Body.Close()
		body, _ := io.ReadAll(resp.Body)
		return resp.StatusCode == http.StatusServiceUnavailable && strings.Contains(string(body), "no deployment of drift-model in production")
	})
	mustRegisterModel(t, primary.store, "1.0.0", 1)
	mustRegisterModel(t, primary.store, "1.1.0", 2)
	if err := primary.store.Deploy(ctx, "drift-model", "1.0.0", "production", "cluster test"); err != nil {
		t.Fatal(err)
	}
	// The token comes from the shared file.
	req, _ := http.NewRequest(http.MethodGet, pBase+"/api/v1/models", nil)
	req.Header.Set("Authorization", "Bearer "+token)
	if resp, err := http.DefaultClient.Do(req); err != nil || resp.StatusCode != http.StatusOK {
		t.Fatalf("primary with the shared token: %v %v", resp, err)
	}

	childEnv := clusterEnv(t, brokers, secrets, map[string]string{"DRIFTD_ROLE": "worker"})
	child, bBase := startWorkerProcess(t, childEnv)
	for _, base := range []string{aBase, bBase} {
		pollUntil(t, 30*time.Second, base+" scores with 1.0.0", func() bool {
			v := getWorkerView(t, base)
			return v.Ready && v.Worker.Deployment != nil && v.Worker.Deployment.Version == "1.0.0"
		})
	}

	n := clusterRecords
	t0 := time.Now()
	if err := produceFeatures(ctx, t, kafka, "drift-data", 0, n/2); err != nil {
		t.Fatal(err)
	}
	bases := map[string]string{"primary": pBase, "worker A": aBase, "worker B (child)": bBase}
	for name, base := range bases {
		pollUntil(t, 60*time.Second, name+" scores", func() bool { return clusterMetric(t, base, scoredSeries) > 0 })
	}
	// Kill the child mid-stream: once it has scored records of the second half.
	before := clusterMetric(t, bBase, scoredSeries)
	var wg sync.WaitGroup
	var prodErr error
	wg.Add(1)
	go func() {
		defer wg.Done()
		prodErr = produceFeatures(ctx, t, kafka, "drift-data", n/2, n)
	}()
	pollUntil(t, 60*time.Second, "the child scores records of the second half", func() bool { return clusterMetric(t, bBase, scoredSeries) > before })
	killedAfter := clusterMetric(t, bBase, scoredSeries)
	t.Logf("killing the child %s after the first record", time.Since(t0).Round(time.Millisecond))
	if err := child.Process.Signal(syscall.SIGKILL); err != nil {
		t.Fatal(err)
	}
	_ = child.Wait()
	wg.Wait()
	if prodErr != nil {
		t.Fatal(prodErr)
	}

	// Every id is predicted; duplicates are bounded by what the killed
	// worker held uncommitted: the batches in flight (pipelineDepth) and the
	// one in hand, of at most 4096 records each.
	seen := make(map[string]int, n)
	total := 0
	pollUntil(t, 120*time.Second, "every id predicted", func() bool {
		clear(seen)
		total = 0
		_, err := stream.ReadSince(ctx, kafka, "predictions", time.Unix(1, 0), func(r stream.Record) error {
			seen[string(r.Key)]++
			total++
			return nil
		})
		if err != nil {
			t.Fatal(err)
		}
		return len(seen) >= n
	})
	for i := range n {
		if seen["r-"+strconv.Itoa(i)] == 0 {
			t.Fatalf("r-%d never predicted", i)
		}
	}
	t.Logf("every id predicted %s after the first record", time.Since(t0).Round(time.Millisecond))
	dups := total - n
	const bound = 3 * 4096
	t.Logf("%d records, %d predictions, %d duplicates (bound %d); child killed after scoring %.0f; primary scored %.0f, worker A %.0f",
		n, total, dups, bound, killedAfter, clusterMetric(t, pBase, scoredSeries), clusterMetric(t, aBase, scoredSeries))
	if dups > bound {
		t.Errorf("%d duplicate predictions, more than the killed worker's uncommitted batches can make (%d)", dups, bound)
	}

	// A deploy, then a rollback on the primary reach the worker.
	if err := primary.store.Deploy(ctx, "drift-model", "1.1.0", "production", "cluster test"); err != nil {
		t.Fatal(err)
	}
	took := pollUntil(t, 10*time.Second, "worker A scores with 1.1.0", func() bool { return scoringVersionOf(t, aBase) == "1.1.0" })
	t.Logf("deploy reached worker A in %s", took)
	if err := primary.store.Rollback(ctx, "drift-model", "production", "cluster test"); err != nil {
		t.Fatal(err)
	}
	took = pollUntil(t, 10*time.Second, "worker A back on 1.0.0 after the rollback", func() bool { return scoringVersionOf(t, aBase) == "1.0.0" })
	t.Logf("rollback reached worker A in %s", took)

	// A deployment whose bundle is missing: the worker keeps 1.0.0 and counts it.
	adm, err := stream.NewAdmin(kafka)
	if err != nil {
		t.Fatal(err)
	}
	defer adm.Close()
	bogus := cluster.Deployment{Model: "drift-model", Environment: "production", Version: "9.9.9",
		Digest: cluster.Digest([]byte("never published")), Chunks: 2, Size: 10, Time: time.Now()}
	if _, _, err := adm.ProduceTest(ctx, cluster.DeploymentsTopic, []byte(cluster.DeploymentKey("drift-model", "production")), cluster.EncodeDeployment(bogus)); err != nil {
		t.Fatal(err)
	}
	pollUntil(t, 20*time.Second, "worker A counts the missing bundle", func() bool {
		return clusterMetric(t, aBase, "driftd_cluster_artifact_errors_total") >= 1
	})
	if v := getWorkerView(t, aBase); v.Worker.Deployment == nil || v.Worker.Deployment.Version != "1.0.0" || !strings.Contains(v.Worker.LoadError, "missing") {
		t.Fatalf("after a missing bundle: worker status %+v, want 1.0.0 kept and the load error", v.Worker)
	}

	// A second primary on the same cluster refuses to start.
	cfg, err := LoadConfig(nil, lookupMap(clusterEnv(t, brokers, secrets, map[string]string{"DRIFTD_CLUSTER": "true"})), "", io.Discard)
	if err != nil {
		t.Fatal(err)
	}
	second := New(cfg, Options{Logger: slog.New(slog.DiscardHandler)})
	err = second.Start(ctx)
	if err == nil {
		_ = second.Close(ctx)
		t.Fatal("a second primary started on a cluster with a primary")
	}
	holder, ok := cluster.LeaseHolder(err)
	if !errors.Is(err, cluster.ErrLeaseHeld) || !ok || holder != instanceName(primary.cfg.Addr) {
		t.Fatalf("second primary: err = %v (holder %q), want ErrLeaseHeld naming %q", err, holder, instanceName(primary.cfg.Addr))
	}
}
