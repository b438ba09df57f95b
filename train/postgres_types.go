package train

import (
	"context"
	"encoding/binary"
	"errors"
	"fmt"
	"math"
	"strconv"
	"strings"

	"github.com/jackc/pgx/v5/pgtype"
)

// pgKind is how driftd reads a PostgreSQL type.
type pgKind int

const (
	pgUnsupported pgKind = iota
	pgBool
	pgInt2
	pgInt4
	pgInt8
	pgFloat4
	pgFloat8
	pgNumeric
	pgDate
	pgTimestamp // timestamp and timestamptz: the same binary form
	pgString    // read as the server's text
)

// pgType is what driftd knows of a column's type.
type pgType struct {
	kind     pgKind
	name     string // as format_type writes it, for messages
	category byte   // pg_type.typcategory of a looked-up type
	bpchar   bool   // char(n): blank-padded
}

// knownType returns the types driftd reads without asking the server.
func knownType(oid uint32) (pgType, bool) {
	switch oid {
	case pgtype.BoolOID:
		return pgType{kind: pgBool}, true
	case pgtype.Int2OID:
		return pgType{kind: pgInt2}, true
	case pgtype.Int4OID:
		return pgType{kind: pgInt4}, true
	case pgtype.Int8OID:
		return pgType{kind: pgInt8}, true
	case pgtype.Float4OID:
		return pgType{kind: pgFloat4}, true
	case pgtype.Float8OID:
		return pgType{kind: pgFloat8}, true
	case pgtype.NumericOID:
		return pgType{kind: pgNumeric}, true
	case pgtype.DateOID:
		return pgType{kind: pgDate}, true
	case pgtype.TimestampOID, pgtype.TimestamptzOID:
		return pgType{kind: pgTimestamp}, true
	case pgtype.TextOID, pgtype.VarcharOID, pgtype.NameOID, pgtype.UUIDOID:
		return pgType{kind: pgString}, true
	case pgtype.BPCharOID:
		return pgType{kind: pgString, bpchar: true}, true
	}
	return pgType{}, false
}

// lookupTypes asks the server about types driftd does not know by OID:
// enums and string types (citext, ...) are read as strings, anything else
// is unsupported (with its name). A domain needs no look-up: the server
// describes a domain's column by its base type.
func (c *pgConn) lookupTypes(ctx context.Context, oids []uint32) (map[uint32]pgType, error) {
	out := map[uint32]pgType{}
	if len(oids) == 0 {
		return out, nil
	}
	ids := make([]string, len(oids))
	for i, o := range oids {
		ids[i] = strconv.FormatUint(uint64(o), 10)
		out[o] = pgType{name: "with OID " + ids[i]}
	}
	res := c.conn.ExecParams(ctx, "select oid, format_type(oid, null), typtype, typcategory from pg_type where oid = any($1::oid[])",
		[][]byte{[]byte("{" + strings.Join(ids, ",") + "}")}, nil, nil, nil).Read()
	if res.Err != nil {
		return nil, c.sc.wrap(res.Err)
	}
	for _, r := range res.Rows {
		oid, err := strconv.ParseUint(string(r[0]), 10, 32)
		if err != nil || len(r[2]) != 1 || len(r[3]) != 1 {
			return nil, fmt.Errorf("unexpected pg_type row %q", r)
		}
		t := pgType{name: string(r[1]), category: r[3][0]}
		if r[2][0] == 'e' || t.category == 'S' {
			t.kind = pgString
		}
		out[uint32(oid)] = t
	}
	return out, nil
}

// Epochs of PostgreSQL's binary dates and timestamps (2000-01-01) in Unix
// days and seconds.
const (
	pgEpochDays    = 10957
	pgEpochSeconds = pgEpochDays * 86400
)

// errPGInfinite is the error for an infinite number, date or timestamp,
// which a model cannot use (a CSV file's "Inf" is refused too).
var errPGInfinite = errors.New("infinite value: filter it out or make it NULL (e.g. nullif(col, 'infinity'))")

