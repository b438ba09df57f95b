package train

import (
	"encoding/binary"
	"encoding/json"
	"errors"
	"fmt"
	"hash/crc32"
	"math"
)

// Model file layout: "DRIFTDMD", uint16 format version (little endian), the
// body (uvarint lengths, little-endian float64 bits), then a CRC32 (IEEE) of
// everything before it.
const (
	modelMagic   = "DRIFTDMD"
	modelVersion = 1
)

// ErrModelFormat is wrapped by every Decode error.
var ErrModelFormat = errors.New("not a valid driftd model")

type encoder struct{ b []byte }

func (e *encoder) uv(v uint64)    { e.b = binary.AppendUvarint(e.b, v) }
func (e *encoder) iv(v int64)     { e.b = binary.AppendVarint(e.b, v) }
func (e *encoder) f(v float64)    { e.b = binary.LittleEndian.AppendUint64(e.b, math.Float64bits(v)) }
func (e *encoder) bytes(p []byte) { e.uv(uint64(len(p))); e.b = append(e.b, p...) }
func (e *encoder) str(s string)   { e.uv(uint64(len(s))); e.b = append(e.b, s...) }
func (e *encoder) fs(v []float64) {
	e.uv(uint64(len(v)))
	for _, x := range v {
		e.f(x)
	}
}

// MarshalBinary encodes the model in the versioned driftd model format.
func (m *Model) MarshalBinary() ([]byte, error) {
	e := &encoder{b: make([]byte, 0, 64+len(m.nodes)*30)}
	e.b = append(e.b, modelMagic...)
	e.b = binary.LittleEndian.AppendUint16(e.b, modelVersion)
	e.str(m.algo)
	e.str(m.objective)
	e.uv(uint64(len(m.features)))
	for _, f := range m.features {
		e.str(f.Name)
		e.uv(uint64(f.Kind))
		e.uv(uint64(len(f.Levels)))
		for _, l := range f.Levels {
			e.str(l)
		}
	}
	e.uv(uint64(len(m.classes)))
	for _, c := range m.classes {
		e.str(c)
	}
	pj, err := json.Marshal(m.params)
	if err != nil {
		return nil, fmt.Errorf("encode model params: %w", err)
	}
	e.bytes(pj)
	e.uv(uint64(len(m.metrics)))
	for _, k := range sortedKeys(m.metrics) {
		e.str(k)
		e.f(m.metrics[k])
	}
	e.uv(uint64(len(m.attach)))
	for _, k := range sortedKeys(m.attach) {
		e.str(k)
		e.bytes(m.attach[k])
	}
	if m.lin != nil {
		l := m.lin
		e.uv(1)
		e.uv(uint64(l.Classes))
		e.uv(uint64(len(l.Expand)))
		for _, in := range l.Expand {
			e.uv(uint64(in.Feature))
			e.iv(int64(in.Level))
		}
		for k := 0; k < l.Classes; k++ {
			e.fs(l.Coef[k])
		}
		e.fs(l.Intercept)
		e.fs(l.Mean)
		e.fs(l.Scale)
	} else {
		e.uv(0)
		e.uv(uint64(m.groups))
		e.fs(m.base)
		e.uv(uint64(len(m.roots)))
		for _, r := range m.roots {
			e.uv(uint64(r))
		}
		e.uv(uint64(len(m.nodes)))
		for _, n := range m.nodes {
			e.iv(int64(n.feature))
			if n.feature < 0 {
				e.f(n.value)
				continue
			}
			e.uv(uint64(n.left))
			e.uv(uint64(n.catOff))
			e.uv(uint64(n.catWords))
			e.f(n.threshold)
			if n.defLeft {
				e.uv(1)
			} else {
				e.uv(0)
			}
		}
		e.uv(uint64(len(m.catBits)))
		for _, w := range m.catBits {
			e.b = binary.LittleEndian.AppendUint64(e.b, w)
		}
		e.fs(m.gain)
		e.fs(m.splitsCnt)
	}
	e.b = binary.LittleEndian.AppendUint32(e.b, crc32.ChecksumIEEE(e.b))
	return e.b, nil
}

// decoder reads the body with a sticky error and bounds checks.
type decoder struct {
	b   []byte
	off int
	err error
}

