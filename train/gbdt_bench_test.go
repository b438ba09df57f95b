package train

import (
	"context"
	"math"
	"math/rand"
	"os"
	"path/filepath"
	"runtime"
	"strconv"
	"strings"
	"syscall"
	"testing"
	"time"
)

// cpuTime returns the process's user+system CPU time. On a shared machine it
// is a steadier figure than wall time; benchmarks report both.
func cpuTime() time.Duration {
	var ru syscall.Rusage
	if err := syscall.Getrusage(syscall.RUSAGE_SELF, &ru); err != nil {
		return 0
	}
	return time.Duration(ru.Utime.Nano() + ru.Stime.Nano())
}

// higgsLike generates an in-memory numeric binary task of rows × 28.
func higgsLike(rows int, seed int64) *Dataset {
	rng := rand.New(rand.NewSource(seed))
	const nf = 28
	ds := &Dataset{Rows: rows, Target: make([]float64, rows), TargetLevels: []string{"0", "1"}}
	for f := 0; f < nf; f++ {
		ds.Names = append(ds.Names, "f"+string(rune('a'+f%26))+string(rune('0'+f/26)))
		ds.Kinds = append(ds.Kinds, Numeric)
		col := make([]float64, rows)
		for i := range col {
			col[i] = math.Round(rng.NormFloat64()*1e5) / 1e5
		}
		ds.Num = append(ds.Num, col)
		ds.Codes = append(ds.Codes, nil)
		ds.Levels = append(ds.Levels, nil)
	}
	x := ds.Num
	for i := 0; i < rows; i++ {
		z := x[0][i] - x[1][i]*x[2][i] + math.Abs(x[3][i]) - 0.8 + 0.5*math.Sin(2*x[4][i]) + 0.3*x[5][i]*x[5][i]
		if rng.Float64() < 1/(1+math.Exp(-z)) {
			ds.Target[i] = 1
		}
	}
	return ds
}

func BenchmarkBin1M(b *testing.B) {
	ds := higgsLike(1000000, 1)
	b.ResetTimer()
	c0 := cpuTime()
	for i := 0; i < b.N; i++ {
		bn := newBinner(ds, 255, 2)
		if _, err := bn.apply(ds, 2, recordExtra(len(ds.Names))); err != nil {
			b.Fatal(err)
		}
	}
	b.ReportMetric((cpuTime()-c0).Seconds()/float64(b.N), "cpu-s/op")
}

func BenchmarkFitHiggsLike(b *testing.B) {
	ds := higgsLike(1000000, 1)
	p := DefaultParams()
	p.Threads = 2
	b.ResetTimer()
	c0 := cpuTime()
	for i := 0; i < b.N; i++ {
		if _, err := Train(context.Background(), ds, nil, p, nil); err != nil {
			b.Fatal(err)
		}
	}
	b.ReportMetric((cpuTime()-c0).Seconds()/float64(b.N), "cpu-s/op")
}

func benchModel(b testing.TB) (*Model, [][]float64) {
	ds := higgsLike(100000, 2)
	p := DefaultParams()
	p.Threads = 2
	m, err := Train(context.Background(), ds, nil, p, nil)
	if err != nil {
		b.Fatal(err)
	}
	return m, rowsOf(b, m, ds)
}

func BenchmarkPredictRow(b *testing.B) {
	m, rows := benchModel(b)
	b.ReportAllocs()
	b.ResetTimer()
	c0 := cpuTime()
	s := 0.0
	for i := 0; i < b.N; i++ {
		s += m.PredictRow(rows[i%len(rows)])
	}
	_ = s
	b.ReportMetric(float64(cpuTime()-c0)/float64(b.N), "cpu-ns/op")
}

func BenchmarkPredictBatch(b *testing.B) {
	m, rows := benchModel(b)
	dst := make([]float64, len(rows))
	b.ResetTimer()
	c0 := cpuTime()
	for i := 0; i < b.N; i++ {
		m.PredictBatch(rows, dst, 2)
	}
	b.ReportMetric(float64(len(rows)*b.N)/b.Elapsed().Seconds(), "rows/s")
	// rows per second two dedicated cores would give at the CPU time used
	b.ReportMetric(2*float64(len(rows)*b.N)/(cpuTime()-c0).Seconds(), "rows/s-2cores-cpu")
}

