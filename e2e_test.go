package main

import (
	"bufio"
	"bytes"
	"encoding/json"
	"fmt"
	"io"
	"net"
	"net/http"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"testing"
	"time"
)

// requireTool returns the path of an external tool; without it the test is
// skipped, unless DRIFTD_INTEGRATION is set, when it fails.
func requireTool(tb testing.TB, name string) string {
	tb.Helper()
	if os.Getenv("DRIFTD_INTEGRATION") == "" {
		tb.Skipf("%s test: set DRIFTD_INTEGRATION=1 to run it", name)
	}
	p, err := exec.LookPath(name)
	if err != nil {
		tb.Fatalf("DRIFTD_INTEGRATION is set but %s is not installed: %v", name, err)
	}
	return p
}

// freePort returns a loopback address that was free a moment ago.
func freePort(tb testing.TB) string {
	tb.Helper()
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		tb.Fatal(err)
	}
	defer ln.Close()
	return ln.Addr().String()
}

// mustRun runs driftd with args and fails the test on a non-zero exit.
func mustRun(tb testing.TB, args ...string) string {
	tb.Helper()
	cmd := exec.Command(driftdBin, args...)
	var out, errb bytes.Buffer
	cmd.Stdout, cmd.Stderr = &out, &errb
	if err := cmd.Run(); err != nil {
		tb.Fatalf("driftd %v: %v\n%s", args, err, errb.String())
	}
	return out.String()
}

// e2eServer is a running `driftd serve` reached over HTTP.
type e2eServer struct {
	p     *proc
	base  string
	token string
}

// startServer runs driftd serve on dataDir with its embedded broker on kafkaAddr.
func startServer(tb testing.TB, dataDir, kafkaAddr string, extra ...string) *e2eServer {
	tb.Helper()
	env := append([]string{"DRIFTD_ADDR=127.0.0.1:0", "DRIFTD_KAFKA_LISTEN=" + kafkaAddr,
		"DRIFTD_DATA_DIR=" + dataDir, "DRIFTD_ADMIN_PASSWORD=correct-horse", "DRIFTD_API_TOKEN=e2e-token",
		"DRIFTD_KAFKA_PARTITIONS=3"}, extra...)
	p := startDriftd(tb, env, "serve")
	base := p.waitFor(tb, startedRe, 60*time.Second)[1]
	return &e2eServer{p: p, base: base, token: "e2e-token"}
}

// call sends an API request and returns status and body.
func (s *e2eServer) call(tb testing.TB, method, path, contentType string, body []byte) (int, []byte) {
	tb.Helper()
	req, err := http.NewRequest(method, s.base+path, bytes.NewReader(body))
	if err != nil {
		tb.Fatal(err)
	}
	req.Header.Set("Authorization", "Bearer "+s.token)
	if contentType != "" {
		req.Header.Set("Content-Type", contentType)
	}
	resp, err := http.DefaultClient.Do(req)
	if err != nil {
		tb.Fatal(err)
	}
	defer resp.Body.Close()
	b, _ := io.ReadAll(resp.Body)
	return resp.StatusCode, b
}

// registerAndDeploy uploads a model file and deploys it to production.
func (s *e2eServer) registerAndDeploy(tb testing.TB, model, file string) string {
	tb.Helper()
	art, err := os.ReadFile(file)
	if err != nil {
		tb.Fatal(err)
	}
	status, b := s.call(tb, http.MethodPost, "/api/v1/models/"+model+"/versions", "application/octet-stream", art)
	if status != http.StatusCreated {
		tb.Fatalf("register: %d %s", status, b)
	}
	var v struct{ Version string }
	if err := json.Unmarshal(b, &v); err != nil {
		tb.Fatal(err)
	}
	body := fmt.Sprintf(`{"version":%q,"environment":"production","reason":"e2e"}`, v.Version)
	if status, b := s.call(tb, http.MethodPost, "/api/v1/models/"+model+"/deploy", "application/json", []byte(body)); status/100 != 2 {
		tb.Fatalf("deploy: %d %s", status, b)
	}
	return v.Version
}

