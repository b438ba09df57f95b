package drift

import (
	"bytes"
	"encoding/binary"
	"errors"
	"fmt"
	"hash/crc32"
	"maps"
	"math"
	"slices"
)

// Profile encoding: the magic "DRFP", a format version byte, then uvarints,
// little-endian float64s and length-prefixed strings (see MarshalBinary).
// Version 2 appends the alert bands; a profile without bands is written as
// version 1, byte for byte as before. Version 3 appends the bands (possibly
// none) and then the score calibrator; it is written only for profiles with
// a calibrator, so a profile without one is encoded as before. Version 4
// appends the bands (possibly none), a byte saying whether a calibrator
// follows, the calibrator if so, and then the PCA of multivariate drift; it
// is written only for profiles with a PCA, so a profile without one is
// encoded as before. Version 5 appends the bands, a calibrator flag and
// calibrator, a PCA flag and PCA, a multiclass flag and the multiclass
// calibration, and a loss flag and the DLE loss reference; it is written
// only for profiles with a multiclass calibration or a loss reference. All
// five versions decode.
const (
	profileMagic     = "DRFP"
	profileVersion   = 1
	profileVersionV2 = 2
	profileVersionV3 = 3
	profileVersionV4 = 4
	profileVersionV5 = 5
)

// ErrCorruptProfile is wrapped by every DecodeProfile error.
var ErrCorruptProfile = errors.New("corrupt drift profile")

// MarshalBinary encodes the profile compactly: magic, version, options,
// each feature, the optional prediction feature, and a CRC-32 (IEEE) of
// everything before it.
func (p *Profile) MarshalBinary() ([]byte, error) {
	b := make([]byte, 0, 256)
	b = append(b, profileMagic...)
	v5 := p.Multiclass != nil || p.Loss != nil
	switch {
	case v5:
		b = append(b, profileVersionV5)
	case p.PCA != nil:
		b = append(b, profileVersionV4)
	case p.Calibration != nil:
		b = append(b, profileVersionV3)
	case p.HasBands():
		b = append(b, profileVersionV2)
	default:
		b = append(b, profileVersion)
	}
	b = binary.AppendUvarint(b, uint64(p.Bins))
	b = appendString(b, p.Binning)
	b = binary.AppendUvarint(b, uint64(p.MaxCategories))
	b = binary.AppendUvarint(b, uint64(p.SummarySize))
	b = binary.AppendUvarint(b, uint64(p.Rows))
	b = binary.AppendUvarint(b, uint64(len(p.Features)))
	for i := range p.Features {
		b = appendFeature(b, &p.Features[i])
	}
	if p.Prediction != nil {
		b = append(b, 1)
		b = appendFeature(b, p.Prediction)
	} else {
		b = append(b, 0)
	}
	if p.HasBands() || p.Calibration != nil || p.PCA != nil || v5 {
		b = appendBands(b, p)
	}
	c := p.Calibration
	if v5 {
		b = appendFlag(b, c != nil)
		if c != nil {
			b = appendCalibration(b, c)
		}
		b = appendFlag(b, p.PCA != nil)
		if p.PCA != nil {
			b = appendPCA(b, p.PCA)
		}
		b = appendFlag(b, p.Multiclass != nil)
		if p.Multiclass != nil {
			b = appendMulticlass(b, p.Multiclass)
		}
		b = appendFlag(b, p.Loss != nil)
		if p.Loss != nil {
			b = appendLoss(b, p.Loss)
		}
		return binary.LittleEndian.AppendUint32(b, crc32.ChecksumIEEE(b)), nil
	}
	if p.PCA != nil {
		if c != nil {
			b = append(b, 1)
		} else {
			b = append(b, 0)
		}
	}
	if c != nil {
		b = appendCalibration(b, c)
	}
	if p.PCA != nil {
		b = appendPCA(b, p.PCA)
	}
	return binary.LittleEndian.AppendUint32(b, crc32.ChecksumIEEE(b)), nil
}

