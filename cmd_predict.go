package main

import (
	"bufio"
	"context"
	"encoding/json"
	"fmt"
	"io"
	"os"
	"slices"
	"strconv"
	"strings"
	"time"

	"driftd/train"
)

// runPredict implements `driftd predict`: score a CSV or Parquet file or
// the rows of a PostgreSQL query with a model file and write one line per row (id, score or class probabilities, predicted
// label) to --out or stdout; throughput goes to stderr.
func runPredict(ctx context.Context, args []string, stdout, stderr io.Writer) int {
	fs := newFlagSet("predict", stderr, "Score a CSV or Parquet file or a PostgreSQL query's rows with a model written by `driftd train`.")
	modelPath := fs.String("model", "", "model file (required)")
	data := fs.String("data", "", "CSV or Parquet file to score (required unless --query)")
	query := fs.String("query", "", "PostgreSQL query whose rows to score, instead of --data (needs --dsn or $"+dsnEnv+")")
	dsn := dsnFlag(fs)
	out := fs.String("out", "", "predictions file to write, CSV or Parquet (default: CSV on stdout)")
	outFormat := fs.String("out-format", "", "format of --out: csv or parquet (default: parquet for a .parquet file, else csv)")
	id := fs.String("id", "", "id column copied to the output (default: the model's training id column, when present in the data)")
	delim := fs.String("delimiter", ",", "CSV field delimiter (one character)")
	format := fs.String("format", "", "format of --data: csv or parquet (default: parquet for a .parquet file, else csv)")
	jsonOut := fs.Bool("json", false, `print one JSON summary object on stdout: {"rows","load_seconds","predict_seconds","rows_per_second"} (needs --out)`)
	if code, done := parseFlags(fs, args); done {
		return code
	}
	switch {
	case *modelPath == "":
		fmt.Fprintln(stderr, "driftd predict: --model is required")
		return 2
	case *jsonOut && *out == "":
		fmt.Fprintln(stderr, "driftd predict: --json prints the summary on stdout, so it needs --out")
		return 2
	case len([]rune(*delim)) != 1:
		fmt.Fprintf(stderr, "driftd predict: --delimiter %q: must be one character\n", *delim)
		return 2
	}
	src, err := newSource("data", *data, *format, "query", *query, dsnOrEnv(*dsn))
	if err != nil {
		fmt.Fprintf(stderr, "driftd predict: %v\n", err)
		return 2
	}
	outFmt, err := train.DataFormat(*out, *outFormat)
	if err != nil {
		fmt.Fprintf(stderr, "driftd predict: --out-format: %v\n", err)
		return 2
	}
	if err := predictCommand(ctx, *modelPath, src, *out, outFmt, *id, []rune(*delim)[0], *jsonOut, stdout, stderr); err != nil {
		fmt.Fprintf(stderr, "driftd predict: %v\n", err)
		return 1
	}
	return 0
}

// predictSummary is the --json output of `driftd predict`.
type predictSummary struct {
	Rows           int     `json:"rows"`
	LoadSeconds    float64 `json:"load_seconds"`
	PredictSeconds float64 `json:"predict_seconds"`
	RowsPerSecond  float64 `json:"rows_per_second"`
}

func predictCommand(ctx context.Context, modelPath string, src dataSource, out, outFormat, id string, delim rune, jsonOut bool, stdout, stderr io.Writer) error {
	b, err := os.ReadFile(modelPath)
	if err != nil {
		return fmt.Errorf("read model: %w", err)
	}
	m, err := train.Decode(b)
	if err != nil {
		return fmt.Errorf("%s: %w", modelPath, err)
	}
	if id == "" {
		if s, ok := m.Params()["id"].(string); ok && s != "" && dataHasColumn(ctx, src, delim, s) {
			id = s
		}
	}
	opts := train.CSVOptions{Delimiter: delim, ID: id}
	for _, f := range m.Features() {
		if f.Kind == train.Categorical {
			opts.Categorical = append(opts.Categorical, f.Name)
		} else {
			opts.Numeric = append(opts.Numeric, f.Name)
		}
	}
	t0 := time.Now()
	ds, err := src.read(ctx, opts)
	if err != nil {
		return err
	}
	load := time.Since(t0)
	if err := ctx.Err(); err != nil {
		return err
	}
	t1 := time.Now()
	pr, err := train.Predict(m, ds)
	if err != nil {
		return fmt.Errorf("%s: %w", src, err)
	}
	score := time.Since(t1)

	w := stdout
	var fh *os.File
	if out != "" {
		if fh, err = os.Create(out); err != nil {
			return fmt.Errorf("write predictions: %w", err)
		}
		defer fh.Close()
		w = fh
	}
	bw := bufio.NewWriterSize(w, 1<<16)
	if outFormat == train.FormatParquet {
		err = writePredictionsParquet(bw, m, ds, pr)
	} else {
		err = writePredictions(bw, m, ds, pr, byte(delim))
	}
	if err != nil {
		return fmt.Errorf("write predictions: %w", err)
	}
	if err := bw.Flush(); err != nil {
		return fmt.Errorf("write predictions: %w", err)
	}
	if fh != nil {
		if err := fh.Close(); err != nil {
			return fmt.Errorf("write predictions: %w", err)
		}
	}
	total := time.Since(t0)
	fmt.Fprintf(stderr, "scored %d rows: %.0f rows/s scoring (%.3fs), load %.2fs, total %.2fs (%.0f rows/s end to end)\n",
		ds.Rows, float64(ds.Rows)/score.Seconds(), score.Seconds(), load.Seconds(), total.Seconds(), float64(ds.Rows)/total.Seconds())
	if jsonOut {
		err := json.NewEncoder(stdout).Encode(predictSummary{Rows: ds.Rows, LoadSeconds: load.Seconds(),
			PredictSeconds: score.Seconds(), RowsPerSecond: float64(ds.Rows) / score.Seconds()})
		if err != nil {
			return fmt.Errorf("write summary: %w", err)
		}
	}
	return nil
}

