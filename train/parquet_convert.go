package train

import (
	"encoding/binary"
	"encoding/hex"
	"fmt"
	"math"
	"math/big"
	"strconv"

	"github.com/parquet-go/parquet-go"
	"github.com/parquet-go/parquet-go/deprecated"
	"github.com/parquet-go/parquet-go/encoding"
)

// Conversions of Parquet values to driftd's numbers and text.

// encodingKind returns the kind of encoding.Values that holds values of a
// physical type.
func encodingKind(k parquet.Kind) encoding.Kind {
	switch k {
	case parquet.Boolean:
		return encoding.Boolean
	case parquet.Int32:
		return encoding.Int32
	case parquet.Int64:
		return encoding.Int64
	case parquet.Int96:
		return encoding.Int96
	case parquet.Float:
		return encoding.Float
	case parquet.Double:
		return encoding.Double
	case parquet.ByteArray:
		return encoding.ByteArray
	case parquet.FixedLenByteArray:
		return encoding.FixedLenByteArray
	}
	return encoding.Undefined
}

// int64Number converts an integer (v signed, u the same bits unsigned).
func (s *pqSpec) int64Number(v int64, u uint64) float64 {
	switch {
	case s.scale >= 0 && (v > 1<<53 || v < -1<<53):
		return exactDecimal(big.NewInt(v), s)
	case s.conv == convScaled || s.conv == convDecimalBytes:
		return float64(v) * s.mul / s.div
	case s.unsigned:
		return float64(u)
	}
	return float64(v)
}

// intText formats an integer exactly, unsigned for an unsigned column.
func intText(v int64, u uint64, s *pqSpec) string {
	if s.unsigned {
		return strconv.FormatUint(u, 10)
	}
	return strconv.FormatInt(v, 10)
}

// valueNumber converts one value of a numeric column; null is NaN.
func valueNumber(v parquet.Value, s *pqSpec) (float64, error) {
	if v.IsNull() {
		return math.NaN(), nil
	}
	switch v.Kind() {
	case parquet.Boolean:
		if v.Boolean() {
			return 1, nil
		}
		return 0, nil
	case parquet.Int32:
		return s.int64Number(int64(v.Int32()), uint64(v.Uint32())), nil
	case parquet.Int64:
		return s.int64Number(v.Int64(), v.Uint64()), nil
	case parquet.Int96:
		return int96Seconds(v.Int96()), nil
	case parquet.Float:
		return float64(v.Float()), nil
	case parquet.Double:
		return v.Double(), nil
	case parquet.ByteArray, parquet.FixedLenByteArray:
		if s.conv == convDecimalBytes {
			return decimalBytes(v.ByteArray(), s), nil
		}
	}
	return 0, fmt.Errorf("a %s value in a numeric column", v.Kind())
}

// valueText converts one non-null value of a text column.
func valueText(v parquet.Value, s *pqSpec) (string, error) {
	switch v.Kind() {
	case parquet.Int32:
		return intText(int64(v.Int32()), uint64(v.Uint32()), s), nil
	case parquet.Int64:
		return intText(v.Int64(), v.Uint64(), s), nil
	case parquet.ByteArray, parquet.FixedLenByteArray:
		if s.conv == convUUID {
			return uuidText(v.ByteArray()), nil
		}
		return string(v.ByteArray()), nil
	}
	return "", fmt.Errorf("a %s value in a text column", v.Kind())
}

// julianUnixEpoch is the Julian day number of 1970-01-01.
const julianUnixEpoch = 2440588

// int96Seconds converts a legacy INT96 timestamp (nanoseconds of the day,
// then the Julian day) to seconds since the Unix epoch.
func int96Seconds(x deprecated.Int96) float64 {
	nanos := uint64(x[1])<<32 | uint64(x[0])
	return float64(int64(x[2])-julianUnixEpoch)*86400 + float64(nanos)/1e9
}

// decimalBytes reads a decimal stored as a big-endian two's complement
// unscaled integer.
func decimalBytes(b []byte, s *pqSpec) float64 {
	if len(b) == 0 {
		return 0
	}
	if len(b) <= 8 {
		var buf [8]byte
		if b[0]&0x80 != 0 {
			buf = [8]byte{0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff}
		}
		copy(buf[8-len(b):], b)
		return s.int64Number(int64(binary.BigEndian.Uint64(buf[:])), 0)
	}
	v := new(big.Int).SetBytes(b)
	if b[0]&0x80 != 0 {
		v.Sub(v, new(big.Int).Lsh(big.NewInt(1), uint(8*len(b))))
	}
	return exactDecimal(v, s)
}

// exactDecimal returns the float64 nearest to v / 10^scale, as parsing
// the decimal's text would give.
func exactDecimal(v *big.Int, s *pqSpec) float64 {
	f, _ := new(big.Rat).SetFrac(v, new(big.Int).Exp(big.NewInt(10), big.NewInt(int64(s.scale)), nil)).Float64()
	return f
}

// uuidText formats 16 bytes as a canonical UUID (8-4-4-4-12 hex digits).
func uuidText(b []byte) string {
	if len(b) != 16 {
		return hex.EncodeToString(b)
	}
	var out [36]byte
	hex.Encode(out[0:8], b[0:4])
	out[8] = '-'
	hex.Encode(out[9:13], b[4:6])
	out[13] = '-'
	hex.Encode(out[14:18], b[6:8])
	out[18] = '-'
	hex.Encode(out[19:23], b[8:10])
	out[23] = '-'
	hex.Encode(out[24:36], b[10:16])
	return string(out[:])
}