// appendBands writes the band sizes, then per feature the number of banded
// tests and, by test name, the name and Mean, SD per size.
func appendBands(b []byte, p *Profile) []byte {
	b = binary.AppendUvarint(b, uint64(len(p.BandSizes)))
	for _, s := range p.BandSizes {
		b = binary.AppendUvarint(b, uint64(s))
	}
	for i := range p.Features {
		f := &p.Features[i]
		names := slices.Sorted(maps.Keys(f.Bands))
		b = binary.AppendUvarint(b, uint64(len(names)))
		for _, t := range names {
			b = appendString(b, t)
			v := make([]float64, 0, 2*len(f.Bands[t]))
			for _, band := range f.Bands[t] {
				v = append(v, band.Mean, band.SD)
			}
			b = appendFloats(b, v)
		}
	}
	return b
}

// bands decodes what appendBands wrote.
func (d *decoder) bands(p *Profile) {
	ns := d.uvarint("band sizes", 64)
	for i := uint64(0); i < ns && d.err == nil; i++ {
		s := int(d.uvarint("band size", math.MaxInt32))
		if len(p.BandSizes) > 0 && s <= p.BandSizes[len(p.BandSizes)-1] || s < 1 {
			d.fail("band sizes not ascending")
		}
		p.BandSizes = append(p.BandSizes, s)
	}
	for i := range p.Features {
		f := &p.Features[i]
		nt := d.uvarint("banded tests", 64)
		for k := uint64(0); k < nt && d.err == nil; k++ {
			t := d.str("band test")
			v := d.floats("bands")
			if d.err != nil {
				return
			}
			if len(v) != 2*len(p.BandSizes) || !ValidTest(t) || t == TestAuto || t == "" {
				d.fail("feature %q: band %q has %d values, want %d", f.Name, t, len(v), 2*len(p.BandSizes))
				return
			}
			if f.Bands == nil {
				f.Bands = make(map[string][]Band, nt)
			}
			bs := make([]Band, len(p.BandSizes))
			for j := range bs {
				bs[j] = Band{v[2*j], v[2*j+1]}
			}
			f.Bands[t] = bs
		}
	}
}

// appendFlag writes 1 for true, 0 for false.
func appendFlag(b []byte, on bool) []byte {
	if on {
		return append(b, 1)
	}
	return append(b, 0)
}

// flag reads what appendFlag wrote.
func (d *decoder) flag(what string) bool {
	switch d.byte1(what) {
	case 0:
		return false
	case 1:
		return true
	}
	d.fail("%s not 0 or 1", what)
	return false
}

func appendString(b []byte, s string) []byte {
	b = binary.AppendUvarint(b, uint64(len(s)))
	return append(b, s...)
}

func appendFloats(b []byte, v []float64) []byte {
	b = binary.AppendUvarint(b, uint64(len(v)))
	for _, x := range v {
		b = binary.LittleEndian.AppendUint64(b, math.Float64bits(x))
	}
	return b
}

func appendFeature(b []byte, f *Feature) []byte {
	b = appendString(b, f.Name)
	if f.Categorical {
		b = append(b, 1)
	} else {
		b = append(b, 0)
	}
	b = appendFloats(b, f.Edges)
	b = binary.AppendUvarint(b, uint64(len(f.Categories)))
	for _, c := range f.Categories {
		b = appendString(b, c)
	}
	b = binary.AppendUvarint(b, uint64(len(f.RefCounts)))
	for _, c := range f.RefCounts {
		b = binary.AppendUvarint(b, uint64(c))
	}
	b = binary.AppendUvarint(b, uint64(f.Count))
	b = binary.AppendUvarint(b, uint64(f.Missing))
	b = appendFloats(b, []float64{f.Mean, f.Std, f.Min, f.Max, f.KSError, f.W1Error})
	b = binary.AppendUvarint(b, uint64(f.Unique))
	return appendFloats(b, f.Summary)
}

type decoder struct {
	b   []byte
	off int
	err error
}

func (d *decoder) fail(format string, args ...any) {
	if d.err == nil {
		d.err = fmt.Errorf("%w: offset %d: %s", ErrCorruptProfile, d.off, fmt.Sprintf(format, args...))
	}
}

func (d *decoder) uvarint(what string, limit uint64) uint64 {
	if d.err != nil {
		return 0
	}
	v, n := binary.Uvarint(d.b[d.off:])
	if n <= 0 {
		d.fail("%s: bad varint", what)
		return 0
	}
	if v > limit {
		d.fail("%s: %d exceeds %d", what, v, limit)
		return 0
	}
	d.off += n
	return v
}

