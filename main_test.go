package main

import (
	"bufio"
	"fmt"
	"io"
	"net/http"
	"os"
	"os/exec"
	"path/filepath"
	"regexp"
	"strings"
	"sync"
	"syscall"
	"testing"
	"time"

	"driftd/server"
)

// driftdBin is the real binary, built once in TestMain.
var driftdBin string

func TestMain(m *testing.M) {
	dir, err := os.MkdirTemp("", "driftd-bin-")
	if err != nil {
		fmt.Fprintln(os.Stderr, err)
		os.Exit(1)
	}
	driftdBin = filepath.Join(dir, "driftd")
	build := exec.Command("go", "build", "-o", driftdBin, ".")
	build.Stdout, build.Stderr = os.Stderr, os.Stderr
	if err := build.Run(); err != nil {
		fmt.Fprintln(os.Stderr, "build driftd:", err)
		os.Exit(1)
	}
	code := m.Run()
	os.RemoveAll(dir)
	os.Exit(code)
}

// proc is a running driftd child process whose stderr is captured.
type proc struct {
	cmd  *exec.Cmd
	mu   sync.Mutex
	logs strings.Builder
	done chan struct{}
	err  error
}

// startDriftd runs `driftd args...` with a minimal environment plus env.
func startDriftd(tb testing.TB, env []string, args ...string) *proc {
	tb.Helper()
	cmd := exec.Command(driftdBin, args...)
	cmd.Env = append([]string{"PATH=" + os.Getenv("PATH"), "HOME=" + tb.TempDir()}, env...)
	cmd.Dir = tb.TempDir()
	stderr, err := cmd.StderrPipe()
	if err != nil {
		tb.Fatal(err)
	}
	cmd.Stdout = io.Discard
	if err := cmd.Start(); err != nil {
		tb.Fatal(err)
	}
	p := &proc{cmd: cmd, done: make(chan struct{})}
	go func() {
		sc := bufio.NewScanner(stderr)
		sc.Buffer(make([]byte, 1<<20), 1<<20)
		for sc.Scan() {
			p.mu.Lock()
			p.logs.WriteString(sc.Text() + "\n")
			p.mu.Unlock()
		}
		p.err = cmd.Wait()
		close(p.done)
	}()
	tb.Cleanup(func() {
		select {
		case <-p.done:
		default:
			_ = cmd.Process.Kill()
			<-p.done
		}
		if tb.Failed() {
			tb.Logf("driftd %v output:\n%s", args, p.output())
		}
	})
	return p
}

func (p *proc) output() string {
	p.mu.Lock()
	defer p.mu.Unlock()
	return p.logs.String()
}

// waitFor polls the captured log for a regexp match until the deadline.
func (p *proc) waitFor(tb testing.TB, re *regexp.Regexp, d time.Duration) []string {
	tb.Helper()
	deadline := time.Now().Add(d)
	for time.Now().Before(deadline) {
		if m := re.FindStringSubmatch(p.output()); m != nil {
			return m
		}
		select {
		case <-p.done:
			tb.Fatalf("driftd exited (%v) before logging %s", p.err, re)
		case <-time.After(20 * time.Millisecond):
		}
	}
	tb.Fatalf("driftd did not log %s within %s", re, d)
	return nil
}

// exitWithin waits for the process to exit and returns its exit code.
func (p *proc) exitWithin(tb testing.TB, d time.Duration) int {
	tb.Helper()
	select {
	case <-p.done:
		return p.cmd.ProcessState.ExitCode()
	case <-time.After(d):
		tb.Fatalf("driftd did not exit within %s", d)
		return -1
	}
}

var startedRe = regexp.MustCompile(`driftd started"? addr=(http://[0-9.:]+)`)

// serveEnv is the environment of a test server on free ports.
func serveEnv(dataDir string) []string {
	return []string{
		"DRIFTD_ADDR=127.0.0.1:0", "DRIFTD_KAFKA_LISTEN=127.0.0.1:0",
		"DRIFTD_DATA_DIR=" + dataDir, "DRIFTD_ADMIN_PASSWORD=correct-horse",
	}
}

