package drift

import (
	"math"
	"math/rand/v2"
	"runtime"
	"slices"
	"sync"
)

// Alert bands learned from the reference (NannyML's way of setting
// thresholds): the reference rows are split, after a seeded shuffle, into
// chunks of a given size; each chunk is compared with the whole reference
// as a window would be, and each statistic's band at that size is its mean
// ± 3 standard deviations over the chunks. Bands are kept for a ladder of
// chunk sizes and interpolated (log–log) to the size of the window being
// checked, so the threshold of every verdict follows the window's size.
//
// The mean and standard deviation are those of the statistic raised to the
// power BandPower, the cube root (Wilson–Hilferty), which makes these
// right-skewed, chi-square-like statistics close to normal. Measured on
// normed Wasserstein (28 features, independent windows of 1,000, a
// reference of 8,000): ± 3 sd of the raw statistic leaves about 1.2% of
// undrifted windows above the band with 40 chunks, of the cube root 0.3%
// with 400 chunks and 0.7% with 40; DefaultBandChunks is 100.

// BandSigmas is the half-width of an alert band in standard deviations.
const BandSigmas = 3

// DefaultBandChunks is how many reference chunks are drawn per chunk size
// (the reference is reshuffled and split again while it has fewer).
const DefaultBandChunks = 100

// bandLadder lists the candidate chunk sizes; a profile keeps those at most
// a third of its reference rows.
func bandLadder() []int { return []int{50, 100, 200, 500, 1000, 2000} }

// Band is the mean and standard deviation, over reference chunks of one
// size, of a statistic raised to BandPower(test).
type Band struct {
	Mean, SD float64
}

// BandPower is the power a test's statistic is raised to before its band is
// taken: the cube root for every test (Wilson–Hilferty for the quadratic
// statistics; for the distances and |z| it over-corrects slightly, which
// thins the upper tail further).
func BandPower(string) float64 { return 1.0 / 3 }

// edges returns the band's lower and upper edges in the statistic's units:
// (Mean ∓ 3 SD)^(1/power), the lower one floored at 0.
func (b Band) edges(power float64) (lo, hi float64) {
	return math.Pow(math.Max(0, b.Mean-BandSigmas*b.SD), 1/power), math.Pow(math.Max(0, b.Mean+BandSigmas*b.SD), 1/power)
}

// bandScale describes how a statistic's null distribution depends on the
// window size n and on the overlap of a chunk with the reference it is
// compared with: it scales as n^sizePow, and a chunk drawn from a reference
// of N rows sees a difference whose variance is (1/n − 1/N) where an
// independent window sees (1/n + 1/N), so the chunk statistic is scaled by
// ((N+n)/(N−n))^overlapPow (½ for statistics linear in the difference of
// distributions, 1 for quadratic ones).
func bandScale(test string) (sizePow, overlapPow float64) {
	switch test {
	case TestKS, TestWasserstein, TestJensenShannon, TestHellinger:
		return -0.5, 0.5
	case TestZ:
		return 0, 0.5
	case TestChiSquare:
		return 0, 1
	default: // psi, kl
		return -1, 1
	}
}

// bandTests are the statistics banded for every feature; valueTests only
// for numeric features with values.
func bandTests() []string {
	return []string{TestPSI, TestChiSquare, TestZ, TestJensenShannon, TestHellinger, TestKL}
}

func valueTests() []string { return []string{TestKS, TestWasserstein} }

// nBandStats is len(bandTests()) + len(valueTests()).
const nBandStats = 8

// Limits returns the lower and upper edges of the band of a feature's
// statistic (a test name; "psi" for the PSI; |z| for z) at window size n;
// ok is false when the profile has no band for it.
func (p *Profile) Limits(f *Feature, test string, n int) (lo, hi float64, ok bool) {
	b, ok := p.BandAt(f, test, n)
	if !ok {
		return math.NaN(), math.NaN(), false
	}
	lo, hi = b.edges(BandPower(test))
	return lo, hi, true
}

// BandAt returns the band (of the statistic raised to BandPower) at window
// size n, interpolated between the profile's chunk sizes in log–log space
// and extrapolated beyond them with the statistic's scaling law; ok is false
// when the profile has no band for it.
func (p *Profile) BandAt(f *Feature, test string, n int) (Band, bool) {
	bs, ok := f.Bands[test]
	if !ok || len(bs) != len(p.BandSizes) || len(bs) == 0 || n <= 0 {
		return Band{}, false
	}
	pow, _ := bandScale(test)
	pow *= BandPower(test)
	return interpBand(p.BandSizes, bs, n, pow, pow), true
}

