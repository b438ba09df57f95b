package server

import (
	"context"
	"fmt"
	"io"
	"math/rand/v2"
	"net/http"
	"net/url"
	"strings"
	"testing"
	"time"

	"golang.org/x/net/html"

	"driftd/drift"
	"driftd/registry"
	"driftd/train"
)

// uiSession is a logged-in browser session against a test app.
type uiSession struct {
	tb   testing.TB
	app  *testApp
	c    *http.Client
	csrf string
}

// uiLogin signs user in through the login form.
func uiLogin(tb testing.TB, a *testApp, user, password string) *uiSession {
	tb.Helper()
	c := browser(tb)
	csrf := loginForm(tb, c, a.base)
	resp, err := c.PostForm(a.base+"/login", url.Values{"_csrf": {csrf}, "username": {user}, "password": {password}})
	if err != nil {
		tb.Fatal(err)
	}
	resp.Body.Close()
	if resp.StatusCode != http.StatusSeeOther {
		tb.Fatalf("login as %s: status %d", user, resp.StatusCode)
	}
	return &uiSession{tb: tb, app: a, c: c, csrf: csrf}
}

// get fetches a page and returns its status and parsed document.
func (s *uiSession) get(path string) (int, *html.Node, string) {
	s.tb.Helper()
	req, err := http.NewRequest(http.MethodGet, s.app.base+path, nil)
	if err != nil {
		s.tb.Fatal(err)
	}
	req.Header.Set("Accept", "text/html")
	resp, err := s.c.Do(req)
	if err != nil {
		s.tb.Fatal(err)
	}
	defer resp.Body.Close()
	b, _ := io.ReadAll(resp.Body)
	doc, err := html.Parse(strings.NewReader(string(b)))
	if err != nil {
		s.tb.Fatalf("GET %s: not HTML: %v", path, err)
	}
	return resp.StatusCode, doc, string(b)
}

// mustGet fetches a page that must answer 200.
func (s *uiSession) mustGet(path string) *html.Node {
	s.tb.Helper()
	status, doc, body := s.get(path)
	if status != http.StatusOK {
		s.tb.Fatalf("GET %s: status %d\n%s", path, status, body)
	}
	return doc
}

// post submits a form with the session's CSRF token (unless form sets one)
// and returns the status, the Location header and the body.
func (s *uiSession) post(path string, form url.Values) (int, string, string) {
	s.tb.Helper()
	if form.Get("_csrf") == "" {
		form.Set("_csrf", s.csrf)
	}
	req, err := http.NewRequest(http.MethodPost, s.app.base+path, strings.NewReader(form.Encode()))
	if err != nil {
		s.tb.Fatal(err)
	}
	req.Header.Set("Content-Type", "application/x-www-form-urlencoded")
	req.Header.Set("Accept", "text/html")
	resp, err := s.c.Do(req)
	if err != nil {
		s.tb.Fatal(err)
	}
	defer resp.Body.Close()
	b, _ := io.ReadAll(resp.Body)
	return resp.StatusCode, resp.Header.Get("Location"), string(b)
}

// byTestID returns the first element with data-testid=id, or nil.
func byTestID(n *html.Node, id string) *html.Node {
	if n.Type == html.ElementNode {
		for _, a := range n.Attr {
			if a.Key == "data-testid" && a.Val == id {
				return n
			}
		}
	}
	for c := n.FirstChild; c != nil; c = c.NextSibling {
		if f := byTestID(c, id); f != nil {
			return f
		}
	}
	return nil
}

// allByTestID returns every element with data-testid=id.
func allByTestID(n *html.Node, id string) []*html.Node {
	var out []*html.Node
	var walk func(*html.Node)
	walk = func(n *html.Node) {
		if n.Type == html.ElementNode {
			for _, a := range n.Attr {
				if a.Key == "data-testid" && a.Val == id {
					out = append(out, n)
				}
			}
		}
		for c := n.FirstChild; c != nil; c = c.NextSibling {
			walk(c)
		}
	}
	walk(n)
	return out
}

// mustTestID returns the element with data-testid=id or fails the test.
func mustTestID(tb testing.TB, doc *html.Node, id string) *html.Node {
	tb.Helper()
	n := byTestID(doc, id)
	if n == nil {
		tb.Fatalf("no element with data-testid=%q in page:\n%s", id, nodeText(doc))
	}
	return n
}

// nodeText is the whitespace-collapsed text content of n.
func nodeText(n *html.Node) string {
	var b strings.Builder
	var walk func(*html.Node)
	walk = func(n *html.Node) {
		if n.Type == html.TextNode {
			b.WriteString(n.Data)
			b.WriteByte(' ')
		}
		for c := n.FirstChild; c != nil; c = c.NextSibling {
			walk(c)
		}
	}
	walk(n)
	return strings.Join(strings.Fields(b.String()), " ")
}

