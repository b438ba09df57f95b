package train

import (
	"bytes"
	"fmt"
	"io"
	"slices"
	"sync"
)

// defaultChunkBytes is the size of the blocks parsed in parallel.
const defaultChunkBytes = 8 << 20

// minChunkBytes is the smallest block used for an input of known size.
const minChunkBytes = 1 << 20

// chunkJob is one block of whole lines travelling reader → worker →
// assembler. A job with tail set ends the parallel phase: the rest of the
// input (tail, then the reader) is parsed sequentially, because it holds a
// quote character (a quoted field may span lines, so a block boundary may
// not be a record boundary) or a line longer than a block.
type chunkJob struct {
	buf     []byte
	data    []byte
	done    chan struct{}
	out     chunkOut
	tail    bool
	readErr error
}

// parallelRest parses the records after the inference rows in blocks on
// cr.workers goroutines and appends them in file order. Results are
// identical to sequentialRest: categorical codes follow first appearance in
// the file, and an error names the first bad line in file order.
func (cr *csvReader) parallelRest() error {
	chunk := cr.chunkBytes
	if chunk <= 0 {
		chunk = defaultChunkBytes
		// a small input of known size still gets a few blocks per worker
		if n := cr.inputSize / int64(4*cr.workers); n > 0 && n < int64(chunk) {
			chunk = max(int(n), minChunkBytes)
		}
	}
	inflight := cr.workers + 2
	p := &chunkParser{
		nfeat:      len(cr.ds.Names),
		delim:      cr.sc.delim,
		hasTarget:  cr.opts.Target != "",
		regression: cr.opts.Regression,
		tgtNumeric: cr.tgtNum,
	}
	for _, c := range cr.cols {
		p.plan = append(p.plan, colPlan{role: c.role, name: c.name, feat: c.feat, numeric: c.numeric})
	}
	sc := cr.sc
	carry := append([]byte(nil), sc.buf[sc.start:sc.end]...)
	sc.start, sc.end = 0, 0

	order := make(chan *chunkJob, inflight)
	work := make(chan *chunkJob, inflight)
	free := make(chan *chunkJob, inflight+2)
	stop := make(chan struct{})
	var wg sync.WaitGroup
	wg.Add(1)
	go func() {
		defer wg.Done()
		defer close(work)
		defer close(order)
		cr.readChunks(carry, chunk, order, work, free, stop)
	}()
	for i := 0; i < cr.workers; i++ {
		wg.Add(1)
		go func() {
			defer wg.Done()
			for j := range work {
				select {
				case <-stop:
				case <-cr.ctx.Done():
				default:
					p.parse(j.data, &j.out)
				}
				close(j.done)
			}
		}()
	}
	finish := func(err error) error {
		close(stop)
		for range order { // unblock the reader
		}
		wg.Wait()
		return err
	}
	line := sc.line
	for j := range order {
		// Blocks already read are not parsed after a cancel.
		if err := cr.ctx.Err(); err != nil {
			return finish(fmt.Errorf("%s: read: %w", cr.opts.Name, err))
		}
		if j.tail {
			if err := finish(nil); err != nil {
				return err
			}
			if j.readErr != nil {
				return j.readErr
			}
			return cr.sequentialTail(j.data, line)
		}
		<-j.done
		if err := cr.merge(&j.out, line); err != nil {
			return finish(err)
		}
		line += j.out.lines
		select {
		case free <- j:
		default:
		}
	}
	return finish(nil)
}

// sequentialTail parses data followed by the rest of the input with the
// sequential scanner, data starting on the given line.
func (cr *csvReader) sequentialTail(data []byte, line int) error {
	sc := cr.sc
	if !sc.eof {
		sc.r = io.MultiReader(bytes.NewReader(data), sc.r)
	} else {
		sc.r = bytes.NewReader(data)
	}
	sc.eof = false
	sc.start, sc.end = 0, 0
	sc.line = line
	sc.bomDone = true
	return cr.sequentialRest()
}

