package drift

import (
	"math"
)

// ksMaxExactN is scipy's MAX_AUTO_N: ks_2samp(method="auto") computes exact
// p-values when both samples have at most this many values.
const ksMaxExactN = 10000

// KSStatistic returns the two-sample Kolmogorov–Smirnov statistic D of two
// sorted samples (NaN-free): the largest absolute difference between their
// empirical distribution functions, evaluated as scipy's ks_2samp does.
func KSStatistic(a, b []float64) float64 {
	n1, n2 := len(a), len(b)
	if n1 == 0 || n2 == 0 {
		return math.NaN()
	}
	// Walk both sorted samples; at each distinct value take both ECDFs
	// after all ties (searchsorted side="right").
	i, j := 0, 0
	var maxS, minS float64
	for i < n1 || j < n2 {
		var x float64
		switch {
		case i >= n1:
			x = b[j]
		case j >= n2:
			x = a[i]
		default:
			x = a[i]
			if b[j] < x {
				x = b[j]
			}
		}
		for i < n1 && a[i] <= x {
			i++
		}
		for j < n2 && b[j] <= x {
			j++
		}
		d := float64(i)/float64(n1) - float64(j)/float64(n2)
		if d > maxS {
			maxS = d
		}
		if -d > minS {
			minS = -d
		}
	}
	return math.Max(maxS, minS)
}

// KSPValue returns the two-sided p-value of the two-sample KS statistic d for
// samples of sizes n1 and n2 as scipy.stats.ks_2samp(method="auto"): exact
// when both sizes are at most 10,000 (falling back to the asymptotic
// distribution when the exact computation fails), otherwise
// kstwo.sf(d, round(n1*n2/(n1+n2))).
func KSPValue(d float64, n1, n2 int) float64 {
	if n1 <= 0 || n2 <= 0 || math.IsNaN(d) {
		return math.NaN()
	}
	if max(n1, n2) <= ksMaxExactN {
		if p, ok := ksExact(n1, n2, d); ok {
			return clamp01(p)
		}
	}
	m, n := float64(max(n1, n2)), float64(min(n1, n2))
	en := math.RoundToEven(m * n / (m + n))
	return clamp01(kolmogorovSF(int(en), d))
}

func clamp01(p float64) float64 {
	if p < 0 {
		return 0
	}
	if p > 1 {
		return 1
	}
	return p
}

func gcd(a, b int) int {
	for b != 0 {
		a, b = b, a%b
	}
	return a
}

// ksExact ports scipy's _attempt_exact_2kssamp for the two-sided case.
func ksExact(n1, n2 int, d float64) (float64, bool) {
	g := gcd(n1, n2)
	lcm := (n1 / g) * n2
	h := int(math.RoundToEven(d * float64(lcm)))
	if h == 0 {
		return 1, true
	}
	var p float64
	if n1 == n2 {
		p = probOutsideSquare(n1, h)
	} else {
		p = outerProbInside(n1, n2, g, h)
	}
	if math.IsNaN(p) || math.IsInf(p, 0) || p < 0 || p > 1 {
		return p, false
	}
	return p, true
}

// probOutsideSquare ports scipy's _compute_prob_outside_square.
func probOutsideSquare(n, h int) float64 {
	P := 0.0
	k := n / h
	for ; k >= 0; k-- {
		p1 := 1.0
		for j := 0; j < h; j++ {
			p1 = float64(n-k*h-j) * p1 / float64(n+k*h+j+1)
		}
		P = p1 * (1 - P)
	}
	return 2 * P
}

// outerProbInside ports scipy's _compute_outer_prob_inside_method (the
// Viehmann 1-p recursion of Hodges' inside method).
func outerProbInside(m, n, g, h int) float64 {
	if m < n {
		m, n = n, m
	}
	mg, ng := m/g, n/g
	minj, maxj := 0, min(int(math.Ceil(float64(h)/float64(mg))), n+1)
	curlen := maxj - minj
	lenA := min(2*maxj+2, n+1)
	A := make([]float64, lenA)
	for i := range A {
		A[i] = 1
	}
	for i := minj; i < maxj; i++ {
		A[i] = 0
	}
	for i := 1; i <= m; i++ {
		lastminj, lastlen := minj, curlen
		minj = max(int(math.Floor(float64(ng*i-h)/float64(mg)))+1, 0)
		minj = min(minj, n)
		maxj = min(int(math.Ceil(float64(ng*i+h)/float64(mg))), n+1)
		if maxj <= minj {
			return 1
		}
		val := 1.0
		if minj == 0 {
			val = 0
		}
		for jj := 0; jj < maxj-minj; jj++ {
			j := jj + minj
			val = (A[jj+minj-lastminj]*float64(i) + val*float64(j)) / float64(i+j)
			A[jj] = val
		}
		curlen = maxj - minj
		if lastlen > curlen {
			for k := maxj - minj; k < maxj-minj+(lastlen-curlen) && k < len(A); k++ {
				A[k] = 1
			}
		}
	}
	return A[maxj-minj-1]
}

