package registry

import (
	"context"
	"crypto/sha256"
	"encoding/hex"
	"errors"
	"fmt"
	"math"
	"sort"
	"time"

	"go.etcd.io/bbolt"
)

// Version statuses.
const (
	StatusReady    = "ready"
	StatusArchived = "archived"
)

// Feature types in a version's schema.
const (
	FeatureNumeric     = "numeric"
	FeatureCategorical = "categorical"
)

// Feature describes one model input: name, type and categorical levels.
type Feature struct {
	Name   string   `json:"name"`
	Type   string   `json:"type"` // "numeric" or "categorical"
	Levels []string `json:"levels,omitempty"`
}

// Fingerprint identifies the training dataset.
type Fingerprint struct {
	SHA256  string `json:"sha256"`
	Rows    int    `json:"rows"`
	Columns int    `json:"columns"`
}

// RegisterOptions carries the metadata of a new version; the server decodes the artifact
// and fills it in (the registry never decodes artifacts).
type RegisterOptions struct {
	Version     string             // semver; "" assigns the next minor version (1.0.0, 1.1.0, ...)
	Description string             // free text
	Tags        map[string]string  // version tags
	Algo        string             // "gbdt", "logistic", ...
	Params      map[string]any     // training parameters
	Metrics     map[string]float64 // training/validation metrics; non-finite values are dropped
	Schema      []Feature          // model inputs
	Profile     []byte             // encoded drift reference profile (may be nil)
	Fingerprint Fingerprint        // training dataset fingerprint
	RunID       string             // run that produced the version ("" = none); must exist
	// External registers a version driftd cannot score, without a model file
	// (the artifact must be empty and Profile nil); nil for a driftd model.
	External *External
}

// External describes a version whose model driftd cannot score: one
// registered through MLflow from a source that is not a driftd model (a
// pickle, an s3:// URI, ...). Such a version keeps its metadata, tags and
// aliases, but has no model file: it cannot be deployed, rolled back to,
// loaded for scoring or retrained from (those answer a *NotScorableError).
type External struct {
	Source string `json:"source"` // where the model lives, as given at registration
	Reason string `json:"reason"` // why driftd cannot score it
}

// maxExternalLen bounds External's source and reason.
const maxExternalLen = 4096

// Version is the metadata of one immutable model version (without artifact bytes).
type Version struct {
	Name           string             `json:"name"`
	Version        string             `json:"version"`
	Description    string             `json:"description"`
	Tags           map[string]string  `json:"tags"`
	Algo           string             `json:"algo"`
	Params         map[string]any     `json:"params"`
	Metrics        map[string]float64 `json:"metrics"`
	Schema         []Feature          `json:"schema"`
	Fingerprint    Fingerprint        `json:"fingerprint"`
	RunID          string             `json:"run_id,omitempty"`
	CreatedBy      string             `json:"created_by"`
	Created        time.Time          `json:"created"`
	Status         string             `json:"status"`
	ArtifactSize   int64              `json:"artifact_size"`
	ArtifactSHA256 string             `json:"artifact_sha256"`
	ProfileSize    int64              `json:"profile_size"`
	Environments   []string           `json:"environments"` // where it is deployed now
	Aliases        []string           `json:"aliases"`      // aliases pointing at it now
	// External is set on a version driftd cannot score (no model file);
	// records stored before it existed decode as scorable.
	External *External `json:"external,omitempty"`
	Scorable bool      `json:"scorable"` // External == nil, filled on every read
}

// versionRecord is the stored form of a version (encoding version V).
type versionRecord struct {
	V int `json:"v"`
	Version
}

func validSchema(fs []Feature) error {
	seen := map[string]bool{}
	for i, f := range fs {
		if f.Name == "" {
			return fieldErr("schema", "feature %d: empty name", i)
		}
		if seen[f.Name] {
			return fieldErr("schema", "feature %d: duplicate name %q", i, f.Name)
		}
		seen[f.Name] = true
		if f.Type != FeatureNumeric && f.Type != FeatureCategorical {
			return fieldErr("schema", "feature %q: type %q is not numeric or categorical", f.Name, f.Type)
		}
	}
	return nil
}

// Register stores a new immutable version of model name (created on first use) with the
// artifact bytes and metadata in opts. It returns a *FieldError for invalid input and
// ErrConflict when the version already exists.
func (s *Store) Register(ctx context.Context, artifact []byte, name string, opts RegisterOptions) (Version, error) {
	v, err := s.register(ctx, artifact, name, opts)
	s.observe("register", err)
	if err != nil {
		return Version{}, fmt.Errorf("register %s: %w", name, err)
	}
	return v, nil
}

