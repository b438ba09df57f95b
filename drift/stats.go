package drift

import (
	"math"

	"gonum.org/v1/gonum/stat/distuv"
)

// ShareFloor replaces a share of exactly zero (an empty bin) in PSI and KL.
const ShareFloor = 0.0001

// floorShare returns count/total, or ShareFloor when count is zero.
func floorShare(count, total float64) float64 {
	if count == 0 || total == 0 {
		return ShareFloor
	}
	return count / total
}

// PSI returns the population stability index Σ (a−e)·ln(a/e) of the bin
// counts ref (expected) and cur (actual); a share of 0 becomes 0.0001.
func PSI(ref, cur []int64) float64 {
	rt, ct := total(ref), total(cur)
	psi := 0.0
	for i := range ref {
		e := floorShare(float64(ref[i]), rt)
		a := floorShare(float64(cur[i]), ct)
		psi += (a - e) * math.Log(a/e)
	}
	return psi
}

func total(c []int64) float64 {
	var t int64
	for _, v := range c {
		t += v
	}
	return float64(t)
}

// JensenShannon returns the Jensen–Shannon distance (square root of the
// divergence, natural logarithm) between the normalised counts, as
// scipy.spatial.distance.jensenshannon.
func JensenShannon(ref, cur []int64) float64 {
	rt, ct := total(ref), total(cur)
	if rt == 0 || ct == 0 {
		return math.NaN()
	}
	var left, right float64
	for i := range ref {
		p, q := float64(ref[i])/rt, float64(cur[i])/ct
		m := (p + q) / 2
		if p > 0 {
			left += p * math.Log(p/m)
		}
		if q > 0 {
			right += q * math.Log(q/m)
		}
	}
	return math.Sqrt(math.Max((left+right)/2, 0))
}

// Hellinger returns the Hellinger distance √(1 − Σ√(pq)) of the normalised
// counts, computed in the equivalent, cancellation-free form √(Σ(√p−√q)²/2).
func Hellinger(ref, cur []int64) float64 {
	rt, ct := total(ref), total(cur)
	if rt == 0 || ct == 0 {
		return math.NaN()
	}
	s := 0.0
	for i := range ref {
		d := math.Sqrt(float64(ref[i])/rt) - math.Sqrt(float64(cur[i])/ct)
		s += d * d
	}
	return math.Sqrt(s / 2)
}

// KL returns the Kullback–Leibler divergence KL(reference‖current) of the
// bin shares with empty bins floored at 0.0001 and both vectors renormalised
// (scipy.stats.entropy(ref, cur) on the floored shares).
func KL(ref, cur []int64) float64 {
	rt, ct := total(ref), total(cur)
	var ps, qs float64
	for i := range ref {
		ps += floorShare(float64(ref[i]), rt)
		qs += floorShare(float64(cur[i]), ct)
	}
	kl := 0.0
	for i := range ref {
		p := floorShare(float64(ref[i]), rt) / ps
		q := floorShare(float64(cur[i]), ct) / qs
		kl += p * math.Log(p/q)
	}
	return kl
}

// ChiSquare returns the chi-square statistic and p-value of the test of
// homogeneity of the 2×k contingency table (reference counts, current
// counts), as scipy.stats.chi2_contingency(correction=False); bins empty in
// both are dropped. With fewer than two non-empty bins it returns (0, 1).
func ChiSquare(ref, cur []int64) (stat, p float64) {
	rt, ct := total(ref), total(cur)
	if rt == 0 || ct == 0 {
		return 0, 1
	}
	n := rt + ct
	k := 0
	for i := range ref {
		col := float64(ref[i] + cur[i])
		if col == 0 {
			continue
		}
		k++
		er := rt * col / n
		ec := ct * col / n
		dr := float64(ref[i]) - er
		dc := float64(cur[i]) - ec
		stat += dr*dr/er + dc*dc/ec
	}
	if k < 2 {
		return 0, 1
	}
	return stat, distuv.ChiSquared{K: float64(k - 1)}.Survival(stat)
}

