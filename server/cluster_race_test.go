//go:build race

package server

// clusterRecords is how many records TestClusterScaleOut streams (the race
// detector slows scoring about tenfold).
const clusterRecords = 20_000