// kolmogorovSF ports scipy.stats._ksstats._kolmogn(n, x, cdf=False): the
// survival function of the one-sample two-sided KS statistic D_n.
func kolmogorovSF(n int, x float64) float64 {
	if n <= 0 {
		return math.NaN()
	}
	if x >= 1 {
		return 0
	}
	if x <= 0 {
		return 1
	}
	nf := float64(n)
	t := nf * x
	if t <= 1 {
		if t <= 0.5 {
			return 1
		}
		var prob float64
		if n <= 140 {
			prob = 1
			for i := 1; i <= n; i++ {
				prob *= float64(i) * (1 / nf) * (2*t - 1)
			}
		} else {
			prob = math.Exp(logNFactDivNPowN(nf) + nf*math.Log(2*t-1))
		}
		return clamp01(1 - prob)
	}
	if t >= nf-1 {
		return clamp01(2 * math.Pow(1-x, nf))
	}
	if x >= 0.5 {
		return clamp01(2 * smirnovSF(n, x))
	}
	nxsq := t * x
	if n <= 140 {
		if nxsq <= 4 {
			// scipy uses Durbin's matrix below 0.754693 and Pomeranz's
			// recursion up to 4; both are exact, Durbin's is used for both.
			return clamp01(1 - kolmogornDurbin(n, x))
		}
		return clamp01(2 * smirnovSF(n, x))
	}
	if nxsq >= 370 {
		return 0
	}
	if nxsq >= 2.2 {
		return clamp01(2 * smirnovSF(n, x))
	}
	var cdf float64
	switch {
	case nxsq >= 18:
		cdf = 1
	case n <= 100000 && nf*math.Pow(x, 1.5) <= 1.4:
		cdf = kolmogornDurbin(n, x)
	default:
		cdf = pelzGood(nf, x)
	}
	return clamp01(1 - cdf)
}

func logNFactDivNPowN(n float64) float64 {
	stirlingCoeffs := [...]float64{-2.955065359477124183e-2, 6.4102564102564102564e-3,
		-1.9175269175269175269e-3, 8.4175084175084175084e-4,
		-5.952380952380952381e-4, 7.9365079365079365079e-4,
		-2.7777777777777777778e-3, 8.3333333333333333333e-2}
	rn := 1 / n
	x := rn / n
	poly := 0.0
	for _, c := range stirlingCoeffs {
		poly = poly*x + c
	}
	return math.Log(n)/2 - n + math.Log(2*math.Pi)/2 + rn*poly
}

// smirnovSF is the one-sided Smirnov survival function P(D_n^+ >= x), by the
// exact Birnbaum–Tingey sum computed in log space.
func smirnovSF(n int, x float64) float64 {
	if x <= 0 {
		return 1
	}
	if x >= 1 {
		return 0
	}
	nf := float64(n)
	lgN, _ := math.Lgamma(nf + 1)
	jmax := int(math.Floor(nf * (1 - x)))
	sum := 0.0
	for j := 0; j <= jmax; j++ {
		jf := float64(j)
		a := 1 - x - jf/nf
		if a <= 0 {
			continue
		}
		lgJ, _ := math.Lgamma(jf + 1)
		lgNJ, _ := math.Lgamma(nf - jf + 1)
		l := lgN - lgJ - lgNJ + (nf-jf)*math.Log(a) + (jf-1)*math.Log(x+jf/nf)
		sum += math.Exp(l)
	}
	return x * sum
}