// decodeBinary decodes a non-NULL value of a numeric kind in PostgreSQL's
// binary format: a number, 0/1 for a boolean, Unix seconds for a date or
// timestamp; NaN is missing, infinities are errPGInfinite.
func decodeBinary(kind pgKind, b []byte) (float64, error) {
	if want := binarySize(kind); want > 0 && len(b) != want {
		return 0, fmt.Errorf("%d bytes for a value of %d", len(b), want)
	}
	switch kind {
	case pgBool:
		if b[0] != 0 {
			return 1, nil
		}
		return 0, nil
	case pgInt2:
		return float64(int16(binary.BigEndian.Uint16(b))), nil
	case pgInt4:
		return float64(int32(binary.BigEndian.Uint32(b))), nil
	case pgInt8:
		return float64(int64(binary.BigEndian.Uint64(b))), nil
	case pgFloat4:
		return finite(float64(math.Float32frombits(binary.BigEndian.Uint32(b))))
	case pgFloat8:
		return finite(math.Float64frombits(binary.BigEndian.Uint64(b)))
	case pgDate:
		d := int32(binary.BigEndian.Uint32(b))
		if d == math.MaxInt32 || d == math.MinInt32 {
			return 0, errPGInfinite
		}
		return (float64(d) + pgEpochDays) * 86400, nil
	case pgTimestamp:
		us := int64(binary.BigEndian.Uint64(b))
		if us == math.MaxInt64 || us == math.MinInt64 {
			return 0, errPGInfinite
		}
		// Whole seconds and the fraction apart, so that whole seconds stay exact.
		sec, frac := us/1e6, us%1e6
		return float64(sec+pgEpochSeconds) + float64(frac)/1e6, nil
	case pgNumeric:
		return decodeNumeric(b)
	}
	return 0, fmt.Errorf("kind %d is not numeric", kind)
}

// binarySize is the size of a fixed-size kind's binary value (0 for numeric).
func binarySize(kind pgKind) int {
	switch kind {
	case pgBool:
		return 1
	case pgInt2:
		return 2
	case pgInt4, pgFloat4, pgDate:
		return 4
	case pgInt8, pgFloat8, pgTimestamp:
		return 8
	}
	return 0
}

// finite returns x, NaN as missing, and errPGInfinite for an infinity.
func finite(x float64) (float64, error) {
	if math.IsInf(x, 0) {
		return 0, errPGInfinite
	}
	return x, nil
}

// decodeNumeric decodes a binary numeric: int16 count of base-10000
// digits, int16 weight of the first digit, uint16 sign (or NaN or an
// infinity), int16 display scale, then the digits. It writes the digits
// as a decimal and parses it, so the float64 is the nearest to the exact
// value.
func decodeNumeric(b []byte) (float64, error) {
	if len(b) < 8 {
		return 0, fmt.Errorf("numeric of %d bytes: want at least 8", len(b))
	}
	n := int(int16(binary.BigEndian.Uint16(b)))
	weight := int(int16(binary.BigEndian.Uint16(b[2:])))
	if n < 0 || len(b) != 8+2*n {
		return 0, fmt.Errorf("numeric of %d bytes holds %d digits", len(b), n)
	}
	var neg bool
	switch sign := binary.BigEndian.Uint16(b[4:]); sign {
	case 0x0000:
	case 0x4000:
		neg = true
	case 0xC000:
		return math.NaN(), nil
	case 0xD000, 0xF000:
		return 0, errPGInfinite
	default:
		return 0, fmt.Errorf("numeric sign %#04x", sign)
	}
	var stack [64]byte
	dec := stack[:0]
	if neg {
		dec = append(dec, '-')
	}
	if n == 0 {
		dec = append(dec, '0')
	}
	for i := range n {
		d := binary.BigEndian.Uint16(b[8+2*i:])
		if d > 9999 {
			return 0, fmt.Errorf("numeric digit %d is not below 10000", d)
		}
		dec = append(dec, byte('0'+d/1000), byte('0'+d/100%10), byte('0'+d/10%10), byte('0'+d%10))
	}
	dec = append(dec, 'e')
	dec = strconv.AppendInt(dec, int64(weight-n+1)*4, 10)
	x, err := strconv.ParseFloat(string(dec), 64)
	if err != nil {
		return 0, fmt.Errorf("numeric out of the range of a float64: %w", err)
	}
	return x, nil
}
