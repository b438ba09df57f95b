package stream

import (
	"fmt"
	"math/rand/v2"
	"strconv"
)

// benchSchema returns n numeric features f0..f(n-1).
func benchSchema(n int) Schema {
	s := Schema{Names: make([]string, n), Categorical: make([]bool, n)}
	for i := range n {
		s.Names[i] = fmt.Sprintf("f%d", i)
	}
	return s
}

// benchRecord returns a JSON record with n numeric features (~470 bytes for 28).
func benchRecord(n int, seq int) []byte {
	r := rand.New(rand.NewPCG(uint64(seq), 7))
	b := []byte(`{"id":"row-` + strconv.Itoa(seq) + `"`)
	for i := range n {
		b = fmt.Appendf(b, `,"f%d":%.6f`, i, r.NormFloat64()*3)
	}
	return append(b, '}')
}