// dataHasColumn reports whether src has a column col (a file's header, a
// query's result columns).
func dataHasColumn(ctx context.Context, src dataSource, delim rune, col string) bool {
	if !src.isQuery() && src.format == train.FormatCSV {
		return csvHasColumn(src.path, delim, col)
	}
	names, err := src.columns(ctx, delim)
	return err == nil && slices.Contains(names, col)
}

// csvHasColumn reports whether the header of a CSV file names col.
func csvHasColumn(path string, delim rune, col string) bool {
	fh, err := os.Open(path)
	if err != nil {
		return false
	}
	defer fh.Close()
	line, _ := bufio.NewReader(fh).ReadString('\n')
	for _, f := range strings.Split(strings.TrimRight(line, "\r\n"), string(delim)) {
		if strings.Trim(strings.TrimSpace(f), `"`) == col {
			return true
		}
	}
	return false
}

// writePredictions writes the header and one line per row.
func writePredictions(w *bufio.Writer, m *train.Model, ds *train.Dataset, pr *train.Predictions, delim byte) error {
	classes := m.Classes()
	var line []byte
	if ds.IDs != nil {
		line = append(line, "id"...)
		line = append(line, delim)
	}
	switch m.Objective() {
	case "binary":
		line = append(line, "score"...)
		line = append(line, delim)
		line = append(line, "label"...)
	case "multiclass":
		for _, c := range classes {
			line = append(line, "p_"...)
			line = append(line, c...)
			line = append(line, delim)
		}
		line = append(line, "label"...)
	default:
		line = append(line, "prediction"...)
	}
	line = append(line, '\n')
	if _, err := w.Write(line); err != nil {
		return err
	}
	k := pr.Classes
	for i := 0; i < ds.Rows; i++ {
		line = line[:0]
		if ds.IDs != nil {
			line = appendCSVField(line, ds.IDs[i], delim)
			line = append(line, delim)
		}
		switch m.Objective() {
		case "binary":
			s := pr.Score[i]
			line = strconv.AppendFloat(line, s, 'g', 8, 64)
			line = append(line, delim)
			lbl := classes[0]
			if s >= 0.5 {
				lbl = classes[1]
			}
			line = appendCSVField(line, lbl, delim)
		case "multiclass":
			for c := 0; c < k; c++ {
				line = strconv.AppendFloat(line, pr.Proba[i*k+c], 'g', 8, 64)
				line = append(line, delim)
			}
			if c := pr.Score[i]; c >= 0 && int(c) < len(classes) { // NaN (no score) leaves the label empty
				line = appendCSVField(line, classes[int(c)], delim)
			}
		default:
			line = strconv.AppendFloat(line, pr.Score[i], 'g', -1, 64)
		}
		line = append(line, '\n')
		if _, err := w.Write(line); err != nil {
			return err
		}
	}
	return nil
}

// appendCSVField appends s, quoted when it holds the delimiter, a quote or a
// line break.
func appendCSVField(b []byte, s string, delim byte) []byte {
	needs := false
	for i := 0; i < len(s); i++ {
		if c := s[i]; c == delim || c == '"' || c == '\n' || c == '\r' {
			needs = true
			break
		}
	}
	if !needs {
		return append(b, s...)
	}
	b = append(b, '"')
	for i := 0; i < len(s); i++ {
		if s[i] == '"' {
			b = append(b, '"')
		}
		b = append(b, s[i])
	}
	return append(b, '"')
}