func (s *Store) register(ctx context.Context, artifact []byte, name string, opts RegisterOptions) (Version, error) {
	if err := validName("name", name); err != nil {
		return Version{}, err
	}
	if err := validArtifact(artifact, opts); err != nil {
		return Version{}, err
	}
	var sv SemVer
	if opts.Version != "" {
		var err error
		if sv, err = ParseSemVer(opts.Version); err != nil {
			return Version{}, err
		}
	}
	if err := validDescription(opts.Description); err != nil {
		return Version{}, err
	}
	if err := validTags(opts.Tags); err != nil {
		return Version{}, err
	}
	if err := validSchema(opts.Schema); err != nil {
		return Version{}, err
	}
	var runKey []byte
	if opts.RunID != "" {
		id, err := parseID("run_id", opts.RunID)
		if err != nil {
			return Version{}, err
		}
		runKey = u64key(id)
	}
	metricsCopy := make(map[string]float64, len(opts.Metrics))
	for k, v := range opts.Metrics {
		if math.IsNaN(v) || math.IsInf(v, 0) {
			s.log.Warn("dropping non-finite metric", "model", name, "metric", k)
			continue
		}
		metricsCopy[k] = v
	}
	now := s.now().UTC()
	rec := versionRecord{V: 1, Version: Version{Name: name, Description: opts.Description, Tags: copyTags(opts.Tags),
		Algo: opts.Algo, Params: opts.Params, Metrics: metricsCopy, Schema: opts.Schema, Fingerprint: opts.Fingerprint,
		RunID: opts.RunID, CreatedBy: actor(ctx), Created: now, Status: StatusReady,
		ArtifactSize: int64(len(artifact)), ProfileSize: int64(len(opts.Profile))}}
	if opts.External != nil {
		ext := *opts.External
		rec.External = &ext
	} else {
		sum := sha256.Sum256(artifact)
		rec.ArtifactSHA256 = hex.EncodeToString(sum[:])
	}
	if rec.Params == nil {
		rec.Params = map[string]any{}
	}
	if rec.Schema == nil {
		rec.Schema = []Feature{}
	}
	err := s.db.Update(func(tx *bbolt.Tx) error {
		models := tx.Bucket(bucketModels)
		mrec, err := getModel(tx, name)
		if errors.Is(err, ErrNotFound) {
			mrec = &modelRecord{V: 1, Name: name, Created: now, Tags: map[string]string{}}
		} else if err != nil {
			return err
		}
		vb, err := tx.Bucket(bucketVersions).CreateBucketIfNotExists([]byte(name))
		if err != nil {
			return err
		}
		target := sv
		if opts.Version == "" {
			target = nextVersion(vb)
		}
		key := target.key()
		if vb.Get(key) != nil {
			return fmt.Errorf("version %s already exists (versions are immutable): %w", target, ErrConflict)
		}
		rec.Version.Version = target.String()
		if runKey != nil {
			if err := linkRun(tx, runKey, opts.RunID, name, rec.Version.Version); err != nil {
				return err
			}
		}
		if err := putJSON(vb, key, rec); err != nil {
			return err
		}
		if len(artifact) > 0 {
			ab, err := tx.Bucket(bucketArtifacts).CreateBucketIfNotExists([]byte(name))
			if err != nil {
				return err
			}
			if err := ab.Put(key, artifact); err != nil {
				return err
			}
		}
		if len(opts.Profile) > 0 {
			pb, err := tx.Bucket(bucketProfiles).CreateBucketIfNotExists([]byte(name))
			if err != nil {
				return err
			}
			if err := pb.Put(key, opts.Profile); err != nil {
				return err
			}
		}
		mrec.Updated = now
		return putJSON(models, []byte(name), mrec)
	})
	if err != nil {
		return Version{}, err
	}
	out := rec.Version
	out.Environments, out.Aliases, out.Scorable = []string{}, []string{}, out.External == nil
	return out, nil
}

// validArtifact checks the artifact against opts: a model file for a
// scorable version, none (with a source and a reason) for an external one.
func validArtifact(artifact []byte, opts RegisterOptions) error {
	ext := opts.External
	switch {
	case ext == nil && len(artifact) == 0:
		return fieldErr("artifact", "empty")
	case ext == nil:
		return nil
	case len(artifact) > 0:
		return fieldErr("artifact", "a version driftd cannot score has no model file (got %d bytes)", len(artifact))
	case len(opts.Profile) > 0:
		return fieldErr("profile", "a version driftd cannot score has no drift reference profile")
	case ext.Source == "":
		return fieldErr("source", "empty: say where the model driftd cannot score lives")
	case ext.Reason == "":
		return fieldErr("reason", "empty: say why driftd cannot score the model at %s", ext.Source)
	case len(ext.Source) > maxExternalLen:
		return fieldErr("source", "longer than %d bytes", maxExternalLen)
	case len(ext.Reason) > maxExternalLen:
		return fieldErr("reason", "longer than %d bytes", maxExternalLen)
	}
	return nil
}

// nextVersion returns MAJOR.(MINOR+1).0 of the highest stored version, or 1.0.0.
func nextVersion(vb *bbolt.Bucket) SemVer {
	k, v := vb.Cursor().Last()
	if k == nil {
		return SemVer{Major: 1}
	}
	var r struct {
		Version string `json:"version"`
	}
	if jsonField(v, &r) != nil {
		return SemVer{Major: 1}
	}
	last, err := ParseSemVer(r.Version)
	if err != nil {
		return SemVer{Major: 1}
	}
	return SemVer{Major: last.Major, Minor: last.Minor + 1}
}

