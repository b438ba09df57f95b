package mlflow

import (
	"context"
	"io"
	"mime"
	"net/http"
	"net/url"
	"path"
	"sort"
	"strings"

	"github.com/labstack/echo/v4"

	"driftd/registry"
)

// Artifacts of a run are the run's named blobs in the registry (driftd's
// training stores "model", "drift.profile", ...); a name with '/' is a file in
// a directory for MLflow. The artifact proxy addresses them as
// <experiment>/<run>/artifacts/<path>, the path under a run's artifact_uri
// mlflow-artifacts:/<experiment>/<run>/artifacts; registered versions are
// readable as registry/<model>/<version>/model.driftd (get-download-uri).

// fileInfo is MLflow's FileInfo.
type fileInfo struct {
	Path     string `json:"path"`
	IsDir    bool   `json:"is_dir"`
	FileSize *int64 `json:"file_size,omitempty"`
}

// versionFile is the name under which a registered version's model file is served.
const versionFile = "model.driftd"

// cleanArtifactPath checks a relative artifact path: no leading '/', no empty,
// "." or ".." segment. A trailing '/' is dropped.
func cleanArtifactPath(p string) (string, error) {
	p = strings.TrimSuffix(p, "/")
	if p == "" {
		return "", nil
	}
	if strings.HasPrefix(p, "/") || strings.Contains(p, "\\") {
		return "", invalid("Invalid artifact path %q: it must be relative, with '/' between directories.", p)
	}
	for _, seg := range strings.Split(p, "/") {
		if seg == "" || seg == "." || seg == ".." {
			return "", invalid("Invalid artifact path %q: empty, '.' and '..' segments are not allowed.", p)
		}
	}
	return p, nil
}

// listDir lists the direct children of directory dir ("" = the root) among a
// run's artifacts; full makes paths relative to the root instead of to dir.
func listDir(artifacts map[string]int64, dir string, full bool) []fileInfo {
	prefix := ""
	if dir != "" {
		prefix = dir + "/"
	}
	dirs := map[string]bool{}
	out := []fileInfo{}
	for name, size := range artifacts {
		rest, ok := strings.CutPrefix(name, prefix)
		if !ok || rest == "" {
			continue
		}
		base := rest
		if prefix != "" && full {
			base = prefix + rest
		}
		if sub, _, isDir := strings.Cut(rest, "/"); isDir {
			if full {
				sub = prefix + sub
			}
			if !dirs[sub] {
				dirs[sub] = true
				out = append(out, fileInfo{Path: sub, IsDir: true})
			}
			continue
		}
		sz := size
		out = append(out, fileInfo{Path: base, FileSize: &sz})
	}
	sort.Slice(out, func(i, j int) bool { return out[i].Path < out[j].Path })
	return out
}

// artifactsList answers artifacts/list ?run_id=&path=&page_token= with
// {"root_uri", "files", "next_page_token"}; paths are relative to the run's root.
func (a *api) artifactsList(c echo.Context) (any, error) {
	var req struct {
		runRef
		Path      string `json:"path"`
		PageToken string `json:"page_token"`
	}
	if err := bind(c, &req); err != nil {
		return nil, err
	}
	id, err := req.id()
	if err != nil {
		return nil, err
	}
	dir, err := cleanArtifactPath(req.Path)
	if err != nil {
		return nil, err
	}
	offset, n, err := page(optInt{}, req.PageToken, artifactsPaging)
	if err != nil {
		return nil, err
	}
	r, err := a.store.GetRun(a.ctx(c), id)
	if err != nil {
		return nil, err
	}
	files, next := slicePage(listDir(r.Artifacts, dir, true), offset, n)
	out := map[string]any{"root_uri": runArtifactURI(&r), "files": files}
	if next != "" {
		out["next_page_token"] = next
	}
	return out, nil
}

// proxyTarget is what a proxy path names: a run artifact (or directory), or a
// registered version's file.
type proxyTarget struct {
	run            *registry.Run
	rest           string // path under the run's artifacts ("" = its root)
	model, version string // registry/<model>/<version>
	file           string // file under the version ("" = its directory)
	dirs           []fileInfo
}

// resolveProxy parses a proxy path: <experiment>/<run>/artifacts[/<path>] or
// registry/<model>/<version>[/model.driftd]. Shorter paths are directories
// listed with dirs filled. RESOURCE_DOES_NOT_EXIST when the run or experiment
// does not match.
func (a *api) resolveProxy(ctx context.Context, raw string) (proxyTarget, error) {
	p, err := url.PathUnescape(raw)
	if err != nil {
		return proxyTarget{}, invalid("Invalid artifact path %q: %v", raw, err)
	}
	if p, err = cleanArtifactPath(p); err != nil {
		return proxyTarget{}, err
	}
	segs := strings.SplitN(p, "/", 4)
	if segs[0] == "registry" {
		return a.resolveVersionPath(ctx, p, segs)
	}
	switch {
	case p == "":
		exps, err := a.store.ListExperiments(ctx)
		if err != nil {
			return proxyTarget{}, err
		}
		t := proxyTarget{dirs: []fileInfo{}}
		for _, e := range exps {
			t.dirs = append(t.dirs, fileInfo{Path: e.ID, IsDir: true})
		}
		return t, nil
	case len(segs) == 1:
		if _, err := a.store.GetExperiment(ctx, segs[0]); err != nil {
			return proxyTarget{}, err
		}
		runs, err := a.store.ListRuns(ctx, []string{segs[0]})
		if err != nil {
			return proxyTarget{}, err
		}
		t := proxyTarget{dirs: []fileInfo{}}
		for _, r := range runs {
			t.dirs = append(t.dirs, fileInfo{Path: r.ID, IsDir: true})
		}
		return t, nil
	}
	r, err := a.store.GetRun(ctx, segs[1])
	if err != nil {
		return proxyTarget{}, err
	}
	if r.ExperimentID != segs[0] {
		return proxyTarget{}, notFound("Run %s is in experiment %s, not %s.", r.ID, r.ExperimentID, segs[0])
	}
	switch {
	case len(segs) == 2:
		return proxyTarget{dirs: []fileInfo{{Path: "artifacts", IsDir: true}}}, nil
	case segs[2] != "artifacts":
		return proxyTarget{}, notFound("No artifact at %q: run artifacts are under %s/%s/artifacts/.", p, segs[0], segs[1])
	case len(segs) == 3:
		return proxyTarget{run: &r}, nil
	}
	return proxyTarget{run: &r, rest: segs[3]}, nil
}

