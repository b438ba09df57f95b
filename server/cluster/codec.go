package cluster

import (
	"crypto/sha256"
	"encoding/binary"
	"encoding/hex"
	"encoding/json"
	"errors"
	"fmt"
	"strconv"
	"strings"
	"time"
)

// Topic names (fixed: every instance of one cluster must agree on them).
const (
	DeploymentsTopic = "driftd-deployments"
	ArtifactsTopic   = "driftd-artifacts"
)

// DefaultChunkBytes is the data carried by one artifact chunk: well under
// the 1 MiB message.max.bytes Kafka (and the embedded broker) default to,
// with room for the record's key and headers.
const DefaultChunkBytes = 512 << 10

// Limits a decoder enforces before it allocates.
const (
	maxNameBytes   = 1 << 10
	maxBundleBytes = 1 << 30 // a bundle holds a model file (up to 256 MB) and a profile
	maxChunks      = 1 << 20
)

// Bundle is what a worker needs to score with a version: its model file and
// drift reference profile (empty when the version has none).
type Bundle struct {
	Model, Version string
	ModelFile      []byte
	Profile        []byte
}

var bundleMagic = []byte("DRIFTDB1")

// EncodeBundle serialises b: a magic, then the model name, the version, the
// model file and the profile, each length-prefixed (big endian).
func EncodeBundle(b Bundle) []byte {
	out := make([]byte, 0, len(bundleMagic)+8+len(b.Model)+len(b.Version)+16+len(b.ModelFile)+len(b.Profile))
	out = append(out, bundleMagic...)
	out = binary.BigEndian.AppendUint32(out, uint32(len(b.Model)))
	out = append(out, b.Model...)
	out = binary.BigEndian.AppendUint32(out, uint32(len(b.Version)))
	out = append(out, b.Version...)
	out = binary.BigEndian.AppendUint64(out, uint64(len(b.ModelFile)))
	out = append(out, b.ModelFile...)
	out = binary.BigEndian.AppendUint64(out, uint64(len(b.Profile)))
	return append(out, b.Profile...)
}

// DecodeBundle parses what EncodeBundle wrote; the error names the field
// and byte offset that is wrong.
func DecodeBundle(p []byte) (Bundle, error) {
	r := reader{p: p}
	if !r.magic(bundleMagic) {
		return Bundle{}, errors.New("bundle: bad magic (not a driftd artifact bundle)")
	}
	var b Bundle
	var err error
	if b.Model, err = r.str("model"); err != nil {
		return Bundle{}, fmt.Errorf("bundle: %w", err)
	}
	if b.Version, err = r.str("version"); err != nil {
		return Bundle{}, fmt.Errorf("bundle: %w", err)
	}
	if b.ModelFile, err = r.blob("model file"); err != nil {
		return Bundle{}, fmt.Errorf("bundle: %w", err)
	}
	if b.Profile, err = r.blob("profile"); err != nil {
		return Bundle{}, fmt.Errorf("bundle: %w", err)
	}
	if r.off != len(p) {
		return Bundle{}, fmt.Errorf("bundle: %d trailing bytes at offset %d", len(p)-r.off, r.off)
	}
	if b.Model == "" || b.Version == "" {
		return Bundle{}, errors.New("bundle: empty model name or version")
	}
	return b, nil
}

// Digest is the content digest a bundle's chunks are keyed by.
func Digest(bundle []byte) string {
	sum := sha256.Sum256(bundle)
	return "sha256:" + hex.EncodeToString(sum[:])
}

// validDigest reports whether d is a "sha256:<64 hex>" digest.
func validDigest(d string) bool {
	h, ok := strings.CutPrefix(d, "sha256:")
	if !ok || len(h) != 64 {
		return false
	}
	_, err := hex.DecodeString(h)
	return err == nil
}

// ChunkKey is the record key of chunk i of the bundle with digest d.
func ChunkKey(digest string, i int) string {
	return fmt.Sprintf("%s/%06d", digest, i)
}

