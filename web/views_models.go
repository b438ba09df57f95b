package web

import (
	"net/url"
	"time"
)

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
	// Unscorable counts the versions driftd cannot score; LatestNotScorable
	// says why it cannot score the latest one ("" when it can).
	Unscorable        int
	LatestNotScorable string
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
	Source string
	// NotScorable says why driftd cannot score the version (registered
	// through MLflow from a source that is not a driftd model); "" when it can.
	NotScorable         string
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
	// Others are the model's other versions, newest first, to compare
	// this one with; CompareWith is the one picked first (the version
	// before this one, else the newest other).
	Others      []string
	CompareWith string
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
	// Deployable lists the versions that can be deployed (ready and
	// scorable), newest first.
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

// DiffMetricRow is one metric of two versions: both values and the change
// from A to B, classed "better" or "worse" when the metric says which way
// is good.
type DiffMetricRow struct {
	Key, A, B, Delta string
	// Class is "better", "worse" or "" (same, unknown direction, or absent).
	Class string
}

// DiffFeatureRow is one input of either version and how it changed.
type DiffFeatureRow struct {
	Name, TypeA, TypeB string
	// Change is "added", "removed", "type changed", "levels changed" or ""
	// (the same in both); Detail says more (which levels).
	Change, Detail string
}

// DiffDist is the reference distribution of one feature in both versions,
// on A's bins, with the PSI of B's reference against A's.
type DiffDist struct {
	Name string
	// Anchor is the id of its chart, which the PSI bars link to.
	Anchor string
	PSI    float64
	// Level is the PSI level (stable, moderate, major).
	Level string
	Chart *GroupedBars
}

// ModelDiffView is the view model of the comparison of two versions of a
// model: parameters, metrics, inputs, feature importance and the drift
// reference distributions.
type ModelDiffView struct {
	Model string
	// Versions are every version of the model, newest first, for the pickers.
	Versions []string
	// A and B are the compared versions; empty when the page has nothing
	// to compare (Notice says why).
	A, B   VersionRow
	Notice string
	// Params are the parameters of both (Values[0] is A's), the ones that
	// matter first; ParamsDiffer counts the rows that differ. OnlyDiff
	// keeps only those (?only=diff); OnlyDiffURL and AllURL toggle it.
	Params       []CompareRow
	ParamsDiffer int
	ParamsTotal  int
	OnlyDiff     bool
	OnlyDiffURL  string
	AllURL       string
	SwapURL      string
	Metrics      []DiffMetricRow
	Features     []DiffFeatureRow
	// FeaturesChanged counts the inputs added, removed or changed.
	FeaturesChanged int
	// ImportanceA and ImportanceB are the versions' feature importance on
	// one scale and in one order; ImportanceKind says what they measure,
	// ImportanceNote why one is missing.
	ImportanceA, ImportanceB *HBarChart
	ImportanceKind           string
	ImportanceNote           string
	// PSIBars is the PSI of each shared feature, largest first; Dists the
	// distributions in that order (at most DistLimit); DistNote says why
	// some or all are missing.
	PSIBars  *HBarChart
	Dists    []DiffDist
	DistMore int
	DistNote string
}

// DiffURL is the address of the comparison of versions a and b of model.
func DiffURL(model, a, b string, onlyDiff bool) string {
	u := "/models/" + url.PathEscape(model) + "/diff?a=" + url.QueryEscape(a) + "&b=" + url.QueryEscape(b)
	if onlyDiff {
		u += "&only=diff"
	}
	return u
}

// changeClass colours an input's change on the version diff.
func changeClass(change string) string {
	switch change {
	case "removed", "type changed":
		return "bad"
	case "added", "levels changed":
		return "warn"
	}
	return ""
}