// BenchmarkPredictWalkers scores the same rows single-threaded with the lane
// walker (PredictBatch's default) and with the float walker it replaced, in
// one run, so their ratio holds on a shared machine:
//
//	go test -run '^$' -bench PredictWalkers -count 3 ./train/
func BenchmarkPredictWalkers(b *testing.B) {
	m, rows := benchModel(b)
	ref := *m
	ref.lanes = nil
	dst := make([]float64, len(rows))
	for _, c := range []struct {
		name string
		m    *Model
	}{{"lanes", m}, {"float", &ref}} {
		b.Run(c.name, func(b *testing.B) {
			c0 := cpuTime()
			for i := 0; i < b.N; i++ {
				c.m.PredictBatch(rows, dst, 1)
			}
			b.ReportMetric(float64(cpuTime()-c0)/float64(b.N*len(rows)), "cpu-ns/row")
		})
	}
}

func TestPredictRowZeroAlloc(t *testing.T) {
	ds := synth(2000, 9)
	p := quietParams()
	p.Rounds = 10
	m, err := Train(context.Background(), ds, nil, p, nil)
	if err != nil {
		t.Fatal(err)
	}
	row := rowsOf(t, m, ds)[0]
	if a := testing.AllocsPerRun(100, func() { m.PredictRow(row) }); a != 0 {
		t.Fatalf("PredictRow allocates %v times", a)
	}
}

// TestFitFiles trains on DRIFTD_FIT_DIR/{higgs_1m_train,higgs_test}.csv (or the
// files named by DRIFTD_FIT_TRAIN / DRIFTD_FIT_TEST) and logs fit time and
// test AUC; it skips unless DRIFTD_FIT_TRAIN is set.
func TestFitFiles(t *testing.T) {
	trainPath, testPath := os.Getenv("DRIFTD_FIT_TRAIN"), os.Getenv("DRIFTD_FIT_TEST")
	if trainPath == "" || testPath == "" {
		t.Skip("set DRIFTD_FIT_TRAIN and DRIFTD_FIT_TEST to CSV files with a label column")
	}
	t0 := time.Now()
	tr, err := ReadCSVFile(filepath.Clean(trainPath), CSVOptions{Target: "label"})
	if err != nil {
		t.Fatal(err)
	}
	te, err := ReadCSVFile(filepath.Clean(testPath), CSVOptions{Target: "label"})
	if err != nil {
		t.Fatal(err)
	}
	t.Logf("load %.2fs", time.Since(t0).Seconds())
	p := DefaultParams()
	p.Threads = 2
	if os.Getenv("DRIFTD_FIT_GROW") == "depthwise" {
		p.Grow, p.MaxDepth = "depthwise", 6
	}
	var ms0, ms1 runtime.MemStats
	runtime.GC()
	runtime.ReadMemStats(&ms0)
	rss0 := procStatusMB("VmRSS")
	// reset the peak RSS (as the peer script does) so VmHWM covers the fit only
	_ = os.WriteFile("/proc/self/clear_refs", []byte("5"), 0)
	t1, c1 := time.Now(), cpuTime()
	m, err := Train(context.Background(), tr, nil, p, nil)
	if err != nil {
		t.Fatal(err)
	}
	fit, fitCPU := time.Since(t1), cpuTime()-c1
	runtime.ReadMemStats(&ms1)
	t.Logf("peak RSS during fit %.0f MB above the %.0f MB before it", procStatusMB("VmHWM")-rss0, rss0)
	t.Logf("allocated during fit: %.0f MB (upper bound of the extra peak)", float64(ms1.TotalAlloc-ms0.TotalAlloc)/1e6)
	rows := rowsOf(t, m, te)
	pred := make([]float64, len(rows))
	t2 := time.Now()
	m.PredictBatch(rows, pred, 2)
	pt := time.Since(t2)
	t3 := time.Now()
	s := 0.0
	for _, row := range rows {
		s += m.PredictRow(row)
	}
	t.Logf("PredictRow %.0f ns/row single-threaded (checksum %.3f)", float64(time.Since(t3).Nanoseconds())/float64(len(rows)), s)
	t.Logf("fit %.2fs (cpu %.2fs)  test AUC %.4f  predict %.0f rows/s", fit.Seconds(), fitCPU.Seconds(), AUC(te.Target, pred), float64(len(rows))/pt.Seconds())
}