func (d *decoder) fail(format string, args ...any) {
	if d.err == nil {
		d.err = fmt.Errorf("%w: %s (at byte %d)", ErrModelFormat, fmt.Sprintf(format, args...), d.off)
	}
}

func (d *decoder) uv() uint64 {
	if d.err != nil {
		return 0
	}
	v, n := binary.Uvarint(d.b[d.off:])
	if n <= 0 {
		d.fail("bad varint")
		return 0
	}
	d.off += n
	return v
}

func (d *decoder) iv() int64 {
	if d.err != nil {
		return 0
	}
	v, n := binary.Varint(d.b[d.off:])
	if n <= 0 {
		d.fail("bad varint")
		return 0
	}
	d.off += n
	return v
}

// count reads a length that must fit in the remaining bytes at minSize each.
func (d *decoder) count(minSize int) int {
	v := d.uv()
	if d.err == nil && v > uint64((len(d.b)-d.off)/minSize) {
		d.fail("length %d exceeds the data", v)
		return 0
	}
	return int(v)
}

func (d *decoder) raw(n int) []byte {
	if d.err != nil {
		return nil
	}
	if n > len(d.b)-d.off {
		d.fail("truncated")
		return nil
	}
	p := d.b[d.off : d.off+n]
	d.off += n
	return p
}

func (d *decoder) bytes() []byte { return append([]byte(nil), d.raw(d.count(1))...) }
func (d *decoder) str() string   { return string(d.raw(d.count(1))) }

func (d *decoder) f() float64 {
	p := d.raw(8)
	if p == nil {
		return 0
	}
	return math.Float64frombits(binary.LittleEndian.Uint64(p))
}

func (d *decoder) fs() []float64 {
	n := d.count(8)
	v := make([]float64, n)
	for i := range v {
		v[i] = d.f()
	}
	return v
}

// Decode parses a model written by MarshalBinary. Truncated, corrupted or
// foreign input is an error wrapping ErrModelFormat.
func Decode(b []byte) (*Model, error) {
	if len(b) < len(modelMagic)+2+4 || string(b[:len(modelMagic)]) != modelMagic {
		return nil, fmt.Errorf("%w: missing %q header", ErrModelFormat, modelMagic)
	}
	if v := binary.LittleEndian.Uint16(b[8:]); v != modelVersion {
		return nil, fmt.Errorf("%w: format version %d, this build reads %d", ErrModelFormat, v, modelVersion)
	}
	body := b[:len(b)-4]
	if crc32.ChecksumIEEE(body) != binary.LittleEndian.Uint32(b[len(b)-4:]) {
		return nil, fmt.Errorf("%w: checksum mismatch (file truncated or corrupted)", ErrModelFormat)
	}
	d := &decoder{b: body, off: len(modelMagic) + 2}
	m := &Model{}
	m.algo, m.objective = d.str(), d.str()
	nf := d.count(3)
	m.features = make([]FeatureSpec, nf)
	for i := range m.features {
		f := &m.features[i]
		f.Name = d.str()
		f.Kind = ColumnKind(d.uv())
		if f.Kind != Numeric && f.Kind != Categorical {
			d.fail("feature %d: bad kind", i)
		}
		if nl := d.count(1); f.Kind == Categorical {
			f.Levels = make([]string, nl)
			for j := range f.Levels {
				f.Levels[j] = d.str()
			}
		} else if nl != 0 {
			d.fail("numeric feature %d has levels", i)
		}
	}
	if nc := d.count(1); nc > 0 {
		m.classes = make([]string, nc)
		for i := range m.classes {
			m.classes[i] = d.str()
		}
	}
	if pj := d.bytes(); d.err == nil {
		if err := json.Unmarshal(pj, &m.params); err != nil {
			d.fail("params: %v", err)
		}
	}
	m.metrics = map[string]float64{}
	for i, n := 0, d.count(9); i < n; i++ {
		k := d.str()
		m.metrics[k] = d.f()
	}
	m.attach = map[string][]byte{}
	for i, n := 0, d.count(2); i < n; i++ {
		k := d.str()
		m.attach[k] = d.bytes()
	}
	if d.uv() == 1 {
		decodeLinear(d, m)
	} else {
		decodeTrees(d, m)
	}
	if d.err == nil && d.off != len(body) {
		d.fail("%d trailing bytes", len(body)-d.off)
	}
	if d.err == nil {
		validateHeader(d, m)
	}
	if d.err != nil {
		return nil, d.err
	}
	m.buildIndex()
	m.compile()
	return m, nil
}

