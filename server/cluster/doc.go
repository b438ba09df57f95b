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
// reconciles the topics with the registry after every deployment change it
// is notified of and on a timer (archiving and deleting a version send no
// notification): a published bundle whose version is archived or deleted,
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
// # Phase 2 (designed for, not built)
//
//   - Drift merged across processes: each process will publish its drift
//     window's mergeable counts (per model, version and window id: the
//     reference bins' counts per feature, the score histogram, the record
//     count) to a topic keyed by model/version/window/instance. Tumbling
//     windows will align to wall-clock boundaries (now.Truncate(period)) so
//     that the window ids of different processes name the same interval;
//     the primary merges the counts of one window id, computes the binned
//     tests on the merged counts (exact KS and Wasserstein need raw values,
//     so they stay per process) and drives its drift view, metrics, events
//     and retrain decisions from them. A sliding window will merge the
//     latest counts of each live process and say how many records and
//     processes it covers. The bundle format above already carries the
//     drift profile every worker needs to bin its records.
//   - Labels joined across processes: the labels topic co-partitioned with
//     the features topic by id key and consumed in the same group, so the
//     process that scored an id also receives its label.
//   - Instances: every process will publish a heartbeat (instance id,
//     partitions, rates, lag) to a compacted topic keyed by instance id;
//     the primary's status page lists the live ones.
package cluster
