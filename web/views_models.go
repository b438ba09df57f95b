package web

import "time"

// ModelRow is one registered model on the Models page.
type ModelRow struct {
	Name, Description string
	Versions          int
	Latest            string
	// Environments maps an environment to its deployed version, in the
	// configured environment order.
	Environments []KV
	Aliases      []KV
	Updated      time.Time
}

// ModelsView is the view model of the Models page.
type ModelsView struct {
	Models []ModelRow
}

// VersionRow is one version of a model.
type VersionRow struct {
	Version, Algo, Objective string
	// Metrics are the key training metrics (auc, accuracy, rmse, ...).
	Metrics            []KV
	Created            time.Time
	CreatedBy, Status  string
	Environments       []string
	Aliases            []string
	RunID, Description string
	// Source says where the version came from: "driftd training",
	// "XGBoost import" or "LightGBM import".
	Source              string
	ArtifactSize        int64
	HasProfile          bool
	Features, Rows      int
	FingerprintChecksum string
}

// ModelVersionView is the view model of one version's page: where it came
// from, its parameters as recorded (for an import, as read from the model
// file), metrics, inputs and feature importance.
type ModelVersionView struct {
	Model   string
	Version VersionRow
	// Params are the version's parameters, sorted by name.
	Params []KV
	// Metrics are all the version's metrics, sorted by name.
	Metrics []KV
	// Inputs are the model's features in model order: name and type.
	Inputs []KV
	// Importance is the feature importance bar chart (nil when the model
	// has none); ImportanceKind says what it measures.
	Importance     *HBarChart
	ImportanceKind string
	// Fingerprint is the reference (or training) data's SHA-256.
	Fingerprint string
}

// HistoryRow is one deployment history entry.
type HistoryRow struct {
	Time                             time.Time
	User, Action, Environment, Alias string
	From, To, Reason                 string
}

// EnvRow is one environment of a model and the version deployed there.
type EnvRow struct {
	Name, Version string
	// CanRollback is set when the environment has a previous version to return to.
	CanRollback bool
	// Previous is the version a rollback returns to.
	Previous string
	// NeedsReason is set where a change needs a reason (production).
	NeedsReason bool
}

// ModelConfirm is a deployment change waiting for the operator's
// confirmation: what changes where, from which version to which.
type ModelConfirm struct {
	// Action is "deploy" or "rollback".
	Action, Environment string
	From, To, Reason    string
	NeedsReason         bool
}

// ModelView is the view model of one model's page.
type ModelView struct {
	Name, Description string
	Environments      []EnvRow
	Versions          []VersionRow
	// Deployable lists the versions that can be deployed (status ready), newest first.
	Deployable []string
	History    []HistoryRow
	// CanDeploy is set for operators and admins.
	CanDeploy bool
	Message   string
	Error     string
	// Confirm is the change the page asks to confirm; nil when none.
	Confirm *ModelConfirm
}

// uploadExample is the shell command that registers a model file with this
// server: its real address and where its API token is.
func uploadExample(baseURL, tokenRef string) string {
	return "curl -H \"Authorization: Bearer " + tokenRef + "\" \\\n" +
		"  -H \"Content-Type: application/octet-stream\" \\\n" +
		"  --data-binary @m.drift " + baseURL + "/api/v1/models/NAME/versions"
}
