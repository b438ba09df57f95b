package stream

import (
	"bufio"
	"bytes"
	"context"
	"fmt"
	"net"
	"os"
	"os/exec"
	"strconv"
	"strings"
	"testing"
	"time"

	"github.com/twmb/franz-go/pkg/kgo"
)

const childBrokerEnv = "DRIFTD_STREAM_TEST_BROKER" // "addr|dir": run only a broker

func TestMain(m *testing.M) {
	if spec := os.Getenv(childBrokerEnv); spec != "" {
		addr, dir, _ := strings.Cut(spec, "|")
		b, err := NewBroker(BrokerConfig{Addr: addr, DataDir: dir, Partitions: 3}, nil)
		if err == nil {
			err = b.Start(context.Background())
		}
		if err != nil {
			fmt.Println("error:", err)
			os.Exit(1)
		}
		fmt.Println("ready")
		select {} // until killed
	}
	os.Exit(m.Run())
}

// startChildBroker runs a broker in a child process and waits until it listens.
func startChildBroker(t *testing.T, addr, dir string) *exec.Cmd {
	t.Helper()
	cmd := exec.Command(os.Args[0], "-test.run=^$")
	cmd.Env = append(os.Environ(), childBrokerEnv+"="+addr+"|"+dir)
	out, err := cmd.StdoutPipe()
	if err != nil {
		t.Fatal(err)
	}
	cmd.Stderr = os.Stderr
	if err := cmd.Start(); err != nil {
		t.Fatal(err)
	}
	line, _ := bufio.NewReader(out).ReadString('\n')
	if strings.TrimSpace(line) != "ready" {
		_ = cmd.Process.Kill()
		_ = cmd.Wait()
		t.Fatalf("child broker: %q", line)
	}
	t.Cleanup(func() { _ = cmd.Process.Kill(); _ = cmd.Wait() })
	return cmd
}

func freeAddr(t *testing.T) string {
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	defer ln.Close()
	return ln.Addr().String()
}

// TestBrokerKilledUnderLoad kills -9 a broker process in the middle of a
// stream, restarts it on the same port and directory, and checks that every
// input gets a prediction.
func TestBrokerKilledUnderLoad(t *testing.T) {
	if testing.Short() {
		t.Skip("process-level fault test")
	}
	addr, dir := freeAddr(t), t.TempDir()
	child := startChildBroker(t, addr, dir)
	const n = 20000
	schema := benchSchema(4)
	if err := EnsureTopics(context.Background(), Config{Brokers: []string{addr}}, DefaultTopics().All(), 3, 1); err != nil {
		t.Fatal(err)
	}
	s := startScorer(t, addr, "g", &sumModel{version: "1", schema: schema}, nil, 500)
	produced := make(chan error, 1)
	go func() {
		vals := make([][]byte, n)
		for i := range vals {
			vals[i] = benchRecord(4, i)
		}
		cl, err := NewClient(Config{Brokers: []string{addr}})
		if err != nil {
			produced <- err
			return
		}
		defer cl.Close()
		for lo := 0; lo < n; lo += 1000 {
			recs := make([]*kgo.Record, 0, 1000)
			for i := lo; i < lo+1000; i++ {
				recs = append(recs, &kgo.Record{Topic: "drift-data", Key: []byte(strconv.Itoa(i)), Value: vals[i]})
			}
			if err := cl.ProduceSync(context.Background(), recs...).FirstErr(); err != nil {
				produced <- err
				return
			}
		}
		produced <- nil
	}()
	waitFor(t, 60*time.Second, "scorer mid-stream", func() bool { return s.Status().Consumed > 3000 })
	_ = child.Process.Kill() // SIGKILL
	_ = child.Wait()
	t.Logf("broker killed after %d records consumed", s.Status().Consumed)
	startChildBroker(t, addr, dir)
	if err := <-produced; err != nil {
		t.Fatalf("producer across broker restart: %v", err)
	}
	// Read until every input id has a prediction (duplicates may arrive too).
	cl, err := NewClient(Config{Brokers: []string{addr}}, kgo.ConsumeTopics("predictions"), kgo.ConsumeResetOffset(kgo.NewOffset().AtStart()))
	if err != nil {
		t.Fatal(err)
	}
	defer cl.Close()
	seen := map[string]int{}
	var recs []*kgo.Record
	ctx, cancel := context.WithTimeout(context.Background(), 120*time.Second)
	defer cancel()
	for len(seen) < n && ctx.Err() == nil {
		got := cl.PollFetches(ctx).Records()
		recs = append(recs, got...)
		for id, ps := range decodePreds(t, got) {
			seen[id] += len(ps)
		}
	}
	dups := 0
	for i := range n {
		c := seen["row-"+strconv.Itoa(i)]
		if c == 0 {
			t.Fatalf("row-%d has no prediction after broker restart (%d of %d ids seen)", i, len(seen), n)
		}
		dups += c - 1
	}
	t.Logf("%d inputs, %d predictions, %d duplicates (at-least-once)", n, len(recs), dups)
}

// TestKcatInterop produces with kcat into the embedded broker and reads the
// predictions back with kcat.
func TestKcatInterop(t *testing.T) {
	kcat, err := exec.LookPath("kcat")
	if os.Getenv("DRIFTD_INTEGRATION") == "" {
		t.Skip("set DRIFTD_INTEGRATION=1 to run kcat interop")
	}
	if err != nil {
		t.Fatalf("DRIFTD_INTEGRATION set but kcat missing: %v", err)
	}
	b := startBroker(t, "")
	if err := EnsureTopics(context.Background(), Config{Brokers: []string{b.Addr()}}, DefaultTopics().All(), 3, 1); err != nil {
		t.Fatal(err)
	}
	const n = 2000
	var in bytes.Buffer
	for i := range n {
		fmt.Fprintf(&in, "k%d\t%s\n", i, benchRecord(3, i))
	}
	cmd := exec.Command(kcat, "-P", "-b", b.Addr(), "-t", "drift-data", "-K", "\t")
	cmd.Stdin = &in
	if out, err := cmd.CombinedOutput(); err != nil {
		t.Fatalf("kcat -P: %v: %s", err, out)
	}
	s := startScorer(t, b.Addr(), "g", &sumModel{version: "1", schema: benchSchema(3)}, nil, 500)
	waitFor(t, 60*time.Second, "all scored", func() bool { return s.Status().Produced == n })
	out, err := exec.Command(kcat, "-C", "-b", b.Addr(), "-t", "predictions", "-e", "-o", "beginning", "-q").Output()
	if err != nil {
		t.Fatalf("kcat -C: %v", err)
	}
	if lines := bytes.Count(out, []byte("\n")); lines != n {
		t.Fatalf("kcat read %d predictions, want %d", lines, n)
	}
}