func (d *decoder) byte1(what string) byte {
	if d.err != nil {
		return 0
	}
	if d.off >= len(d.b) {
		d.fail("%s: truncated", what)
		return 0
	}
	d.off++
	return d.b[d.off-1]
}

func (d *decoder) str(what string) string {
	n := d.uvarint(what, math.MaxInt32)
	if d.err == nil && n > uint64(len(d.b)-d.off) {
		d.fail("%s: length %d exceeds the %d bytes left", what, n, len(d.b)-d.off)
	}
	if d.err != nil {
		return ""
	}
	s := string(d.b[d.off : d.off+int(n)])
	d.off += int(n)
	return s
}

func (d *decoder) floats(what string) []float64 {
	n := d.uvarint(what, math.MaxInt32)
	if d.err == nil && n > uint64(len(d.b)-d.off)/8 {
		d.fail("%s: %d values exceed the %d bytes left", what, n, len(d.b)-d.off)
	}
	if d.err != nil || n == 0 {
		return nil
	}
	v := make([]float64, n)
	for i := range v {
		v[i] = math.Float64frombits(binary.LittleEndian.Uint64(d.b[d.off:]))
		d.off += 8
	}
	return v
}

// DecodeProfile decodes a profile written by MarshalBinary; truncated,
// corrupt or foreign input gives an error wrapping ErrCorruptProfile.
func DecodeProfile(b []byte) (*Profile, error) {
	if len(b) < len(profileMagic)+1 || string(b[:len(profileMagic)]) != profileMagic {
		return nil, fmt.Errorf("%w: not a drift profile (bad magic)", ErrCorruptProfile)
	}
	v := b[len(profileMagic)]
	if v < profileVersion || v > profileVersionV5 {
		return nil, fmt.Errorf("%w: unsupported version %d (want %d to %d)", ErrCorruptProfile, v, profileVersion, profileVersionV5)
	}
	if len(b) < len(profileMagic)+1+4 {
		return nil, fmt.Errorf("%w: truncated", ErrCorruptProfile)
	}
	body := b[:len(b)-4]
	if crc32.ChecksumIEEE(body) != binary.LittleEndian.Uint32(b[len(b)-4:]) {
		return nil, fmt.Errorf("%w: checksum mismatch (truncated or altered)", ErrCorruptProfile)
	}
	return decodeBody(body, v)
}

// decodeBody decodes a checksum-verified profile of format version v
// without its checksum.
func decodeBody(b []byte, version byte) (*Profile, error) {
	d := &decoder{b: b, off: len(profileMagic) + 1}
	p := &Profile{}
	p.Bins = int(d.uvarint("bins", 1000))
	p.Binning = d.str("binning")
	p.MaxCategories = int(d.uvarint("max categories", 10000))
	p.SummarySize = int(d.uvarint("summary size", 1<<20))
	p.Rows = int(d.uvarint("rows", math.MaxInt32*1024))
	nf := d.uvarint("features", uint64(len(b)))
	for i := uint64(0); i < nf && d.err == nil; i++ {
		p.Features = append(p.Features, d.feature(p))
	}
	switch d.byte1("prediction flag") {
	case 0:
	case 1:
		if d.err == nil {
			f := d.feature(p)
			p.Prediction = &f
		}
	default:
		d.fail("prediction flag not 0 or 1")
	}
	if version >= profileVersionV2 && d.err == nil {
		d.bands(p)
	}
	switch {
	case d.err != nil:
	case version == profileVersionV3:
		d.canonicalCalibration(p)
	case version == profileVersionV4:
		switch d.byte1("calibration flag") {
		case 0:
		case 1:
			d.canonicalCalibration(p)
		default:
			d.fail("calibration flag not 0 or 1")
		}
		if d.err == nil {
			d.pca(p)
		}
	case version == profileVersionV5:
		if d.flag("calibration flag") && d.err == nil {
			d.canonicalCalibration(p)
		}
		if d.flag("pca flag") && d.err == nil {
			d.pca(p)
		}
		if d.flag("multiclass flag") && d.err == nil {
			d.multiclass(p)
		}
		if d.flag("loss flag") && d.err == nil {
			d.loss(p)
		}
		if d.err == nil && p.Multiclass == nil && p.Loss == nil {
			d.fail("version 5 without a multiclass calibration or a loss reference")
		}
	}
	if d.err == nil && d.off != len(b) {
		d.fail("%d trailing bytes", len(b)-d.off)
	}
	if d.err != nil {
		return nil, d.err
	}
	if p.Binning != BinningQuantile && p.Binning != BinningUniform {
		return nil, fmt.Errorf("%w: binning %q", ErrCorruptProfile, p.Binning)
	}
	if len(p.Features) == 0 {
		return nil, fmt.Errorf("%w: no features", ErrCorruptProfile)
	}
	return p, nil
}

