package drift

import (
	"encoding/binary"
	"math"
)

// appendPCA writes the PCA (format version 4): the slots per feature, the
// centres and scales, K and the components, Explained and RefError, the
// fitted rows, and the bands (Mean, SD per band size).
func appendPCA(b []byte, c *PCA) []byte {
	b = binary.AppendUvarint(b, uint64(len(c.Slots)))
	for _, n := range c.Slots {
		b = binary.AppendUvarint(b, uint64(n))
	}
	b = appendFloats(b, c.Center)
	b = appendFloats(b, c.Scale)
	b = binary.AppendUvarint(b, uint64(c.K))
	b = appendFloats(b, c.Components)
	b = appendFloats(b, []float64{c.Explained, c.RefError})
	b = binary.AppendUvarint(b, uint64(c.FitRows))
	v := make([]float64, 0, 2*len(c.Bands))
	for _, band := range c.Bands {
		v = append(v, band.Mean, band.SD)
	}
	return appendFloats(b, v)
}

// pca decodes what appendPCA wrote and checks it against the profile's
// features, so that a monitor can encode records with it.
func (d *decoder) pca(p *Profile) {
	ns := d.uvarint("pca slots", uint64(len(d.b)-d.off))
	if d.err == nil && ns != uint64(len(p.Features)) {
		d.fail("pca: %d slot counts, want one per feature (%d)", ns, len(p.Features))
		return
	}
	c := &PCA{Slots: make([]int, 0, ns)}
	dims := 0
	for i := uint64(0); i < ns && d.err == nil; i++ {
		f := &p.Features[i]
		limit := uint64(1)
		if f.Categorical {
			limit = uint64(len(f.Categories)) + 1
		}
		n := int(d.uvarint("pca slots", limit))
		c.Slots = append(c.Slots, n)
		dims += n
	}
	c.Center = d.floats("pca centres")
	c.Scale = d.floats("pca scales")
	c.K = int(d.uvarint("pca components", pcaMaxDims))
	c.Components = d.floats("pca components")
	st := d.floats("pca errors")
	c.FitRows = int(d.uvarint("pca rows", math.MaxInt32*1024))
	bands := d.floats("pca bands")
	if d.err != nil {
		return
	}
	switch {
	case dims < 2 || dims > pcaMaxDims:
		d.fail("pca: %d dimensions, want 2 to %d", dims, pcaMaxDims)
	case len(c.Center) != dims || len(c.Scale) != dims:
		d.fail("pca: %d centres and %d scales, want %d", len(c.Center), len(c.Scale), dims)
	case c.K < 1 || c.K > dims || len(c.Components) != c.K*dims:
		d.fail("pca: %d components of %d values, want 1 to %d of %d", c.K, len(c.Components), dims, dims)
	case len(st) != 2:
		d.fail("pca: %d error stats, want 2", len(st))
	case c.FitRows < 1:
		d.fail("pca: no fitted rows")
	case len(bands) != 0 && len(bands) != 2*len(p.BandSizes):
		d.fail("pca: %d band values, want %d", len(bands), 2*len(p.BandSizes))
	case !allFinite(c.Center) || !allFinite(c.Components) || !allFinite(st) || !allFinite(bands):
		d.fail("pca: non-finite value")
	}
	if d.err != nil {
		return
	}
	for _, s := range c.Scale {
		if !(s > 0) || math.IsInf(s, 0) {
			d.fail("pca: scale %v is not a positive number", s)
			return
		}
	}
	c.Explained, c.RefError = st[0], st[1]
	if c.Explained < 0 || c.Explained > 1+1e-9 || c.RefError < 0 {
		d.fail("pca: explained share %v or reference error %v out of range", c.Explained, c.RefError)
		return
	}
	for j := 0; j < len(bands); j += 2 {
		if bands[j+1] < 0 {
			d.fail("pca: band %d has a negative SD", j/2)
			return
		}
		c.Bands = append(c.Bands, Band{bands[j], bands[j+1]})
	}
	p.PCA = c
}

// allFinite reports whether no value is NaN or infinite.
func allFinite(v []float64) bool {
	for _, x := range v {
		if math.IsNaN(x) || math.IsInf(x, 0) {
			return false
		}
	}
	return true
}