// waitScoring polls /api/v1/scorer until the scorer runs with version (any
// version when it is ""). /readyz does not tell: it is 200 as soon as the API
// serves, with or without a model.
func (s *e2eServer) waitScoring(tb testing.TB, version string, d time.Duration) {
	tb.Helper()
	deadline := time.Now().Add(d)
	var last []byte
	for time.Now().Before(deadline) {
		status, b := s.call(tb, http.MethodGet, "/api/v1/scorer", "", nil)
		var st struct{ State, Version string }
		if status == http.StatusOK && json.Unmarshal(b, &st) == nil && st.State == "running" &&
			st.Version != "" && (version == "" || st.Version == version) {
			return
		}
		last = b
		time.Sleep(50 * time.Millisecond)
	}
	tb.Fatalf("not scoring with version %q within %s: %s", version, d, last)
}

// kcatCount returns the messages currently in topic, read with kcat.
func kcatLines(tb testing.TB, kcat, broker, topic string) []string {
	tb.Helper()
	cmd := exec.Command(kcat, "-C", "-b", broker, "-t", topic, "-o", "beginning", "-e", "-q", "-f", "%s\n")
	var out, errb bytes.Buffer
	cmd.Stdout, cmd.Stderr = &out, &errb
	if err := cmd.Run(); err != nil {
		tb.Fatalf("kcat -C %s: %v\n%s", topic, err, errb.String())
	}
	var lines []string
	sc := bufio.NewScanner(&out)
	sc.Buffer(make([]byte, 1<<20), 1<<20)
	for sc.Scan() {
		if sc.Text() != "" {
			lines = append(lines, sc.Text())
		}
	}
	return lines
}

// predictionIDs counts predictions per input id.
func predictionIDs(tb testing.TB, lines []string) map[string]int {
	tb.Helper()
	ids := map[string]int{}
	for _, l := range lines {
		var p struct {
			ID    string  `json:"id"`
			Score float64 `json:"score"`
		}
		if err := json.Unmarshal([]byte(l), &p); err != nil {
			tb.Fatalf("prediction is not JSON: %q: %v", l, err)
		}
		ids[p.ID]++
	}
	return ids
}

// trainModel generates training data and trains a small GBDT model file.
func trainModel(tb testing.TB, dir string, rows int) string {
	tb.Helper()
	data := filepath.Join(dir, "train.csv")
	model := filepath.Join(dir, "model.drift")
	mustRun(tb, "gen", "--rows", fmt.Sprint(rows), "--seed", "1", "--out", data)
	mustRun(tb, "train", "--data", data, "--target", "label", "--id", "id", "--rounds", "20", "--out", model)
	return model
}

// startScoringServer trains a small model, starts driftd serve on free
// ports, registers and deploys the model to production, and waits until the
// server is ready. It returns the work directory and the Kafka address.
func startScoringServer(tb testing.TB) (s *e2eServer, dir, kafka string) {
	tb.Helper()
	dir = tb.TempDir()
	model := trainModel(tb, dir, 3000)
	kafka = freePort(tb)
	s = startServer(tb, filepath.Join(dir, "data"), kafka)
	version := s.registerAndDeploy(tb, "drift-model", model)
	s.waitScoring(tb, version, 30*time.Second)
	return s, dir, kafka
}

