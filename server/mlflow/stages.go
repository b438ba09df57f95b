package mlflow

import (
	"context"
	"errors"
	"slices"

	"github.com/labstack/echo/v4"

	"driftd/registry"
)

// MLflow's stages are driftd's deployments: Staging and Production deploy the
// version to the environments staging and production (the scorer follows
// production), Archived undeploys it from both and archives it, None undeploys
// it and unarchives it. Every change is a registry call that records the
// change, with the reason "MLflow transition-stage to <stage>", in the audit
// history. A version in an environment MLflow has no stage for (dev) keeps it.
// A version driftd cannot score (an external one) cannot be deployed, so
// Staging and Production refuse it with INVALID_PARAMETER_VALUE, before
// changing anything, rather than record a stage the scorer would not follow;
// None and Archived apply to it as to any version, and aliases may point at it.

// versionTransition answers model-versions/transition-stage {name, version,
// stage, archive_existing_versions} with {"model_version"}.
func (a *api) versionTransition(c echo.Context) (any, error) {
	req, err := bindVersion(c, false)
	if err != nil {
		return nil, err
	}
	stage := canonicalStage(req.Stage)
	if stage == "" {
		return nil, invalid("Invalid Model Version stage: %q. Value must be one of None, Staging, Production, Archived.", req.Stage)
	}
	if req.ArchiveExistingVersions.V && stage != stageStaging && stage != stageProduction {
		return nil, invalid("archive_existing_versions applies only to the Staging and Production stages, not %s.", stage)
	}
	ctx := a.ctx(c)
	v, err := a.store.MLflowVersionOf(ctx, req.Name, req.Version)
	if err != nil {
		return nil, err
	}
	reason := "MLflow transition-stage to " + stage
	switch stage {
	case stageStaging, stageProduction:
		if v.External != nil {
			return nil, invalid("Version %d of registered model %s cannot enter stage %s: driftd cannot score it (%s; source %s), "+
				"and driftd's Staging and Production stages are deployments to its environments %q and %q. "+
				"It can be None or Archived; to find it by name, point an alias at it (models:/%s@<alias>).",
				v.Number, v.Name, stage, v.External.Reason, v.External.Source, envStaging, envProduction, v.Name)
		}
		err = a.promote(ctx, &v.Version, stage, req.ArchiveExistingVersions.V, reason)
	case stageArchived:
		err = a.archive(ctx, &v.Version, reason)
	default:
		err = a.unstage(ctx, &v.Version, reason)
	}
	if err != nil {
		return nil, err
	}
	return a.versionAnswer(ctx, req.Name, req.Version)
}

// environmentOf is the driftd environment of the Staging or Production stage;
// INVALID_PARAMETER_VALUE when driftd runs without it.
func (a *api) environmentOf(stage string) (string, error) {
	env := envStaging
	if stage == stageProduction {
		env = envProduction
	}
	if !slices.Contains(a.store.Environments(), env) {
		return "", invalid("Stage %s is driftd's environment %q, which this server does not have (environments: %v).", stage, env, a.store.Environments())
	}
	return env, nil
}

// promote deploys v to the environment of stage (unarchiving it first), and
// with archiveOthers archives the version it replaced there when nothing else
// points at it.
func (a *api) promote(ctx context.Context, v *registry.Version, stage string, archiveOthers bool, reason string) error {
	env, err := a.environmentOf(stage)
	if err != nil {
		return err
	}
	if v.Status == registry.StatusArchived {
		if err := a.store.Unarchive(ctx, v.Name, v.Version, reason); err != nil {
			return err
		}
	}
	prev, err := a.store.Deployed(ctx, v.Name, env)
	if err != nil && !errors.Is(err, registry.ErrNotFound) {
		return err
	}
	if err := a.store.Deploy(ctx, v.Name, v.Version, env, reason); err != nil {
		return err
	}
	if !archiveOthers || prev.Version == "" || prev.Version == v.Version {
		return nil
	}
	err = a.store.Archive(ctx, v.Name, prev.Version, reason+" (archive_existing_versions)")
	if errors.Is(err, registry.ErrConflict) {
		return nil // still deployed elsewhere or aliased: it keeps that stage
	}
	return err
}

// archive undeploys v from staging and production and archives it. It refuses
// (INVALID_PARAMETER_VALUE, before changing anything) a version that an alias
// or another environment points at.
func (a *api) archive(ctx context.Context, v *registry.Version, reason string) error {
	if len(v.Aliases) > 0 {
		return invalid("Version %s of %s is the target of alias %q: move or delete the alias before archiving it.", v.Version, v.Name, v.Aliases[0])
	}
	for _, env := range v.Environments {
		if env != envStaging && env != envProduction {
			return invalid("Version %s of %s is deployed in driftd's environment %q, which has no MLflow stage: undeploy it there first.", v.Version, v.Name, env)
		}
	}
	if err := a.undeploy(ctx, v, reason); err != nil {
		return err
	}
	return a.store.Archive(ctx, v.Name, v.Version, reason)
}

// unstage undeploys v from staging and production and unarchives it.
func (a *api) unstage(ctx context.Context, v *registry.Version, reason string) error {
	if err := a.undeploy(ctx, v, reason); err != nil {
		return err
	}
	if v.Status == registry.StatusArchived {
		return a.store.Unarchive(ctx, v.Name, v.Version, reason)
	}
	return nil
}

// undeploy clears staging and production where v is deployed.
func (a *api) undeploy(ctx context.Context, v *registry.Version, reason string) error {
	for _, env := range []string{envStaging, envProduction} {
		if slices.Contains(v.Environments, env) {
			if err := a.store.Undeploy(ctx, v.Name, env, reason); err != nil {
				return err
			}
		}
	}
	return nil
}
