package server

import (
	"net/http"

	"github.com/labstack/echo/v4"
	"github.com/labstack/echo/v4/middleware"

	"driftd/server/mlflow"
	"driftd/web"
)

// routes registers every route of driftd; all of them are readable here.
func (a *App) routes(e *echo.Echo) {
	e.GET("/healthz", a.healthz)
	e.GET("/readyz", a.readyz)
	e.GET("/metrics", a.metricsHandler)
	e.GET("/api/v1/status", a.apiStatus)
	e.GET("/static/*", echo.WrapHandler(http.FileServer(http.FS(web.Static))))
	e.GET("/favicon.ico", a.favicon) // browsers ask for it whatever the <link> says
	a.pprofRoutes(e)

	// JSON API: mutating calls need the bearer token; reads need it or a UI
	// session (DRIFTD_OPEN_READS opens them). Status above stays open.
	api := e.Group("/api/v1", a.auth.requireAPI)
	a.servingRoutes(e) // POST /api/v1/models/:name/predict and /invocations: API or scoring token
	api.GET("/users", a.apiUserList, a.auth.requireToken)
	api.POST("/users", a.apiUserPut)
	// registry routes (models, versions, deployments, experiments, runs, backup)
	api.GET("/models", a.apiModelList)
	api.POST("/models", a.apiModelCreate)
	api.GET("/models/:name", a.apiModelGet)
	api.PATCH("/models/:name", a.apiModelUpdate)
	api.GET("/models/:name/versions", a.apiVersionList)
	api.POST("/models/:name/versions", a.apiVersionRegister)
	api.POST("/models/:name/versions/import", a.apiVersionImport) // an XGBoost or LightGBM model and its reference data
	api.GET("/models/:name/versions/:version", a.apiVersionGet)
	api.DELETE("/models/:name/versions/:version", a.apiVersionDelete)
	api.GET("/models/:name/versions/:version/artifact", a.apiVersionArtifact)
	api.POST("/models/:name/versions/:version/archive", a.apiVersionArchive)
	api.POST("/models/:name/versions/:version/unarchive", a.apiVersionUnarchive)
	api.POST("/models/:name/deploy", a.apiDeploy)
	api.POST("/models/:name/rollback", a.apiRollback)
	api.POST("/models/:name/undeploy", a.apiUndeploy)
	api.PUT("/models/:name/aliases/:alias", a.apiAliasSet)
	api.DELETE("/models/:name/aliases/:alias", a.apiAliasDelete)
	api.GET("/models/:name/deployments", a.apiDeployments)
	api.GET("/models/:name/deployed-at", a.apiDeployedAt)
	api.GET("/deployments", a.apiDeployments)
	api.GET("/experiments", a.apiExperimentList)
	api.POST("/experiments", a.apiExperimentCreate)
	api.GET("/experiments/:id", a.apiExperimentGet)
	api.GET("/runs", a.apiRunSearch)
	api.POST("/runs", a.apiRunCreate)
	api.GET("/runs/compare", a.apiRunCompare)
	api.GET("/runs/:id", a.apiRunGet)
	api.POST("/runs/:id/log", a.apiRunLog)
	api.POST("/runs/:id/finish", a.apiRunFinish)
	api.GET("/runs/:id/metric-history", a.apiRunMetricHistory)
	api.GET("/runs/:id/logs", a.apiRunLogs)
	api.PUT("/runs/:id/artifacts/*", a.apiRunArtifactPut)
	api.GET("/runs/:id/artifacts/*", a.apiRunArtifactGet)
	api.GET("/backup", a.apiBackup, a.auth.requireToken)
	api.GET("/kafka/topics", a.apiKafkaTopics)
	api.GET("/kafka/groups", a.apiKafkaGroups)
	api.GET("/kafka/topics/:topic/messages", a.apiKafkaMessages)
	api.POST("/kafka/topics/:topic/messages", a.apiKafkaProduce)
	api.GET("/scorer", a.apiScorer)
	api.GET("/drift", a.apiDrift)
	api.GET("/drift/history", a.apiDriftHistory) // ?model=&feature=&since=&max_points=
	api.POST("/metrics", a.apiCustomMetrics())   // custom gauges and counters, exported as driftd_custom_*
	api.POST("/train", a.apiTrain)
	api.GET("/train/jobs", a.apiTrainJobs)
	// flows, their runs and schedules (the scheduler), and the retrain loop
	api.GET("/flows", a.apiFlowList)
	api.POST("/flows/:flow/runs", a.apiFlowRunCreate)
	api.GET("/flow-runs", a.apiFlowRunList)
	api.GET("/flow-runs/:id", a.apiFlowRunGet)
	api.GET("/flow-runs/:id/logs", a.apiFlowRunLogs)
	api.POST("/flow-runs/:id/cancel", a.apiFlowRunCancel)
	api.GET("/schedules", a.apiScheduleList)
	api.POST("/schedules", a.apiScheduleCreate)
	api.GET("/schedules/:id", a.apiScheduleGet)
	api.PATCH("/schedules/:id", a.apiScheduleUpdate)
	api.DELETE("/schedules/:id", a.apiScheduleDelete)
	api.POST("/schedules/:id/run", a.apiScheduleRun)
	api.POST("/models/:name/approve", a.apiApprove)
	api.GET("/retrain/decisions", a.apiRetrainDecisions)
	mlflow.Register(e, mlflow.Deps{Store: a.store, Auth: a.auth.requireMLflow, Writer: requireRole(RoleOperator), User: func(c echo.Context) string { return currentUser(c).Name }, Logger: a.logger.With("component", "mlflow"), MaxArtifactBytes: min(a.cfg.MaxBodyBytes, mlflow.DefaultMaxArtifactBytes)}) // MLflow REST API 2.0 under /api/2.0/mlflow and /ajax-api/2.0/mlflow (issue 13)

	// UI: login, then pages; every form carries a CSRF token.
	csrf := middleware.CSRFWithConfig(middleware.CSRFConfig{
		TokenLookup:    "form:_csrf,header:X-CSRF-Token",
		CookieName:     "driftd_csrf",
		CookiePath:     "/",
		CookieHTTPOnly: true,
		CookieSameSite: http.SameSiteStrictMode,
		CookieSecure:   a.cfg.SecureCookies,
		ContextKey:     "csrf",
	})
	pub := e.Group("", csrf)
	pub.GET("/login", a.uiLoginForm)
	pub.POST("/login", a.uiLogin)

	ui := e.Group("", csrf, a.auth.requireLogin)
	ui.POST("/logout", a.uiLogout)
	ui.GET("/", a.uiOverview)
	ui.POST("/overview/sample-training", a.uiSampleTraining, requireRole(RoleOperator))
	ui.GET("/settings", a.uiSettings)
	ui.POST("/settings/users", a.uiUserAdd, requireRole(RoleAdmin))
	ui.GET("/models/:name", a.uiModel)
	ui.GET("/models/:name/versions/:version", a.uiModelVersion) // where it came from, parameters, importance
	ui.GET("/models/:name/diff", a.uiModelDiff)                 // two versions side by side: ?a=&b=
	ui.POST("/models/:name/deploy", a.uiDeploy, requireRole(RoleOperator))
	ui.POST("/models/:name/rollback", a.uiRollback, requireRole(RoleOperator))
	ui.POST("/models/:name/approve", a.uiApprove, requireRole(RoleOperator))
	ui.GET("/experiments/:id", a.uiExperiment)
	ui.GET("/runs/compare", a.uiRunCompare)
	ui.GET("/runs/:id", a.uiRun)
	ui.GET("/runs/:id/artifacts/:name", a.uiRunArtifact)
	ui.GET("/kafka/topics/:topic", a.uiTopic)
	ui.POST("/kafka/topics/:topic/produce", a.uiProduce, requireRole(RoleOperator))
	ui.POST("/training", a.uiTrainSubmit, requireRole(RoleOperator))
	ui.GET("/training/columns", a.uiTrainingColumns, requireRole(RoleOperator))
	ui.GET("/training/jobs/:id/chart", a.uiTrainingChart)
	ui.POST("/pipeline/scorer/pause", a.uiScorerPause, requireRole(RoleOperator))
	ui.POST("/pipeline/scorer/resume", a.uiScorerResume, requireRole(RoleOperator))
	ui.POST("/pipeline/producer/start", a.uiProducerStart, requireRole(RoleOperator))
	ui.POST("/pipeline/producer/stop", a.uiProducerStop, requireRole(RoleOperator))
	ui.POST("/pipeline/flows/:flow/runs", a.uiFlowSubmit, requireRole(RoleOperator))
	ui.GET("/flow-runs/:id", a.uiFlowRun)
	ui.POST("/flow-runs/:id/cancel", a.uiFlowRunCancel, requireRole(RoleOperator))
	ui.POST("/schedules", a.uiScheduleCreate, requireRole(RoleOperator))
	ui.GET("/schedules/:id", a.uiSchedule)
	ui.POST("/schedules/:id", a.uiScheduleUpdate, requireRole(RoleOperator))
	ui.POST("/schedules/:id/pause", a.uiSchedulePause, requireRole(RoleOperator))
	ui.POST("/schedules/:id/resume", a.uiScheduleResume, requireRole(RoleOperator))
	ui.POST("/schedules/:id/delete", a.uiScheduleDelete, requireRole(RoleOperator))
	ui.POST("/schedules/:id/run", a.uiScheduleRun, requireRole(RoleOperator))
	for _, s := range web.Sections() {
		if h := a.sectionHandler(s.Key); h != nil {
			ui.GET(s.Path, h)
		}
	}

	// ---- Flow runs list, bulk actions and log download; Kafka follow and lag history (issue 18) ----
	ui.GET("/flow-runs", a.uiFlowRuns) // ?flow=&state=&page=&format=csv
	ui.POST("/flow-runs/cancel", a.uiFlowRunsBulk("cancel"), requireRole(RoleOperator))
	ui.POST("/flow-runs/retry", a.uiFlowRunsBulk("retry"), requireRole(RoleOperator))
	ui.GET("/flow-runs/:id/logs.txt", a.uiFlowRunLogsText) // ?level=&q=
	api.POST("/flow-runs/cancel", a.apiFlowRunsBulk("cancel"), requireRole(RoleOperator))
	api.POST("/flow-runs/retry", a.apiFlowRunsBulk("retry"), requireRole(RoleOperator))
	ui.GET("/kafka/topics/:topic/follow", a.uiTopicFollow) // ?after=partition:offset,...&partition=&filter=
	ui.GET("/kafka/lag", a.uiKafkaLag(a.lag))              // ?range=1h|6h|24h&fragment=1; sampled once a minute
	// ---- end of issue 18 block ----
}
