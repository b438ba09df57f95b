package train

import (
	"fmt"
	"math"
	"slices"
	"time"

	"github.com/parquet-go/parquet-go"
	"github.com/parquet-go/parquet-go/deprecated"
	"github.com/parquet-go/parquet-go/format"
)

// pqConv says how the stored values of a Parquet column become driftd's.
type pqConv uint8

const (
	// convNumber: booleans (0/1), integers and floats as they are.
	convNumber pqConv = iota
	// convScaled: integers times mul over div (decimals, dates, times and
	// timestamps as numbers of seconds).
	convScaled
	// convDecimalBytes: big-endian two's complement decimals over div.
	convDecimalBytes
	// convInt96: legacy INT96 timestamps (Impala, Spark) as seconds.
	convInt96
	// convText: byte arrays as text.
	convText
	// convUUID: 16-byte UUIDs as their canonical text.
	convUUID
	// convIntText: integers as exact decimal text, for an ID or a column
	// forced categorical (a float64 would round integers past 2^53 and
	// print large ones in exponent form).
	convIntText
)

// pqSpec is how one top-level Parquet column is read.
type pqSpec struct {
	name     string
	kind     parquet.Kind
	conv     pqConv
	mul, div float64
	// unsigned marks INT32/INT64 columns of unsigned integers.
	unsigned bool
	// scale is a decimal column's (-1 for other columns).
	scale int32
	// maxDef is 1 for an optional column (definition level 0 = null), 0
	// for a required one.
	maxDef byte
}

// isStr reports whether the column is read as text.
func (s *pqSpec) isStr() bool {
	return s.conv == convText || s.conv == convUUID || s.conv == convIntText
}

// pqSpecs maps the file's top-level columns to specs: numbers (booleans,
// integers, floats, decimals), timestamps, dates and times as numbers of
// seconds (since the Unix epoch, or midnight for a time of day; a
// timestamp not adjusted to UTC is taken as UTC wall-clock time), strings,
// enums, JSON and other byte arrays as text, UUIDs as canonical text.
// Nested, repeated and interval columns are refused with an error naming
// the column.
func pqSpecs(name string, fields []parquet.Field, opts CSVOptions) ([]pqSpec, error) {
	specs := make([]pqSpec, len(fields))
	for i, fd := range fields {
		if !fd.Leaf() || fd.Repeated() {
			return nil, fmt.Errorf("%s: column %q is nested or repeated: only flat columns can be read", name, fd.Name())
		}
		typ := fd.Type()
		s := pqSpec{name: fd.Name(), kind: typ.Kind(), mul: 1, div: 1, scale: -1}
		if fd.Optional() {
			s.maxDef = 1
		}
		var lt format.LogicalTypeValue
		if l := typ.LogicalType(); l != nil {
			lt = l.Value
		}
		if ct := typ.ConvertedType(); ct != nil && *ct == deprecated.Interval {
			return nil, fmt.Errorf("%s: column %q has type INTERVAL, which driftd does not read", name, s.name)
		}
		switch s.kind {
		case parquet.Boolean, parquet.Float, parquet.Double:
		case parquet.Int96:
			s.conv = convInt96
		case parquet.Int32, parquet.Int64:
			switch t := lt.(type) {
			case *format.DecimalType:
				s.conv, s.div, s.scale = convScaled, decimalDiv(t.Scale), t.Scale
			case *format.DateType:
				s.conv, s.mul = convScaled, 86400
			case *format.TimestampType:
				s.conv, s.div = convScaled, unitsPerSecond(t.Unit)
			case *format.TimeType:
				s.conv, s.div = convScaled, unitsPerSecond(t.Unit)
			case *format.IntType:
				s.unsigned = !t.IsSigned
			}
			if s.conv == convNumber && (s.name == opts.ID || slices.Contains(opts.Categorical, s.name)) {
				s.conv = convIntText
			}
		case parquet.ByteArray, parquet.FixedLenByteArray:
			switch t := lt.(type) {
			case *format.DecimalType:
				s.conv, s.div, s.scale = convDecimalBytes, decimalDiv(t.Scale), t.Scale
			case *format.UUIDType:
				s.conv = convUUID
				if typ.Length() != 16 {
					return nil, fmt.Errorf("%s: column %q: a UUID of %d bytes", name, s.name, typ.Length())
				}
			default:
				s.conv = convText
			}
		default:
			return nil, fmt.Errorf("%s: column %q has type %s, which driftd does not read", name, s.name, s.kind)
		}
		if s.div == 0 {
			return nil, fmt.Errorf("%s: column %q has type %s, which driftd does not read", name, s.name, typ)
		}
		specs[i] = s
	}
	return specs, nil
}

// decimalDiv returns 10^n for a decimal scale (0 <= n <= 38 in valid files;
// anything else gives 0, which the caller refuses).
func decimalDiv(n int32) float64 {
	if n < 0 || n > 38 {
		return 0
	}
	return math.Pow10(int(n))
}

// unitsPerSecond returns how many of a time unit make a second (0 for an
// unknown unit, which the caller refuses).
func unitsPerSecond(u format.TimeUnit) float64 {
	if u.Value == nil || u.Value.Duration() <= 0 {
		return 0
	}
	return float64(time.Second / u.Value.Duration())
}