// formCSRF returns the CSRF token of the form with data-testid=id.
func formCSRF(tb testing.TB, doc *html.Node, id string) string {
	tb.Helper()
	form := mustTestID(tb, doc, id)
	var tok string
	var walk func(*html.Node)
	walk = func(n *html.Node) {
		if n.Type == html.ElementNode && n.Data == "input" {
			var name, val string
			for _, a := range n.Attr {
				switch a.Key {
				case "name":
					name = a.Val
				case "value":
					val = a.Val
				}
			}
			if name == "_csrf" {
				tok = val
			}
		}
		for c := n.FirstChild; c != nil; c = c.NextSibling {
			walk(c)
		}
	}
	walk(form)
	if tok == "" {
		tb.Fatalf("form %s has no _csrf field", id)
	}
	return tok
}

// uiModelFile trains a tiny binary GBDT on x1, x2 (numeric) and plan
// (categorical) with the drift reference profile attached, as `driftd train
// --out` writes it.
func uiModelFile(tb testing.TB, seed uint64) []byte {
	tb.Helper()
	return uiModelFileCalibrated(tb, seed, false)
}

// uiModelFileCalibrated is uiModelFile whose drift profile, with calibrate,
// carries an isotonic calibrator of its training scores (for CBPE).
func uiModelFileCalibrated(tb testing.TB, seed uint64, calibrate bool) []byte {
	tb.Helper()
	r := rand.New(rand.NewPCG(seed, 7))
	var csv strings.Builder
	csv.WriteString("x1,x2,plan,churn\n")
	for i := 0; i < 300; i++ {
		x1, x2 := r.NormFloat64(), r.Float64()*10
		plan := []string{"basic", "pro", "max"}[r.IntN(3)]
		churn := 0
		if x1+0.2*x2 > 1 || plan == "basic" && r.IntN(3) == 0 {
			churn = 1
		}
		fmt.Fprintf(&csv, "%.4f,%.4f,%s,%d\n", x1, x2, plan, churn)
	}
	ds, err := train.ReadCSV(strings.NewReader(csv.String()), train.CSVOptions{Target: "churn", Name: "ui.csv"})
	if err != nil {
		tb.Fatal(err)
	}
	p := train.DefaultParams()
	p.Rounds, p.MinSamplesLeaf, p.Threads = 3, 5, 1
	m, err := train.Train(context.Background(), ds, nil, p, nil)
	if err != nil {
		tb.Fatal(err)
	}
	cols := make([]drift.Column, len(ds.Names))
	for i, n := range ds.Names {
		cols[i] = drift.Column{Name: n, Categorical: ds.Kinds[i] == train.Categorical, Values: ds.Num[i], Codes: ds.Codes[i], Levels: ds.Levels[i]}
	}
	feats := m.Features()
	idx := map[string]int{}
	for i, n := range ds.Names {
		idx[n] = i
	}
	preds := make([]float64, ds.Rows)
	row := make([]float64, len(feats))
	for r := 0; r < ds.Rows; r++ {
		for j, f := range feats {
			c := idx[f.Name]
			if f.Kind == train.Categorical {
				row[j] = m.CategoryCode(j, ds.Levels[c][ds.Codes[c][r]])
			} else {
				row[j] = ds.Num[c][r]
			}
		}
		preds[r] = m.PredictRow(row)
	}
	prof, err := drift.BuildProfile(cols, preds, drift.ProfileOptions{})
	if err != nil {
		tb.Fatal(err)
	}
	if calibrate {
		if prof.Calibration, err = drift.FitIsotonic(preds, ds.Target); err != nil {
			tb.Fatal(err)
		}
	}
	pb, err := prof.MarshalBinary()
	if err != nil {
		tb.Fatal(err)
	}
	m.Attach("drift.profile", pb)
	b, err := m.MarshalBinary()
	if err != nil {
		tb.Fatal(err)
	}
	return b
}

// registerUIModel registers a trained version of model name as the API would.
func registerUIModel(tb testing.TB, a *testApp, name, version string, seed uint64) {
	tb.Helper()
	art := uiModelFile(tb, seed)
	opts, err := registerOptions(art)
	if err != nil {
		tb.Fatal(err)
	}
	opts.Version, opts.Description = version, "seed "+fmt.Sprint(seed)
	if _, err := a.store.Register(registry.WithUser(context.Background(), "trainer"), art, name, opts); err != nil {
		tb.Fatal(err)
	}
}

// uiWaitFor polls cond until it holds or the deadline passes.
func uiWaitFor(tb testing.TB, what string, timeout time.Duration, cond func() bool) {
	tb.Helper()
	deadline := time.Now().Add(timeout)
	for !cond() {
		if time.Now().After(deadline) {
			tb.Fatalf("timed out after %v waiting for %s", timeout, what)
		}
		time.Sleep(50 * time.Millisecond)
	}
}

// produceShifted produces n feature records whose x1 lies far outside the
// reference, so the next drift check reports major drift on x1.
func produceShifted(tb testing.TB, a *testApp, n int) {
	tb.Helper()
	ctx := context.Background()
	for i := 0; i < n; i++ {
		rec := fmt.Sprintf(`{"id":"r%d","x1":%d,"x2":%d,"plan":"pro"}`, i, 5+i%7, i%10)
		if _, _, err := a.pipeline.Admin().ProduceTest(ctx, a.pipeline.Topics().Features, []byte(fmt.Sprint("r", i)), []byte(rec)); err != nil {
			tb.Fatal(err)
		}
	}
}
