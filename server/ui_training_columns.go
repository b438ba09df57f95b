package server

import (
	"errors"
	"fmt"
	"io/fs"
	"net/http"
	"os"
	"path/filepath"
	"strings"

	"github.com/labstack/echo/v4"

	"driftd/server/flows"
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
// a missing file.
func (a *App) uiTrainingColumns(c echo.Context) error {
	c.Response().Header().Set("Cache-Control", "no-store")
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