// interpBand returns the band at window size n from bands learned at the
// ascending chunk sizes: interpolated between sizes in log–log space, and
// beyond them scaled from the nearest size as n^meanPow (mean) and
// n^sdPow (SD). len(bs) == len(sizes) > 0 and n > 0.
func interpBand(sizes []int, bs []Band, n int, meanPow, sdPow float64) Band {
	x := float64(n)
	if n <= sizes[0] {
		r := x / float64(sizes[0])
		return Band{bs[0].Mean * math.Pow(r, meanPow), bs[0].SD * math.Pow(r, sdPow)}
	}
	last := len(sizes) - 1
	if n >= sizes[last] {
		r := x / float64(sizes[last])
		return Band{bs[last].Mean * math.Pow(r, meanPow), bs[last].SD * math.Pow(r, sdPow)}
	}
	i := 0
	for sizes[i+1] < n {
		i++
	}
	t := math.Log(x/float64(sizes[i])) / math.Log(float64(sizes[i+1])/float64(sizes[i]))
	return Band{logInterp(bs[i].Mean, bs[i+1].Mean, t), logInterp(bs[i].SD, bs[i+1].SD, t)}
}

// logInterp interpolates geometrically between positive a and b, linearly
// otherwise.
func logInterp(a, b, t float64) float64 {
	if a > 0 && b > 0 {
		return math.Exp(math.Log(a) + t*(math.Log(b)-math.Log(a)))
	}
	return a + t*(b-a)
}

// bandSizes returns the ladder sizes usable with a reference of rows rows.
func bandSizes(rows int) []int {
	var out []int
	for _, s := range bandLadder() {
		if 3*s <= rows {
			out = append(out, s)
		}
	}
	return out
}

// bandAcc accumulates one statistic over chunks (Welford).
type bandAcc struct {
	n        int
	mean, m2 float64
}

func (a *bandAcc) add(x float64) {
	if math.IsNaN(x) || math.IsInf(x, 0) || x < 0 {
		return
	}
	a.n++
	d := x - a.mean
	a.mean += d / float64(a.n)
	a.m2 += d * (x - a.mean)
}

func (a *bandAcc) band(scale float64) Band {
	if a.n < 2 {
		return Band{math.NaN(), math.NaN()}
	}
	return Band{a.mean * scale, math.Sqrt(a.m2/float64(a.n-1)) * scale}
}

// drawChunks draws the row indices of chunks reference chunks of each size
// from rows rows: a seeded shuffle, split in order, reshuffled and split
// again while more chunks are needed. The seed depends on rows only, so a
// profile is reproducible.
func drawChunks(rows int, sizes []int, chunks int) [][][]int {
	out := make([][][]int, len(sizes))
	eachChunk(rows, sizes, chunks, func(si int, chunk []int) {
		out[si] = append(out[si], slices.Clone(chunk))
	})
	return out
}

// eachChunk calls fn with the row indices of each chunk drawChunks draws,
// size after size; chunk is valid during the call only.
func eachChunk(rows int, sizes []int, chunks int, fn func(si int, chunk []int)) {
	rng := rand.New(rand.NewPCG(0x64726966, uint64(rows)))
	perm := make([]int, rows)
	for i := range perm {
		perm[i] = i
	}
	pos := rows // forces a shuffle first
	for si, size := range sizes {
		for c := 0; c < chunks; c++ {
			if pos+size > rows {
				rng.Shuffle(len(perm), func(a, b int) { perm[a], perm[b] = perm[b], perm[a] })
				pos = 0
			}
			fn(si, perm[pos:pos+size])
			pos += size
		}
	}
}

