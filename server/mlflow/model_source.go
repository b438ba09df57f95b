package mlflow

import (
	"context"
	"errors"
	"fmt"
	"net/url"
	"sort"
	"strings"

	"driftd/registry"
	"driftd/server/flows"
	"driftd/train"
)

// A model version's source is where its model lives. driftd reads three
// kinds: a run's artifact, runs:/<run>/<path> or as the artifact proxy writes
// it, mlflow-artifacts:/<experiment>/<run>/artifacts/<path> (MLflow's
// register_model resolves runs:/ URIs into the latter), and a registered
// version, models:/<model>/<version> (MLflow's copy_model_version sends it;
// the version is a number, a semver, a stage or @alias) or
// mlflow-artifacts:/registry/<model>/<version>. A run path is one artifact or
// a directory of them (MLflow's model directory: MLmodel, model.json,
// conda.yaml, ...).
//
// What driftd can score (a driftd model file, or an XGBoost (JSON, UBJSON) or
// LightGBM (text) model converted to one) becomes a scorable version. Any
// other model, and any source of another scheme (s3://, gs://, https://,
// dbfs:/, ...), is kept as an external version: registered with its source,
// tags and aliases, marked not scorable with the reason, never deployed. A
// source naming a run, artifact or version driftd does not have is
// RESOURCE_DOES_NOT_EXIST; a local path or one with '..' segments is
// INVALID_PARAMETER_VALUE, as MLflow's server answers them.

// maxSourceFiles bounds how many files of a model directory are tried.
const maxSourceFiles = 64

// maxReason bounds the reason recorded for an external version.
const maxReason = 1000

// sourceRef is a parsed source URI: a run's artifact, a registered version,
// or (external set) a place driftd does not read.
type sourceRef struct {
	runID string
	path  string // artifact path in the run ("" = its root)

	model, version string // a registered version: number, semver, stage or "@alias"

	external string // why driftd does not read the source; "" when it does
}

// parseSource parses a source URI. It returns INVALID_PARAMETER_VALUE for a
// malformed URI, a local path and '..' segments.
func parseSource(source string) (sourceRef, error) {
	u, err := url.Parse(source)
	if err != nil {
		return sourceRef{}, invalid("Invalid value %q for parameter 'source': %v", source, err)
	}
	for _, seg := range strings.Split(u.Path, "/") {
		if seg == ".." {
			return sourceRef{}, invalid("Invalid model version source: %q. If supplying a source as an http, https, local file path, ftp, objectstore, "+
				"or mlflow-artifacts uri, an absolute path must be provided without relative path references present. Please provide an absolute path.", source)
		}
	}
	p := strings.TrimPrefix(u.Path, "/")
	switch strings.ToLower(u.Scheme) {
	case "", "file":
		return sourceRef{}, invalid("Invalid model version source: %q. A local path is on the client's machine: log the model to a run "+
			"(its artifacts live in driftd) and register runs:/<run_id>/<path>.", source)
	case "runs":
		id, rest, _ := strings.Cut(p, "/")
		if id == "" {
			return sourceRef{}, invalid("Invalid source %q: expected runs:/<run_id>/<artifact path>.", source)
		}
		return sourceRef{runID: id, path: strings.TrimSuffix(rest, "/")}, nil
	case "models":
		name, version, ok := strings.Cut(strings.TrimSuffix(p, "/"), "/")
		if !ok {
			if name, alias, ok := strings.Cut(p, "@"); ok && name != "" && alias != "" {
				return sourceRef{model: name, version: "@" + alias}, nil
			}
		}
		if name == "" || version == "" || strings.Contains(version, "/") {
			return sourceRef{}, invalid("Invalid source %q: expected models:/<name>/<version> or models:/<name>@<alias>.", source)
		}
		return sourceRef{model: name, version: version}, nil
	case "mlflow-artifacts":
		segs := strings.SplitN(p, "/", 4)
		if segs[0] == "registry" {
			if len(segs) < 3 || len(segs) == 4 && strings.TrimSuffix(segs[3], "/") != versionFile {
				return sourceRef{}, invalid("Invalid source %q: expected mlflow-artifacts:/registry/<model>/<version>[/%s].", source, versionFile)
			}
			return sourceRef{model: segs[1], version: segs[2]}, nil
		}
		if len(segs) < 3 || segs[2] != "artifacts" {
			return sourceRef{}, invalid("Invalid source %q: expected mlflow-artifacts:/<experiment>/<run>/artifacts/<path>.", source)
		}
		ref := sourceRef{runID: segs[1]}
		if len(segs) == 4 {
			ref.path = strings.TrimSuffix(segs[3], "/")
		}
		return ref, nil
	}
	return sourceRef{external: fmt.Sprintf("driftd does not read models from %s: URIs; it scores models logged to its runs "+
		"(runs:/, mlflow-artifacts:/) or registered in it (models:/)", u.Scheme)}, nil
}

// sourceURI is where MLflow clients download a run source from: the run's
// artifacts in the proxy.
func sourceURI(r *registry.Run, ref sourceRef) string {
	u := runArtifactURI(r)
	if ref.path != "" {
		u += "/" + ref.path
	}
	return u
}

// sourced is what a source resolves to: a model file with its registration
// metadata, or the reason driftd cannot score it; runID is the run it came
// from ("" = none).
type sourced struct {
	artifact []byte
	opts     registry.RegisterOptions
	reason   string
	runID    string
}