// kolmogornDurbin computes P(D_n <= d) with Durbin's matrix method
// (Marsaglia, Tsang, Wang 2003), as scipy's _kolmogn_DMTW.
func kolmogornDurbin(n int, d float64) float64 {
	if d >= 1 {
		return 1
	}
	nd := float64(n) * d
	if nd <= 0.5 {
		return 0
	}
	k := int(math.Ceil(nd))
	h := float64(k) - nd
	m := 2*k - 1
	H := make([]float64, m*m)
	v := make([]float64, m)
	w := make([]float64, m)
	fac := 1.0
	for j := 1; j <= m; j++ {
		w[j-1] = fac
		fac /= float64(j)
		v[j-1] = (1 - math.Pow(h, float64(j))) * fac
	}
	tt := math.Pow(math.Max(2*h-1, 0), float64(m)) - 2*math.Pow(h, float64(m))
	v[m-1] = (1 + tt) * fac
	for i := 1; i < m; i++ {
		for r := i - 1; r < m; r++ {
			H[r*m+i] = w[r-(i-1)]
		}
	}
	for r := 0; r < m; r++ {
		H[r*m] = v[r]
	}
	for c := 0; c < m; c++ {
		H[(m-1)*m+c] = v[m-1-c]
	}
	const e128 = 128
	ep128 := math.Ldexp(1, e128)
	em128 := math.Ldexp(1, -e128)
	P := make([]float64, m*m)
	for i := 0; i < m; i++ {
		P[i*m+i] = 1
	}
	tmp := make([]float64, m*m)
	mul := func(dst, a, b []float64) {
		for i := 0; i < m; i++ {
			for j := 0; j < m; j++ {
				s := 0.0
				for l := 0; l < m; l++ {
					s += a[i*m+l] * b[l*m+j]
				}
				dst[i*m+j] = s
			}
		}
	}
	expnt, hexpnt := 0, 0
	for nn := n; nn > 0; nn /= 2 {
		if nn%2 == 1 {
			mul(tmp, P, H)
			P, tmp = tmp, P
			expnt += hexpnt
		}
		mul(tmp, H, H)
		H, tmp = tmp, H
		hexpnt *= 2
		if math.Abs(H[(k-1)*m+k-1]) > ep128 {
			for i := range H {
				H[i] /= ep128
			}
			hexpnt += e128
		}
	}
	p := P[(k-1)*m+k-1]
	for i := 1; i <= n; i++ {
		p = float64(i) * p / float64(n)
		if math.Abs(p) < em128 {
			p *= ep128
			expnt -= e128
		}
	}
	if expnt != 0 {
		p = math.Ldexp(p, expnt)
	}
	return clamp01(p)
}

// pelzGood is scipy's _kolmogn_PelzGood approximation of P(D_n <= x).
func pelzGood(n, x float64) float64 {
	if x <= 0 {
		return 0
	}
	if x >= 1 {
		return 1
	}
	pi2 := math.Pi * math.Pi
	pi4 := pi2 * pi2
	pi6 := pi4 * pi2
	sqrt2pi := math.Sqrt(2 * math.Pi)
	z := math.Sqrt(n) * x
	z2, z3, z4, z6 := z*z, z*z*z, z*z*z*z, math.Pow(z, 6)
	qlog := -pi2 / 8 / z2
	if qlog < -708 {
		return 0
	}
	q := math.Exp(qlog)
	k1a, k1b := -z2, pi2/4
	k2a := 6*z6 + 2*z4
	k2b := (2*z4 - 5*z2) * pi2 / 4
	k2c := pi4 * (1 - 2*z2) / 16
	k3d := pi6 * (5 - 30*z2) / 64
	k3c := pi4 * (-60*z2 + 212*z4) / 16
	k3b := pi2 * (135*z4 - 96*z6) / 4
	k3a := -30*z6 - 90*math.Pow(z, 8)
	var K [4]float64
	maxk := int(math.Ceil(16 * z / math.Pi))
	for k := maxk; k > 0; k-- {
		m := float64(2*k - 1)
		m2, m4, m6 := m*m, m*m*m*m, math.Pow(m, 6)
		qp := math.Pow(q, float64(8*k))
		c := [4]float64{1, k1a + k1b*m2, k2a + k2b*m2 + k2c*m4, k3a + k3b*m2 + k3c*m4 + k3d*m6}
		for i := range K {
			K[i] = K[i]*qp + c[i]
		}
	}
	div := [4]float64{z, 6 * z4, 72 * math.Pow(z, 7), 6480 * math.Pow(z, 10)}
	for i := range K {
		K[i] = K[i] * q * sqrt2pi / div[i]
	}
	q = math.Exp(-pi2 / 2 / z2)
	sqrt3z := math.Sqrt(3) * z
	var k2extra, k3extra float64
	for k := maxk; k > 0; k-- {
		ks := float64(k)
		ksq := ks * ks
		qp := math.Pow(q, ksq)
		k2extra += ksq * qp
		kspi := math.Pi * ks
		k3extra += (sqrt3z + kspi) * (sqrt3z - kspi) * ksq * qp
	}
	K[2] += k2extra * pi2 * sqrt2pi / (-36 * z3)
	K[3] += k3extra * pi2 * sqrt2pi / (216 * z6)
	sum := 0.0
	for i := range K {
		sum += K[i] / math.Pow(n, float64(i)/2)
	}
	return sum
}
