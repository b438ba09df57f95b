package registry

import (
	"bufio"
	"context"
	"fmt"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"syscall"
	"testing"
	"time"
)

// childEnv makes the test binary act as a writer process for TestKill9Durability.
const childEnv = "DRIFTD_REGISTRY_WRITER_PATH"

// TestWriterChild is the child side of TestKill9Durability: it registers versions and
// logs metrics in a loop, printing each id only after its write committed. It does
// nothing in a normal test run.
func TestWriterChild(t *testing.T) {
	path := os.Getenv(childEnv)
	if path == "" {
		t.Skip("only runs as the child of TestKill9Durability")
	}
	ctx := context.Background()
	s, err := Open(path, Options{})
	if err != nil {
		fmt.Println("ERROR", err)
		os.Exit(3)
	}
	exp, err := s.EnsureExperiment(ctx, "durability")
	if err != nil {
		fmt.Println("ERROR", err)
		os.Exit(3)
	}
	run, err := s.CreateRun(ctx, exp.ID, RunOptions{})
	if err != nil {
		fmt.Println("ERROR", err)
		os.Exit(3)
	}
	w := bufio.NewWriter(os.Stdout)
	fmt.Fprintf(w, "RUN %s\n", run.ID)
	w.Flush()
	for i := 0; ; i++ {
		v, err := s.Register(ctx, []byte(fmt.Sprintf("artifact-%d", i)), "m", RegisterOptions{})
		if err != nil {
			fmt.Fprintln(w, "ERROR", err)
			w.Flush()
			os.Exit(3)
		}
		if err := s.LogMetric(ctx, run.ID, "loss", float64(i), int64(i), time.Time{}); err != nil {
			fmt.Fprintln(w, "ERROR", err)
			w.Flush()
			os.Exit(3)
		}
		fmt.Fprintf(w, "ACK %d %s\n", i, v.Version)
		w.Flush()
	}
}

// TestKill9Durability kills a writer process with SIGKILL mid-stream and checks that the
// file opens and every acknowledged write is present.
func TestKill9Durability(t *testing.T) {
	if os.Getenv(childEnv) != "" {
		t.Skip("child")
	}
	path := filepath.Join(t.TempDir(), FileName)
	cmd := exec.Command(os.Args[0], "-test.run=^TestWriterChild$", "-test.v=false")
	cmd.Env = append(os.Environ(), childEnv+"="+path)
	out, err := cmd.StdoutPipe()
	must(t, err)
	cmd.Stderr = os.Stderr
	must(t, cmd.Start())
	sc := bufio.NewScanner(out)
	acked := map[int]string{}
	runID := ""
	killed := false
	for sc.Scan() {
		line := sc.Text()
		var i int
		var v string
		switch {
		case strings.HasPrefix(line, "RUN "):
			runID = strings.TrimPrefix(line, "RUN ")
		case strings.HasPrefix(line, "ACK "):
			if _, err := fmt.Sscanf(line, "ACK %d %s", &i, &v); err != nil {
				t.Fatalf("bad line %q", line)
			}
			acked[i] = v
		case strings.HasPrefix(line, "ERROR"):
			t.Fatalf("child: %s", line)
		}
		if len(acked) == 40 && !killed {
			must(t, syscall.Kill(cmd.Process.Pid, syscall.SIGKILL))
			killed = true // keep reading: lines already in the pipe were acknowledged too
		}
	}
	err = cmd.Wait()
	if !killed {
		t.Fatalf("child ended before the kill: %v", err)
	}
	if ws, ok := cmd.ProcessState.Sys().(syscall.WaitStatus); !ok || ws.Signal() != syscall.SIGKILL {
		t.Fatalf("child did not die of SIGKILL: %v", err)
	}
	s, err := Open(path, Options{})
	must(t, err)
	defer s.Close()
	ctx := context.Background()
	for i, v := range acked {
		art, err := s.Artifact(ctx, "m", v)
		if err != nil {
			t.Fatalf("acknowledged write %d (version %s) lost: %v", i, v, err)
		}
		if string(art) != fmt.Sprintf("artifact-%d", i) {
			t.Fatalf("version %s artifact = %q", v, art)
		}
	}
	pts, err := s.MetricHistory(ctx, runID, "loss")
	must(t, err)
	if len(pts) < len(acked) {
		t.Fatalf("%d metric points after %d acknowledged writes", len(pts), len(acked))
	}
	t.Logf("%d acknowledged writes survived kill -9", len(acked))
}