// canonicalCalibration decodes the calibrator and refuses an encoding
// that would not be written back byte for byte (such as a row count that
// is not a whole number), so that what decodes re-encodes identically.
func (d *decoder) canonicalCalibration(p *Profile) {
	start := d.off
	d.calibration(p)
	if d.err == nil && !bytes.Equal(appendCalibration(nil, p.Calibration), d.b[start:d.off]) {
		d.fail("calibration not in canonical form")
	}
}

func (d *decoder) feature(p *Profile) Feature {
	var f Feature
	f.Name = d.str("feature name")
	switch d.byte1("feature kind") {
	case 0:
	case 1:
		f.Categorical = true
	default:
		d.fail("feature %q: kind not 0 or 1", f.Name)
	}
	f.Edges = d.floats("edges")
	nc := d.uvarint("categories", uint64(len(d.b)-d.off))
	for i := uint64(0); i < nc && d.err == nil; i++ {
		f.Categories = append(f.Categories, d.str("category"))
	}
	nb := d.uvarint("bins", uint64(len(d.b)-d.off))
	for i := uint64(0); i < nb && d.err == nil; i++ {
		f.RefCounts = append(f.RefCounts, int64(d.uvarint("count", math.MaxInt64)))
	}
	f.Count = int64(d.uvarint("count", math.MaxInt64))
	f.Missing = int64(d.uvarint("missing", math.MaxInt64))
	st := d.floats("stats")
	f.Unique = int(d.uvarint("unique", 1<<40))
	f.Summary = d.floats("summary")
	if d.err != nil {
		return f
	}
	if len(st) != 6 {
		d.fail("feature %q: %d stats, want 6", f.Name, len(st))
		return f
	}
	f.Mean, f.Std, f.Min, f.Max, f.KSError, f.W1Error = st[0], st[1], st[2], st[3], st[4], st[5]
	want := len(f.Edges) + 2
	if f.Categorical {
		want = len(f.Categories) + 2
		if len(f.Edges) != 0 {
			d.fail("feature %q: categorical with edges", f.Name)
		}
	} else if len(f.Categories) != 0 {
		d.fail("feature %q: numeric with categories", f.Name)
	}
	if len(f.RefCounts) != want {
		d.fail("feature %q: %d bin counts, want %d", f.Name, len(f.RefCounts), want)
	}
	if !slices.IsSorted(f.Edges) || slices.ContainsFunc(f.Edges, math.IsNaN) {
		d.fail("feature %q: edges not ascending", f.Name)
	}
	if !slices.IsSorted(f.Summary) || slices.ContainsFunc(f.Summary, math.IsNaN) {
		d.fail("feature %q: summary not ascending", f.Name)
	}
	if len(f.Edges)+2 > math.MaxUint16 || len(f.Categories)+2+p.MaxCategories > math.MaxUint16 {
		d.fail("feature %q: too many bins", f.Name)
	}
	var sum int64
	for _, c := range f.RefCounts {
		if c < 0 || sum+c < sum {
			d.fail("feature %q: bad counts", f.Name)
			break
		}
		sum += c
	}
	if d.err == nil && (sum != f.Count || f.Missing != f.RefCounts[0]) {
		d.fail("feature %q: counts sum to %d, want %d", f.Name, sum, f.Count)
	}
	seen := make(map[string]bool, len(f.Categories))
	for _, c := range f.Categories {
		if seen[c] || c == "" {
			d.fail("feature %q: duplicate or empty category %q", f.Name, c)
			break
		}
		seen[c] = true
	}
	f.buildIndex()
	return f
}