// getVersion loads one version record; ErrNotFound when the model or version is missing.
func getVersion(tx *bbolt.Tx, name, version string) (*versionRecord, []byte, error) {
	sv, err := ParseSemVer(version)
	if err != nil {
		return nil, nil, err
	}
	vb := tx.Bucket(bucketVersions).Bucket([]byte(name))
	if vb == nil {
		if tx.Bucket(bucketModels).Get([]byte(name)) == nil {
			return nil, nil, fmt.Errorf("model %q: %w", name, ErrNotFound)
		}
		return nil, nil, fmt.Errorf("model %q version %s: %w", name, version, ErrNotFound)
	}
	key := sv.key()
	var rec versionRecord
	ok, err := getJSON(vb, key, &rec)
	if err != nil {
		return nil, nil, err
	}
	if !ok {
		return nil, nil, fmt.Errorf("model %q version %s: %w", name, version, ErrNotFound)
	}
	return &rec, key, nil
}

// where fills the Environments and Aliases a version is currently pointed at
// by, and whether it is scorable.
func (m *modelRecord) where(v *Version) {
	v.Environments, v.Aliases = []string{}, []string{}
	v.Scorable = v.External == nil
	if m == nil {
		return
	}
	for env, p := range m.Environments {
		if p != nil && p.Version == v.Version {
			v.Environments = append(v.Environments, env)
		}
	}
	for a, p := range m.Aliases {
		if p != nil && p.Version == v.Version {
			v.Aliases = append(v.Aliases, a)
		}
	}
	sort.Strings(v.Environments)
	sort.Strings(v.Aliases)
}

// GetVersion returns one version's metadata; ErrNotFound when missing, a *FieldError for
// a malformed version string.
func (s *Store) GetVersion(ctx context.Context, name, version string) (Version, error) {
	var out Version
	err := s.db.View(func(tx *bbolt.Tx) error {
		rec, _, err := getVersion(tx, name, version)
		if err != nil {
			return err
		}
		mrec, _ := getModel(tx, name)
		out = rec.Version
		mrec.where(&out)
		return nil
	})
	s.observe("get_version", err)
	if err != nil {
		return Version{}, fmt.Errorf("get version: %w", err)
	}
	return out, nil
}

// ListVersions returns a model's versions in ascending semver order; ErrNotFound for an
// unknown model.
func (s *Store) ListVersions(ctx context.Context, name string) ([]Version, error) {
	out := []Version{}
	err := s.db.View(func(tx *bbolt.Tx) error {
		mrec, err := getModel(tx, name)
		if err != nil {
			return err
		}
		vb := tx.Bucket(bucketVersions).Bucket([]byte(name))
		if vb == nil {
			return nil
		}
		return vb.ForEach(func(k, raw []byte) error {
			var rec versionRecord
			if err := jsonField(raw, &rec); err != nil {
				return fmt.Errorf("decode version %s/%s: %w", name, k, err)
			}
			v := rec.Version
			mrec.where(&v)
			out = append(out, v)
			return nil
		})
	})
	s.observe("list_versions", err)
	if err != nil {
		return nil, fmt.Errorf("list versions: %w", err)
	}
	sort.SliceStable(out, func(i, j int) bool {
		a, _ := ParseSemVer(out[i].Version)
		b, _ := ParseSemVer(out[j].Version)
		return a.Compare(b) < 0
	})
	return out, nil
}

// Artifact returns a copy of a version's artifact bytes; ErrNotFound when missing.
func (s *Store) Artifact(ctx context.Context, name, version string) ([]byte, error) {
	return s.blob("artifact", bucketArtifacts, name, version)
}

// Profile returns a copy of a version's drift reference profile; ErrNotFound when the
// version is missing or has no profile.
func (s *Store) Profile(ctx context.Context, name, version string) ([]byte, error) {
	return s.blob("profile", bucketProfiles, name, version)
}

// externalLacks says what an external version lacks, by blob.
func externalLacks(what string) string {
	if what == "profile" {
		return "driftd holds no drift reference profile for it"
	}
	return "driftd holds no model file for it to score, download or retrain from"
}

func (s *Store) blob(what string, bucket []byte, name, version string) ([]byte, error) {
	var out []byte
	err := s.db.View(func(tx *bbolt.Tx) error {
		rec, key, err := getVersion(tx, name, version)
		if err != nil {
			return err
		}
		if rec.External != nil {
			return notScorable(&rec.Version, externalLacks(what))
		}
		if b := tx.Bucket(bucket).Bucket([]byte(name)); b != nil {
			out = clone(b.Get(key))
		}
		if out == nil {
			return fmt.Errorf("%s of %s %s: %w", what, name, version, ErrNotFound)
		}
		return nil
	})
	s.observe(what, err)
	if err != nil {
		return nil, fmt.Errorf("get %s: %w", what, err)
	}
	return out, nil
}
