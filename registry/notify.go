package registry

import (
	"fmt"

	"go.etcd.io/bbolt"
)

// Subscribe registers fn to be called after every committed change of an environment's or
// alias's version, in commit order, from the goroutine that made the change and outside
// any transaction; fn may read the store but must not change deployments.
// The returned cancel func removes the subscription.
func (s *Store) Subscribe(fn func(DeploymentChange)) (cancel func()) {
	s.mu.Lock()
	id := s.nextSub
	s.nextSub++
	s.subs[id] = fn
	s.mu.Unlock()
	return func() {
		s.mu.Lock()
		delete(s.subs, id)
		s.mu.Unlock()
	}
}

// notify updates the model_info series and calls subscribers for ch.
func (s *Store) notify(ch DeploymentChange) {
	s.mu.Lock()
	if ch.Environment != "" {
		s.setModelInfoLocked(ch.Model, ch.Environment, ch.To)
	}
	fns := make([]func(DeploymentChange), 0, len(s.subs))
	for _, fn := range s.subs {
		fns = append(fns, fn)
	}
	s.mu.Unlock()
	for _, fn := range fns {
		fn(ch)
	}
}

// setModelInfoLocked makes driftd_model_info{model,environment,version} 1 the only series
// for (model, environment), removing the old one; version "" removes it. s.mu is held.
func (s *Store) setModelInfoLocked(model, env, version string) {
	key := model + "\x00" + env
	if old, ok := s.info[key]; ok {
		s.metrics.UnregisterMetric(old)
		delete(s.info, key)
	}
	if version == "" {
		return
	}
	name := fmt.Sprintf(`driftd_model_info{model=%q,environment=%q,version=%q}`, model, env, version)
	s.metrics.GetOrCreateGauge(name, nil).Set(1)
	s.info[key] = name
}

// initModelInfo publishes model_info for every version deployed when the store opens.
func (s *Store) initModelInfo() error {
	s.mu.Lock()
	defer s.mu.Unlock()
	return s.db.View(func(tx *bbolt.Tx) error {
		return tx.Bucket(bucketModels).ForEach(func(k, v []byte) error {
			var m modelRecord
			if err := jsonField(v, &m); err != nil {
				return fmt.Errorf("decode model %s: %w", k, err)
			}
			for env, p := range m.Environments {
				if p != nil && p.Version != "" {
					s.setModelInfoLocked(m.Name, env, p.Version)
				}
			}
			return nil
		})
	})
}
