// Issue 13's compatibility scenario, driven by the Node.js MLflow client (npm
// "mlflow"): create an experiment, a run, log params, metrics and a batch, set
// and delete tags, end the run, search, and read the metric history back.
// Then a model version driftd cannot score: the client has no model registry
// calls, so its request layer (MLflowBase.req: the same URL scheme, headers
// and error handling) sends them: create a registered model, a version from
// an s3:// URI, read it back with get and search, and try Production.
// Usage: node compat.js <dir with node_modules/mlflow> <endpoint> <token>
// Prints one JSON line with what the client read back. The client logs each
// POST body on stdout; the result is the last line.
const { createRequire } = require('node:module');
const req = createRequire(process.argv[2] + '/node_modules/');
const MLflow = req('mlflow');
const { ViewType } = req('mlflow/enum');
const { MLflowBase } = req('mlflow/lib/mlflow');

// Registry is the client's request layer on MLflow's model registry routes.
class Registry extends MLflowBase {
  constructor(args) { super(args); this.path = ''; }
  call(method, path, param) { return this.req(method, path, param); }
}

(async () => {
  const client = new MLflow({ endpoint: process.argv[3], headers: { Authorization: 'Bearer ' + process.argv[4] } });
  const { Experiments, Runs, Metrics, Artifacts } = client;
  const { experiment_id } = await Experiments.create({ name: 'node-client' });
  await Experiments.update({ experiment_id, new_name: 'node-client-renamed' });
  const { experiment } = await Experiments.get({ experiment_id });
  const t0 = 1772366400000;
  const { run } = await Runs.create({ experiment_id, user_id: 'node', start_time: t0, tags: [{ key: 'mlflow.runName', value: 'from-node' }] });
  const run_id = run.info.run_id;
  await Runs.logParameter({ run_id, key: 'alpha', value: '0.5' });
  let paramRefused = false;
  try {
    await Runs.logParameter({ run_id, key: 'alpha', value: '0.7' });
  } catch (e) {
    paramRefused = JSON.parse(e.message.replace(/^Error: /, '')).data.error_code;
  }
  for (let step = 0; step < 3; step++) {
    await Runs.logMetric({ run_id, key: 'loss', value: 1 / (step + 1), timestamp: t0 + step, step });
  }
  await Runs.logBatch({ run_id, metrics: [{ key: 'auc', value: 0.91, timestamp: t0 + 5, step: 2 }],
    params: [{ key: 'depth', value: '6' }], tags: [{ key: 'team', value: 'risk' }, { key: 'tmp', value: 'x' }] });
  await Runs.setTag({ run_id, key: 'stage', value: 'dev' });
  await Runs.deleteTag({ run_id, key: 'tmp' });
  const { run_info } = await Runs.update({ run_id, status: 'FINISHED', end_time: t0 + 9 });
  const { runs } = await Runs.search({ experiment_ids: [experiment_id], filter: "metrics.auc > 0.9 and params.depth = '6' and tags.team = 'risk'",
    run_view_type: ViewType.ACTIVE_ONLY, max_results: 10, order_by: ['metrics.auc DESC'] });
  const { metrics } = await Metrics.getHistory({ run_id, metric_key: 'loss' });
  const got = await Runs.get({ run_id });
  const { experiments } = await Experiments.list({ view_type: ViewType.ALL });
  const files = await Artifacts.list({ run_id });

  const registry = new Registry({ endpoint: process.argv[3], headers: { Authorization: 'Bearer ' + process.argv[4] } });
  await registry.call('post', '/registered-models/create', { name: 'node-churn' });
  const { model_version: created } = await registry.call('post', '/model-versions/create', { name: 'node-churn',
    source: 's3://bucket/churn/model.pkl', run_id, tags: [{ key: 'flavor', value: 'sklearn' }] });
  const { model_version: read } = await registry.call('get', '/model-versions/get', { name: 'node-churn', version: created.version });
  const { model_versions: searched } = await registry.call('get', '/model-versions/search', { filter: "name='node-churn'" });
  let stageRefused = false;
  try {
    await registry.call('post', '/model-versions/transition-stage', { name: 'node-churn', version: created.version, stage: 'Production' });
  } catch (e) {
    stageRefused = JSON.parse(e.message.replace(/^Error: /, '')).data.error_code;
  }
  console.log(JSON.stringify({
    experiment_name: experiment.name, experiments: experiments.map(e => e.name),
    run_id, run_name: got.run.info.run_name, status: run_info.status, end_time: run_info.end_time,
    param_refused: paramRefused, found: runs.map(r => r.info.run_id),
    history: metrics.map(m => [m.step, m.value]),
    params: got.run.data.params, tags: got.run.data.tags.map(t => t.key),
    root_uri: files.root_uri,
    version: { version: read.version, source: read.source, status: read.status, status_message: read.status_message,
      run_id: read.run_id, tags: read.tags.map(t => t.key + '=' + t.value) },
    searched: searched.map(v => v.version + ' ' + v.source), stage_refused: stageRefused,
  }));
})().catch(e => { console.error(e); process.exit(1); });
