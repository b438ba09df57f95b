package mlflow

import (
	"context"
	"fmt"
	"net/url"
	"sort"
	"strings"

	"driftd/registry"
	"driftd/server/flows"
	"driftd/train"
)

// A model version's source is a run's artifact: runs:/<run>/<path>, or the
// same as the artifact proxy writes it, mlflow-artifacts:/<experiment>/<run>/artifacts/<path>
// (MLflow's register_model resolves runs:/ URIs into the latter). The path is
// one artifact or a directory of them (MLflow's model directory: MLmodel,
// model.json, conda.yaml, ...). driftd registers what it can score: a driftd
// model file, or an XGBoost (JSON, UBJSON) or LightGBM (text) model converted
// to one.

// maxSourceFiles bounds how many files of a model directory are tried.
const maxSourceFiles = 64

// sourceRef is a parsed source URI.
type sourceRef struct {
	runID string
	path  string // artifact path in the run ("" = its root)
}

// parseSource parses runs:/ and mlflow-artifacts: URIs.
func parseSource(source string) (sourceRef, error) {
	u, err := url.Parse(source)
	if err != nil {
		return sourceRef{}, invalid("Invalid value %q for parameter 'source': %v", source, err)
	}
	p := strings.TrimPrefix(u.Path, "/")
	switch u.Scheme {
	case "runs":
		id, rest, _ := strings.Cut(p, "/")
		if id == "" {
			return sourceRef{}, invalid("Invalid source %q: expected runs:/<run_id>/<artifact path>.", source)
		}
		return sourceRef{runID: id, path: strings.TrimSuffix(rest, "/")}, nil
	case "mlflow-artifacts":
		segs := strings.SplitN(p, "/", 4)
		if len(segs) < 3 || segs[2] != "artifacts" {
			return sourceRef{}, invalid("Invalid source %q: expected mlflow-artifacts:/<experiment>/<run>/artifacts/<path>.", source)
		}
		ref := sourceRef{runID: segs[1]}
		if len(segs) == 4 {
			ref.path = strings.TrimSuffix(segs[3], "/")
		}
		return ref, nil
	}
	return sourceRef{}, invalid("Unsupported source %q: driftd registers models from run artifacts (runs:/<run_id>/<path> or mlflow-artifacts:/...).", source)
}

// sourceURI is where MLflow clients download a source from: the run's
// artifacts in the proxy.
func sourceURI(r *registry.Run, ref sourceRef) string {
	u := runArtifactURI(r)
	if ref.path != "" {
		u += "/" + ref.path
	}
	return u
}

// sourceModel reads the model named by a source: the artifact itself, or the
// files of the directory. It returns the driftd model file to register (a
// converted one for XGBoost and LightGBM) and its registration metadata, or
// INVALID_PARAMETER_VALUE saying what was found and what can be registered.
func (a *api) sourceModel(ctx context.Context, r *registry.Run, ref sourceRef) ([]byte, registry.RegisterOptions, error) {
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
		return nil, registry.RegisterOptions{}, notFound("Run %s has no artifact %q.", r.ID, ref.path)
	}
	if len(names) > maxSourceFiles {
		names = names[:maxSourceFiles]
	}
	var tried []string
	var converted *train.Model
	for _, name := range names {
		data, err := a.store.RunArtifact(ctx, r.ID, name)
		if err != nil {
			return nil, registry.RegisterOptions{}, err
		}
		if m, err := train.Decode(data); err == nil {
			opts, err := flows.RegisterOptions(m)
			if err != nil {
				return nil, registry.RegisterOptions{}, invalid("Artifact %q of run %s: %v", name, r.ID, err)
			}
			return data, opts, nil
		} else if strings.HasPrefix(string(data[:min(len(data), 8)]), "DRIFTDMD") {
			return nil, registry.RegisterOptions{}, invalid("Artifact %q of run %s is a damaged driftd model file: %v", name, r.ID, err)
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
			return nil, registry.RegisterOptions{}, fmt.Errorf("encode converted model: %w", err)
		}
		opts, err := flows.RegisterOptions(converted)
		if err != nil {
			return nil, registry.RegisterOptions{}, invalid("converted model of run %s: %v", r.ID, err)
		}
		return data, opts, nil
	}
	return nil, registry.RegisterOptions{}, invalid("Cannot register %q of run %s: driftd registers only driftd model files, "+
		"XGBoost models saved as JSON or UBJSON (mlflow.xgboost.log_model(..., model_format=\"json\")) and LightGBM text models; "+
		"none of the %d file(s) is one: %s", ref.path, r.ID, len(names), strings.Join(tried, "; "))
}

// clip shortens an error message for a list of them.
func clip(s string) string {
	const n = 160
	if len(s) <= n {
		return s
	}
	return s[:n] + "..."
}
