package server

import (
	"errors"
	"fmt"
	"io"
	"mime"
	"net/http"
	"os"
	"path/filepath"
	"strings"

	"github.com/labstack/echo/v4"

	"driftd/server/flows"
	"driftd/train"
)

// apiVersionImport answers POST /api/v1/models/{name}/versions/import
// ?format=xgboost|lightgbm[&reference=PATH][&reference_format=csv|parquet]
// [&target=COL][&version=][&description=]: it converts an XGBoost or
// LightGBM model file into a driftd model, builds its drift reference from
// the reference data and registers it as a new version, as `driftd import`
// followed by a version upload would. The model file is the body, with the
// reference a file on the server (the rule of training jobs: a relative
// path is in the data directory, an absolute one must lie in it or in
// DRIFTD_TRAIN_DATA_DIRS); or the body is multipart/form-data with the
// parts "model" and "reference" (CSV or Parquet, by the part's file name or
// reference_format). Answers 201 with the version; bad input is a 400
// naming the parameter or part at fault, and registers nothing.
func (a *App) apiVersionImport(c echo.Context) error {
	q := c.QueryParams()
	spec := flows.ImportSpec{Format: q.Get("format"), Target: q.Get("target"), ReferenceFormat: q.Get("reference_format"),
		DriftBins: a.cfg.DriftBins, ModelName: "the model file"}
	if spec.Format == "" {
		return badRequest("format", "give the library that saved the model: ?format=%s", strings.Join(flows.ImportFormats, " or ?format="))
	}
	if _, err := train.DataFormat("", spec.ReferenceFormat); err != nil {
		return badRequest("reference_format", "%v", err)
	}
	var err error
	if isMultipart(c.Request()) {
		if q.Get("reference") != "" {
			return badRequest("reference", "give the reference either as the multipart part \"reference\" or as ?reference=PATH, not both")
		}
		var cleanup func()
		cleanup, err = a.readImportParts(c, &spec)
		defer cleanup()
	} else {
		err = a.readImportBody(c, &spec)
	}
	if err != nil {
		return err
	}
	out, err := flows.ImportModel(c.Request().Context(), spec)
	if err != nil {
		var ie *flows.InputError
		if errors.As(err, &ie) {
			return badRequest(ie.Field, "%v", ie.Err)
		}
		return err
	}
	opts, err := flows.RegisterOptions(out.Model)
	if err != nil {
		return err
	}
	opts.Version, opts.Description = q.Get("version"), q.Get("description")
	if opts.Description == "" {
		opts.Description = fmt.Sprintf("%s model imported with reference %s", flows.SourceTitle(out.Source), filepath.Base(spec.ReferenceName))
	}
	v, err := a.store.Register(userContext(c), out.Artifact, c.Param("name"), opts)
	if err != nil {
		return err
	}
	return c.JSON(http.StatusCreated, v)
}

// isMultipart reports whether r's body is multipart/form-data.
func isMultipart(r *http.Request) bool {
	mt, _, err := mime.ParseMediaType(r.Header.Get(echo.HeaderContentType))
	return err == nil && mt == echo.MIMEMultipartForm
}

// readImportBody reads the model file from the body and resolves
// ?reference=PATH as training jobs do.
func (a *App) readImportBody(c echo.Context, spec *flows.ImportSpec) error {
	p := strings.TrimSpace(c.QueryParam("reference"))
	if p == "" {
		return badRequest("reference", "give the reference data: ?reference=PATH of a CSV or Parquet file on the server, or a multipart upload with the parts \"model\" and \"reference\"")
	}
	if !filepath.IsAbs(p) {
		p = filepath.Join(a.cfg.DataDir, p)
	}
	fi, err := os.Stat(p)
	switch {
	case err != nil:
		return badRequest("reference", "file %s not found on the server: %v", p, err)
	case fi.IsDir():
		return badRequest("reference", "%s is a directory, not a CSV or Parquet file", p)
	case !flows.InsideDirs(p, append([]string{a.cfg.DataDir}, a.cfg.TrainDataDirs...)):
		return badRequest("reference", "%s is outside the directories the server may read: the data directory and DRIFTD_TRAIN_DATA_DIRS %v (or upload the file)", p, a.cfg.TrainDataDirs)
	}
	body, err := a.readUpload(c, "model")
	if err != nil {
		return err
	}
	if len(body) == 0 {
		return badRequest("model", "empty body: send the model file saved by %s as application/octet-stream", flows.SourceTitle(spec.Format))
	}
	spec.Data, spec.Reference, spec.ReferenceName = body, p, p
	return nil
}

// readImportParts reads the parts "model" (into memory) and "reference"
// (into a temporary file under <data-dir>/tmp, removed by the returned
// cleanup, which is never nil) of a multipart body. Other parts are refused.
func (a *App) readImportParts(c echo.Context, spec *flows.ImportSpec) (cleanup func(), err error) {
	cleanup = func() {}
	mr, err := c.Request().MultipartReader()
	if err != nil {
		return cleanup, badRequest("", "read multipart body: %v", err)
	}
	dir := filepath.Join(a.cfg.DataDir, "tmp")
	if err := os.MkdirAll(dir, 0o750); err != nil {
		return cleanup, fmt.Errorf("create upload directory: %w", err)
	}
	for {
		part, err := mr.NextPart()
		if errors.Is(err, io.EOF) {
			break
		}
		if err != nil {
			return cleanup, badRequest("", "read multipart body: %v", err)
		}
		switch part.FormName() {
		case "model":
			if spec.Data, err = io.ReadAll(part); err != nil {
				return cleanup, badRequest("model", "read part: %v", err)
			}
			if part.FileName() != "" {
				spec.ModelName = filepath.Base(part.FileName())
			}
		case "reference":
			if spec.Reference != "" {
				return cleanup, badRequest("reference", "the part \"reference\" appears twice")
			}
			name := filepath.Base(part.FileName())
			if part.FileName() == "" {
				name = "reference"
			}
			path, err := spoolPart(dir, name, part)
			if path != "" {
				cleanup = func() { os.Remove(path) }
			}
			if err != nil {
				return cleanup, err
			}
			spec.Reference, spec.ReferenceName = path, name
		default:
			return cleanup, badRequest(part.FormName(), "unknown part %q: the parts are \"model\" and \"reference\"", part.FormName())
		}
	}
	switch {
	case len(spec.Data) == 0:
		return cleanup, badRequest("model", "no part \"model\" (or it is empty): upload the model file saved by %s", flows.SourceTitle(spec.Format))
	case spec.Reference == "":
		return cleanup, badRequest("reference", "no part \"reference\": upload the reference data as CSV or Parquet")
	}
	return cleanup, nil
}

// spoolPart copies an uploaded part into a new file of dir named .parquet
// when the upload's name is, .csv otherwise (the extension says the format
// unless reference_format does). On error after the file was made, it
// returns the path too, for removal.
func spoolPart(dir, name string, r io.Reader) (string, error) {
	ext := ".csv"
	if strings.EqualFold(filepath.Ext(name), ".parquet") {
		ext = ".parquet"
	}
	f, err := os.CreateTemp(dir, "import-*"+ext)
	if err != nil {
		return "", fmt.Errorf("spool upload: %w", err)
	}
	if _, err := io.Copy(f, r); err != nil {
		f.Close()
		return f.Name(), badRequest("reference", "read part: %v", err)
	}
	if err := f.Close(); err != nil {
		return f.Name(), fmt.Errorf("spool upload: %w", err)
	}
	return f.Name(), nil
}
