package server

import (
	"context"
	"errors"
	"fmt"
	"io/fs"
	"net/http"
	"os"
	"path/filepath"
	"strings"
	"time"

	"github.com/labstack/echo/v4"

	"driftd/server/flows"
	"driftd/train"
)

// columnsError is why the columns of a data file could not be read, with
// the HTTP status the columns endpoint answers.
type columnsError struct {
	status int
	msg    string
}

func (e *columnsError) Error() string { return e.msg }

// uiTrainingColumns answers GET /training/columns?data=PATH with the column
// names of the CSV file's header, {"data": path, "columns": [...]}, so the
// training form can offer them as the target and id. The path follows the
// rules of a training job: relative paths are inside the data directory,
// absolute ones must lie in it or in DRIFTD_TRAIN_DATA_DIRS. Errors are
// JSON {"error", "field": "data"}: 400 for a bad or forbidden path, 404 for
// a missing file. ?query=SQL answers {"query", "columns"} with the columns
// the query returns on the server's database (planned, not run); errors
// are 400s on field "query".
func (a *App) uiTrainingColumns(c echo.Context) error {
	c.Response().Header().Set("Cache-Control", "no-store")
	if q := c.QueryParam("query"); q != "" {
		cols, err := a.queryColumns(c.Request().Context(), q)
		if err != nil {
			return c.JSON(http.StatusBadRequest, apiError{Error: err.Error(), Field: "query"})
		}
		return c.JSON(http.StatusOK, map[string]any{"query": q, "columns": cols})
	}
	p, cols, err := a.dataColumns(c.QueryParam("data"))
	if err != nil {
		var ce *columnsError
		if !errors.As(err, &ce) {
			return err
		}
		return c.JSON(ce.status, apiError{Error: ce.msg, Field: "data"})
	}
	return c.JSON(http.StatusOK, map[string]any{"data": p, "columns": cols})
}

// databaseName is the server's database for training queries as the UI
// shows it (password redacted), "" when none is configured.
func (a *App) databaseName() string {
	return train.RedactDSN(a.cfg.DatabaseURL)
}

// queryColumns returns the columns a training query returns on the
// server's database, waiting at most 10 seconds for it; errors name the
// query's problem (never the password).
func (a *App) queryColumns(ctx context.Context, query string) ([]string, error) {
	dsn := a.cfg.DatabaseURL
	if dsn == "" {
		return nil, fmt.Errorf("query: training from a query needs a database: set %s on the server", flows.DatabaseURLEnv)
	}
	ctx, cancel := context.WithTimeout(ctx, 10*time.Second)
	defer cancel()
	cols, err := train.QueryColumns(ctx, dsn, query)
	if err != nil {
		return nil, fmt.Errorf("query: %w", err)
	}
	return cols, nil
}

// dataColumns resolves a server-side data path as training does and reads
// the column names of its header. It returns a *columnsError for a path a
// user got wrong and a wrapped error for anything else.
func (a *App) dataColumns(p string) (string, []string, error) {
	p = strings.TrimSpace(p)
	if p == "" {
		return "", nil, &columnsError{http.StatusBadRequest, "data: give a CSV path on the server"}
	}
	if !filepath.IsAbs(p) {
		p = filepath.Join(a.cfg.DataDir, p)
	}
	fi, err := os.Stat(p)
	switch {
	case errors.Is(err, fs.ErrNotExist):
		return p, nil, &columnsError{http.StatusNotFound, fmt.Sprintf("data: file %s not found on the server", p)}
	case err != nil:
		return p, nil, &columnsError{http.StatusBadRequest, fmt.Sprintf("data: %s: %v", p, err)}
	case fi.IsDir():
		return p, nil, &columnsError{http.StatusBadRequest, fmt.Sprintf("data: %s is a directory, not a CSV file", p)}
	case !flows.InsideDirs(p, append([]string{a.cfg.DataDir}, a.cfg.TrainDataDirs...)):
		return p, nil, &columnsError{http.StatusBadRequest, fmt.Sprintf(
			"data: %s is outside the directories training may read: the data directory and DRIFTD_TRAIN_DATA_DIRS %v (or upload the file)", p, a.cfg.TrainDataDirs)}
	}
	cols, err := flows.CSVHeader(p)
	if err != nil {
		return p, nil, &columnsError{http.StatusBadRequest, "data: " + err.Error()}
	}
	return p, cols, nil
}