func validateHeader(d *decoder, m *Model) {
	switch m.objective {
	case "binary":
		if len(m.classes) != 2 {
			d.fail("binary model with %d classes", len(m.classes))
		}
	case "multiclass":
		if len(m.classes) < 3 || m.outputs() != len(m.classes) {
			d.fail("multiclass model with %d classes and %d outputs", len(m.classes), m.outputs())
		}
	case "regression":
	default:
		d.fail("unknown objective %q", m.objective)
	}
	if m.objective != "multiclass" && m.outputs() != 1 {
		d.fail("%s model with %d outputs", m.objective, m.outputs())
	}
	if m.algo != "gbdt" && m.algo != "logistic" {
		d.fail("unknown algo %q", m.algo)
	}
}

func decodeLinear(d *decoder, m *Model) {
	l := &Linear{}
	l.Classes = d.count(8)
	ne := d.count(2)
	l.Expand = make([]LinearInput, ne)
	for i := range l.Expand {
		f, lv := d.uv(), d.iv()
		if f >= uint64(len(m.features)) || lv < -1 || lv > math.MaxInt32 {
			d.fail("linear input %d: bad feature or level", i)
		}
		l.Expand[i] = LinearInput{Feature: int(f), Level: int32(lv)}
	}
	l.Coef = make([][]float64, l.Classes)
	for k := range l.Coef {
		if l.Coef[k] = d.fs(); len(l.Coef[k]) != ne {
			d.fail("linear coefficients: bad length")
		}
	}
	l.Intercept, l.Mean, l.Scale = d.fs(), d.fs(), d.fs()
	if len(l.Intercept) != l.Classes || len(l.Mean) != ne || len(l.Scale) != ne || l.Classes < 1 {
		d.fail("linear model: inconsistent lengths")
	}
	m.lin = l
}

func decodeTrees(d *decoder, m *Model) {
	nf := len(m.features)
	m.groups = d.count(1)
	if m.base = d.fs(); len(m.base) != m.groups || m.groups < 1 {
		d.fail("bad output groups")
	}
	nr := d.count(1)
	m.roots = make([]int32, nr)
	for i := range m.roots {
		m.roots[i] = int32(d.uv())
	}
	nn := d.count(9)
	m.nodes = make([]node, nn)
	for i := range m.nodes {
		n := &m.nodes[i]
		fe := d.iv()
		if fe < -1 || fe >= int64(nf) {
			d.fail("node %d: feature %d out of range", i, fe)
			return
		}
		n.feature = int32(fe)
		if fe < 0 {
			n.value = d.f()
			continue
		}
		left, off, words := d.uv(), d.uv(), d.uv()
		n.threshold = d.f()
		if math.IsNaN(n.threshold) && words == 0 {
			// a numeric split on NaN sends rows nowhere consistent;
			// training and the importers never write one
			d.fail("node %d: NaN threshold", i)
			return
		}
		n.defLeft = d.uv() == 1
		// children come after their parent, so walks always terminate
		if left <= uint64(i) || left+1 >= uint64(nn) {
			d.fail("node %d: child %d out of range", i, left)
			return
		}
		n.left, n.catOff, n.catWords = int32(left), int32(off), int32(words)
		if off > math.MaxInt32 || words > math.MaxInt32 {
			d.fail("node %d: bad category bitset", i)
		}
	}
	nc := d.count(8)
	m.catBits = make([]uint64, nc)
	for i := range m.catBits {
		if p := d.raw(8); p != nil {
			m.catBits[i] = binary.LittleEndian.Uint64(p)
		}
	}
	for i := range m.nodes {
		n := &m.nodes[i]
		if n.feature >= 0 && n.catWords > 0 && int(n.catOff)+int(n.catWords) > nc {
			d.fail("node %d: category bitset out of range", i)
		}
	}
	for i, r := range m.roots {
		if r < 0 || int(r) >= nn {
			d.fail("tree %d: root out of range", i)
		}
	}
	m.gain, m.splitsCnt = d.fs(), d.fs()
	if len(m.gain) != nf || len(m.splitsCnt) != nf {
		d.fail("importance: bad length")
	}
}
