package mlflow

import (
	"maps"
	"slices"
	"strconv"
	"strings"

	"driftd/registry"
)

// MLflow's model version stages, and the driftd environments two of them are.
const (
	stageNone       = "None"
	stageStaging    = "Staging"
	stageProduction = "Production"
	stageArchived   = "Archived"
	envStaging      = "staging"
	envProduction   = "production"
)

// allStages lists MLflow's stages in the order get-latest-versions answers them.
var allStages = []string{stageNone, stageStaging, stageProduction, stageArchived}

// canonicalStage spells a stage as MLflow does ("production" -> "Production");
// "" when s is no stage.
func canonicalStage(s string) string {
	for _, st := range allStages {
		if strings.EqualFold(s, st) {
			return st
		}
	}
	return ""
}

// stageOf is the MLflow stage of a driftd version: Production when deployed in
// production, else Staging when deployed in staging, else Archived when
// archived, else None (a version deployed only in another environment, such as
// dev, is None to MLflow).
func stageOf(v *registry.Version) string {
	switch {
	case slices.Contains(v.Environments, envProduction):
		return stageProduction
	case slices.Contains(v.Environments, envStaging):
		return stageStaging
	case v.Status == registry.StatusArchived:
		return stageArchived
	}
	return stageNone
}

// modelVersionJSON is MLflow's ModelVersion.
type modelVersionJSON struct {
	Name                 string     `json:"name"`
	Version              string     `json:"version"`
	CreationTimestamp    int64      `json:"creation_timestamp"`
	LastUpdatedTimestamp int64      `json:"last_updated_timestamp"`
	UserID               string     `json:"user_id"`
	CurrentStage         string     `json:"current_stage"`
	Description          string     `json:"description"`
	Source               string     `json:"source"`
	RunID                string     `json:"run_id"`
	Status               string     `json:"status"`
	StatusMessage        string     `json:"status_message,omitempty"`
	Tags                 []keyValue `json:"tags"`
	RunLink              string     `json:"run_link"`
	Aliases              []string   `json:"aliases"`
}

// versionSource is the source MLflow shows for a version: the URI given when
// MLflow registered it, else the version's own file in the artifact proxy.
func versionSource(v *registry.MLflowVersion) string {
	if v.Source != "" {
		return v.Source
	}
	return registryURI(&v.Version)
}

// registryURI is a scorable version's model file in the artifact proxy.
func registryURI(v *registry.Version) string {
	return "mlflow-artifacts:/registry/" + v.Name + "/" + v.Version
}

// versionOf converts a numbered version.
func versionOf(v *registry.MLflowVersion) modelVersionJSON {
	updated := v.Updated
	if updated.Before(v.Created) {
		updated = v.Created
	}
	aliases := v.Aliases
	if aliases == nil {
		aliases = []string{}
	}
	return modelVersionJSON{Name: v.Name, Version: strconv.FormatInt(v.Number, 10), CreationTimestamp: millis(v.Created),
		LastUpdatedTimestamp: millis(updated), UserID: v.CreatedBy, CurrentStage: stageOf(&v.Version),
		Description: v.Description, Source: versionSource(v), RunID: v.RunID, Status: "READY", Tags: kvs(v.Tags),
		RunLink: v.RunLink, Aliases: aliases, StatusMessage: statusMessage(&v.Version)}
}

// statusMessage says why driftd cannot score an external version ("" for a
// scorable one); MLflow clients show a READY version's status_message.
func statusMessage(v *registry.Version) string {
	if v.External == nil {
		return ""
	}
	return "Registered, not scorable by driftd: " + v.External.Reason + ". It cannot enter the Staging or Production stage."
}

// versionField is the value of a filter or order_by identifier of a version.
func versionField(v modelVersionJSON) fielder {
	return func(id Ident) value {
		if id.Kind == kindTag {
			for _, t := range v.Tags {
				if t.Key == id.Key {
					return textValue(t.Value)
				}
			}
			return value{}
		}
		switch id.Key {
		case "name":
			return textValue(v.Name)
		case "run_id":
			return textValue(v.RunID)
		case "source_path":
			return textValue(v.Source)
		case "current_stage":
			return textValue(v.CurrentStage)
		case "version_number":
			n, _ := strconv.ParseFloat(v.Version, 64)
			return value{text: v.Version, num: n, ok: true}
		case "creation_timestamp":
			return numValue(float64(v.CreationTimestamp))
		case "last_updated_timestamp":
			return numValue(float64(v.LastUpdatedTimestamp))
		}
		return value{}
	}
}

// aliasJSON is MLflow's RegisteredModelAlias.
type aliasJSON struct {
	Alias   string `json:"alias"`
	Version string `json:"version"`
}

// registeredModelJSON is MLflow's RegisteredModel.
type registeredModelJSON struct {
	Name                 string             `json:"name"`
	CreationTimestamp    int64              `json:"creation_timestamp"`
	LastUpdatedTimestamp int64              `json:"last_updated_timestamp"`
	Description          string             `json:"description"`
	LatestVersions       []modelVersionJSON `json:"latest_versions"`
	Tags                 []keyValue         `json:"tags"`
	Aliases              []aliasJSON        `json:"aliases"`
}

// latestPerStage returns the highest-numbered version of each stage, in
// allStages order, for the stages asked (all when none).
func latestPerStage(vs []registry.MLflowVersion, stages []string) []modelVersionJSON {
	if len(stages) == 0 {
		stages = allStages
	}
	out := []modelVersionJSON{}
	for _, st := range allStages {
		if !slices.Contains(stages, st) {
			continue
		}
		for i := len(vs) - 1; i >= 0; i-- {
			if stageOf(&vs[i].Version) == st {
				out = append(out, versionOf(&vs[i]))
				break
			}
		}
	}
	return out
}

// modelOf converts a model with its numbered versions.
func modelOf(m *registry.Model, vs []registry.MLflowVersion) registeredModelJSON {
	numbers := map[string]string{}
	for _, v := range vs {
		numbers[v.Version.Version] = strconv.FormatInt(v.Number, 10)
	}
	out := registeredModelJSON{Name: m.Name, CreationTimestamp: millis(m.Created), LastUpdatedTimestamp: millis(m.Updated),
		Description: m.Description, LatestVersions: latestPerStage(vs, nil), Tags: kvs(m.Tags), Aliases: []aliasJSON{}}
	if m.Updated.Before(m.Created) {
		out.LastUpdatedTimestamp = out.CreationTimestamp
	}
	for _, alias := range slices.Sorted(maps.Keys(m.Aliases)) {
		if n, ok := numbers[m.Aliases[alias]]; ok {
			out.Aliases = append(out.Aliases, aliasJSON{Alias: alias, Version: n})
		}
	}
	return out
}

// modelField is the value of a filter or order_by identifier of a registered model.
func modelField(m registeredModelJSON) fielder {
	return func(id Ident) value {
		if id.Kind == kindTag {
			for _, t := range m.Tags {
				if t.Key == id.Key {
					return textValue(t.Value)
				}
			}
			return value{}
		}
		switch id.Key {
		case "name":
			return textValue(m.Name)
		case "creation_timestamp":
			return numValue(float64(m.CreationTimestamp))
		case "last_updated_timestamp":
			return numValue(float64(m.LastUpdatedTimestamp))
		}
		return value{}
	}
}