func TestE2EKcatProducesDriftdScores(t *testing.T) {
	kcat := requireTool(t, "kcat")
	s, dir, kafka := startScoringServer(t)

	// kcat writes 2,000 good records and 3 malformed ones.
	cur := filepath.Join(dir, "cur.csv")
	mustRun(t, "gen", "--rows", "2000", "--seed", "7", "--out", cur)
	var in bytes.Buffer
	f, err := os.Open(cur)
	if err != nil {
		t.Fatal(err)
	}
	defer f.Close()
	sc := bufio.NewScanner(f)
	sc.Scan()
	header := strings.Split(sc.Text(), ",")
	n := 0
	for sc.Scan() {
		vals := strings.Split(sc.Text(), ",")
		rec := map[string]any{}
		for i, h := range header {
			if h == "id" || h == "label" {
				rec[h] = vals[i]
				continue
			}
			var x float64
			fmt.Sscan(vals[i], &x)
			rec[h] = x
		}
		b, _ := json.Marshal(rec)
		in.Write(b)
		in.WriteByte('\n')
		n++
		if n == 1000 {
			in.WriteString("not json at all\n")
			in.WriteString(`{"id":"bad-1","f0":"a string"}` + "\n")
			in.WriteString(`[1,2,3]` + "\n")
		}
	}
	cmd := exec.Command(kcat, "-P", "-b", kafka, "-t", "drift-data")
	cmd.Stdin = &in
	if out, err := cmd.CombinedOutput(); err != nil {
		t.Fatalf("kcat -P: %v\n%s", err, out)
	}

	deadline := time.Now().Add(60 * time.Second)
	var preds, dead []string
	for time.Now().Before(deadline) {
		preds = kcatLines(t, kcat, kafka, "predictions")
		dead = kcatLines(t, kcat, kafka, "dead-letter")
		if len(preds) >= n && len(dead) >= 3 {
			break
		}
		time.Sleep(200 * time.Millisecond)
	}
	ids := predictionIDs(t, preds)
	if len(ids) != n {
		t.Fatalf("predictions cover %d ids, want %d (records %d)", len(ids), n, len(preds))
	}
	if len(dead) != 3 {
		t.Fatalf("dead-letter has %d records, want 3: %q", len(dead), dead)
	}
	// The dead letters carry their reason in headers.
	hdr := exec.Command(kcat, "-C", "-b", kafka, "-t", "dead-letter", "-o", "beginning", "-e", "-q", "-f", "%h\n")
	out, err := hdr.Output()
	if err != nil {
		t.Fatal(err)
	}
	for _, want := range []string{"error=", "source_topic=drift-data", "source_offset="} {
		if !strings.Contains(string(out), want) {
			t.Errorf("dead-letter headers lack %q: %s", want, out)
		}
	}
	// Drift was checked on the stream and is served by the API.
	status, b := s.call(t, http.MethodGet, "/api/v1/drift", "", nil)
	if status != http.StatusOK || !strings.Contains(string(b), `"checked":true`) {
		t.Errorf("/api/v1/drift after 2000 records: %d %s", status, b)
	}
	deadline = time.Now().Add(30 * time.Second)
	var events []string
	for len(events) == 0 && time.Now().Before(deadline) {
		events = kcatLines(t, kcat, kafka, "drift-events")
	}
	if len(events) == 0 || !strings.Contains(events[0], `"features":[{`) {
		t.Errorf("drift-events topic: %d events, first %q", len(events), events)
	}
}

