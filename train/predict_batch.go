package train

// PredictBatch scores rows into dst (len(dst) >= len(rows)) with PredictRow
// semantics, splitting the rows over threads goroutines.
func (m *Model) PredictBatch(rows [][]float64, dst []float64, threads int) {
	parallelBlocks(len(rows), threads, func(_, lo, hi int) {
		for i := lo; i < hi; i++ {
			dst[i] = m.PredictRow(rows[i])
		}
	})
}
