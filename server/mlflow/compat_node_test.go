package mlflow

import (
	"bytes"
	"context"
	"encoding/json"
	"net/http/httptest"
	"os"
	"os/exec"
	"path/filepath"
	"slices"
	"strings"
	"testing"
	"time"

	"driftd/registry"
)

// mlflowNode returns node and the directory holding the Node.js MLflow
// client (testdata/node/install_mlflow_client.sh installs it). Without them
// the test is skipped, unless DRIFTD_INTEGRATION is set, when it fails.
func mlflowNode(t *testing.T) (node, dir string) {
	t.Helper()
	dir = os.Getenv("DRIFTD_MLFLOW_NODE")
	if dir == "" {
		home, _ := os.UserHomeDir()
		dir = filepath.Join(home, ".cache", "driftd", "mlflow-node")
	}
	node, err := exec.LookPath("node")
	if err == nil {
		_, err = os.Stat(filepath.Join(dir, "node_modules", "mlflow", "package.json"))
	}
	if err != nil {
		if os.Getenv("DRIFTD_INTEGRATION") == "" {
			t.Skipf("node with the Node.js MLflow client in %s: %v (sh server/mlflow/testdata/node/install_mlflow_client.sh installs it)", dir, err)
		}
		t.Fatalf("DRIFTD_INTEGRATION is set but node with the Node.js MLflow client in %s is not there: %v (sh server/mlflow/testdata/node/install_mlflow_client.sh installs it)", dir, err)
	}
	return node, dir
}

// TestNodeMLflowClient is the compatibility test: an MLflow client
// someone else wrote (npm "mlflow", installed from the npm registry) logs into
// driftd over HTTP, and what it reads back is what it logged; the run is one
// of driftd's. A version it registers from an s3:// URI is kept, not
// scorable, and cannot enter Production.
func TestNodeMLflowClient(t *testing.T) {
	node, dir := mlflowNode(t)
	s := newTestServer(t)
	srv := httptest.NewServer(s.e)
	defer srv.Close()
	ctx, cancel := context.WithTimeout(context.Background(), 2*time.Minute)
	defer cancel()
	cmd := exec.CommandContext(ctx, node, filepath.Join("testdata", "node", "compat.js"), dir, srv.URL, testToken)
	var stderr bytes.Buffer
	cmd.Stderr = &stderr
	out, err := cmd.Output()
	if err != nil {
		t.Fatalf("node client: %v\n%s\n%s", err, out, stderr.String())
	}
	lines := strings.Split(strings.TrimSpace(string(out)), "\n")
	var got struct {
		ExperimentName string       `json:"experiment_name"`
		Experiments    []string     `json:"experiments"`
		RunID          string       `json:"run_id"`
		RunName        string       `json:"run_name"`
		Status         string       `json:"status"`
		EndTime        int64        `json:"end_time"`
		ParamRefused   any          `json:"param_refused"`
		Found          []string     `json:"found"`
		History        [][2]float64 `json:"history"`
		Params         []keyValue   `json:"params"`
		Tags           []string     `json:"tags"`
		RootURI        string       `json:"root_uri"`
		Version        struct {
			Version       string   `json:"version"`
			Source        string   `json:"source"`
			Status        string   `json:"status"`
			StatusMessage string   `json:"status_message"`
			RunID         string   `json:"run_id"`
			Tags          []string `json:"tags"`
		} `json:"version"`
		Searched     []string `json:"searched"`
		StageRefused any      `json:"stage_refused"`
	}
	if err := json.Unmarshal([]byte(lines[len(lines)-1]), &got); err != nil {
		t.Fatalf("client output %q: %v", lines[len(lines)-1], err)
	}
	checks := []struct {
		what string
		ok   bool
	}{
		{"renamed experiment", got.ExperimentName == "node-client-renamed" && slices.Contains(got.Experiments, "node-client-renamed")},
		{"run name from the mlflow.runName tag", got.RunName == "from-node"},
		{"finished with its end time", got.Status == "FINISHED" && got.EndTime == startMillis+9},
		{"write-once param refused", got.ParamRefused == codeInvalidParameter},
		{"search finds the run", slices.Equal(got.Found, []string{got.RunID})},
		{"history in step order", slices.Equal(got.History, [][2]float64{{0, 1}, {1, 0.5}, {2, 1.0 / 3}})},
		{"params", slices.Equal(got.Params, []keyValue{{"alpha", "0.5"}, {"depth", "6"}})},
		{"tags set and deleted", slices.Equal(got.Tags, []string{"mlflow.runName", "stage", "team"})},
		{"artifact root", got.RootURI == "mlflow-artifacts:/1/"+got.RunID+"/artifacts"},
		{"a version driftd cannot score reads back", got.Version.Version == "1" && got.Version.Source == "s3://bucket/churn/model.pkl" &&
			got.Version.Status == "READY" && strings.Contains(got.Version.StatusMessage, "not scorable") && got.Version.RunID == got.RunID &&
			slices.Equal(got.Version.Tags, []string{"flavor=sklearn"})},
		{"search finds it", slices.Equal(got.Searched, []string{"1 s3://bucket/churn/model.pkl"})},
		{"Production refused", got.StageRefused == codeInvalidParameter},
	}
	for _, c := range checks {
		if !c.ok {
			t.Errorf("%s: client read back %+v", c.what, got)
		}
	}
	r, err := s.store.GetRun(ctx, got.RunID)
	if err != nil {
		t.Fatal(err)
	}
	if r.Status != registry.RunFinished || r.Params["depth"] != "6" || r.Metrics["auc"].Value != 0.91 || r.CreatedBy != "node" {
		t.Fatalf("driftd's view of the client's run: %+v", r)
	}
	v, err := s.store.GetVersion(ctx, "node-churn", "1.0.0")
	if err != nil || v.Scorable || v.External == nil || v.External.Source != "s3://bucket/churn/model.pkl" || len(v.Environments) != 0 {
		t.Fatalf("driftd's view of the client's version: %+v (%v)", v, err)
	}
}
