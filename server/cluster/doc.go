// Package cluster lets several driftd processes score one stream as one
// service: one primary (DRIFTD_ROLE=primary, the registry, UI, API, trainer
// and scheduler; it scores too) and any number of scoring workers
// (DRIFTD_ROLE=worker) that share only Kafka with it. The pattern is the one
// Confluent's Schema Registry uses: one writer, compacted topics that every
// instance reads from the start and then follows.
//
// # Phase 1 (this package today)
//
// Deployments travel over two compacted topics, each of one partition so
// that a reader sees them in the order they were written:
//
//   - driftd-artifacts holds every published version's bundle (its model
//     file and drift profile, see EncodeBundle) cut into chunks smaller than
//     the broker's message size limit. A chunk's key is the bundle's content
//     digest and the chunk's index ("sha256:<hex>/000003"), so compaction
//     keeps every chunk of a bundle and a bundle published twice replaces
//     itself. A chunk's value says which model version it belongs to, its
//     index, the number of chunks and the bundle's size (EncodeChunk).
//   - driftd-deployments holds, per key "<model>/<environment>", the version
//     deployed there now: version, bundle digest, chunk count, time and who
//     (Deployment). A tombstone means nothing is deployed.
//
// The Primary writes a version's chunks, waits for every acknowledgement,
// and only then writes the deployment record that refers to them, so a
// reader that has seen a deployment record can find its chunks at offsets
// below the artifacts topic's end as of that moment (Follower.Sync). It
// reconciles the topics with the registry after every deployment change
// and every version archived or deleted it is notified of, and on a timer
// (a safety net): a published bundle whose version is archived or deleted,
// and is not the deployed one, is tombstoned chunk by chunk.
//
// A Follower reads both topics from the start to their end offsets (then it
// is caught up) and follows them, keeping the deployment records and an
// index of the chunks' offsets, never their bytes: Load reads one bundle's
// chunks back from their offsets when it is needed, checks that every chunk
// is there and that the reassembled bundle has the digest it is keyed by.
// A worker loads the deployed version through it and swaps its scorer's
// model between batches (stream.Scorer.SetModel), as the primary's pipeline
// does; a missing or corrupt chunk keeps the model that scores now, is
// logged and counted in driftd_cluster_artifact_errors_total.
//
// Scoring itself needs nothing new: every scoring process joins the same
// consumer group on the features topic (KAFKA_GROUP_ID) and scores its
// share of the partitions; the scorer commits a batch only after its
// predictions are acknowledged, so when a process dies its uncommitted
// batches are scored again by the member its partitions move to (at least
// once: duplicates, never losses).
//
// Two primaries on one cluster would publish conflicting deployments: the
// primary takes a lease (Lease) before it publishes, and a second primary
// refuses to start, naming the instance that holds it.
//
// # Phase 2: one drift answer
//
// Drift is merged across processes. Every scoring process keeps its drift
// window as before, but as a contributor (drift.MonitorOptions.Contribute)
// it evaluates nothing itself: at each check it hands its window's
// mergeable counts (drift.WindowCounts: per feature the reference bins'
// counts and the unseen categories', and the record count) to a
// CountsPublisher, which sends them to driftd-drift-counts, keyed
// "<model>/<version>/<window>/<instance>" (CountsKey). Publish never makes
// the checker wait: it queues the record in a bounded map keyed by record
// key, so a newer sliding contribution replaces one not sent yet, and a
// goroutine hands the queue to the Kafka client; what cannot be queued or
// delivered is dropped and counted in
// driftd_cluster_drift_counts_dropped_total. Tumbling windows align to
// wall-clock boundaries (now.Truncate(period)), so every process names the
// same interval by the same window (its start); the sliding window is
// named "sliding" and each process's latest counts replace its previous
// ones. The deployment record carries the primary's window settings
// (DriftSettings), so that every process counts in the same windows. The
// record is binary and versioned (EncodeCounts: a magic ending in
// the format's version, names, times, then varints), and DecodeCounts
// refuses counts that drift.Counts.Merge could not merge safely.
//
// The primary's Merger reads the topic and merges, per model, version and
// window: a tumbling window once, when its end plus a grace period has
// passed, from every instance that contributed (an instance contributing
// again replaces its counts); counts for a window already merged are late,
// dropped and counted in driftd_cluster_drift_counts_late_total. The
// sliding window of a model version merges the latest counts of each live
// instance, at most every SlidingEvery, the last update included. Counts
// whose bin layout differs from the others' (another profile) are left
// out and logged. The merged window goes to the primary's monitor
// (drift.Monitor.CheckMerged), which computes the binned tests on the
// merged counts (exact KS and Wasserstein need raw values, so the bin-based
// test runs in their place and the result says so), estimates performance
// (CBPE, DLE) and the multivariate error (PCA) from the merged sums the
// counts carry (drift.WindowStats), and drives the drift view, metrics,
// events and retrain decisions from them, saying how many records and
// processes the window covers. Counts whose statistics do not merge (another
// class count) are left out and counted in
// driftd_cluster_drift_counts_unmergeable_total. The bundle format above carries
// the drift profile every worker needs to bin its records.
//
// The counts topic is compacted with a retention of a day
// (CountsRetention): its keys name windows and process runs, so compaction
// alone would keep them all. A restarted primary reads it from the start:
// it merges once more the recent tumbling windows it replays (it cannot
// know which its previous run merged) and dates replayed sliding counts by
// when they were taken, so dead processes' counts are not merged as live.
//
// Instances: every process publishes a heartbeat (Heartbeat: its id, role,
// model version, features-topic partitions, records consumed, rate and lag)
// every two seconds to driftd-instances, compacted and keyed by instance
// id; a process stopping cleanly writes a tombstone and disappears at
// once, a killed one after the readers' TTL. Instances reads the topic
// from the start and lists the live processes for the primary's status
// page; its IsLive tells the Merger whose sliding counts to merge.
//
// Labels are joined on the primary: it reads the predictions every
// process writes to the predictions topic and joins the labels to them, so
// performance is computed over the whole stream whichever process scored a
// record.
package cluster
