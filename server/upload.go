package server

import (
	"fmt"
	"io"
	"os"
	"path/filepath"

	"github.com/labstack/echo/v4"
)

// readUpload returns the body of an upload (a model file, a run artifact),
// which may be as large as DRIFTD_MAX_BODY_BYTES. The body is first copied to
// a temporary file under <data-dir>/tmp, then read back into one slice of
// exactly its size. So memory is taken only once the whole body has arrived
// (a slow client that announces 256 MB holds disk while it sends, not a
// growing buffer), and the bytes are held once (io.ReadAll grows by copying,
// up to about twice the body). The registry takes []byte, so an artifact is
// in memory once in any case. A read error (the body limit included) is a
// 400 on field; the limit middleware turns a body over the limit into a 413.
func (a *App) readUpload(c echo.Context, field string) ([]byte, error) {
	dir := filepath.Join(a.cfg.DataDir, "tmp")
	if err := os.MkdirAll(dir, 0o750); err != nil {
		return nil, fmt.Errorf("create upload directory: %w", err)
	}
	f, err := os.CreateTemp(dir, "upload-*")
	if err != nil {
		return nil, fmt.Errorf("spool upload: %w", err)
	}
	// Unlinked at once where the OS allows it, so that a crash leaves nothing
	// behind; elsewhere removed when done.
	unlinked := os.Remove(f.Name()) == nil
	defer func() {
		f.Close()
		if !unlinked {
			os.Remove(f.Name())
		}
	}()
	n, err := io.Copy(f, c.Request().Body)
	if err != nil {
		return nil, badRequest(field, "read body: %v", err)
	}
	buf := make([]byte, n)
	if m, err := f.ReadAt(buf, 0); int64(m) != n {
		return nil, fmt.Errorf("read spooled upload (%d of %d bytes): %w", m, n, err)
	}
	return buf, nil
}