func TestServeHealthMetricsAndSignal(t *testing.T) {
	data := t.TempDir()
	p := startDriftd(t, serveEnv(data), "serve")
	base := p.waitFor(t, startedRe, 30*time.Second)[1]

	resp, err := http.Get(base + "/healthz")
	if err != nil {
		t.Fatal(err)
	}
	resp.Body.Close()
	if resp.StatusCode != http.StatusOK {
		t.Fatalf("/healthz = %d", resp.StatusCode)
	}
	// Ready as soon as the API serves: no model is deployed yet, and the
	// body says so.
	resp, err = http.Get(base + "/readyz")
	if err != nil {
		t.Fatal(err)
	}
	body, _ := io.ReadAll(resp.Body)
	resp.Body.Close()
	if resp.StatusCode != http.StatusOK || !strings.Contains(string(body), "no model deployed") {
		t.Fatalf("/readyz = %d %s", resp.StatusCode, body)
	}
	resp, err = http.Get(base + "/metrics")
	if err != nil {
		t.Fatal(err)
	}
	body, _ = io.ReadAll(resp.Body)
	resp.Body.Close()
	for _, want := range []string{"driftd_build_info{version=", "go_goroutines", "process_resident_memory_bytes", "driftd_http_requests_total{"} {
		if !strings.Contains(string(body), want) {
			t.Errorf("/metrics lacks %s", want)
		}
	}
	info, err := os.Stat(filepath.Join(data, "api-token"))
	if err != nil {
		t.Fatal(err)
	}
	if info.Mode().Perm() != 0o600 {
		t.Errorf("api-token mode = %v, want 0600", info.Mode().Perm())
	}

	if err := p.cmd.Process.Signal(syscall.SIGTERM); err != nil {
		t.Fatal(err)
	}
	if code := p.exitWithin(t, 10*time.Second); code != 0 {
		t.Fatalf("exit code after SIGTERM = %d", code)
	}
}

func TestSecondInstanceSameDataDirFails(t *testing.T) {
	data := t.TempDir()
	first := startDriftd(t, serveEnv(data), "serve")
	first.waitFor(t, startedRe, 30*time.Second)

	second := startDriftd(t, serveEnv(data), "serve")
	code := second.exitWithin(t, 10*time.Second)
	if code == 0 {
		t.Fatalf("second instance exited 0")
	}
	if !strings.Contains(second.output(), data) {
		t.Errorf("second instance's error does not name the data directory %s:\n%s", data, second.output())
	}
}

func TestBadConfigExits(t *testing.T) {
	p := startDriftd(t, []string{"DRIFT_WINDOW_SIZE=abc"}, "serve")
	if code := p.exitWithin(t, 10*time.Second); code == 0 {
		t.Fatal("driftd serve accepted DRIFT_WINDOW_SIZE=abc")
	}
	if !strings.Contains(p.output(), `DRIFT_WINDOW_SIZE: not an integer: "abc"`) {
		t.Errorf("output lacks the exact error:\n%s", p.output())
	}
}

func TestHelpDocumentsEverySetting(t *testing.T) {
	out, err := exec.Command(driftdBin, "serve", "--help").CombinedOutput()
	if err != nil {
		t.Fatalf("serve --help: %v\n%s", err, out)
	}
	for _, want := range []string{"--kafka-bootstrap-servers", "KAFKA_BOOTSTRAP_SERVERS", "DRIFT_WINDOW_SIZE", "default 1000", "RETRAIN_THRESHOLD", "DRIFTD_DATA_DIR"} {
		if !strings.Contains(string(out), want) {
			t.Errorf("serve --help lacks %q", want)
		}
	}
	out, err = exec.Command(driftdBin, "--help").CombinedOutput()
	if err != nil {
		t.Fatalf("--help: %v\n%s", err, out)
	}
	for name := range commands() {
		if !strings.Contains(string(out), "  "+name+" ") {
			t.Errorf("driftd --help does not list %s", name)
		}
	}
}

func TestHealthcheckCommand(t *testing.T) {
	data := t.TempDir()
	p := startDriftd(t, serveEnv(data), "serve")
	base := p.waitFor(t, startedRe, 30*time.Second)[1]
	addr := strings.TrimPrefix(base, "http://")
	if out, err := exec.Command(driftdBin, "healthcheck", "--addr", addr).CombinedOutput(); err != nil {
		t.Fatalf("healthcheck against a running server: %v\n%s", err, out)
	}
	if err := exec.Command(driftdBin, "healthcheck", "--addr", "127.0.0.1:1", "--timeout", "2s").Run(); err == nil {
		t.Fatal("healthcheck succeeded against a closed port")
	}
}

func TestREADMEDocumentsEverySetting(t *testing.T) {
	b, err := os.ReadFile("README.md")
	if err != nil {
		t.Fatal(err)
	}
	for _, row := range server.SettingsTable() {
		want := fmt.Sprintf("| `%s` | `%s` |", row[0], row[1])
		if !strings.Contains(string(b), want) {
			t.Errorf("README.md configuration table lacks %s", want)
		}
	}
}