// ZTest returns the two-proportion z statistic and two-sided p-value for the
// share of bin target in the reference against the current counts (pooled
// variance, as Evidently's z_stat_test). Identical degenerate proportions
// give (0, 1).
func ZTest(ref, cur []int64, target int) (z, p float64) {
	n1, n2 := total(ref), total(cur)
	if n1 == 0 || n2 == 0 {
		return 0, 1
	}
	p1 := float64(ref[target]) / n1
	p2 := float64(cur[target]) / n2
	P := (p1*n1 + p2*n2) / (n1 + n2)
	den := math.Sqrt(P * (1 - P) * (1/n1 + 1/n2))
	if den == 0 {
		return 0, 1
	}
	z = (p1 - p2) / den
	return z, math.Erfc(math.Abs(z) / math.Sqrt2)
}

// Wasserstein returns the Wasserstein-1 distance between two sorted,
// NaN-free samples (scipy.stats.wasserstein_distance).
//
// It integrates the distance between the two quantile functions, W1 =
// ∫₀¹ |Qa(u) − Qb(u)| du, which equals scipy's ∫|Fa − Fb| dx: Qa is a[k]
// on (k/n1, (k+1)/n1], so on the grid of multiples of 1/(n1·n2) the
// breakpoints are k·n2 and l·n1, whose merge depends on the sizes only.
// The walk therefore has no data-dependent branch (unlike a merge of the
// values), and with equal sizes it is the sum of |a[k] − b[k]|.
func Wasserstein(a, b []float64) float64 {
	n1, n2 := len(a), len(b)
	if n1 == 0 || n2 == 0 {
		return math.NaN()
	}
	if n1 == n2 {
		var s0, c0, s1, c1 float64
		k := 0
		for ; k+1 < n1; k += 2 {
			s0, c0 = neumaier(s0, c0, math.Abs(a[k]-b[k]))
			s1, c1 = neumaier(s1, c1, math.Abs(a[k+1]-b[k+1]))
		}
		if k < n1 {
			s0, c0 = neumaier(s0, c0, math.Abs(a[k]-b[k]))
		}
		s, c := neumaier(s0, c0, s1)
		return (s + c + c1) / float64(n1)
	}
	N1, N2 := int64(n1), int64(n2)
	var pos int64 // u·n1·n2 at the start of the current segment
	var s, c float64
	k, l := 0, 0
	for k < n1 && l < n2 {
		nextA, nextB := int64(k+1)*N2, int64(l+1)*N1
		e := min(nextA, nextB)
		s, c = neumaier(s, c, float64(e-pos)*math.Abs(a[k]-b[l]))
		pos = e
		if nextA == e {
			k++
		}
		if nextB == e {
			l++
		}
	}
	return (s + c) / (float64(n1) * float64(n2))
}

// neumaier adds t to the compensated sum (s, c).
func neumaier(s, c, t float64) (float64, float64) {
	u := s + t
	if math.Abs(s) >= math.Abs(t) {
		c += (s - u) + t
	} else {
		c += (t - u) + s
	}
	return u, c
}

// meanStd returns the mean and population standard deviation (two-pass, as
// numpy.std) of NaN-free values.
func meanStd(v []float64) (mean, std float64) {
	if len(v) == 0 {
		return math.NaN(), math.NaN()
	}
	var s, c float64
	for _, x := range v {
		s, c = neumaier(s, c, x)
	}
	mean = (s + c) / float64(len(v))
	s, c = 0, 0
	for _, x := range v {
		d := x - mean
		s, c = neumaier(s, c, d*d)
	}
	return mean, math.Sqrt((s + c) / float64(len(v)))
}

// NormedWasserstein returns W1(ref, cur) divided by max(std, 0.001), where std
// is the reference's population standard deviation (Evidently's
// wasserstein_distance_norm).
func NormedWasserstein(ref, cur []float64, refStd float64) float64 {
	return Wasserstein(ref, cur) / math.Max(refStd, 0.001)
}
