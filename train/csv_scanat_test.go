package train

import (
	"bytes"
	"math"
	"strconv"
	"testing"
)

// FuzzScanAt checks the in-place number scanner against strconv: when it
// accepts a field, the value is strconv's, bit for bit, and the field ends
// at the delimiter or the end of the slice.
func FuzzScanAt(f *testing.F) {
	for _, s := range []string{"0.345584,1", "-1.30316", "12345678901234567,", "+7.25", "1.", ".5,", "", ",", "9007199254740993", "00000000001.00000000002", "1\xb0"} {
		f.Add([]byte(s))
	}
	f.Fuzz(func(t *testing.T, rec []byte) {
		v, end, ok := scanAt(rec, 0, ',')
		if !ok {
			return
		}
		if end > len(rec) || (end < len(rec) && rec[end] != ',') {
			t.Fatalf("%q: field ends at %d", rec, end)
		}
		field := rec[:end]
		if len(field) == 0 {
			if !math.IsNaN(v) {
				t.Fatalf("%q: empty field = %v, want NaN", rec, v)
			}
			return
		}
		want, err := strconv.ParseFloat(string(field), 64)
		if err != nil || bytes.ContainsAny(field, "eE_xXnNiI") {
			t.Fatalf("%q: accepted %q, which strconv reads as %v (%v)", rec, field, want, err)
		}
		if math.Float64bits(v) != math.Float64bits(want) {
			t.Fatalf("%q: %v, strconv %v", rec, v, want)
		}
	})
}

func BenchmarkScanAt(b *testing.B) {
	line := []byte("0.345584,0.821618,0.330437,-1.30316,0.905356,0.446375,-0.536953,0.581118,0.0284222,2,,-0.0720437")
	b.SetBytes(int64(len(line)))
	for i := 0; i < b.N; i++ {
		pos := 0
		for pos < len(line) {
			_, end, ok := scanAt(line, pos, ',')
			if !ok {
				b.Fatal(line[pos:])
			}
			pos = end + 1
		}
	}
}