// ParseChunkKey splits a chunk key into digest and index.
func ParseChunkKey(key string) (digest string, index int, err error) {
	d, idx, ok := strings.Cut(key, "/")
	if !ok || !validDigest(d) {
		return "", 0, fmt.Errorf("chunk key %q: want sha256:<hex>/<index>", key)
	}
	n, err := strconv.Atoi(idx)
	if err != nil || n < 0 || n >= maxChunks {
		return "", 0, fmt.Errorf("chunk key %q: bad index %q", key, idx)
	}
	return d, n, nil
}

// Chunk is one record of the artifacts topic.
type Chunk struct {
	Model, Version string
	Index, Count   int
	Size           int64 // the whole bundle's size
	Data           []byte
}

var chunkMagic = []byte("DRIFTDC1")

// EncodeChunk serialises c: a magic, the model name and version
// (length-prefixed), index, count and bundle size, then the data.
func EncodeChunk(c Chunk) []byte {
	out := make([]byte, 0, len(chunkMagic)+8+len(c.Model)+len(c.Version)+16+len(c.Data))
	out = append(out, chunkMagic...)
	out = binary.BigEndian.AppendUint32(out, uint32(len(c.Model)))
	out = append(out, c.Model...)
	out = binary.BigEndian.AppendUint32(out, uint32(len(c.Version)))
	out = append(out, c.Version...)
	out = binary.BigEndian.AppendUint32(out, uint32(c.Index))
	out = binary.BigEndian.AppendUint32(out, uint32(c.Count))
	out = binary.BigEndian.AppendUint64(out, uint64(c.Size))
	return append(out, c.Data...)
}

// DecodeChunk parses what EncodeChunk wrote. Data aliases p.
func DecodeChunk(p []byte) (Chunk, error) {
	r := reader{p: p}
	if !r.magic(chunkMagic) {
		return Chunk{}, errors.New("chunk: bad magic (not a driftd artifact chunk)")
	}
	var c Chunk
	var err error
	if c.Model, err = r.str("model"); err != nil {
		return Chunk{}, fmt.Errorf("chunk: %w", err)
	}
	if c.Version, err = r.str("version"); err != nil {
		return Chunk{}, fmt.Errorf("chunk: %w", err)
	}
	idx, ok1 := r.u32()
	cnt, ok2 := r.u32()
	size, ok3 := r.u64()
	if !ok1 || !ok2 || !ok3 {
		return Chunk{}, fmt.Errorf("chunk: header cut short at offset %d", r.off)
	}
	if cnt == 0 || cnt > maxChunks || idx >= cnt {
		return Chunk{}, fmt.Errorf("chunk: index %d of %d out of range", idx, cnt)
	}
	if size > maxBundleBytes {
		return Chunk{}, fmt.Errorf("chunk: bundle size %d over %d", size, maxBundleBytes)
	}
	c.Index, c.Count, c.Size = int(idx), int(cnt), int64(size)
	c.Data = p[r.off:]
	if int64(len(c.Data)) > c.Size {
		return Chunk{}, fmt.Errorf("chunk %d: %d bytes of data, more than the bundle's %d", c.Index, len(c.Data), c.Size)
	}
	return c, nil
}

// SplitBundle cuts an encoded bundle of model/version into chunks of at
// most chunkBytes data each.
func SplitBundle(model, version string, bundle []byte, chunkBytes int) []Chunk {
	if chunkBytes <= 0 {
		chunkBytes = DefaultChunkBytes
	}
	n := max(1, (len(bundle)+chunkBytes-1)/chunkBytes)
	out := make([]Chunk, n)
	for i := range out {
		lo, hi := i*chunkBytes, min((i+1)*chunkBytes, len(bundle))
		out[i] = Chunk{Model: model, Version: version, Index: i, Count: n, Size: int64(len(bundle)), Data: bundle[lo:hi]}
	}
	return out
}

// Deployment is the value of a deployments record: the version deployed to
// an environment, the bundle it scores with and who deployed it when.
type Deployment struct {
	Model       string    `json:"model"`
	Environment string    `json:"environment"`
	Version     string    `json:"version"`
	Digest      string    `json:"digest"`
	Chunks      int       `json:"chunks"`
	Size        int64     `json:"size"`
	Time        time.Time `json:"time"`
	User        string    `json:"user,omitempty"`
	// Primary names the instance that published the record.
	Primary string `json:"primary,omitempty"`
	// Drift is the primary's drift window settings: every scoring process
	// counts its records in the same windows, so their counts merge.
	Drift DriftSettings `json:"drift"`
}

