// Command load reads a training file the way `driftd train` does (CSV or
// Parquet, by extension) and prints one JSON line: rows, features and the
// seconds the read took. bench/parquet/run.sh runs it under /usr/bin/time
// for the peak resident set of the read alone.
package main

import (
	"context"
	"encoding/json"
	"flag"
	"fmt"
	"os"
	"time"

	"driftd/train"
)

func main() {
	data := flag.String("data", "", "CSV or Parquet file to read (required)")
	target := flag.String("target", "label", "target column")
	flag.Parse()
	if *data == "" {
		fmt.Fprintln(os.Stderr, "load: --data is required")
		os.Exit(2)
	}
	t0 := time.Now()
	ds, err := train.ReadDataFileContext(context.Background(), *data, "", train.CSVOptions{Target: *target, Name: *data})
	if err != nil {
		fmt.Fprintf(os.Stderr, "load: %v\n", err)
		os.Exit(1)
	}
	out := map[string]any{"rows": ds.Rows, "features": len(ds.Names), "load_seconds": time.Since(t0).Seconds()}
	if err := json.NewEncoder(os.Stdout).Encode(out); err != nil {
		fmt.Fprintf(os.Stderr, "load: %v\n", err)
		os.Exit(1)
	}
}