// buildBands learns the alert bands of every feature from reference chunks
// (seeded, so a profile is reproducible); chunks is the number of chunks per
// size.
func buildBands(p *Profile, cols []Column, chunks int) {
	sizes := bandSizes(p.Rows)
	if len(sizes) == 0 || chunks < 2 {
		return
	}
	p.BandSizes = sizes
	nf := len(p.Features)
	// Per feature: bin of each categorical code, and the value test chosen
	// automatically (the only one of ks and wasserstein banded: they cost
	// a sort per chunk).
	codeBins := make([][]int, nf)
	valueTest := make([]string, nf)
	for j := range cols {
		f := &p.Features[j]
		valueTest[j] = ChooseTest(f.Categorical, f.NonMissing(), f.Unique)
		if f.index == nil && f.Categorical {
			f.buildIndex()
		}
		if cols[j].Categorical {
			cb := make([]int, len(cols[j].Levels))
			for c, l := range cols[j].Levels {
				if b, ok := f.index[l]; ok {
					cb[c] = b
				} else {
					cb[c] = f.otherBin()
				}
			}
			codeBins[j] = cb
		}
		f.Bands = make(map[string][]Band, nBandStats)
	}
	binTests, valTests := bandTests(), valueTests()
	// The chunks of every size are drawn first, then the features are
	// processed in parallel (each feature's bands depend on its column only).
	chunkRows := drawChunks(p.Rows, sizes, chunks)
	next := make(chan int)
	var wg sync.WaitGroup
	for range min(runtime.GOMAXPROCS(0), nf) {
		wg.Add(1)
		go func() {
			defer wg.Done()
			for j := range next {
				featureBands(p, &p.Features[j], &cols[j], codeBins[j], valueTest[j], chunkRows, binTests, valTests)
			}
		}()
	}
	for j := range nf {
		next <- j
	}
	close(next)
	wg.Wait()
	for j := range p.Features {
		f := &p.Features[j]
		for t, bs := range f.Bands {
			if slices.ContainsFunc(bs, func(b Band) bool { return math.IsNaN(b.Mean) }) {
				delete(f.Bands, t)
			}
		}
	}
}

// featureBands learns the bands of one feature from the chunks' rows.
func featureBands(p *Profile, f *Feature, col *Column, codeBins []int, valueTest string, chunkRows [][][]int, binTests, valTests []string) {
	var rs radixScratch
	counts := make([]int64, f.Bins())
	var vals, sorted []float64
	for si, size := range p.BandSizes {
		var accs [nBandStats]bandAcc
		for _, rows := range chunkRows[si] {
			clear(counts)
			switch {
			case col.Categorical:
				for _, r := range rows {
					if code := col.Codes[r]; code < 0 {
						counts[0]++
					} else {
						counts[codeBins[code]]++
					}
				}
			case valueTest == TestKS || valueTest == TestWasserstein:
				vals = vals[:0]
				for _, r := range rows {
					vals = append(vals, col.Values[r])
				}
				var missing int
				sorted, missing = rs.sortedValues(vals, sorted)
				counts[0] = int64(missing)
				binCountsSorted(sorted, f.Edges, counts)
				if len(sorted) > 0 && len(f.Summary) > 0 {
					if valueTest == TestKS {
						accs[len(binTests)].add(math.Pow(KSStatistic(f.Summary, sorted), BandPower(TestKS)))
					} else {
						accs[len(binTests)+1].add(math.Pow(NormedWasserstein(f.Summary, sorted, f.Std), BandPower(TestWasserstein)))
					}
				}
			default:
				for _, r := range rows {
					counts[numericBin(f.Edges, col.Values[r])]++
				}
			}
			for k, t := range binTests {
				accs[k].add(math.Pow(binStatistic(t, f.RefCounts, counts), BandPower(t)))
			}
		}
		for k, t := range binTests {
			f.Bands[t] = append(f.Bands[t], accs[k].band(overlapScale(t, f.Count, size)))
		}
		if !f.Categorical && f.NonMissing() > 0 && len(f.Summary) > 0 {
			for k, t := range valTests {
				if t == valueTest {
					f.Bands[t] = append(f.Bands[t], accs[len(binTests)+k].band(overlapScale(t, f.NonMissing(), size)))
				}
			}
		}
	}
}

// overlapScale is the factor that turns the (transformed) statistic of a
// chunk drawn from a reference of refN rows into that of an independent
// window of size n.
func overlapScale(test string, refN int64, n int) float64 {
	_, q := bandScale(test)
	q *= BandPower(test)
	N := float64(refN)
	if N <= float64(n) {
		return 1
	}
	return math.Pow((N+float64(n))/(N-float64(n)), q)
}

// binStatistic is a bin-based test's statistic (|z| for z).
func binStatistic(test string, ref, cur []int64) float64 {
	switch test {
	case TestPSI:
		return PSI(ref, cur)
	case TestChiSquare:
		s, _ := ChiSquare(ref, cur)
		return s
	case TestZ:
		z, _ := ZTest(ref, cur, zTarget(ref, cur))
		return math.Abs(z)
	case TestJensenShannon:
		return JensenShannon(ref, cur)
	case TestHellinger:
		return Hellinger(ref, cur)
	case TestKL:
		return KL(ref, cur)
	}
	return math.NaN()
}
