package server

import (
	"encoding/csv"
	"fmt"
	"net/http"

	"github.com/labstack/echo/v4"
)

// writeCSV answers a table as a CSV download named filename (made safe
// for the Content-Disposition header): the header line, then every row.
// The response is committed once the header line is written, so a row that
// fails to write ends the download early and the error is returned for the
// log.
func writeCSV(c echo.Context, filename string, header []string, rows [][]string) error {
	h := c.Response().Header()
	h.Set(echo.HeaderContentType, "text/csv; charset=utf-8")
	h.Set(echo.HeaderContentDisposition, fmt.Sprintf("attachment; filename=%q", safeFileName(filename)))
	c.Response().WriteHeader(http.StatusOK)
	w := csv.NewWriter(c.Response())
	if err := w.Write(header); err != nil {
		return fmt.Errorf("write %s: header: %w", filename, err)
	}
	for i, row := range rows {
		if err := w.Write(row); err != nil {
			return fmt.Errorf("write %s: row %d: %w", filename, i+1, err)
		}
	}
	w.Flush()
	if err := w.Error(); err != nil {
		return fmt.Errorf("write %s: %w", filename, err)
	}
	return nil
}