// resolveSource reads the model named by ref. Errors are
// RESOURCE_DOES_NOT_EXIST for a run, artifact or version driftd does not
// have, and the store's failures.
func (a *api) resolveSource(ctx context.Context, ref sourceRef) (sourced, error) {
	switch {
	case ref.external != "":
		return sourced{reason: ref.external}, nil
	case ref.model != "":
		return a.versionModel(ctx, ref)
	}
	r, err := a.store.GetRun(ctx, ref.runID)
	if err != nil {
		return sourced{}, err
	}
	out, err := a.sourceModel(ctx, &r, ref)
	out.runID = r.ID
	return out, err
}

// versionModel copies a registered version: its model file, profile and
// metadata; the reason of an external one.
func (a *api) versionModel(ctx context.Context, ref sourceRef) (sourced, error) {
	var v registry.Version
	if alias, ok := strings.CutPrefix(ref.version, "@"); ok {
		av, err := a.store.AliasVersion(ctx, ref.model, alias)
		if err != nil {
			return sourced{}, err
		}
		v = av
	} else {
		vs, err := a.store.MLflowVersions(ctx, ref.model)
		if err != nil {
			return sourced{}, err
		}
		if st := canonicalStage(ref.version); st != "" {
			latest := latestPerStage(vs, []string{st})
			if len(latest) == 0 {
				return sourced{}, notFound("Registered model %q has no version in stage %s.", ref.model, st)
			}
			ref.version = latest[0].Version
		}
		mv, err := a.store.MLflowVersionOf(ctx, ref.model, ref.version)
		if err != nil {
			return sourced{}, err
		}
		v = mv.Version
	}
	if v.External != nil {
		return sourced{reason: fmt.Sprintf("a copy of version %s of %s, which driftd cannot score: %s", v.Version, v.Name, v.External.Reason), runID: v.RunID}, nil
	}
	art, err := a.store.Artifact(ctx, v.Name, v.Version)
	if err != nil {
		return sourced{}, err
	}
	profile, err := a.store.Profile(ctx, v.Name, v.Version)
	if err != nil && !errors.Is(err, registry.ErrNotFound) {
		return sourced{}, err
	}
	return sourced{artifact: art, runID: v.RunID, opts: registry.RegisterOptions{Algo: v.Algo, Params: v.Params, Metrics: v.Metrics,
		Schema: v.Schema, Profile: profile, Fingerprint: v.Fingerprint}}, nil
}

// sourceModel reads the model named by a run source: the artifact itself, or
// the files of the directory. It returns the driftd model file to register (a
// converted one for XGBoost and LightGBM) and its registration metadata, or
// the reason none of the files is a model driftd scores.
func (a *api) sourceModel(ctx context.Context, r *registry.Run, ref sourceRef) (sourced, error) {
	var names []string
	if _, ok := r.Artifacts[ref.path]; ok && ref.path != "" {
		names = []string{ref.path}
	} else {
		prefix := ""
		if ref.path != "" {
			prefix = ref.path + "/"
		}
		for name := range r.Artifacts {
			if strings.HasPrefix(name, prefix) {
				names = append(names, name)
			}
		}
		sort.Strings(names)
	}
	if len(names) == 0 {
		return sourced{}, notFound("Run %s has no artifact %q.", r.ID, ref.path)
	}
	if len(names) > maxSourceFiles {
		names = names[:maxSourceFiles]
	}
	var tried []string
	var converted *train.Model
	for _, name := range names {
		data, err := a.store.RunArtifact(ctx, r.ID, name)
		if err != nil {
			return sourced{}, err
		}
		if m, err := train.Decode(data); err == nil {
			opts, err := flows.RegisterOptions(m)
			if err != nil {
				return sourced{reason: fmt.Sprintf("artifact %q of run %s: %v", name, r.ID, err)}, nil
			}
			return sourced{artifact: data, opts: opts}, nil
		} else if strings.HasPrefix(string(data[:min(len(data), 8)]), "DRIFTDMD") {
			return sourced{reason: fmt.Sprintf("artifact %q of run %s is a damaged driftd model file: %v", name, r.ID, err)}, nil
		}
		if converted != nil {
			continue
		}
		m, xerr := train.ImportXGBoost(data)
		if xerr != nil {
			var lerr error
			if m, lerr = train.ImportLightGBM(data); lerr != nil {
				tried = append(tried, fmt.Sprintf("%s (%v; %v)", name, clip(xerr.Error()), clip(lerr.Error())))
				continue
			}
		}
		converted = m
	}
	if converted != nil {
		data, err := converted.MarshalBinary()
		if err != nil {
			return sourced{}, fmt.Errorf("encode converted model: %w", err)
		}
		opts, err := flows.RegisterOptions(converted)
		if err != nil {
			return sourced{reason: fmt.Sprintf("converted model of run %s: %v", r.ID, err)}, nil
		}
		return sourced{artifact: data, opts: opts}, nil
	}
	return sourced{reason: fmt.Sprintf("driftd scores only driftd model files, XGBoost models saved as JSON or UBJSON "+
		"(mlflow.xgboost.log_model(..., model_format=\"json\")) and LightGBM text models; none of the %d file(s) of %q in run %s is one: %s",
		len(names), ref.path, r.ID, strings.Join(tried, "; "))}, nil
}

// clip shortens an error message for a list of them.
func clip(s string) string {
	return clipTo(s, 160)
}

// clipTo shortens s to at most n bytes (and a valid UTF-8 ending), marking the cut.
func clipTo(s string, n int) string {
	if len(s) <= n {
		return s
	}
	cut := n
	for cut > 0 && s[cut]&0xC0 == 0x80 {
		cut--
	}
	return s[:cut] + "..."
}