// resolveVersionPath resolves registry/<model>/<version>[/model.driftd].
func (a *api) resolveVersionPath(ctx context.Context, p string, segs []string) (proxyTarget, error) {
	if len(segs) < 3 {
		return proxyTarget{}, notFound("No artifact directory %q: registered versions are at registry/<model>/<version>.", p)
	}
	v, err := a.store.MLflowVersionOf(ctx, segs[1], segs[2])
	if err != nil {
		return proxyTarget{}, err
	}
	if v.External != nil {
		return proxyTarget{}, notFound("No artifact at %q: version %d of %s is not scorable, driftd holds no file for it; its model is at %s.",
			p, v.Number, v.Name, v.External.Source)
	}
	t := proxyTarget{model: segs[1], version: v.Version.Version}
	if len(segs) == 3 {
		size := v.ArtifactSize
		t.dirs = []fileInfo{{Path: versionFile, FileSize: &size}}
		return t, nil
	}
	if segs[3] != versionFile {
		return proxyTarget{}, notFound("No artifact %q: a registered version holds only %s.", p, versionFile)
	}
	t.file = versionFile
	return t, nil
}

// proxyList answers GET mlflow-artifacts/artifacts?path= with {"files"}: the
// direct children of the directory, paths relative to it.
func (a *api) proxyList(c echo.Context) error {
	t, err := a.resolveProxy(a.ctx(c), c.QueryParam("path"))
	if err != nil {
		return err
	}
	return a.proxyListTarget(c, t)
}

// proxyDownload answers GET mlflow-artifacts/artifacts/<path> with the file's
// bytes; a directory path lists it, as the list route does.
func (a *api) proxyDownload(c echo.Context) error {
	ctx := a.ctx(c)
	t, err := a.resolveProxy(ctx, c.Param("*"))
	if err != nil {
		return err
	}
	var name string
	var data []byte
	switch {
	case t.file != "":
		name = t.file
		data, err = a.store.Artifact(ctx, t.model, t.version)
	case t.run != nil && t.rest != "" && hasArtifact(t.run, t.rest):
		name = t.rest
		data, err = a.store.RunArtifact(ctx, t.run.ID, t.rest)
	case t.run != nil && t.rest != "" && len(listDir(t.run.Artifacts, t.rest, false)) == 0:
		return notFound("Run %s has no artifact %q.", t.run.ID, t.rest)
	default:
		return a.proxyListTarget(c, t)
	}
	if err != nil {
		return err
	}
	ct := mime.TypeByExtension(path.Ext(name))
	if ct == "" {
		ct = echo.MIMEOctetStream
	}
	c.Response().Header().Set(echo.HeaderContentDisposition, mime.FormatMediaType("attachment", map[string]string{"filename": path.Base(name)}))
	return c.Blob(http.StatusOK, ct, data)
}

// proxyListTarget answers the listing of a directory target.
func (a *api) proxyListTarget(c echo.Context, t proxyTarget) error {
	files := t.dirs
	if t.run != nil {
		files = listDir(t.run.Artifacts, t.rest, false)
	}
	if files == nil {
		files = []fileInfo{}
	}
	return c.JSON(http.StatusOK, map[string]any{"files": files})
}

// hasArtifact reports whether the run has an artifact named exactly name.
func hasArtifact(r *registry.Run, name string) bool {
	_, ok := r.Artifacts[name]
	return ok
}

// proxyUpload answers PUT mlflow-artifacts/artifacts/<experiment>/<run>/artifacts/<path>
// (body: the file) with {}, storing the file with the run's artifacts. A file
// over the bound (Deps.MaxArtifactBytes, 64 MiB by default) is
// INVALID_PARAMETER_VALUE and stores nothing.
func (a *api) proxyUpload(c echo.Context) error {
	ctx := a.ctx(c)
	t, err := a.resolveProxy(ctx, c.Param("*"))
	if err != nil {
		return err
	}
	if t.run == nil || t.rest == "" {
		return invalid("Cannot upload to %q: upload a file under <experiment>/<run>/artifacts/.", c.Param("*"))
	}
	if c.Request().ContentLength > a.maxArtifact {
		return invalid("Artifact %q is %d bytes; driftd keeps artifacts of at most %d bytes.", t.rest, c.Request().ContentLength, a.maxArtifact)
	}
	data, err := io.ReadAll(io.LimitReader(c.Request().Body, a.maxArtifact+1))
	if err != nil {
		return invalid("Read artifact %q: %v", t.rest, err)
	}
	if int64(len(data)) > a.maxArtifact {
		return invalid("Artifact %q is larger than %d bytes, the most driftd keeps.", t.rest, a.maxArtifact)
	}
	if err := a.store.PutRunArtifact(ctx, t.run.ID, t.rest, data); err != nil {
		return err
	}
	return c.JSON(http.StatusOK, empty{})
}
