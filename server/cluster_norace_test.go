//go:build !race

package server

// clusterRecords is how many records TestClusterScaleOut streams.
const clusterRecords = 200_000
