package train

import (
	"encoding/binary"
	"math"
	"strings"
	"testing"
	"time"

	"github.com/jackc/pgx/v5/pgtype"
)

// TestDecodeBinary decodes values as PostgreSQL sends them in binary
// (encoded here by pgx's own codecs).
func TestDecodeBinary(t *testing.T) {
	m := pgtype.NewMap()
	enc := func(oid uint32, v any) []byte {
		b, err := m.Encode(oid, pgtype.BinaryFormatCode, v, nil)
		if err != nil {
			t.Fatalf("encode %v: %v", v, err)
		}
		return b
	}
	num := func(s string) pgtype.Numeric {
		var n pgtype.Numeric
		if err := n.Scan(s); err != nil {
			t.Fatal(err)
		}
		return n
	}
	cases := []struct {
		kind pgKind
		b    []byte
		want float64 // NaN = missing
		err  bool
	}{
		{pgBool, enc(pgtype.BoolOID, true), 1, false},
		{pgBool, enc(pgtype.BoolOID, false), 0, false},
		{pgInt2, enc(pgtype.Int2OID, int16(-300)), -300, false},
		{pgInt4, enc(pgtype.Int4OID, int32(-70000)), -70000, false},
		{pgInt8, enc(pgtype.Int8OID, int64(1)<<52), 1 << 52, false},
		{pgFloat4, enc(pgtype.Float4OID, float32(1.25)), 1.25, false},
		{pgFloat8, enc(pgtype.Float8OID, 0.1), 0.1, false},
		{pgFloat8, enc(pgtype.Float8OID, math.NaN()), math.NaN(), false},
		{pgFloat8, enc(pgtype.Float8OID, math.Inf(-1)), 0, true},
		{pgNumeric, enc(pgtype.NumericOID, num("12.3456")), 12.3456, false},
		{pgNumeric, enc(pgtype.NumericOID, num("-0.000012")), -0.000012, false},
		{pgNumeric, enc(pgtype.NumericOID, num("123456789012345678901234567890")), 123456789012345678901234567890, false},
		{pgNumeric, enc(pgtype.NumericOID, num("0")), 0, false},
		{pgNumeric, enc(pgtype.NumericOID, num("NaN")), math.NaN(), false},
		{pgNumeric, enc(pgtype.NumericOID, num("Infinity")), 0, true},
		{pgNumeric, enc(pgtype.NumericOID, num("1"+strings.Repeat("0", 400))), 0, true},
		{pgDate, enc(pgtype.DateOID, pgtype.Date{Time: utcDay(2024, 1, 2), Valid: true}), 1704153600, false},
		{pgDate, enc(pgtype.DateOID, pgtype.Date{Time: utcDay(1969, 12, 31), Valid: true}), -86400, false},
		{pgDate, enc(pgtype.DateOID, pgtype.Date{InfinityModifier: pgtype.Infinity, Valid: true}), 0, true},
		{pgTimestamp, enc(pgtype.TimestampOID, pgtype.Timestamp{Time: utcDay(2024, 1, 2).Add(1500 * 1e6), Valid: true}), 1704153601.5, false},
		{pgTimestamp, enc(pgtype.TimestampOID, pgtype.Timestamp{Time: utcDay(1960, 1, 1), Valid: true}), -315619200, false},
		{pgTimestamp, enc(pgtype.TimestampOID, pgtype.Timestamp{InfinityModifier: pgtype.NegativeInfinity, Valid: true}), 0, true},
		{pgInt4, []byte{1, 2}, 0, true},
		{pgNumeric, []byte{0, 1, 0, 0, 0, 0, 0, 0, 0x27, 0x10}, 0, true}, // digit 10000
		{pgNumeric, []byte{0, 2, 0, 0, 0, 0, 0, 0, 0, 1}, 0, true},       // 2 digits announced, 1 sent
	}
	for i, c := range cases {
		got, err := decodeBinary(c.kind, c.b)
		switch {
		case c.err && err == nil:
			t.Errorf("case %d (kind %d, % x): %v, want an error", i, c.kind, c.b, got)
		case !c.err && err != nil:
			t.Errorf("case %d (kind %d): %v", i, c.kind, err)
		case !c.err && !(got == c.want || math.IsNaN(got) && math.IsNaN(c.want)):
			t.Errorf("case %d (kind %d): %v, want %v", i, c.kind, got, c.want)
		}
	}
}

// FuzzDecodeNumeric decodes arbitrary bytes as a binary numeric: never a
// panic, and where pgx's codec reads a finite number, the same float64.
func FuzzDecodeNumeric(f *testing.F) {
	m := pgtype.NewMap()
	for _, s := range []string{"0", "1", "-1", "12.3456", "0.0001", "99999999.99999999", "-123456789012345678901234567890.5", "0." + strings.Repeat("0", 299) + "1", "NaN", "Infinity"} {
		var n pgtype.Numeric
		if err := n.Scan(s); err != nil {
			f.Fatal(err)
		}
		b, err := m.Encode(pgtype.NumericOID, pgtype.BinaryFormatCode, n, nil)
		if err != nil {
			f.Fatal(err)
		}
		f.Add(b)
	}
	f.Fuzz(func(t *testing.T, b []byte) {
		got, err := decodeNumeric(b)
		// The oracle only for what PostgreSQL sends: pgx scales to the
		// display scale with big integers (slow for a large one) and cuts
		// digits beyond it, which the server never sends.
		if len(b) < 8 || len(b) > 256 {
			return
		}
		n16 := func(i int) int { return int(int16(binary.BigEndian.Uint16(b[i:]))) }
		digits, weight, dscale := n16(0), n16(2), n16(6)
		if weight < -100 || weight > 100 || dscale < 0 || dscale > 100 || dscale < (digits-weight-1)*4 {
			return
		}
		var n pgtype.Numeric
		if m.Scan(pgtype.NumericOID, pgtype.BinaryFormatCode, b, &n) != nil || err != nil {
			return
		}
		want, werr := n.Float64Value()
		if werr != nil || math.IsInf(want.Float64, 0) {
			return
		}
		if !(got == want.Float64 || math.IsNaN(got) && math.IsNaN(want.Float64)) {
			t.Errorf("% x: %v, pgx reads %v", b, got, want.Float64)
		}
	})
}

// utcDay returns midnight UTC of a day.
func utcDay(y int, m time.Month, d int) time.Time { return time.Date(y, m, d, 0, 0, 0, 0, time.UTC) }
