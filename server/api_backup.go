package server

import (
	"fmt"
	"io"
	"net/http"
	"strconv"

	"github.com/labstack/echo/v4"
)

// apiBackup answers GET /api/v1/backup (API token required) with a consistent copy of
// the registry file; restore it with `driftd restore`. The copy is taken first into a
// temporary file in the data directory (registry.Store.Snapshot), so a client that reads
// slowly holds no registry transaction open; Content-Length lets it detect truncation.
func (a *App) apiBackup(c echo.Context) error {
	snap, err := a.store.Snapshot()
	if err != nil {
		return err
	}
	defer snap.Close()
	name := fmt.Sprintf("driftd-backup-%s.db", a.now().UTC().Format("20060102T150405Z"))
	h := c.Response().Header()
	h.Set(echo.HeaderContentType, echo.MIMEOctetStream)
	h.Set(echo.HeaderContentDisposition, fmt.Sprintf("attachment; filename=%q", name))
	h.Set(echo.HeaderContentLength, strconv.FormatInt(snap.Size(), 10))
	c.Response().WriteHeader(http.StatusOK)
	if _, err := io.Copy(c.Response(), snap); err != nil {
		// The status line is sent; the client sees a body shorter than Content-Length.
		a.logger.Warn("backup not fully sent", "err", err)
	}
	return nil
}