// DriftSettings are the window settings a scoring process's drift counts
// follow, the primary's DRIFT_WINDOW_SIZE, DRIFT_CHECK_INTERVAL and
// DRIFTD_DRIFT_WINDOW.
type DriftSettings struct {
	WindowSize    int `json:"window_size,omitempty"`
	CheckInterval int `json:"check_interval,omitempty"`
	// TumblingMillis is the tumbling window's period in milliseconds; 0
	// keeps the sliding window.
	TumblingMillis int64 `json:"tumbling_ms,omitempty"`
}

// Tumbling returns the tumbling window's period, 0 for the sliding window.
func (s DriftSettings) Tumbling() time.Duration {
	return time.Duration(s.TumblingMillis) * time.Millisecond
}

// DeploymentKey is the record key of model's deployment to environment.
func DeploymentKey(model, environment string) string { return model + "/" + environment }

// EncodeDeployment serialises d as JSON.
func EncodeDeployment(d Deployment) []byte {
	b, err := json.Marshal(d)
	if err != nil {
		panic(fmt.Sprintf("cluster: encode deployment: %v", err)) // only strings, ints and a time
	}
	return b
}

// DecodeDeployment parses and checks a deployments record value.
func DecodeDeployment(p []byte) (Deployment, error) {
	var d Deployment
	if err := json.Unmarshal(p, &d); err != nil {
		return Deployment{}, fmt.Errorf("deployment record: %w", err)
	}
	switch {
	case d.Model == "" || d.Environment == "" || d.Version == "":
		return Deployment{}, errors.New("deployment record: model, environment and version are required")
	case !validDigest(d.Digest):
		return Deployment{}, fmt.Errorf("deployment record of %s %s: bad digest %q", d.Model, d.Version, d.Digest)
	case d.Chunks <= 0 || d.Chunks > maxChunks:
		return Deployment{}, fmt.Errorf("deployment record of %s %s: bad chunk count %d", d.Model, d.Version, d.Chunks)
	case d.Size < 0 || d.Size > maxBundleBytes:
		return Deployment{}, fmt.Errorf("deployment record of %s %s: bad size %d", d.Model, d.Version, d.Size)
	case d.Drift.WindowSize < 0 || d.Drift.CheckInterval < 0 || d.Drift.TumblingMillis < 0:
		return Deployment{}, fmt.Errorf("deployment record of %s %s: negative drift setting %+v", d.Model, d.Version, d.Drift)
	}
	return d, nil
}

// reader walks a length-prefixed encoding.
type reader struct {
	p   []byte
	off int
}

func (r *reader) magic(m []byte) bool {
	if len(r.p) < len(m) || string(r.p[:len(m)]) != string(m) {
		return false
	}
	r.off = len(m)
	return true
}

func (r *reader) u32() (uint32, bool) {
	if len(r.p)-r.off < 4 {
		return 0, false
	}
	v := binary.BigEndian.Uint32(r.p[r.off:])
	r.off += 4
	return v, true
}

func (r *reader) u64() (uint64, bool) {
	if len(r.p)-r.off < 8 {
		return 0, false
	}
	v := binary.BigEndian.Uint64(r.p[r.off:])
	r.off += 8
	return v, true
}

func (r *reader) str(field string) (string, error) {
	at := r.off
	n, ok := r.u32()
	if !ok || n > maxNameBytes || uint64(len(r.p)-r.off) < uint64(n) {
		return "", fmt.Errorf("%s at offset %d: length missing or past the end", field, at)
	}
	s := string(r.p[r.off : r.off+int(n)])
	r.off += int(n)
	return s, nil
}

func (r *reader) blob(field string) ([]byte, error) {
	at := r.off
	n, ok := r.u64()
	if !ok || n > maxBundleBytes || uint64(len(r.p)-r.off) < n {
		return nil, fmt.Errorf("%s at offset %d: length missing or past the end", field, at)
	}
	b := r.p[r.off : r.off+int(n)]
	r.off += int(n)
	return b, nil
}