func TestE2EKill9DuringStream(t *testing.T) {
	kcat := requireTool(t, "kcat")
	s, dir, kafka := startScoringServer(t)
	data := filepath.Join(dir, "data")

	const total = 200000
	cur := filepath.Join(dir, "cur.csv")
	mustRun(t, "gen", "--rows", fmt.Sprint(total), "--seed", "9", "--out", cur)
	mustRun(t, "produce", "--data", cur, "--brokers", kafka)

	// Kill -9 once the scorer is part-way through.
	deadline := time.Now().Add(120 * time.Second)
	for {
		status, b := s.call(t, http.MethodGet, "/api/v1/scorer", "", nil)
		var st struct{ Produced uint64 }
		if status == http.StatusOK && json.Unmarshal(b, &st) == nil && st.Produced >= total/10 {
			break
		}
		if time.Now().After(deadline) {
			t.Fatalf("scorer made no progress: %s", b)
		}
		time.Sleep(20 * time.Millisecond)
	}
	if err := s.p.cmd.Process.Kill(); err != nil {
		t.Fatal(err)
	}
	<-s.p.done

	s2 := startServer(t, data, kafka)
	s2.waitScoring(t, "", 60*time.Second)
	var ids map[string]int
	var lines []string
	deadline = time.Now().Add(180 * time.Second)
	for time.Now().Before(deadline) {
		lines = kcatLines(t, kcat, kafka, "predictions")
		if len(lines) >= total {
			ids = predictionIDs(t, lines)
			if len(ids) == total {
				break
			}
		}
		time.Sleep(500 * time.Millisecond)
	}
	if len(ids) != total {
		t.Fatalf("after kill -9 and restart, predictions cover %d of %d ids (%d records)", len(ids), total, len(lines))
	}
	dups := len(lines) - total
	t.Logf("kill -9 mid-stream: %d inputs, %d predictions, %d duplicates (at-least-once redelivery)", total, len(lines), dups)
}

func TestE2ERegistryHistoryAfterRestart(t *testing.T) {
	dir := t.TempDir()
	model := trainModel(t, dir, 1000)
	data := filepath.Join(dir, "data")
	kafka := freePort(t)
	s := startServer(t, data, kafka)
	art, err := os.ReadFile(model)
	if err != nil {
		t.Fatal(err)
	}
	for _, want := range []string{"1.0.0", "1.1.0", "1.2.0"} {
		status, b := s.call(t, http.MethodPost, "/api/v1/models/churn/versions", "application/octet-stream", art)
		if status != http.StatusCreated || !strings.Contains(string(b), `"version":"`+want+`"`) {
			t.Fatalf("register %s: %d %s", want, status, b)
		}
	}
	steps := []struct{ path, body string }{
		{"/deploy", `{"version":"1.0.0","environment":"production","reason":"first"}`},
		{"/deploy", `{"version":"1.1.0","environment":"production","reason":"better auc"}`},
		{"/rollback", `{"environment":"production","reason":"latency regression"}`},
	}
	for _, st := range steps {
		if status, b := s.call(t, http.MethodPost, "/api/v1/models/churn"+st.path, "application/json", []byte(st.body)); status/100 != 2 {
			t.Fatalf("%s: %d %s", st.path, status, b)
		}
	}
	if err := s.p.cmd.Process.Signal(os.Interrupt); err != nil {
		t.Fatal(err)
	}
	if code := s.p.exitWithin(t, 10*time.Second); code != 0 {
		t.Fatalf("exit code %d", code)
	}
	s = startServer(t, data, kafka)
	status, b := s.call(t, http.MethodGet, "/api/v1/models/churn", "", nil)
	if status != http.StatusOK || !strings.Contains(string(b), `"production":"1.0.0"`) {
		t.Fatalf("model after restart: %d %s", status, b)
	}
	status, b = s.call(t, http.MethodGet, "/api/v1/models/churn/deployments", "", nil)
	var h struct {
		Deployments []struct{ Action, Environment, From, To, Reason, User string }
	}
	if status != http.StatusOK || json.Unmarshal(b, &h) != nil {
		t.Fatalf("history: %d %s", status, b)
	}
	got := []string{}
	for _, d := range h.Deployments {
		got = append(got, fmt.Sprintf("%s %s %s->%s %s", d.Action, d.Environment, d.From, d.To, d.Reason))
	}
	want := []string{
		"rollback production 1.1.0->1.0.0 latency regression",
		"deploy production 1.0.0->1.1.0 better auc",
		"deploy production ->1.0.0 first",
	}
	if strings.Join(got, "|") != strings.Join(want, "|") {
		t.Fatalf("history after restart:\n got %q\nwant %q", got, want)
	}
}