// readChunks cuts the input into blocks of whole lines (carry first) and
// hands them to the workers, in order, to the assembler. It stops after a
// tail job, at the end of input, or when stop closes.
func (cr *csvReader) readChunks(carry []byte, chunk int, order, work, free chan *chunkJob, stop chan struct{}) {
	sc := cr.sc
	send := func(j *chunkJob) bool {
		select {
		case order <- j:
		case <-stop:
			return false
		}
		if j.tail {
			return true
		}
		select {
		case work <- j:
			return true
		case <-stop:
			return false
		}
	}
	// At most cap(free) jobs exist: a reader ahead of the parsers waits
	// for a parsed block to come back instead of allocating another, which
	// bounds the memory of a read to a few blocks.
	made := 0
	for {
		var j *chunkJob
		select {
		case j = <-free:
		default:
			if made < cap(free) {
				j = &chunkJob{}
				made++
				break
			}
			select {
			case j = <-free:
			case <-stop:
				return
			}
		}
		j.done = make(chan struct{})
		j.tail, j.readErr = false, nil
		buf := append(j.buf[:0], carry...)
		var readErr error
		for len(buf) < chunk && !sc.eof {
			if cap(buf)-len(buf) < chunk/4+512 {
				buf = growUncleared(buf, chunk/2+1024)
			}
			n, err := sc.r.Read(buf[len(buf):cap(buf)])
			buf = buf[:len(buf)+n]
			if err == io.EOF {
				sc.eof = true
			} else if err != nil {
				readErr = fmt.Errorf("%s: read: %w", cr.opts.Name, err)
				break
			}
		}
		j.buf = buf
		if len(buf) == 0 && readErr == nil {
			return
		}
		cut := len(buf)
		if !sc.eof || readErr != nil {
			cut = bytes.LastIndexByte(buf, '\n') + 1
		}
		if readErr != nil {
			if cut > 0 && bytes.IndexByte(buf[:cut], '"') < 0 {
				j.data = buf[:cut]
				if !send(j) {
					return
				}
				j = &chunkJob{done: make(chan struct{})}
			}
			j.tail, j.readErr = true, readErr
			send(j)
			return
		}
		if cut == 0 || bytes.IndexByte(buf[:cut], '"') >= 0 {
			// a line longer than a block, or a quote: parse the rest sequentially
			j.tail, j.data = true, buf
			send(j)
			return
		}
		carry = append(carry[:0], buf[cut:]...)
		j.data = buf[:cut]
		if !send(j) {
			return
		}
		if cut == len(buf) && sc.eof {
			return
		}
	}
}

// merge appends one parsed chunk (starting on line base) to the dataset,
// remapping chunk-local codes to the global first-appearance codes, and
// returns the chunk's first error.
func (cr *csvReader) merge(o *chunkOut, base int) error {
	ds := cr.ds
	name := cr.opts.Target
	// Target values first seen here, in file order: the class limit may be
	// crossed before the chunk's own first error.
	var tgtMap []float64
	if cr.opts.Target != "" && !cr.opts.Regression {
		if !cr.tgtNum {
			tgtMap = make([]float64, len(o.tgtNew))
		}
		for k, t := range o.tgtNew {
			line := base + t.line
			if cr.tgtNum {
				if _, ok := cr.tgtVals[t.v]; !ok {
					if len(cr.tgtVals) >= maxClasses {
						return cr.sc.errorf(line, "target column %q: more than %d distinct values; use the regression objective", name, maxClasses)
					}
					cr.tgtVals[t.v] = t.s
					cr.tgtLines[t.s] = line
				}
				continue
			}
			code, ok := cr.tgtCodes[t.s]
			if !ok {
				if len(cr.tgtCodes) >= maxClasses {
					return cr.sc.errorf(line, "target column %q: more than %d distinct labels", name, maxClasses)
				}
				code = int32(len(cr.tgtCodes))
				cr.tgtCodes[t.s] = code
				cr.tgtLevels = append(cr.tgtLevels, t.s)
				cr.tgtLines[t.s] = line
			}
			tgtMap[k] = float64(code)
		}
	}
	if o.failed {
		return cr.sc.errorf(base+o.errLine, "%s", o.errMsg)
	}
	for i := range cr.cols {
		c := &cr.cols[i]
		if c.role != roleFeature {
			continue
		}
		f := c.feat
		if c.numeric {
			ds.Num[f] = append(ds.Num[f], o.num[f]...)
			continue
		}
		remap := make([]int32, len(o.levels[f]))
		for k, s := range o.levels[f] {
			code, ok := c.levels[s]
			if !ok {
				code = int32(len(c.levels))
				c.levels[s] = code
				ds.Levels[f] = append(ds.Levels[f], s)
			}
			remap[k] = code
		}
		dst := slices.Grow(ds.Codes[f], len(o.codes[f]))
		for _, code := range o.codes[f] {
			if code >= 0 {
				code = remap[code]
			}
			dst = append(dst, code)
		}
		ds.Codes[f] = dst
	}
	if cr.opts.Target != "" {
		if tgtMap != nil {
			dst := slices.Grow(ds.Target, len(o.target))
			for _, v := range o.target {
				dst = append(dst, tgtMap[int(v)])
			}
			ds.Target = dst
		} else {
			ds.Target = append(ds.Target, o.target...)
		}
	}
	ds.IDs = append(ds.IDs, o.ids...)
	ds.Rows += o.rows
	return nil
}
