package registry

import (
	"fmt"
	"sync"

	"go.etcd.io/bbolt"
)

// Subscribe registers fn to be called after every committed change of an environment's or
// alias's version, in commit order. fn runs on a goroutine of its own, one per subscription,
// never under a registry lock nor inside a transaction: a slow fn delays only its own later
// notifications, never a writer (changes wait for it in an unbounded queue; deployments are
// rare). fn may read and change the store.
// The returned cancel func stops delivery: changes not yet delivered are dropped, and cancel
// waits for a call in progress to return, so it must not be called from fn.
func (s *Store) Subscribe(fn func(DeploymentChange)) (cancel func()) {
	sub := &subscription{fn: fn, wake: make(chan struct{}, 1), quit: make(chan struct{}), done: make(chan struct{})}
	s.mu.Lock()
	id := s.nextSub
	s.nextSub++
	s.subs[id] = sub
	s.mu.Unlock()
	go sub.run()
	return func() {
		s.mu.Lock()
		delete(s.subs, id)
		s.mu.Unlock()
		sub.stop()
	}
}

// subscription is one Subscribe call: its queue of undelivered changes and the
// goroutine that delivers them in order.
type subscription struct {
	fn       func(DeploymentChange)
	mu       sync.Mutex
	queue    []DeploymentChange
	wake     chan struct{} // capacity 1: "the queue may be non-empty"
	quit     chan struct{}
	done     chan struct{}
	stopOnce sync.Once
}

// push queues ch without blocking.
func (sub *subscription) push(ch DeploymentChange) {
	sub.mu.Lock()
	sub.queue = append(sub.queue, ch)
	sub.mu.Unlock()
	select {
	case sub.wake <- struct{}{}:
	default:
	}
}

// run delivers queued changes in order until stop.
func (sub *subscription) run() {
	defer close(sub.done)
	for {
		select {
		case <-sub.quit:
			return
		case <-sub.wake:
		}
		for {
			select {
			case <-sub.quit:
				return
			default:
			}
			sub.mu.Lock()
			if len(sub.queue) == 0 {
				sub.queue = nil
				sub.mu.Unlock()
				break
			}
			ch := sub.queue[0]
			sub.queue = sub.queue[1:]
			sub.mu.Unlock()
			sub.fn(ch)
		}
	}
}

// stop ends delivery and waits for a call of fn in progress to return.
func (sub *subscription) stop() {
	sub.stopOnce.Do(func() { close(sub.quit) })
	<-sub.done
}

// notify updates the model_info series and queues ch for every subscriber. The caller
// holds s.order, so queues are filled in commit order; nothing here blocks.
func (s *Store) notify(ch DeploymentChange) {
	s.mu.Lock()
	defer s.mu.Unlock()
	if ch.Environment != "" {
		s.setModelInfoLocked(ch.Model, ch.Environment, ch.To)
	}
	for _, sub := range s.subs {
		sub.push(ch)
	}
}

// stopSubscriptions stops every subscription's delivery, for Close.
func (s *Store) stopSubscriptions() {
	s.mu.Lock()
	subs := s.subs
	s.subs = map[int]*subscription{}
	s.mu.Unlock()
	for _, sub := range subs {
		sub.stop()
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