// procStatusMB reads a "kB" line of /proc/self/status in MB (NaN if absent).
func procStatusMB(key string) float64 {
	b, err := os.ReadFile("/proc/self/status")
	if err != nil {
		return math.NaN()
	}
	for _, line := range strings.Split(string(b), "\n") {
		if v, ok := strings.CutPrefix(line, key+":"); ok {
			f := strings.Fields(v)
			if len(f) > 0 {
				if kb, err := strconv.ParseFloat(f[0], 64); err == nil {
					return kb / 1024
				}
			}
		}
	}
	return math.NaN()
}

// BenchmarkHistRange builds the histogram of 1M rows laid out one after
// another, as every leaf's rows are while a tree grows.
func BenchmarkHistRange(b *testing.B) {
	ds := higgsLike(1000000, 4)
	bn := newBinner(ds, 255, 1)
	bm, err := bn.apply(ds, 1, recordExtra(len(ds.Names)))
	if err != nil {
		b.Fatal(err)
	}
	for r := 0; r < bm.rows; r++ {
		bm.words[r*bm.stride+bm.w] = uint64(r%7)<<32 + uint64(r%5)
	}
	h := make([]featHist, bm.nf)
	b.ResetTimer()
	for i := 0; i < b.N; i++ {
		histRange(h, bm.words, bm.stride, bm.w, 0, bm.rows)
	}
	b.ReportMetric(float64(b.Elapsed().Nanoseconds())/float64(b.N*bm.rows), "ns/row")
}

// BenchmarkFitFilesValid trains as bench/train/run.sh's higgs_leafwise case
// (100 rounds, 31 leaves, 2 threads) on DRIFTD_FIT_TRAIN with DRIFTD_FIT_TEST
// as validation data scored every round; it skips unless both are set:
//
//	DRIFTD_FIT_TRAIN=/tmp/driftd-bench/higgs_1m_train.csv DRIFTD_FIT_TEST=/tmp/driftd-bench/higgs_test.csv \
//	  go test -run '^$' -bench FitFilesValid -benchtime 1x -count 3 ./train/
func BenchmarkFitFilesValid(b *testing.B) {
	trainPath, testPath := os.Getenv("DRIFTD_FIT_TRAIN"), os.Getenv("DRIFTD_FIT_TEST")
	if trainPath == "" || testPath == "" {
		b.Skip("set DRIFTD_FIT_TRAIN and DRIFTD_FIT_TEST to CSV files with a label column")
	}
	tr, err := ReadCSVFile(filepath.Clean(trainPath), CSVOptions{Target: "label"})
	if err != nil {
		b.Fatal(err)
	}
	te, err := ReadCSVFile(filepath.Clean(testPath), CSVOptions{Target: "label"})
	if err != nil {
		b.Fatal(err)
	}
	p := DefaultParams()
	p.Threads = 2
	var last Round
	b.ResetTimer()
	c0 := cpuTime()
	for i := 0; i < b.N; i++ {
		if _, err := Train(context.Background(), tr, te, p, func(r Round) { last = r }); err != nil {
			b.Fatal(err)
		}
	}
	b.ReportMetric((cpuTime()-c0).Seconds()/float64(b.N), "cpu-s/op")
	b.ReportMetric(last.ValidMetric, "valid-auc")
	b.ReportMetric(last.ValidLoss, "valid-logloss")
}
